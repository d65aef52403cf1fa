// `certgate explain`: the gateway's decision for one URL, certificate and client address, worked out without traffic
// by the server's own decision function (request-handler.ts `decide`) on an imagined connection.
import type { CrlData } from './tls/trust.ts';
import { upstreamPath, pathMappingOf } from './upstream/upstream-path.ts';
import { X509Certificate } from 'node:crypto';
import { UserError } from '../core/errors.ts';
import type { GatewayConfig, ServerConfig } from '../config/schema.ts';
import { parseIp } from './policy/cidr.ts';
import { normalizePath } from './policy/path.ts';
import { REASONS, type ReasonCode } from './policy/reasons.ts';
import { redirectLocation } from './listener/redirect-server.ts';
import { compileServer } from './policy/route-match.ts';
import { verifyChainOffline, type OfflineVerification } from './tls/verify-offline.ts';
import { connectionVerdict, imaginedConnection } from './tls/connection-identity.ts';
import { decide, type DecisionContext } from './http/request-handler.ts';
import { clientAuthPolicy, compileIdentityHops, loadClientTrust, sitesOf } from './runtime.ts';
import { explainTcp } from './tcp/explain-tcp.ts';
import { HANDSHAKE_REASONS, describeCertificate } from './explain-certificate.ts';

export interface ExplainInput {
  config: GatewayConfig;
  url: string;
  /** The certificates the client would send (leaf first, then intermediates); null for --no-cert. */
  cert: { file: string; certs: X509Certificate[] } | null;
  /** Client address (default 127.0.0.1). */
  sourceIp?: string;
  /** Copies of the config's CRL URLs (explain is offline: the gateway's cache in stateDir, crl-fetch.ts's cachedCrlData). */
  crlData?: CrlData;
  now?: Date;
}

/** The stable `--json` shape (documented in docs/gateway-decisions.md). */
export interface Explanation {
  url: string;
  request: { scheme: 'http' | 'https' | 'tcp'; host: string; sni: string | null; rawPath: string; query: string; sourceIp: string };
  server: { label: string; listen: string; tls: boolean; clientAuth: 'require' | 'verify' | 'off' };
  site: { label: string; hosts: string[] } | null;
  path: { normalized: string | null; error: string | null };
  route: { label: string; path: string; upstream: string; public: boolean; websocket: boolean } | null;
  certificate: {
    file: string;
    subject: string;
    issuer: string;
    serial: string;
    fingerprint: string;
    notBefore: string;
    notAfter: string;
    sans: string[];
    verified: boolean;
    reason: ReasonCode | null;
    detail: string | null;
    chain: string[];
  } | null;
  /** The allow/deny rule that decided, as "servers[0].sites[0].routes[1].allow[0]: ou=ops"; null for defaults. */
  rule: string | null;
  outcome: {
    /** proxy: handed to the upstream; refuse: the gateway answers `status`; redirect: 301; handshake_failure: TLS fails. */
    action: 'proxy' | 'refuse' | 'redirect' | 'handshake_failure';
    status: number | null;
    reason: ReasonCode | null;
    message: string;
    location: string | null;
  };
  warnings: string[];
  /** Set for a tcp: server (TCP mode): the tunnel's direction and upstream; site and path stay null. */
  tcp?: { direction: 'server' | 'client'; upstream: string; upstreamTls: boolean };
}


const URL_PARTS = /^(https?|tcp):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i;

function usage(message: string, hint?: string): UserError {
  return new UserError('CG_USAGE', message, hint ? { hint } : {});
}

