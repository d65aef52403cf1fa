// A worker's side of the primary/worker protocol: it builds its gateway from the config the primary checked, takes
// part in two-phase reloads, puts the primary's ticket keys in force, and answers metrics and readiness questions.
import type { GatewayConfig } from '../../config/schema.ts';
import { isCertgateError } from '../../core/errors.ts';
import type { Gateway, PreparedReload } from '../gateway.ts';
import type { FromWorker } from './protocol.ts';
import { isToWorker } from './protocol.ts';

export interface WorkerDeps {
  /** This worker's gateway for `config` (listeners bound with SO_REUSEPORT, no metrics endpoint of its own). */
  create(config: GatewayConfig, ticketKeys: () => Buffer): Gateway;
  /** This worker's metrics, as prom-client's getMetricsAsJSON. */
  metricsJson(): Promise<unknown[]>;
  reopenLogs(): void;
  send(m: FromWorker): void;
  onMessage(fn: (m: unknown) => void): void;
}

/** Runs until the primary says stop (resolves then, after the drain) or the start fails (rejects). */
export function runWorker(deps: WorkerDeps): Promise<void> {
  let keys: Buffer = Buffer.alloc(0);
  const ticketKeys = () => keys;
  let gateway: Gateway | undefined;
  const pending = new Map<number, { reload: PreparedReload; keys: Buffer }>();
  let settle!: { resolve: () => void; reject: (err: Error) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // reloads and trust changes are applied in the order the primary sent them
  let queue: Promise<unknown> = Promise.resolve();
  const inOrder = (fn: () => Promise<void> | void) => {
    queue = queue.then(fn).catch(() => undefined);
  };
  const codeOf = (err: unknown) => (isCertgateError(err) ? err.code : undefined);
  const lineOf = (err: unknown) => (isCertgateError(err) ? err.userLine() : (err as Error).message);

  deps.onMessage((m) => {
    if (!isToWorker(m)) return;
    switch (m.t) {
      case 'start':
        keys = Buffer.from(m.keys, 'base64');
        inOrder(async () => {
          try {
            gateway = deps.create(m.config, ticketKeys);
            deps.send({ t: 'started', addresses: await gateway.start() });
          } catch (err) {
            deps.send({ t: 'failed', message: lineOf(err), code: codeOf(err) });
            settle.reject(err as Error);
          }
        });
        break;
      case 'prepare':
        inOrder(async () => {
          try {
            if (!gateway) throw new Error('not started');
            pending.set(m.id, { reload: await gateway.prepareReload(m.config), keys: Buffer.from(m.keys, 'base64') });
            deps.send({ t: 'prepared', id: m.id });
          } catch (err) {
            deps.send({ t: 'prepare_failed', id: m.id, message: lineOf(err), code: codeOf(err) });
          }
        });
        break;
      case 'commit':
        inOrder(() => {
          const p = pending.get(m.id);
          if (p) {
            keys = p.keys; // the commit puts the new keys in force
            p.reload.commit();
          }
          pending.delete(m.id);
          deps.send({ t: 'committed', id: m.id });
        });
        break;
      case 'abort':
        inOrder(async () => {
          await pending.get(m.id)?.reload.abort();
          pending.delete(m.id);
        });
        break;
      case 'trust':
        inOrder(() => {
          keys = Buffer.from(m.keys, 'base64');
          gateway?.reloadTrust();
        });
        break;
      case 'metrics':
        deps.metricsJson().then((json) => deps.send({ t: 'metrics', id: m.id, json }), () => deps.send({ t: 'metrics', id: m.id, json: [] }));
        break;
      case 'ready':
        Promise.resolve(gateway ? gateway.notReady() : ['starting']).then((reasons) => deps.send({ t: 'ready', id: m.id, reasons }));
        break;
      case 'reopen':
        deps.reopenLogs();
        break;
      case 'stop':
        inOrder(async () => {
          await gateway?.stop(m.timeoutMs);
          settle.resolve();
        });
        break;
    }
  });
  deps.send({ t: 'hello' });
  return done;
}
