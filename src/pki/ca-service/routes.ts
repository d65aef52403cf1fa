// Where `ca serve` answers what: the path table built from the CAs' base paths, and exact-match lookup. Pure.
import { PkiError } from '../../core/errors.ts';
import { PUBLISHED_FILES } from '../ca-url.ts';
import type { PublishedFile } from './published.ts';

/** The service's own endpoints (docs/crl-distribution.md). */
export const SERVICE_PATHS = { health: '/healthz', metrics: '/metrics' } as const;

export interface RoutedCa {
  /** A label for logs and metrics (the CA's name). */
  name: string;
  /** The CA directory, for messages. */
  dir: string;
  /** The path of its base URL ("/issuing/"), or undefined when it has none. */
  basePath: string | undefined;
}

export type Route =
  | { kind: 'file'; ca: number; file: PublishedFile }
  | { kind: 'health' }
  | { kind: 'metrics' };

export interface RouteTable {
  /** Exact request path → route. */
  paths: ReadonlyMap<string, Route>;
  /** The base path each CA is served under, in the order given. */
  basePaths: string[];
}

const FILES = Object.values(PUBLISHED_FILES) as PublishedFile[];

/**
 * Places each CA under its base path ("/" for the one CA without a URL when it is alone). CG_CA_SERVE_CONFLICT for
 * two CAs on one path, a CA without a URL among several, or a CA path that would shadow /healthz or /metrics when
 * `serviceOnMain` (they share the listener).
 */
export function buildRouteTable(cas: readonly RoutedCa[], serviceOnMain: boolean): RouteTable {
  const paths = new Map<string, Route>();
  const basePaths: string[] = [];
  const owner = new Map<string, RoutedCa>();
  cas.forEach((ca, i) => {
    if (ca.basePath === undefined && cas.length > 1) {
      throw new PkiError('CG_CA_SERVE_CONFLICT', `the CA in ${ca.dir} has no base URL, and only a lone CA can be served at /`, {
        hint: `give it one: certgate ca set-url http://HOST:PORT/NAME/ --dir ${ca.dir}`,
      });
    }
    const base = ca.basePath ?? '/';
    const taken = owner.get(base);
    if (taken) {
      throw new PkiError('CG_CA_SERVE_CONFLICT', `the CAs in ${taken.dir} and ${ca.dir} both have the base path ${base}`, {
        hint: 'give each CA its own path with: certgate ca set-url URL --dir DIR',
      });
    }
    owner.set(base, ca);
    basePaths.push(base);
    for (const file of FILES) paths.set(base + file, { kind: 'file', ca: i, file });
  });
  if (serviceOnMain) {
    for (const [kind, path] of [['health', SERVICE_PATHS.health], ['metrics', SERVICE_PATHS.metrics]] as const) {
      const clash = basePaths.find((b) => b === path + '/' || b.startsWith(path + '/'));
      if (clash !== undefined) {
        throw new PkiError('CG_CA_SERVE_CONFLICT', `the base path ${clash} collides with the service's own ${path}`, {
          hint: 'choose another base URL, or move /healthz and /metrics to their own listener with --metrics HOST:PORT',
        });
      }
      paths.set(path, { kind });
    }
  }
  return { paths, basePaths };
}

/** The route of a request target ("/issuing/crl.pem?wait=25"); undefined for anything not in the table. */
export function routeOf(table: RouteTable, target: string): Route | undefined {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  return table.paths.get(path);
}

/** The `wait` query parameter in whole seconds, capped at `max`; 0 when absent, malformed or not positive. Pure. */
export function waitSeconds(target: string, max: number): number {
  const q = target.indexOf('?');
  if (q === -1) return 0;
  const raw = new URLSearchParams(target.slice(q + 1)).get('wait');
  if (raw === null || !/^\d{1,6}$/.test(raw)) return 0;
  return Math.min(Number(raw), max);
}
