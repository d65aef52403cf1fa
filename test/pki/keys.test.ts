// Keys: every supported type generates and round-trips through (encrypted) PKCS#8; openssl reads what we write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import {
  KEY_TYPES, generateKeyPair, keyTypeOf, exportPrivateKeyPem, importPrivateKeyPem, checkKeyFilePermissions, readKeyFile,
  parseKeyType, keysMatch, requireKeyType, isEncryptedKeyPem,
} from '../../src/pki/keys.ts';
import { runProcess } from '../helpers/cli.ts';
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
