// The pure diagnosis rules as tables: the most likely reason for a refusal, and the level of each check per situation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTarget } from '../../src/doctor/target.ts';
import { refusalReason, diagnose } from '../../src/doctor/diagnose.ts';
import type { DiagnoseInput } from '../../src/doctor/diagnose.ts';
import type { CertFacts } from '../../src/doctor/certs.ts';
import type { ProbeFacts, TlsFailure } from '../../src/doctor/probe.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
function cert(o: Partial<CertFacts> = {}): CertFacts {
  return {
    subject: 'CN=alice', issuer: 'CN=Root', sans: [], notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2027-01-01T00:00:00.000Z',
    serialNumber: '01', fingerprint256: 'AA', eku: ['1.3.6.1.5.5.7.3.2'], ca: false, issuerDer: 'aa', ...o,
  };
}
function facts(o: Partial<ProbeFacts> = {}): ProbeFacts {
  return {
    connectError: null, handshakeError: null, laterError: null, sentCertificate: true,
    handshake: { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', alpn: 'http/1.1', serverChain: [cert({ subject: 'CN=srv', eku: null })], verified: true, verifyError: null, nameError: null, ocsp: 'none' },
    tls12: { outcome: 'asked', caNames: [Buffer.from('aa', 'hex')] },
    http: { outcome: 'answered', status: 200, server: null, certgateReason: null, certgateMessage: null, nginxRefusal: null },
    ...o,
  };
}
function input(o: { chain?: CertFacts[]; facts?: ProbeFacts } = {}): DiagnoseInput {
  return { target: parseTarget('https://127.0.0.1:1/'), facts: o.facts ?? facts(), clientChain: o.chain ?? [cert()], caLabel: '--ca x', now: NOW };
}
const alert = (name: string): TlsFailure => ({ code: `ERR_SSL_X_ALERT_${name.toUpperCase()}`, message: '', alert: name });

test('the most likely reason for a refusal, in priority order', () => {
  const other = [Buffer.from('bb', 'hex')];
  const cases: Array<{ name: string; chain: CertFacts[]; failure: TlsFailure | null; certgate: string | null; expected: RegExp; tls12?: Buffer[] }> = [
    { name: 'revoked alert', chain: [cert()], failure: alert('certificate_revoked'), certgate: null, expected: /revoked/ },
    { name: 'certgate revoked', chain: [cert()], failure: null, certgate: 'revoked', expected: /revoked/ },
    { name: 'nothing sent', chain: [], failure: alert('certificate_required'), certgate: null, expected: /no client certificate was sent/ },
    { name: 'expired locally', chain: [cert({ notAfter: '2026-05-01T00:00:00.000Z' })], failure: alert('bad_certificate'), certgate: null, expected: /expired/ },
    { name: 'expired alert', chain: [cert()], failure: alert('certificate_expired'), certgate: null, expected: /expired/ },
    { name: 'no clientAuth', chain: [cert({ eku: ['1.3.6.1.5.5.7.3.1'] })], failure: null, certgate: null, expected: /clientAuth/ },
    { name: 'issuer not listed', chain: [cert()], failure: null, certgate: null, expected: /CN=Root, a CA the server does not trust/, tls12: other },
    { name: 'unknown_ca alert', chain: [cert()], failure: alert('unknown_ca'), certgate: null, expected: /does not trust/ },
    { name: 'decrypt_error', chain: [cert()], failure: alert('decrypt_error'), certgate: null, expected: /key may not match/ },
    { name: 'silent', chain: [cert()], failure: alert('handshake_failure'), certgate: null, expected: /did not say why/ },
  ];
  for (const c of cases) {
    const f = facts(c.tls12 ? { tls12: { outcome: 'asked', caNames: c.tls12 } } : {});
    assert.match(refusalReason(input({ chain: c.chain, facts: f }), c.failure, c.certgate).why, c.expected, c.name);
  }
});

test('diagnose: levels per situation, ten checks in a fixed order', () => {
  const level = (i: DiagnoseInput, id: string) => diagnose(i).find((c) => c.id === id)?.level;
  assert.deepEqual(diagnose(input()).map((c) => c.level), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  assert.equal(level(input({ facts: facts({ http: { outcome: 'answered', status: 404, server: null, certgateReason: null, certgateMessage: null, nginxRefusal: null } }) }), 'http'), 'warn');
  assert.equal(level(input({ facts: facts({ http: { outcome: 'answered', status: 502, server: null, certgateReason: 'upstream_unreachable', certgateMessage: 'x' } as never }) }), 'http'), 'fail');
  assert.equal(level(input({ facts: facts({ tls12: { outcome: 'not_asked' } }) }), 'client-auth'), 'warn');
  assert.equal(level(input({ facts: facts({ tls12: { outcome: 'tls12_refused', alert: 70 } }) }), 'cert-request'), 'skip');
  assert.equal(level(input({ chain: [cert({ notAfter: '2026-06-05T00:00:00.000Z' })] }), 'client-cert'), 'warn');
  const oldCa = cert({ subject: 'CN=Old Intermediate', ca: true, eku: null, notAfter: '2026-05-01T00:00:00.000Z' });
  const chainCheck = diagnose(input({ chain: [cert(), oldCa] })).find((c) => c.id === 'client-cert');
  assert.equal(chainCheck?.level, 'fail');
  assert.match(chainCheck?.summary ?? '', /CN=Old Intermediate in your chain is outside its dates/);
  const early = diagnose(input({ facts: facts({ handshake: null, handshakeError: alert('protocol_version') }) }));
  assert.deepEqual(early.map((c) => [c.id, c.level]).filter(([, l]) => l !== 'skip'), [['connect', 'ok'], ['tls', 'fail'], ['cert-request', 'ok'], ['client-cert', 'ok']]);
});
