// Per-connection client-certificate state: the peer chain, identity and identity headers are worked out once per
// connection; only the revocation verdict is redone, and only when the CRLs in force change (a new trust object).
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { identityFromCertificate } from './identity.ts';
import type { ClientIdentity } from './identity.ts';
import { reasonFromTlsError } from './reasons.ts';
import type { ReasonCode } from './reasons.ts';
import { toWireValue } from './headers.ts';

/** The part of trust.ts's Trust that per-request checks need. */
export interface RevocationSource {
  revokedChain(chain: X509Certificate[]): { serial: string; reason: string | null } | null;
  /** Descriptions of CRLs past nextUpdate (empty when all are current). */
  stale: readonly string[];
}

/** How this listener treats client certificates (from `clientAuth`). */
export interface ClientAuthPolicy {
  mode: 'require' | 'verify' | 'off';
  verifyDepth: number;
  staleCrl: 'enforce' | 'refuse';
}

/** The outcome for one connection under one trust generation. Shared by every request on the connection. */
export interface Verdict {
  /** Only set for a certificate that verified and is not revoked: the only thing authorization may look at. */
  identity: ClientIdentity | null;
  /** Why there is no verified identity (null when verified). */
  reason: ReasonCode | null;
  /** The certificate presented (verified or not), for access logs. */
  presented: ClientIdentity | null;
  /** "SUCCESS", "NONE" or "FAILED:<reason>". */
  verify: string;
  /** X-Client-* headers for the upstream, flat [name, value, ...], built once. */
  headers: readonly string[];
  /** Re-evaluate after this time (ms since epoch): the certificate's notAfter. */
  validUntil: number;
}

const NO_CERT_HEADERS = ['x-client-verify', 'NONE'] as const;

/** The verdict for connections that were never asked for a certificate (plain listeners, clientAuth off). */
export const NO_CLIENT_AUTH: Verdict = {
  identity: null, reason: 'no_certificate', presented: null, verify: 'NONE', headers: NO_CERT_HEADERS, validUntil: Infinity,
};

const kState = Symbol('certgate.connection');

/** What the TLS layer told us about the peer, read once. */
interface ConnectionState {
  chain: X509Certificate[];
  tlsReason: ReasonCode | null;
  presented: ClientIdentity | null;
  trust: RevocationSource | null;
  verdict: Verdict | null;
}

function readPeer(socket: TLSSocket, policy: ClientAuthPolicy): ConnectionState {
  const leaf = socket.getPeerX509Certificate();
  if (!leaf) return { chain: [], tlsReason: 'no_certificate', presented: null, trust: null, verdict: null };
  // Node completes the chain from the CA store, also on resumed sessions (which carry only the leaf)
  const chain: X509Certificate[] = [leaf];
  for (let c: X509Certificate | undefined = leaf.issuerCertificate; c && chain.length < 20; c = c.issuerCertificate) {
    if (c.fingerprint256 === chain[chain.length - 1].fingerprint256) break; // self-signed root points at itself
    chain.push(c);
  }
  let tlsReason: ReasonCode | null = socket.authorized ? null : reasonFromTlsError(String(socket.authorizationError ?? ''), true);
  if (tlsReason === null && belowAnchor(chain) > policy.verifyDepth) tlsReason = 'chain_too_deep';
  let presented: ClientIdentity | null = null;
  try {
    presented = identityFromCertificate(leaf);
  } catch {
    tlsReason ??= 'invalid_certificate';
  }
  return { chain, tlsReason, presented, trust: null, verdict: null };
}

/** Certificates below the trust anchor: the leaf plus intermediates (the self-issued root is not counted). */
export function belowAnchor(chain: readonly X509Certificate[]): number {
  const last = chain[chain.length - 1];
  return last && chain.length > 1 && last.subject === last.issuer ? chain.length - 1 : chain.length;
}

function buildVerdict(state: ConnectionState, trust: RevocationSource, policy: ClientAuthPolicy, now: number): Verdict {
  const presented = state.presented;
  let reason = state.tlsReason;
  const notAfter = presented ? presented.notAfter.getTime() : Infinity;
  if (reason === null && now > notAfter) reason = 'expired';
  if (reason === null && trust.revokedChain(state.chain) !== null) reason = 'revoked';
  if (reason === null && policy.staleCrl === 'refuse' && trust.stale.length > 0) reason = 'crl_stale';
  if (reason !== null) {
    const verify = reason === 'no_certificate' ? 'NONE' : `FAILED:${reason}`;
    // An unverified certificate's names are never forwarded: the upstream must not trust a look-alike DN.
    return { identity: null, reason, presented, verify, headers: ['x-client-verify', verify], validUntil: notAfter };
  }
  const id = presented!;
  return {
    identity: id,
    reason: null,
    presented: id,
    verify: 'SUCCESS',
    headers: [
      'x-client-verify', 'SUCCESS',
      'x-client-subject', toWireValue(id.subject),
      'x-client-issuer', toWireValue(id.issuer),
      'x-client-serial', id.serial,
      'x-client-fingerprint', id.fingerprint,
      'x-client-cert', id.escapedPem,
    ],
    validUntil: notAfter,
  };
}

/**
 * The verdict for the connection behind `socket` under `trust`, cached on `holder` (the TLS socket for HTTP/1.1,
 * the Http2Session for HTTP/2, whose `socket` is a slow proxy). A new trust object (CRLs re-read) or the
 * certificate's notAfter passing makes the next request recompute it; otherwise this is a few property reads.
 */
export function connectionVerdict(holder: object, socket: TLSSocket, trust: RevocationSource, policy: ClientAuthPolicy, now: number): Verdict {
  let state = (holder as Record<symbol, ConnectionState | undefined>)[kState];
  if (state === undefined) {
    state = readPeer(socket, policy);
    (holder as Record<symbol, ConnectionState>)[kState] = state;
  }
  let verdict = state.verdict;
  if (verdict === null || state.trust !== trust || now > verdict.validUntil) {
    verdict = buildVerdict(state, trust, policy, now);
    state.verdict = verdict;
    state.trust = trust;
  }
  return verdict;
}
