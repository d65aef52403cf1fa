// Pre-flight checks of every file a loaded config names: key/cert pairs, expiry, chain order, CA bundles, CRLs.
import { tlsOptionsOf } from './upstream/upstream-pool.ts';
import { readFileSync, statSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { ConfigError } from '../core/errors.ts';
import type { ErrorCode } from '../core/errors.ts';
import { splitCertificates } from '../core/pem.ts';
import { parseDuration } from '../core/duration.ts';
import type { ClientAuthConfig, GatewayConfig, RouteConfig, ServerConfig, UpstreamTlsConfig } from '../config/schema.ts';
import { crlSources, loadTrust } from './tls/trust.ts';
import type { CrlData, Trust } from './tls/trust.ts';
import { ocspTarget } from './tls/ocsp-response.ts';

/** One thing `check` (and `serve` at start-up and reload) reports. Errors stop `serve`; warnings do not. */
export interface Finding {
  level: 'error' | 'warn';
  /** The file concerned, absolute. */
  file?: string;
  message: string;
  /** For errors: the code `check` exits with when this is the first error. */
  code?: ErrorCode;
}

const DAY = 86_400_000;
/** Server and CA certificates closer than this to notAfter are reported as warnings (config `expiryWarning`). */
export const EXPIRY_WARNING_DAYS = 30;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

class Findings {
  readonly list: Finding[] = [];
  /** How close to notAfter a certificate is reported as expiring. */
  readonly warnMs: number;
  constructor(warnMs: number) {
    this.warnMs = warnMs;
  }
  private readonly seen = new Set<string>();
  add(level: Finding['level'], file: string | undefined, message: string, code?: ErrorCode): void {
    const key = `${level}|${file}|${message}`;
    if (this.seen.has(key)) return; // a file shared by several servers or sites is reported once
    this.seen.add(key);
    this.list.push(level === 'error' ? { level, file, message, code: code ?? 'CG_CONFIG_TLS' } : { level, file, message });
  }
}

function readText(f: Findings, file: string, what: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code})`;
    f.add('error', file, `${what}: the file ${why}`, 'CG_CONFIG_FILE');
    return undefined;
  }
}

const dateText = (d: Date) => d.toISOString().slice(0, 10);
const cnOf = (c: X509Certificate) => c.subject.split('\n').join(', ');

/** Parses every certificate of a PEM file; reports a DER file or a file without certificates. */
function readCertificates(f: Findings, file: string, what: string): X509Certificate[] | undefined {
  const text = readText(f, file, what);
  if (text === undefined) return undefined;
  const pems = splitCertificates(text);
  if (pems.length === 0) {
    const der = text.charCodeAt(0) === 0x30 && !text.includes('-----BEGIN');
    f.add('error', file, `${what}: ${der ? 'the file is DER; certgate reads PEM (convert: openssl x509 -inform der -in FILE -out FILE.pem)' : 'no PEM certificate (-----BEGIN CERTIFICATE-----) in the file'}`, 'CG_CONFIG_FILE');
    return undefined;
  }
  const certs: X509Certificate[] = [];
  for (const [i, pem] of pems.entries()) {
    try {
      certs.push(new X509Certificate(pem));
    } catch (err) {
      f.add('error', file, `${what}: certificate ${i + 1} does not parse (${(err as Error).message})`, 'CG_CONFIG_FILE');
      return undefined;
    }
  }
  return certs;
}

function readKey(f: Findings, file: string, what: string): KeyObject | undefined {
  const text = readText(f, file, what);
  if (text === undefined) return undefined;
  if (/-----BEGIN (ENCRYPTED|RSA PRIVATE KEY-----\s*Proc-Type: 4,ENCRYPTED)/.test(text)) {
    f.add('error', file, `${what}: the key is encrypted; certgate needs it unencrypted (protect it with file mode 0600 instead)`, 'CG_CONFIG_FILE');
    return undefined;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (err) {
    f.add('error', file, `${what}: no usable PEM private key in the file (${(err as Error).message})`, 'CG_CONFIG_FILE');
    return undefined;
  }
  try {
    if ((statSync(file).mode & 0o077) !== 0) f.add('warn', file, `${what}: the key file is readable by group or others; chmod 600 it`);
  } catch {
    // read above succeeded; a stat failure here changes nothing
  }
  return key;
}

/** notBefore/notAfter of one certificate against `now`; `expiring` says whether a near end is worth a warning. */
function checkValidity(f: Findings, file: string, what: string, cert: X509Certificate, now: Date, expiring = true): void {
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() <= now.getTime()) f.add('error', file, `${what}: ${cnOf(cert)} expired on ${dateText(notAfter)}`);
  else if (notBefore.getTime() > now.getTime()) f.add('error', file, `${what}: ${cnOf(cert)} is not valid until ${dateText(notBefore)}`);
  else if (expiring) {
    const days = Math.floor((notAfter.getTime() - now.getTime()) / DAY);
    if (notAfter.getTime() - now.getTime() <= f.warnMs) f.add('warn', file, `${what}: ${cnOf(cert)} expires in ${days} day${days === 1 ? '' : 's'} (${dateText(notAfter)})`);
  }
}

/** Each certificate must be followed by its issuer: nginx and OpenSSL send the chain in file order. */
function checkChainOrder(f: Findings, file: string, what: string, chain: X509Certificate[]): void {
  for (let i = 0; i + 1 < chain.length; i++) {
    const [child, parent] = [chain[i], chain[i + 1]];
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      f.add('error', file, `${what}: the chain is out of order: certificate ${i + 2} (${cnOf(parent)}) did not issue certificate ${i + 1} (${cnOf(child)}); put the server certificate first, then each issuer in turn`);
      return;
    }
  }
}

function coversHost(cert: X509Certificate, host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (isIP(h)) return cert.checkIP(h) !== undefined;
  // "*.example.com" is covered when any one-label name under it is
  const probe = h.startsWith('*.') ? `certgate-check${h.slice(1)}` : h;
  return cert.checkHost(probe, { wildcards: true, partialWildcards: false }) !== undefined;
}

/** A server or site certificate with its key: pair, validity, chain order, purpose and host names. */
function checkServing(f: Findings, pair: { cert: string; key: string; ocspStapling?: 'auto' | 'off' }, what: string, hosts: string[], now: Date): void {
  const chain = readCertificates(f, pair.cert, what);
  const key = readKey(f, pair.key, `key of ${what}`);
  if (!chain) return;
  // the server's own certificate is the first non-CA one; anywhere but first, the file is out of order
  const own = chain.findIndex((c) => !c.ca);
  if (own < 0) {
    f.add('error', pair.cert, `${what}: the file holds only CA certificates (${chain.map(cnOf).join('; ')}); put the server's own certificate first, then its chain`);
    return;
  }
  const leaf = chain[own];
  if (own > 0) {
    f.add('error', pair.cert, `${what}: the chain is out of order: the server certificate (${cnOf(leaf)}) is certificate ${own + 1} of ${chain.length}; put it first, then each issuer in turn`);
  } else {
    checkChainOrder(f, pair.cert, what, chain);
  }
  if (key && !leaf.checkPrivateKey(key)) {
    f.add('error', pair.key, `key of ${what}: does not belong to the certificate in ${pair.cert} (${cnOf(leaf)})`);
  }
  chain.forEach((c, i) => checkValidity(f, pair.cert, c === leaf ? what : `${what}, chain certificate ${i + 1}`, c, now));
  if (leaf.keyUsage && !leaf.keyUsage.includes(SERVER_AUTH)) {
    f.add('error', pair.cert, `${what}: ${cnOf(leaf)} is not a server certificate (its extended key usage lacks serverAuth); clients will refuse it`);
  }
  const missing = hosts.filter((h) => h !== '*' && !coversHost(leaf, h));
  if (missing.length) {
    f.add('warn', pair.cert, `${what}: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not among the certificate's names (${leaf.subjectAltName ?? 'no subjectAltName'}); browsers will warn`);
  }
  if (pair.ocspStapling !== 'off' && own === 0) {
    // a certificate that names a responder is expected to be stapled: say why it cannot be, before a client notices
    const target = ocspTarget(chain.map((c) => c.toString()).join(''));
    if ('skip' in target && (target.skip === 'no_issuer' || target.skip === 'unsupported_url')) {
      f.add('warn', pair.cert, `${what}: names an OCSP responder but cannot be stapled: ${target.detail} (or set ocspStapling: off)`);
    }
  }
}

