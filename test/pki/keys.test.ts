// Keys: every supported type generates and round-trips through (encrypted) PKCS#8; openssl reads what we write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync, createPrivateKey } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import {
  KEY_TYPES, generateKeyPair, keyTypeOf, exportPrivateKeyPem, importPrivateKeyPem, checkKeyFilePermissions, readKeyFile,
  parseKeyType, keysMatch, requireKeyType, isEncryptedKeyPem,
} from '../../src/pki/keys.ts';
import { KEY_SCRYPT } from '../../src/pki/pkcs8-encrypt.ts';
import { PBES2_OID, Pbes2Params, ScryptParams } from '../../src/pki/pbes2-asn1.ts';
import { pemDecodeAll } from '../../src/core/pem.ts';
import { runCli, runProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/pki.ts';

test('each key type generates, is recognized, and round-trips through encrypted PKCS#8', async () => {
  for (const type of KEY_TYPES) {
    const pair = await generateKeyPair(type);
    assert.equal(keyTypeOf(pair.privateKey), type);
    assert.equal(keyTypeOf(pair.publicKey), type);
    const pem = exportPrivateKeyPem(pair.privateKey, 'pw one');
    assert.ok(isEncryptedKeyPem(pem), type);
    const back = importPrivateKeyPem(pem, 'pw one');
    assert.ok(keysMatch(back, pair.publicKey), type);
    assert.throws(() => importPrivateKeyPem(pem, 'wrong'), { code: 'CG_PKI_BAD_PASSPHRASE' });
    assert.throws(() => importPrivateKeyPem(pem, null), { code: 'CG_PKI_BAD_PASSPHRASE' });
    const plain = exportPrivateKeyPem(pair.privateKey, null);
    assert.match(plain, /^-----BEGIN PRIVATE KEY-----/);
    assert.ok(keysMatch(importPrivateKeyPem(plain, null), pair.publicKey));
  }
});

test('parseKeyType accepts the five names and refuses others', () => {
  assert.equal(parseKeyType('EC-P384'), 'ec-p384');
  for (const bad of ['rsa-1024', 'ed25519', 'ec-p521', '']) assert.throws(() => parseKeyType(bad), { code: 'CG_PKI_KEY_TYPE' });
});

test('unsupported keys are named', () => {
  const cases = [
    generateKeyPairSync('ed25519').privateKey,
    generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).privateKey,
  ];
  for (const key of cases) {
    assert.equal(keyTypeOf(key), undefined);
    assert.throws(() => requireKeyType(key, 'the CSR'), { code: 'CG_PKI_KEY_TYPE' });
  }
});

test('openssl decrypts our encrypted key with the passphrase, and refuses a wrong one', async (t) => {
  const dir = tempDir(t);
  const pair = await generateKeyPair('ec-p256');
  const keyFile = join(dir, 'k.pem');
  writeFileSync(keyFile, exportPrivateKeyPem(pair.privateKey, 'sesame'), { mode: 0o600 });
  const pass = join(dir, 'pass');
  writeFileSync(pass, 'sesame\n', { mode: 0o600 });
  const ok = await runProcess('openssl', ['pkey', '-in', keyFile, '-passin', `file:${pass}`, '-noout', '-text']);
  assert.equal(ok.code, 0, ok.stderr);
  const parsed = await runProcess('openssl', ['asn1parse', '-in', keyFile]);
  assert.match(parsed.stdout, /PBES2/);
  assert.match(parsed.stdout, /aes-256-cbc/);
  writeFileSync(pass, 'nope\n');
  const bad = await runProcess('openssl', ['pkey', '-in', keyFile, '-passin', `file:${pass}`, '-noout']);
  assert.notEqual(bad.code, 0);
});

test('openssl-made traditional and PKCS#8 keys import', async (t) => {
  const dir = tempDir(t);
  const ec = join(dir, 'ec.pem');
  const rsa = join(dir, 'rsa.pem');
  assert.equal((await runProcess('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', ec])).code, 0);
  assert.equal((await runProcess('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', rsa])).code, 0);
  chmodSync(ec, 0o600);
  chmodSync(rsa, 0o600);
  assert.equal(keyTypeOf(readKeyFile(ec, null)), 'ec-p256');
  assert.equal(keyTypeOf(readKeyFile(rsa, null)), 'rsa-2048');
});

