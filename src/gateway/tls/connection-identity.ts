// Per-connection client-certificate state: the peer chain, identity and identity headers are worked out once per
// certificate and trust generation (cached on the Trust object by the certificate's exact DER) and shared by every
// connection presenting it. When the trust in force changes (CRLs re-read, CA bundle replaced), the chain is
// completed and verified again under the new trust, so a CA removed by a reload stops vouching for open connections.
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { identityFromCertificate } from '../identity/identity.ts';
import type { ClientIdentity } from '../identity/identity.ts';
import { reasonFromTlsError } from '../policy/reasons.ts';
import { isSelfSigned } from './trust.ts';
import type { ReasonCode } from '../policy/reasons.ts';
import { toWireValue } from '../http/headers.ts';

/** The part of trust.ts's Trust that per-connection checks need. */
export interface RevocationSource {
  revokedChain(chain: X509Certificate[]): { serial: string; reason: string | null } | null;
  /** With CRLs configured: the first CA of the chain that has none (then the client is refused). */
  uncoveredCa(chain: X509Certificate[]): string | null;
  /** CRLs of this chain's CAs that are past nextUpdate at `now`. */
  staleFor(chain: X509Certificate[], now: Date): string[];
  crls: ReadonlyArray<{ nextUpdate: Date | undefined }>;
  /** `chain` followed by its issuers from the CA bundle (parsed once per trust load), up to a self-signed root. */
  completeChain(chain: X509Certificate[]): X509Certificate[];
  /** Per-certificate facts computed under this trust (owned by it: a new generation starts empty). */
  peers: Map<string, unknown>;
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

/** The verdict for a connection that was asked for a certificate and sent none. */
const NO_CERTIFICATE: Verdict = NO_CLIENT_AUTH;

/** What we know about one client connection, read once (the connection registry keeps it). */
export interface ConnectionState {
  /** Client address, IPv4-mapped IPv6 unwrapped ("::ffff:10.0.0.1" becomes "10.0.0.1"). */
  ip: string;
  /** SNI the client sent, lowercase; null without TLS or SNI. */
  servername: string | null;
  /** Peer certificate chain, leaf first ([] when none was sent or none was asked for). */
  chain: X509Certificate[];
  /** Why the certificate does not verify under the trust and policy last checked (null when it does). */
  tlsReason: ReasonCode | null;
  /** The presented leaf certificate (null when none was sent). */
  leaf: X509Certificate | null;
  /** OpenSSL's own verdict at the handshake (null: verified), a per-connection fact kept as it was. */
  opensslReason: ReasonCode | null;
  /** The client-auth policy and trust `tlsReason`, `chain` and `peer` were derived under. */
  policy: ClientAuthPolicy | null;
  peerTrust: RevocationSource | null;
  /** Identity of the presented certificate, verified or not (for logs only). */
  presented: ClientIdentity | null;
  trust: RevocationSource | null;
  verdict: Verdict | null;
  /** What is known about the presented certificate under the trust in force (shared by connections). */
  peer: PeerInfo | null;
}

/**
 * Everything about a client certificate that is a pure function of its DER and the CA bundle: computed on the first
 * connection that presents it, then shared. Never holds a per-connection fact (whether OpenSSL verified it).
 */
interface PeerInfo {
  chain: X509Certificate[];
  /** The completed chain ends in a self-signed CA of the bundle. */
  anchored: boolean;
  /** Certificates below the trust anchor (compared with verifyDepth per connection). */
  depth: number;
  presented: ClientIdentity | null;
  /** The certificate's names could not be parsed. */
  invalid: boolean;
  /** The verdict for a connection whose TLS check passed, with the trust and policy it was made under. */
  verdict: Verdict | null;
  verdictTrust: RevocationSource | null;
  verdictPolicy: ClientAuthPolicy | null;
}

/** Peer certificates cached per trust object (bounded: the oldest entry goes first). */
const PEER_CACHE_MAX = 1_000;

function peerInfo(leaf: X509Certificate, trust: RevocationSource | null): PeerInfo {
  if (trust === null) return computePeer(leaf, null);
  const byDer = trust.peers as Map<string, PeerInfo>;
  // the exact DER is the key: identity, chain and names are functions of these bytes and the bundle only
  const key = leaf.raw.toString('latin1');
  let info = byDer.get(key);
  if (info === undefined) {
    info = computePeer(leaf, trust);
    if (byDer.size >= PEER_CACHE_MAX) byDer.delete(byDer.keys().next().value!);
    byDer.set(key, info);
  }
  return info;
}

function computePeer(leaf: X509Certificate, trust: RevocationSource | null): PeerInfo {
  // The chain above the leaf comes from the CA bundle's already-parsed certificates (cheap; their signature checks
  // are cached). Node does not expose intermediates a client sends on the server side, so a CA that is not in the
  // bundle cannot have its depth or revocation checked: such a chain is refused (unknown_ca), even when OpenSSL
  // verified it. clientAuth.ca must hold the intermediates as well as the roots.
  const chain = trust ? trust.completeChain([leaf]) : [leaf];
  let presented: ClientIdentity | null = null;
  let invalid = false;
  try {
    presented = identityFromCertificate(leaf);
  } catch {
    invalid = true;
  }
  // Every link is checked with the key of the CA that is in the bundle now: at the handshake OpenSSL checked the
  // chain against the bundle of that moment, and a reload may since have removed or replaced a CA.
  let anchored = isSelfSigned(chain[chain.length - 1]);
  for (let i = 0; anchored && i < chain.length - 1; i++) {
    try {
      anchored = chain[i].verify(chain[i + 1].publicKey);
    } catch {
      anchored = false;
    }
  }
  return {
    chain, anchored, depth: belowAnchor(chain), presented, invalid,
    verdict: null, verdictTrust: null, verdictPolicy: null,
  };
}

/** "::ffff:10.1.2.3" → "10.1.2.3"; other addresses unchanged. */
export function unmapIp(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/**
 * Reads the state of the connection behind `socket` (the TLS socket, not an HTTP/2 session's slow proxy of it).
 * `policy` null: no client certificate was requested. `ip`: the client address when it is not the socket's own
 * (the registry's, which a PROXY header may have set). The caller keeps the result for the connection's lifetime.
 */
export function readConnection(socket: TLSSocket | Socket, policy: ClientAuthPolicy | null, trust: RevocationSource | null = null, ip?: string): ConnectionState {
  const tlsSocket = (socket as TLSSocket).encrypted ? (socket as TLSSocket) : null;
  const sni = tlsSocket ? (tlsSocket as TLSSocket & { servername?: string | false }).servername : undefined;
  const state: ConnectionState = {
    ip: ip ?? unmapIp(socket.remoteAddress),
    servername: typeof sni === 'string' && sni !== '' ? sni.toLowerCase() : null,
    chain: [],
    tlsReason: 'no_certificate',
    leaf: null,
    opensslReason: 'no_certificate',
    policy,
    peerTrust: null,
    presented: null,
    trust: null,
    verdict: null,
    peer: null,
  };
  if (tlsSocket && policy && policy.mode !== 'off') readPeer(tlsSocket, policy, trust, state);
  return state;
}

/**
 * The state of a connection that is only imagined (`certgate explain`): the client at `ip` sent `servername` and
 * `leaf`, and the handshake's own verification gave `opensslReason`. From here on it is treated as a real one.
 */
export function imaginedConnection(
  ip: string, servername: string | null, leaf: X509Certificate | null, opensslReason: ReasonCode | null,
  policy: ClientAuthPolicy | null, trust: RevocationSource | null,
): ConnectionState {
  const state: ConnectionState = {
    ip, servername, chain: [], tlsReason: 'no_certificate', leaf: null, opensslReason: 'no_certificate', policy,
    peerTrust: null, presented: null, trust: null, verdict: null, peer: null,
  };
  if (leaf !== null && policy !== null && policy.mode !== 'off') {
    state.leaf = leaf;
    state.opensslReason = opensslReason;
    derivePeer(state, trust, policy);
  }
  return state;
}

function readPeer(socket: TLSSocket, policy: ClientAuthPolicy, trust: RevocationSource | null, state: ConnectionState): void {
  const leaf = socket.getPeerX509Certificate();
  if (!leaf) return;
  state.leaf = leaf;
  // whether OpenSSL verified the certificate is this connection's own fact, never cached
  state.opensslReason = socket.authorized ? null : reasonFromTlsError(String(socket.authorizationError ?? ''), true);
  derivePeer(state, trust, policy);
}

/** Completes and checks the connection's chain under `trust` and `policy` (on the first request and on every change). */
function derivePeer(state: ConnectionState, trust: RevocationSource | null, policy: ClientAuthPolicy): void {
  const leaf = state.leaf;
  if (leaf === null) return;
  const peer = peerInfo(leaf, trust);
  // The cache is keyed by the exact DER, so its first certificate is this one: connections presenting the same
  // certificate share that object, and this connection's own copy (native X509 plus the DER that `raw` keeps) goes.
  state.leaf = peer.chain[0];
  let tlsReason = state.opensslReason;
  if (tlsReason === null && !peer.anchored) tlsReason = 'unknown_ca';
  if (tlsReason === null && peer.depth > policy.verifyDepth) tlsReason = 'chain_too_deep';
  if (peer.invalid) tlsReason ??= 'invalid_certificate';
  state.presented = peer.presented;
  state.chain = peer.chain;
  state.tlsReason = tlsReason;
  state.peer = peer;
  state.policy = policy;
  state.peerTrust = trust;
}

/** Certificates below the trust anchor: the leaf plus intermediates (the self-issued root is not counted). */
export function belowAnchor(chain: readonly X509Certificate[]): number {
  const last = chain[chain.length - 1];
  return last && chain.length > 1 && isSelfSigned(last) ? chain.length - 1 : chain.length;
}

function buildVerdict(state: ConnectionState, trust: RevocationSource, policy: ClientAuthPolicy, now: number): Verdict {
  const presented = state.presented;
  let reason = state.tlsReason;
  if (reason === 'no_certificate') return NO_CERTIFICATE;
  const notAfter = presented ? presented.notAfter.getTime() : Infinity;
  // The verdict holds until the certificate expires or, with staleCrl: refuse, until a CRL goes stale.
  let validUntil = notAfter;
  if (policy.staleCrl === 'refuse') {
    for (const crl of trust.crls) {
      const t = crl.nextUpdate?.getTime();
      if (t !== undefined && t > now && t < validUntil) validUntil = t;
    }
  }
  if (reason === null && now > notAfter) reason = 'expired';
  if (reason === null && trust.revokedChain(state.chain) !== null) reason = 'revoked';
  // OpenSSL's CRL_CHECK_ALL semantics: with CRLs configured, a CA without one cannot vouch for anybody
  if (reason === null && trust.uncoveredCa(state.chain) !== null) reason = 'crl_unavailable';
  if (reason === null && policy.staleCrl === 'refuse' && trust.staleFor(state.chain, new Date(now)).length > 0) reason = 'crl_stale';
  if (reason !== null) {
    const verify = `FAILED:${reason}`;
    // An unverified certificate's names are never forwarded: the upstream must not trust a look-alike DN.
    return { identity: null, reason, presented, verify, headers: ['x-client-verify', verify], validUntil };
  }
  const id = presented!;
  return { identity: id, reason: null, presented: id, verify: 'SUCCESS', headers: identityHeaders(id), validUntil };
}

/** The X-Client-* headers for a verified identity, flat [name, value, ...]. */
export function identityHeaders(id: ClientIdentity): string[] {
  return [
    'x-client-verify', 'SUCCESS',
    'x-client-subject', toWireValue(id.subject),
    'x-client-issuer', toWireValue(id.issuer),
    'x-client-serial', id.serial,
    'x-client-fingerprint', id.fingerprint,
    'x-client-cert', id.escapedPem,
  ];
}

/**
 * The verdict for a connection under `trust`, cached on its state. A new trust object (CRLs re-read) or the
 * certificate's notAfter passing makes the next request recompute it; otherwise this is a few property reads.
 */
export function connectionVerdict(state: ConnectionState, trust: RevocationSource, policy: ClientAuthPolicy, now: number): Verdict {
  let verdict = state.verdict;
  if (verdict === null || state.trust !== trust || state.policy !== policy || now > verdict.validUntil) {
    // a new trust generation or policy: the chain is completed and verified again from the bundle in force now
    if (state.leaf !== null && (state.peerTrust !== trust || state.policy !== policy)) derivePeer(state, trust, policy);
    const peer = state.peer;
    if (peer !== null && state.tlsReason === null) {
      // A verdict depends only on the certificate, the trust, the policy and the time: share it between the
      // connections of one certificate (whether OpenSSL verified this connection is in tlsReason, checked above).
      verdict = peer.verdict;
      if (verdict === null || peer.verdictTrust !== trust || peer.verdictPolicy !== policy || now > verdict.validUntil) {
        verdict = buildVerdict(state, trust, policy, now);
        peer.verdict = verdict;
        peer.verdictTrust = trust;
        peer.verdictPolicy = policy;
      }
    } else {
      verdict = buildVerdict(state, trust, policy, now);
    }
    state.verdict = verdict;
    state.trust = trust;
  }
  return verdict;
}
