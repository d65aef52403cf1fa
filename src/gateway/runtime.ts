// Compiles one listener's config into what the hot path reads: routes, pools, trust, TLS, pages, headers.
// Built whole on start and on reload, then swapped in with one assignment, so a request sees one config.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../core/errors.ts';
import { parseDuration } from '../core/duration.ts';
import { parseSize } from '../core/size.ts';
import type { RouteConfig, ServerConfig, SiteConfig } from '../config/schema.ts';
import { compileServer } from './policy/route-match.ts';
import type { CompiledServer } from './policy/route-match.ts';
import { loadTrust } from './tls/trust.ts';
import type { CrlData, Trust } from './tls/trust.ts';
import { CidrSet, parseCidr } from './policy/cidr.ts';
import { buildSecurityHeaders } from './http/security-headers.ts';
import type { SecurityHeaderSet } from './http/security-headers.ts';
import { createErrorPages } from './http/error-page.ts';
import type { ErrorPages } from './http/error-page.ts';
import { buildTlsMaterial } from './tls/tls-context.ts';
import type { TlsMaterial } from './tls/tls-context.ts';
import type { UpstreamPools, Upstream, UpstreamTlsOptions } from './upstream/upstream-pool.ts';
import { tlsOptionsOf } from './upstream/upstream-pool.ts';
import { pathMappingOf } from './upstream/upstream-path.ts';
import type { PathMapping } from './upstream/upstream-path.ts';
import type { ClientAuthPolicy } from './tls/connection-identity.ts';
import type { ConnectionLimits } from './listener/connection-registry.ts';
import { compileRules } from './policy/policy.ts';
import type { CompiledPolicy, CompiledRule } from './policy/policy.ts';

/** TCP mode (`tcp:`): the one upstream every allowed connection is piped to, and its access policy. */
export interface TcpTarget {
  /** Route-like, so a tunnel is BoundWork the listener's recheck re-authorizes like any request. */
  route: { policy: CompiledPolicy; label: string };
  /** server: TLS listener, client certificate checked, then the pipe; client: plain local port, TLS to the upstream. */
  direction: 'server' | 'client';
  host: string;
  port: number;
  /** "host:port", for logs and metrics. */
  upstream: string;
  connectTimeoutMs: number;
  idleMs: number;
  /** TLS towards the upstream (files read when the config is compiled); null: plain TCP. */
  tls: UpstreamTlsOptions | null;
  /**
   * The TLS session of the last upstream connection, offered on the next one (resumption). Owned by this target:
   * a reload compiles a new target with an empty cache; proxy-tcp.ts drops the session when a connection fails.
   */
  sessions: { last: Buffer | undefined };
  /** Send a PROXY protocol v2 header before the client's bytes. */
  proxyProtocol: boolean;
}

/** What a matched route needs at request time. */
export interface RouteTarget {
  upstream: Upstream;
  /** Request path to upstream path (the URL's base path, `stripPrefix`); see upstream-path.ts. */
  paths: PathMapping;
  /** Host header sent upstream: `upstream.host`, else `tls.servername`; undefined: the client's Host. */
  hostHeader: string | undefined;
  readTimeoutMs: number;
  websocket: boolean;
  rewriteLocation: boolean;
  /** Bytes; undefined: unlimited. */
  maxBodySize: number | undefined;
}

export interface ListenerRuntime {
  config: ServerConfig;
  listen: string;
  host: string;
  port: number;
  tls: boolean;
  /** "https" or "http", for X-Forwarded-Proto and Location rewriting. */
  scheme: 'https' | 'http';
  compiled: CompiledServer;
  /** null when no client certificate is requested (no clientAuth, mode off, or a plain listener). */
  clientAuth: ClientAuthPolicy | null;
  /** `trustIdentityHeadersFrom`: the peers whose X-Client-* headers are taken as the client's identity; null: none. */
  /** proxyProtocol: the load balancers that must send a PROXY header, and how long they may take; null when off. */
  proxyFrom: { from: CidrSet; timeoutMs: number } | null;
  identityHops: CompiledRule[] | null;
  /** Mutable: replaced when CRLs are re-read (a new object = a new generation for the per-connection caches). */
  trust: Trust | null;
  tlsMaterial: TlsMaterial | null;
  security: SecurityHeaderSet;
  pages: ErrorPages;
  targets: Map<RouteConfig, RouteTarget>;
  redirectPort: number | undefined;
  maxHeaderSize: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
  tunnelIdleMs: number;
  /** What the listener's connection registry enforces (read each time, so a reload changes it in place). */
  limits: ConnectionLimits;
  http2Streams: number;
  /** TCP mode: set on a `tcp:` server, whose handler pipes bytes instead of speaking HTTP. */
  tcp: TcpTarget | null;
  /** Error-page header lists by reason, filled on first use (request-handler.ts); dropped with the runtime. */
  errorHeaders: Map<string, readonly string[]>;
}

/** Splits "host:port" / "[v6]:port". */
export function splitListen(listen: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen);
  if (!m) throw new ConfigError('CG_CONFIG_INVALID', `listen address ${listen} is not host:port`);
  return { host: m[1], port: Number(m[2]) };
}

function ms(text: string, what: string): number {
  const v = parseDuration(text);
  if (v === undefined) throw new ConfigError('CG_CONFIG_INVALID', `${what}: "${text}" is not a duration`);
  return v;
}

/** `server.sites`, or the `routes` shorthand folded into one catch-all site (load.ts normally did this already). */
export function sitesOf(server: ServerConfig): SiteConfig[] {
  if (server.sites && server.sites.length > 0) return server.sites;
  return server.routes && server.routes.length > 0 ? [{ hosts: ['*'], routes: server.routes }] : [];
}

