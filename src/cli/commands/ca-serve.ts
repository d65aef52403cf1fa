// CLI: `certgate ca serve` — run the CA as a service: unlock the keys once, keep CRLs fresh, publish them over HTTP.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { PkiError, UserError } from '../../core/errors.ts';
import { parseDuration } from '../../core/duration.ts';
import { createLogger, flushLogger } from '../../observability/logger.ts';
import { resolveCaDir } from '../../pki/ca-dir.ts';
import { assertCaCurrent, caKeyEncrypted, loadCa, unlockCa } from '../../pki/ca.ts';
import type { UnlockedCa } from '../../pki/ca.ts';
import { createCaService, DEFAULT_MAX_WAIT_SECONDS, DEFAULT_MAX_WAITERS } from '../../pki/ca-service/service.ts';
import type { HostPort } from '../../pki/ca-service/service.ts';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { collect } from '../pki-options.ts';
import { readCaPassphrase, readSecretEnv, readSecretFile } from '../secrets.ts';

interface Options {
  dir?: string[];
  listen?: string;
  tlsCert?: string;
  tlsKey?: string;
  metrics?: string;
  crlLifetime?: string;
  maxWait: string;
  maxWaiters: string;
  passphraseFile?: string[];
  passphraseEnv?: string[];
}

const HELP = `
Unlocks every CA key once at start and keeps it in memory: no cron job and no passphrase file are needed for CRLs.
Each CA gets a fresh CRL at start, a new one when half of its lifetime has passed, and an intermediate's CRL is
re-signed when its parent (served by the same process) publishes a new one. \`certgate cert revoke\` keeps working in
another process: the service notices the new CRL within a second (usually at once) and answers waiting clients.

Serves each CA read-only under the path of its base URL (ca create --url, ca set-url; a lone CA without one at /):
ca.crt (DER), chain.pem, crl.pem, crl.crl (DER), crl-bundle.pem, with ETag, Last-Modified, conditional GET and a
long-poll (GET crl-bundle.pem?wait=25 with If-None-Match: answered the moment the CRL changes). /healthz and
/metrics are public on the same listener unless --metrics moves them. Protocol: docs/crl-distribution.md.
Logs are JSON lines on stdout. SIGTERM/SIGINT answer held requests and stop.

The passphrase: one --passphrase-file/--passphrase-env for every CA, or one per --dir in the same order; without
either, the passphrase of an earlier CA is tried, then a prompt on a terminal.

Examples:
  certgate ca serve --dir /etc/certgate/root --dir /etc/certgate/issuing --listen 0.0.0.0:8080 \\
      --passphrase-file /run/secrets/root.pass --passphrase-file /run/secrets/issuing.pass
  certgate ca serve --dir ./pki --listen 127.0.0.1:8080 --metrics 127.0.0.1:9464

Exit codes:
  0  stopped by SIGTERM/SIGINT
  1  no CA, wrong passphrase, two CAs on one path (CG_CA_SERVE_CONFLICT), an address that cannot be bound
     (CG_CA_SERVE_LISTEN), a bad flag
  2  internal error`;

/** "host:port" or "[v6]:port"; CG_USAGE naming the flag otherwise. Pure. */
export function parseHostPort(text: string, flag: string): HostPort {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  if (!m || Number(m[2]) > 65535) throw new UserError('CG_USAGE', `${flag} "${text}" is not host:port`, { hint: 'e.g. 127.0.0.1:8080 or [::1]:8080' });
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

function wholeNumber(text: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw new UserError('CG_USAGE', `${flag} expects a whole number between ${min} and ${max} (got "${text}")`);
  }
  return Number(text);
}

/** --crl-lifetime: a duration of whole seconds between 2 s and 366 days. */
function crlLifetime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 2000 || ms > 366 * 86_400_000) {
    throw new UserError('CG_USAGE', `--crl-lifetime "${text}" is not a duration between 2s and 366d`, { hint: 'e.g. 1d, 12h or 7d' });
  }
  return Math.round(ms / 1000) * 1000;
}