function checkClientAuth(f: Findings, ca: ClientAuthConfig, where: string, now: Date, crlData: CrlData | undefined): void {
  const what = `client CA bundle of ${where}`;
  const certs = readCertificates(f, ca.ca, what);
  for (const cert of certs ?? []) {
    if (!cert.ca) f.add('error', ca.ca, `${what}: ${cnOf(cert)} is not a CA certificate; clientAuth.ca holds the CAs that issue client certificates, not the client certificates themselves`);
    else checkValidity(f, ca.ca, what, cert, now);
  }
  const sources = crlSources(ca.crl);
  const readable = sources.map((src) => src.kind === 'file' && readText(f, src.file, `CRL of ${where}`) !== undefined);
  if (!certs || sources.some((src, i) => src.kind === 'file' && !readable[i])) return; // already reported; trust.ts would only repeat it
  // a URL without a copy is reported by crl-fetch.ts's prepare (serve, check); nothing to check it against here
  if (sources.some((src) => src.kind === 'url' && crlData?.(src.url) === undefined)) return;
  checkCrls(f, ca, sources.map((src) => (src.kind === 'file' ? src.file : src.url)), where, now, crlData);
}

/** CRLs through trust.ts, as `serve` loads them: signatures, coverage of every CA, freshness. */
function checkCrls(f: Findings, ca: ClientAuthConfig, crls: string[], where: string, now: Date, crlData: CrlData | undefined): void {
  let trust: Trust;
  try {
    trust = loadTrust(ca, crlData);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // trust.ts names the file in its message; point the finding at it too
    const file = crls.find((c) => err.message.includes(c)) ?? ca.ca;
    f.add('error', file, `clientAuth of ${where}: ${err.message}`, err.code);
    return;
  }
  for (const subject of trust.missingCrl) {
    f.add('error', ca.ca, `clientAuth of ${where}: CRLs are configured, but the CA "${subject}" has none, so every client certificate it issued would be refused; add its CRL to clientAuth.crl`);
  }
  const mode = ca.staleCrl ?? 'enforce';
  const meanwhile = mode === 'refuse'
    ? 'with staleCrl: refuse, every client under that CA is refused until a fresh CRL is in place'
    : 'its revocations stay enforced meanwhile (staleCrl: enforce)';
  // a warning, not an error: the gateway starts and applies staleCrl, as it does when a CRL goes stale while serving
  for (const line of trust.staleAt(now)) {
    const file = crls.find((c) => line.includes(c));
    f.add('warn', file, `clientAuth of ${where}: ${line}; publish a fresh CRL and put it in place (${meanwhile})`);
  }
}

