// CLI: `certgate explain` — the gateway's decision for one URL, certificate and client address, without traffic.
import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { loadConfigFile, resolveConfigPath } from '../../config/load.ts';
import { UserError } from '../../core/errors.ts';
import { certificatesFromFile, explainRequest, type Explanation } from '../../gateway/explain.ts';
import { cachedCrlData, resolveStateDir } from '../../gateway/tls/crl-fetch.ts';

interface ExplainOptions {
  config?: string;
  url: string;
  /** A path, false for --no-cert, undefined when neither was given. */
  cert?: string | false;
  sourceIp: string;
  json?: boolean;
}

const pad = (label: string): string => label.padEnd(12);

/** The human form: one line per step, in the order the gateway decides. */
export function formatExplanation(e: Explanation): string[] {
  const r = e.request;
  const out: string[] = [];
  if (e.tcp) return formatTcp(e);
  out.push(`${pad('Request')}GET ${e.url} from ${r.sourceIp}`);
  const auth = e.server.tls ? `https, client certificates: ${e.server.clientAuth}` : 'plain http';
  out.push(`${pad('Server')}${e.server.label} listening on ${e.server.listen} (${auth})`);
  if (e.site) out.push(`${pad('Site')}${e.site.label} (hosts: ${e.site.hosts.join(', ')}); Host ${r.host}, SNI ${r.sni ?? 'none'}`);
  if (e.path.normalized !== null) {
    out.push(`${pad('Path')}${e.path.normalized}${e.path.normalized !== r.rawPath ? ` (sent as ${r.rawPath})` : ''}`);
  } else if (e.path.error !== null) {
    out.push(`${pad('Path')}${r.rawPath} is refused: ${e.path.error}`);
  }
  if (e.route) {
    out.push(`${pad('Route')}${e.route.label} (path ${e.route.path}${e.route.public ? ', public' : ''}) -> ${e.route.upstream}`);
  } else if (e.outcome.reason === 'no_route') {
    out.push(`${pad('Route')}none matches`);
  }
  const c = e.certificate;
  if (c) {
    const verdict = c.verified ? 'verifies' : `does not verify: ${c.reason} (${c.detail})`;
    out.push(`${pad('Certificate')}${c.file}: ${c.subject} (serial ${c.serial}) ${verdict}`);
    if (c.chain.length > 1) out.push(`${pad('')}chain: ${c.chain.join(' <- ')}`);
  } else if (e.server.clientAuth !== 'off') {
    out.push(`${pad('Certificate')}none sent`);
  }
  if (e.rule) out.push(`${pad('Rule')}${e.rule}`);
  const o = e.outcome;
  const result =
    o.action === 'proxy' ? `allowed: ${o.message}`
    : o.action === 'redirect' ? `301: ${o.message}`
    : o.action === 'handshake_failure' ? `refused (${o.reason}): ${o.message}`
    : `${o.status} ${o.reason}: ${o.message}`;
  out.push(`${pad('Result')}${result}`);
  for (const w of e.warnings) out.push(`${pad('Warning')}${w}`);
  return out;
}

/** A tcp: server: the connection, the tunnel, the certificate and the verdict. */
function formatTcp(e: Explanation): string[] {
  const t = e.tcp!;
  const out = [`${pad('Connection')}${e.url} from ${e.request.sourceIp}`];
  const front = t.direction === 'server' ? `TLS, client certificates: ${e.server.clientAuth}` : 'plain, client direction';
  out.push(`${pad('Server')}${e.server.label} listening on ${e.server.listen} (tcp, ${front})`);
  out.push(`${pad('Tunnel')}${t.direction} direction -> ${t.upstream} over ${t.upstreamTls ? 'TLS' : 'plain TCP'}`);
  const c = e.certificate;
  if (c) out.push(`${pad('Certificate')}${c.file}: ${c.subject} (serial ${c.serial}) ${c.verified ? 'verifies' : `does not verify: ${c.reason} (${c.detail})`}`);
  else if (t.direction === 'server') out.push(`${pad('Certificate')}none sent`);
  if (e.rule) out.push(`${pad('Rule')}${e.rule}`);
  const o = e.outcome;
  out.push(`${pad('Result')}${o.action === 'proxy' ? `allowed: ${o.message}` : o.action === 'handshake_failure' ? `refused (${o.reason}): ${o.message}` : `denied (${o.reason}): ${o.message}`}`);
  for (const w of e.warnings) out.push(`${pad('Warning')}${w}`);
  return out;
}

export function register(program: Command, ctx: CliContext): void {
  const show = (file: string) => {
    const rel = relative(ctx.cwd, file);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
  };

  program
    .command('explain')
    .description('show how the gateway would decide a request (server, site, route, certificate, rule, status), without traffic')
    .option('-c, --config <file>', 'config file (default: $CERTGATE_CONFIG, else ./certgate.yaml)')
    .requiredOption('--url <url>', 'the URL a client would open, e.g. https://app.example.com:8443/admin')
    .option('--cert <file>', 'the client certificate it would present (PEM, leaf first, then intermediates; or DER)')
    .option('--no-cert', 'the client presents no certificate (the default)')
    .option('--source-ip <address>', 'the client address, for sourceIp rules', '127.0.0.1')
    .option('--json', 'print the explanation as one JSON object (shape: docs/gateway-decisions.md)')
    .addHelpText(
      'after',
      `
Follows the gateway's own steps: the server (by the URL's scheme and port), the site (Host and SNI), the normalized
path, the route, the certificate (chain, dates, purpose, CRLs) and the allow/deny rule, then the answer: proxied,
refused with a status and reason code, redirected, or a failed TLS handshake. For a tcp: server (--url tcp://host:port),
the certificate against the tcp allow/deny rules: tunnelled or closed. Nothing is sent anywhere.

Examples:
  certgate explain --url https://app.example.com:8443/admin --cert alice.crt
  certgate explain -c /etc/certgate/certgate.yaml --url https://localhost:8443/ --no-cert
  certgate explain --url 'https://localhost:8443/public/%2e%2e/admin' --source-ip 10.1.2.3 --json
  certgate explain --url tcp://db.example.com:15432 --cert app.crt   # a tcp: server: tcp allow/deny

Exit codes:
  0  the explanation was printed (whatever the decision)
  1  the config, the certificate file or a flag is unusable (e.g. no server listens on the URL's port)`,
    )
    .action((opts: ExplainOptions) => {
      const path = resolveConfigPath(opts.config, ctx.env, ctx.cwd);
      const config = loadConfigFile(path, show(path));
      let cert: { file: string; certs: ReturnType<typeof certificatesFromFile> } | null = null;
      if (typeof opts.cert === 'string') {
        const file = resolve(ctx.cwd, opts.cert);
        let data: Buffer;
        try {
          data = readFileSync(file);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new UserError(code === 'ENOENT' ? 'CG_FILE_NOT_FOUND' : 'CG_FILE_UNREADABLE', `--cert ${opts.cert}: cannot read it (${code ?? 'error'})`);
        }
        cert = { file: opts.cert, certs: certificatesFromFile(data, opts.cert) };
      }
      const explanation = explainRequest({ config, url: opts.url, cert, sourceIp: opts.sourceIp, crlData: cachedCrlData(resolveStateDir(config, ctx.env)) });
      if (opts.json) ctx.out(JSON.stringify(explanation, null, 2));
      else for (const line of formatExplanation(explanation)) ctx.out(line);
    });
}
