// The mapping from upstream failures to reason codes and log/metric kinds, as a table; a TLS alert kept as `cause`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reasonForUpstreamError, upstreamTlsReason, CLOSED_AFTER_HANDSHAKE, BAD_RESPONSE } from '../../../src/gateway/upstream/upstream-errors.ts';
import { REASONS } from '../../../src/gateway/policy/reasons.ts';

const err = (code: string, cause?: unknown) => Object.assign(new Error(code), { code, cause });

test('upstream failures map to a reason and a kind', () => {
  const rows: Array<[Error, string, string]> = [
    [err('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'upstream_cert_untrusted', 'upstream_cert_untrusted'],
    [err('SELF_SIGNED_CERT_IN_CHAIN'), 'upstream_cert_untrusted', 'upstream_cert_untrusted'],
    [err('DEPTH_ZERO_SELF_SIGNED_CERT'), 'upstream_cert_untrusted', 'upstream_cert_untrusted'],
    [err('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), 'upstream_cert_untrusted', 'upstream_cert_untrusted'],
    [err('CERT_REVOKED'), 'upstream_cert_untrusted', 'upstream_cert_untrusted'],
    [err('INVALID_PURPOSE'), 'upstream_cert_untrusted', 'upstream_cert_untrusted'],
    [err('ERR_TLS_CERT_ALTNAME_INVALID'), 'upstream_name_mismatch', 'upstream_name_mismatch'],
    [err('CERT_HAS_EXPIRED'), 'upstream_cert_expired', 'upstream_cert_expired'],
    [err('CERT_NOT_YET_VALID'), 'upstream_cert_expired', 'upstream_cert_expired'],
    [err('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), 'upstream_refused_our_cert', 'upstream_refused_our_cert'],
    [err('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE'), 'upstream_refused_our_cert', 'upstream_refused_our_cert'],
    [err('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'), 'upstream_refused_our_cert', 'upstream_refused_our_cert'],
    [err('ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED'), 'upstream_refused_our_cert', 'upstream_refused_our_cert'],
    [err('ERR_SSL_WRONG_VERSION_NUMBER'), 'upstream_tls_protocol', 'upstream_tls_protocol'],
    [err('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION'), 'upstream_tls_protocol', 'upstream_tls_protocol'],
    [err('ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE'), 'upstream_tls_protocol', 'upstream_tls_protocol'],
    // the alert came first, the socket error that reached the request carries it
    [err('UND_ERR_SOCKET', err('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED')), 'upstream_refused_our_cert', 'upstream_refused_our_cert'],
    [err('ECONNRESET', err('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA')), 'upstream_refused_our_cert', 'upstream_refused_our_cert'],
    [err('UND_ERR_SOCKET', err(CLOSED_AFTER_HANDSHAKE)), 'upstream_refused_our_cert', 'upstream_refused_our_cert'],
    // TCP level
    [err('ECONNREFUSED'), 'upstream_unreachable', 'unreachable'],
    [err('ECONNRESET'), 'upstream_unreachable', 'unreachable'],
    [err('ENOTFOUND'), 'upstream_unreachable', 'unreachable'],
    [err('UND_ERR_CONNECT_TIMEOUT'), 'upstream_unreachable', 'connect_timeout'],
    [err('UND_ERR_HEADERS_TIMEOUT'), 'upstream_timeout', 'timeout'],
    [err('UND_ERR_SOCKET'), 'upstream_error', 'und_err_socket'],
    [err(BAD_RESPONSE), 'upstream_error', 'bad_response'],
    [err('CG_UPSTREAM_BUSY'), 'upstream_busy', 'busy'],
    [new Error('no code'), 'upstream_error', 'error'],
  ];
  for (const [e, reason, kind] of rows) {
    assert.deepEqual(reasonForUpstreamError(e), { reason, kind }, `${(e as { code?: string }).code} cause ${String((e.cause as { code?: string } | undefined)?.code)}`);
    assert.ok(Object.hasOwn(REASONS, reason), reason);
  }
});

test('codes that are not TLS failures are not mapped', () => {
  for (const code of ['ECONNREFUSED', 'UND_ERR_SOCKET', '', 'constructor', 'toString']) assert.equal(upstreamTlsReason(code), undefined, code);
});