function checkUpstream(f: Findings, route: RouteConfig, where: string, now: Date): void {
  if (typeof route.upstream === 'string' || !route.upstream.tls) return;
  checkUpstreamTls(f, route.upstream.tls, `upstream ${route.upstream.url} of ${where}`, now);
}

/** The TLS files of an upstream (a route's or TCP mode's): CA bundle, client certificate and key, and the unsafe switch. */
function checkUpstreamTls(f: Findings, tls: UpstreamTlsConfig, what: string, now: Date): void {
  if (tls.insecureSkipVerify) {
    f.add('warn', undefined, `INSECURE: ${what} has tls.insecureSkipVerify: true, so its certificate is NOT verified: anyone on the network path can impersonate it and read or change every request, identity headers included; remove it and set tls.ca (and tls.servername) instead`);
  }
  if (tls.ca) for (const cert of readCertificates(f, tls.ca, `CA bundle for ${what}`) ?? []) checkValidity(f, tls.ca, `CA bundle for ${what}`, cert, now);
  if (tls.cert && tls.key) {
    const chain = readCertificates(f, tls.cert, `client certificate for ${what}`);
    const key = readKey(f, tls.key, `client key for ${what}`);
    if (chain && key && !chain[0].checkPrivateKey(key)) f.add('error', tls.key, `client key for ${what}: does not belong to the certificate in ${tls.cert}`);
    if (chain) checkValidity(f, tls.cert, `client certificate for ${what}`, chain[0], now);
  }
  if (tls.p12) {
    try {
      tlsOptionsOf(tls, 'localhost');
    } catch (err) {
      f.add('error', tls.p12, `client certificate for ${what}: ${(err as Error).message}`);
    }
  }
}

