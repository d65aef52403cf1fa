// Issuing: openssl accepts each profile for its purpose and refuses the twin; records, files and refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { issueCertificate } from '../../src/pki/issue.ts';
import { profileSans } from '../../src/pki/profiles.ts';
import { CaStore } from '../../src/pki/store.ts';
import { runProcess } from '../helpers/cli.ts';
import { makeCa, issueCert } from '../helpers/pki.ts';

const DAY = 86_400_000;

async function verify(root: string, cert: string, purpose: string, untrusted?: string): Promise<number | null> {
  const args = ['verify', '-CAfile', root, ...(untrusted ? ['-untrusted', untrusted] : []), '-purpose', purpose, cert];
  return (await runProcess('openssl', args)).code;
}

test('client cert: sslclient accepted, sslserver refused; openssl -text shows the client profile', async (t) => {
  const root = await makeCa(t);
  const c = await issueCert(root, 'alice', { o: 'Acme', ous: ['ops', 'eng'], email: ['alice@example.com'], uri: ['spiffe://acme/alice'] });
  assert.equal(await verify(root.certPath, c.certPath, 'sslclient'), 0);
  assert.notEqual(await verify(root.certPath, c.certPath, 'sslserver'), 0);
  const text = (await runProcess('openssl', ['x509', '-in', c.certPath, '-noout', '-text'])).stdout;
  assert.match(text, /Subject: O = Acme, OU = ops, OU = eng, CN = alice/);
  assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
  assert.match(text, /Key Usage: critical\s+Digital Signature\n/);
  assert.match(text, /Extended Key Usage: \s*TLS Web Client Authentication\n/);
  assert.match(text, /Subject Key Identifier/);
  assert.match(text, /Authority Key Identifier/);
  assert.match(text, /email:alice@example.com, URI:spiffe:\/\/acme\/alice/);
});

test('server cert (RSA): sslserver accepted, sslclient refused; DNS+IP SANs, keyEncipherment', async (t) => {
  const root = await makeCa(t, { keyType: 'rsa-2048' });
  const s = await issueCert(root, 'web', { profile: 'server', dns: ['App.Example.com'], ip: ['127.0.0.1', '::1'], keyType: 'rsa-2048' });
  assert.equal(await verify(root.certPath, s.certPath, 'sslserver'), 0);
  assert.notEqual(await verify(root.certPath, s.certPath, 'sslclient'), 0);
  const text = (await runProcess('openssl', ['x509', '-in', s.certPath, '-noout', '-text'])).stdout;
  assert.match(text, /DNS:app.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1/);
  assert.match(text, /Digital Signature, Key Encipherment/);
  assert.match(text, /TLS Web Server Authentication/);
  assert.match(text, /sha256WithRSAEncryption/);
  // the key file matches the certificate
  const mod = async (args: string[]) => (await runProcess('openssl', args)).stdout;
  assert.equal(await mod(['x509', '-in', s.certPath, '-noout', '-pubkey']), await mod(['pkey', '-in', s.keyPath!, '-pubout']));
});

test('record, files and modes; serials are random positive ≥64-bit', async (t) => {
  const root = await makeCa(t);
  const a = await issueCert(root, 'a');
  const b = await issueCert(root, 'b b/..');
  assert.notEqual(a.record.serial, b.record.serial);
  for (const r of [a, b]) {
    assert.ok(r.record.serial.length >= 16);
    assert.ok(parseInt(r.record.serial[0], 16) < 8);
    assert.equal(statSync(r.keyPath!).mode & 0o777, 0o600);
    assert.equal(readFileSync(r.certPath, 'utf8'), r.record.pem);
    assert.ok(r.certPath.startsWith(join(root.dir, 'issued') + '/'));
  }
  assert.deepEqual(readdirSync(join(root.dir, 'issued')).sort(),
    [`a-${a.record.serial}.crt`, `a-${a.record.serial}.key`, `b_b_..-${b.record.serial}.crt`, `b_b_..-${b.record.serial}.key`].sort());
  const store = CaStore.open(root.dir);
  t.after(() => store.close());
  const rec = store.getBySerial(a.record.serial)!;
  assert.equal(rec.name, 'a');
  assert.equal(rec.subject, 'CN=a');
  assert.equal(rec.profile, 'client');
  assert.equal(rec.keyPath, `issued/a-${a.record.serial}.key`);
  const fp = (await runProcess('openssl', ['x509', '-in', a.certPath, '-noout', '-fingerprint', '-sha256'])).stdout;
  assert.equal(rec.fingerprint, fp.trim().split('=')[1].replace(/:/g, '').toLowerCase());
  const ser = (await runProcess('openssl', ['x509', '-in', a.certPath, '-noout', '-serial'])).stdout;
  assert.equal(rec.serial, ser.trim().split('=')[1]);
  assert.ok(store.auditLog().some((e) => e.operation === 'cert.issue' && e.detail.serial === a.record.serial));
});

