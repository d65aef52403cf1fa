// The one definition of certgate.yaml: zod schemas (strict objects, defaults, descriptions). Types derive from here.
import { z } from 'zod';
import { isIP } from 'node:net';

/**
 * What a field expects, in plain words, for config error messages ("expected a list of host names, e.g. [app.example.com]").
 * `suggest` looks at a wrong value and may return advice ("did you mean \"5s\"?"). Kept out of the JSON Schema on purpose.
 */
export interface ShapeHint {
  expected: string;
  suggest?: (value: unknown) => string | undefined;
}

/** Registry of plain-words shapes, read by src/config/issues.ts. Metadata follows clones (.describe, .default). */
export const shapeHints = z.registry<ShapeHint>();

function shape<T extends z.ZodType>(schema: T, expected: string, suggest?: ShapeHint['suggest']): T {
  shapeHints.add(schema, suggest ? { expected, suggest } : { expected });
  return schema;
}

const DURATION_WORDS: Record<string, string> = { ms: 'ms', millisecond: 'ms', milliseconds: 'ms', s: 's', sec: 's',
  secs: 's', second: 's', seconds: 's', m: 'm', min: 'm', mins: 'm', minute: 'm', minutes: 'm', h: 'h', hour: 'h', hours: 'h' };

function suggestDuration(value: unknown): string | undefined {
  if (typeof value === 'number' && value > 0) return `did you mean "${value}s"?`;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(value);
  if (!m) return undefined;
  if (m[2].toLowerCase() === 'd' || /^days?$/i.test(m[2])) return `write "${Number(m[1]) * 24}h": durations go up to hours`;
  const unit = DURATION_WORDS[m[2].toLowerCase()];
  return unit ? `did you mean "${m[1]}${unit}"?` : undefined;
}

/** "90s", "5s", "500ms", "2m", "1h". Parsed to milliseconds by core/duration.ts. */
export const Duration = shape(
  z
    .string()
    .regex(/^\d+(\.\d+)?(ms|s|m|h)$/, { message: 'a duration like "500ms", "5s", "2m" or "1h"', abort: true })
    .refine((s) => Number.parseFloat(s) > 0, 'a duration longer than zero'),
  'a duration like "500ms", "5s", "2m" or "1h"',
  suggestDuration,
).describe('A duration: a number followed by ms, s, m or h.');

/** A duration that may also be given in days ("30d"), for spans far longer than a timeout. */
export const LongDuration = shape(
  z
    .string()
    .regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, { message: 'a duration like "30d", "12h" or "90m"', abort: true })
    .refine((s) => Number.parseFloat(s) > 0, 'a duration longer than zero'),
  'a duration like "30d", "12h" or "90m"',
  (value) => (typeof value === 'number' && value > 0 ? `did you mean "${value}d"?` : undefined),
).describe('A duration: a number followed by ms, s, m, h or d.');

/** One value or a non-empty list of them; `item` checks each value, so a bad list element is reported at itself. */
const StringOrList = (words: string, example: string, item: z.ZodType<string> = z.string().min(1)) =>
  shape(z.union([item, z.array(item).min(1)]), `${words}, e.g. ${example}`);

function suggestListen(value: unknown): string | undefined {
  if (typeof value === 'number') return `write "127.0.0.1:${value}" for this machine only, or "0.0.0.0:${value}" for every interface`;
  if (typeof value !== 'string') return undefined;
  if (/^:\d+$/.test(value)) return `write "0.0.0.0${value}" for every interface, or "127.0.0.1${value}" for this machine only`;
  const v6 = /^([0-9a-fA-F:]*:[0-9a-fA-F:]*):(\d+)$/.exec(value);
  if (v6 && isIP(v6[1]) === 6) return `write "[${v6[1]}]:${v6[2]}": IPv6 addresses go in brackets`;
  const url = /^[a-z]+:\/\/([^/]+)/i.exec(value);
  if (url) return `write just the address, e.g. "${url[1]}"`;
  return undefined;
}

