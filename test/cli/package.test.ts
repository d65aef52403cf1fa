// The package npm users install: `npm pack` builds JavaScript into dist/ (Node does not strip types inside
// node_modules), and the packed tarball, installed by `npm ci` in an empty consumer, runs `certgate --version` and
// `certgate ca create` with no TypeScript, ships the example its missing-config hint names, and refuses an old Node
// in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess } from '../helpers/cli.ts';
import { findOldNode } from '../helpers/old-node.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// npm and npx must run certgate under this Node (24), not an older system one
const env = { PATH: `${dirname(process.execPath)}:${process.env.PATH}`, npm_config_update_notifier: 'false' };

interface LockEntry {
  name?: string;
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  [field: string]: unknown;
}

interface Lock {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

// npm writes this host for registry packages and swaps in the configured registry when it fetches (and, with
// omit-lockfile-registry-resolved, leaves `resolved` out of the lock altogether).
const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';

function packageName(key: string, entry: LockEntry): string {
  return entry.name ?? key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

/**
 * A lock for a consumer whose only dependency is the packed tarball: the repository lock's production packages at
 * the same paths, each with a tarball URL and integrity, so `npm ci --offline` resolves nothing. Without the URL npm
 * would fetch the registry document (packument) to find the tarball, and only tarballs are sure to be cached by the
 * `npm ci` that set up the checkout; `npm install` would also pick newer versions than the lock's.
 */
function consumerLock(repo: Lock, spec: string, integrity: string): Lock {
  const root = repo.packages[''];
  const packages: Record<string, LockEntry> = {
    '': { name: 'cg-pack-consumer', version: '1.0.0', dependencies: { certgate: spec } },
    'node_modules/certgate': {
      version: root.version,
      resolved: spec,
      integrity,
      license: root.license,
      dependencies: root.dependencies,
      bin: root.bin,
      engines: root.engines,
    },
  };
  for (const [key, entry] of Object.entries(repo.packages)) {
    if (key === '' || entry.dev || entry.link) continue;
    assert.ok(entry.version && entry.integrity, `${key} in package-lock.json has a version and an integrity`);
    const { devOptional, ...rest } = entry;
    const name = packageName(key, entry);
    packages[key] = {
      ...rest,
      // devOptional: optional in the production tree (an optional dependency that a dev dependency also needs)
      ...(devOptional ? { optional: true } : {}),
      resolved: entry.resolved ?? `${DEFAULT_REGISTRY}${name}/-/${name.split('/').pop()}-${entry.version}.tgz`,
    };
  }
  return { name: 'cg-pack-consumer', version: '1.0.0', lockfileVersion: repo.lockfileVersion, requires: true, packages } as Lock;
}

test('npm pack carries compiled JavaScript that installs and runs', { timeout: 240_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'cg-pack-'));
  const pack = await runProcess('npm', ['pack', '--pack-destination', work, '--json'], { cwd: ROOT, env, timeoutMs: 180_000 });
  assert.equal(pack.code, 0, pack.stderr);
  const info = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; integrity: string; files: Array<{ path: string }> }>;
  const files = info[0].files.map((f) => f.path);
  assert.ok(files.includes('dist/cli/main.js'), 'dist/cli/main.js is packed');
  assert.ok(files.includes('bin/certgate.js'));
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no TypeScript sources or tests are packed');
  assert.ok(!files.some((f) => f.endsWith('.ts')), 'no .ts file is packed');
  for (const f of ['examples/minimal.yaml', 'examples/certgate.yaml', 'schema/certgate.schema.json']) assert.ok(files.includes(f), `${f} is packed`);
  const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(tgz);

  const app = join(work, 'app');
  mkdirSync(app);
  const spec = `file:../${tgz}`;
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'cg-pack-consumer', version: '1.0.0', private: true, dependencies: { certgate: spec } }, null, 2)}\n`);
  const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock;
  const lock = consumerLock(repoLock, spec, info[0].integrity);
  writeFileSync(join(app, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  // --offline: every tarball comes from the npm cache that `npm ci` filled; tests never reach the network
  const install = await runProcess('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: app, env, timeoutMs: 180_000 });
  assert.equal(install.code, 0, install.stderr);
  assert.equal(existsSync(join(app, 'node_modules', 'certgate', 'src')), false);
  // the consumer runs the versions the repository's tests ran against, not whatever is newest
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '' || key === 'node_modules/certgate') continue;
    const installed = JSON.parse(readFileSync(join(app, key, 'package.json'), 'utf8')) as { version: string };
    assert.equal(installed.version, entry.version, key);
  }

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
