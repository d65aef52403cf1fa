// CLI: `certgate cert revoke` — revoke certificates and publish the new CRL (crl.pem, crl-bundle.pem) in the same run.
import type { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { addDirOption, caDir, parseDays, serialOperandCommand } from '../pki-options.ts';
import { addPassphraseOptions, unlockCaForSigning } from '../secrets.ts';
import { parseRevokeReason, REVOKE_REASONS } from '../../pki/crl.ts';
import { revokeCertificate } from '../../pki/revoke.ts';
import type { RevokedCert } from '../../pki/revoke.ts';
import { CaStore } from '../../pki/store.ts';

interface RevokeOptions {
  dir?: string;
  reason: string;
  days?: number;
  serial?: string;
  all?: boolean;
  [flag: string]: unknown;
}

const HELP = `
SERIAL is the hex serial as openssl prints it (any case, colons allowed; a negative serial with its "-", e.g.
-7EDC0A1B, also as --serial -7EDC0A1B or after --). A NAME picks its one certificate that is not revoked yet
(after a renew, the unexpired one); --all revokes every valid certificate of the NAME. A certificate FILE signed by
this CA works too, even one made outside certgate. An imported CA (ca import) may also revoke bare serials certgate
never saw; they are recorded as profile "external".
--reason keyCompromise revokes the key, not just one certificate: every valid certificate with the same public key
(after cert renew the old and the new one share it) is revoked too, in the same CRL, one "revoked" line each.
The CRL (DIR/crl.pem) and the chain-wide bundle (DIR/crl-bundle.pem: this CA's CRL + its parents') are rewritten
at once: certgate serve and certgate ca serve notice the change by themselves, nginx (ssl_crl) needs a reload. If that write fails or the run
is killed, the revocation stays recorded and the CRL owed: the next command that unlocks the CA key (or certgate crl,
or this command again) publishes it.

Examples:
  certgate cert revoke alice --dir ./pki --reason keyCompromise --passphrase-file ca-pass.txt
  certgate cert revoke 4F1A0C9E... --dir ./pki --passphrase-env CA_PASS
  certgate cert revoke -7EDC0A1B --dir ./pki                 (a negative serial, as openssl x509 -serial prints it)
  certgate cert revoke dave --all --reason superseded --dir ./pki
  certgate cert revoke ./old-laptop.crt --dir ./pki --reason superseded

Exit codes:
  0  revoked and the CRL written
  1  unknown serial/name (CG_PKI_SERIAL_NOT_FOUND), already revoked (CG_PKI_ALREADY_REVOKED; the CRL is republished
     first if it did not list it yet), a name with several live certificates (CG_PKI_AMBIGUOUS: use the serial or
     --all), a parent CA without a CRL (CG_PKI_PARENT_CRL), a CRL file that cannot be written (CG_PKI_CRL_WRITE: the
     revocation is recorded, run certgate crl once it is fixed), wrong passphrase, no CA
  2  internal error`;

function describe(r: RevokedCert, reason: string): string {
  const what = r.record.name ? `"${r.record.name}" (${r.record.serial})` : r.record.serial;
  const why = reason === 'unspecified' ? '' : `: ${reason}`;
  const tags = [r.external ? 'external: not issued by certgate' : '', r.sameKeyAs ? `same key as ${r.sameKeyAs}` : ''].filter(Boolean);
  return `revoked ${what}${why}${tags.map((t) => ` [${t}]`).join('')}`;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = serialOperandCommand(group(program, 'cert'), 'revoke')
    .description('revoke a certificate (or every one with its key, or of its NAME) and regenerate the CRL')
    .argument('[serial|name|file]', 'serial number (hex, "-" first if negative), NAME, or a certificate file this CA signed')
    .option('--serial <serial>', 'the serial number, read only as a serial (never a NAME or FILE), e.g. --serial -7EDC0A1B')
    .option('--all', 'revoke every valid certificate of the NAME given (e.g. the old and the new one after cert renew)')
    .option('--reason <reason>', `${REVOKE_REASONS.join(' | ')}`, 'unspecified')
    .option('--days <n>', 'lifetime of the CRL written now, remembered (default: the last --days given, else 7)', parseDays);
  addDirOption(cmd);
  addPassphraseOptions(cmd);
  cmd.addHelpText('after', HELP).action(async (arg: string | undefined, opts: RevokeOptions) => {
    if (arg !== undefined && opts.serial !== undefined) throw new UserError('CG_USAGE', `give the certificate once: "${arg}" or --serial ${opts.serial}, not both`);
    const ref = arg ?? opts.serial;
    if (ref === undefined) throw new UserError('CG_USAGE', 'say which certificate to revoke: SERIAL, NAME or FILE (or --serial SERIAL)');
    if (opts.all && opts.serial !== undefined) throw new UserError('CG_USAGE', '--all takes a NAME, not --serial');
    const reason = parseRevokeReason(opts.reason);
    const ca = await unlockCaForSigning(caDir(opts, ctx), opts, ctx);
    const store = CaStore.open(ca.dir);
    try {
      const r = await revokeCertificate(ca, store, { ref, reason, cwd: ctx.cwd, days: opts.days, serialOnly: opts.serial !== undefined, all: opts.all });
      for (const w of [...r.notes, ...r.crl.warnings]) ctx.err(`certgate: warning: ${w}`);
      for (const one of r.revoked) ctx.out(describe(one, reason));
      ctx.out(`  crl:        ${r.crl.crlPath} (number ${r.crl.crlNumber}, ${r.crl.entries} revoked, next update ${r.crl.nextUpdate.toISOString()})`);
      ctx.out(`  crl bundle: ${r.crl.bundlePath}`);
      ctx.out('certgate serve and certgate ca serve pick the new CRL up by themselves; nginx needs: nginx -s reload');
    } finally {
      store.close();
    }
  });
}
