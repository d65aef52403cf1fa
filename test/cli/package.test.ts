// The package npm users install: `npm pack` builds JavaScript into dist/ (Node does not strip types inside
// node_modules), and the installed tarball runs `certgate --version` and `certgate ca create` with no TypeScript.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess } from '../helpers/cli.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// npm and npx must run certgate under this Node (24), not an older system one
const env = { PATH: `${dirname(process.execPath)}:${process.env.PATH}`, npm_config_update_notifier: 'false' };

test('npm pack carries compiled JavaScript that installs and runs', { timeout: 240_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'cg-pack-'));
  const pack = await runProcess('npm', ['pack', '--pack-destination', work, '--json'], { cwd: ROOT, env, timeoutMs: 180_000 });
  assert.equal(pack.code, 0, pack.stderr);
  const info = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = info[0].files.map((f) => f.path);
  assert.ok(files.includes('dist/cli/main.js'), 'dist/cli/main.js is packed');
  assert.ok(files.includes('bin/certgate.js'));
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no TypeScript sources or tests are packed');
  assert.ok(!files.some((f) => f.endsWith('.ts')), 'no .ts file is packed');

  const app = join(work, 'app');
  await runProcess('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), '{"name":"cg-pack-consumer","version":"1.0.0","private":true}\n');
  const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(tgz);
  // --offline: dependencies come from the npm cache that `npm ci` filled; tests never reach the network
  const install = await runProcess('npm', ['install', '--offline', '--no-audit', '--no-fund', join(work, tgz)], { cwd: app, env, timeoutMs: 180_000 });
  assert.equal(install.code, 0, install.stderr);
  assert.equal(existsSync(join(app, 'node_modules', 'certgate', 'src')), false);

  const version = await runProcess('npx', ['--no-install', 'certgate', '--version'], { cwd: app, env });
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);

  const ca = await runProcess('npx', ['--no-install', 'certgate', 'ca', 'create', '--dir', 'pki', '--name', 'Packed CA', '--no-passphrase'], { cwd: app, env });
  assert.equal(ca.code, 0, ca.stderr);
  const subject = await runProcess('openssl', ['x509', '-in', join(app, 'pki', 'ca.crt'), '-noout', '-subject']);
  assert.match(subject.stdout, /CN ?= ?Packed CA/);
});
