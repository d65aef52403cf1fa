// `certgate explain`, HTTP and TCP alike: which verify failures end the handshake, and the certificate as the JSON
// shape shows it.
import type { X509Certificate } from 'node:crypto';
import { identityFromCertificate } from './identity/identity.ts';
import { REASONS } from './policy/reasons.ts';
import type { ReasonCode } from './policy/reasons.ts';
import type { OfflineVerification } from './tls/verify-offline.ts';
import type { Explanation } from './explain.ts';

/** Verify failures the TLS layer itself rejects in `require` mode (revocation and depth are checked afterwards). */
export const HANDSHAKE_REASONS: ReadonlySet<ReasonCode> = new Set<ReasonCode>(['no_certificate', 'expired', 'not_yet_valid', 'unknown_ca', 'bad_purpose', 'invalid_certificate']);

/**
 * The `certificate` part of an explanation: `reason` is the verdict (null: verified); the detail is the offline
 * verification's own words when it found that very reason; `chain` defaults to the one it built.
 */
export function describeCertificate(
  file: string, leaf: X509Certificate, reason: ReasonCode | null, offline: OfflineVerification | null, chain?: X509Certificate[],
): NonNullable<Explanation['certificate']> {
  const presented = identityFromCertificate(leaf);
  const detail = reason === null ? null : offline && !offline.ok && offline.reason === reason ? offline.detail : REASONS[reason].text;
  return {
    file,
    subject: presented.subject,
    issuer: presented.issuer,
    serial: presented.serial,
    fingerprint: presented.fingerprint,
    notBefore: presented.notBefore.toISOString(),
    notAfter: presented.notAfter.toISOString(),
    sans: presented.sans,
    verified: reason === null,
    reason,
    detail,
    chain: (chain && chain.length > 0 ? chain : offline?.chain ?? [leaf]).map((c) => identityFromCertificate(c).subject),
  };
}
