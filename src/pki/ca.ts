// The CA itself: load it from DIR, unlock its key, create a root or intermediate, adopt an openssl-made CA.
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { createHash, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import * as x509 from '../core/x509.ts';
import { PkiError } from '../core/errors.ts';
import { splitCertificates } from '../core/pem.ts';
import { caPaths } from './ca-dir.ts';
import { readBaseUrl } from './ca-url.ts';
import { requireKeyType, readKeyFile, keysMatch, toCryptoKey, isEncryptedKeyPem } from './keys.ts';
import type { KeyType } from './keys.ts';

export interface LoadedCa {
  dir: string;
  cert: x509.X509Certificate;
  certPem: string;
  /** This CA first, then its parents. */
  chainPems: string[];
  keyAlgorithm: KeyType;
  /** Where `certgate ca serve` publishes this CA (DIR/base-url.txt); certificates it signs point there. */
  baseUrl?: string;
}

export interface UnlockedCa extends LoadedCa {
  /** WebCrypto key, for @peculiar/x509 signing. */
  privateKey: CryptoKey;
  keyObject: KeyObject;
}

export const CA_DEFAULT_DAYS = 3650;
const DAY_MS = 86_400_000;
/** Certificates start a few minutes in the past so a peer whose clock lags a little still accepts them. */
export const BACKDATE_MS = 5 * 60_000;

/** Parses a PEM or DER certificate; CG_PKI_BAD_CERT naming `source` when it is not one. */
export function parseCertificate(data: string | Buffer, source: string): x509.X509Certificate {
  try {
    const text = typeof data === 'string' ? data : data.toString('latin1');
    if (text.includes('-----BEGIN')) {
      const pems = splitCertificates(text);
      if (pems.length === 0) throw new Error('no CERTIFICATE block');
      return new x509.X509Certificate(pems[0]);
    }
    return new x509.X509Certificate(new Uint8Array(typeof data === 'string' ? Buffer.from(data, 'latin1') : data));
  } catch (err) {
    throw new PkiError('CG_PKI_BAD_CERT', `${source} is not a certificate: ${(err as Error).message}`, { cause: err });
  }
}

/** The public key of a certificate (or CSR) as a node KeyObject. */
export function publicKeyOf(cert: { publicKey: x509.PublicKey }): KeyObject {
  return createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
}

/** sha256 of the DER, lowercase hex without colons (the store's fingerprint form). */
export function fingerprintOf(cert: x509.X509Certificate): string {
  return createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex');
}

/** Loads DIR's CA certificate and chain (no key). CG_PKI_NO_CA when DIR or ca.crt is missing. */
export function loadCa(dir: string): LoadedCa {
  const paths = caPaths(dir);
  if (!existsSync(dir)) {
    throw new PkiError('CG_PKI_NO_CA', `CA directory ${dir} does not exist`, { hint: 'create one with: certgate ca create --dir DIR --name NAME, or pass --dir' });
  }
  if (!existsSync(paths.cert)) {
    throw new PkiError('CG_PKI_NO_CA', `${dir} holds no certgate CA (no ca.crt)`, { hint: 'create one with: certgate ca create --dir DIR --name NAME' });
  }
  const certPem = readFileSync(paths.cert, 'utf8');
  const cert = parseCertificate(certPem, paths.cert);
  const chainPems = existsSync(paths.chain) ? splitCertificates(readFileSync(paths.chain, 'utf8')) : splitCertificates(certPem);
  const keyAlgorithm = requireKeyType(publicKeyOf(cert), paths.cert);
  const baseUrl = readBaseUrl(dir);
  return { dir, cert, certPem, chainPems, keyAlgorithm, ...(baseUrl ? { baseUrl } : {}) };
}

/** True when DIR's ca.key is encrypted, so a passphrase has to be asked for. */
export function caKeyEncrypted(ca: LoadedCa): boolean {
  const path = caPaths(ca.dir).key;
  if (!existsSync(path)) throw new PkiError('CG_PKI_NO_KEY', `${path} is missing: this CA cannot sign`);
  return isEncryptedKeyPem(readFileSync(path, 'utf8'));
}

/** Decrypts ca.key. CG_PKI_KEY_PERMISSIONS when group/world-readable, CG_PKI_BAD_PASSPHRASE, CG_PKI_BAD_KEY on mismatch. */
export async function unlockCa(ca: LoadedCa, passphrase: string | null): Promise<UnlockedCa> {
  const path = caPaths(ca.dir).key;
  if (!existsSync(path)) throw new PkiError('CG_PKI_NO_KEY', `${path} is missing: this CA cannot sign`);
  const keyObject = readKeyFile(path, passphrase);
  if (!keysMatch(keyObject, publicKeyOf(ca.cert))) {
    throw new PkiError('CG_PKI_BAD_KEY', `${path} does not belong to ${caPaths(ca.dir).cert}`);
  }
  return { ...ca, keyObject, privateKey: toCryptoKey(keyObject, ca.keyAlgorithm) };
}

/** CG_PKI_CA_EXPIRED when the CA cannot sign at `now`. */
export function assertCaCurrent(ca: LoadedCa, now: Date): void {
  if (now.getTime() > ca.cert.notAfter.getTime()) {
    throw new PkiError('CG_PKI_CA_EXPIRED', `the CA in ${ca.dir} expired on ${ca.cert.notAfter.toISOString()}`, {
      hint: 'create a new CA (certgate ca create) and reissue',
    });
  }
  if (now.getTime() < ca.cert.notBefore.getTime()) {
    throw new PkiError('CG_PKI_CA_EXPIRED', `the CA in ${ca.dir} is not valid before ${ca.cert.notBefore.toISOString()}`);
  }
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/**
 * Validity of a certificate the CA signs: backdated a little (never before the CA's own start), `days` long.
 * `clamp` shortens a default validity to the CA's end; otherwise running past the CA is CG_PKI_VALIDITY. Pure.
 */
export function childValidity(issuer: x509.X509Certificate, now: Date, days: number, clamp = false): Validity {
  if (!Number.isFinite(days) || days <= 0) throw new PkiError('CG_PKI_VALIDITY', `--days must be a positive number (got ${days})`);
  const notBefore = new Date(Math.max(now.getTime() - BACKDATE_MS, issuer.notBefore.getTime()));
  // X.509 times have whole seconds: compare what will actually be encoded
  let notAfter = new Date(Math.floor((now.getTime() + days * DAY_MS) / 1000) * 1000);
  if (notAfter.getTime() > issuer.notAfter.getTime()) {
    if (!clamp) {
      const left = Math.floor((issuer.notAfter.getTime() - now.getTime()) / DAY_MS);
      throw new PkiError('CG_PKI_VALIDITY', `${days} days would run past the CA's own expiry (${issuer.notAfter.toISOString()})`, {
        hint: left >= 1 ? `use --days ${left} or less` : 'the CA expires within a day: create a new CA',
      });
    }
    notAfter = new Date(issuer.notAfter.getTime());
  }
  return { notBefore, notAfter };
}

/** Creates DIR and DIR/issued (0700: they hold keys). */
export function ensureCaDirs(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(caPaths(dir).issued, { recursive: true, mode: 0o700 });
}

/** Parses `x509.BasicConstraintsExtension` of a cert, or undefined. */
export function basicConstraintsOf(cert: x509.X509Certificate): x509.BasicConstraintsExtension | undefined {
  return cert.getExtension(x509.BasicConstraintsExtension) ?? undefined;
}

/** CG_PKI_BAD_CERT unless the certificate may act as a CA (CA:true, keyCertSign when keyUsage is present). */
export function assertIsCaCert(cert: x509.X509Certificate, source: string): void {
  const bc = basicConstraintsOf(cert);
  if (!bc?.ca) throw new PkiError('CG_PKI_BAD_CERT', `${source} is not a CA certificate (basicConstraints CA:true missing)`);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.keyCertSign)) {
    throw new PkiError('CG_PKI_BAD_CERT', `${source} may not sign certificates (keyUsage lacks keyCertSign)`);
  }
}
