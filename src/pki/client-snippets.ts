// Ready-to-paste client settings for an issued certificate: curl flags, git config lines, browser import steps.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PkiError } from '../core/errors.ts';
import { caPaths, fileStem, issuedFiles } from './ca-dir.ts';
import { displayStatus, lookupCert, resolveCert } from './list.ts';
import { importSteps, q } from './platforms.ts';
import type { Platform } from './platforms.ts';
import type { CaStore, CertRecord } from './store.ts';

/** Absolute paths a client needs. */
export interface ClientMaterial {
  name: string;
  serial: string;
  certPath: string;
  /** null when certgate does not hold the key (a signed CSR): the snippets then show a placeholder. */
  keyPath: string | null;
  /** Trust anchor bundle for the server's certificate: chain.pem (this CA and its parents), else ca.crt. */
  caPath: string;
}

export const KEY_PLACEHOLDER = '/path/to/your.key';
export const URL_PLACEHOLDER = 'https://gateway.example:8443/';

/**
 * SERIAL|NAME → one certificate, preferring for a NAME its newest live certificate (after `cert renew` the old one
 * stays valid until it expires, and the user wants the new one). Falls back to resolveCert's errors.
 */
export function resolveForClient(store: CaStore, ref: string, now = new Date()): CertRecord {
  const { bySerial, byName } = lookupCert(store, ref);
  if (bySerial) return bySerial;
  const live = byName.filter((r) => displayStatus(r, now) === 'valid');
  const newer = (a: CertRecord, b: CertRecord) => (b.issuedAt > a.issuedAt || (b.issuedAt === a.issuedAt && b.notAfter > a.notAfter) ? b : a);
  if (live.length > 0) return live.reduce(newer);
  return resolveCert(store, ref, now);
}

/** Where the certificate, its key and the CA bundle of `rec` live under `dir`. */
export function clientMaterial(dir: string, rec: CertRecord): ClientMaterial {
  const paths = caPaths(dir);
  const certPath = join(dir, issuedFiles(rec.name, rec.serial).cert);
  if (!existsSync(certPath)) {
    throw new PkiError('CG_FILE_NOT_FOUND', `the certificate file ${certPath} of ${rec.serial} is missing`);
  }
  return {
    name: rec.name,
    serial: rec.serial,
    certPath,
    keyPath: rec.keyPath === null ? null : join(dir, rec.keyPath),
    caPath: existsSync(paths.chain) ? paths.chain : paths.cert,
  };
}

/** A curl command line: client cert, key and the CA that verifies the server. */
export function curlSnippet(m: ClientMaterial, url: string): string[] {
  return [
    `curl --cert ${q(m.certPath)} --key ${q(m.keyPath ?? KEY_PLACEHOLDER)} --cacert ${q(m.caPath)} ${q(url)}`,
  ];
}

/** `git config` lines scoped to one URL (git matches http.<url>.* against the remote's URL by prefix). */
export function gitSnippet(m: ClientMaterial, url: string): string[] {
  const key = (k: string) => q(`http.${url}.${k}`);
  return [
    `git config --global ${key('sslCert')} ${q(m.certPath)}`,
    `git config --global ${key('sslKey')} ${q(m.keyPath ?? KEY_PLACEHOLDER)}`,
    `git config --global ${key('sslCAInfo')} ${q(m.caPath)}`,
  ];
}

/** Browser-relevant platforms shown by `client-config --browser` without --for. */
export const BROWSER_PLATFORMS: Platform[] = ['firefox', 'chrome', 'macos', 'windows'];

/** Browsers take a .p12: how to make one for each platform and import it. */
export function browserSnippet(m: ClientMaterial, dir: string, platforms: Platform[]): string[] {
  const lines: string[] = [];
  if (m.keyPath === null) {
    lines.push(`# certgate does not hold the key of ${m.serial}: build the .p12 where the key is, e.g.`);
    lines.push(`#   openssl pkcs12 -export -in ${q(m.certPath)} -inkey ${KEY_PLACEHOLDER} -certfile ${q(m.caPath)} -out ${q(fileStem(m.name) + '.p12')}`);
    return lines;
  }
  for (const platform of platforms) {
    // NAME may be a requester's CN ("../../x", "-rf"): suggest the same safe stem as DIR/issued
    const file = `${fileStem(m.name)}-${platform}.p12`;
    lines.push(`# ${platform}`);
    lines.push(`certgate cert export ${q(m.serial)} --dir ${q(dir)} --p12 ${q(file)} --for ${platform}`);
    for (const step of importSteps(platform, file, m.name)) lines.push(`#   ${step.trim()}`);
    lines.push('');
  }
  lines.push('# Phones and other systems: --for ios, android, linux (see certgate cert export --help).');
  return lines;
}
