// CLI: `certgate ca status` — the CA's expiry, its CRL's nextUpdate and certificate counts; exit 1 on request for cron.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { addDirOption, caDir } from '../pki-options.ts';
import { PkiError } from '../../core/errors.ts';
import { caStatus } from '../../pki/ca-status.ts';
import type { CaStatus } from '../../pki/ca-status.ts';
import { relativeTime } from '../../pki/cert-info.ts';
import { parseListFilter } from '../../pki/list.ts';

interface StatusOptions {
  dir?: string;
  json?: boolean;
  expiring: string;
  failIfAny?: boolean;
}

const HELP = `
Reads DIR/ca.crt, DIR/crl.pem and DIR/certgate.db (no passphrase needed) and prints:
  the CA certificate's notAfter, the CRL's number and nextUpdate, and how many certificates are valid (of which
  how many expire within the window), revoked and expired, then what needs attention within the window.
The CRL's window is at most half its lifetime (3.5 days for a 7-day CRL), so a CRL renewed daily never alerts.
Expired and revoked certificates are counted, never alerted on: nothing can be done about them.

Examples:
  certgate ca status --dir /etc/certgate/pki
  certgate ca status --expiring 14d --fail-if-any || mail -s "certgate CA needs attention" ops@example.com
  certgate ca status --json | jq '.certificates.expiring'

Exit codes:
  0  printed (also when something needs attention, unless --fail-if-any)
  1  --fail-if-any and something needs attention (CG_PKI_FAIL_IF_ANY), no CA in DIR, or a bad --expiring
  2  internal error`;

function printText(s: CaStatus, now: Date, ctx: CliContext): void {
  const at = (iso: string) => `${iso.replace(/\.\d{3}Z$/, 'Z')} (${relativeTime(new Date(iso), now)})`;
  ctx.out(`CA:           ${s.ca.subject} in ${s.dir}`);
  ctx.out(`  notAfter:   ${at(s.ca.notAfter)}${s.ca.state === 'valid' ? '' : `  ${s.ca.state.toUpperCase()}`}`);
  if (s.crl) {
    ctx.out(`CRL:          number ${s.crl.crlNumber ?? '-'}, ${s.crl.entries} revoked listed`);
    ctx.out(`  nextUpdate: ${s.crl.nextUpdate ? at(s.crl.nextUpdate) : 'none (never expires)'}${s.crl.state === 'valid' ? '' : `  ${s.crl.state.toUpperCase()}`}`);
  } else {
    ctx.out('CRL:          MISSING');
  }
  const c = s.certificates;
  ctx.out(`certificates: ${c.valid} valid (${c.expiring} expiring within ${s.window}), ${c.revoked} revoked, ${c.expired} expired`);
  if (s.attention.length === 0) ctx.out(`attention:    nothing within ${s.window}`);
  for (const a of s.attention) ctx.out(`attention:    ${a}`);
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = group(program, 'ca')
    .command('status')
    .description("the CA's expiry, its CRL's nextUpdate and certificate counts; --fail-if-any for cron and CI")
    .option('--json', 'print one JSON object (stable shape, see docs/pki.md)')
    .option('--expiring <duration>', 'the alert window, e.g. 30d, 12h', '30d')
    .option('--fail-if-any', 'exit 1 when the CA, its CRL or a certificate expires within the window (or already has)');
  addDirOption(cmd);
  cmd.addHelpText('after', HELP).action((opts: StatusOptions) => {
    const now = new Date();
    const windowMs = parseListFilter({ expiring: opts.expiring }, now).expiringWithinMs!;
    const status = caStatus(caDir(opts, ctx), { window: opts.expiring, windowMs, now });
    if (opts.json) ctx.out(JSON.stringify(status, null, 2));
    else printText(status, now, ctx);
    if (opts.failIfAny && status.attention.length > 0) {
      const n = status.attention.length;
      throw new PkiError('CG_PKI_FAIL_IF_ANY', `${n} thing${n === 1 ? '' : 's'} in ${status.dir} need${n === 1 ? 's' : ''} attention within ${opts.expiring} (--fail-if-any)`);
    }
  });
}
