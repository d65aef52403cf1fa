// `certgate cert issue` through the real CLI, checked with the real openssl: purposes, .p12, and one-line refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { makeCa, tempDir, assertOneLineError } from '../helpers/pki.ts';
import { CaStore } from '../../src/pki/store.ts';

const DAY = 86_400_000;

test('client and server certs through an intermediate: openssl verify accepts the right purpose only', async (t) => {
  const root = await makeCa(t, { days: 60 });
  const inter = await makeCa(t, { parent: root, days: 50 });
  const pf = inter.passphraseFile!;
  const c = await runCli(['cert', 'issue', 'alice', '--client', '--dir', inter.dir, '--email', 'alice@example.com', '--ou', 'ops',
    '--o', 'Acme', '--days', '10', '--passphrase-file', pf, '--json']);
  assert.equal(c.code, 0, c.stderr);
  const client = JSON.parse(c.stdout) as { serial: string; cert: string; key: string; notAfter: string };
  assert.equal(statSync(client.key).mode & 0o777, 0o600);
  const s = await runCli(['cert', 'issue', 'web', '--server', '--dir', inter.dir, '--dns', 'localhost', '--ip', '127.0.0.1',
    '--key', 'rsa-2048', '--days', '10', '--passphrase-env', 'CA_PASS'], { env: { CA_PASS: inter.passphrase! } });
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /issued server certificate "web" serial [0-9A-F]{32}/);
  const server = /certificate: (\S+)/.exec(s.stdout)![1];
  const verify = async (purpose: string, cert: string) =>
    (await runProcess('openssl', ['verify', '-CAfile', root.certPath, '-untrusted', inter.certPath, '-purpose', purpose, cert])).code;
  assert.equal(await verify('sslclient', client.cert), 0);
  assert.notEqual(await verify('sslserver', client.cert), 0);
  assert.equal(await verify('sslserver', server), 0);
  assert.notEqual(await verify('sslclient', server), 0);
  const text = (await runProcess('openssl', ['x509', '-in', client.cert, '-noout', '-text'])).stdout;
  assert.match(text, /Subject: O = Acme, OU = ops, CN = alice/);
  assert.match(text, /TLS Web Client Authentication/);
  assert.match(text, /email:alice@example.com/);
  const serial = (await runProcess('openssl', ['x509', '-in', client.cert, '-noout', '-serial'])).stdout.trim();
  assert.equal(serial, `serial=${client.serial}`);
});

test('--p12 with --password-file: openssl opens it; an existing --p12 target is refused before anything is issued', async (t) => {
  const ca = await makeCa(t);
  const work = tempDir(t);
  const pw = join(work, 'p12pass');
  writeFileSync(pw, 'p12-password\n', { mode: 0o600 });
  const out = join(work, 'bob.p12');
  const r = await runCli(['cert', 'issue', 'bob', '--client', '--dir', ca.dir, '--days', '5', '--passphrase-file', ca.passphraseFile!,
    '--p12', out, '--password-file', pw]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  const info = await runProcess('openssl', ['pkcs12', '-info', '-noout', '-in', out, '-passin', `file:${pw}`]);
  assert.equal(info.code, 0, info.stderr);
  const again = await runCli(['cert', 'issue', 'carol', '--client', '--dir', ca.dir, '--days', '5', '--passphrase-file', ca.passphraseFile!,
    '--p12', out, '--password-file', pw]);
  assertOneLineError(again, /already exists/);
  const store = CaStore.open(ca.dir);
  t.after(() => store.close());
  assert.deepEqual(store.findByName('carol'), []);
});

test('refusals: one line, exit 1, nothing issued', async (t) => {
  const ca = await makeCa(t, { days: 20 });
  const pf = ca.passphraseFile!;
  const work = tempDir(t);
  const wrong = join(work, 'wrong');
  writeFileSync(wrong, 'not-it\n', { mode: 0o600 });
  assert.equal((await runCli(['cert', 'issue', 'dup', '--client', '--dir', ca.dir, '--days', '5', '--passphrase-file', pf])).code, 0);
  const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
    [['dup', '--client', '--passphrase-file', pf], /"dup" already exists/],
    [['x', '--client', '--passphrase-file', wrong], /wrong passphrase/],
    [['x', '--client'], /--passphrase-file/],
    [['x', '--server', '--passphrase-file', pf], /--dns or --ip/],
    [['x', '--client', '--ip', '10.0.0.1', '--passphrase-file', pf], /do not take --ip/],
    [['x', '--passphrase-file', pf], /--client or --server/],
    [['x', '--client', '--days', '30', '--passphrase-file', pf], /past the CA's own expiry/],
    [['x', '--client', '--key', 'dsa', '--passphrase-file', pf], /unsupported key type/],
    [['x', '--client', '--legacy', '--passphrase-file', pf], /only apply with --p12/],
    [['x', '--client', '--passphrase-env', 'NOT_SET_ANYWHERE'], /NOT_SET_ANYWHERE/],
  ];
  const results = await Promise.all(cases.map(([args, , env]) =>
    runCli(['cert', 'issue', ...args, ...(args.includes('--days') ? [] : ['--days', '5']), '--dir', ca.dir], { env })));
  results.forEach((r, i) => assertOneLineError(r, cases[i][1]));
  assertOneLineError(await runCli(['cert', 'issue', 'x', '--client', '--dir', join(work, 'missing'), '--passphrase-file', pf]),
    /does not exist/);
  const store = CaStore.open(ca.dir);
  t.after(() => store.close());
  assert.deepEqual(store.list().map((r) => r.name), ['dup']);
});

test('an expired CA and a world-readable CA key are refused with one line', async (t) => {
  const now = Date.now();
  const old = await makeCa(t, { validity: { notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) } });
  assertOneLineError(await runCli(['cert', 'issue', 'x', '--client', '--dir', old.dir, '--passphrase-file', old.passphraseFile!]), /expired/);
  const ca = await makeCa(t);
  chmodSync(join(ca.dir, 'ca.key'), 0o644);
  const r = await runCli(['cert', 'issue', 'x', '--client', '--dir', ca.dir, '--days', '1', '--passphrase-file', ca.passphraseFile!]);
  assertOneLineError(r, /readable by group or others.*chmod 600/);
  assert.equal(existsSync(join(ca.dir, 'issued')) && statSync(join(ca.dir, 'issued')).isDirectory(), true);
});
