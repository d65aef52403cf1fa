// The per-request pipeline, identical for HTTP/1.1 and HTTP/2: strip identity headers, pick the site (SNI/Host),
// normalize the path, match the route, check the certificate (revocation included), authorize, then proxy.
import { performance } from 'node:perf_hooks';
import type { ServerResponse } from 'node:http';
import { constants as h2constants } from 'node:http2';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { writeFlat } from '../../observability/logger.ts';
import type { Logger } from '../../observability/logger.ts';
import type { GatewayMetrics } from '../../observability/metrics.ts';
import { scanRequestHeaders, locationRewriter } from './headers.ts';
import type { RequestHeaderScan } from './headers.ts';
import { normalizePath } from '../policy/path.ts';
import { selectSite, matchRoute, hostFromHeader } from '../policy/route-match.ts';
import type { CompiledRoute, CompiledSite } from '../policy/route-match.ts';
import type { RouteConfig } from '../../config/schema.ts';
import { authorize } from '../policy/policy.ts';
import type { ReasonCode } from '../policy/reasons.ts';
import { readConnection, connectionVerdict, NO_CLIENT_AUTH, unmapIp } from '../tls/connection-identity.ts';
import type { ConnectionState, Verdict } from '../tls/connection-identity.ts';
import type { ConnectionRegistry, ClientConnection, ForwardedIdentity } from '../listener/connection-registry.ts';
import type { ListenOptions } from '../listener/acceptor.ts';
import { proxyHttp } from './proxy-http.ts';
import { forwardedVerdict } from '../tls/forwarded-identity.ts';
import { reasonForUpstreamError } from '../upstream/upstream-errors.ts';
import { upstreamPath } from '../upstream/upstream-path.ts';
import type { ClientRequest, ClientResponse } from './proxy-http.ts';
import type { ListenerRuntime, RouteTarget } from '../runtime.ts';

export interface HandlerDeps {
  logger: Logger;
  /** Access lines go here: `logger`, or one writing to `log.file`. */
  accessLogger: Logger;
  metrics: GatewayMetrics;
  accessLog: boolean;
  /** The registry of the listener the request arrived on (per-listener deps inherit the rest from the gateway's). */
  registry: ConnectionRegistry;
  /** How listeners bind (workers: SO_REUSEPORT, each its own socket). */
  listenOptions?: ListenOptions;
}

/**
 * What the decision steps read from a listener: `ListenerRuntime` in the server, a runtime compiled without sockets or
 * upstream pools in `certgate explain` (so the dry run is this very function, not a copy of it).
 */
export interface DecisionContext<T = RouteTarget> {
  compiled: ListenerRuntime['compiled'];
  clientAuth: ListenerRuntime['clientAuth'];
  trust: ListenerRuntime['trust'];
  identityHops: ListenerRuntime['identityHops'];
  maxHeaderSize: number;
  targets: ReadonlyMap<RouteConfig, T>;
}

/** The outcome of the decision steps (everything before proxying), shared with the WebSocket path. */
export interface Decision<T = RouteTarget> {
  scan: RequestHeaderScan;
  state: ConnectionState;
  verdict: Verdict;
  host: string | undefined;
  /** Normalized path (or the raw one when normalization failed), without the query. */
  path: string;
  /** "?..." or "". */
  query: string;
  reason: ReasonCode | null;
  target: T | null;
  routePath: string | undefined;
  /** The site picked by Host and SNI (undefined when none was). */
  site?: CompiledSite;
  /** The matched route (for re-authorizing open work when trust changes). */
  route?: CompiledRoute;
  /** The allow/deny rule that decided (null: a default), once authorization ran. */
  rule?: string | null;
  /** The identity came from a trusted gateway in front (trustIdentityHeadersFrom), in these headers. */
  forwarded?: ForwardedIdentity;
}