/** host:port or [v6]:port. */
export const ListenAddress = shape(
  z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { message: 'host:port, e.g. 127.0.0.1:8443 or [::1]:8443', abort: true })
    .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'a port between 0 and 65535'),
  'host:port, e.g. 127.0.0.1:8443 or [::1]:8443',
  suggestListen,
).describe('Address to listen on: host:port, [::1]:port for IPv6.');

export const TlsMinVersion = shape(
  z.enum(['TLSv1.2', 'TLSv1.3']),
  'TLSv1.2 or TLSv1.3 (older versions are never accepted)',
).describe('Lowest TLS version accepted; never lower than TLSv1.2.');

const FilePath = (what: string) => shape(z.string().min(1), `the path of ${what}`);

const OcspStapling = shape(z.enum(['auto', 'off']), 'auto or off')
  .default('auto')
  .describe('auto: when the certificate names an OCSP responder, staple its verified response (the issuer must follow the certificate in the file; the response is cached in `<cert>.ocsp`). off: never staple.');

export const ServerTls = shape(z
  .strictObject({
    cert: FilePath('a PEM certificate file').describe('PEM file: the server certificate, then its chain.'),
    key: FilePath('a PEM private key file').describe('PEM file: the private key of `cert` (mode 0600).'),
    minVersion: TlsMinVersion.default('TLSv1.2'),
    ciphers: shape(z.string().min(1), 'an OpenSSL cipher list, e.g. "ECDHE+AESGCM"')
      .optional()
      .describe('OpenSSL cipher list for TLSv1.2, replacing the default (ECDHE with AES-GCM or ChaCha20-Poly1305: AEAD only, no CBC). List more suites to widen it, e.g. CBC ones for old clients. TLSv1.3 suites keep the Node.js defaults unless the list names `TLS_*` suites.'),
    ocspStapling: OcspStapling,
  }), 'a mapping with cert and key, e.g. {cert: server.crt, key: server.key}')
  .describe('TLS for this listener. Absent: a plain HTTP server, or with tcp: a plain local port tunnelled over TLS (loopback only unless allowPlainRemote).');

export const SiteTls = shape(z
  .strictObject({
    cert: FilePath('a PEM certificate file').describe('PEM file: certificate chain for this site, chosen by SNI.'),
    key: FilePath('a PEM private key file').describe('PEM file: its private key.'),
    ocspStapling: OcspStapling,
  }), 'a mapping with cert and key, e.g. {cert: app.crt, key: app.key}')
  .describe('Per-site certificate chosen by SNI.');

