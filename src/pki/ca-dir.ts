// The CA directory: where DIR is (--dir, $CERTGATE_PKI, ./pki) and the stable names of the files inside it.
import { resolve, join } from 'node:path';

export const DEFAULT_CA_DIR = 'pki';
export const CA_DIR_ENV = 'CERTGATE_PKI';

/** --dir wins, then $CERTGATE_PKI, then ./pki; relative paths resolve against cwd. */
export function resolveCaDir(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string {
  const chosen = flag && flag.trim() !== '' ? flag : env[CA_DIR_ENV] && env[CA_DIR_ENV]!.trim() !== '' ? env[CA_DIR_ENV]! : DEFAULT_CA_DIR;
  return resolve(cwd, chosen);
}

/** The documented layout of a CA directory. Paths are absolute. */
export interface CaPaths {
  dir: string;
  /** This CA's certificate. */
  cert: string;
  /** This CA's private key (encrypted PKCS#8 when a passphrase is set), mode 0600. */
  key: string;
  /** This CA and its parents, leaf-most first. */
  chain: string;
  /** This CA's current CRL. */
  crl: string;
  /** CRLs of this CA and all its parents (what nginx ssl_crl / clientAuth.crl point at). */
  crlBundle: string;
  /** Base URL the CA is published under (`ca create --url`, `ca set-url`): one line; absent when none. */
  baseUrl: string;
  /** Issued certificates (and certgate-generated keys). */
  issued: string;
  db: string;
}

export function caPaths(dir: string): CaPaths {
  return {
    dir,
    cert: join(dir, 'ca.crt'),
    key: join(dir, 'ca.key'),
    chain: join(dir, 'chain.pem'),
    crl: join(dir, 'crl.pem'),
    crlBundle: join(dir, 'crl-bundle.pem'),
    baseUrl: join(dir, 'base-url.txt'),
    issued: join(dir, 'issued'),
    db: join(dir, 'certgate.db'),
  };
}

/**
 * Makes NAME safe as a file-name stem: keeps letters, digits, '.', '_', '-', '@'; everything else becomes '_'. A
 * leading run of '.' or '-' becomes '_' too: no hidden files, no "..", and nothing that `cp *` or `rm *` in issued/
 * would read as options.
 */
export function fileStem(name: string): string {
  const stem = name.replace(/[^A-Za-z0-9._@-]/g, '_').replace(/^[.-]+/, '_');
  return stem === '' ? '_' : stem.slice(0, 100);
}

/** Relative (to DIR) paths of an issued certificate and its generated key: issued/<NAME>-<SERIAL>.crt/.key */
export function issuedFiles(name: string, serial: string): { cert: string; key: string } {
  const base = `issued/${fileStem(name)}-${serial}`;
  return { cert: `${base}.crt`, key: `${base}.key` };
}