/** Splits the URL without normalizing it (new URL() would resolve "..", hiding what the gateway does). */
function splitUrl(url: string): { scheme: 'http' | 'https' | 'tcp'; authority: string; hostname: string; port: number; rawPath: string; query: string } {
  const m = URL_PARTS.exec(url.trim());
  if (!m) throw usage(`--url ${url} is not an http:// or https:// URL (nor tcp://host:port for a tcp: server)`, 'e.g. --url https://app.example.com:8443/admin, or --url tcp://db.example.com:15432 for a tcp: server');
  const scheme = m[1].toLowerCase() as 'http' | 'https' | 'tcp';
  const authority = m[2];
  if (authority.includes('@')) throw usage(`--url ${url}: user:password@ is not supported`);
  let parsed: URL;
  try {
    parsed = new URL(`${scheme === 'tcp' ? 'https' : scheme}://${authority}/`);
  } catch {
    throw usage(`--url ${url} has an invalid host or port`);
  }
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (scheme === 'tcp' && !parsed.port) throw usage(`--url ${url}: a tcp:// URL needs a port`, 'e.g. --url tcp://db.example.com:15432');
  const port = parsed.port ? Number(parsed.port) : scheme === 'https' ? 443 : 80;
  // what curl and browsers put on the wire: non-ASCII and spaces %-encoded as UTF-8, the rest as typed
  const rawPath = (m[3] || '/').replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
  return { scheme, authority: parsed.host, hostname, port, rawPath, query: m[4] ?? '' };
}

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(listen.slice(i + 1)) };
}

/** The server a client reaching `hostname:port` over `scheme` talks to. */
function pickServer(config: GatewayConfig, scheme: string, hostname: string, port: number, warnings: string[]): { server: ServerConfig; index: number } {
  const tls = scheme === 'https';
  const matches = config.servers
    .map((server, index) => ({ server, index, listen: splitListen(server.listen) }))
    // tcp://: any tcp: server on the port (TLS or plain); http(s):// goes by TLS
    .filter((s) => s.listen.port === port && (scheme === 'tcp' ? s.server.tcp !== undefined : (s.server.tls !== undefined) === tls));
  if (matches.length === 0) {
    const all = config.servers.map((s) => `${s.tls ? 'https' : 'http'} ${s.listen}`).join(', ');
    throw usage(`no ${scheme} server in the config listens on port ${port}`, `servers: ${all}`);
  }
  const exact = matches.find((s) => s.listen.host === hostname) ?? matches.find((s) => ['0.0.0.0', '::'].includes(s.listen.host));
  const chosen = exact ?? matches[0];
  if (matches.length > 1) warnings.push(`several ${scheme} servers listen on port ${port}; explaining ${chosen.server.listen}`);
  return chosen;
}

const upstreamOf = (u: string | { url: string }): string => (typeof u === 'string' ? u : u.url).replace(/\/$/, '');

