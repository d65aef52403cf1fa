// caStatus: the CA, its CRL and its certificates judged at chosen moments, and the CRL window capped at half its life.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { caStatus, crlWindowMs } from '../../src/pki/ca-status.ts';
import type { CaStatus } from '../../src/pki/ca-status.ts';
import { parseCrl } from '../../src/pki/crl.ts';
import { revokeCertificate } from '../../src/pki/revoke.ts';
import { CaStore } from '../../src/pki/store.ts';
import { issueCert, makeCa } from '../helpers/pki.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

test('crlWindowMs: the alert window, but never more than half the CRL lifetime', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const rows: [number, number, number][] = [
    // [CRL lifetime, window, expected]
    [7 * DAY, 30 * DAY, 3.5 * DAY],
    [7 * DAY, 1 * DAY, 1 * DAY],
    [1 * DAY, 30 * DAY, 12 * HOUR],
    [30 * DAY, 7 * DAY, 7 * DAY],
  ];
  for (const [life, window, expected] of rows) {
    assert.equal(crlWindowMs(t0, new Date(t0.getTime() + life), window), expected, `${life / HOUR}h CRL, ${window / HOUR}h window`);
  }
});

test('caStatus: states and counts as time passes, and what needs attention', async (t) => {
  const tca = await makeCa(t, { passphrase: null, days: 365 });
  const now = Date.now();
  await issueCert(tca, 'short', { days: 10 });
  await issueCert(tca, 'long', { days: 90 });
  await issueCert(tca, 'gone', { validity: { notBefore: new Date(now - 20 * DAY), notAfter: new Date(now - DAY) } });
  await issueCert(tca, 'rev', { days: 90 });
  const store = CaStore.open(tca.dir);
  try {
    await revokeCertificate(tca.ca, store, { ref: 'rev', reason: 'superseded', cwd: tca.dir });
  } finally {
    store.close();
  }
  const crl = parseCrl(readFileSync(join(tca.dir, 'crl.pem'), 'utf8'));
  const at = (days: number, window = '30d', windowMs = 30 * DAY): CaStatus =>
    caStatus(tca.dir, { window, windowMs, now: new Date(now + days * DAY) });

  const today = at(0);
  assert.equal(today.ca.state, 'valid');
  assert.equal(today.ca.subject, 'CN=Test Root CA');
  assert.deepEqual(today.crl && { n: today.crl.crlNumber, next: today.crl.nextUpdate, entries: today.crl.entries, state: today.crl.state },
    { n: Number(crl.crlNumber), next: crl.nextUpdate!.toISOString(), entries: 1, state: 'valid' });
  assert.deepEqual(today.certificates, { valid: 2, expiring: 1, revoked: 1, expired: 1 });
  assert.equal(today.attention.length, 1);
  assert.match(today.attention[0], /^1 certificate expires within 30d: short \(/);

  // [days later, CA, CRL, counts, attention patterns]; the CRL is 7 days long, renewed never
  const rows: [number, string, string, CaStatus['certificates'], RegExp[]][] = [
    [3, 'valid', 'valid', { valid: 2, expiring: 1, revoked: 1, expired: 1 }, [/short/]],
    [4, 'valid', 'expiring', { valid: 2, expiring: 1, revoked: 1, expired: 1 }, [/CRL expires at .* has not been renewed/, /short/]],
    [8, 'valid', 'expired', { valid: 2, expiring: 1, revoked: 1, expired: 1 }, [/CRL expired at .* refuse every client/, /short/]],
    [11, 'valid', 'expired', { valid: 1, expiring: 0, revoked: 1, expired: 2 }, [/CRL expired/]],
    [340, 'expiring', 'expired', { valid: 0, expiring: 0, revoked: 1, expired: 3 }, [/CA certificate expires on .* within 30d/, /CRL expired/]],
    [400, 'expired', 'expired', { valid: 0, expiring: 0, revoked: 1, expired: 3 }, [/CA certificate expired on/, /CRL expired/]],
  ];
  for (const [days, caState, crlState, counts, patterns] of rows) {
    const s = at(days);
    assert.equal(s.ca.state, caState, `day ${days}`);
    assert.equal(s.crl?.state, crlState, `day ${days}`);
    assert.deepEqual(s.certificates, counts, `day ${days}`);
    assert.equal(s.attention.length, patterns.length, `day ${days}: ${s.attention.join(' | ')}`);
    patterns.forEach((p, i) => assert.match(s.attention[i], p, `day ${days}`));
  }

  // a narrower window: nothing due yet, the CRL judged by min(window, half its life)
  const narrow = at(0, '5d', 5 * DAY);
  assert.deepEqual(narrow.attention, []);
  assert.equal(narrow.certificates.expiring, 0);
  assert.equal(narrow.window, '5d');

  // no crl.pem at all
  rmSync(join(tca.dir, 'crl.pem'));
  const missing = at(0);
  assert.equal(missing.crl, null);
  assert.match(missing.attention[0], /crl\.pem is missing/);
});

test('caStatus: a directory without a CA is CG_PKI_NO_CA', async (t) => {
  const tca = await makeCa(t, { passphrase: null });
  assert.throws(() => caStatus(join(tca.dir, 'nope'), { window: '30d', windowMs: 30 * DAY }), { code: 'CG_PKI_NO_CA' });
});
