// `certgate serve` in a worker process: wires the worker's gateway (SO_REUSEPORT listeners, the primary's ticket keys,
// no metrics endpoint), its logger and access log file to the primary's messages. Signals are the primary's business.
import type { GatewayConfig } from '../config/schema.ts';
import { createLogger, flushLogger } from '../observability/logger.ts';
import type { Logger } from '../observability/logger.ts';
import { createMetrics } from '../observability/metrics.ts';
import { openLogFile } from '../observability/log-file.ts';
import type { LogFile } from '../observability/log-file.ts';
import { createGateway } from '../gateway/gateway.ts';
import { cachedCrlData, resolveStateDir } from '../gateway/tls/crl-fetch.ts';
import { runWorker } from '../gateway/workers/worker.ts';
import type { FromWorker } from '../gateway/workers/protocol.ts';
import { WORKER_TITLE } from '../core/pid-file.ts';

/** Serves until the primary says stop. `reusePort`: bind each listener with SO_REUSEPORT (else share the primary's). */
export async function serveAsWorker(reusePort: boolean): Promise<void> {
  process.title = WORKER_TITLE;
  // SIGTERM/SIGINT/SIGHUP/SIGUSR1 reach the whole process group (a terminal's Ctrl-C, systemd's KillMode): the primary
  // relays what they mean, so a worker must neither die on them nor act twice
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1'] as const) process.on(signal, () => undefined);
  const metrics = createMetrics();
  let logger: Logger | undefined;
  let accessLogger: Logger | undefined;
  let logFile: LogFile | undefined;
  try {
    await runWorker({
      create(config: GatewayConfig, ticketKeys) {
        logger = createLogger({ level: config.log.level, format: config.log.format, sharedStdout: true });
        // the primary opened (and so checked) the same file: O_APPEND keeps each worker's writes whole
        logFile = config.log.file ? openLogFile(config.log.file) : undefined;
        accessLogger = logFile ? createLogger({ level: config.log.level, destination: logFile.destination }) : logger;
        return createGateway(config, {
          logger, accessLogger, metrics, ticketKeys, serveMetrics: false,
          // CRLs by URL: the primary fetches and verifies them, and caches each in stateDir before it says one changed
          crlData: cachedCrlData(resolveStateDir(config, process.env)),
          listenOptions: reusePort ? { reusePort: true, exclusive: true } : {},
        });
      },
      metricsJson: () => metrics.registry.getMetricsAsJSON() as Promise<unknown[]>,
      reopenLogs() {
        logFile?.reopen().catch((err: NodeJS.ErrnoException) => logger?.error({ event: 'log.reopen_failed', file: logFile?.path, code: err.code }, 'cannot reopen log.file'));
      },
      send: (m: FromWorker) => process.send?.(m),
      onMessage: (fn) => process.on('message', fn),
    });
  } finally {
    if (logger) await flushLogger(logger);
    if (accessLogger && accessLogger !== logger) await flushLogger(accessLogger);
    logFile?.close();
    process.disconnect?.();
  }
}