test('group- or world-readable key files are refused', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'k.pem');
  writeFileSync(file, exportPrivateKeyPem((await generateKeyPair()).privateKey, null), { mode: 0o600 });
  checkKeyFilePermissions(file);
  for (const mode of [0o640, 0o604, 0o644, 0o660]) {
    chmodSync(file, mode);
    assert.throws(() => checkKeyFilePermissions(file), { code: 'CG_PKI_KEY_PERMISSIONS' });
    assert.throws(() => readKeyFile(file, null), { code: 'CG_PKI_KEY_PERMISSIONS' });
  }
});

test('garbage is CG_PKI_BAD_KEY', () => {
  assert.throws(() => importPrivateKeyPem('hello', null), { code: 'CG_PKI_BAD_KEY' });
  assert.throws(() => importPrivateKeyPem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', null), { code: 'CG_PKI_BAD_KEY' });
});

/** The PBES2 parameters of an ENCRYPTED PRIVATE KEY PEM, decoded with the same schemas the writer uses. */
function pbes2Of(pem: string): { info: EncryptedPrivateKeyInfo; pbes2: Pbes2Params } {
  const [block] = pemDecodeAll(pem);
  assert.equal(block.label, 'ENCRYPTED PRIVATE KEY');
  const info = AsnConvert.parse(block.der, EncryptedPrivateKeyInfo);
  assert.equal(info.encryptionAlgorithm.algorithm, PBES2_OID.pbes2);
  return { info, pbes2: AsnConvert.parse(info.encryptionAlgorithm.parameters!, Pbes2Params) };
}

test('an encrypted key is PBES2 with scrypt (N=2^14, r=8, p=5) and AES-256-CBC, fresh salt and IV each time', async () => {
  assert.deepEqual(KEY_SCRYPT, { N: 16384, r: 8, p: 5 });
  const { privateKey } = await generateKeyPair('ec-p256');
  const a = pbes2Of(exportPrivateKeyPem(privateKey, 'pw'));
  const b = pbes2Of(exportPrivateKeyPem(privateKey, 'pw'));
  assert.equal(a.pbes2.keyDerivationFunc.algorithm, PBES2_OID.scrypt);
  assert.equal(a.pbes2.encryptionScheme.algorithm, PBES2_OID.aes256Cbc);
  const sa = AsnConvert.parse(a.pbes2.keyDerivationFunc.parameters!, ScryptParams);
  const sb = AsnConvert.parse(b.pbes2.keyDerivationFunc.parameters!, ScryptParams);
  assert.deepEqual([sa.costParameter, sa.blockSize, sa.parallelizationParameter, sa.keyLength], [16384, 8, 5, undefined]);
  assert.equal(sa.salt.byteLength, 16);
  assert.notDeepEqual(Buffer.from(sa.salt.buffer), Buffer.from(sb.salt.buffer), 'salt is random');
  assert.notDeepEqual(Buffer.from(a.pbes2.encryptionScheme.parameters!), Buffer.from(b.pbes2.encryptionScheme.parameters!), 'IV is random');
  assert.notDeepEqual(Buffer.from(a.info.encryptedData.buffer), Buffer.from(b.info.encryptedData.buffer));
});

test('node:crypto loads our encrypted key directly, with a non-ASCII passphrase taken as UTF-8 like openssl does', async (t) => {
  const dir = tempDir(t);
  const { privateKey, publicKey } = await generateKeyPair('rsa-2048');
  const passphrase = 'pässwörd ✓';
  const pem = exportPrivateKeyPem(privateKey, passphrase);
  assert.ok(keysMatch(createPrivateKey({ key: pem, format: 'pem', passphrase }), publicKey));
  assert.throws(() => createPrivateKey({ key: pem, format: 'pem', passphrase: 'passwort' }));
  const keyFile = join(dir, 'k.pem');
  const pass = join(dir, 'pass');
  writeFileSync(keyFile, pem, { mode: 0o600 });
  writeFileSync(pass, `${passphrase}\n`, { mode: 0o600 });
  const out = join(dir, 'plain.pem');
  const r = await runProcess('openssl', ['pkey', '-in', keyFile, '-passin', `file:${pass}`, '-out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(keysMatch(createPrivateKey(readFileSync(out)), publicKey), 'openssl recovers the same key');
});

test('keys encrypted the older ways still load: node export (PBKDF2, 2048 rounds) and openssl genpkey -aes256', async (t) => {
  const dir = tempDir(t);
  const { privateKey, publicKey } = await generateKeyPair('ec-p384');
  const legacy = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'old pw' }) as string;
  assert.match(legacy, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  assert.equal(pbes2Of(legacy).pbes2.keyDerivationFunc.algorithm, PBES2_OID.pbkdf2);
  assert.ok(keysMatch(importPrivateKeyPem(legacy, 'old pw'), publicKey));
  assert.throws(() => importPrivateKeyPem(legacy, 'new pw'), { code: 'CG_PKI_BAD_PASSPHRASE' });

  const pass = join(dir, 'pass');
  writeFileSync(pass, 'genpkey pw\n', { mode: 0o600 });
  const keyFile = join(dir, 'genpkey.pem');
  const gen = await runProcess('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-aes256', '-pass', `file:${pass}`, '-out', keyFile]);
  assert.equal(gen.code, 0, gen.stderr);
  chmodSync(keyFile, 0o600);
  assert.equal(keyTypeOf(readKeyFile(keyFile, 'genpkey pw')), 'ec-p256');
  assert.throws(() => readKeyFile(keyFile, 'nope'), { code: 'CG_PKI_BAD_PASSPHRASE' });
});

test('ca create writes a scrypt ca.key that openssl reads with no extra flags; a wrong passphrase fails through the CLI', async (t) => {
  const cwd = tempDir(t);
  writeFileSync(join(cwd, 'pass'), 'ca passphrase\n', { mode: 0o600 });
  writeFileSync(join(cwd, 'wrong'), 'not it\n', { mode: 0o600 });
  const created = await runCli(['ca', 'create', '--dir', 'pki', '--name', 'Scrypt CA', '--passphrase-file', 'pass'], { cwd });
  assert.equal(created.code, 0, created.stderr);
  const keyFile = join(cwd, 'pki', 'ca.key');
  const parsed = await runProcess('openssl', ['asn1parse', '-in', keyFile]);
  assert.equal(parsed.code, 0, parsed.stderr);
  assert.match(parsed.stdout, /:PBES2\s/);
  assert.match(parsed.stdout, /:scrypt\s/);
  assert.match(parsed.stdout, /INTEGER\s+:4000\s[\s\S]*INTEGER\s+:08\s[\s\S]*INTEGER\s+:05\s/, 'N=0x4000, r=8, p=5');
  assert.match(parsed.stdout, /:aes-256-cbc\s/);
  const ok = await runProcess('openssl', ['pkey', '-in', keyFile, '-passin', 'file:pass', '-noout'], { cwd });
  assert.equal(ok.code, 0, ok.stderr);
  const bad = await runProcess('openssl', ['pkey', '-in', keyFile, '-passin', 'file:wrong', '-noout'], { cwd });
  assert.notEqual(bad.code, 0);

  const issued = await runCli(['cert', 'issue', 'alice', '--client', '--dir', 'pki', '--passphrase-file', 'pass'], { cwd });
  assert.equal(issued.code, 0, issued.stderr);
  const refused = await runCli(['cert', 'issue', 'bob', '--client', '--dir', 'pki', '--passphrase-file', 'wrong'], { cwd });
  assert.equal(refused.code, 1, refused.stderr);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.match(refused.stderr, /wrong passphrase for the CA key/);
  assert.throws(() => readKeyFile(keyFile, 'not it'), { code: 'CG_PKI_BAD_PASSPHRASE' });
});
