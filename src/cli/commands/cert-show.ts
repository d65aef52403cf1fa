// CLI: `certgate cert show` — one certificate, readable or as JSON, from the CA store or from a file.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { UserError } from '../../core/errors.ts';
import { resolveCaDir, CA_DIR_ENV } from '../../pki/ca-dir.ts';
import { loadCa } from '../../pki/ca.ts';
import type { LoadedCa } from '../../pki/ca.ts';
import { describeCertificate, firstCertificateDer, renderCertText, toShowJson } from '../../pki/cert-info.ts';
import type { CertDescription } from '../../pki/cert-info.ts';
import { resolveCert } from '../../pki/list.ts';
import { CaStore } from '../../pki/store.ts';
import type { CertRecord } from '../../pki/store.ts';
import { serialOperandCommand } from '../pki-options.ts';
import { warnIfCrlOwed } from '../owed-crl.ts';

interface ShowOptions {
  dir?: string;
  json?: boolean;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The record this CA keeps for a certificate read from a file: same serial and the same certificate. */
function recordForFile(store: CaStore, ca: LoadedCa, desc: CertDescription): CertRecord | null {
  const rec = store.getBySerial(desc.serial);
  if (!rec) return null;
  if (rec.fingerprint === desc.fingerprint) return rec;
  // a foreign serial revoked without its file: the serial and issuer are all there is to match
  return rec.profile === 'external' && rec.fingerprint === '' && desc.issuer === ca.cert.subject ? rec : null;
}

function withStore<T>(dir: string, ctx: CliContext, fn: (store: CaStore, ca: LoadedCa) => T): T {
  const ca = loadCa(dir);
  const store = CaStore.open(ca.dir);
  try {
    warnIfCrlOwed(store, ca.dir, ctx);
    return fn(store, ca);
  } finally {
    store.close();
  }
}

export function register(program: Command, ctx: CliContext): void {
  serialOperandCommand(group(program, 'cert'), 'show')
    .description('show one certificate: subject, SANs, usages, validity, fingerprint and its status in this CA')
    .argument('<serial|name|file>', 'serial number (hex, "-" first if negative), NAME, or a PEM/DER certificate file')
    .option('--dir <dir>', 'CA directory (default: $CERTGATE_PKI, else ./pki); with a FILE, only when given')
    .option('--json', 'print JSON (stable shape, see docs/pki.md)')
    .addHelpText(
      'after',
      `
A FILE needs no CA. With --dir (or $${CA_DIR_ENV}) certgate also says whether this CA issued it and whether it is
revoked. A SERIAL or NAME is looked up in the CA; a NAME with several certificates (renewed) needs the serial.

Examples:
  certgate cert show alice --dir ./pki
  certgate cert show ./client.crt
  certgate cert show ./client.crt --dir ./pki --json | jq .status

Exit codes:
  0  shown (whatever the certificate's status)
  1  unknown serial/name (CG_PKI_SERIAL_NOT_FOUND), a name with several certificates (CG_PKI_AMBIGUOUS),
     an unreadable certificate file, or no CA in --dir
  2  internal error`,
    )
    .action((ref: string, opts: ShowOptions) => {
      const now = new Date();
      const path = resolve(ctx.cwd, ref);
      let desc: CertDescription | null;
      let rec: CertRecord | null = null;
      let consulted = false;
      if (isFile(path)) {
        const data = readFileSync(path);
        const { count } = firstCertificateDer(data);
        if (count > 1) ctx.err(`certgate: ${ref} holds ${count} certificates; showing the first`);
        desc = describeCertificate(data);
        const caGiven = opts.dir !== undefined || (ctx.env[CA_DIR_ENV] ?? '').trim() !== '';
        if (caGiven) {
          consulted = true;
          rec = withStore(resolveCaDir(opts.dir, ctx.env, ctx.cwd), ctx, (store, ca) => recordForFile(store, ca, desc!));
        }
      } else {
        if (/[\\/]|\.(pem|crt|cer|der)$/i.test(ref) && !existsSync(path)) {
          throw new UserError('CG_FILE_NOT_FOUND', `${ref} does not exist`, { hint: 'pass a certificate file, a serial number or a NAME' });
        }
        consulted = true;
        rec = withStore(resolveCaDir(opts.dir, ctx.env, ctx.cwd), ctx, (store) => resolveCert(store, ref, now));
        desc = rec.pem ? describeCertificate(rec.pem) : null;
      }
      const json = toShowJson(desc, rec, consulted, now);
      ctx.out(opts.json ? JSON.stringify(json, null, 2) : renderCertText(json, now));
    });
}
