// The package npm users install: `npm pack` builds JavaScript into dist/ (Node does not strip types inside
// node_modules), and the installed tarball runs `certgate --version` and `certgate ca create` with no TypeScript,
// ships the example its missing-config hint names, and refuses an old Node in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess } from '../helpers/cli.ts';
import { findOldNode } from '../helpers/old-node.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// npm and npx must run certgate under this Node (24), not an older system one
const env = { PATH: `${dirname(process.execPath)}:${process.env.PATH}`, npm_config_update_notifier: 'false' };

/**
 * The versions of certgate's runtime dependencies in package-lock.json, which `npm ci` put in the npm cache. Pinned
 * as overrides so the offline install below resolves exactly those: left to the ranges, npm picks the newest version
 * the cached registry metadata lists, whose tarball may never have been downloaded (ENOTCACHED). Names locked at
 * two versions (nested copies) are left to npm, which resolves those from the packed dependencies' own ranges.
 */
function lockedVersions(): Record<string, string> {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; dev?: boolean }> };
  const versions = new Map<string, Set<string>>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev || !entry.version) continue;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    versions.set(name, (versions.get(name) ?? new Set()).add(entry.version));
  }
  return Object.fromEntries([...versions].filter(([, v]) => v.size === 1).map(([name, v]) => [name, [...v][0]]));
}

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
  for (const f of ['examples/minimal.yaml', 'examples/certgate.yaml', 'schema/certgate.schema.json']) assert.ok(files.includes(f), `${f} is packed`);

  const app = join(work, 'app');
  await runProcess('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'cg-pack-consumer', version: '1.0.0', private: true, overrides: lockedVersions() }) + '\n');
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

  // no config: the hint names `certgate init` and an example file that exists in the installed package
  const check = await runProcess('npx', ['--no-install', 'certgate', 'check'], { cwd: app, env });
  assert.equal(check.code, 1, check.stderr);
  assert.match(check.stderr, /certgate init/);
  const example = / start from (\S+minimal\.yaml)\)/.exec(check.stderr)?.[1];
  assert.ok(example, check.stderr);
  assert.equal(example, join(app, 'node_modules', 'certgate', 'examples', 'minimal.yaml'));
  assert.equal(readFileSync(example, 'utf8'), readFileSync(join(ROOT, 'examples', 'minimal.yaml'), 'utf8'));

  // the installed launcher under an old Node (what `npm install -g` on Node 20 leaves behind): one line, exit 1
  const old = await findOldNode();
  const refused = await runProcess(old.path, [join(app, 'node_modules', 'certgate', 'bin', 'certgate.js'), '--version'], { cwd: app });
  assert.equal(refused.code, 1, refused.stderr);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.match(refused.stderr, /^certgate: needs Node\.js \d+\.\d+ or newer, found v/);
});
