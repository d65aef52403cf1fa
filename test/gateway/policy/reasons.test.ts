// Reason codes: statuses, texts and the mapping from Node's TLS verify errors, including a real no-cert handshake.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { REASONS, CERT_REASONS, isReasonCode, reasonFromTlsError } from '../../../src/gateway/policy/reasons.ts';

test('every reason has an HTTP error status and a plain, secret-free text', () => {
  for (const [code, r] of Object.entries(REASONS)) {
    assert.match(code, /^[a-z_]+$/);
    assert.ok(r.status >= 400 && r.status < 600, code);
    assert.ok(r.text.length > 10 && r.text.length < 200, code);
    assert.doesNotMatch(r.text, /[<>{}]/, `${code} text must be safe to drop into HTML`);
  }
});

test('statuses named by the contract', () => {
  const expected: Record<string, number> = {
    no_certificate: 403, expired: 403, not_yet_valid: 403, revoked: 403, unknown_ca: 403, bad_purpose: 403,
    chain_too_deep: 403, invalid_certificate: 403, crl_stale: 403, not_allowed: 403, unknown_host: 403,
    misdirected: 421, no_route: 404, bad_path: 400, bad_request: 400, headers_too_large: 431,
    upstream_unreachable: 502, upstream_timeout: 504,
  };
  for (const [code, status] of Object.entries(expected)) {
    assert.ok(isReasonCode(code), code);
    assert.equal(REASONS[code as keyof typeof REASONS].status, status, code);
  }
  assert.equal(isReasonCode('toString'), false);
  for (const c of CERT_REASONS) assert.equal(REASONS[c].status, 403);
});

test('reasonFromTlsError maps OpenSSL verify errors', () => {
  const rows: Array<[string | null, string]> = [
    ['CERT_HAS_EXPIRED', 'expired'],
    ['CERT_NOT_YET_VALID', 'not_yet_valid'],
    ['CERT_REVOKED', 'revoked'],
    ['UNABLE_TO_GET_ISSUER_CERT', 'unknown_ca'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown_ca'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unknown_ca'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'unknown_ca'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'unknown_ca'],
    ['CERT_CHAIN_TOO_LONG', 'chain_too_deep'],
    ['INVALID_PURPOSE', 'bad_purpose'],
    ['CERT_SIGNATURE_FAILURE', 'invalid_certificate'],
    ['CRL_HAS_EXPIRED', 'crl_stale'],
    ['UNABLE_TO_GET_CRL', 'crl_unavailable'],
    ['X509_V_ERR_CERT_HAS_EXPIRED', 'expired'],
    ['SOMETHING_NEW', 'invalid_certificate'],
    ['constructor', 'invalid_certificate'],
    [null, 'no_certificate'],
  ];
  for (const [input, expected] of rows) assert.equal(reasonFromTlsError(input), expected, String(input));
});

test('a missing peer certificate wins over the error Node reports for it', () => {
  assert.equal(reasonFromTlsError('UNABLE_TO_GET_ISSUER_CERT', false), 'no_certificate');
});

test('docs/gateway-decisions.md lists every reason code with its status and text', () => {
  const doc = readFileSync(new URL('../../../docs/gateway-decisions.md', import.meta.url), 'utf8');
  for (const [code, r] of Object.entries(REASONS)) {
    assert.ok(doc.includes(`| \`${code}\` | ${r.status} | ${r.text} |`), `${code} row missing or stale in docs/gateway-decisions.md`);
  }
});
