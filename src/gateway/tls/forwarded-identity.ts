// Chained gateways (`trustIdentityHeadersFrom`): the identity a trusted gateway in front vouches for in its X-Client-*
// headers, turned into the verdict authorization reads. Only ever called for a peer whose own certificate verified
// and matched the server's hop rules; from anyone else those headers are stripped unread.
import { X509Certificate } from 'node:crypto';
import { identityFromCertificate } from '../identity/identity.ts';
import type { ClientIdentity } from '../identity/identity.ts';
import { REASONS } from '../policy/reasons.ts';
import type { ReasonCode } from '../policy/reasons.ts';
import { toWireValue } from '../http/headers.ts';
import { identityHeaders } from './connection-identity.ts';
import type { RevocationSource, Verdict } from './connection-identity.ts';

/** The header that names the gateway that delivered the identity (its own certificate's subject). */
export const HOP_SUBJECT_HEADER = 'x-client-hop-subject';

const CACHE_MAX = 1_000;

function refused(reason: ReasonCode, verify: string, hop: readonly string[], presented: ClientIdentity | null = null): Verdict {
  return { identity: null, reason, presented, verify, headers: ['x-client-verify', verify, ...hop], validUntil: Infinity };
}

/**
 * The original client's verdict from the hop's headers (`sent`: lowercase name -> value). The hop's word is taken
 * for the chain (it verified it against its own CA bundle); what this gateway can check itself is checked again:
 * dates, the fingerprint matching the certificate, and revocation by the CRLs in force here.
 */
export function forwardedVerdict(
  sent: ReadonlyMap<string, string> | undefined, repeated: boolean, hop: ClientIdentity, trust: RevocationSource, now: number,
): Verdict {
  const hopHeaders = [HOP_SUBJECT_HEADER, toWireValue(hop.subject)];
  if (repeated) return refused('invalid_certificate', 'FAILED:invalid_certificate', hopHeaders);
  const verify = sent?.get('x-client-verify');
  if (verify === undefined || verify === 'NONE') return refused('no_certificate', 'NONE', hopHeaders);
  if (verify !== 'SUCCESS') {
    const code = verify.startsWith('FAILED:') ? verify.slice(7) : '';
    const reason = (Object.hasOwn(REASONS, code) ? code : 'invalid_certificate') as ReasonCode;
    return refused(reason, `FAILED:${reason}`, hopHeaders);
  }
  const pem = sent!.get('x-client-cert');
  if (pem === undefined) return refused('invalid_certificate', 'FAILED:invalid_certificate', hopHeaders);
  const cache = trust.peers as Map<string, unknown>;
  const key = `hop\0${hop.fingerprint}\0${sent!.get('x-client-fingerprint') ?? ''}\0${pem}`;
  const cached = cache.get(key) as Verdict | undefined;
  if (cached !== undefined && now <= cached.validUntil) return cached;
  const verdict = evaluate(pem, sent!.get('x-client-fingerprint'), hopHeaders, trust, now);
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, verdict);
  return verdict;
}

function evaluate(escapedPem: string, fingerprint: string | undefined, hop: readonly string[], trust: RevocationSource, now: number): Verdict {
  let cert: X509Certificate;
  let id: ClientIdentity;
  try {
    cert = new X509Certificate(decodeURIComponent(escapedPem));
    id = identityFromCertificate(cert);
  } catch {
    return refused('invalid_certificate', 'FAILED:invalid_certificate', hop);
  }
  // a fingerprint that names another certificate than the one sent: the headers do not describe one client
  if (fingerprint !== undefined && fingerprint.toLowerCase() !== id.fingerprint) return refused('invalid_certificate', 'FAILED:invalid_certificate', hop, id);
  const notAfter = id.notAfter.getTime();
  if (now > notAfter) return { ...refused('expired', 'FAILED:expired', hop, id), validUntil: Infinity };
  if (now < id.notBefore.getTime()) return { ...refused('not_yet_valid', 'FAILED:not_yet_valid', hop, id), validUntil: id.notBefore.getTime() };
  if (trust.revokedChain(trust.completeChain([cert])) !== null) return refused('revoked', 'FAILED:revoked', hop, id);
  return { identity: id, reason: null, presented: id, verify: 'SUCCESS', headers: [...identityHeaders(id), ...hop], validUntil: notAfter };
}
