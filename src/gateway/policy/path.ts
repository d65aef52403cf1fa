// Request path normalization before routing: one canonical form, and a 400 for anything that stays ambiguous. Pure.

export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: 'bad_path'; detail: string };

const HEX = /^[0-9A-Fa-f]{2}$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

function bad(detail: string): NormalizedPath {
  return { ok: false, reason: 'bad_path', detail };
}

/**
 * Normalizes the path of a request-target (without the query):
 * - %XX of an unreserved character (A-Z a-z 0-9 - . _ ~) is decoded; every other escape is kept, in upper-case hex;
 * - dot-segments are resolved (also when written %2e), duplicate slashes merged;
 * - refused as `bad_path`: no leading "/", an encoded "/" (%2F) or "\" (%5C), a raw "\", NUL (raw or %00), an
 *   invalid %-escape, a raw "#", raw control/space/non-ASCII characters, escapes that are not valid UTF-8, ".." above the root,
 *   and "." or ".." carrying path parameters ("..;x"), which some servers treat as "..".
 * Paths are case-sensitive. ";" stays literal; route matching ignores ";params" (see routeKey).
 */
export function normalizePath(rawPath: string): NormalizedPath {
  if (!rawPath.startsWith('/')) return bad('the path does not start with "/"');
  const segments: string[] = [];
  const bytes: number[] = []; // decoded bytes, only to check that escapes spell valid UTF-8
  let nonAscii = false; // raw characters are ASCII, so only escapes can make the UTF-8 check necessary
  let segment = '';
  const flush = (last: boolean): string | undefined => {
    const bare = segment.split(';', 1)[0];
    if (segment !== bare && (bare === '.' || bare === '..')) return `the dot-segment "${segment}" carries parameters`;
    if (segment === '..') {
      if (segments.length === 0) return 'the path climbs above the root with ".."';
      segments.pop();
      if (last) segments.push(''); // "/a/b/.." is "/a/"
    } else if (segment === '.') {
      if (last) segments.push('');
    } else if (segment !== '' || last) {
      segments.push(segment); // empty segments from "//" are merged away, except a trailing "/"
    }
    segment = '';
    return undefined;
  };
  for (let i = 1; i < rawPath.length; i++) {
    const ch = rawPath[i];
    const code = rawPath.charCodeAt(i);
    if (ch === '/') {
      const err = flush(false);
      if (err) return bad(err);
    } else if (ch === '%') {
      const hex = rawPath.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return bad(`invalid %-escape "${rawPath.slice(i, i + 3)}"`);
      const b = parseInt(hex, 16);
      if (b === 0x2f) return bad('an encoded "/" (%2F) is ambiguous');
      if (b === 0x5c) return bad('an encoded "\\" (%5C) is ambiguous');
      if (b === 0) return bad('NUL (%00) is not allowed');
      bytes.push(b);
      if (b >= 0x80) nonAscii = true;
      const decoded = String.fromCharCode(b);
      segment += UNRESERVED.test(decoded) ? decoded : '%' + hex.toUpperCase();
      i += 2;
    } else if (ch === '\\') {
      return bad('a backslash is ambiguous');
    } else if (ch === '#') {
      // a request-target carries no fragment (RFC 9112 §3.2); upstream URL parsers cut "/admin#x" to "/admin"
      return bad('a "#" (fragment) does not belong in a request path');
    } else if (code <= 0x20 || code >= 0x7f) {
      return bad(code === 0 ? 'NUL is not allowed' : 'raw control, space or non-ASCII characters must be %-encoded');
    } else {
      segment += ch;
      bytes.push(code);
    }
  }
  const err = flush(true);
  if (err) return bad(err);
  if (nonAscii) {
    try {
      STRICT_UTF8.decode(Uint8Array.from(bytes));
    } catch {
      return bad('%-escapes that are not valid UTF-8');
    }
  }
  return { ok: true, path: '/' + segments.join('/') };
}

/**
 * Normalizes a route path written in certgate.yaml: non-ASCII characters are first %-encoded as UTF-8 (as
 * browsers send them), then it goes through normalizePath.
 */
export function normalizeRoutePath(configPath: string): NormalizedPath {
  const encoded = configPath.replace(/[^\x00-\x7f]+/gu, (s) => encodeURIComponent(s));
  return normalizePath(encoded);
}

/**
 * The form routes are matched on: ";params" removed from every segment and the segments left empty dropped, so
 * "/admin;x/y" is matched as "/admin/y" and cannot slip past an "/admin" route to a laxer one while an upstream
 * that strips path parameters (Tomcat, Jetty, Spring) serves /admin. Input must be normalizePath output.
 */
export function routeKey(normalizedPath: string): string {
  if (!normalizedPath.includes(';')) return normalizedPath;
  const parts = normalizedPath.split('/').map((s) => s.split(';', 1)[0]);
  const last = parts.length - 1;
  return '/' + parts.filter((s, i) => s !== '' || (i === last && i > 0)).join('/');
}
