// TLS material for one listener: the default context, per-site contexts chosen by SNI, client-certificate
// settings per clientAuth mode, and ticket-key rotation. CRLs are deliberately NOT given to OpenSSL (see below).
import { readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { createSecureContext, DEFAULT_CIPHERS } from 'node:tls';
import type { SecureContext, SecureContextOptions } from 'node:tls';
import { ConfigError } from '../../core/errors.ts';
import { pemDecodeAll } from '../../core/pem.ts';
import type { ServerConfig } from '../../config/schema.ts';
import { ocspTarget } from './ocsp-response.ts';

/** The TLS part of a compiled listener. Rebuilt on reload and swapped in whole. */
export interface TlsMaterial {
  /** Options for the default context (also what `server.setSecureContext` takes on reload). */
  base: SecureContextOptions;
  requestCert: boolean;
  rejectUnauthorized: boolean;
  /** Per-site contexts: exact host (lowercase) or "*.suffix" wildcard, checked in that order. */
  exact: Map<string, SecureContext>;
  wildcard: Array<{ suffix: string; context: SecureContext }>;
  /** A site with hosts ["*"] and its own certificate: used for any SNI no other site claims. */
  any: SecureContext | undefined;
  /** Every per-site context, for ticket-key rotation. */
  contexts: SecureContext[];
  /** The certificate files served, as read: the default one first, then each site's (for expiry metrics). */
  certPems: string[];
  /** The certificate files served with `ocspStapling: auto`, as read (the stapler fetches for these). */
  ocsp: Array<{ certFile: string; certPem: string }>;
  /** SHA-256 (hex) of each leaf served with `ocspStapling: auto`: only these get a staple in the handshake. */
  stapled: Set<string>;
  /**
   * Whether any of those names an OCSP responder certgate can fetch from (ocspTarget). Only then does the TLS server
   * get an OCSPRequest listener: with one, Node stops every handshake for a JavaScript callback, stapled or not.
   */
  staplable: boolean;
}

/** SHA-256 (hex) of the first certificate of a PEM file: the leaf a context serves. */
function leafFingerprint(certPem: string): string {
  const leaf = pemDecodeAll(certPem).find((b) => b.label === 'CERTIFICATE');
  return leaf ? createHash('sha256').update(leaf.der).digest('hex') : '';
}

/**
 * The TLS 1.2 suites offered when `tls.ciphers` is not set: Mozilla's "intermediate" profile for TLS 1.2 without its
 * DHE suites. Every suite has ECDHE key exchange (forward secrecy) and an AEAD cipher (AES-GCM, ChaCha20-Poly1305);
 * of each pair, the ECDSA or the RSA suite, only the one matching the certificate's key can be picked. No CBC suite:
 * their MAC-then-encrypt padding is what LUCKY13 and its successors attack, and the oldest clients Mozilla's profile
 * targets (IE 11 on Windows 7, Java 8, Android 4.4, OpenSSL 1.0.1) all have an ECDHE AES-GCM suite.
 *
 * Mozilla also lists DHE-RSA AEAD suites, for TLS 1.2 stacks built without elliptic curves. They are left out:
 * certgate issues EC keys by default and DHE-RSA needs an RSA certificate; Node enables DHE only with a `dhparam`,
 * which certgate does not set, so they would be dead entries anyway; and a finite-field DH handshake costs the server
 * far more than ECDHE, a cheap way to load a gateway (the "D(HE)at" attack, CVE-2002-20001). A config that must serve
 * such clients can list them in `tls.ciphers` (and would need a `dhparam` option certgate does not have yet).
 */
export const DEFAULT_TLS12_CIPHERS: readonly string[] = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

/**
 * The OpenSSL cipher string of a listener. `tls.ciphers` replaces the TLS 1.2 default whole (so it can widen it, e.g.
 * add CBC suites for old clients); Node sets TLS 1.3 suites only from `TLS_*` names, so a list without them leaves TLS
 * 1.3 at its defaults. The default list names Node's own TLS 1.3 suites first for the same reason.
 */
export function cipherString(configured: string | undefined): string {
  if (configured !== undefined) return configured;
  const tls13 = DEFAULT_CIPHERS.split(':').filter((name) => name.startsWith('TLS_'));
  return [...tls13, ...DEFAULT_TLS12_CIPHERS].join(':');
}

function readFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? 'CG_FILE_NOT_FOUND' : 'CG_CONFIG_FILE', `cannot read ${what} ${path} (${code ?? 'error'})`, undefined, { cause: err });
  }
}

