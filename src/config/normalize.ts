// Normalizes a validated config for consumers: absolute paths, routes folded into sites, crl a list, one tcp shape. Pure.
import { resolve } from 'node:path';
import type { ClientAuthConfig, GatewayConfig, RouteConfig, ServerConfig, SiteConfig, TcpModeConfig, UpstreamTlsConfig } from './schema.ts';
import { isCrlUrl } from './schema.ts';

function route(r: RouteConfig, abs: (p: string) => string): RouteConfig {
  if (typeof r.upstream === 'string' || !r.upstream.tls) return r;
  return { ...r, upstream: { ...r.upstream, tls: upstreamTls(r.upstream.tls, abs) } };
}

function upstreamTls(t: UpstreamTlsConfig, abs: (p: string) => string): UpstreamTlsConfig {
  const tls = { ...t };
  if (tls.ca) tls.ca = abs(tls.ca);
  if (tls.cert) tls.cert = abs(tls.cert);
  if (tls.key) tls.key = abs(tls.key);
  if (tls.p12) tls.p12 = abs(tls.p12);
  if (tls.passwordFile) tls.passwordFile = abs(tls.passwordFile);
  return tls;
}

/**
 * TCP mode in its one internal shape: `upstream` always {address, tls?} (tls from upstream.tls, or the older
 * top-level tcp.tls; semantics.ts refuses both at once), and no top-level `tls`.
 */
function tcp(t: TcpModeConfig, abs: (p: string) => string): TcpModeConfig {
  const { tls: legacy, upstream, ...rest } = t;
  const address = typeof upstream === 'string' ? upstream : upstream.address;
  const tls = (typeof upstream === 'string' ? undefined : upstream.tls) ?? legacy;
  return { ...rest, upstream: tls ? { address, tls: upstreamTls(tls, abs) } : { address } };
}

function server(s: ServerConfig, abs: (p: string) => string): ServerConfig {
  const { routes, sites, clientAuth, ...rest } = s;
  const allSites: SiteConfig[] = sites ?? (routes ? [{ hosts: ['*'], routes }] : []);
  const out: ServerConfig = {
    ...rest,
    sites: allSites.map((site) => {
      const copy: SiteConfig = { ...site, routes: site.routes.map((r) => route(r, abs)) };
      if (site.tls) copy.tls = { ...site.tls, cert: abs(site.tls.cert), key: abs(site.tls.key) };
      return copy;
    }),
  };
  if (s.tls) out.tls = { ...s.tls, cert: abs(s.tls.cert), key: abs(s.tls.key) };
  if (s.errorPage) out.errorPage = abs(s.errorPage);
  if (s.tcp) out.tcp = tcp(s.tcp, abs);
  if (clientAuth) {
    const crl = clientAuth.crl === undefined ? [] : Array.isArray(clientAuth.crl) ? clientAuth.crl : [clientAuth.crl];
    // URLs stay as they are; files (and a URL's fallback file) become absolute
    const entries = crl.map((e) => (typeof e !== 'string' ? { ...e, ...(e.fallback ? { fallback: abs(e.fallback) } : {}) } : isCrlUrl(e) ? e : abs(e)));
    const ca: ClientAuthConfig = { ...clientAuth, ca: abs(clientAuth.ca), crl: entries };
    out.clientAuth = ca;
  }
  return out;
}

/**
 * The config as every consumer reads it: file paths (pidFile and log.file too) resolved against `baseDir` (the config
 * file's directory), `server.routes` folded into `server.sites` as one site with hosts ["*"], `clientAuth.crl` a list,
 * `tcp.upstream` always {address, tls?} (see `tcp` above).
 * `sites` is empty only on a redirectToHttps or tcp: server, which never route.
 */
export function normalizeConfig(config: GatewayConfig, baseDir: string): GatewayConfig {
  const abs = (p: string) => resolve(baseDir, p);
  const out: GatewayConfig = { ...config, servers: config.servers.map((s) => server(s, abs)) };
  if (config.pidFile) out.pidFile = abs(config.pidFile);
  if (config.stateDir) out.stateDir = abs(config.stateDir);
  if (config.log.file) out.log = { ...config.log, file: abs(config.log.file) };
  return out;
}
