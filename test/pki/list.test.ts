// list: filter parsing (tables), --expiring selection, SERIAL|NAME resolution rules, on a real SQLite store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaStore } from '../../src/pki/store.ts';
import type { CertRecord } from '../../src/pki/store.ts';
import {
  parseListFilter, listCertificates, displayStatus, toListEntry, resolveCert, resolveForRevoke, formatListTable, LIST_ENTRY_KEYS,
} from '../../src/pki/list.ts';

const DAY = 86_400_000;
const NOW = new Date('2031-06-01T12:00:00Z');

let counter = 0x1000;
function rec(name: string, daysLeft: number, extra: Partial<CertRecord> = {}): CertRecord {
  counter++;
  return {
    serial: `4A${counter.toString(16).toUpperCase()}`,
    name,
    subject: `CN=${name}`,
    sans: [],
    profile: 'client',
    notBefore: new Date(NOW.getTime() - 100 * DAY).toISOString(),
    notAfter: new Date(NOW.getTime() + daysLeft * DAY).toISOString(),
    status: 'valid',
    revokedAt: null,
    revocationReason: null,
    fingerprint: counter.toString(16).padStart(64, '0'),
    pem: null,
    keyPath: null,
    issuedAt: new Date(NOW.getTime() - 100 * DAY + counter * 1000).toISOString(),
    ...extra,
  };
}

function openStore(t: { after: (fn: () => void) => void }): CaStore {
  const dir = mkdtempSync(join(tmpdir(), 'cg-list-'));
  const store = CaStore.open(dir);
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

test('parseListFilter accepts the documented flags and names the bad one', () => {
  assert.deepEqual(parseListFilter({}, NOW), { now: NOW });
  assert.deepEqual(parseListFilter({ status: 'Revoked' }, NOW), { now: NOW, status: 'revoked' });
  assert.deepEqual(parseListFilter({ expiring: '30d' }, NOW), { now: NOW, expiringWithinMs: 30 * DAY });
  assert.deepEqual(parseListFilter({ expiring: '12h', status: 'valid' }, NOW), { now: NOW, status: 'valid', expiringWithinMs: 12 * 3_600_000 });
  const bad: [object, RegExp][] = [[{ status: 'active' }, /--status/], [{ expiring: '30' }, /--expiring/], [{ expiring: 'soon' }, /--expiring/],
    [{ expiring: '0d' }, /--expiring/], [{ expiring: '30d', status: 'revoked' }, /--expiring/], [{ expiring: '30d', status: 'expired' }, /--expiring/]];
  for (const [opts, msg] of bad) assert.throws(() => parseListFilter(opts, NOW), { code: 'CG_USAGE', message: msg }, JSON.stringify(opts));
});

test('displayStatus: revoked wins, then expired by notAfter', () => {
  const rows: [CertRecord['status'], number, string][] = [['valid', 5, 'valid'], ['valid', -1, 'expired'], ['revoked', 5, 'revoked'], ['revoked', -5, 'revoked']];
  for (const [status, days, expected] of rows) {
    assert.equal(displayStatus({ status, notAfter: new Date(NOW.getTime() + days * DAY).toISOString() }, NOW), expected);
  }
});

test('--expiring 30d finds exactly the still-valid certs expiring within 30 days, soonest first', (t) => {
  const store = openStore(t);
  const soon = [rec('soon-10', 10), rec('soon-2', 2), rec('edge-29', 29.9)];
  const later = [rec('later-90', 90), rec('later-31', 31)];
  const gone = [rec('expired', -1), rec('revoked-5', 5, { status: 'revoked', revokedAt: NOW.toISOString(), revocationReason: 'superseded' })];
  for (const r of [...soon, ...later, ...gone]) store.insertCert(r);
  const found = listCertificates(store, parseListFilter({ expiring: '30d' }, NOW));
  assert.deepEqual(found.map((r) => r.name), ['soon-2', 'soon-10', 'edge-29']);
  assert.deepEqual(listCertificates(store, parseListFilter({ status: 'expired' }, NOW)).map((r) => r.name), ['expired']);
  assert.deepEqual(listCertificates(store, parseListFilter({ status: 'revoked' }, NOW)).map((r) => r.name), ['revoked-5']);
  assert.equal(listCertificates(store, parseListFilter({ status: 'valid' }, NOW)).length, 5);
  assert.equal(listCertificates(store, parseListFilter({}, NOW)).length, 7);
});

test('cert list JSON entry keys are pinned', () => {
  assert.deepEqual([...LIST_ENTRY_KEYS], ['serial', 'name', 'profile', 'subject', 'sans', 'notBefore', 'notAfter', 'status', 'revokedAt',
    'revocationReason', 'fingerprint', 'keyPath', 'issuedAt']);
  const entry = toListEntry({ ...rec('x', -3), pem: '-----BEGIN CERTIFICATE-----…' }, NOW);
  assert.deepEqual(Object.keys(entry), [...LIST_ENTRY_KEYS]);
  assert.equal(entry.status, 'expired');
  assert.ok(!('pem' in entry), 'the list stays small: no PEM bodies');
});

test('resolveCert: serial in any spelling, a unique name, ambiguity and absence', (t) => {
  const store = openStore(t);
  const a = rec('alice', 100);
  const b1 = rec('bob', 50);
  const b2 = rec('bob', 300);
  for (const r of [a, b1, b2]) store.insertCert(r);
  assert.equal(resolveCert(store, a.serial, NOW).name, 'alice');
  assert.equal(resolveCert(store, a.serial.toLowerCase().replace(/(..)(?!$)/g, '$1:'), NOW).serial, a.serial);
  assert.equal(resolveCert(store, 'alice', NOW).serial, a.serial);
  assert.throws(() => resolveCert(store, 'bob', NOW), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'CG_PKI_AMBIGUOUS');
    assert.ok(err.message.includes(b1.serial) && err.message.includes(b2.serial));
    return true;
  });
  assert.throws(() => resolveCert(store, 'carol', NOW), { code: 'CG_PKI_SERIAL_NOT_FOUND' });
  assert.throws(() => resolveCert(store, 'ABCDEF', NOW), { code: 'CG_PKI_SERIAL_NOT_FOUND' });
});

