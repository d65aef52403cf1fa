// Conditional GET (RFC 9110 §13): does the client's copy match what is served? Pure.

/**
 * True when `If-None-Match` matches `etag` (strong comparison of the quoted values, or `*`). Weak validators (W/"…")
 * never match a strong comparison, but If-None-Match uses the weak one (§13.1.2): W/"x" matches "x".
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = header.trim();
  if (value === '*') return true;
  for (const part of value.split(',')) {
    const tag = part.trim().replace(/^W\//, '');
    if (tag === etag) return true;
  }
  return false;
}

/** True when the client's copy is current: If-None-Match when present, else If-Modified-Since against `lastModified`. */
export function notModified(headers: { 'if-none-match'?: string; 'if-modified-since'?: string }, etag: string, lastModified: Date): boolean {
  if (headers['if-none-match'] !== undefined) return ifNoneMatchHits(headers['if-none-match'], etag);
  const since = headers['if-modified-since'];
  if (since === undefined) return false;
  const t = Date.parse(since);
  return Number.isFinite(t) && lastModified.getTime() <= t;
}
