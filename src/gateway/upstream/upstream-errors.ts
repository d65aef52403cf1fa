// What an upstream failure means for the client: the reason code of the error page plus the `kind` that logs and
// `certgate_upstream_errors_total` carry. TLS failures towards the upstream are told apart (whose certificate, which
// check), and a TLS alert that arrives after the handshake is kept with the socket error it turns into.
import type { Socket } from 'node:net';
import type { ReasonCode } from '../policy/reasons.ts';

/** Code of the error raised for an upstream response the gateway will not relay (kind `bad_response`). */
export const BAD_RESPONSE = 'ERR_CG_UPSTREAM_BAD_RESPONSE';

/** Code of the cause set when the upstream closed a verified TLS connection before sending a byte. */
export const CLOSED_AFTER_HANDSHAKE = 'CG_UPSTREAM_CLOSED_AFTER_HANDSHAKE';

/** The reason codes of a TLS failure towards the upstream; each is also its `kind`. */
export type UpstreamTlsReason = 'upstream_cert_untrusted' | 'upstream_name_mismatch' | 'upstream_cert_expired' |
  'upstream_refused_our_cert' | 'upstream_tls_protocol';

// Our verification of the upstream's certificate (OpenSSL verify names, as Node sets them as `err.code`).
const VERIFY: Record<string, UpstreamTlsReason> = {
  ERR_TLS_CERT_ALTNAME_INVALID: 'upstream_name_mismatch',
  CERT_HAS_EXPIRED: 'upstream_cert_expired',
  CERT_NOT_YET_VALID: 'upstream_cert_expired',
};

// Alerts the upstream sent about the certificate we presented (or did not present). TLS 1.3 servers send them after
// the client's handshake is done, so they surface while the first request is read. `handshake_failure` (40) is not
// here: TLS 1.2 servers send it for a missing certificate but also for no shared cipher, so it stays a protocol error.
const REFUSED_OUR_CERT = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
  'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
]);

/** Maps a TLS error code to its reason, or undefined when `code` is not a TLS failure. Pure; table-tested. */
export function upstreamTlsReason(code: string): UpstreamTlsReason | undefined {
  if (Object.hasOwn(VERIFY, code)) return VERIFY[code];
  if (REFUSED_OUR_CERT.has(code) || code === CLOSED_AFTER_HANDSHAKE) return 'upstream_refused_our_cert';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return 'upstream_tls_protocol';
  // any other OpenSSL verify error: the upstream's chain did not verify against tls.ca
  if (code.startsWith('CERT_') || code.includes('SELF_SIGNED') || code.startsWith('UNABLE_TO_') ||
      code === 'INVALID_CA' || code === 'INVALID_PURPOSE' || code === 'PATH_LENGTH_EXCEEDED') return 'upstream_cert_untrusted';
  return undefined;
}

const TCP_UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNRESET']);

function codeOf(err: unknown): string {
  return (err as { code?: unknown } | null)?.code as string ?? '';
}

/** What an upstream error means for the client: 504 for a read timeout, 502 for everything else. */
export function reasonForUpstreamError(err: unknown): { reason: ReasonCode; kind: string } {
  // a TLS alert that came before the socket error it caused (see tagTlsAlerts) decides
  const cause = (err as { cause?: unknown } | null)?.cause;
  const tls = upstreamTlsReason(codeOf(err)) ?? (cause !== undefined ? upstreamTlsReason(codeOf(cause)) : undefined);
  if (tls !== undefined) return { reason: tls, kind: tls };
  const code = codeOf(err);
  if (code === BAD_RESPONSE) return { reason: 'upstream_error', kind: 'bad_response' };
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { reason: 'upstream_timeout', kind: 'timeout' };
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { reason: 'upstream_unreachable', kind: 'connect_timeout' };
  if (TCP_UNREACHABLE.has(code)) return { reason: 'upstream_unreachable', kind: 'unreachable' };
  if (code === 'CG_UPSTREAM_BUSY') return { reason: 'upstream_busy', kind: 'busy' };
  if (code === 'CG_BODY_TOO_LARGE') return { reason: 'body_too_large', kind: 'body_too_large' };
  return { reason: 'upstream_error', kind: code ? code.toLowerCase() : 'error' };
}

/** What tagTlsAlerts saw on one upstream socket. */
export interface TlsAlertTag {
  /** The TLS alert received (or the close right after the handshake), if any. */
  alert(): Error | undefined;
}

/**
 * Keeps a TLS alert with the socket error that follows it. When a TLS 1.3 upstream refuses our certificate, the alert
 * arrives after the handshake as a socket error and the connection then ends; undici reports the end ("other side
 * closed"), not the alert. This listener, added before undici's, sets the alert as `cause` of every later error on the
 * socket (errors are objects shared by all listeners), so reasonForUpstreamError still sees it. Node's own https
 * servers refuse a certificate they cannot verify without any alert: they close the connection once the handshake is
 * done. A verified connection that ends before a single byte came back is taken as that refusal too.
 * `secured`: the handshake is already done (sockets handed over by undici's connector). Nothing to clear: the state
 * lives in the socket's listeners and goes with it.
 */
export function tagTlsAlerts(socket: Socket, secured = false): TlsAlertTag {
  let alert: Error | undefined;
  let handshakeDone = secured;
  if (!secured) socket.once('secureConnect', () => (handshakeDone = true));
  socket.once('end', () => {
    if (alert === undefined && handshakeDone && socket.bytesRead === 0) {
      alert = Object.assign(new Error('the upstream closed the connection right after the TLS handshake, before answering'), { code: CLOSED_AFTER_HANDSHAKE });
    }
  });
  socket.on('error', (err: Error & { cause?: unknown }) => {
    if (alert === undefined) {
      if (upstreamTlsReason(codeOf(err)) !== undefined) alert = err;
    } else if (err !== alert && err.cause === undefined) {
      err.cause = alert;
    }
  });
  return { alert: () => alert };
}
