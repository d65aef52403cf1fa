// The security headers the gateway puts on every response (nginx's `add_header ... always` recipe), built once per config.

/** Header names are lowercase; values exactly as sent. */
export const DEFAULT_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'strict-transport-security': 'max-age=15768000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export interface SecurityHeaderSet {
  /** Flat [name, value, name, value, ...] list, ready to append to a response. */
  flat: readonly string[];
  /** Lowercase names the gateway owns: an upstream's own value for these is replaced (removed ones included). */
  owned: ReadonlySet<string>;
}

/**
 * `setting` is the server's `securityHeaders`: true = the default set, false = none, an object = the defaults with
 * its keys overriding (a string) or removing (false) entries and adding new ones. HSTS is only sent on TLS
 * listeners: browsers ignore it over plain HTTP, and sending it there would only confuse.
 */
export function buildSecurityHeaders(setting: boolean | Record<string, string | false>, tls: boolean): SecurityHeaderSet {
  const merged = new Map<string, string | false>();
  if (setting !== false) for (const [k, v] of Object.entries(DEFAULT_SECURITY_HEADERS)) merged.set(k, v);
  if (typeof setting === 'object') for (const [k, v] of Object.entries(setting)) merged.set(k.toLowerCase(), v);
  if (!tls) merged.delete('strict-transport-security');
  const flat: string[] = [];
  const owned = new Set<string>();
  for (const [k, v] of merged) {
    owned.add(k);
    if (v !== false) flat.push(k, v);
  }
  return { flat, owned };
}
