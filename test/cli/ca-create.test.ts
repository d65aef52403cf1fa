// `certgate ca create` through the real CLI: passphrase sources, refusals as one line, root and intermediate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { tempDir, assertOneLineError } from '../helpers/pki.ts';
import { CaStore } from '../../src/pki/store.ts';

test('without a terminal or a passphrase option, ca create stops and names --passphrase-file and --no-passphrase', async (t) => {
  const cwd = tempDir(t);
  const r = await runCli(['ca', 'create', '--name', 'X'], { cwd });
  assertOneLineError(r, /--passphrase-file.*--no-passphrase/);
  assert.equal(existsSync(join(cwd, 'pki')), false);
});

test('--no-passphrase: ./pki by default, unencrypted key 0600, a warning', async (t) => {
  const cwd = tempDir(t);
  const r = await runCli(['ca', 'create', '--name', 'Lab CA', '--no-passphrase'], { cwd, env: { CERTGATE_PKI: '' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: .*ca\.key is NOT encrypted/);
  const key = join(cwd, 'pki', 'ca.key');
  assert.match(readFileSync(key, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  assert.equal(statSync(key).mode & 0o777, 0o600);
  assert.match(r.stdout, /created root CA "Lab CA"/);
});

test('--passphrase-file and --passphrase-env encrypt the key; $CERTGATE_PKI picks DIR; openssl reads the profile', async (t) => {
  const cwd = tempDir(t);
  writeFileSync(join(cwd, 'pass'), 's3cret-file\n', { mode: 0o600 });
  const a = await runCli(['ca', 'create', '--name', 'File CA', '--key', 'ec-p384', '--days', '100', '--passphrase-file', 'pass'],
    { cwd, env: { CERTGATE_PKI: join(cwd, 'from-env') } });
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stderr, '');
  const ca = join(cwd, 'from-env', 'ca.crt');
  const text = (await runProcess('openssl', ['x509', '-in', ca, '-noout', '-text'])).stdout;
  assert.match(text, /Subject: CN = File CA/);
  assert.match(text, /CA:TRUE/);
  assert.match(text, /NIST CURVE: P-384/);
  const ok = await runProcess('openssl', ['pkey', '-in', join(cwd, 'from-env', 'ca.key'), '-passin', 'pass:s3cret-file', '-noout']);
  assert.equal(ok.code, 0, ok.stderr);
  const b = await runCli(['ca', 'create', '--dir', 'envca', '--name', 'Env CA', '--passphrase-env', 'MY_CA_PASS'],
    { cwd, env: { MY_CA_PASS: 'from-the-env' } });
  assert.equal(b.code, 0, b.stderr);
  assert.match(readFileSync(join(cwd, 'envca', 'ca.key'), 'utf8'), /ENCRYPTED PRIVATE KEY/);
  // the secret never shows up in output
  assert.doesNotMatch(a.stdout + a.stderr + b.stdout + b.stderr, /s3cret-file|from-the-env/);
});

test('intermediate: parent passphrase from its own flag or the same passphrase; recorded by the parent', async (t) => {
  const cwd = tempDir(t);
  writeFileSync(join(cwd, 'root-pass'), 'root-pass\n', { mode: 0o600 });
  writeFileSync(join(cwd, 'int-pass'), 'int-pass\n', { mode: 0o600 });
  assert.equal((await runCli(['ca', 'create', '--dir', 'root', '--name', 'Root', '--passphrase-file', 'root-pass'], { cwd })).code, 0);
  // its own passphrase does not open the parent, and there is no terminal: one line naming the parent flag
  const wrong = await runCli(['ca', 'create', '--dir', 'int', '--intermediate', '--parent', 'root', '--name', 'Int',
    '--passphrase-file', 'int-pass'], { cwd });
  assertOneLineError(wrong, /--parent-passphrase-file/);
  assert.equal(existsSync(join(cwd, 'int', 'ca.crt')), false);
  const r = await runCli(['ca', 'create', '--dir', 'int', '--intermediate', '--parent', 'root', '--name', 'Int',
    '--passphrase-file', 'int-pass', '--parent-passphrase-file', 'root-pass'], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /created intermediate CA "Int"/);
  const chain = readFileSync(join(cwd, 'int', 'chain.pem'), 'utf8');
  assert.equal(chain, readFileSync(join(cwd, 'int', 'ca.crt'), 'utf8') + readFileSync(join(cwd, 'root', 'ca.crt'), 'utf8'));
  const v = await runProcess('openssl', ['verify', '-CAfile', join(cwd, 'root', 'ca.crt'), join(cwd, 'int', 'ca.crt')]);
  assert.equal(v.code, 0, v.stderr);
  const store = CaStore.open(join(cwd, 'root'));
  t.after(() => store.close());
  assert.equal(store.findByName('Int')[0]?.profile, 'ca');
  // same passphrase for the whole hierarchy: no parent flag needed
  const same = await runCli(['ca', 'create', '--dir', 'int2', '--intermediate', '--parent', 'root', '--name', 'Int2',
    '--passphrase-file', 'root-pass'], { cwd });
  assert.equal(same.code, 0, same.stderr);
  // pathlen 0: Int may not sign another CA
  const deeper = await runCli(['ca', 'create', '--dir', 'int3', '--intermediate', '--parent', 'int', '--name', 'Int3',
    '--passphrase-file', 'int-pass'], { cwd });
  assertOneLineError(deeper, /pathlen 0/);
});

test('refusals are one line, exit 1: existing CA, bad key type, missing --name, conflicting flags, bad --days', async (t) => {
  const cwd = tempDir(t);
  writeFileSync(join(cwd, 'pass'), 'p\n', { mode: 0o600 });
  assert.equal((await runCli(['ca', 'create', '--name', 'A', '--no-passphrase'], { cwd })).code, 0);
  const cases: [string[], RegExp][] = [
    [['--name', 'B', '--no-passphrase'], /already holds a CA/],
    [['--dir', 'x', '--name', 'B', '--key', 'rsa-1024', '--no-passphrase'], /rsa-1024/],
    [['--dir', 'x', '--no-passphrase'], /--name/],
    [['--dir', 'x', '--name', 'B', '--no-passphrase', '--passphrase-file', 'pass'], /only one of/],
    [['--dir', 'x', '--name', 'B', '--no-passphrase', '--days', 'ten'], /--days/],
    [['--dir', 'x', '--name', 'B', '--passphrase-file', 'missing'], /missing/],
    [['--dir', 'x', '--name', 'B', '--passphrase-env', 'UNSET_VAR_XYZ'], /UNSET_VAR_XYZ/],
    [['--dir', 'x', '--name', 'B', '--intermediate', '--no-passphrase'], /--parent/],
    [['--dir', 'x', '--name', 'B', '--intermediate', '--parent', 'nope', '--no-passphrase'], /does not exist/],
  ];
  // independent refusals: run them side by side (wall time only; each is one short process)
  const results = await Promise.all(cases.map(([args]) => runCli(['ca', 'create', ...args], { cwd })));
  results.forEach((r, i) => assertOneLineError(r, cases[i][1]));
  assert.equal(existsSync(join(cwd, 'x')), false);
});

test('help shows usage, examples and exit codes', async () => {
  const r = await runCli(['ca', 'create', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: certgate ca create/);
  assert.match(r.stdout, /Examples:/);
  assert.match(r.stdout, /Exit codes:/);
});
