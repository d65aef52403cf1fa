// Where a request goes on the upstream: the URL's base path joined with the request path (with the route prefix
// stripped when asked), and the way back for Location headers. Pure functions, table-tested.
import type { RouteConfig } from '../../config/schema.ts';

/** How one route maps request paths to upstream paths. */
export interface PathMapping {
  /** The upstream URL's path ("/" when it has none), as configured. */
  base: string;
  /** The route's path prefix (normalized, as the route matcher compares it). */
  prefix: string;
  /** Remove `prefix` from the request path before joining. */
  strip: boolean;
}

/** True when the mapping sends every path unchanged (no base path, no strip). */
export function isIdentity(m: PathMapping): boolean {
  return (m.base === '/' || m.base === '') && (!m.strip || m.prefix === '/');
}

/** `a` and `b` joined with exactly one "/" between them; an empty `b` leaves `a` as it is ("/" when both are empty). */
export function joinPath(a: string, b: string): string {
  if (b === '') return a === '' ? '/' : a;
  const left = a.replace(/\/+$/, '');
  const right = b.replace(/^\/+/, '');
  return `${left}/${right}`;
}

/** `path` without the route prefix `prefix` (a whole-segment prefix of it, as route matching guarantees). */
export function stripPrefix(path: string, prefix: string): string {
  const p = prefix.replace(/\/+$/, '');
  if (p === '') return path;
  if (path === p) return '';
  if (path.startsWith(p + '/')) return path.slice(p.length);
  return path;
}

/** The path sent upstream for the normalized request path `path` (no query: the caller appends it unchanged). */
export function upstreamPath(m: PathMapping, path: string): string {
  if (isIdentity(m)) return path;
  return joinPath(m.base, m.strip ? stripPrefix(path, m.prefix) : path);
}

/**
 * The inverse of upstreamPath for a path the upstream named (a Location): the public path, or undefined when
 * `path` lies outside the base path (no public address leads there).
 */
export function publicPath(m: PathMapping, path: string): string | undefined {
  if (isIdentity(m)) return path;
  const base = m.base.replace(/\/+$/, '');
  let rest: string;
  if (base === '') rest = path;
  else if (path === base || path === base + '/') rest = path.slice(base.length);
  else if (path.startsWith(base + '/')) rest = path.slice(base.length);
  else return undefined;
  if (!m.strip) return rest === '' ? '/' : rest;
  return joinPath(m.prefix, rest);
}

/** A route's mapping: the upstream URL's base path ("/" when none), the route's path, and its `stripPrefix`. */
export function pathMappingOf(route: Pick<RouteConfig, 'path' | 'upstream'>): PathMapping {
  const url = typeof route.upstream === 'string' ? route.upstream : route.upstream.url;
  const base = /^https?:\/\/[^/]+(\/.*)?$/.exec(url)?.[1] ?? '/';
  return { base, prefix: route.path, strip: typeof route.upstream === 'string' ? false : route.upstream.stripPrefix };
}
