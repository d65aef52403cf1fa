// The one definition of certgate.yaml: zod schemas (strict objects, defaults, descriptions). Types derive from here.
import { z } from 'zod';

/** "90s", "5s", "500ms", "2m", "1h". Parsed to milliseconds by core/duration.ts. */
export const Duration = z
  .string()
  .regex(/^\d+(\.\d+)?(ms|s|m|h)$/, 'a duration like "500ms", "5s", "2m" or "1h"')
  .describe('A duration: a number followed by ms, s, m or h.');

const StringOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/** host:port or [v6]:port. */
export const ListenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:8443 or [::1]:8443')
  .describe('Address to listen on: host:port, [::1]:port for IPv6.');

export const TlsMinVersion = z.enum(['TLSv1.2', 'TLSv1.3']).describe('Lowest TLS version accepted; never lower than TLSv1.2.');

export const ServerTls = z
  .strictObject({
    cert: z.string().min(1).describe('PEM file: the server certificate, then its chain.'),
    key: z.string().min(1).describe('PEM file: the private key of `cert` (mode 0600).'),
    minVersion: TlsMinVersion.default('TLSv1.2'),
    ciphers: z.string().min(1).optional().describe('Optional OpenSSL cipher list for TLSv1.2.'),
  })
  .describe('TLS for this listener. Absent: a plain HTTP server (loopback only unless allowPlainRemote).');

export const SiteTls = z
  .strictObject({
    cert: z.string().min(1).describe('PEM file: certificate chain for this site, chosen by SNI.'),
    key: z.string().min(1).describe('PEM file: its private key.'),
  })
  .describe('Per-site certificate chosen by SNI.');

export const ClientAuth = z
  .strictObject({
    ca: z.string().min(1).describe('PEM bundle of trusted CAs (roots and intermediates) for client certificates.'),
    crl: StringOrList.optional().describe('CRL file(s), PEM or DER. With CRLs set, every CA in `ca` needs one.'),
    mode: z
      .enum(['require', 'verify', 'off'])
      .default('verify')
      .describe('require: handshake fails without a valid cert; verify: requests without one get 403; off: no cert requested.'),
    verifyDepth: z.number().int().min(1).max(16).default(2).describe('Longest accepted chain below the trust anchor.'),
    staleCrl: z
      .enum(['enforce', 'refuse'])
      .default('enforce')
      .describe('A CRL past nextUpdate: enforce keeps its revocations and warns loudly; refuse fails closed.'),
  })
  .describe('Client-certificate authentication. Absent: no client certificates are requested.');

export const Rule = z
  .strictObject({
    cn: StringOrList.optional().describe('Subject common name(s), exact.'),
    o: StringOrList.optional().describe('Subject organization(s), exact.'),
    ou: StringOrList.optional().describe('Subject organizational unit(s), exact; any OU of the cert may match.'),
    subject: StringOrList.optional().describe('Exact subject DN in RFC 4514 form.'),
    issuer: StringOrList.optional().describe('Exact issuer DN in RFC 4514 form.'),
    san: StringOrList.optional().describe('Subject alternative name: "DNS:x", "email:x", "URI:x" or "IP:x".'),
    serial: StringOrList.optional().describe('Certificate serial number in hex (case and leading zeros ignored).'),
    fingerprint: StringOrList.optional().describe('SHA-256 fingerprint in hex (colons and case ignored).'),
    sourceIp: StringOrList.optional().describe('Client address or CIDR. A rule of sourceIp alone admits without a certificate.'),
  })
  .refine((r) => Object.values(r).some((v) => v !== undefined), 'a rule needs at least one key (cn, o, ou, subject, issuer, san, serial, fingerprint, sourceIp)')
  .describe('One allow/deny rule: every key present must match (AND); a list inside a key matches any element (OR).');

export const UpstreamTls = z
  .strictObject({
    ca: z.string().min(1).optional().describe('PEM bundle to verify the upstream certificate. Default: the system trust store.'),
    cert: z.string().min(1).optional().describe('Client certificate certgate presents to an mTLS upstream.'),
    key: z.string().min(1).optional().describe('Private key for `cert`.'),
    servername: z.string().min(1).optional().describe('SNI and name to verify. Default: the upstream URL host.'),
    insecureSkipVerify: z
      .boolean()
      .default(false)
      .describe('Do not verify the upstream certificate. Unsafe; only for testing.'),
  })
  .describe('TLS settings for an https:// upstream.');

export const UpstreamUrl = z
  .string()
  .regex(/^(http|https):\/\/[^/\s]+\/?$/, 'http(s)://host:port with no path, e.g. http://127.0.0.1:3000')
  .describe('Upstream origin: http(s)://host:port.');

