// CLI: `certgate ca set-url` — set (or remove) the base URL a CA is published under by `certgate ca serve`.
import { existsSync, rmSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import { caPaths } from '../../pki/ca-dir.ts';
import { loadCa } from '../../pki/ca.ts';
import { writeBaseUrl } from '../../pki/ca-url.ts';
import { CaStore } from '../../pki/store.ts';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { addDirOption, caDir, EXIT_CODES_HELP } from '../pki-options.ts';

interface Options {
  dir?: string;
  remove?: boolean;
}

const HELP = `
Stores URL in DIR/base-url.txt. \`certgate ca serve\` publishes the CA under its path (ca.crt, chain.pem, crl.pem,
crl.crl, crl-bundle.pem; see docs/crl-distribution.md), and every certificate the CA signs from now on carries a CRL
Distribution Point (URL + "crl.crl") and an AIA caIssuers pointer (URL + "ca.crt"). Certificates signed earlier keep
what they carry: renew them to move them to the new URL. Needs no passphrase.

Examples:
  certgate ca set-url http://pki.example.com/issuing/ --dir /etc/certgate/issuing
  certgate ca set-url --remove --dir /etc/certgate/issuing
${EXIT_CODES_HELP}`;

export function register(program: Command, ctx: CliContext): void {
  const cmd = group(program, 'ca')
    .command('set-url')
    .description('set the base URL `certgate ca serve` publishes this CA under (and certificates point at)')
    .argument('[url]', 'http:// or https:// base URL, e.g. http://pki.example.com/issuing/')
    .option('--remove', 'forget the base URL: new certificates carry no CRL Distribution Point');
  addDirOption(cmd);
  cmd.addHelpText('after', HELP).action(async (url: string | undefined, opts: Options) => {
    if ((url === undefined) === !opts.remove) throw new UserError('CG_USAGE', 'give either a URL or --remove');
    const dir = caDir(opts, ctx);
    loadCa(dir); // CG_PKI_NO_CA for a directory without a CA
    const store = CaStore.open(dir);
    try {
      if (url !== undefined) {
        const stored = writeBaseUrl(dir, url);
        store.transaction(() => store.audit('ca.set-url', { url: stored }));
        ctx.out(`base URL of ${dir}: ${stored}`);
        ctx.out(`  CRL distribution point of new certificates: ${stored}crl.crl`);
      } else {
        const path = caPaths(dir).baseUrl;
        if (existsSync(path)) rmSync(path);
        store.transaction(() => store.audit('ca.set-url', { url: null }));
        ctx.out(`base URL of ${dir} removed`);
      }
    } finally {
      store.close();
    }
  });
}
