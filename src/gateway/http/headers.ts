// Header hygiene for the proxy: one pass over the client's headers (identity headers stripped first, hop-by-hop
// removed per RFC 9110 §7.6.1) and one pass over the upstream's response headers (hop-by-hop removed, one copy of
// each single-value field). Pure.

import { isIdentity, publicPath } from '../upstream/upstream-path.ts';
import type { PathMapping } from '../upstream/upstream-path.ts';

/** The identity headers certgate sets; any the client sends are deleted, whatever their case or count. */
export const IDENTITY_HEADERS = [
  'x-client-verify', 'x-client-subject', 'x-client-issuer', 'x-client-serial', 'x-client-fingerprint', 'x-client-cert',
  'x-client-hop-subject',
] as const;

/** Connection-specific fields (RFC 9110 §7.6.1, RFC 9113 §8.2.2) plus the proxy-auth pair meant for a proxy, not the app. */
export const HOP_BY_HOP = [
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authenticate', 'proxy-authorization', 'http2-settings',
] as const;

/** Client-sent headers that claim what only the edge knows (address, scheme, host, port, path); always dropped. */
export const FORWARDING_SPOOFS = [
  'forwarded', 'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-scheme', 'x-forwarded-ssl', 'front-end-https',
  'x-original-url', 'x-rewrite-url', 'true-client-ip', 'x-client-ip', 'x-cluster-client-ip',
] as const;

// What the request scan does with each header name (lowercase). Absent => forward as is.
const DROP = 1;
const HOST = 2;
const XFF = 3;
const CONNECTION = 4;
const TRANSFER_ENCODING = 5;
const CONTENT_LENGTH = 6;
const COOKIE = 7;
const UPGRADE = 8;
const IDENTITY = 9;

const REQUEST_ACTIONS = new Map<string, number>([
  ...IDENTITY_HEADERS.map((h) => [h, IDENTITY] as [string, number]),
  ...HOP_BY_HOP.map((h) => [h, DROP] as [string, number]),
  // set by the gateway from what it knows, never taken from the client
  ['x-real-ip', DROP], ['x-forwarded-proto', DROP], ['x-forwarded-host', DROP],
  // The same facts in other spellings, and path overrides (Symfony, IIS-fronted apps take X-Original-URL as the
  // path, past the route the gateway matched). certgate terminates the client's TLS: nothing in front of it set these.
  ...FORWARDING_SPOOFS.map((h) => [h, DROP] as [string, number]),
  // Node answers 100-continue itself; the upstream gets the body
  ['expect', DROP],
  ['host', HOST], [':authority', HOST], ['x-forwarded-for', XFF], ['connection', CONNECTION],
  ['transfer-encoding', TRANSFER_ENCODING], ['content-length', CONTENT_LENGTH], ['cookie', COOKIE], ['upgrade', UPGRADE],
]);

/** What one pass over the client's raw headers found. */
export interface RequestHeaderScan {
  /** Headers to forward, flat [name, value, ...] (original case on HTTP/1.1). */
  forward: string[];
  /** Host (HTTP/1.1) or :authority (HTTP/2); undefined when absent. */
  host: string | undefined;
  /** Number of Host fields (HTTP/1.1): more than one is a smuggling sign, answered 400. */
  hostCount: number;
  /** HTTP/2: the Host field sent beside :authority (checked to name the same host, RFC 9113 §8.3.1). */
  hostBesideAuthority: string | undefined;
  /** Incoming X-Forwarded-For values, joined with ", ". */
  xff: string | undefined;
  /** The request carries a body (content-length > 0 or transfer-encoding). */
  hasBody: boolean;
  /** Value of Upgrade, lowercased (e.g. "websocket"). */
  upgrade: string | undefined;
  /**
   * The identity headers the client sent (never forwarded), lowercase name -> first value; undefined when none.
   * Read only when the peer is a trusted hop (trustIdentityHeadersFrom); a repeated field makes `identityRepeated`.
   */
  identity: Map<string, string> | undefined;
  identityRepeated: boolean;
  /**
   * Size of the header block counted as the HTTP/1.1 parser counts it against maxHeaderSize (name, ": ", value,
   * CRLF per field), so HTTP/2 requests can be held to the same limit.
   */
  bytes: number;
}

const CONNECTION_KEEP = new Set(['close', 'keep-alive', 'upgrade']);

/**
 * Scans the client's raw header list once. HTTP/2 pseudo-headers are skipped (":authority" becomes the host) and
 * split cookie fields are joined with "; " as RFC 9113 §8.2.3 asks before forwarding over HTTP/1.1.
 */
