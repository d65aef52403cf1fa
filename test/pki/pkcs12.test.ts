// Interop: .p12 files from buildPkcs12 open in the real openssl and import with NSS pk12util, modern and legacy, EC and RSA.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { buildPkcs12 } from '../../src/pki/pkcs12.ts';
import type { Pkcs12Input } from '../../src/pki/pkcs12.ts';
import { pemDecodeAll } from '../../src/core/pem.ts';
import { runProcess } from '../helpers/cli.ts';
import { makeHierarchy, openssl as opensslIn } from './pkcs12-fixtures.ts';

let dir = '';
const PASSWORD = 'Tr0ub4dor & 3 — ünïcödé';

async function openssl(args: string[]): Promise<string> {
  return opensslIn(dir, args);
}

function read(name: string): string {
  return readFileSync(join(dir, name), 'utf8');
}

/** root (EC) -> intermediate (EC) -> leaves alice-ec (P-256) and alice-rsa (RSA-2048), all made by the openssl CLI. */
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'certgate-p12-'));
  await makeHierarchy(dir, ['alice-ec', 'alice-rsa']);
  writeFileSync(join(dir, 'pw.txt'), PASSWORD + '\n', { mode: 0o600 });
  writeFileSync(join(dir, 'wrong.txt'), PASSWORD + 'x\n', { mode: 0o600 });
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function input(leaf: string, legacy: boolean): Pkcs12Input {
  return {
    keyPem: read(`${leaf}.key`),
    certPem: read(`${leaf}.crt`),
    chainPems: [read('inter.crt'), read('root.crt')],
    password: PASSWORD,
    friendlyName: `${leaf} (certgate)`,
    legacy,
  };
}

function spki(pem: string, kind: 'key' | 'cert'): string {
  const key = kind === 'cert' ? new X509Certificate(pem).publicKey : createPublicKey(pem);
  return key.export({ type: 'spki', format: 'der' }).toString('hex');
}

const CASES = [
  { leaf: 'alice-ec', legacy: false },
  { leaf: 'alice-rsa', legacy: false },
  { leaf: 'alice-ec', legacy: true },
  { leaf: 'alice-rsa', legacy: true },
];