/** An http(s) URL with a host, no user info or fragment. */
export function isCrlUrl(text: string): boolean {
  if (!/^https?:\/\//i.test(text)) return false;
  try {
    const u = new URL(text);
    return u.hostname !== '' && u.username === '' && u.password === '' && u.hash === '';
  } catch {
    return false;
  }
}

const CrlUrl = shape(z.string().refine(isCrlUrl, 'an http:// or https:// URL without user info or fragment'), 'an http(s) URL, e.g. http://pki.example.com/crl-bundle.pem');

/** One `clientAuth.crl` entry: a file path, an http(s) URL, or a URL with a fallback file for a replica's first start. */
const CrlEntry = z.union([
  z.string().min(1),
  shape(z.strictObject({
    url: CrlUrl.describe('The CRL URL (PEM or DER; `certgate ca serve` publishes crl-bundle.pem).'),
    fallback: FilePath('a CRL file').optional()
      .describe('CRL file used only when the URL cannot be fetched at start and stateDir holds no cached copy (a brand-new replica).'),
  }), 'a mapping {url: http://..., fallback: crl.pem}'),
]);

export const ClientAuth = shape(z
  .strictObject({
    ca: FilePath('a PEM file of CA certificates').describe('PEM bundle of trusted CAs (roots and intermediates) for client certificates.'),
    crl: shape(z.union([CrlEntry, z.array(CrlEntry).min(1)]), 'a CRL file or URL, or a list of them, e.g. [root.crl, "http://pki.example.com/crl-bundle.pem"]')
      .optional()
      .describe('CRL file(s), PEM or DER, and/or http(s):// URLs fetched and kept current (see docs/gateway.md). With CRLs set, every CA in `ca` needs one.'),
    crlRefresh: Duration.default('30s')
      .describe('CRL URLs: how often to re-fetch (conditional GET) from a server that does not long-poll, and the longest back-off after failures.'),
    mode: z
      .enum(['require', 'verify', 'off'])
      .default('verify')
      .describe('require: handshake fails without a valid cert; verify: requests without one get 403; off: no cert requested.'),
    verifyDepth: shape(z.number().int().min(1).max(16), 'a whole number from 1 to 16')
      .default(2)
      .describe('Longest accepted chain below the trust anchor.'),
    staleCrl: z
      .enum(['enforce', 'refuse'])
      .default('enforce')
      .describe('A CRL past nextUpdate: enforce keeps its revocations and warns loudly; refuse fails closed.'),
  }), 'a mapping with at least ca, e.g. {ca: clients-ca.pem, mode: verify}')
  .describe('Client-certificate authentication. Absent: no client certificates are requested.');

/** True for an IP address or CIDR block (v4 or v6). */
export function isIpOrCidr(text: string): boolean {
  const [addr, bits, extra] = text.split('/');
  const family = isIP(addr);
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}


export const RULE_KEYS = ['cn', 'o', 'ou', 'subject', 'issuer', 'san', 'serial', 'fingerprint', 'sourceIp'] as const;

export const Rule = shape(z
  .strictObject({
    cn: StringOrList('a common name or a list of them', '[alice, bob]').optional().describe('Subject common name(s), exact.'),
    o: StringOrList('an organization name or a list of them', 'Acme').optional().describe('Subject organization(s), exact.'),
    ou: StringOrList('an organizational unit or a list of them', '[ops, dev]')
      .optional()
      .describe('Subject organizational unit(s), exact; any OU of the cert may match.'),
    subject: StringOrList('a distinguished name or a list of them', '"CN=alice,O=Acme"').optional().describe('Exact subject DN in RFC 4514 form.'),
    issuer: StringOrList('a distinguished name or a list of them', '"CN=Acme CA,O=Acme"').optional().describe('Exact issuer DN in RFC 4514 form.'),
    san: StringOrList('a subject alternative name or a list of them', '"email:alice@example.com"',
      z.string().regex(/^(DNS|email|URI|IP):.+$/, 'a name starting with DNS:, email:, URI: or IP:, e.g. "email:alice@example.com"'))
      .optional()
      .describe('Subject alternative name: "DNS:x", "email:x", "URI:x" or "IP:x".'),
    serial: StringOrList('a serial number in hex or a list of them', '"4F2A01"',
      z.string().regex(/^-?(0x)?[0-9a-fA-F][0-9a-fA-F:]*$/, 'a serial number in hex, e.g. "4F2A01" ("-7EDC01" for a negative one)'))
      .optional()
      .describe('Certificate serial number in hex as openssl prints it (case, colons and leading zeros ignored; "-" first for a negative serial).'),
    fingerprint: StringOrList('a SHA-256 fingerprint or a list of them', '"ab12…" (64 hex digits)',
      z.string().refine((s) => /^[0-9a-fA-F]{64}$/.test(s.replace(/:/g, '')), 'a SHA-256 fingerprint: 64 hex digits, colons allowed'))
      .optional()
      .describe('SHA-256 fingerprint in hex (colons and case ignored).'),
    sourceIp: StringOrList('an IP address or CIDR block, or a list of them', '[10.1.0.0/16, "::1"]',
      z.string().refine(isIpOrCidr, 'an IP address or CIDR block, e.g. 10.1.0.0/16 or 2001:db8::/32'))
      .optional()
      .describe('Client address or CIDR. A rule of sourceIp alone admits without a certificate.'),
  })
  .refine((r) => Object.values(r).some((v) => v !== undefined), `a rule with at least one of the keys ${RULE_KEYS.join(', ')}`),
  'a rule such as {ou: ops}, {cn: [alice, bob]} or {sourceIp: 10.1.0.0/16}',
).describe('One allow/deny rule: every key present must match (AND); a list inside a key matches any element (OR).');

export const UpstreamTls = z
  .strictObject({
    ca: FilePath('a PEM file of CA certificates').optional().describe('PEM bundle to verify the upstream certificate. Default: the system trust store.'),
    cert: FilePath('a PEM certificate file').optional().describe('Client certificate certgate presents to an mTLS upstream.'),
    key: FilePath('a PEM private key file').optional().describe('Private key for `cert`.'),
    p12: FilePath('a PKCS#12 (.p12/.pfx) file').optional().describe('Client certificate and key certgate presents, as one PKCS#12 file (instead of cert + key).'),
    passwordFile: FilePath('a file holding the .p12 password').optional().describe('File whose first line is the password of `p12` (never in the config itself). Absent: a .p12 without password.'),
    servername: shape(z.string().min(1), 'a host name, e.g. api.internal').optional().describe('SNI and name to verify. Default: the upstream URL host.'),
    verifyDepth: shape(z.number().int().min(1).max(16), 'a whole number from 1 to 16')
      .optional()
      .describe('Longest accepted upstream chain below the trust anchor (leaf included), like nginx proxy_ssl_verify_depth. Absent: no limit beyond OpenSSL\'s.'),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Lowest TLS version offered to the upstream.'),
    insecureSkipVerify: z
      .boolean()
      .default(false)
      .describe('Do not verify the upstream certificate. Unsafe; only for testing (`check` warns when set).'),
  })
  .describe('TLS settings for an https:// upstream.');

function suggestUpstream(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (/^[A-Za-z0-9.-]+:\d+(\/|$)|^\[[0-9a-fA-F:]+\]:\d+(\/|$)/.test(value)) return `did you mean "http://${value}"?`;
  const q = /^(https?:\/\/[^?#\s]+)[?#]/.exec(value);
  if (q) return `write "${q[1]}": an upstream URL has no query or fragment, the request's query is passed on as is`;
  const m = /^(https?:\/\/[^/\s]+)(\/\S*)$/.exec(value);
  if (m) return `write a plain base path such as "${m[1]}/app" (no "//", "." or "..", "%", "\\"), or "${m[1]}" for none`;
  return undefined;
}

/** A base path on the upstream must be plain, so the joined path is as normalized as the request path. */
function isPlainBasePath(url: string): boolean {
  const m = /^https?:\/\/[^/\s]+(\/.*)?$/.exec(url);
  if (!m) return false;
  const path = m[1] ?? '/';
  return path === '/' || !/\/\/|\/\.\.?(\/|$)|[%\\?#\s;]/.test(path);
}

export const UpstreamUrl = shape(
  z.string()
    .regex(/^(http|https):\/\/[^/\s?#]+(\/[^\s?#]*)?$/, { message: 'http(s)://host:port with an optional base path, e.g. http://127.0.0.1:3000 or https://api.internal/app', abort: true })
    .refine(isPlainBasePath, 'a plain base path without "//", "." or ".." segments, "%", "\\", ";" or spaces, e.g. https://api.internal/app'),
  'an upstream URL such as http://127.0.0.1:3000, with an optional base path: https://api.internal/app',
  suggestUpstream,
).describe('Upstream: http(s)://host:port, optionally with a base path (https://api.internal/app) that request paths are joined to.');

const Count = (words: string, example: number, min = 1) =>
  shape(z.number().int().min(min).max(10_000_000), `${words}: a whole number from ${min}, e.g. ${example}`);

export const UpstreamLimits = z
  .strictObject({
    connections: Count('connections', 512).default(512).describe('Most requests in flight to this upstream at once (each holds one connection; per worker).'),
    queue: Count('requests', 2048, 0).default(2048).describe('Requests that may wait for a free connection; more get 503 upstream_busy.'),
    queueTimeout: Duration.default('10s').describe('Longest wait in the queue; then 503 upstream_busy.'),
  })
  .describe('Connection cap and wait queue of one upstream.');

export const Upstream = shape(
  z.union([
    UpstreamUrl,
    z.strictObject({
      url: UpstreamUrl,
      host: shape(z.string().regex(/^[^\s/@?#]+$/), 'a host name, optionally with a port, e.g. api.internal or api.internal:8443')
        .optional()
        .describe('Host header sent upstream. Default: tls.servername when set, else the client\'s Host.'),
      stripPrefix: z.boolean().default(false).describe('Remove the route path from the request path before joining it to the URL\'s base path.'),
      tls: UpstreamTls.optional(),
      limits: UpstreamLimits.optional(),
    }).describe('Upstream with a base path, Host, prefix stripping, TLS settings or limits.'),
  ]),
  'an upstream URL such as http://127.0.0.1:3000, or a mapping {url: ..., tls: {...}}',
).describe('Where the route sends requests: an http(s):// URL, or {url, tls} for an https upstream with TLS settings.');

export const RouteTimeouts = z
  .strictObject({
    connect: Duration.default('5s').describe('Time to connect to the upstream (then 502).'),
    read: Duration.default('90s').describe('Time to wait for upstream data (then 504).'),
  })
  .describe('Upstream timeouts.');

/** 1048576, "512k", "10m", "1g" (powers of 1024). Parsed by core/size.ts. */
export const ByteSize = shape(
  z.union([z.number().int().min(0), z.string().regex(/^\d+(\.\d+)?\s*([kmg]i?b?)?$/i, 'a size such as 1048576, "512k", "10m" or "1g"')]),
  'a size in bytes, or with a unit: "512k", "10m", "1g"',
  (v) => (typeof v === 'string' && /^\d+\s*(kb|mb|gb)$/i.test(v) ? `did you mean "${v.replace(/b$/i, '')}"?` : undefined),
).describe('A size: bytes, or a number with k, m or g (1024-based).');

/** A route path must already be normalized, or the normalized request path could never match it. */
function isNormalizedPrefix(p: string): boolean {
  return !/\/\/|\/\.\.?(\/|$)|[%\\?#\s]/.test(p);
}

export const RoutePath = shape(
  z
    .string()
    .regex(/^\//, { message: 'a path starting with "/"', abort: true })
    .refine(isNormalizedPrefix, 'a plain path without "//", "." or ".." segments, "%", "\\", "?", "#" or spaces, e.g. /admin'),
  'a path starting with "/", e.g. /admin',
  (v) => (typeof v === 'string' && /^[^/]/.test(v) ? `did you mean "/${v}"?` : undefined),
).describe('Prefix on whole segments of the normalized path; longest wins.');

export const Route = shape(z
  .strictObject({
    path: RoutePath,
    upstream: Upstream,
    public: z.boolean().default(false).describe('true: no client certificate needed on this route.'),
    allow: shape(z.array(Rule), 'a list of rules, e.g. [{ou: ops}, {cn: [alice, bob]}]')
      .optional()
      .describe('Any rule matching allows; keys in one rule must all match. Absent: any verified certificate.'),
    deny: shape(z.array(Rule), 'a list of rules, e.g. [{cn: mallory}]').optional().describe('Checked first: any match answers 403.'),
    websocket: z.boolean().default(true).describe('Allow WebSocket upgrades (authorized before the upgrade).'),
    timeouts: RouteTimeouts.default({ connect: '5s', read: '90s' }),
    maxBodySize: ByteSize.optional().describe('Largest request body accepted on this route (then 413 body_too_large); streamed, never buffered. Absent: unlimited.'),
    rewriteLocation: z.boolean().default(true).describe('Rewrite upstream Location headers that point at the upstream.'),
  }), 'a route such as {path: /, upstream: "http://127.0.0.1:3000"}')
  .describe('A route: path prefix to upstream, with its access rules.');

const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$/i;

/** "*", "*.example.com", a DNS name, an IPv4 address or an IPv6 address (bare or in brackets). */
export function isHostPattern(h: string): boolean {
  if (h === '*') return true;
  if (isIP(h) || (h.startsWith('[') && h.endsWith(']') && isIP(h.slice(1, -1)) === 6)) return true;
  return h.length <= 253 && DNS_NAME.test(h);
}

function suggestHost(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const url = /^[a-z]+:\/\/([^/:]+)/i.exec(value);
  if (url) return `write just the host name: "${url[1]}"`;
  const port = /^([^:[\]]+):\d+$/.exec(value);
  if (port) return `write "${port[1]}": hosts carry no port, the listener's port applies`;
  return undefined;
}

export const HostName = shape(
  z.string().min(1).refine(isHostPattern, 'a host name ("app.example.com"), "*.example.com", "*" or an IP address'),
  'a host name, e.g. app.example.com',
  suggestHost,
);

export const Site = shape(z
  .strictObject({
    hosts: shape(z.array(HostName).min(1), 'a list of host names, e.g. [app.example.com]', (v) =>
      typeof v === 'string' ? `write a list: [${v}]` : undefined,
    ).describe('Host names (matched against Host and SNI); "*" matches any; "*.example.com" one label.'),
    tls: SiteTls.optional(),
    routes: shape(z.array(Route).min(1), 'a list of routes, e.g. [{path: /, upstream: "http://127.0.0.1:3000"}]')
      .describe('Path prefixes and their upstreams and access rules.'),
  }), 'a site such as {hosts: [app.example.com], routes: [...]}')
  .describe('A virtual host.');

export const SecurityHeaders = shape(
  z.union([z.boolean(), z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'an HTTP header name'), z.union([z.string(), z.literal(false)]))]),
  'true, false, or a mapping of header names to values (false removes a header)',
)
  .default(true)
  .describe('true: HSTS, nosniff, no-referrer, X-Frame-Options DENY. An object overrides or adds headers; false removes one.');

export const ServerTimeouts = z
  .strictObject({
    header: Duration.default('10s').describe('Time a client has to send the request headers.'),
    idle: Duration.default('60s').describe('Keep-alive idle time before the connection is closed.'),
    handshake: Duration.default('10s').describe('Time a client has to finish the TLS handshake; then the socket is closed.'),
    tunnelIdle: Duration.default('1h').describe('A WebSocket (or TCP tunnel) with no byte either way for this long is closed.'),
    lifetime: Duration.default('1h').describe('A keep-alive connection older than this is closed once idle (HTTP/2: GOAWAY), like nginx keepalive_time.'),
  })
  .describe('Client-side timeouts.');

export const ServerLimits = z
  .strictObject({
    connections: Count('connections', 10000).default(10_000).describe('Open connections on this listener (per worker), handshakes included; more are closed at once.'),
    connectionsPerIp: Count('connections', 100).optional().describe('Open connections from one client address. Absent: no per-address limit.'),
    http2Streams: Count('streams', 128).default(128).describe('Concurrent HTTP/2 streams per connection (nginx: 128); more are refused with RST_STREAM.'),
    requestsPerConnection: Count('requests', 1000).default(1000).describe('Requests on one connection before it is closed (HTTP/2: GOAWAY), like nginx keepalive_requests.'),
  })
  .describe('Resource limits of one listener. Each applies per worker process.');

export const TcpTimeouts = z
  .strictObject({
    connect: Duration.default('5s').describe('Time to connect to the upstream; then the client connection is closed.'),
    idle: Duration.optional().describe('A tunnel with no byte either way for this long is closed. Absent: the server\'s timeouts.tunnelIdle.'),
  })
  .describe('Timeouts of TCP mode.');

/** host:port of a TCP service. */
const TcpAddress = shape(
  z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:5432'),
  'host:port of the service, e.g. 127.0.0.1:5432',
);

export const TcpUpstream = shape(
  z.union([
    TcpAddress,
    z.strictObject({
      address: TcpAddress.describe('host:port of the service.'),
      tls: UpstreamTls.optional().describe('TLS towards the service: verified against tls.ca (else the system store) for the name tls.servername, else the address host (an IP address: its IP SAN); tls.cert/key for an mTLS service. Required on a server without tls: (client direction). Absent: plain TCP.'),
    }).describe('The service with TLS settings: {address: db.internal:5432, tls: {cert, key, ca, servername}}.'),
  ]),
  'host:port of the service, e.g. 127.0.0.1:5432, or a mapping {address: db.internal:15432, tls: {cert: ..., key: ..., ca: ...}}',
).describe('The service each allowed connection is piped to: host:port (plain TCP), or {address, tls} for TLS to it.');

export const TcpMode = shape(z
  .strictObject({
    upstream: TcpUpstream,
    allow: shape(z.array(Rule), 'a list of rules, e.g. [{cn: app-server}]')
      .optional()
      .describe('Server direction: any rule matching allows; keys in one rule must all match. Absent: any verified certificate.'),
    deny: shape(z.array(Rule), 'a list of rules, e.g. [{cn: mallory}]').optional().describe('Server direction: checked first; any match closes the connection.'),
    timeouts: TcpTimeouts.default({ connect: '5s' }),
    tls: UpstreamTls.optional().describe('Older spelling of upstream.tls, kept working (upstream is then host:port). Give TLS in one place only.'),
    proxyProtocol: shape(z.literal('v2'), 'v2 (the binary PROXY protocol header)')
      .optional()
      .describe('v2: send a PROXY protocol v2 header (client and listener address) before the first byte. Absent: none.'),
  }), 'a mapping such as {upstream: "127.0.0.1:5432", allow: [{cn: app-server}]}')
  .describe('TCP mode, no sites or routes. With tls: (server direction) each connection\'s client certificate is checked, then the connection is a byte pipe to `upstream`. Without tls: (client direction) a plain local port whose connections are wrapped in TLS (mTLS with upstream.tls.cert/key) to `upstream`.');

export const Server = shape(z
  .strictObject({
    listen: ListenAddress,
    tls: ServerTls.optional(),
    http2: z.boolean().default(true).describe('Offer h2 by ALPN on TLS listeners.'),
    clientAuth: ClientAuth.optional(),
    securityHeaders: SecurityHeaders,
    errorPage: FilePath('an HTML file').optional().describe('HTML file for every error the gateway answers; {{status}}, {{reason}}, {{message}} are filled in.'),
    redirectToHttps: shape(z.number().int().min(1).max(65535), 'a port number, e.g. 8443')
      .optional()
      .describe('Plain server only: answer every request with 301 to https on this port.'),
    allowPlainRemote: z.boolean().default(false).describe('Let a plain server (HTTP, or a tcp: client-direction port) bind a non-loopback address.'),
    maxHeaderSize: shape(z.number().int().min(1024).max(1048576), 'a size in bytes from 1024 to 1048576, e.g. 16384')
      .default(16384)
      .describe('Largest request header block in bytes (then 431).'),
    timeouts: ServerTimeouts.default({ header: '10s', idle: '60s', handshake: '10s', tunnelIdle: '1h', lifetime: '1h' }),
    limits: ServerLimits.default({ connections: 10_000, http2Streams: 128, requestsPerConnection: 1000 }),
    sites: shape(z.array(Site).min(1), 'a list of sites, e.g. [{hosts: [app.example.com], routes: [...]}]')
      .optional()
      .describe('Virtual hosts, picked by Host and SNI; a Host that matches no site gets 403. Give sites or routes.'),
    routes: shape(z.array(Route).min(1), 'a list of routes, e.g. [{path: /, upstream: "http://127.0.0.1:3000"}]')
      .optional()
      .describe('Shorthand for one site with hosts ["*"].'),
    tcp: TcpMode.optional(),
    proxyProtocol: shape(z.strictObject({
      from: shape(z.array(z.string().refine(isIpOrCidr, 'an IP address or CIDR block, e.g. 10.0.0.5 or 10.0.0.0/24')).min(1), 'a list of load-balancer addresses, e.g. [10.0.0.5, 10.0.1.0/24]')
        .describe('Load-balancer addresses (IP or CIDR). A connection from one of them must begin with a PROXY header; a connection from any other address that sends one is refused.'),
      timeout: Duration.default('5s').describe('How long a connection from a load balancer may take to send its PROXY header.'),
    }), 'a mapping such as {from: [10.0.0.5/32]}')
      .optional()
      .describe('Accept the PROXY protocol (v1 text, v2 binary) from load balancers: the client address in the header is used for sourceIp rules, logs, X-Forwarded-For and per-address limits. Absent: no PROXY header is accepted.'),
    trustIdentityHeadersFrom: shape(z.array(Rule).min(1), 'a list of rules naming the gateway in front, e.g. [{cn: edge-gateway}]')
      .optional()
      .describe('Chained gateways: when the verified client certificate of the connection matches one of these rules (the gateway in front), the X-Client-* headers it sends are taken as the original client\'s identity for allow/deny and passed on; from any other peer they are stripped. Each rule needs a certificate key (sourceIp can only narrow).'),
  }), 'a server such as {listen: "127.0.0.1:8443", tls: {...}, routes: [...]}')
  .describe('A listener.');

export const Log = z
  .strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('Lowest level logged.'),
    access: z.boolean().default(true).describe('One access line per request.'),
    format: z.enum(['json', 'pretty']).default('json').describe('json: one JSON object per line; pretty: for a terminal.'),
    file: FilePath('the access log file, e.g. /var/log/certgate/access.log')
      .optional()
      .describe('Access lines (access, tcp.access) are appended to this file as JSON lines instead of stdout; the other lines stay on stdout. Reopened on SIGUSR1 (logrotate). Relative paths are from the config file. Taken at start; a reload does not move it.'),
  })
  .describe('Logging (pino).');

export const Metrics = z
  .strictObject({
    listen: ListenAddress.describe('Where /metrics, /healthz and /readyz are served (plain HTTP; loopback, or in a pod the pod address so probes reach it).'),
  })
  .describe('Prometheus metrics endpoint.');

export const Config = z
  .strictObject({
    servers: shape(z.array(Server).min(1), 'a list of servers, e.g. [{listen: "127.0.0.1:8443", tls: {...}, routes: [...]}]')
      .describe('The listeners, each with its own TLS, client-certificate and routing settings.'),
    log: Log.default({ level: 'info', access: true, format: 'json' }),
    metrics: Metrics.optional(),
    expiryWarning: LongDuration.default('30d')
      .describe('Certificates in use that expire within this are logged as warnings (cert.expiring) at start and once a day, and reported by certgate check.'),
    stateDir: FilePath('a writable directory, e.g. /var/lib/certgate')
      .optional()
      .describe('Writable directory for state the gateway keeps across restarts: the last good copy of each CRL URL. Absent: $STATE_DIRECTORY (systemd StateDirectory=), else $XDG_STATE_HOME/certgate, else ~/.local/state/certgate.'),
    workers: shape(z.union([z.literal('auto'), z.number().int().min(1).max(256)]), '"auto" or a whole number from 1 to 256')
      .default('auto')
      .describe('Gateway processes: "auto" = one per CPU this process may use; 1 = a single process. Each worker binds every listener itself (SO_REUSEPORT) and the kernel spreads connections; limits (connections, upstream pools) apply per worker. A listener on port 0 (tests) means one process. Taken at start; a reload does not change it.'),
    pidFile: FilePath('a file for the process id, e.g. /run/certgate/certgate.pid')
      .optional()
      .describe('certgate serve writes its process id here once it is serving (atomically) and removes it at exit; certgate reload reads it. Taken at start; a reload does not move it.'),
  })
  .describe('certgate gateway configuration.');

export type ConfigInput = z.input<typeof Config>;
/**
 * The config as loadConfigFile / parseConfigText return it. The types are the schema's own output, but the values
 * are normalized (see src/config/normalize.ts): every file path absolute, `routes` folded into `sites` (so `routes`
 * is absent and `sites` is set), `clientAuth.crl` always a list.
 */
export type GatewayConfig = z.output<typeof Config>;
export type ServerConfig = z.output<typeof Server>;
export type SiteConfig = z.output<typeof Site>;
export type RouteConfig = z.output<typeof Route>;
export type RuleConfig = z.output<typeof Rule>;
export type ClientAuthConfig = z.output<typeof ClientAuth>;
export type CrlEntryConfig = z.output<typeof CrlEntry>;
export type UpstreamConfig = z.output<typeof Upstream>;
export type TcpModeConfig = z.output<typeof TcpMode>;
export type TcpUpstreamConfig = z.output<typeof TcpUpstream>;
export type UpstreamTlsConfig = z.output<typeof UpstreamTls>;
