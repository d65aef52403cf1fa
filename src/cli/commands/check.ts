// CLI: `certgate check` — load the config as `serve` would, check every file it names, print findings, exit 0/1.
import { relative, isAbsolute } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { loadConfigFile, resolveConfigPath } from '../../config/load.ts';
import { ConfigProblemsError, formatProblem } from '../../config/problems.ts';
import type { GatewayConfig } from '../../config/schema.ts';
import { preflight } from '../../gateway/preflight.ts';
import { CrlFetcher, resolveStateDir } from '../../gateway/tls/crl-fetch.ts';
import { createLogger } from '../../observability/logger.ts';
import type { Finding } from '../../gateway/preflight.ts';
import { UserError } from '../../core/errors.ts';
import type { ErrorCode } from '../../core/errors.ts';

interface CheckOptions {
  config?: string;
  json?: boolean;
}

/** One finding as `check --json` prints it; `file` is absolute. */
interface JsonFinding {
  level: 'error' | 'warning';
  file?: string;
  line?: number;
  column?: number;
  message: string;
  code?: ErrorCode;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function summary(config: GatewayConfig): string {
  const sites = config.servers.flatMap((s) => s.sites ?? []);
  const routes = sites.reduce((n, s) => n + s.routes.length, 0);
  return `${plural(config.servers.length, 'server')}, ${plural(sites.length, 'site')}, ${plural(routes, 'route')}`;
}

export function register(program: Command, ctx: CliContext): void {
  // Paths under the current directory are shown relative to it: shorter, and clickable in terminals and editors.
  const show = (file: string) => {
    const rel = relative(ctx.cwd, file);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
  };

  program
    .command('check')
    .description('validate certgate.yaml and every certificate, key, CA bundle and CRL it names')
    .option('-c, --config <file>', 'config file (default: $CERTGATE_CONFIG, else ./certgate.yaml)')
    .option('--json', 'print the findings as one JSON object (for scripts and CI)')
    .addHelpText(
      'after',
      `
Checks the YAML (every problem with file:line:column), then the files it names: key/certificate pairs, expiry
(warning within expiryWarning, 30 days by default), chain order, server names, client CA bundles, CRL coverage and freshness, upstream TLS files.

Examples:
  certgate check                         # ./certgate.yaml, or $CERTGATE_CONFIG
  certgate check -c /etc/certgate/certgate.yaml
  certgate check --json | jq '.findings[] | select(.level == "error")'

Exit codes:
  0  no errors (warnings may be printed)
  1  the config or a file it names has an error, or the config cannot be read`,
    )
    .action(async (opts: CheckOptions) => {
      const path = resolveConfigPath(opts.config, ctx.env, ctx.cwd);
      const name = show(path);
      const findings: JsonFinding[] = [];
      let config: GatewayConfig | undefined;
      let problemCount = 0;
      try {
        config = loadConfigFile(path, name);
      } catch (err) {
        if (!(err instanceof ConfigProblemsError)) throw err;
        problemCount = err.total;
        for (const p of err.problems) {
          findings.push({ level: 'error', file: path, line: p.position?.line, column: p.position?.column, message: p.message + (p.hint ? ` (${p.hint})` : ''), code: p.code });
        }
        if (!opts.json) for (const p of err.problems) ctx.out(`error: ${formatProblem(p)}`);
        if (!opts.json && err.total > err.problems.length) ctx.out(`(${err.total - err.problems.length} more problems not shown; fix these first)`);
      }
      // CRL URLs are fetched as serve would (the cache in stateDir is read, never written, and no polling follows)
      const checked: Finding[] = [];
      if (config) {
        const crls = new CrlFetcher({ stateDir: resolveStateDir(config, ctx.env), logger: createLogger({ level: 'silent', format: 'json' }), writeCache: false });
        for (const p of await crls.prepare(config)) checked.push({ level: 'error', message: p, code: 'CG_CRL_UNAVAILABLE' });
        crls.close();
        checked.push(...preflight(config, new Date(), crls.data));
      }
      for (const f of checked) {
        const level = f.level === 'error' ? 'error' : 'warning';
        findings.push({ level, file: f.file, message: f.message, code: f.code });
        if (!opts.json) ctx.out(`${level}: ${f.file ? `${show(f.file)}: ` : ''}${f.message}`);
      }

      const errors = findings.filter((f) => f.level === 'error');
      const warnings = findings.length - errors.length;
      if (opts.json) {
        ctx.out(JSON.stringify({ config: name, ok: errors.length === 0, errors: errors.length, warnings, findings }, null, 2));
      } else if (config && errors.length === 0) {
        ctx.out(`${name}: OK (${summary(config)}${warnings ? `; ${plural(warnings, 'warning')}` : ''})`);
      }
      if (errors.length > 0) {
        const code = errors[0].code ?? 'CG_CONFIG_INVALID';
        const what = config ? plural(errors.length, 'error') : `${plural(problemCount, 'error')} in the config; the files it names were not checked`;
        // the details went to stdout above; this one line on stderr carries the exit code
        throw new UserError(code, `${name}: ${what}`);
      }
    });
}