for (const { leaf, legacy } of CASES) {
  const label = `${leaf} ${legacy ? 'legacy' : 'modern'}`;
  const legacyFlag = legacy ? ['-legacy'] : [];

  test(`${label}: openssl pkcs12 -info shows the expected algorithms`, async () => {
    const file = join(dir, `${label.replace(' ', '-')}-info.p12`);
    writeFileSync(file, await buildPkcs12(input(leaf, legacy)));
    const res = await runProcess('openssl', ['pkcs12', ...legacyFlag, '-in', file, '-info', '-noout', '-passin', 'file:pw.txt'], { cwd: dir });
    assert.equal(res.code, 0, res.stderr);
    const info = res.stdout + res.stderr;
    if (legacy) {
      assert.match(info, /MAC: sha1, Iteration 2048/);
      assert.match(info, /PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC/);
      assert.match(info, /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC/);
      assert.doesNotMatch(info, /PBES2|AES/);
    } else {
      assert.match(info, /MAC: sha256, Iteration 2048/);
      assert.match(info, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
      assert.match(info, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
    }
    assert.match(info, /salt length: 8/);
    assert.equal((info.match(/Certificate bag/g) ?? []).length, 3, 'leaf + intermediate + root');
  });

  test(`${label}: openssl recovers the same key, cert and chain`, async () => {
    const file = join(dir, `${label.replace(' ', '-')}-nodes.p12`);
    writeFileSync(file, await buildPkcs12(input(leaf, legacy)));
    // no -legacy here: 3DES is in OpenSSL 3's default provider, so both encodings open with the plain command
    const out = await openssl(['pkcs12', '-in', file, '-nodes', '-passin', 'file:pw.txt']);
    const blocks = pemDecodeAll(out);
    const keys = blocks.filter((b) => b.label === 'PRIVATE KEY');
    const certs = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => new X509Certificate(b.der));
    assert.equal(keys.length, 1);
    const keyPem = `-----BEGIN PRIVATE KEY-----\n${keys[0].der.toString('base64')}\n-----END PRIVATE KEY-----\n`;
    assert.equal(spki(keyPem, 'key'), spki(read(`${leaf}.crt`), 'cert'));
    const raw = (name: string) => new X509Certificate(read(name)).raw;
    assert.deepEqual(certs.map((c) => c.raw), [raw(`${leaf}.crt`), raw('inter.crt'), raw('root.crt')]);
    assert.match(out, new RegExp(`friendlyName: ${leaf} \\(certgate\\)`));
    // the same localKeyID on key and cert bag is what pairs them in every importer
    const ids = [...out.matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((m) => m[1].trim());
    assert.equal(ids.length, 2);
    assert.equal(ids[0], ids[1]);
  });

  test(`${label}: a wrong password is refused by openssl (twin)`, async () => {
    const file = join(dir, `${label.replace(' ', '-')}-wrong.p12`);
    writeFileSync(file, await buildPkcs12(input(leaf, legacy)));
    const res = await runProcess('openssl', ['pkcs12', ...legacyFlag, '-in', file, '-info', '-noout', '-passin', 'file:wrong.txt'], { cwd: dir });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /mac verify/i);
  });

  test(`${label}: NSS pk12util imports it into a fresh db under its friendly name`, async () => {
    const file = join(dir, `${label.replace(' ', '-')}-nss.p12`);
    writeFileSync(file, await buildPkcs12(input(leaf, legacy)));
    const db = join(dir, `nss-${label.replace(' ', '-')}`);
    mkdirSync(db);
    const init = await runProcess('certutil', ['-N', '-d', `sql:${db}`, '--empty-password']);
    assert.equal(init.code, 0, init.stderr);
    const imp = await runProcess('pk12util', ['-i', file, '-d', `sql:${db}`, '-w', join(dir, 'pw.txt')]);
    assert.equal(imp.code, 0, imp.stderr + imp.stdout);
    const certs = await runProcess('certutil', ['-L', '-d', `sql:${db}`]);
    assert.equal(certs.code, 0, certs.stderr);
    assert.match(certs.stdout, new RegExp(`${leaf} \\(certgate\\)\\s+u,u,u`));
    const keys = await runProcess('certutil', ['-K', '-d', `sql:${db}`]);
    assert.match(keys.stdout, new RegExp(`(ec|rsa)\\s+[0-9a-f]+\\s+${leaf} \\(certgate\\)`));
  });
}

test('Node\'s own TLS stack loads both encodings as a pfx (as a gateway or client would)', async () => {
  for (const { leaf, legacy } of CASES) {
    const pfx = await buildPkcs12(input(leaf, legacy));
    assert.doesNotThrow(() => createSecureContext({ pfx, passphrase: PASSWORD }), `${leaf} ${legacy}`);
    assert.throws(() => createSecureContext({ pfx, passphrase: PASSWORD + 'x' }), /mac verify failure/i, `${leaf} ${legacy} wrong password`);
  }
});

test('NSS refuses the import with the wrong password (twin)', async () => {
  const file = join(dir, 'nss-wrong.p12');
  writeFileSync(file, await buildPkcs12(input('alice-ec', true)));
  const db = join(dir, 'nss-wrong');
  mkdirSync(db);
  assert.equal((await runProcess('certutil', ['-N', '-d', `sql:${db}`, '--empty-password'])).code, 0);
  const imp = await runProcess('pk12util', ['-i', file, '-d', `sql:${db}`, '-w', join(dir, 'wrong.txt')]);
  assert.notEqual(imp.code, 0);
});

test('never builds without a password, and refuses a key that is not the certificate\'s', async () => {
  await assert.rejects(buildPkcs12({ ...input('alice-ec', false), password: '' }), { code: 'CG_PKI_BAD_PASSWORD' });
  await assert.rejects(buildPkcs12({ ...input('alice-ec', true), password: '' }), { code: 'CG_PKI_BAD_PASSWORD' });
  await assert.rejects(buildPkcs12({ ...input('alice-ec', false), keyPem: read('alice-rsa.key') }), { code: 'CG_PKI_BAD_KEY' });
  await assert.rejects(buildPkcs12({ ...input('alice-ec', false), keyPem: 'not a key' }), { code: 'CG_PKI_BAD_KEY' });
  await assert.rejects(buildPkcs12({ ...input('alice-ec', false), chainPems: ['garbage'] }), { code: 'CG_PKI_BAD_CERT' });
});

test('each build uses fresh salts: two builds of the same input differ', async () => {
  const a = await buildPkcs12(input('alice-ec', false));
  const b = await buildPkcs12(input('alice-ec', false));
  assert.notDeepEqual(a, b);
});
