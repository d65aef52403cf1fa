// Getting a certificate onto a device: write the .p12 (password given, or generated and shown once) and say how to import it.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PkiError, UserError } from '../core/errors.ts';
import { assertNewFilePath, writeFileAtomic } from '../core/fs-atomic.ts';
import { buildPkcs12, assertUsablePassword } from './pkcs12.ts';
import { chooseLegacy, importSteps, platformProfile } from './platforms.ts';
import type { Platform } from './platforms.ts';
import { loadCa } from './ca.ts';
import { CaStore } from './store.ts';
import { displayStatus } from './list.ts';
import { resolveForClient } from './client-snippets.ts';
import { readKeyFile } from './keys.ts';

/** The two terminal channels writeP12 uses; a CliContext fits (pki does not import cli). */
export interface TerminalOutput {
  /** stdout: results (the import steps). */
  out(text: string): void;
  /** stderr: notes and the one-time generated password. Never a log. */
  err(text: string): void;
}

export interface WriteP12Options {
  /** The issuing CA as loaded by loadCa(): only its chain (this CA first, then parents) is used. */
  ca: { chainPems: string[] };
  certPem: string;
  /** Unencrypted PEM of the certificate's key. */
  keyPem: string;
  /** The certificate's NAME: becomes the friendly name importers show. */
  name: string;
  /** Where to write the .p12 (relative paths resolve against the current directory). */
  out: string;
  /** The password (the CLI reads --password-file once). Absent: a strong password is generated and printed once. */
  password?: string;
  /** Force the legacy encoding (3DES + SHA-1 MAC). */
  legacy?: boolean;
  /** Pick the encoding this platform imports and print its import steps. */
  platform?: Platform;
}

// Crockford's base32 in lower case: no i, l, o, u, so nothing looks alike; easy to type on a phone.
// 32 divides 256, so masking a random byte has no modulo bias.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** A fresh password: 24 symbols of 5 bits (120 bits) in dash-separated groups of four. */
export function generateP12Password(): string {
  const bytes = randomBytes(24);
  const chars = [...bytes].map((b) => ALPHABET[b & 31]);
  const groups: string[] = [];
  for (let i = 0; i < chars.length; i += 4) groups.push(chars.slice(i, i + 4).join(''));
  return groups.join('-');
}

/**
 * Checks, before anything is issued or built, that `out` can be written and the password file is usable, so
 * `cert issue --p12` fails before it signs anything.
 */
export function checkP12Options(opts: { out: string; password?: string }): void {
  // lstat, not existsSync: a dangling symlink at OUT would only fail at the final link(), after the certificate exists
  assertNewFilePath(resolve(opts.out), `--p12 ${opts.out}`);
  if (opts.password !== undefined) assertUsablePassword(opts.password);
}

function encodingLabel(legacy: boolean): string {
  return legacy ? 'legacy encoding: 3DES, SHA-1 MAC' : 'modern encoding: AES-256-CBC with PBKDF2-SHA256, SHA-256 MAC';
}

/** Numbers steps; lines starting with two spaces continue the previous step. */
export function numberSteps(steps: string[]): string[] {
  let n = 0;
  return steps.map((step) => (step.startsWith('  ') ? `     ${step.trim()}` : `  ${++n}. ${step}`));
}

/** Builds and writes the .p12 (mode 0600, atomically, never over an existing file), then tells the user what to do. */
export async function writeP12(opts: WriteP12Options, term: TerminalOutput): Promise<void> {
  checkP12Options(opts);
  const generated = opts.password === undefined;
  const password = opts.password ?? generateP12Password();
  const legacy = chooseLegacy(opts.legacy ?? false, opts.platform);
  const p12 = await buildPkcs12({
    keyPem: opts.keyPem,
    certPem: opts.certPem,
    chainPems: opts.ca.chainPems,
    password,
    friendlyName: opts.name,
    legacy,
  });
  try {
    writeFileAtomic(opts.out, p12, { mode: 0o600, exclusive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UserError('CG_FILE_EXISTS', `--p12 ${opts.out} already exists; certgate does not overwrite it`, { cause: err });
    }
    throw err;
  }
  term.err(`certgate: wrote ${opts.out} (${encodingLabel(legacy)})`);
  if (generated) {
    // The only place the password ever appears: the terminal, once. It is not logged or stored.
    term.err(`certgate: password for ${opts.out} (shown once, not stored anywhere): ${password}`);
  }
  if (opts.platform) {
    const profile = platformProfile(opts.platform);
    term.out(`\nImport on ${profile.label}:`);
    const forced = legacy && !profile.legacy;
    term.out(forced ? '  (legacy encoding because of --legacy; every platform imports it)' : `  (${legacy ? 'legacy' : 'modern'} encoding: ${profile.why})`);
    for (const line of numberSteps(importSteps(opts.platform, resolve(opts.out), opts.name))) term.out(line);
  }
}

export interface ExportRequest {
  /** The CA directory. */
  dir: string;
  /** SERIAL or NAME of the certificate. */
  ref: string;
  out: string;
  /** Absent: generated and printed once. */
  password?: string;
  legacy?: boolean;
  platform?: Platform;
  now?: Date;
}

/**
 * `cert export`: a .p12 of a certificate this CA issued with a key certgate generated (CG_PKI_NO_KEY otherwise).
 * Refuses revoked certificates (a device would only fail with them); warns about expired ones.
 */
export async function exportCertificate(req: ExportRequest, term: TerminalOutput): Promise<void> {
  const ca = loadCa(req.dir);
  checkP12Options(req);
  const store = CaStore.open(req.dir);
  try {
    const rec = resolveForClient(store, req.ref, req.now);
    if (rec.pem === null || rec.keyPath === null) {
      throw new PkiError('CG_PKI_NO_KEY', `certgate does not hold the private key of ${rec.serial}${rec.name ? ` (${rec.name})` : ''}`, {
        hint: 'only certificates made by `cert issue` can be exported; for a signed CSR, build the .p12 where its key lives',
      });
    }
    const status = displayStatus(rec, req.now ?? new Date());
    if (status === 'revoked') {
      throw new PkiError('CG_PKI_ALREADY_REVOKED', `${rec.serial} (${rec.name}) is revoked; a device could not use it`, {
        hint: 'issue a new certificate and export that one',
      });
    }
    if (status === 'expired') term.err(`certgate: warning: ${rec.serial} (${rec.name}) expired on ${rec.notAfter}`);
    const keyFile = join(req.dir, rec.keyPath);
    if (!existsSync(keyFile)) {
      throw new PkiError('CG_PKI_NO_KEY', `the key file ${keyFile} of ${rec.serial} is missing`);
    }
    const keyPem = readKeyFile(keyFile, null).export({ type: 'pkcs8', format: 'pem' }) as string;
    const legacy = chooseLegacy(req.legacy ?? false, req.platform);
    await writeP12({ ca, certPem: rec.pem, keyPem, name: rec.name, out: req.out, password: req.password, legacy, platform: req.platform }, term);
    store.audit('cert.export', { serial: rec.serial, name: rec.name, out: resolve(req.out), encoding: legacy ? 'legacy' : 'modern', platform: req.platform ?? null });
  } finally {
    store.close();
  }
}