/** A rule made only of sourceIp admits without a certificate; anything else needs one. */
const needsCertificate = (route: RouteConfig) => !route.public && !(route.allow?.length && route.allow.every((r) => Object.keys(r).every((k) => k === 'sourceIp')));

function checkServer(f: Findings, server: ServerConfig, index: number, now: Date, crlData: CrlData | undefined): void {
  const where = `servers[${index}] (${server.listen})`;
  const sites = server.sites ?? [];
  if (server.tls) {
    const hosts = sites.filter((s) => !s.tls).flatMap((s) => s.hosts);
    checkServing(f, server.tls, `server certificate of ${where}`, hosts, now);
  }
  sites.forEach((site) => {
    if (site.tls) checkServing(f, site.tls, `certificate of ${where} site ${site.hosts.join(', ')}`, site.hosts, now);
  });
  if (server.clientAuth) checkClientAuth(f, server.clientAuth, where, now, crlData);
  if (server.errorPage) readText(f, server.errorPage, `error page of ${where}`);
  if (server.tcp) {
    // normalized: upstream is {address, tls?}; the string form is read too for configs built in code
    const up = typeof server.tcp.upstream === 'string' ? { address: server.tcp.upstream, tls: server.tcp.tls } : server.tcp.upstream;
    if (up.tls) checkUpstreamTls(f, up.tls, `tcp upstream ${up.address} of ${where}`, now);
  }

  const mode = server.clientAuth?.mode ?? 'off';
  for (const site of sites) {
    for (const route of site.routes) {
      const routeWhere = `${where} route ${route.path}${site.hosts.includes('*') ? '' : ` on ${site.hosts[0]}`}`;
      checkUpstream(f, route, routeWhere, now);
      if (route.public && mode === 'require') {
        f.add('warn', undefined, `${routeWhere} is public, but clientAuth mode require fails the TLS handshake of clients without a certificate, so they never reach it; use mode: verify`);
      }
      if (needsCertificate(route) && (mode === 'off' || !server.tls)) {
        f.add('warn', undefined, `${routeWhere} needs a client certificate, but ${where} asks for none, so every request gets 403; add clientAuth or make the route public`);
      }
    }
  }
}

/**
 * Checks every file the (loaded, normalized) config names, as `certgate check` shows and `serve` enforces at start-up
 * and on reload. Reads files; never throws for a problem it can describe. CRL URLs are checked with the copies
 * `crlData` holds (crl-fetch.ts); without one, only their files are.
 */
export function preflight(config: GatewayConfig, now: Date = new Date(), crlData?: CrlData): Finding[] {
  const f = new Findings(parseDuration(config.expiryWarning ?? '') ?? EXPIRY_WARNING_DAYS * DAY);
  config.servers.forEach((server, i) => checkServer(f, server, i, now, crlData));
  return f.list;
}