export function loadClientTrust(server: ServerConfig, crlData?: CrlData): Trust | null {
  const ca = server.clientAuth;
  if (!ca || ca.mode === 'off' || !server.tls) return null;
  return loadTrust(ca, crlData);
}

/** How the listener treats client certificates; null when it never asks for one. */
export function clientAuthPolicy(config: ServerConfig, trust: Trust | null): ClientAuthPolicy | null {
  return trust && config.clientAuth
    ? { mode: config.clientAuth.mode, verifyDepth: config.clientAuth.verifyDepth, staleCrl: config.clientAuth.staleCrl }
    : null;
}

/** The compiled `trustIdentityHeadersFrom` rules of a server; null when it has none. */
export function compileIdentityHops(config: ServerConfig, where: string): CompiledRule[] | null {
  const rules = config.trustIdentityHeadersFrom;
  return rules && rules.length > 0 ? compileRules({ allow: rules }, `${where}.trustIdentityHeadersFrom`).allow : null;
}

/** Compiles one listener. Throws ConfigError on unreadable files or inconsistent TLS material. */
export function compileListener(input: ServerConfig, pools: UpstreamPools, crlData?: CrlData): ListenerRuntime {
  const config: ServerConfig = { ...input, sites: sitesOf(input), routes: undefined };
  const { host, port } = splitListen(config.listen);
  const tls = config.tls !== undefined;
  const trust = loadClientTrust(config, crlData);
  const clientAuth = clientAuthPolicy(config, trust);
  const tlsMaterial = tls ? buildTlsMaterial(config, trust ? trust.caPems.join('') : undefined, clientAuth?.mode ?? 'off') : null;
  let template: string | undefined;
  if (config.errorPage) {
    try {
      template = readFileSync(config.errorPage, 'utf8');
    } catch (err) {
      throw new ConfigError('CG_CONFIG_FILE', `cannot read errorPage ${config.errorPage} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, undefined, { cause: err });
    }
  }
  const targets = new Map<RouteConfig, RouteTarget>();
  for (const site of config.sites ?? []) {
    for (const route of site.routes) {
      targets.set(route, {
        upstream: pools.get(route.upstream, ms(route.timeouts.connect, 'timeouts.connect')),
        paths: pathMappingOf(route),
        hostHeader: typeof route.upstream === 'string' ? undefined : route.upstream.host ?? route.upstream.tls?.servername,
        readTimeoutMs: ms(route.timeouts.read, 'timeouts.read'),
        websocket: route.websocket,
        rewriteLocation: route.rewriteLocation,
        maxBodySize: route.maxBodySize === undefined ? undefined : parseSize(route.maxBodySize),
      });
    }
  }
  return {
    config,
    listen: config.listen,
    host,
    port,
    tls,
    scheme: tls ? 'https' : 'http',
    compiled: compileServer(config),
    clientAuth,
    identityHops: compileIdentityHops(config, config.listen),
    proxyFrom: config.proxyProtocol
      ? { from: new CidrSet(config.proxyProtocol.from.map((c) => parseCidr(c)!)), timeoutMs: ms(config.proxyProtocol.timeout, 'proxyProtocol.timeout') }
      : null,
    trust,
    tlsMaterial,
    security: buildSecurityHeaders(config.securityHeaders, tls),
    pages: createErrorPages(template),
    targets,
    redirectPort: config.redirectToHttps,
    maxHeaderSize: config.maxHeaderSize,
    headerTimeoutMs: ms(config.timeouts.header, 'timeouts.header'),
    idleTimeoutMs: ms(config.timeouts.idle, 'timeouts.idle'),
    handshakeTimeoutMs: ms(config.timeouts.handshake, 'timeouts.handshake'),
    tunnelIdleMs: ms(config.timeouts.tunnelIdle, 'timeouts.tunnelIdle'),
    limits: {
      connections: config.limits.connections,
      connectionsPerIp: config.limits.connectionsPerIp,
      handshakeMs: ms(config.timeouts.handshake, 'timeouts.handshake'),
      lifetimeMs: ms(config.timeouts.lifetime, 'timeouts.lifetime'),
      requestsPerConnection: config.limits.requestsPerConnection,
      // a browser cancels a few streams when a page changes; hundreds in seconds is the rapid-reset attack
      resetsPer10s: Math.max(200, 2 * config.limits.http2Streams),
    },
    http2Streams: config.limits.http2Streams,
    tcp: config.tcp ? compileTcp(config, ms(config.timeouts.tunnelIdle, 'timeouts.tunnelIdle')) : null,
    errorHeaders: new Map(),
  };
}

function compileTcp(config: ServerConfig, tunnelIdleMs: number): TcpTarget {
  const tcp = config.tcp!;
  const label = `${config.listen} tcp`;
  // normalize.ts gives {address, tls?}; the string form (and tcp.tls) is read too for configs built in code
  const { address, tls } = typeof tcp.upstream === 'string' ? { address: tcp.upstream, tls: tcp.tls } : tcp.upstream;
  const { host, port } = splitListen(address);
  return {
    route: { policy: compileRules({ allow: tcp.allow, deny: tcp.deny }, label), label },
    direction: config.tls ? 'server' : 'client',
    host,
    port,
    upstream: address,
    connectTimeoutMs: ms(tcp.timeouts.connect, 'tcp.timeouts.connect'),
    idleMs: tcp.timeouts.idle === undefined ? tunnelIdleMs : ms(tcp.timeouts.idle, 'tcp.timeouts.idle'),
    tls: tls ? tlsOptionsOf(tls, host) : null,
    sessions: { last: undefined },
    proxyProtocol: tcp.proxyProtocol === 'v2',
  };
}