export const Upstream = z.union([
  UpstreamUrl,
  z.strictObject({ url: UpstreamUrl, tls: UpstreamTls.optional() }).describe('Upstream with TLS settings.'),
]);

export const RouteTimeouts = z
  .strictObject({
    connect: Duration.default('5s').describe('Time to connect to the upstream (then 502).'),
    read: Duration.default('90s').describe('Time to wait for upstream data (then 504).'),
  })
  .describe('Upstream timeouts.');

export const Route = z
  .strictObject({
    path: z.string().regex(/^\//, 'a path starting with "/"').describe('Prefix on whole segments of the normalized path; longest wins.'),
    upstream: Upstream,
    public: z.boolean().default(false).describe('true: no client certificate needed on this route.'),
    allow: z.array(Rule).optional().describe('Any rule matching allows. Absent: any verified certificate.'),
    deny: z.array(Rule).optional().describe('Checked first: any match answers 403.'),
    websocket: z.boolean().default(true).describe('Allow WebSocket upgrades (authorized before the upgrade).'),
    timeouts: RouteTimeouts.default({ connect: '5s', read: '90s' }),
    rewriteLocation: z.boolean().default(true).describe('Rewrite upstream Location headers that point at the upstream.'),
  })
  .describe('A route: path prefix to upstream, with its access rules.');

export const Site = z
  .strictObject({
    hosts: z.array(z.string().min(1)).min(1).describe('Host names (matched against Host and SNI); "*" matches any; "*.example.com" one label.'),
    tls: SiteTls.optional(),
    routes: z.array(Route).min(1),
  })
  .describe('A virtual host.');

export const SecurityHeaders = z
  .union([z.boolean(), z.record(z.string(), z.union([z.string(), z.literal(false)]))])
  .default(true)
  .describe('true: HSTS, nosniff, no-referrer, X-Frame-Options DENY. An object overrides or adds headers; false removes one.');

export const ServerTimeouts = z
  .strictObject({
    header: Duration.default('10s').describe('Time a client has to send the request headers.'),
    idle: Duration.default('60s').describe('Keep-alive idle time before the connection is closed.'),
    handshake: Duration.default('10s').describe('Time a client has to finish the TLS handshake.'),
  })
  .describe('Client-side timeouts.');

export const Server = z
  .strictObject({
    listen: ListenAddress,
    tls: ServerTls.optional(),
    http2: z.boolean().default(true).describe('Offer h2 by ALPN on TLS listeners.'),
    clientAuth: ClientAuth.optional(),
    securityHeaders: SecurityHeaders,
    errorPage: z.string().min(1).optional().describe('HTML file for every error the gateway answers; {{status}}, {{reason}}, {{message}} are filled in.'),
    redirectToHttps: z.number().int().min(1).max(65535).optional().describe('Plain server only: answer every request with 301 to https on this port.'),
    allowPlainRemote: z.boolean().default(false).describe('Let a plain HTTP server bind a non-loopback address.'),
    maxHeaderSize: z.number().int().min(1024).max(1048576).default(16384).describe('Largest request header block in bytes (then 431).'),
    timeouts: ServerTimeouts.default({ header: '10s', idle: '60s', handshake: '10s' }),
    sites: z.array(Site).optional(),
    routes: z.array(Route).optional().describe('Shorthand for one site with hosts ["*"].'),
  })
  .describe('A listener.');

export const Log = z
  .strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    access: z.boolean().default(true).describe('One access line per request.'),
    format: z.enum(['json', 'pretty']).default('json'),
  })
  .describe('Logging (pino).');

export const Metrics = z
  .strictObject({
    listen: ListenAddress.describe('Where /metrics is served (plain HTTP; loopback unless you know better).'),
  })
  .describe('Prometheus metrics endpoint.');

export const Config = z
  .strictObject({
    servers: z.array(Server).min(1),
    log: Log.default({ level: 'info', access: true, format: 'json' }),
    metrics: Metrics.optional(),
  })
  .describe('certgate gateway configuration.');

export type ConfigInput = z.input<typeof Config>;
export type GatewayConfig = z.output<typeof Config>;
export type ServerConfig = z.output<typeof Server>;
export type SiteConfig = z.output<typeof Site>;
export type RouteConfig = z.output<typeof Route>;
export type RuleConfig = z.output<typeof Rule>;
export type ClientAuthConfig = z.output<typeof ClientAuth>;
export type UpstreamConfig = z.output<typeof Upstream>;
export type UpstreamTlsConfig = z.output<typeof UpstreamTls>;
