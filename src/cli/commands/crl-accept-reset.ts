// CLI: `certgate crl accept-reset --url URL` — let a gateway accept a lower CRL number once (a CA restored from backup).
import { relative, isAbsolute } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { loadConfigFile, resolveConfigPath } from '../../config/load.ts';
import { UserError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/fs-atomic.ts';
import { cachePaths, resolveStateDir } from '../../gateway/tls/crl-fetch.ts';
import { crlSources } from '../../gateway/tls/trust.ts';

interface AcceptResetOptions {
  config?: string;
  url: string;
}

const HELP = `
A gateway refuses a CRL from a URL whose CRL number is lower than the one it accepted before (crl.refused,
reason number_backwards): that is what a replayed old CRL looks like. After a CA was restored from a backup, its
numbers really do go back; this command tells the gateway, through its stateDir, to accept the next CRL from that
URL whatever its number. A running gateway picks it up at its next fetch (no restart); the mark is used up then.

Examples:
  certgate crl accept-reset --url http://pki.example.com/issuing/crl-bundle.pem
  certgate crl accept-reset -c /etc/certgate/certgate.yaml --url http://pki.example.com/issuing/crl-bundle.pem

Exit codes:
  0  marked
  1  the config cannot be read, it names no such CRL URL, or stateDir is not writable`;

export function register(program: Command, ctx: CliContext): void {
  const show = (file: string) => {
    const rel = relative(ctx.cwd, file);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
  };
  const crl = program.commands.find((c) => c.name() === 'crl');
  if (!crl) throw new Error('command crl missing');
  crl
    .command('accept-reset')
    .description('let the gateway accept a lower CRL number from a URL once (after a CA restore)')
    .option('-c, --config <file>', 'gateway config file (default: $CERTGATE_CONFIG, else ./certgate.yaml)')
    .requiredOption('--url <url>', 'the clientAuth.crl URL, exactly as the config names it')
    .addHelpText('after', HELP)
    .action((opts: AcceptResetOptions) => {
      const path = resolveConfigPath(opts.config, ctx.env, ctx.cwd);
      const config = loadConfigFile(path, show(path));
      const urls = new Set(config.servers.flatMap((s) => crlSources(s.clientAuth?.crl)).flatMap((s) => (s.kind === 'url' ? [s.url] : [])));
      if (!urls.has(opts.url)) {
        throw new UserError('CG_USAGE', `${show(path)} names no CRL URL ${opts.url}`, { hint: urls.size ? `its CRL URLs: ${[...urls].join(', ')}` : 'its clientAuth.crl lists files only' });
      }
      const stateDir = resolveStateDir(config, ctx.env);
      const paths = cachePaths(stateDir, opts.url);
      try {
        mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
        writeFileAtomic(paths.reset, `${opts.url}\n`);
      } catch (err) {
        throw new UserError('CG_CRL_STATE', `cannot write ${paths.reset} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { hint: 'run as the user certgate serve runs as, or fix stateDir', cause: err });
      }
      ctx.out(`the next CRL from ${opts.url} is accepted whatever its CRL number (mark: ${show(paths.reset)})`);
    });
}