const H2_INTERNAL_ERROR = h2constants.NGHTTP2_INTERNAL_ERROR;
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([^#]*)/i;

/** The registry entry of a request's connection: the socket for HTTP/1.1, the session for HTTP/2. */
export function connectionOf(deps: HandlerDeps, req: ClientRequest): ClientConnection | undefined {
  const stream = (req as Http2ServerRequest).stream;
  return deps.registry.of(stream !== undefined ? stream.session! : req.socket);
}

/** Reads the connection state of a request once per connection (kept in the registry entry). */
export function stateOf(rt: ListenerRuntime, conn: ClientConnection | undefined, req: ClientRequest): ConnectionState {
  if (conn?.state) return conn.state;
  const stream = (req as Http2ServerRequest).stream;
  // an HTTP/2 session's `socket` is a slow proxy: read the TLS socket once, here
  const socket = stream !== undefined ? (stream.session!.socket as TLSSocket) : req.socket;
  const state = readConnection(socket, rt.clientAuth, rt.trust, conn?.ip);
  if (conn) conn.state = state;
  return state;
}

/** Runs every decision step in the order the issue fixes. Pure apart from the per-connection caches. */
export function decide<T = RouteTarget>(rt: DecisionContext<T>, state: ConnectionState, rawHeaders: string[], url: string | undefined, now: number, http11 = false, http2 = false): Decision<T> {
  // 1. Identity headers (and hop-by-hop fields) are gone before anything looks at the request.
  const scan = scanRequestHeaders(rawHeaders);
  let host = scan.host;
  let target = url ?? '';
  const d: Decision<T> = { scan, state, verdict: NO_CLIENT_AUTH, host, path: '', query: '', reason: null, target: null, routePath: undefined };
  if (target.charCodeAt(0) !== 47 /* '/' */) {
    // absolute-form (RFC 9112 §3.2.2): its authority replaces Host
    const m = ABSOLUTE_FORM.exec(target);
    if (!m) return fail(d, 'bad_request', target);
    host = d.host = m[1];
    target = m[2] || '/';
  }
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  d.query = q < 0 ? '' : target.slice(q);
  d.path = rawPath;
  // RFC 9112 §3.2: exactly one Host on HTTP/1.1 (HTTP/2 may rely on :authority or SNI). An empty one (`Host:`, or
  // the empty authority of `http:///x`, on any version) names no site: selectSite would fall back to SNI and the
  // upstream would get an empty Host.
  if (scan.hostCount > 1 || (http11 && host === undefined) || host === '') return fail(d, 'bad_request', rawPath);
  // HTTP/1.1 header blocks over the limit never get here (the parser answers 431); HTTP/2 ones are measured here,
  // because nghttp2 treats SETTINGS_MAX_HEADER_LIST_SIZE as advice and lets larger blocks through
  if (http2 && scan.bytes > rt.maxHeaderSize) return fail(d, 'headers_too_large', rawPath);
  // HTTP/2 with a Host field naming another host than :authority is malformed (RFC 9113 §8.3.1): refuse it rather
  // than let a later hop pick the other one
  if (scan.hostBesideAuthority !== undefined && hostFromHeader(scan.hostBesideAuthority) !== hostFromHeader(host ?? '')) {
    return fail(d, 'bad_request', rawPath);
  }
  // 2. Site by SNI and Host, on every request (HTTP/2 coalescing reuses one connection for several hosts).
  const selected = selectSite(rt.compiled, host, state.servername);
  if ('reason' in selected) return fail(d, selected.reason, rawPath);
  d.site = selected.site;
  // 3. Path normalization, 4. route.
  const norm = normalizePath(rawPath);
  if (!norm.ok) return fail(d, 'bad_path', rawPath);
  d.path = norm.path;
  const route = matchRoute(selected.site, norm.path);
  if (route === undefined) return fail(d, 'no_route', norm.path);
  const config = route.config;
  d.routePath = config.path;
  d.route = route;
  // 5. The certificate, checked against the CRLs in force now (cached per connection per trust generation).
  if (rt.clientAuth !== null && rt.trust !== null) {
    d.verdict = connectionVerdict(state, rt.trust, rt.clientAuth, now);
    // a trusted gateway in front (its own certificate verified and matched): its X-Client-* headers name the client
    const hop = d.verdict.identity;
    if (rt.identityHops !== null && hop !== null && rt.identityHops.some((rule) => rule.matches(hop, state.ip))) {
      d.verdict = forwardedVerdict(scan.identity, scan.identityRepeated, hop, rt.trust, now);
      d.forwarded = { sent: scan.identity, repeated: scan.identityRepeated };
    }
  }
  // 6. Authorization: only a verified, unrevoked identity is ever looked at.
  const decision = authorize(route, { identity: d.verdict.identity, verifyReason: d.verdict.reason, sourceIp: state.ip });
  d.rule = decision.rule;
  if (!decision.allowed) return fail(d, decision.reason, norm.path);
  d.target = rt.targets.get(config) ?? null;
  if (d.target === null) return fail(d, 'internal_error', norm.path);
  return d;
}

function fail<T>(d: Decision<T>, reason: ReasonCode, path: string): Decision<T> {
  d.reason = reason;
  d.path = path;
  return d;
}

// Header lists of the error pages, built once per runtime and reason (writeHead does not modify them); the cache
// lives on the runtime and goes with it on reload.
function errorHeaders(rt: ListenerRuntime, reason: ReasonCode, close: boolean): readonly string[] {
  const byReason = rt.errorHeaders;
  const key = close ? reason + ':close' : reason;
  let headers = byReason.get(key);
  if (!headers) {
    headers = [...rt.pages(reason).headers, ...rt.security.flat, ...(close ? ['connection', 'close'] : [])];
    byReason.set(key, headers);
  }
  return headers;
}

/** Sends the gateway's own error page for `reason`, with the security headers. */
export function sendError(rt: ListenerRuntime, req: ClientRequest, res: ClientResponse, reason: ReasonCode): number {
  const page = rt.pages(reason);
  if (res.headersSent) {
    (res as ServerResponse).destroy();
    return page.status;
  }
  // a malformed HTTP/1.1 request may have left the stream in an unknown state, and a refused body is still on its
  // way: do not reuse the connection
  const close = (page.status === 400 || page.status === 413) && req.httpVersionMajor === 1;
  try {
    // a writeHead that threw (an upstream head Node refused) leaves its fields on the response: start from none
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    (res as ServerResponse).writeHead(page.status, errorHeaders(rt, reason, close) as string[]);
    (res as ServerResponse).end(req.method === 'HEAD' ? undefined : page.body);
  } catch {
    // not even the page could be written: reset the stream (HTTP/2) or close the connection rather than leave the
    // client waiting (a reset without an error code would read as a clean end on HTTP/2)
    const stream = (res as Http2ServerResponse).stream;
    if (stream !== undefined) stream.close(H2_INTERNAL_ERROR);
    else (res as ServerResponse).destroy();
  }
  return page.status;
}

/** Answers with the error page for `reason` and records the request (status and page bytes). */
export function answerError(deps: HandlerDeps, rt: ListenerRuntime, req: ClientRequest, res: ClientResponse, d: Decision, reason: ReasonCode, start: number): void {
  d.reason = reason;
  const status = sendError(rt, req, res, reason);
  record(deps, rt, req, d, status, req.method === 'HEAD' ? 0 : rt.pages(reason).body.length, start);
}

// Label strings, made once rather than per request.
const STATUS_TEXT: Record<number, string> = {};
for (let s = 100; s < 600; s++) STATUS_TEXT[s] = String(s);
const STATUS_CLASS = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** Writes the access line and updates the request metrics. */
export function record(deps: HandlerDeps, rt: ListenerRuntime, req: ClientRequest, d: Decision, status: number, bytes: number, start: number): void {
  const seconds = (performance.now() - start) / 1000;
  deps.metrics.requests.inc(STATUS_TEXT[status] ?? String(status), d.reason ?? '');
  deps.metrics.requestDuration.observe(STATUS_CLASS[Math.floor(status / 100)] ?? 'other', seconds);
  if (!deps.accessLog) return;
  const presented = d.verdict.presented ?? d.state.presented;
  writeFlat(deps.accessLogger, {
    event: 'access',
    ip: d.state.ip,
    sni: d.state.servername,
    host: d.host,
    method: req.method,
    path: d.path.length > 1024 ? d.path.slice(0, 1024) : d.path,
    proto: req.httpVersionMajor === 2 ? 'h2' : 'h1',
    status,
    bytes,
    duration_ms: Math.round(seconds * 1e6) / 1000,
    subject: presented?.subject,
    serial: presented?.serial,
    verify: d.verdict === NO_CLIENT_AUTH && d.state.tlsReason !== 'no_certificate' ? undefined : d.verdict.verify,
    route: d.routePath,
    upstream: d.target?.upstream.origin,
    reason: d.reason ?? undefined,
    listen: rt.listen,
  });
}

/**
 * The Host the upstream gets (and X-Forwarded-Host): the client's; for a request that had none (HTTP/1.0), the name
 * it connected to (SNI) or else the listener address it reached, as nginx's $host falls back to the server name.
 * Never empty: an HTTP/1.1 upstream must refuse an empty Host for an origin-form request (RFC 9112 §3.2).
 */
export function upstreamHost(d: Decision, req: ClientRequest): string {
  if (d.host !== undefined) return d.host;
  if (d.state.servername !== null) return d.state.servername;
  const local = unmapIp(req.socket.localAddress);
  return local.includes(':') ? `[${local}]` : local;
}

/**
 * Handles one request (HTTP/1.1 `request` event or an HTTP/2 stream through the compatibility API). `conn`: the
 * registry entry when the caller already looked it up (server.ts does, for its per-connection counts).
 */
export function handleRequest(rt: ListenerRuntime, deps: HandlerDeps, req: ClientRequest, res: ClientResponse, conn = connectionOf(deps, req)): void {
  const start = performance.now();
  const state = stateOf(rt, conn, req);
  const d = decide(rt, state, req.rawHeaders, req.url, Date.now(), req.httpVersion === '1.1', req.httpVersionMajor === 2);
  if (d.reason !== null || d.target === null) {
    answerError(deps, rt, req, res, d, d.reason ?? 'internal_error', start);
    return;
  }
  const target = d.target;
  // a declared body over the route's limit is refused before anything reaches the upstream
  if (target.maxBodySize !== undefined && d.scan.hasBody) {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > target.maxBodySize) {
      deps.registry.hit('body_size', state.ip);
      answerError(deps, rt, req, res, d, 'body_too_large', start);
      return;
    }
  }
  const host = upstreamHost(d, req);
  const headers = d.scan.forward;
  headers.push(
    'host', target.hostHeader ?? host,
    'x-forwarded-for', d.scan.xff === undefined ? state.ip : `${d.scan.xff}, ${state.ip}`,
    'x-forwarded-proto', rt.scheme,
    'x-forwarded-host', host,
    'x-real-ip', state.ip,
  );
  const identity = d.verdict.headers;
  for (let i = 0; i < identity.length; i++) headers.push(identity[i]);
  const route = d.route!;
  // work that rests on a verified identity is registered, so a trust change can cut it (public routes need none)
  let unbind: (() => void) | undefined;
  const cut = proxyHttp({
    req,
    res,
    upstream: target.upstream,
    method: req.method ?? 'GET',
    path: upstreamPath(target.paths, d.path) + d.query,
    headers,
    hasBody: d.scan.hasBody || (req.httpVersionMajor === 2 && !(req as Http2ServerRequest).stream.endAfterHeaders),
    readTimeoutMs: target.readTimeoutMs,
    maxBodySize: target.maxBodySize,
    defer: req.httpVersionMajor === 2,
    response: {
      owned: rt.security.owned,
      extra: rt.security.flat,
      rewriteLocation: target.rewriteLocation ? locationRewriter(target.upstream.origin, `${rt.scheme}://${host}`, host, target.paths, target.hostHeader) : undefined,
    },
    limit(which) {
      deps.registry.hit(which, state.ip);
    },
    duplicates(names) {
      deps.logger.debug({ event: 'proxy.duplicate_header', upstream: target.upstream.origin, names, path: d.path }, 'repeated single-value response fields: first kept');
    },
    fail(reason, err) {
      unbind?.();
      const { kind } = reasonForUpstreamError(err);
      if (reason === 'body_too_large') {
        // the client's body outgrew the route's limit: not the upstream's failure
        deps.logger.info({ event: 'http.client_error', reason, code: (err as { code?: string }).code, ip: state.ip, listen: rt.listen }, 'malformed request refused');
        answerError(deps, rt, req, res, d, reason, start);
        return;
      }
      deps.metrics.upstreamErrors.inc({ upstream: target.upstream.origin, kind });
      // a full queue is a flood's doing: counted and in the access line, not one warning per refused request
      if (kind !== 'busy') deps.logger.warn({ event: 'proxy.upstream_error', upstream: target.upstream.origin, kind, code: (err as { code?: string }).code, err: errMessage(err), path: d.path }, 'upstream request failed');
      answerError(deps, rt, req, res, d, reason, start);
    },
    done(status, bytes, err) {
      unbind?.();
      if (err) {
        deps.logger.warn({ event: 'proxy.upstream_error', upstream: target.upstream.origin, kind: 'aborted', err: errMessage(err), path: d.path }, 'response cut short');
      }
      record(deps, rt, req, d, status, bytes, start);
    },
  });
  if (conn !== undefined && !route.config.public && d.verdict.identity !== null) {
    unbind = deps.registry.bind(conn, { route, kind: 'request', close: cut, forwarded: d.forwarded });
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
