// CLI: `certgate serve` — preflight, listen, log the addresses; SIGTERM/SIGINT drain, SIGHUP reloads, SIGUSR1 reopens log.file.
import { relative, isAbsolute } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { loadConfigFile, resolveConfigPath } from '../../config/load.ts';
import { UserError } from '../../core/errors.ts';
import { parseDuration } from '../../core/duration.ts';
import { createLogger, flushLogger } from '../../observability/logger.ts';
import { createMetrics } from '../../observability/metrics.ts';
import { openLogFile } from '../../observability/log-file.ts';
import type { LogFile } from '../../observability/log-file.ts';
import { createGateway } from '../../gateway/gateway.ts';
import { preflight } from '../../gateway/preflight.ts';
import { CrlFetcher, resolveStateDir } from '../../gateway/tls/crl-fetch.ts';
import { createReloadController, logFindings } from '../../gateway/reload.ts';
import { PROCESS_TITLE, checkPidFileFree, removePidFile, writePidFile } from '../../core/pid-file.ts';
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { createWorkerPool, reopenWorkerLogs } from '../../gateway/workers/pool.ts';
import { planWorkers } from '../../gateway/workers/count.ts';
import { serveAsWorker } from '../serve-worker.ts';

interface ServeOptions {
  config?: string;
  drainTimeout: string;
  watch: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  const show = (file: string) => {
    const rel = relative(ctx.cwd, file);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
  };

