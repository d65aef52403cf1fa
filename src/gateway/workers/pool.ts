// The primary of a multi-process gateway (`workers: N`): forks the workers, hands each the config it checked, runs
// reloads in two phases over all of them (every worker prepares, then all commit, or all abort), gives them one set
// of TLS ticket keys, replaces a crashed worker with backoff, serves the summed metrics and asks every worker whether
// it is ready. It presents the Gateway interface, so `serve` and the reload controller drive it like one gateway.
import { randomBytes } from 'node:crypto';
import type { Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { GatewayConfig } from '../../config/schema.ts';
import { GatewayError } from '../../core/errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { startMetricsServer } from '../../observability/metrics.ts';
import type { GatewayMetrics, MetricsServer, MetricsSource } from '../../observability/metrics.ts';
import { splitListen } from '../runtime.ts';
import { crlFilesOf, materialFilesOf } from '../gateway.ts';
import type { BoundAddress, Gateway, PreparedReload } from '../gateway.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { isFromWorker } from './protocol.ts';

export interface WorkerPoolOptions {
  config: GatewayConfig;
  count: number;
  logger: Logger;
  /** The primary's own metrics (reloads, restarts); summed with the workers' on /metrics. */
  metrics: GatewayMetrics;
  /** Starts one worker process (node:cluster's fork in `serve`). */
  fork(index: number): Worker;
  /** How long a worker may take to start, prepare a reload or answer a question. */
  answerMs?: number;
}

interface Slot {
  index: number;
  worker: Worker | null;
  /** Crashes in a row (reset once a worker has served for a minute): the restart delay doubles with each. */
  crashes: number;
  startedAt: number;
  addresses: BoundAddress[];
}

const newKeys = () => randomBytes(48).toString('base64');
// Gauges whose sum over processes means nothing: timestamps, generations, flags. Summed otherwise.
const NOT_SUMMED = /_timestamp_seconds$|_generation$|_stale$|_info$|_expiry/;

export function createWorkerPool(o: WorkerPoolOptions): Gateway {
  const answerMs = o.answerMs ?? 30_000;
  let config = o.config;
  let keys = newKeys();
  let stopping = false;
  let serving = false;
  let nextId = 1;
  let metricsServer: MetricsServer | undefined;
  const slots: Slot[] = Array.from({ length: o.count }, (_, index) => ({ index, worker: null, crashes: 0, startedAt: 0, addresses: [] }));
  const restarts = new Counter({ name: 'certgate_worker_restarts_total', help: 'Workers that exited unexpectedly and were replaced.', registers: [o.metrics.registry] });
  const live = new Gauge({
    name: 'certgate_workers', help: 'Worker processes serving now.', registers: [o.metrics.registry],
    collect() {
      this.set(running().length);
    },
  });
  void live;
  const timers = new Set<NodeJS.Timeout>();
  /** Answers to questions in flight, by id: resolved when every asked worker replied. */
  const waiting = new Map<number, (m: FromWorker, w: Worker) => void>();

  const send = (w: Worker, m: ToWorker) => {
    if (w.isConnected()) w.send(m);
  };
  const running = () => slots.filter((s) => s.worker !== null && s.worker.isConnected()).map((s) => s.worker!);

  /** Sends `build(id)` to `workers` and collects one reply each (by `id`), or rejects after answerMs. */
  const ask = <R extends FromWorker>(workers: Worker[], build: (id: number) => ToWorker, timeoutMs = answerMs): Promise<Array<R | null>> => {
    const id = nextId++;
    return new Promise((resolve) => {
      const replies = new Map<Worker, R>();
      const finish = () => {
        clearTimeout(timer);
        timers.delete(timer);
        waiting.delete(id);
        resolve(workers.map((w) => replies.get(w) ?? null));
      };
      const timer = setTimeout(finish, timeoutMs);
      timers.add(timer);
      waiting.set(id, (m, w) => {
        replies.set(w, m as R);
        if (replies.size === workers.length) finish();
      });
      if (workers.length === 0) finish();
      for (const w of workers) send(w, build(id));
    });
  };

  const onMessage = (slot: Slot, w: Worker) => (m: unknown) => {
    if (!isFromWorker(m)) return;
    if ('id' in m) waiting.get(m.id)?.(m, w);
  };

  /** Forks the worker of `slot` and starts its gateway; resolves with its addresses or rejects with its failure. */
  const spawn = (slot: Slot): Promise<BoundAddress[]> => {
    const w = o.fork(slot.index);
    slot.worker = w;
    slot.startedAt = Date.now();
    w.on('message', onMessage(slot, w));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new GatewayError('CG_GATEWAY_LISTEN', `worker ${slot.index} did not start within ${answerMs} ms`)), answerMs);
      const first = (m: unknown) => {
        if (!isFromWorker(m)) return;
        if (m.t === 'hello') send(w, { t: 'start', config, keys });
        if (m.t === 'started') {
          settle();
          slot.addresses = m.addresses;
          resolve(m.addresses);
        }
        if (m.t === 'failed') {
          settle();
          reject(new GatewayError((m.code ?? 'CG_GATEWAY_LISTEN') as 'CG_GATEWAY_LISTEN', m.message));
        }
      };
      const early = () => {
        settle();
        reject(new GatewayError('CG_GATEWAY_LISTEN', `worker ${slot.index} exited while starting`));
      };
      const settle = () => {
        clearTimeout(timer);
        w.off('message', first);
        w.off('exit', early);
      };
      w.on('message', first);
      w.once('exit', early);
      w.once('exit', (code, signal) => onExit(slot, w, code, signal));
    });
  };

  const onExit = (slot: Slot, w: Worker, code: number | null, signal: string | null) => {
    if (slot.worker !== w) return;
    slot.worker = null;
    if (stopping || !serving) return;
    restarts.inc();
    if (Date.now() - slot.startedAt > 60_000) slot.crashes = 0;
    const delay = Math.min(30_000, 500 * 2 ** slot.crashes);
    slot.crashes++;
    o.logger.error({ event: 'worker.exited', worker: slot.index, pid: w.process.pid, code, signal, restart_in_ms: delay }, `worker ${slot.index} exited; replacing it in ${delay} ms`);
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopping) return;
      spawn(slot).then(
        () => o.logger.info({ event: 'worker.replaced', worker: slot.index, pid: slot.worker?.process.pid }, `worker ${slot.index} replaced`),
        (err: Error) => {
          o.logger.error({ event: 'worker.start_failed', worker: slot.index, err: err.message }, `worker ${slot.index} could not be replaced: ${err.message}`);
          slot.worker?.kill();
        },
      );
    }, delay);
    timers.add(timer);
  };

  /** The sum over the primary and every worker, as one Prometheus text. */
  const aggregated: MetricsSource = {
    contentType: o.metrics.registry.contentType,
    async metrics() {
      const answers = await ask<Extract<FromWorker, { t: 'metrics' }>>(running(), (id) => ({ t: 'metrics', id }), 5_000);
      const all = [await o.metrics.registry.getMetricsAsJSON(), ...answers.map((a) => a?.json ?? [])] as Array<Array<{ name: string; aggregator?: string }>>;
      for (const list of all) for (const m of list) m.aggregator = NOT_SUMMED.test(m.name) ? 'max' : (m.aggregator ?? 'sum');
      return (AggregatorRegistry.aggregate(all as never) as Registry).metrics();
    },
  } as MetricsSource;

  const askReady = async (): Promise<string[]> => {
    if (!serving) return [stopping ? 'stopping' : 'starting'];
    const reasons: string[] = [];
    const missing = slots.filter((s) => s.worker === null).map((s) => `worker ${s.index} is being replaced`);
    const answers = await ask<Extract<FromWorker, { t: 'ready' }>>(running(), (id) => ({ t: 'ready', id }), 5_000);
    answers.forEach((a, i) => {
      if (a === null) reasons.push(`a worker did not answer (#${i})`);
      else for (const r of a.reasons) if (!reasons.includes(r)) reasons.push(r);
    });
    // one worker short still serves: say so, but only an unanswered or unready worker makes /readyz fail
    if (missing.length === slots.length) reasons.push(...missing);
    return reasons;
  };
  let lastReady: string[] = ['starting'];

  const bindMetrics = async (listen: string): Promise<MetricsServer> => {
    const { host, port } = splitListen(listen);
    try {
      return await startMetricsServer(aggregated, host, port, { notReady: async () => (lastReady = await askReady()) });
    } catch (err) {
      throw new GatewayError('CG_GATEWAY_LISTEN', `cannot listen on metrics.listen ${listen}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  };

  const stopAll = async (timeoutMs: number): Promise<void> => {
    const workers = running();
    const exited = workers.map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) resolve();
      else w.once('exit', () => resolve());
    }));
    for (const w of workers) send(w, { t: 'stop', timeoutMs });
    const hard = setTimeout(() => { for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL'); }, timeoutMs + 5_000);
    await Promise.all(exited);
    clearTimeout(hard);
  };

  const self: Gateway = {
    get config() {
      return config;
    },
    async start() {
      try {
        const all = await Promise.all(slots.map((s) => spawn(s)));
        if (config.metrics) {
          metricsServer = await bindMetrics(config.metrics.listen);
          o.logger.info({ event: 'metrics.listening', address: `${metricsServer.address.address}:${metricsServer.address.port}` }, 'metrics endpoint listening (sum over workers)');
        }
        serving = true;
        lastReady = [];
        return all[0];
      } catch (err) {
        stopping = true;
        await stopAll(0);
        for (const s of slots) s.worker?.process.kill('SIGKILL');
        throw err;
      }
    },
    async reload(next) {
      (await self.prepareReload(next)).commit();
    },
    async prepareReload(next): Promise<PreparedReload> {
      const workers = running();
      const nextKeys = newKeys();
      const answers = await ask<Extract<FromWorker, { t: 'prepared' | 'prepare_failed' }>>(workers, (id) => ({ t: 'prepare', id, config: next, keys: nextKeys }));
      const id = nextId - 1;
      const failed = answers.find((a) => a === null || a.t === 'prepare_failed');
      let nextMetrics: MetricsServer | undefined;
      const metricsMoved = JSON.stringify(next.metrics) !== JSON.stringify(config.metrics);
      try {
        if (failed !== undefined) {
          throw new GatewayError((failed?.t === 'prepare_failed' ? failed.code ?? 'CG_GATEWAY_LISTEN' : 'CG_GATEWAY_LISTEN') as 'CG_GATEWAY_LISTEN',
            failed === null ? `a worker did not prepare the reload within ${answerMs} ms` : (failed as { message: string }).message);
        }
        if (metricsMoved && next.metrics) nextMetrics = await bindMetrics(next.metrics.listen);
      } catch (err) {
        for (const w of workers) send(w, { t: 'abort', id });
        throw err;
      }
      return {
        commit() {
          for (const w of workers) send(w, { t: 'commit', id });
          config = next;
          keys = nextKeys;
          if (metricsMoved) {
            void metricsServer?.close();
            metricsServer = nextMetrics;
          }
        },
        async abort() {
          for (const w of workers) send(w, { t: 'abort', id });
          await nextMetrics?.close();
        },
      };
    },
    reloadTrust() {
      keys = newKeys();
      for (const w of running()) send(w, { t: 'trust', keys });
    },
    async stop(timeoutMs) {
      stopping = true;
      serving = false;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      o.logger.info({ event: 'gateway.draining', timeout_ms: timeoutMs, workers: running().length }, 'stopping: draining every worker');
      await stopAll(timeoutMs);
      await metricsServer?.close();
      o.logger.info({ event: 'gateway.stopped' }, 'stopped');
    },
    crlFiles: () => crlFilesOf(config),
    materialFiles: () => materialFilesOf(config),
    notReady: () => lastReady,
    addresses: () => slots.find((s) => s.addresses.length > 0)?.addresses ?? [],
  };
  return self;
}

/** Tells every worker to reopen its log file (SIGUSR1 at the primary). */
export function reopenWorkerLogs(workers: Iterable<Worker>): void {
  for (const w of workers) if (w.isConnected()) w.send({ t: 'reopen' } satisfies ToWorker);
}
