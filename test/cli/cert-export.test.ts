// `certgate cert export`: the real CLI writes .p12 files that openssl and NSS open; refusals exit 1 with one line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { runCli, runProcess } from '../helpers/cli.ts';
import { makeCa, issueCert } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { pemDecodeAll } from '../../src/core/pem.ts';
import { CaStore } from '../../src/pki/store.ts';
import { commitIssued, signLeaf } from '../../src/pki/issue.ts';
import { childValidity } from '../../src/pki/ca.ts';
import { generateKeyPair } from '../../src/pki/keys.ts';
import { leafSubject } from '../../src/pki/profiles.ts';

// One CA hierarchy for the whole file: root -> intermediate -> alice (EC), bob (RSA), carol (revoked), dave (CSR-signed).
const cleanups: (() => void)[] = [];
const suite = { after: (fn: () => void) => cleanups.push(fn) };
after(() => cleanups.forEach((fn) => fn()));

let work = '';
let inter: TestCa;
let root: TestCa;
let alice: TestCert;
let daveSerial = '';
let pw = '';

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'cg-export-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  root = await makeCa(suite, { name: 'Export Root' });
  inter = await makeCa(suite, { name: 'Export Intermediate', parent: root, days: 20 });
  alice = await issueCert(inter, 'alice');
  await issueCert(inter, 'bob', { keyType: 'rsa-2048' });
  const carol = await issueCert(inter, 'carol');
  // dave: signed for a key certgate never saw, as `cert sign` does
  const pair = await generateKeyPair('ec-p256');
  const cert = await signLeaf(inter.ca, {
    subject: leafSubject('dave', undefined, []), publicKey: pair.publicKey, keyType: 'ec-p256', profile: 'client', sans: [],
    validity: childValidity(inter.ca.cert, new Date(), 3),
  });
  const store = CaStore.open(inter.dir);
  try {
    daveSerial = commitIssued(inter.ca, store, { cert, name: 'dave', profile: 'client', sans: [], now: new Date(), operation: 'cert.sign' }).record.serial;
    store.markRevoked(carol.record.serial, 'keyCompromise', new Date());
  } finally {
    store.close();
  }
  pw = join(work, 'pw.txt');
  writeFileSync(pw, 'export password\n', { mode: 0o600 });
  writeFileSync(join(work, 'wrong.txt'), 'export passwordX\n', { mode: 0o600 });
  writeFileSync(join(work, 'empty.txt'), '', { mode: 0o600 });
});

function exportArgs(ref: string, out: string, ...rest: string[]): string[] {
  return ['cert', 'export', ref, '--dir', inter.dir, '--p12', join(work, out), ...rest];
}

