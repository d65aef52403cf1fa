// cert-info: the pure describers (tables), and describeCertificate checked against what the real openssl prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  describeCertificate, keyUsageNames, ekuName, keyAlgorithmName, formatGeneralName, fingerprintWithColons, relativeTime,
  toShowJson, renderCertText, firstCertificateDer, SHOW_KEYS,
} from '../../src/pki/cert-info.ts';
import { LIST_ENTRY_KEYS } from '../../src/pki/list.ts';
import type { CertRecord } from '../../src/pki/store.ts';
import { makeCa, makeLeaf } from '../helpers/webcrypto-ca.ts';
import { runProcess } from '../helpers/cli.ts';

test('keyUsageNames names the bits in RFC 5280 order', () => {
  const rows: [number, string[]][] = [[0, []], [1, ['digitalSignature']], [1 | 4, ['digitalSignature', 'keyEncipherment']],
    [32 | 64, ['keyCertSign', 'cRLSign']], [256, ['decipherOnly']]];
  for (const [flags, names] of rows) assert.deepEqual(keyUsageNames(flags), names, String(flags));
});

test('ekuName, keyAlgorithmName and formatGeneralName spell things like openssl and --key', () => {
  const eku: [string, string][] = [['1.3.6.1.5.5.7.3.1', 'serverAuth'], ['1.3.6.1.5.5.7.3.2', 'clientAuth'], ['1.2.3.4', '1.2.3.4']];
  for (const [oid, name] of eku) assert.equal(ekuName(oid), name);
  const keys: [string | undefined, object, string][] = [['ec', { namedCurve: 'prime256v1' }, 'ec-p256'], ['ec', { namedCurve: 'secp384r1' }, 'ec-p384'],
    ['rsa', { modulusLength: 3072 }, 'rsa-3072'], ['ed25519', {}, 'ed25519'], [undefined, {}, 'unknown'], ['ec', { namedCurve: 'brainpoolP256r1' }, 'ec-brainpoolP256r1']];
  for (const [type, details, name] of keys) assert.equal(keyAlgorithmName(type, details), name);
  const sans: [string, string, string][] = [['dns', 'a.example', 'DNS:a.example'], ['ip', '127.0.0.1', 'IP:127.0.0.1'],
    ['email', 'a@b.c', 'email:a@b.c'], ['url', 'spiffe://x/y', 'URI:spiffe://x/y'], ['weird', 'v', 'othername:v']];
  for (const [type, value, text] of sans) assert.equal(formatGeneralName(type, value), text);
});

test('fingerprintWithColons and relativeTime', () => {
  assert.equal(fingerprintWithColons('ab01ff'), 'AB:01:FF');
  const now = new Date('2030-01-10T00:00:00Z');
  const rows: [string, string][] = [['2030-01-10T00:00:30Z', 'in less than a minute'], ['2030-01-11T00:00:00Z', 'in 1 day'],
    ['2030-01-09T21:00:00Z', '3 hours ago'], ['2029-12-10T00:00:00Z', '31 days ago'], ['2030-01-10T00:05:00Z', 'in 5 minutes']];
  for (const [at, text] of rows) assert.equal(relativeTime(new Date(at), now), text, at);
});

