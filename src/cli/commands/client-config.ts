// CLI: `certgate client-config NAME` — ready-to-paste curl flags, git config lines or browser import steps for a certificate.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { UserError } from '../../core/errors.ts';
import { resolveCaDir } from '../../pki/ca-dir.ts';
import { loadCa } from '../../pki/ca.ts';
import { CaStore } from '../../pki/store.ts';
import { displayStatus } from '../../pki/list.ts';
import { PLATFORMS, parsePlatform } from '../../pki/platforms.ts';
import type { Platform } from '../../pki/platforms.ts';
import { warnIfCrlOwed } from '../owed-crl.ts';
import { BROWSER_PLATFORMS, URL_PLACEHOLDER, browserSnippet, clientMaterial, curlSnippet, gitSnippet, resolveForClient } from '../../pki/client-snippets.ts';

interface ClientConfigOptions {
  dir?: string;
  curl?: boolean;
  git?: boolean;
  browser?: boolean;
  url?: string;
  for?: Platform;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('client-config')
    .description('print ready-to-paste client settings (curl, git, browsers) for an issued certificate')
    .argument('<name|serial>', 'NAME (its newest valid certificate) or serial number')
    .option('--dir <dir>', 'CA directory (default: $CERTGATE_PKI, else ./pki)')
    .option('--curl', 'curl flags: --cert, --key, --cacert')
    .option('--git', 'git config lines: http.<url>.sslCert, sslKey, sslCAInfo')
    .option('--browser', 'how to export a .p12 for each browser and import it')
    .option('--url <url>', `the gateway URL used in the curl and git lines (default: ${URL_PLACEHOLDER})`)
    .option('--for <platform>', `with --browser: only this platform (${PLATFORMS.join(', ')})`, parsePlatform)
    .addHelpText(
      'after',
      `
Paths are absolute, so the lines work from any directory. --cacert / sslCAInfo point at the CA directory's chain.pem
(the CA and its parents), which verifies a gateway certificate issued by the same CA; use your own bundle otherwise.

Examples:
  certgate client-config alice --dir ./pki --curl --url https://app.example:8443/
  certgate client-config alice --git --url https://git.example/ >> setup.sh
  certgate client-config alice --browser --for firefox

Exit codes:
  0  printed
  1  unknown name/serial, no flag chosen, or another input error
  2  internal error`,
    )
    .action((ref: string, opts: ClientConfigOptions) => {
      if (!opts.curl && !opts.git && !opts.browser) {
        throw new UserError('CG_USAGE', 'client-config needs --curl, --git or --browser', { hint: 'see certgate client-config --help' });
      }
      const dir = resolveCaDir(opts.dir, ctx.env, ctx.cwd);
      loadCa(dir); // CG_PKI_NO_CA with a helpful message before the store is created
      const store = CaStore.open(dir);
      try {
        warnIfCrlOwed(store, dir, ctx);
        const rec = resolveForClient(store, ref);
        const status = displayStatus(rec, new Date());
        if (status !== 'valid') ctx.err(`certgate: warning: ${rec.serial} (${rec.name}) is ${status}; the server will refuse it`);
        const m = clientMaterial(dir, rec);
        if (m.keyPath === null) ctx.err(`certgate: note: certgate does not hold the key of ${rec.serial}; replace the key placeholder`);
        const url = opts.url ?? URL_PLACEHOLDER;
        const blocks: string[][] = [];
        if (opts.curl) blocks.push(curlSnippet(m, url));
        if (opts.git) blocks.push(gitSnippet(m, url));
        if (opts.browser) blocks.push(browserSnippet(m, dir, opts.for ? [opts.for] : BROWSER_PLATFORMS));
        ctx.out(blocks.map((b) => b.join('\n')).join('\n\n'));
      } finally {
        store.close();
      }
    });
}