/** Works out what the gateway would do with one request. Throws UserError for unusable input, ConfigError for bad trust files. */
export function explainRequest(input: ExplainInput): Explanation {
  const now = input.now ?? new Date();
  const warnings: string[] = [];
  const sourceIp = input.sourceIp ?? '127.0.0.1';
  if (!parseIp(sourceIp)) throw usage(`--source-ip ${sourceIp} is not an IP address`);
  const u = splitUrl(input.url);
  const { server, index } = pickServer(input.config, u.scheme, u.hostname, u.port, warnings);
  if (server.tcp) {
    const request = { scheme: u.scheme, host: u.authority, sni: null, rawPath: '', query: '', sourceIp };
    return explainTcp({ server, index, url: input.url, request, cert: input.cert, now, warnings });
  }
  const tls = server.tls !== undefined;
  const mode = tls && server.clientAuth ? server.clientAuth.mode : 'off';
  // curl and browsers send SNI for names, never for IP literals
  const sni = tls && !parseIp(u.hostname) ? u.hostname.toLowerCase() : null;
  const e: Explanation = {
    url: input.url,
    request: { scheme: u.scheme, host: u.authority, sni, rawPath: u.rawPath, query: u.query, sourceIp },
    server: { label: `servers[${index}]`, listen: server.listen, tls, clientAuth: mode },
    site: null,
    path: { normalized: null, error: null },
    route: null,
    certificate: null,
    rule: null,
    outcome: { action: 'refuse', status: null, reason: null, message: '', location: null },
    warnings,
  };
  const refuse = (reason: ReasonCode): Explanation => {
    e.outcome = { action: 'refuse', status: REASONS[reason].status, reason, message: REASONS[reason].text, location: null };
    return e;
  };

  if (!tls && server.redirectToHttps !== undefined) {
    const location = redirectLocation(u.authority, u.rawPath + u.query, server.redirectToHttps);
    if (location === undefined) return refuse('bad_request');
    e.outcome = { action: 'redirect', status: 301, reason: null, message: `redirected to ${location}`, location };
    return e;
  }

  // the certificate: what the handshake's own verification (OpenSSL) would say of it...
  const trust = mode === 'off' ? null : loadClientTrust(server, input.crlData);
  const policy = clientAuthPolicy(server, trust);
  let leaf: X509Certificate | null = null;
  let opensslReason: ReasonCode | null = null;
  let offline: OfflineVerification | null = null;
  if (mode === 'off') {
    if (input.cert) warnings.push(`this server does not ask for client certificates; ${input.cert.file} is not used`);
  } else if (input.cert) {
    const [first, ...intermediates] = input.cert.certs;
    const ca = server.clientAuth!;
    offline = verifyChainOffline(first, trust!, now, ca.verifyDepth, { intermediates, staleCrl: ca.staleCrl });
    warnings.push(...offline.warnings, ...trust!.missingCrl.map((s) => `no CRL is configured for the CA "${s}"`));
    leaf = first;
    // revocation, CRL coverage and staleness are certgate's checks, made per request below, not OpenSSL's
    opensslReason = offline.ok || !HANDSHAKE_REASONS.has(offline.reason) ? null : offline.reason;
  }
  if (mode === 'require' && (leaf === null || opensslReason !== null)) {
    const reason = opensslReason ?? 'no_certificate';
    if (leaf !== null) e.certificate = describeCertificate(input.cert!.file, leaf, reason, offline);
    e.outcome = {
      action: 'handshake_failure', status: null, reason,
      message: `the TLS handshake fails (clientAuth.mode: require): ${REASONS[reason].text}`, location: null,
    };
    return e;
  }
  // ...then the connection and the request go through the gateway's own decision function (request-handler.ts)
  const state = imaginedConnection(sourceIp, sni, leaf, opensslReason, policy, trust);
  if (leaf !== null && policy !== null && trust !== null) {
    const verdict = connectionVerdict(state, trust, policy, now.getTime());
    e.certificate = describeCertificate(input.cert!.file, leaf, verdict.reason, offline, state.chain);
  }
  const label = `servers[${index}]`;
  const context: DecisionContext<true> = {
    compiled: compileServer({ ...server, sites: sitesOf(server), routes: undefined }, label),
    clientAuth: policy,
    trust,
    identityHops: compileIdentityHops(server, label),
    maxHeaderSize: server.maxHeaderSize,
    targets: new Map(sitesOf(server).flatMap((site) => site.routes.map((r) => [r, true] as const))),
  };
  const d = decide(context, state, ['host', u.authority], u.rawPath + u.query, now.getTime(), true, false);
  if (d.site) e.site = { label: d.site.label, hosts: d.site.hosts };
  if (d.reason === 'bad_path') {
    const norm = normalizePath(u.rawPath);
    e.path.error = norm.ok ? null : norm.detail;
  } else if (d.site) {
    e.path.normalized = d.path;
  }
  const route = d.route;
  if (route) {
    e.route = { label: route.label, path: route.path, upstream: upstreamOf(route.config.upstream), public: route.config.public, websocket: route.config.websocket };
    e.rule = d.rule ?? null;
  }
  if (d.reason !== null || !route) return refuse(d.reason ?? 'internal_error');
  // the path the upstream is sent, as request-handler.ts builds it (base path, stripPrefix)
  const cfg = route.config.upstream;
  const location = new URL(typeof cfg === 'string' ? cfg : cfg.url).origin + upstreamPath(pathMappingOf(route.config), d.path) + d.query;
  e.outcome = { action: 'proxy', status: null, reason: null, message: `proxied to ${location}; the status is the upstream's`, location };
  return e;
}

/** Reads the certificates of a --cert file: PEM (leaf first, then intermediates) or one DER certificate. */
export function certificatesFromFile(data: Buffer, file: string): X509Certificate[] {
  const text = data.toString('latin1');
  const pems = [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => m[0]);
  try {
    if (pems.length > 0) return pems.map((p) => new X509Certificate(p));
    if (!text.includes('-----BEGIN')) return [new X509Certificate(data)];
  } catch (err) {
    throw new UserError('CG_PKI_BAD_CERT', `--cert ${file} does not parse as a certificate`, { cause: err });
  }
  throw new UserError('CG_PKI_BAD_CERT', `--cert ${file} holds no certificate`, { hint: 'give the client certificate in PEM (leaf first) or DER' });
}
