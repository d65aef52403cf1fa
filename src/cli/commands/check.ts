// CLI: `certgate check` — load the config as `serve` would, check every file it names, print findings, exit 0/1.
import { relative, isAbsolute } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { loadConfigFile, resolveConfigPath } from '../../config/load.ts';
import { ConfigProblemsError, formatProblem } from '../../config/problems.ts';
import type { GatewayConfig, RuleConfig, ServerConfig } from '../../config/schema.ts';
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
  const tcp = config.servers.filter((s) => s.tcp).length;
  return `${plural(config.servers.length, 'server')}, ${plural(sites.length, 'site')}, ${plural(routes, 'route')}${tcp ? `, ${plural(tcp, 'tcp tunnel')}` : ''}`;
}

/** One TCP-mode server as `check` lists it (`--json`: the same fields). */
interface TcpSummary {
  listen: string;
  direction: 'server' | 'client';
  upstream: string;
  /** How the upstream is reached: "plain TCP", or TLS with the name verified and the certificate presented. */
  upstreamTls: string;
  /** Who may connect: the certificate policy (server direction) or the bind (client direction). */
  policy: string;
}

const ruleText = (r: RuleConfig): string =>
  `{${Object.entries(r).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${Array.isArray(v) ? `[${v.join(', ')}]` : String(v)}`).join(', ')}}`;

function tcpSummary(server: ServerConfig, show: (file: string) => string): TcpSummary {
  const tcp = server.tcp!;
  const up = typeof tcp.upstream === 'string' ? { address: tcp.upstream, tls: tcp.tls } : tcp.upstream;
  const host = up.address.slice(0, up.address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  const tls = up.tls;
  const upstreamTls = !tls ? 'plain TCP'
    : `TLS, ${tls.insecureSkipVerify ? 'certificate NOT verified (insecureSkipVerify)' : `verified as ${tls.servername ?? host} against ${tls.ca ? show(tls.ca) : 'the system trust store'}`}` +
      `${tls.cert ? `, presenting ${show(tls.cert)}` : ', no client certificate'}`;
  const direction = server.tls ? 'server' : 'client';
  const policy = direction === 'client'
    ? `plain connections from ${server.allowPlainRemote ? 'anywhere that reaches ' + server.listen + ' (allowPlainRemote)' : 'this machine (loopback)'}`
    : `client certificate from ${server.clientAuth ? show(server.clientAuth.ca) : '(none)'} (${server.clientAuth?.mode ?? 'off'}); ` +
      `allow: ${tcp.allow?.length ? tcp.allow.map(ruleText).join(' or ') : 'any verified certificate'}; deny: ${tcp.deny?.length ? tcp.deny.map(ruleText).join(' or ') : 'none'}`;
  return { listen: server.listen, direction, upstream: up.address, upstreamTls, policy };
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
(warning within expiryWarning, 30 days by default), chain order, server names, client CA bundles, CRL coverage and freshness, upstream TLS files (routes and tcp:).
Each tcp: server is listed: its direction, upstream, how the upstream is reached, and who may connect.

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
      const tunnels = (config?.servers ?? []).filter((s) => s.tcp).map((s) => tcpSummary(s, show));
      if (!opts.json) {
        for (const x of tunnels) ctx.out(`tcp ${x.listen}: ${x.direction} direction -> ${x.upstream} (${x.upstreamTls}); ${x.policy}`);
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
        ctx.out(JSON.stringify({ config: name, ok: errors.length === 0, errors: errors.length, warnings, findings, ...(tunnels.length ? { tcp: tunnels } : {}) }, null, 2));
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