test('firstCertificateDer takes the first block of a bundle and refuses non-certificates', async () => {
  const ca = await makeCa('Bundle Root');
  const leaf = await makeLeaf(ca, { cn: 'first' });
  const { der, count } = firstCertificateDer(leaf.certPem + ca.certPem);
  assert.equal(count, 2);
  assert.deepEqual(new Uint8Array(der), new Uint8Array(leaf.cert.rawData));
  assert.throws(() => firstCertificateDer('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), { code: 'CG_PKI_BAD_CERT' });
  assert.throws(() => firstCertificateDer('hello'), { code: 'CG_PKI_BAD_CERT' });
  assert.throws(() => describeCertificate(Buffer.from('not der at all')), { code: 'CG_PKI_BAD_CERT' });
});

test('describeCertificate agrees with openssl x509 on a client and a server cert', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-info-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await makeCa('Info Root', undefined, 'ec-p384');
  const inter = await makeCa('Info Inter', ca);
  const server = await makeLeaf(inter, { cn: 'web', eku: 'serverAuth', sans: [{ type: 'dns', value: 'web.example' }, { type: 'ip', value: '127.0.0.1' }], keyType: 'rsa-2048' });
  const client = await makeLeaf(inter, { cn: 'alice', sans: [{ type: 'email', value: 'alice@example.com' }] });
  for (const [label, pem] of [['server', server.certPem], ['client', client.certPem], ['inter', inter.certPem], ['root', ca.certPem]] as const) {
    const path = join(dir, `${label}.crt`);
    writeFileSync(path, pem);
    const r = await runProcess('openssl', ['x509', '-in', path, '-noout', '-serial', '-fingerprint', '-sha256', '-enddate'], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    const d = describeCertificate(pem);
    assert.equal(d.serial, /serial=([0-9A-F]+)/.exec(r.stdout)![1].replace(/^(00)+(?=[0-7])/, ''), `${label} serial`);
    assert.equal(fingerprintWithColons(d.fingerprint), /Fingerprint=([0-9A-F:]+)/.exec(r.stdout)![1], `${label} fingerprint`);
    assert.equal(new Date(/notAfter=(.*)/.exec(r.stdout)![1]).getTime(), Date.parse(d.notAfter), `${label} notAfter`);
    // DER in a file works too
    const derPath = join(dir, `${label}.der`);
    assert.equal((await runProcess('openssl', ['x509', '-in', path, '-outform', 'DER', '-out', derPath], { timeoutMs: 20_000 })).code, 0);
    assert.equal(describeCertificate(readFileSync(derPath)).fingerprint, d.fingerprint);
  }
  const s = describeCertificate(server.certPem);
  assert.equal(s.subject, 'CN=web, O=certgate tests');
  assert.equal(s.issuer, 'CN=Info Inter, O=certgate tests');
  assert.deepEqual(s.sans, ['DNS:web.example', 'IP:127.0.0.1']);
  assert.deepEqual(s.extendedKeyUsage, ['serverAuth']);
  assert.deepEqual(s.keyUsage, ['digitalSignature']);
  assert.equal(s.keyAlgorithm, 'rsa-2048');
  assert.equal(s.isCa, false);
  assert.equal(s.selfSigned, false);
  const c = describeCertificate(client.certPem);
  assert.deepEqual(c.sans, ['email:alice@example.com']);
  assert.deepEqual(c.extendedKeyUsage, ['clientAuth']);
  assert.equal(c.keyAlgorithm, 'ec-p256');
  const i = describeCertificate(inter.certPem);
  assert.equal(i.isCa, true);
  assert.equal(i.pathLength, 0);
  assert.deepEqual(i.keyUsage, ['keyCertSign', 'cRLSign']);
  assert.equal(i.selfSigned, false);
  const root = describeCertificate(ca.certPem);
  assert.equal(root.selfSigned, true);
  assert.equal(root.keyAlgorithm, 'ec-p384');
  assert.equal(root.pathLength, null);
});

test('cert show JSON keys are pinned and a superset of the cert list entry', async () => {
  assert.deepEqual([...SHOW_KEYS], ['serial', 'name', 'profile', 'subject', 'sans', 'notBefore', 'notAfter', 'status', 'revokedAt',
    'revocationReason', 'fingerprint', 'keyPath', 'issuedAt', 'issuer', 'keyAlgorithm', 'isCa', 'pathLength', 'keyUsage',
    'extendedKeyUsage', 'expired', 'inCa', 'pem']);
  for (const k of LIST_ENTRY_KEYS) assert.ok((SHOW_KEYS as readonly string[]).includes(k), k);

  const ca = await makeCa('Show Root');
  const leaf = await makeLeaf(ca, { cn: 'bob', days: 10 });
  const d = describeCertificate(leaf.certPem);
  const now = new Date();
  const noCa = toShowJson(d, null, false, now);
  assert.deepEqual(Object.keys(noCa), [...SHOW_KEYS]);
  assert.equal(noCa.inCa, null);
  assert.equal(noCa.status, null);
  assert.equal(noCa.expired, false);
  assert.match(renderCertText(noCa, now), /Status:\s+within its validity \(no CA given/);

  const rec: CertRecord = { serial: d.serial, name: 'bob', subject: d.subject, sans: d.sans, profile: 'client', notBefore: d.notBefore,
    notAfter: d.notAfter, status: 'revoked', revokedAt: now.toISOString(), revocationReason: 'keyCompromise', fingerprint: d.fingerprint,
    pem: d.pem, keyPath: 'issued/bob.key', issuedAt: now.toISOString() };
  const inCa = toShowJson(d, rec, true, now);
  assert.deepEqual(Object.keys(inCa), [...SHOW_KEYS]);
  assert.equal(inCa.status, 'revoked');
  assert.equal(inCa.inCa, true);
  const text = renderCertText(inCa, now);
  assert.match(text, /^Serial:\s+[0-9A-F]+$/m);
  assert.match(text, /^Name:\s+bob \(client\)$/m);
  assert.match(text, /^Status:\s+REVOKED at .* \(keyCompromise\)$/m);
  assert.match(text, /^Extended key usage:\s+clientAuth$/m);
  assert.match(text, /^SHA-256 fingerprint:\s+([0-9A-F]{2}:){31}[0-9A-F]{2}$/m);

  const unknown = toShowJson(d, null, true, now);
  assert.equal(unknown.inCa, false);
  assert.match(renderCertText(unknown, now), /not recorded in this CA/);

  const external = toShowJson(null, { ...rec, name: '', profile: 'external', subject: '', sans: [], pem: null, keyPath: null }, true, now);
  assert.deepEqual(Object.keys(external), [...SHOW_KEYS]);
  assert.equal(external.pem, null);
  assert.equal(external.issuer, null);
});
