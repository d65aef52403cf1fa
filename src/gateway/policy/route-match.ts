// Virtual hosts and routes: pick the site from Host (checked against SNI) and the route by longest segment prefix. Pure.
import { ConfigError } from '../../core/errors.ts';
import type { RouteConfig, ServerConfig, SiteConfig } from '../../config/schema.ts';
import { normalizeRoutePath, routeKey } from './path.ts';
import { compileRules, type CompiledPolicy } from './policy.ts';

export interface CompiledRoute {
  /** The route's path from the config, normalized ("/admin", "/caf%C3%A9/"). */
  path: string;
  /** What it matches on: routeKey of `path` without a trailing "/" ("/" stays "/"). */
  key: string;
  /** Where it is in the config, for logs and explain: "servers[0].sites[1].routes[2]". */
  label: string;
  config: RouteConfig;
  policy: CompiledPolicy;
}

export interface CompiledSite {
  index: number;
  label: string;
  /** Host patterns, lower-cased: exact names, "*.example.com" (one label) or "*" (any). */
  hosts: string[];
  config: SiteConfig;
  /** Longest key first, so the first match is the longest prefix. */
  routes: CompiledRoute[];
}

export interface CompiledServer {
  config: ServerConfig;
  sites: CompiledSite[];
  exact: Map<string, CompiledSite>;
  /** "*.example.com" stored under "example.com". */
  wildcards: Map<string, CompiledSite>;
  catchAll: CompiledSite | undefined;
}

export type SiteSelection = { site: CompiledSite } | { reason: 'unknown_host' | 'misdirected' };

function compileRoute(route: RouteConfig, label: string): CompiledRoute {
  const normalized = normalizeRoutePath(route.path);
  if (!normalized.ok) throw new ConfigError('CG_CONFIG_INVALID', `${label}.path "${route.path}": ${normalized.detail}`);
  const key = routeKey(normalized.path);
  return {
    path: normalized.path,
    key: key.length > 1 && key.endsWith('/') ? key.slice(0, -1) : key,
    label,
    config: route,
    policy: compileRules(route, label),
  };
}

function compileSite(site: SiteConfig, index: number, label: string): CompiledSite {
  const routes = site.routes.map((r, i) => compileRoute(r, `${label}.routes[${i}]`));
  const seen = new Map<string, string>();
  for (const r of routes) {
    const other = seen.get(r.key);
    if (other) throw new ConfigError('CG_CONFIG_INVALID', `${r.label}.path "${r.config.path}" matches the same requests as ${other}; merge the two routes`);
    seen.set(r.key, r.label);
  }
  routes.sort((a, b) => b.key.length - a.key.length);
  return { index, label, hosts: site.hosts.map((h) => normalizeHostName(h)), config: site, routes };
}

/**
 * Compiles one server's sites and routes, once per config load. Accepts the normalized config (`sites` only) and,
 * for robustness, a raw one whose `routes` shorthand becomes a site with hosts ["*"]. `where` labels errors.
 */
export function compileServer(server: ServerConfig, where = 'servers[0]'): CompiledServer {
  // the raw schema output may still carry the `routes` shorthand; the normalized config never does
  const raw = server as { sites?: SiteConfig[]; routes?: RouteConfig[] };
  const siteConfigs: SiteConfig[] = [...(raw.sites ?? [])];
  if (raw.routes && raw.routes.length > 0) siteConfigs.push({ hosts: ['*'], routes: raw.routes });
  const sites = siteConfigs.map((s, i) => compileSite(s, i, raw.sites && i < raw.sites.length ? `${where}.sites[${i}]` : where));
  const cs: CompiledServer = { config: server, sites, exact: new Map(), wildcards: new Map(), catchAll: undefined };
  for (const site of sites) {
    for (const host of site.hosts) {
      // the first site naming a host wins; the config loader reports duplicates
      if (host === '*') cs.catchAll ??= site;
      else if (host.startsWith('*.')) { if (!cs.wildcards.has(host.slice(2))) cs.wildcards.set(host.slice(2), site); }
      else if (!cs.exact.has(host)) cs.exact.set(host, site);
    }
  }
  return cs;
}

/** Lower case, no trailing dot. */
function normalizeHostName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * The host name of a Host header (or :authority): port removed, lower-cased, trailing dot removed, IPv6 brackets
 * kept off ("[::1]:8443" -> "::1"). Undefined when it is not a plausible host.
 */
export function hostFromHeader(host: string): string | undefined {
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/.exec(host);
  if (v6) return v6[1].toLowerCase();
  const m = /^([A-Za-z0-9_.-]+)(?::\d{1,5})?$/.exec(host);
  if (!m || m[1] === '' || m[1].startsWith('.')) return undefined;
  return normalizeHostName(m[1]);
}

/** The site serving `name` (already normalized): exact name, then "*.parent" (one label), then "*". */
export function findSite(cs: CompiledServer, name: string): CompiledSite | undefined {
  const exact = cs.exact.get(name);
  if (exact) return exact;
  const dot = name.indexOf('.');
  if (dot > 0) {
    const wild = cs.wildcards.get(name.slice(dot + 1));
    if (wild) return wild;
  }
  return cs.catchAll;
}

/**
 * Picks the site for a request. The Host header decides (case-insensitive, port ignored); with SNI present it must
 * select the same site, else `misdirected` (421), so a TLS session opened for one site never reaches another. No
 * site for the Host: `unknown_host` (403). Without a Host header the SNI's site (or the catch-all) serves.
 */
export function selectSite(cs: CompiledServer, host: string | undefined, sni: string | null): SiteSelection {
  const sniSite = sni ? findSite(cs, normalizeHostName(sni)) : undefined;
  if (host === undefined || host === '') {
    const site = sni ? sniSite : cs.catchAll;
    return site ? { site } : { reason: 'unknown_host' };
  }
  const name = hostFromHeader(host);
  const site = name === undefined ? undefined : findSite(cs, name);
  if (!site) return { reason: 'unknown_host' };
  if (sni && sniSite !== site) return { reason: 'misdirected' };
  return { site };
}

/**
 * The route for a normalized path: prefix on whole segments, longest wins ("/admin" matches "/admin", "/admin/"
 * and "/admin/x", never "/administrator"). Path parameters are ignored for matching ("/admin;x" is "/admin").
 * Case-sensitive, as nginx. Undefined: no route (404).
 */
export function matchRoute(site: CompiledSite, normalizedPath: string): CompiledRoute | undefined {
  const key = routeKey(normalizedPath);
  for (const route of site.routes) {
    if (route.key === '/' || key === route.key || key.startsWith(route.key + '/')) return route;
  }
  return undefined;
}
