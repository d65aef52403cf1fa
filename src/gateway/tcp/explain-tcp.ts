// `certgate explain` for a tcp: server: would a connection with this certificate get its tunnel? No traffic.
import type { X509Certificate } from 'node:crypto';
import type { ServerConfig } from '../../config/schema.ts';
import { identityFromCertificate } from '../identity/identity.ts';
import type { ClientIdentity } from '../identity/identity.ts';
import { compileRules } from '../policy/policy.ts';
import { REASONS } from '../policy/reasons.ts';
import type { ReasonCode } from '../policy/reasons.ts';
import { loadTrust } from '../tls/trust.ts';
import { verifyChainOffline } from '../tls/verify-offline.ts';
import type { Explanation } from '../explain.ts';
import { decideTunnel } from './proxy-tcp.ts';
import { HANDSHAKE_REASONS, describeCertificate } from '../explain-certificate.ts';

export interface TcpExplainInput {
  server: ServerConfig;
  index: number;
  url: string;
  request: Explanation['request'];
  cert: { file: string; certs: X509Certificate[] } | null;
  now: Date;
  warnings: string[];
}

/**
 * The tunnel decision for one certificate and address: the certificate verified offline as the handshake and the
 * revocation check would, then `decideTunnel`, the function proxy-tcp.ts runs. The route slot carries the tcp
 * upstream (path "" and no site: TCP mode has neither).
 */
export function explainTcp(input: TcpExplainInput): Explanation {
  const { server, index, warnings, now } = input;
  const tcp = server.tcp!;
  const direction = server.tls ? 'server' : 'client';
  const up = typeof tcp.upstream === 'string' ? { address: tcp.upstream, tls: tcp.tls } : tcp.upstream;
  const label = `servers[${index}].tcp`;
  const mode = direction === 'server' && server.clientAuth ? server.clientAuth.mode : 'off';
  const e: Explanation = {
    url: input.url,
    request: input.request,
    server: { label: `servers[${index}]`, listen: server.listen, tls: direction === 'server', clientAuth: mode },
    site: null,
    path: { normalized: null, error: null },
    route: { label, path: '', upstream: `tcp://${up.address}${up.tls ? ' (TLS)' : ''}`, public: false, websocket: false },
    certificate: null,
    rule: null,
    outcome: { action: 'refuse', status: null, reason: null, message: '', location: null },
    warnings,
    tcp: { direction, upstream: up.address, upstreamTls: up.tls !== undefined },
  };
  const piped = `tunnelled to ${up.address} over ${up.tls ? 'TLS' : 'plain TCP'}`;
  if (direction === 'client') {
    if (input.cert) warnings.push(`a tcp: server without tls: takes plain connections and asks for no certificate; ${input.cert.file} is not used`);
    e.outcome = { action: 'proxy', status: null, reason: null, message: `${piped}${up.tls?.cert ? ', presenting the certificate in tcp.upstream.tls.cert' : ''}; the remote end decides on it`, location: null };
    return e;
  }

  let facts: { identity: ClientIdentity | null; verifyReason: ReasonCode | null; sourceIp: string } | null = null;
  if (input.cert && mode !== 'off') {
    const [leaf, ...intermediates] = input.cert.certs;
    const ca = server.clientAuth!;
    const trust = loadTrust(ca);
    const v = verifyChainOffline(leaf, trust, now, ca.verifyDepth, { intermediates, staleCrl: ca.staleCrl });
    warnings.push(...v.warnings, ...trust.missingCrl.map((s) => `no CRL is configured for the CA "${s}"`));
    const presented = identityFromCertificate(leaf);
    facts = { identity: v.ok ? presented : null, verifyReason: v.ok ? null : v.reason, sourceIp: input.request.sourceIp };
    e.certificate = describeCertificate(input.cert.file, leaf, v.ok ? null : v.reason, v);
  }
  const reasonOf = facts?.verifyReason ?? (facts === null ? 'no_certificate' : null);
  if (mode === 'require' && reasonOf !== null && HANDSHAKE_REASONS.has(reasonOf)) {
    e.outcome = { action: 'handshake_failure', status: null, reason: reasonOf, message: `the TLS handshake fails (clientAuth.mode: require): ${REASONS[reasonOf].text}`, location: null };
    return e;
  }
  const decision = decideTunnel({ direction, route: { policy: compileRules({ allow: tcp.allow, deny: tcp.deny }, label), label } }, facts);
  e.rule = decision.rule;
  if (!decision.allowed) {
    e.outcome = { action: 'refuse', status: null, reason: decision.reason, message: `the connection is closed before ${up.address} is dialled: ${REASONS[decision.reason].text}`, location: null };
    return e;
  }
  e.outcome = { action: 'proxy', status: null, reason: null, message: `${piped}; allowed by ${decision.rule ?? 'any verified certificate (no allow rules)'}`, location: null };
  return e;
}