export function scanRequestHeaders(raw: readonly string[]): RequestHeaderScan {
  const forward: string[] = [];
  let hostField: string | undefined;
  let authority: string | undefined;
  let hostCount = 0;
  let xff: string | undefined;
  let hasBody = false;
  let upgrade: string | undefined;
  let identity: Map<string, string> | undefined;
  let identityRepeated = false;
  let connectionTokens: string[] | undefined;
  let cookie: string | undefined;
  let bytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    bytes += name.length + raw[i + 1].length + 4;
    const lower = name.toLowerCase();
    const action = REQUEST_ACTIONS.get(lower);
    if (action === undefined) {
      // "X_Client_Verify" is "X-Client-Verify" to CGI-style stacks (PHP, WSGI, Rack: both become
      // HTTP_X_CLIENT_VERIFY), so underscore spellings of the names the gateway owns are dropped, as nginx drops
      // every underscore header by default; other underscore headers are the application's business.
      if (lower.charCodeAt(0) !== 58 /* ':' pseudo-header */ && !(lower.includes('_') && REQUEST_ACTIONS.has(lower.replace(/_/g, '-')))) {
        forward.push(name, raw[i + 1]);
      }
      continue;
    }
    const value = raw[i + 1];
    switch (action) {
      case DROP:
        break;
      case IDENTITY:
        identity ??= new Map();
        if (identity.has(lower)) identityRepeated = true;
        else identity.set(lower, value);
        break;
      case HOST:
        // h2 carries :authority (preferred) and maybe host; repeated Host lines are counted for the 400
        if (lower === 'host') {
          hostCount++;
          hostField ??= value;
        } else {
          authority = value;
        }
        break;
      case XFF:
        xff = xff === undefined ? value : `${xff}, ${value}`;
        break;
      case CONNECTION:
        for (const t of value.split(',')) {
          const token = t.trim().toLowerCase();
          if (token && !CONNECTION_KEEP.has(token)) (connectionTokens ??= []).push(token);
        }
        break;
      case TRANSFER_ENCODING:
        hasBody = true;
        break;
      case CONTENT_LENGTH:
        if (value !== '0') hasBody = true;
        forward.push(name, value);
        break;
      case COOKIE:
        cookie = cookie === undefined ? value : `${cookie}; ${value}`;
        break;
      case UPGRADE:
        upgrade = value.toLowerCase();
        break;
    }
  }
  if (cookie !== undefined) forward.push('cookie', cookie);
  if (connectionTokens) removeNamed(forward, new Set(connectionTokens));
  const host = authority ?? hostField;
  const hostBesideAuthority = authority !== undefined ? hostField : undefined;
  return { forward, host, hostCount, hostBesideAuthority, xff, hasBody, upgrade, identity, identityRepeated, bytes };
}

// Removes the fields named by the Connection header (RFC 9110 §7.6.1). Rare, so a second pass is fine.
function removeNamed(flat: string[], names: ReadonlySet<string>): void {
  let w = 0;
  for (let r = 0; r < flat.length; r += 2) {
    if (names.has(flat[r].toLowerCase())) continue;
    flat[w++] = flat[r];
    flat[w++] = flat[r + 1];
  }
  flat.length = w;
}

const RESPONSE_DROP = new Set<string>(HOP_BY_HOP);

/**
 * Response fields allowed once. This is Node's http2 list (`kSingleValueFields` in lib/internal/http2/util.js,
 * pseudo-headers left out): `writeHead` throws ERR_HTTP2_HEADER_SINGLE_VALUE when one of them repeats, while HTTP/1.1
 * would relay every copy. The filter keeps the first copy and drops the later ones on both protocols, so a response
 * looks the same whatever protocol the client speaks.
 */
export const SINGLE_VALUE_FIELDS = [
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age', 'authorization',
  'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5', 'content-range',
  'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match',
  'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'range',
  'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
] as const;

const SINGLE_VALUE = new Set<string>(SINGLE_VALUE_FIELDS);

export interface ResponseHeaderOptions {
  /** Names the gateway sets itself (security headers): the upstream's values are dropped. */
  owned: ReadonlySet<string>;
  /** Appended after the upstream's headers (security headers). */
  extra: readonly string[];
  /** Rewrites a Location value (proxy_redirect); undefined = leave as is. */
  rewriteLocation: ((location: string) => string) | undefined;
}

/** The upstream's response header block, ready for writeHead (or the reason it cannot be relayed). */
export interface FilteredResponseHeaders {
  /** Flat [name, value, ...]: no hop-by-hop fields, one copy of each single-value field, then `extra`. */
  headers: string[];
  /** Lower-case names of single-value fields sent more than once (later copies dropped); for the debug log. */
  dropped: string[] | undefined;
  /**
   * Set when the block must not be relayed at all: Content-Length repeated with different values (RFC 9112 §6.3
   * makes that an unrecoverable framing error; the proxy answers 502). undici already refuses any repeated
   * Content-Length before the filter runs; this keeps the rule in the one place that decides about response fields.
   */
  conflict: string | undefined;
}