/** Unlocks each CA: its own flag, the one shared flag, an earlier CA's passphrase, or a prompt. */
async function unlockAll(dirs: string[], opts: Options, ctx: CliContext): Promise<UnlockedCa[]> {
  const files = opts.passphraseFile ?? [];
  const envs = opts.passphraseEnv ?? [];
  if (files.length > 0 && envs.length > 0) throw new UserError('CG_USAGE', 'use --passphrase-file or --passphrase-env, not both');
  const count = files.length + envs.length;
  if (count > 1 && count !== dirs.length) {
    throw new UserError('CG_USAGE', `${count} passphrases for ${dirs.length} --dir: give one for all, or one per --dir in the same order`);
  }
  // each source is read once: a file may be a pipe
  const given: string[] = [];
  for (const f of files) given.push(await readSecretFile(f, '--passphrase-file', ctx));
  for (const e of envs) given.push(readSecretEnv(e, '--passphrase-env', ctx.env));
  const known: string[] = [];
  const out: UnlockedCa[] = [];
  for (const [i, dir] of dirs.entries()) {
    const ca = loadCa(dir);
    assertCaCurrent(ca, new Date());
    if (!caKeyEncrypted(ca)) {
      out.push(await unlockCa(ca, null));
      continue;
    }
    const tries = given.length === 0 ? [...known] : [given.length === 1 ? given[0] : given[i]];
    let unlocked: UnlockedCa | undefined;
    for (const p of tries) {
      try {
        unlocked = await unlockCa(ca, p);
        break;
      } catch (err) {
        if (!(err instanceof PkiError && err.code === 'CG_PKI_BAD_PASSPHRASE')) throw err;
      }
    }
    if (!unlocked && given.length > 0) throw new PkiError('CG_PKI_BAD_PASSPHRASE', `wrong passphrase for the CA key ${dir}/ca.key`);
    if (!unlocked) {
      const typed = await readCaPassphrase({}, ctx, { confirm: false, label: `passphrase for ${dir}/ca.key` });
      try {
        unlocked = await unlockCa(ca, typed);
      } catch (err) {
        if (err instanceof PkiError && err.code === 'CG_PKI_BAD_PASSPHRASE') throw new PkiError('CG_PKI_BAD_PASSPHRASE', `wrong passphrase for the CA key ${dir}/ca.key`, { cause: err });
        throw err;
      }
      if (typed) known.push(typed);
    }
    out.push(unlocked);
  }
  return out;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = group(program, 'ca')
    .command('serve')
    .description('run the CA as a service: keep CRLs fresh and publish them (and the CA certificates) over HTTP')
    .option('--dir <dir>', 'a CA directory to serve (repeatable; default: $CERTGATE_PKI, else ./pki)', collect)
    .option('--listen <host:port>', 'address to serve on, e.g. 0.0.0.0:8080 (required)')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM, with its chain); needs --tls-key')
    .option('--tls-key <file>', 'the key of --tls-cert (PEM, unencrypted)')
    .option('--metrics <host:port>', 'serve /healthz and /metrics on this separate plain-HTTP address instead of --listen')
    .option('--crl-lifetime <duration>', 'lifetime of the CRLs the service signs, e.g. 1d (default: the CA\'s `crl --days`, else 7d)')
    .option('--max-wait <seconds>', 'cap of the long-poll wait parameter', String(DEFAULT_MAX_WAIT_SECONDS))
    .option('--max-waiters <n>', 'most long-poll requests held at once (503 beyond)', String(DEFAULT_MAX_WAITERS))
    .option('--passphrase-file <file>', 'read a CA key passphrase from the first line of FILE (once, or once per --dir)', collect)
    .option('--passphrase-env <name>', 'read a CA key passphrase from the environment variable NAME (once, or once per --dir)', collect);
  cmd.addHelpText('after', HELP).action(async (opts: Options) => run(opts, ctx));
}

async function run(opts: Options, ctx: CliContext): Promise<void> {
  if (!opts.listen) throw new UserError('CG_USAGE', 'ca serve needs --listen HOST:PORT', { hint: 'e.g. --listen 0.0.0.0:8080' });
  const listen = parseHostPort(opts.listen, '--listen');
  const metricsListen = opts.metrics === undefined ? undefined : parseHostPort(opts.metrics, '--metrics');
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw new UserError('CG_USAGE', '--tls-cert and --tls-key go together');
  const maxWaitSeconds = wholeNumber(opts.maxWait, '--max-wait', 0, 300);
  const maxWaiters = wholeNumber(opts.maxWaiters, '--max-waiters', 0, 100_000);
  const crlLifetimeMs = crlLifetime(opts.crlLifetime);
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (opts.tlsCert !== undefined && opts.tlsKey !== undefined) {
    const read = (f: string, flag: string) => {
      try {
        return readFileSync(resolve(ctx.cwd, f));
      } catch (err) {
        throw new UserError('CG_FILE_NOT_FOUND', `${flag} ${f} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    };
    tls = { cert: read(opts.tlsCert, '--tls-cert'), key: read(opts.tlsKey, '--tls-key') };
  }
  const dirs = (opts.dir && opts.dir.length > 0 ? opts.dir : [undefined]).map((d) => resolveCaDir(d, ctx.env, ctx.cwd));
  const duplicate = dirs.find((d, i) => dirs.indexOf(d) !== i);
  if (duplicate) throw new UserError('CG_USAGE', `--dir ${duplicate} is given twice`);
  const cas = await unlockAll(dirs, opts, ctx);

  const logger = createLogger();
  const service = createCaService({ cas, listen, tls, metricsListen, crlLifetimeMs, maxWaitSeconds, maxWaiters, logger });
  let bound;
  try {
    bound = await service.start();
  } catch (err) {
    await service.close();
    await flushLogger(logger);
    if (err instanceof Error && (err as NodeJS.ErrnoException).code === 'ERR_OSSL_PEM_NO_START_LINE') {
      throw new PkiError('CG_CA_SERVE_LISTEN', `--tls-cert/--tls-key are not a PEM certificate and key: ${err.message}`);
    }
    throw err;
  }
  const show = (a: { address: string; port: number }) => (a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
  logger.info({ event: 'ca.serve.listening', address: show(bound.address), scheme: tls ? 'https' : 'http',
    metrics: bound.metricsAddress ? show(bound.metricsAddress) : 'same listener' }, `ca serve listening on ${show(bound.address)}`);

  let stopped!: () => void;
  const done = new Promise<void>((r) => (stopped = r));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'ca.serve.signal', signal }, `${signal}: stopping`);
    void service.close().finally(stopped);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await done;
  await flushLogger(logger);
}