function assertUserError(res: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(res.code, 1, res.stderr);
  const lines = res.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, no stack: ${res.stderr}`);
  assert.match(lines[0], pattern);
}

test('exports by NAME with --password-file: 0600, openssl recovers key, cert and chain, NSS imports it', async () => {
  const res = await runCli(exportArgs('alice', 'alice.p12', '--password-file', pw));
  assert.equal(res.code, 0, res.stderr);
  const file = join(work, 'alice.p12');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.doesNotMatch(res.stdout + res.stderr, /export password/);

  const info = await runProcess('openssl', ['pkcs12', '-in', file, '-info', '-noout', '-passin', `file:${pw}`]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout + info.stderr, /PBES2, PBKDF2, AES-256-CBC/);

  const nodes = await runProcess('openssl', ['pkcs12', '-in', file, '-nodes', '-passin', `file:${pw}`]);
  assert.equal(nodes.code, 0, nodes.stderr);
  const blocks = pemDecodeAll(nodes.stdout);
  const key = blocks.find((b) => b.label === 'PRIVATE KEY');
  assert.ok(key);
  const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ type: 'spki', format: 'der' }).toString('hex');
  assert.equal(spki(createPublicKey(createPrivateKey({ key: key.der, format: 'der', type: 'pkcs8' }))), spki(new X509Certificate(alice.certPem).publicKey));
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
  const der = (pem: string) => new X509Certificate(pem).raw;
  assert.deepEqual(certs, [der(alice.certPem), der(readFileSync(inter.certPath, 'utf8')), der(readFileSync(root.certPath, 'utf8'))]);
  assert.match(nodes.stdout, /friendlyName: alice/);

  const db = join(work, 'nssdb');
  mkdirSync(db);
  assert.equal((await runProcess('certutil', ['-N', '-d', `sql:${db}`, '--empty-password'])).code, 0);
  const imp = await runProcess('pk12util', ['-i', file, '-d', `sql:${db}`, '-w', pw]);
  assert.equal(imp.code, 0, imp.stderr + imp.stdout);
  const list = await runProcess('certutil', ['-L', '-d', `sql:${db}`]);
  assert.match(list.stdout, /^alice\s+u,u,u$/m);

  // twin: the wrong password does not open it
  const wrong = await runProcess('openssl', ['pkcs12', '-in', file, '-info', '-noout', '-passin', `file:${join(work, 'wrong.txt')}`]);
  assert.notEqual(wrong.code, 0);
});

test('exports by serial with --legacy (RSA key): openssl -legacy shows 3DES and SHA-1', async () => {
  const store = CaStore.open(inter.dir);
  const bob = store.findByName('bob')[0];
  store.close();
  const res = await runCli(exportArgs(bob.serial.toLowerCase(), 'bob.p12', '--password-file', pw, '--legacy'));
  assert.equal(res.code, 0, res.stderr);
  const info = await runProcess('openssl', ['pkcs12', '-legacy', '-in', join(work, 'bob.p12'), '-info', '-noout', '-passin', `file:${pw}`]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout + info.stderr, /MAC: sha1/);
  assert.match(info.stdout + info.stderr, /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC/);
});

test('without --password-file: the generated password is printed once on stderr and opens the file; --for ios prints steps', async () => {
  const res = await runCli(exportArgs('alice', 'alice-ios.p12', '--for', 'ios'));
  assert.equal(res.code, 0, res.stderr);
  const m = /shown once, not stored anywhere\): (\S+)/.exec(res.stderr);
  assert.ok(m, res.stderr);
  const password = m[1];
  assert.equal(res.stderr.split(password).length, 2, 'printed exactly once');
  assert.ok(!res.stdout.includes(password), 'never on stdout');
  assert.match(res.stdout, /Import on iOS/);
  assert.match(res.stdout, /Profile Downloaded/);
  const gen = join(work, 'gen.txt');
  writeFileSync(gen, password + '\n', { mode: 0o600 });
  const info = await runProcess('openssl', ['pkcs12', '-in', join(work, 'alice-ios.p12'), '-info', '-noout', '-passin', `file:${gen}`]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout + info.stderr, /pbeWithSHA1And3-KeyTripleDES-CBC/, 'iOS gets the legacy encoding');
});

test('refusals exit 1 with one line and write nothing', async () => {
  const rows = [
    { args: exportArgs(daveSerial, 'dave.p12', '--password-file', pw), pattern: /does not hold the private key/, file: 'dave.p12' },
    { args: exportArgs('carol', 'carol.p12', '--password-file', pw), pattern: /revoked/, file: 'carol.p12' },
    { args: exportArgs('nobody', 'nobody.p12', '--password-file', pw), pattern: /no certificate .*"nobody"/, file: 'nobody.p12' },
    { args: exportArgs('alice', 'empty.p12', '--password-file', join(work, 'empty.txt')), pattern: /empty/, file: 'empty.p12' },
    { args: exportArgs('alice', 'alice.p12', '--password-file', pw), pattern: /already exists/, file: null },
    { args: exportArgs('alice', 'x.p12', '--for', 'palmos'), pattern: /unknown platform "palmos"/, file: 'x.p12' },
    { args: ['cert', 'export', 'alice', '--dir', join(work, 'no-ca'), '--p12', join(work, 'y.p12')], pattern: /does not exist/, file: 'y.p12' },
  ];
  for (const row of rows) {
    const res = await runCli(row.args);
    assertUserError(res, row.pattern);
    if (row.file) assert.equal(existsSync(join(work, row.file)), false, row.file);
  }
});

test('--help shows usage, examples and exit codes', async () => {
  const res = await runCli(['cert', 'export', '--help']);
  assert.equal(res.code, 0);
  assert.match(res.stdout, /--p12 <file>/);
  assert.match(res.stdout, /Examples:/);
  assert.match(res.stdout, /Exit codes:/);
});