/**
 * Builds the TLS material of a listener. `clientCaPem` is the trusted client CA bundle (from trust.ts) or undefined
 * when no client certificate is requested.
 *
 * Why no `crl` option: OpenSSL's CRL check is all-or-nothing per handshake. A CRL past nextUpdate locks every client
 * out, a CA without a CRL refuses its whole subtree, and nothing is re-checked on a resumed session or a keep-alive
 * connection opened before the CRL changed. certgate checks revocation itself on every request (trust.ts).
 */
export function buildTlsMaterial(server: ServerConfig, clientCaPem: string | undefined, mode: 'require' | 'verify' | 'off'): TlsMaterial {
  if (!server.tls) throw new ConfigError('CG_CONFIG_TLS', `server ${server.listen} has no tls section`);
  const requestCert = clientCaPem !== undefined && mode !== 'off';
  // Session resumption with client certificates needs one session id context shared by every context of the listener.
  const sessionIdContext = createHash('sha256').update(`certgate:${server.listen}`).digest('hex').slice(0, 32);
  const common: SecureContextOptions = {
    minVersion: server.tls.minVersion,
    ciphers: cipherString(server.tls.ciphers),
    ca: requestCert ? clientCaPem : undefined,
    sessionIdContext,
  };
  const base: SecureContextOptions = {
    ...common,
    cert: readFile(server.tls.cert, 'server certificate'),
    key: readFile(server.tls.key, 'server key'),
  };
  try {
    // what createSecureServer / setSecureContext will build: a bad key or cipher list fails the compile, not the swap
    createSecureContext(base);
  } catch (err) {
    throw new ConfigError('CG_CONFIG_TLS', `server ${server.listen}: ${server.tls.cert} and ${server.tls.key} with these tls settings are not usable (${(err as Error).message})`, undefined, { cause: err });
  }
  const certPems = [base.cert as string];
  const ocsp: TlsMaterial['ocsp'] = [];
  const stapled = new Set<string>();
  const stapleIfAuto = (setting: 'auto' | 'off', certFile: string, certPem: string) => {
    if (setting === 'off') return;
    ocsp.push({ certFile, certPem });
    stapled.add(leafFingerprint(certPem));
  };
  stapleIfAuto(server.tls.ocspStapling, server.tls.cert, base.cert as string);
  const exact = new Map<string, SecureContext>();
  const wildcard: TlsMaterial['wildcard'] = [];
  const contexts: SecureContext[] = [];
  let any: SecureContext | undefined;
  for (const site of server.sites ?? []) {
    if (!site.tls) continue;
    let context: SecureContext;
    const cert = readFile(site.tls.cert, 'site certificate');
    certPems.push(cert);
    try {
      context = createSecureContext({ ...common, cert, key: readFile(site.tls.key, 'site key') });
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError('CG_CONFIG_TLS', `site ${site.hosts.join(', ')}: ${site.tls.cert} and ${site.tls.key} are not a usable pair (${(err as Error).message})`, undefined, { cause: err });
    }
    contexts.push(context);
    stapleIfAuto(site.tls.ocspStapling, site.tls.cert, cert);
    for (const host of site.hosts) {
      const h = host.toLowerCase();
      if (h === '*') any ??= context;
      else if (h.startsWith('*.')) wildcard.push({ suffix: h.slice(1), context });
      else if (!exact.has(h)) exact.set(h, context);
    }
  }
  const staplable = ocsp.some((source) => !('skip' in ocspTarget(source.certPem)));
  return { base, requestCert, rejectUnauthorized: requestCert && mode === 'require', exact, wildcard, any, contexts, certPems, ocsp, stapled, staplable };
}

/** The per-site context for an SNI name, or undefined for the listener's default certificate. */
export function contextForServername(material: TlsMaterial, servername: string): SecureContext | undefined {
  const name = servername.toLowerCase();
  const hit = material.exact.get(name);
  if (hit) return hit;
  for (const w of material.wildcard) {
    // "*.example.com" covers exactly one more label: a.example.com, not a.b.example.com
    if (name.endsWith(w.suffix) && name.length > w.suffix.length && !name.slice(0, -w.suffix.length).includes('.')) return w.context;
  }
  return material.any;
}

/** A fresh random ticket key (48 bytes, Node's format). */
export function newTicketKeys(): Buffer {
  return randomBytes(48);
}

/**
 * Gives every context of the listener the same new ticket keys, so tickets issued before a CRL change cannot
 * resume a session. (Per-request revocation checks hold regardless; this narrows what resumption can skip.)
 */
export function rotateTicketKeys(setDefault: (keys: Buffer) => void, material: TlsMaterial, keys = newTicketKeys()): void {
  setDefault(keys);
  for (const c of material.contexts) c.context.setTicketKeys(keys);
}
