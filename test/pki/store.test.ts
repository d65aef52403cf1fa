// CaStore against a real SQLite file: records, normalized serial lookup, filters, revocation, CRL numbers, audit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { CaStore } from '../../src/pki/store.ts';
import type { CertRecord } from '../../src/pki/store.ts';
import { normalizeSerial, randomSerial } from '../../src/pki/serial.ts';
import { runProcess } from '../helpers/cli.ts';

const DAY = 86_400_000;

function rec(over: Partial<CertRecord>): CertRecord {
  return {
    serial: randomSerial(), name: 'alice', subject: 'CN=alice', sans: ['email:alice@example.com'], profile: 'client',
    notBefore: new Date(Date.now() - DAY).toISOString(), notAfter: new Date(Date.now() + 365 * DAY).toISOString(),
    status: 'valid', revokedAt: null, revocationReason: null, fingerprint: 'ab'.repeat(32), pem: 'PEM', keyPath: null,
    issuedAt: new Date().toISOString(), ...over,
  };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cg-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('normalizeSerial canonicalizes case, colons and leading zeros', () => {
  const rows: [string, string | undefined][] = [
    ['4f1a', '4F1A'], ['4F:1A', '4F1A'], ['004F1A', '4F1A'], ['0x4f1a', '4F1A'], ['f1a', '0F1A'],
    ['80', '0080'], ['00:80', '0080'], ['0080', '0080'], ['0', '00'], ['xyz', undefined], ['', undefined],
    // negative serials keep their sign, spelled as openssl prints them; -0x80 is not 0x80
    ['-7edc1234', '-7EDC1234'], ['-7E:DC:12:34', '-7EDC1234'], ['-0x7EDC1234', '-7EDC1234'], ['-80', '-80'], ['-0080', '-80'],
    ['-1', '-01'], ['-0100', '-0100'], ['-0', '00'], ['--1', undefined], ['-', undefined],
  ];
  for (const [input, expected] of rows) assert.equal(normalizeSerial(input), expected, input);
});

test('randomSerial is positive, 128-bit, unique', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const s = randomSerial();
    assert.equal(s.length, 32);
    assert.equal(normalizeSerial(s), s);
    assert.ok(parseInt(s[0], 16) < 8);
    seen.add(s);
  }
  assert.equal(seen.size, 200);
});

test('insert, lookup by normalized serial and by name, persists across reopen', (t) => {
  const dir = tempDir(t);
  const store = CaStore.open(dir);
  const a = rec({ serial: '0A1B2C3D4E5F6071' });
  store.insertCert(a);
  store.insertCert(rec({ name: 'alice', serial: '7A1B2C3D4E5F6071' }));
  assert.equal(store.getBySerial('0a:1b:2c:3d:4e:5f:60:71')?.serial, '0A1B2C3D4E5F6071');
  assert.equal(store.getBySerial('000A1B2C3D4E5F6071')?.name, 'alice');
  assert.equal(store.getBySerial('ffff'), undefined);
  assert.equal(store.getBySerial('not-hex'), undefined);
  assert.equal(store.findByName('alice').length, 2);
  assert.deepEqual(store.findByName('bob'), []);
  assert.throws(() => store.insertCert(rec({ serial: a.serial })), { code: 'CG_PKI_STORE' });
  store.close();
  const again = CaStore.open(dir);
  t.after(() => again.close());
  assert.deepEqual(again.getBySerial(a.serial)?.sans, ['email:alice@example.com']);
  assert.equal(again.integrityCheck(), 'ok');
});

