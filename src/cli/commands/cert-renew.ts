// CLI: `certgate cert renew SERIAL|NAME` — same key, new serial and validity; the old certificate is left alone.
import type { Command } from 'commander';
import { CaStore } from '../../pki/store.ts';
import { renewCertificate } from '../../pki/issue.ts';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { addDirOption, caDir, parseDays, serialOperandCommand, EXIT_CODES_HELP } from '../pki-options.ts';
import { addPassphraseOptions, unlockCaForSigning } from '../secrets.ts';

interface Options {
  dir?: string;
  days?: number;
  [flag: string]: unknown;
}

const HELP = `
Examples:
  certgate cert renew alice --passphrase-file ca-pass.txt
  certgate cert renew 4F1A2B3C4D5E6F70 --days 90 --passphrase-env CA_PASS

A NAME picks its newest certificate that is not revoked. The new certificate has the same public key, subject and
SANs, a new serial and a new validity (default: as long as the old one was). The old certificate stays valid until
it expires; revoke it with --reason superseded when it must stop working now. A key certgate generated is reused
(DIR/issued/... .key); revoked certificates are not renewed.
${EXIT_CODES_HELP}`;

export function register(program: Command, ctx: CliContext): void {
  const cmd = serialOperandCommand(group(program, 'cert'), 'renew')
    .argument('<SERIAL|NAME>', 'the certificate to renew')
    .description('reissue a certificate for the same key with a new serial and validity')
    .option('--days <n>', 'validity in days (default: the old certificate\'s)', parseDays);
  addDirOption(cmd);
  addPassphraseOptions(cmd);
  cmd.addHelpText('after', HELP).action(async (ref: string, opts: Options) => run(ref, opts, ctx));
}

async function run(ref: string, opts: Options, ctx: CliContext): Promise<void> {
  const dir = caDir(opts, ctx);
  const ca = await unlockCaForSigning(dir, opts, ctx);
  const store = CaStore.open(dir);
  let result;
  try {
    result = await renewCertificate(ca, store, { ref, days: opts.days });
  } finally {
    store.close();
  }
  const r = result.record;
  ctx.out(`renewed "${r.name}": new serial ${r.serial} (until ${r.notAfter})`);
  ctx.out(`  certificate: ${result.certPath}`);
  if (result.keyPath) ctx.out(`  key:         ${result.keyPath} (unchanged)`);
  ctx.out(`  previous:    ${result.previous.serial} stays valid until ${result.previous.notAfter}`);
}
