// The stable reason codes of every answer the gateway gives itself: HTTP status plus plain words for the person.

/**
 * Reason codes are part of the contract: they appear in refusal pages (`{{reason}}`), in
 * `X-Client-Verify: FAILED:<reason>`, in access logs and in `certgate explain --json`.
 * Texts tell a browser user what to fix; they never contain secrets or request data.
 */
export const REASONS = {
  // --- the client certificate
  no_certificate: {
    status: 403,
    text: 'No client certificate was sent. Install the certificate you were given in your browser or system and try again.',
  },
  expired: {
    status: 403,
    text: 'Your client certificate has expired. Ask your administrator for a new one.',
  },
  not_yet_valid: {
    status: 403,
    text: 'Your client certificate is not valid yet. Check your device clock, or wait until it becomes valid.',
  },
  revoked: {
    status: 403,
    text: 'Your client certificate has been revoked. Ask your administrator for a new one.',
  },
  unknown_ca: {
    status: 403,
    text: 'Your client certificate was issued by an authority this site does not trust. Use the certificate issued for this site.',
  },
  bad_purpose: {
    status: 403,
    text: 'Your certificate is not meant for client authentication. Use a client certificate.',
  },
  chain_too_deep: {
    status: 403,
    text: 'Your certificate chain is longer than this site accepts. Ask your administrator for a certificate from a closer authority.',
  },
  invalid_certificate: {
    status: 403,
    text: 'Your client certificate could not be verified. Ask your administrator for a new one.',
  },
  crl_stale: {
    status: 403,
    text: 'The site cannot check certificates right now because its revocation list is out of date. Tell the site administrator.',
  },
  crl_unavailable: {
    status: 403,
    text: 'The site cannot check certificates right now because a revocation list is missing or broken. Tell the site administrator.',
  },
  // --- authorization
  not_allowed: {
    status: 403,
    text: 'Your certificate is valid but not allowed on this page. Ask your administrator for access.',
  },
  websocket_refused: {
    status: 403,
    text: 'This page does not accept WebSocket connections.',
  },
  // --- routing and the request itself
  unknown_host: {
    status: 403,
    text: 'This server does not serve that site name. Check the address.',
  },
  misdirected: {
    status: 421,
    text: 'This connection was opened for a different site. Reload the page.',
  },
  no_route: {
    status: 404,
    text: 'Nothing is served at this address. Check the address.',
  },
  bad_path: {
    status: 400,
    text: 'The address contains characters or segments that are not accepted. Check the address.',
  },
  bad_request: {
    status: 400,
    text: 'The request was malformed.',
  },
  request_timeout: {
    status: 408,
    text: 'The request took too long to arrive. Try again.',
  },
  headers_too_large: {
    status: 431,
    text: 'The request headers are too large. Clearing the cookies of this site may help.',
  },
  body_too_large: {
    status: 413,
    text: 'The request body is larger than this page accepts.',
  },
  // --- the upstream application
  upstream_unreachable: {
    status: 502,
    text: 'The application behind this gateway is not reachable right now. Try again later.',
  },
  upstream_cert_untrusted: {
    status: 502,
    text: 'The application behind this gateway presented a certificate the gateway does not trust. Tell the site administrator.',
  },
  upstream_name_mismatch: {
    status: 502,
    text: 'The application behind this gateway presented a certificate for a different name. Tell the site administrator.',
  },
  upstream_cert_expired: {
    status: 502,
    text: 'The application behind this gateway presented a certificate that has expired or is not valid yet. Tell the site administrator.',
  },
  upstream_refused_our_cert: {
    status: 502,
    text: 'The application behind this gateway did not accept the gateway\'s own certificate. Tell the site administrator.',
  },
  upstream_tls_protocol: {
    status: 502,
    text: 'The gateway and the application behind it could not agree on a secure connection. Tell the site administrator.',
  },
  upstream_error: {
    status: 502,
    text: 'The application behind this gateway sent an invalid answer. Try again later.',
  },
  upstream_busy: {
    status: 503,
    text: 'The application behind this gateway is busy right now. Try again in a moment.',
  },
  upstream_timeout: {
    status: 504,
    text: 'The application behind this gateway did not answer in time. Try again later.',
  },
  internal_error: {
    status: 500,
    text: 'The gateway hit an unexpected error. Try again later.',
  },
} as const satisfies Record<string, { status: number; text: string }>;

