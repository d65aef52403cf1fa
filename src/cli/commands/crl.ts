// CLI: `certgate crl` — sign a fresh CRL for the CA and rewrite crl.pem and the chain-wide crl-bundle.pem.
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { assertReplaceableFilePath, writeFileAtomic } from '../../core/fs-atomic.ts';
import { addDirOption, caDir, parseDays } from '../pki-options.ts';
import { addPassphraseOptions, unlockCaForSigning } from '../secrets.ts';
import { publishCrl } from '../../pki/crl-publish.ts';
import { CaStore } from '../../pki/store.ts';

interface CrlOptions {
  dir?: string;
  out?: string;
  days?: number;
  [flag: string]: unknown;
}

const HELP = `
A CRL expires at its nextUpdate (default 7 days after now; --days N, remembered for later revokes). Verifiers that
check CRLs refuse every client once it has lapsed, so run this regularly, e.g. daily from cron, root first:
  certgate crl --dir /etc/certgate/root --passphrase-file /etc/certgate/root.pass &&
    certgate crl --dir /etc/certgate/issuing --passphrase-file /etc/certgate/issuing.pass
An intermediate's crl-bundle.pem copies its parent's current CRLs: regenerate it after the parent's changes.

Examples:
  certgate crl --dir ./pki --passphrase-file ca-pass.txt
  certgate crl --dir ./pki --days 30 --out /srv/www/pki/example.crl

Exit codes:
  0  CRL written
  1  no CA, wrong passphrase, expired CA, a parent CA without a CRL (CG_PKI_PARENT_CRL), bad --days
  2  internal error`;

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('crl')
    .description("sign a fresh CRL and rewrite DIR/crl.pem and DIR/crl-bundle.pem")
    .option('--out <file>', 'also write the CRL (PEM) to FILE, e.g. a web server\'s publication directory')
    .option('--days <n>', 'days until nextUpdate (default 7, or the last value given)', parseDays);
  addDirOption(cmd);
  addPassphraseOptions(cmd);
  cmd.addHelpText('after', HELP).action(async (opts: CrlOptions) => {
    // checked before a CRL number is taken: a bad --out fails with nothing changed
    const out = opts.out === undefined ? undefined : resolve(ctx.cwd, opts.out);
    if (out) assertReplaceableFilePath(out, `--out ${opts.out}`);
    // no separate publish of an owed CRL: the one written now covers it
    const ca = await unlockCaForSigning(caDir(opts, ctx), opts, ctx, { publishOwed: false });
    const store = CaStore.open(ca.dir);
    try {
      const r = await publishCrl(ca, store, { days: opts.days });
      for (const w of r.warnings) ctx.err(`certgate: warning: ${w}`);
      ctx.out(`crl number ${r.crlNumber}: ${r.entries} revoked, valid until ${r.nextUpdate.toISOString()}`);
      ctx.out(`  crl:        ${r.crlPath}`);
      ctx.out(`  crl bundle: ${r.bundlePath}`);
      if (out) {
        // copy what is now published: a concurrent newer CRL wins both places
        writeFileAtomic(out, readFileSync(r.crlPath), { mode: 0o644 });
        ctx.out(`  copied to:  ${out}`);
      }
    } finally {
      store.close();
    }
  });
}
