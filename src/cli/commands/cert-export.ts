// CLI: `certgate cert export SERIAL|NAME --p12 OUT` — a password-protected .p12 for a device, in the encoding it imports.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { serialOperandCommand } from '../pki-options.ts';
import { readPassword } from '../secrets.ts';
import { resolveCaDir } from '../../pki/ca-dir.ts';
import { exportCertificate } from '../../pki/distribution.ts';
import { PLATFORMS, parsePlatform } from '../../pki/platforms.ts';
import type { Platform } from '../../pki/platforms.ts';

interface ExportOptions {
  dir?: string;
  p12: string;
  passwordFile?: string;
  legacy?: boolean;
  for?: Platform;
}

export function register(program: Command, ctx: CliContext): void {
  serialOperandCommand(group(program, 'cert'), 'export')
    .description('write a password-protected PKCS#12 (.p12) with the key, the certificate and the CA chain')
    .argument('<serial|name>', 'serial number (hex, "-" first if negative) or NAME of the certificate')
    .option('--dir <dir>', 'CA directory (default: $CERTGATE_PKI, else ./pki)')
    .requiredOption('--p12 <file>', 'the .p12 file to write (mode 0600; never overwritten)')
    .option('--password-file <file>', 'file whose first line is the .p12 password (default: generate one and show it once)')
    .option('--legacy', 'legacy encoding: 3DES + SHA-1 MAC (macOS, iOS, older Android and Windows)')
    .option('--for <platform>', `encode for and print import steps for: ${PLATFORMS.join(', ')}`, parsePlatform)
    .addHelpText(
      'after',
      `
Only certificates whose key certgate generated (\`cert issue\`) can be exported. The default encoding is modern
(AES-256-CBC, PBKDF2-SHA256, SHA-256 MAC, as OpenSSL 3 writes it); --for picks what that platform imports:
macos, ios, android and windows get the legacy encoding, firefox, chrome and linux the modern one.
Without --password-file a strong password is generated and printed once on stderr; certgate stores no copy.

Examples:
  certgate cert export alice --dir ./pki --p12 alice.p12 --for ios
  certgate cert export 4F1A0C... --p12 alice.p12 --password-file pw.txt --legacy

Exit codes:
  0  written
  1  unknown serial/name, no key held (CG_PKI_NO_KEY), empty password, existing --p12 file, or another input error
  2  internal error`,
    )
    .action(async (ref: string, opts: ExportOptions) => {
      await exportCertificate(
        {
          dir: resolveCaDir(opts.dir, ctx.env, ctx.cwd),
          ref,
          out: resolve(ctx.cwd, opts.p12),
          password: await readPassword(opts, ctx),
          legacy: opts.legacy ?? false,
          platform: opts.for,
        },
        ctx,
      );
    });
}