export type ReasonCode = keyof typeof REASONS;

/** True when `code` is one of the reason codes (for parsing logs or `--json` output). */
export function isReasonCode(code: string): code is ReasonCode {
  return Object.hasOwn(REASONS, code);
}

/** Reasons that describe the client certificate (used for `X-Client-Verify: FAILED:<reason>`). */
export const CERT_REASONS = [
  'no_certificate', 'expired', 'not_yet_valid', 'revoked', 'unknown_ca', 'bad_purpose', 'chain_too_deep',
  'invalid_certificate', 'crl_stale', 'crl_unavailable',
] as const satisfies readonly ReasonCode[];

// OpenSSL verify error names as Node reports them in `socket.authorizationError` (X509_V_ERR_* without the prefix).
const TLS_ERRORS: Record<string, ReasonCode> = {
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not_yet_valid',
  CERT_REVOKED: 'revoked',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown_ca',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown_ca',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown_ca',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown_ca',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown_ca',
  CERT_UNTRUSTED: 'unknown_ca',
  CERT_REJECTED: 'unknown_ca',
  CERT_CHAIN_TOO_LONG: 'chain_too_deep',
  PATH_LENGTH_EXCEEDED: 'chain_too_deep',
  INVALID_PURPOSE: 'bad_purpose',
  CRL_HAS_EXPIRED: 'crl_stale',
  UNABLE_TO_GET_CRL: 'crl_unavailable',
  UNABLE_TO_GET_CRL_ISSUER: 'crl_unavailable',
  CRL_NOT_YET_VALID: 'crl_unavailable',
  CRL_SIGNATURE_FAILURE: 'crl_unavailable',
  UNABLE_TO_DECRYPT_CRL_SIGNATURE: 'crl_unavailable',
  ERROR_IN_CRL_LAST_UPDATE_FIELD: 'crl_unavailable',
  ERROR_IN_CRL_NEXT_UPDATE_FIELD: 'crl_unavailable',
  KEYUSAGE_NO_CRL_SIGN: 'crl_unavailable',
  DIFFERENT_CRL_SCOPE: 'crl_unavailable',
  CERT_SIGNATURE_FAILURE: 'invalid_certificate',
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: 'invalid_certificate',
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 'invalid_certificate',
  ERROR_IN_CERT_NOT_BEFORE_FIELD: 'invalid_certificate',
  ERROR_IN_CERT_NOT_AFTER_FIELD: 'invalid_certificate',
  INVALID_CA: 'invalid_certificate',
  INVALID_EXTENSION: 'invalid_certificate',
  UNHANDLED_CRITICAL_EXTENSION: 'invalid_certificate',
};

/**
 * Maps Node's `socket.authorizationError` (an OpenSSL verify error name) to a reason code.
 * Beware: when the client sent no certificate at all, Node reports `UNABLE_TO_GET_ISSUER_CERT`, not null, so
 * callers pass `peerCertPresent` (false when `getPeerCertificate()` is empty) to get `no_certificate`.
 * `null` (no verify error recorded) also means `no_certificate`. Unknown names fail closed as `invalid_certificate`.
 */
export function reasonFromTlsError(code: string | null, peerCertPresent = true): ReasonCode {
  if (!peerCertPresent || code === null || code === '') return 'no_certificate';
  const name = code.startsWith('X509_V_ERR_') ? code.slice('X509_V_ERR_'.length) : code;
  return Object.hasOwn(TLS_ERRORS, name) ? TLS_ERRORS[name] : 'invalid_certificate';
}
