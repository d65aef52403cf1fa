// CA set-up: root and intermediate creation, unlocking, validity rules, and adopting an openssl-made CA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, importCa } from '../../src/pki/ca-setup.ts';
import { loadCa, unlockCa, caKeyEncrypted, childValidity } from '../../src/pki/ca.ts';
import { CaStore } from '../../src/pki/store.ts';
import { issueCertificate } from '../../src/pki/issue.ts';
import { runProcess } from '../helpers/cli.ts';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';

const DAY = 86_400_000;

async function ossl(args: string[], cwd?: string): Promise<string> {
  const r = await runProcess('openssl', args, { cwd, timeoutMs: 20_000 });
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('root CA: files, modes, profile as openssl shows it, encrypted key', async (t) => {
  const root = await makeCa(t, { name: 'Example CA', keyType: 'ec-p384' });
  assert.equal(statSync(join(root.dir, 'ca.key')).mode & 0o777, 0o600);
  assert.equal(readFileSync(root.chainPath, 'utf8'), readFileSync(root.certPath, 'utf8'));
  assert.ok(caKeyEncrypted(loadCa(root.dir)));
  const text = await ossl(['x509', '-in', root.certPath, '-noout', '-text']);
  assert.match(text, /Issuer: CN = Example CA/);
  assert.match(text, /Subject: CN = Example CA/);
  assert.match(text, /Basic Constraints: critical\s+CA:TRUE\n/);
  assert.match(text, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.match(text, /Subject Key Identifier/);
  assert.match(text, /ecdsa-with-SHA384/);
  const serialHex = (await ossl(['x509', '-in', root.certPath, '-noout', '-serial'])).trim().split('=')[1];
  assert.ok(serialHex.length >= 16, 'serial of at least 64 bits');
  assert.equal((await runProcess('openssl', ['verify', '-CAfile', root.certPath, root.certPath])).code, 0);
  const store = CaStore.open(root.dir);
  t.after(() => store.close());
  assert.equal(store.getMeta('ca.name'), 'Example CA');
  assert.equal(store.auditLog()[0].operation, 'ca.create');
});

test('intermediate: pathlen 0, chain.pem, recorded in the parent store, leaf verifies through it', async (t) => {
  const root = await makeCa(t);
  const inter = await makeCa(t, { parent: root, name: 'Issuing CA' });
  const text = await ossl(['x509', '-in', inter.certPath, '-noout', '-text']);
  assert.match(text, /CA:TRUE, pathlen:0/);
  assert.match(text, /Authority Key Identifier/);
  const chain = readFileSync(inter.chainPath, 'utf8');
  assert.equal(chain, readFileSync(inter.certPath, 'utf8') + readFileSync(root.certPath, 'utf8'));
  const ps = CaStore.open(root.dir);
  t.after(() => ps.close());
  const recs = ps.findByName('Issuing CA');
  assert.equal(recs.length, 1);
  assert.equal(recs[0].profile, 'ca');
  assert.equal(recs[0].serial, inter.ca.cert.serialNumber.toUpperCase());
  // pathlen 0: this intermediate may not sign another CA
  await assert.rejects(makeCa(t, { parent: inter }), { code: 'CG_PKI_PROFILE' });
  const leaf = await issueCert(inter, 'alice');
  const v = await runProcess('openssl', ['verify', '-CAfile', root.certPath, '-untrusted', inter.certPath, '-purpose', 'sslclient', leaf.certPath]);
  assert.equal(v.code, 0, v.stderr);
  // without the intermediate there is no path
  assert.notEqual((await runProcess('openssl', ['verify', '-CAfile', root.certPath, leaf.certPath])).code, 0);
});

test('an intermediate without --days is cut to its parent; with too many days it is refused', async (t) => {
  const root = await makeCa(t, { days: 10 });
  const inter = await createCa({ dir: join(tempDir(t), 'pki'), name: 'I', passphrase: null, parent: root.ca });
  assert.equal(inter.cert.notAfter.getTime(), root.ca.cert.notAfter.getTime());
  const dir = join(tempDir(t), 'pki');
  await assert.rejects(createCa({ dir, name: 'X', passphrase: null, parent: root.ca, days: 11 }), { code: 'CG_PKI_VALIDITY' });
});

test('childValidity refuses validity past the issuer and backdates within it', async (t) => {
  const root = await makeCa(t, { days: 30 });
  const now = new Date();
  const v = childValidity(root.ca.cert, now, 7);
  assert.ok(v.notBefore.getTime() >= root.ca.cert.notBefore.getTime());
  assert.ok(v.notBefore.getTime() <= now.getTime());
  assert.throws(() => childValidity(root.ca.cert, now, 31), { code: 'CG_PKI_VALIDITY' });
  assert.throws(() => childValidity(root.ca.cert, now, 0), { code: 'CG_PKI_VALIDITY' });
});

test('unlock: wrong passphrase, missing passphrase, loose permissions, missing DIR, existing CA', async (t) => {
  const root = await makeCa(t);
  const loaded = loadCa(root.dir);
  await assert.rejects(unlockCa(loaded, 'wrong'), { code: 'CG_PKI_BAD_PASSPHRASE' });
  await assert.rejects(unlockCa(loaded, null), { code: 'CG_PKI_BAD_PASSPHRASE' });
  chmodSync(join(root.dir, 'ca.key'), 0o644);
  await assert.rejects(unlockCa(loaded, root.passphrase), { code: 'CG_PKI_KEY_PERMISSIONS' });
  chmodSync(join(root.dir, 'ca.key'), 0o600);
  await unlockCa(loaded, root.passphrase);
  assert.throws(() => loadCa(join(root.dir, 'nope')), { code: 'CG_PKI_NO_CA' });
  assert.throws(() => loadCa(tempDir(t)), { code: 'CG_PKI_NO_CA' });
  await assert.rejects(createCa({ dir: root.dir, name: 'Again', passphrase: null }), { code: 'CG_PKI_CA_EXISTS' });
});

test('an expired CA cannot sign', async (t) => {
  const now = Date.now();
  const old = await makeCa(t, { validity: { notBefore: new Date(now - 20 * DAY), notAfter: new Date(now - DAY) } });
  const store = CaStore.open(old.dir);
  t.after(() => store.close());
  await assert.rejects(issueCertificate(old.ca, store, { name: 'late', profile: 'client', days: 1 }), { code: 'CG_PKI_CA_EXPIRED' });
});

test('import adopts a CA made by the blog recipe (openssl req -x509, encrypted RSA key)', async (t) => {
  const src = tempDir(t);
  writeFileSync(join(src, 'p'), 'blog-pass\n', { mode: 0o600 });
  await ossl(['req', '-x509', '-newkey', 'rsa:2048', '-keyout', 'ca.key', '-passout', 'file:p', '-subj', '/C=US/O=Blog/CN=Blog CA',
    '-days', '30', '-out', 'ca.crt'], src);
  const dir = join(tempDir(t), 'pki');
  await assert.rejects(importCa({ dir, certPath: join(src, 'ca.crt'), keyPath: join(src, 'ca.key'), passphrase: null }),
    { code: 'CG_PKI_BAD_PASSPHRASE' });
  await assert.rejects(importCa({ dir, certPath: join(src, 'ca.crt'), keyPath: join(src, 'ca.key'), passphrase: 'nope' }),
    { code: 'CG_PKI_BAD_PASSPHRASE' });
  assert.equal(existsSync(join(dir, 'ca.crt')), false);
  const { ca, warnings } = await importCa({ dir, certPath: join(src, 'ca.crt'), keyPath: join(src, 'ca.key'), passphrase: 'blog-pass' });
  assert.deepEqual(warnings, []);
  assert.equal(ca.keyAlgorithm, 'rsa-2048');
  assert.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
  const store = CaStore.open(dir);
  t.after(() => store.close());
  const leaf = await issueCertificate(ca, store, { name: 'svc', profile: 'server', sans: { dns: ['svc.example'] }, days: 5 });
  const v = await runProcess('openssl', ['verify', '-CAfile', join(src, 'ca.crt'), '-purpose', 'sslserver', leaf.certPath]);
  assert.equal(v.code, 0, v.stderr);
  const text = await ossl(['x509', '-in', leaf.certPath, '-noout', '-issuer']);
  assert.match(text, /C = US, O = Blog, CN = Blog CA/);
});

test('import refuses a non-CA cert, a mismatched key, a loose key file and a chain that did not sign it', async (t) => {
  const root = await makeCa(t, { passphrase: null });
  const other = await makeCa(t, { passphrase: null });
  const leaf = await issueCert(root, 'leaf');
  const inter = await makeCa(t, { parent: root, passphrase: null });
  const dir = () => join(tempDir(t), 'pki');
  const key = (ca: { dir: string }) => join(ca.dir, 'ca.key');
  await assert.rejects(importCa({ dir: dir(), certPath: leaf.certPath, keyPath: leaf.keyPath!, passphrase: null }), { code: 'CG_PKI_BAD_CERT' });
  await assert.rejects(importCa({ dir: dir(), certPath: root.certPath, keyPath: key(other), passphrase: null }), { code: 'CG_PKI_BAD_KEY' });
  await assert.rejects(importCa({ dir: dir(), certPath: inter.certPath, keyPath: key(inter), chainPath: other.certPath, passphrase: null }),
    { code: 'CG_PKI_BAD_CERT' });
  const ok = await importCa({ dir: dir(), certPath: inter.certPath, keyPath: key(inter), chainPath: root.certPath, passphrase: 'new-pass' });
  assert.equal(ok.ca.chainPems.length, 2);
  assert.ok(caKeyEncrypted(ok.ca), 'the adopted key is stored encrypted when a passphrase is given');
  const noChain = await importCa({ dir: dir(), certPath: inter.certPath, keyPath: key(inter), passphrase: null });
  assert.equal(noChain.warnings.length, 1);
  chmodSync(key(other), 0o640);
  await assert.rejects(importCa({ dir: dir(), certPath: other.certPath, keyPath: key(other), passphrase: null }), { code: 'CG_PKI_KEY_PERMISSIONS' });
});