  program
    .command('serve')
    .description('run the mutual-TLS gateway in front of your apps')
    .option('-c, --config <file>', 'config file (default: $CERTGATE_CONFIG, else ./certgate.yaml)')
    .option('--drain-timeout <duration>', 'on SIGTERM/SIGINT, the longest wait for in-flight requests', '20s')
    .option('--no-watch', 'do not reload when the config, CA or CRL files change (SIGHUP still reloads)')
    .addHelpText(
      'after',
      `
Runs the same checks as \`certgate check\` first and refuses to start on any error. Logs are JSON lines on stdout
(one "access" line per request; see docs/gateway.md); with \`log.file\` the access lines go to that file instead. While serving, the process is titled "certgate" (pidof,
pgrep -x and ps show it so); with \`pidFile:\` in the config its process id is written there once the listeners are
bound, and removed at exit (a pidFile naming a certgate that is still running refuses the start). Signals:
  SIGTERM, SIGINT  stop accepting, finish in-flight requests (at most --drain-timeout), exit 0
  SIGHUP           reload the config; a bad config is refused (logged with file:line:column), the old one keeps serving
  SIGUSR1          reopen log.file at its path (after logrotate renamed it); no line is lost or split
CRL and CA files are re-read when they change on disk (and on every reload): a revoked certificate is refused on its
next request, also on connections that are already open.

Examples:
  certgate serve                                  # ./certgate.yaml, or $CERTGATE_CONFIG
  certgate serve -c /etc/certgate/certgate.yaml
  certgate reload -c /etc/certgate/certgate.yaml  # reload (SIGHUP to the pid in pidFile)
  kill -HUP $(pidof certgate)                     # the same by hand

Exit codes:
  0  stopped by SIGTERM/SIGINT after draining
  1  the config or a file it names has an error, an address cannot be bound, the pidFile is taken or unwritable,
     or log.file cannot be opened`,
    )
    .action(async (opts: ServeOptions) => {
      // a worker of a multi-process gateway: the primary (the same command, run first) checked the config and sends it
      if (cluster.isWorker) return serveAsWorker(process.env.CERTGATE_REUSEPORT === '1');
      const path = resolveConfigPath(opts.config, ctx.env, ctx.cwd);
      const drainMs = parseDuration(opts.drainTimeout);
      if (drainMs === undefined) throw new UserError('CG_USAGE', `--drain-timeout "${opts.drainTimeout}" is not a duration`, { hint: 'e.g. 20s or 500ms' });
      const config = loadConfigFile(path, show(path));
      const logger = createLogger({ level: config.log.level, format: config.log.format });
      const metrics = createMetrics();
      // CRL URLs first: their copies (fetched, cached in stateDir, or the fallback file) are checked like CRL files
      const crls = new CrlFetcher({ stateDir: resolveStateDir(config, ctx.env), logger, metrics, writeCache: true });
      const crlProblems = await crls.prepare(config);
      for (const p of crlProblems) ctx.err(`error: ${p}`);
      if (crlProblems.length > 0) {
        crls.close();
        await flushLogger(logger);
        throw new UserError('CG_CRL_UNAVAILABLE', `refusing to start: ${crlProblems.length === 1 ? 'a CRL URL has' : `${crlProblems.length} CRL URLs have`} no verified copy (listed above)`, { hint: `certgate check -c ${show(path)}` });
      }
      const findings = preflight(config, new Date(), crls.data);
      const errors = findings.filter((f) => f.level === 'error');
      for (const f of findings) ctx.err(`${f.level === 'error' ? 'error' : 'warning'}: ${f.file ? `${show(f.file)}: ` : ''}${f.message}`);
      if (errors.length > 0) {
        crls.close();
        throw new UserError(errors[0].code ?? 'CG_CONFIG_TLS', `refusing to start: ${errors.length} error${errors.length === 1 ? '' : 's'} in ${show(path)} or the files it names (listed above)`, { hint: `certgate check -c ${show(path)}` });
      }
      process.title = PROCESS_TITLE;
      if (config.pidFile) checkPidFileFree(config.pidFile); // before binding anything: another gateway owns this config
      let logFile: LogFile | undefined;
      if (config.log.file) {
        try {
          logFile = openLogFile(config.log.file);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          crls.close();
          throw new UserError('CG_FILE_UNWRITABLE', `cannot open log.file ${show(config.log.file)}: ${code ?? (err as Error).message}`,
            { hint: 'create its directory and let the user certgate runs as write there, or change log.file' });
        }
      }
      // JSON lines whatever log.format says: a file is read by tools, not by a terminal
      const accessLogger = logFile ? createLogger({ level: config.log.level, destination: logFile.destination }) : logger;
      const closeLogs = async () => {
        await flushLogger(logger);
        if (logFile) {
          await flushLogger(accessLogger);
          logFile.close();
        }
      };
      logFindings(logger, findings, 'config.warning');
      const plan = planWorkers(config, availableParallelism(), process.platform);
      const gateway = plan.count > 1
        ? createWorkerPool({
          config, count: plan.count, logger, metrics,
          fork: (index) => cluster.fork({ CERTGATE_WORKER: String(index), CERTGATE_REUSEPORT: plan.reusePort ? '1' : '0' }),
        })
        : createGateway(config, { logger, accessLogger, metrics, crls });
      logger.info({ event: 'gateway.workers', workers: plan.count, why: plan.why, scheduling: plan.count === 1 ? 'single process' : plan.reusePort ? 'SO_REUSEPORT' : 'node:cluster round-robin' },
        plan.count === 1 ? `one process (${plan.why})` : `${plan.count} workers (${plan.why}), connections spread by ${plan.reusePort ? 'the kernel (SO_REUSEPORT)' : 'the primary (node:cluster)'}`);
      const reloader = createReloadController({
        configPath: path, gateway, logger, metrics, load: (p) => loadConfigFile(p, show(p)),
        prepare: (next) => crls.prepare(next), preflight: (next) => preflight(next, new Date(), crls.data), pollMs: opts.watch ? 1000 : 0,
      });
      try {
        await gateway.start();
      } catch (err) {
        crls.close();
        await closeLogs();
        throw err;
      }
      if (plan.count > 1) {
        // workers read CRLs by URL from the stateDir cache the primary's fetcher writes; the primary tells them
        // when one changed (a trust change, as for a CRL file)
        crls.onChange = (url) => gateway.reloadTrust(url);
        crls.start();
      }
      reloader.watch();

      let stopping = false;
      let stopped!: () => void;
      const done = new Promise<void>((resolve) => (stopped = resolve));
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ event: 'gateway.signal', signal }, `${signal}: draining`);
        reloader.close();
        crls.close();
        void gateway.stop(drainMs).finally(stopped);
      };
      // the handlers stay until the process exits: a second signal during the drain must not kill it early. They are
      // in place before the pid file exists, so a `certgate reload` can never meet SIGHUP's default (terminate).
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => void reloader.reloadConfig('SIGHUP'));
      // nginx's signal for the same job; installing a handler also keeps Node from opening its inspector on SIGUSR1
      process.on('SIGUSR1', () => {
        if (plan.count > 1) reopenWorkerLogs(Object.values(cluster.workers ?? {}).filter((w) => w !== undefined));
        if (!logFile) {
          logger.info({ event: 'log.reopen_skipped' }, 'SIGUSR1: no log.file to reopen');
          return;
        }
        const file = logFile;
        file.reopen().then(
          () => logger.info({ event: 'log.reopened', file: file.path }, 'SIGUSR1: log.file reopened'),
          (err: NodeJS.ErrnoException) => logger.error({ event: 'log.reopen_failed', file: file.path, code: err.code, err: err.message }, 'SIGUSR1: cannot reopen log.file; writing on to the old file'),
        );
      });
      if (config.pidFile) {
        try {
          writePidFile(config.pidFile);
        } catch (err) {
          stopping = true;
          reloader.close();
          await gateway.stop(0);
          await closeLogs();
          throw err;
        }
      }
      logger.info({ event: 'gateway.ready', config: path, pid: process.pid, pidFile: config.pidFile }, 'certgate is serving');
      await done;
      if (config.pidFile) removePidFile(config.pidFile);
      await closeLogs();
    });
}