test('duplicate valid NAME refused; allowed again after it expires', async (t) => {
  const root = await makeCa(t);
  const now = Date.now();
  await issueCert(root, 'old', { validity: { notBefore: new Date(now - 2 * DAY), notAfter: new Date(now - DAY) } });
  await issueCert(root, 'old');
  await issueCert(root, 'bob');
  await assert.rejects(issueCert(root, 'bob'), { code: 'CG_PKI_DUPLICATE_NAME' });
  await assert.rejects(issueCert(root, 'bob', { profile: 'server' }), { code: 'CG_PKI_DUPLICATE_NAME' });
});

test('refusals: validity past the CA, server without SAN, SAN kinds per profile, bad SANs', async (t) => {
  const root = await makeCa(t, { days: 10 });
  const store = CaStore.open(root.dir);
  t.after(() => store.close());
  await assert.rejects(issueCertificate(root.ca, store, { name: 'x', profile: 'client', days: 11 }), { code: 'CG_PKI_VALIDITY' });
  await assert.rejects(issueCertificate(root.ca, store, { name: 'x', profile: 'client' }), { code: 'CG_PKI_VALIDITY' });
  await assert.rejects(issueCertificate(root.ca, store, { name: 'x', profile: 'server', days: 1 }), { code: 'CG_PKI_PROFILE' });
  await assert.rejects(issueCertificate(root.ca, store, { name: '', profile: 'client', days: 1 }), { code: 'CG_PKI_PROFILE' });
  assert.equal(store.list().length, 0);
});

test('profileSans table', () => {
  const ok: [Parameters<typeof profileSans>[0], Parameters<typeof profileSans>[1], string[]][] = [
    ['client', {}, []],
    ['client', { email: ['a@b.c'], dns: ['Host.Example'], uri: ['https://x/y'] }, ['DNS:host.example', 'email:a@b.c', 'URI:https://x/y']],
    ['server', { dns: ['*.example.com', 'example.com.'] }, ['DNS:*.example.com', 'DNS:example.com']],
    ['server', { ip: ['10.0.0.1', '10.0.0.1', 'FE80::1'] }, ['IP:10.0.0.1', 'IP:fe80::1']],
  ];
  for (const [profile, sans, expected] of ok) assert.deepEqual(profileSans(profile, sans), expected);
  const bad: [Parameters<typeof profileSans>[0], Parameters<typeof profileSans>[1]][] = [
    ['server', {}], ['server', { email: ['a@b.c'] }], ['client', { ip: ['1.2.3.4'] }], ['server', { dns: ['bad_name'] }],
    ['server', { dns: ['a..b'] }], ['server', { ip: ['300.1.1.1'] }], ['client', { email: ['nobody'] }],
    ['client', { uri: ['not a uri'] }], ['server', { dns: ['*.*.x'] }], ['server', { dns: ['-x.com'] }],
  ];
  for (const [profile, sans] of bad) assert.throws(() => profileSans(profile, sans), { code: 'CG_PKI_PROFILE' }, JSON.stringify(sans));
});

test('renew: same key and subject, new serial and validity; old stays valid; by name picks the newest', async (t) => {
  const { renewCertificate } = await import('../../src/pki/issue.ts');
  const root = await makeCa(t);
  const first = await issueCert(root, 'carol', { o: 'Acme', email: ['carol@example.com'], days: 3 });
  const store = CaStore.open(root.dir);
  t.after(() => store.close());
  const r = await renewCertificate(root.ca, store, { ref: 'carol', days: 5 });
  assert.notEqual(r.record.serial, first.record.serial);
  assert.equal(r.previous.serial, first.record.serial);
  assert.equal(r.record.subject, first.record.subject);
  assert.deepEqual(r.record.sans, first.record.sans);
  assert.equal(r.record.keyPath, first.record.keyPath);
  assert.ok(Date.parse(r.record.notAfter) > Date.parse(first.record.notAfter));
  const pub = async (args: string[]) => (await runProcess('openssl', args)).stdout;
  assert.equal(await pub(['x509', '-in', r.certPath, '-noout', '-pubkey']), await pub(['x509', '-in', first.certPath, '-noout', '-pubkey']));
  assert.equal(await verify(root.certPath, r.certPath, 'sslclient'), 0);
  assert.equal(store.getBySerial(first.record.serial)?.status, 'valid');
  // default validity: as long as the renewed one (5 days + the backdate)
  const again = await renewCertificate(root.ca, store, { ref: 'carol' });
  assert.equal(again.previous.serial, r.record.serial);
  const len = (rec: { notBefore: string; notAfter: string }) => Date.parse(rec.notAfter) - Date.parse(rec.notBefore);
  assert.ok(Math.abs(len(again.record) - len(r.record)) < 10 * 60_000);
  store.transaction(() => store.markRevoked(first.record.serial, 'superseded', new Date()));
  await assert.rejects(renewCertificate(root.ca, store, { ref: first.record.serial }), { code: 'CG_PKI_ALREADY_REVOKED' });
  await assert.rejects(renewCertificate(root.ca, store, { ref: 'nobody' }), { code: 'CG_PKI_SERIAL_NOT_FOUND' });
  await assert.rejects(renewCertificate(root.ca, store, { ref: 'carol', days: 31 }), { code: 'CG_PKI_VALIDITY' });
  assert.deepEqual(store.auditLog().filter((e) => e.operation === 'cert.renew').map((e) => e.detail.renewedFrom),
    [first.record.serial, r.record.serial]);
});