test('resolveForRevoke prefers the one unrevoked, unexpired cert of a name', (t) => {
  const store = openStore(t);
  const renewedOld = rec('carol', -2);
  const renewedNew = rec('carol', 200);
  const twiceA = rec('dave', 100);
  const twiceB = rec('dave', 200);
  const done = rec('erin', 100, { status: 'revoked', revokedAt: NOW.toISOString(), revocationReason: 'keyCompromise' });
  const afterRevoke = [rec('frank', 100, { status: 'revoked', revokedAt: NOW.toISOString(), revocationReason: 'superseded' }), rec('frank', 300)];
  for (const r of [renewedOld, renewedNew, twiceA, twiceB, done, ...afterRevoke]) store.insertCert(r);
  assert.equal(resolveForRevoke(store, 'carol', NOW)?.serial, renewedNew.serial);
  assert.throws(() => resolveForRevoke(store, 'dave', NOW), { code: 'CG_PKI_AMBIGUOUS' });
  assert.throws(() => resolveForRevoke(store, 'erin', NOW), { code: 'CG_PKI_ALREADY_REVOKED' });
  assert.equal(resolveForRevoke(store, 'frank', NOW)?.serial, afterRevoke[1].serial);
  assert.equal(resolveForRevoke(store, done.serial, NOW)?.serial, done.serial, 'by serial: the caller reports already-revoked');
  assert.equal(resolveForRevoke(store, 'nobody', NOW), undefined);
});

test('formatListTable aligns columns and says when nothing matches', () => {
  assert.equal(formatListTable([], NOW), 'no certificates match');
  const text = formatListTable([rec('alice', 10), rec('a-much-longer-name', -1)], NOW);
  const lines = text.split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^SERIAL\s+NAME\s+PROFILE\s+STATUS\s+NOT AFTER\s+SUBJECT$/);
  assert.equal(lines[1].indexOf('client'), lines[2].indexOf('client'));
  assert.match(lines[2], /expired/);
});
