// A CA's base URL (where `certgate ca serve` publishes it): checking it, storing it in DIR/base-url.txt, and the URLs derived from it.
import { existsSync, readFileSync } from 'node:fs';
import { PkiError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/fs-atomic.ts';
import { caPaths } from './ca-dir.ts';

/** The files published under a base URL, by name (docs/crl-distribution.md). */
export const PUBLISHED_FILES = {
  /** The CA certificate, DER: what AIA caIssuers points at. */
  caCert: 'ca.crt',
  chain: 'chain.pem',
  crlPem: 'crl.pem',
  /** The CRL, DER: what the CRL Distribution Point points at. */
  crlDer: 'crl.crl',
  crlBundle: 'crl-bundle.pem',
} as const;

/**
 * Checks and normalizes a base URL: http or https, a host, no user info, query or fragment; a trailing "/" is
 * added. Pure. CG_PKI_BAD_URL otherwise.
 */
export function normalizeBaseUrl(text: string, flag = '--url'): string {
  const value = text.trim();
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PkiError('CG_PKI_BAD_URL', `${flag} "${text}" is not an absolute URL`, { hint: 'e.g. http://pki.example.com/issuing/' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PkiError('CG_PKI_BAD_URL', `${flag} "${text}" must be http:// or https:// (most CRL fetchers speak plain http only)`, {
      hint: 'e.g. http://pki.example.com/issuing/',
    });
  }
  if (url.username || url.password) throw new PkiError('CG_PKI_BAD_URL', `${flag} "${text}" must not carry a user name or password`);
  if (url.search || url.hash || value.includes('?') || value.includes('#')) {
    throw new PkiError('CG_PKI_BAD_URL', `${flag} "${text}" must not have a query (?) or fragment (#)`);
  }
  // WHATWG URL parsing removes dot segments silently: check what was typed
  if (/\/(?:\.|%2e){1,2}(?:\/|$)/i.test(value) || url.pathname.split('/').some((seg) => /^(?:\.|%2e){1,2}$/i.test(seg))) {
    throw new PkiError('CG_PKI_BAD_URL', `${flag} "${text}" must not contain "." or ".." path segments`);
  }
  const href = url.href;
  return href.endsWith('/') ? href : href + '/';
}

/** The path part of a base URL ("/issuing/"), what `ca serve` matches requests on. Pure. */
export function basePathOf(baseUrl: string): string {
  return new URL(baseUrl).pathname;
}

/** The CRL Distribution Point and AIA caIssuers URLs of certificates a CA with `baseUrl` signs. Pure. */
export function distributionUrls(baseUrl: string): { crl: string; caIssuers: string } {
  return { crl: baseUrl + PUBLISHED_FILES.crlDer, caIssuers: baseUrl + PUBLISHED_FILES.caCert };
}

/** DIR's base URL, or undefined when none was set. A damaged file is CG_PKI_BAD_URL naming it. */
export function readBaseUrl(dir: string): string | undefined {
  const path = caPaths(dir).baseUrl;
  if (!existsSync(path)) return undefined;
  const line = readFileSync(path, 'utf8').split(/\r?\n/, 1)[0].trim();
  if (line === '') return undefined;
  return normalizeBaseUrl(line, path);
}

/** Stores DIR's base URL (normalized) atomically; returns what was stored. */
export function writeBaseUrl(dir: string, url: string): string {
  const normalized = normalizeBaseUrl(url);
  writeFileAtomic(caPaths(dir).baseUrl, normalized + '\n', { mode: 0o644 });
  return normalized;
}
