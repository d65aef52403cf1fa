// CLI: `certgate cert list` — the certificates of a CA, filtered by status or by how soon they expire.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { resolveCaDir } from '../../pki/ca-dir.ts';
import { loadCa } from '../../pki/ca.ts';
import { CaStore } from '../../pki/store.ts';
import { formatListTable, listCertificates, parseListFilter, toListEntry } from '../../pki/list.ts';
import { warnIfCrlOwed } from '../owed-crl.ts';
import { PkiError } from '../../core/errors.ts';

interface ListOptions {
  dir?: string;
  json?: boolean;
  status?: string;
  expiring?: string;
  failIfAny?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  group(program, 'cert')
    .command('list')
    .description('list the certificates this CA issued or revoked')
    .option('--dir <dir>', 'CA directory (default: $CERTGATE_PKI, else ./pki)')
    .option('--json', 'print a JSON array (stable shape, see docs/pki.md)')
    .option('--status <status>', 'only valid, revoked or expired certificates')
    .option('--expiring <duration>', 'only still-valid certificates whose notAfter is within this window, e.g. 30d, 12h')
    .option('--fail-if-any', 'exit 1 when anything is listed (for cron and CI: --expiring 30d --fail-if-any)')
    .addHelpText(
      'after',
      `
"expired" is derived from notAfter; a revoked certificate counts as revoked even after it expires.
--expiring lists soonest-expiring first; otherwise certificates come in the order they were issued.

Examples:
  certgate cert list --dir ./pki
  certgate cert list --expiring 30d --json | jq -r '.[].name'
  certgate cert list --status revoked
  certgate cert list --expiring 30d --fail-if-any || notify-ops "certificates to renew"    # cron

Exit codes:
  0  listed (also when nothing matches: the alert is off)
  1  --fail-if-any and at least one certificate listed (CG_PKI_FAIL_IF_ANY; the listing is printed first),
     no CA in --dir, or a bad --status / --expiring value
  2  internal error`,
    )
    .action((opts: ListOptions) => {
      const now = new Date();
      const filter = parseListFilter({ status: opts.status, expiring: opts.expiring }, now);
      const ca = loadCa(resolveCaDir(opts.dir, ctx.env, ctx.cwd));
      const store = CaStore.open(ca.dir);
      try {
        warnIfCrlOwed(store, ca.dir, ctx);
        const rows = listCertificates(store, filter);
        ctx.out(opts.json ? JSON.stringify(rows.map((r) => toListEntry(r, now)), null, 2) : formatListTable(rows, now));
        if (opts.failIfAny && rows.length > 0) {
          const one = rows.length === 1;
          const what = opts.expiring !== undefined ? `${one ? 'expires' : 'expire'} within ${opts.expiring}` : one ? 'matches' : 'match';
          throw new PkiError('CG_PKI_FAIL_IF_ANY', `${rows.length} certificate${one ? '' : 's'} ${what} (--fail-if-any)`);
        }
      } finally {
        store.close();
      }
    });
}