test('list filters: valid, revoked, expired, expiring', (t) => {
  const store = CaStore.open(tempDir(t));
  t.after(() => store.close());
  const now = new Date();
  const at = (days: number) => new Date(now.getTime() + days * DAY).toISOString();
  store.insertCert(rec({ name: 'long', notAfter: at(300) }));
  store.insertCert(rec({ name: 'soon', notAfter: at(10) }));
  store.insertCert(rec({ name: 'edge', notAfter: at(29.9) }));
  store.insertCert(rec({ name: 'later', notAfter: at(31) }));
  store.insertCert(rec({ name: 'old', notAfter: at(-1) }));
  const revoked = rec({ name: 'gone', notAfter: at(5) });
  store.insertCert(revoked);
  store.transaction(() => store.markRevoked(revoked.serial, 'keyCompromise', now));
  const names = (rs: CertRecord[]) => rs.map((r) => r.name).sort();
  assert.deepEqual(names(store.list({ now })), ['edge', 'gone', 'later', 'long', 'old', 'soon']);
  assert.deepEqual(names(store.list({ status: 'valid', now })), ['edge', 'later', 'long', 'soon']);
  assert.deepEqual(names(store.list({ status: 'revoked', now })), ['gone']);
  assert.deepEqual(names(store.list({ status: 'expired', now })), ['old']);
  assert.deepEqual(names(store.list({ expiringWithinMs: 30 * DAY, now })), ['edge', 'soon']);
  const r = store.getBySerial(revoked.serial);
  assert.equal(r?.status, 'revoked');
  assert.equal(r?.revocationReason, 'keyCompromise');
  assert.equal(r?.revokedAt, now.toISOString());
  assert.throws(() => store.markRevoked(revoked.serial, 'superseded', now), { code: 'CG_PKI_ALREADY_REVOKED' });
  assert.throws(() => store.markRevoked('ABCDEF', 'superseded', now), { code: 'CG_PKI_SERIAL_NOT_FOUND' });
});

test('transaction rolls back on throw; CRL number increments; meta and audit', (t) => {
  const store = CaStore.open(tempDir(t));
  t.after(() => store.close());
  assert.throws(() => store.transaction(() => {
    store.insertCert(rec({ name: 'ghost' }));
    store.setMeta('x', '1');
    throw new Error('boom');
  }), /boom/);
  assert.deepEqual(store.findByName('ghost'), []);
  assert.equal(store.getMeta('x'), undefined);
  assert.equal(store.transaction(() => store.nextCrlNumber()), 1n);
  assert.equal(store.transaction(() => store.nextCrlNumber()), 2n);
  store.setMeta('k', 'v1');
  store.setMeta('k', 'v2');
  assert.equal(store.getMeta('k'), 'v2');
  store.audit('cert.issue', { serial: 'AB', name: 'alice' });
  const log = store.auditLog();
  assert.equal(log.length, 1);
  assert.equal(log[0].operation, 'cert.issue');
  assert.deepEqual(log[0].detail, { serial: 'AB', name: 'alice' });
});

test('open on a missing directory is CG_PKI_NO_CA', () => {
  assert.throws(() => CaStore.open(join(tmpdir(), 'cg-does-not-exist-' + randomSerial())), { code: 'CG_PKI_NO_CA' });
});

test('a schema-1 store that recorded a negative serial as positive is repaired on open, and a CRL is owed', async (t) => {
  const dir = tempDir(t);
  const r = await runProcess('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, 'neg.key'), '-out', join(dir, 'neg.crt'), '-subj', '/CN=neg', '-days', '1', '-set_serial', '-0x7EDC1234'], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  const pem = readFileSync(join(dir, 'neg.crt'), 'utf8');
  const store = CaStore.open(dir);
  // what older certgate wrote for it: the two's-complement octets 81 23 ED CC read as a positive number
  store.insertCert(rec({ serial: '008123EDCC', name: '', profile: 'external', pem, status: 'revoked', revokedAt: new Date().toISOString(), revocationReason: 'keyCompromise' }));
  store.insertCert(rec({ name: 'bob' }));
  store.setMeta('crlNumber', '4');
  store.setMeta('crl.publishedNumber', '4');
  store.close();
  const raw = new DatabaseSync(join(dir, 'certgate.db'));
  raw.exec('PRAGMA user_version = 1');
  raw.close();

  const repaired = CaStore.open(dir);
  try {
    assert.equal(repaired.getBySerial('008123EDCC'), undefined);
    const fixed = repaired.getBySerial('-7EDC1234');
    assert.equal(fixed?.status, 'revoked');
    assert.equal(fixed?.revocationReason, 'keyCompromise');
    assert.equal(repaired.findByName('bob').length, 1, 'other records untouched');
    // a CRL number taken and none published: the CRL listing the wrong serial is owed and gets republished
    assert.deepEqual([repaired.getMeta('crlNumber'), repaired.getMeta('crl.publishedNumber')], ['5', '4']);
    assert.deepEqual(repaired.auditLog().filter((e) => e.operation === 'store.repair-serial').map((e) => e.detail), [{ from: '008123EDCC', to: '-7EDC1234' }]);
  } finally {
    repaired.close();
  }
  const again = CaStore.open(dir);
  try {
    assert.equal(again.getMeta('crlNumber'), '5', 'the repair runs once');
    assert.equal(again.auditLog().filter((e) => e.operation === 'store.repair-serial').length, 1);
  } finally {
    again.close();
  }
});