/** Converts undici's raw response headers (Buffers) to a flat list for writeHead (see FilteredResponseHeaders). */
export function filterResponseHeaders(raw: readonly Buffer[] | readonly string[], options: ResponseHeaderOptions): FilteredResponseHeaders {
  const out: string[] = [];
  let connectionTokens: Set<string> | undefined;
  // the single-value fields seen so far and their values: a handful per response, so lists beat a Map
  let seenNames: string[] | undefined;
  let seenValues: string[] | undefined;
  let dropped: string[] | undefined;
  let conflict: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toString('latin1');
    const lower = name.toLowerCase();
    const value = raw[i + 1].toString('latin1');
    if (RESPONSE_DROP.has(lower)) {
      if (lower === 'connection') {
        for (const t of value.split(',')) {
          const token = t.trim().toLowerCase();
          if (token && !CONNECTION_KEEP.has(token)) (connectionTokens ??= new Set()).add(token);
        }
      }
      continue;
    }
    if (options.owned.has(lower)) continue;
    if (SINGLE_VALUE.has(lower)) {
      const at = seenNames === undefined ? -1 : seenNames.indexOf(lower);
      if (at >= 0) {
        if (lower === 'content-length' && seenValues![at] !== value.trim()) conflict ??= 'content-length repeated with different values';
        (dropped ??= []).push(lower);
        continue;
      }
      (seenNames ??= []).push(lower);
      (seenValues ??= []).push(value.trim());
    }
    if (lower === 'location' && options.rewriteLocation) {
      out.push(name, options.rewriteLocation(value));
      continue;
    }
    out.push(name, value);
  }
  if (connectionTokens) removeNamed(out, connectionTokens);
  for (let i = 0; i < options.extra.length; i++) out.push(options.extra[i]);
  return { headers: out, dropped, conflict };
}

/**
 * proxy_redirect: a Location pointing at the upstream origin (or at the public host over plain http, as an app
 * that trusts Host but not X-Forwarded-Proto writes it, or at the Host sent upstream) is rewritten to the address the
 * client used. With a base path or a stripped prefix (`paths`), the path is mapped back too (also for a path-absolute
 * Location); a path outside the base path has no public address and is left as the upstream wrote it.
 */
export function locationRewriter(upstreamOrigin: string, publicOrigin: string, publicHost: string, paths?: PathMapping, upstreamHostHeader?: string): (location: string) => string {
  const prefixes = [upstreamOrigin, `http://${publicHost}`];
  // an app that builds absolute URLs from the Host it was sent names that host
  if (upstreamHostHeader !== undefined && upstreamHostHeader !== publicHost) prefixes.push(`https://${upstreamHostHeader}`, `http://${upstreamHostHeader}`);
  const mapped = paths === undefined || isIdentity(paths) ? undefined : paths;
  // the path part (and what follows it) back to the public address; undefined: outside the upstream's base path
  const back = (rest: string): string | undefined => {
    if (mapped === undefined) return rest;
    const end = rest.search(/[?#]/);
    const path = end < 0 ? rest : rest.slice(0, end);
    const pub = publicPath(mapped, path === '' ? '/' : path);
    return pub === undefined ? undefined : pub + (end < 0 ? '' : rest.slice(end));
  };
  return (location) => {
    for (const prefix of prefixes) {
      if (location.length >= prefix.length && location.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase()) {
        const rest = location.slice(prefix.length);
        if (rest === '' || rest[0] === '/' || rest[0] === '?' || rest[0] === '#') {
          const pub = mapped === undefined ? (rest === '' ? '/' : rest) : back(rest[0] === '/' ? rest : '/' + rest);
          return pub === undefined ? location : publicOrigin + pub;
        }
      }
    }
    // a path-absolute Location ("/app/login") from an upstream with a base path or a stripped prefix
    if (mapped !== undefined && location[0] === '/' && location[1] !== '/') return back(location) ?? location;
    return location;
  };
}

/**
 * Header values must be latin1 on the wire; DNs with UTF-8 names (CN=Jürgen) are sent as their UTF-8 bytes,
 * the way nginx passes $ssl_client_s_dn. Control characters (a CR/LF smuggled into a certificate name) are
 * written as \\XX so they can never split a header. Computed once per connection.
 */
export function toWireValue(value: string): string {
  // eslint-disable-next-line no-control-regex
  const safe = /[\x00-\x08\x0a-\x1f\x7f]/.test(value)
    // eslint-disable-next-line no-control-regex
    ? value.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, (c) => '\\' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'))
    : value;
  return /[^\x00-\x7f]/.test(safe) ? Buffer.from(safe, 'utf8').toString('latin1') : safe;
}
