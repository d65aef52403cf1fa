// `ca serve` as one object: the served CAs, their routes, the listeners (HTTP or HTTPS, optional metrics one), start and close.
import { http } from '../../core/node-http.ts';
import type { Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { PkiError } from '../../core/errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { UnlockedCa } from '../ca.ts';
import { createRequestHandler, waitKey } from './http-handler.ts';
import { LongPollRegistry } from './long-poll.ts';
import { createCaServiceMetrics } from './metrics.ts';
import type { CaServiceMetrics } from './metrics.ts';
import { buildRouteTable } from './routes.ts';
import type { RouteTable } from './routes.ts';
import { ServedCa } from './served-ca.ts';

export interface HostPort {
  host: string;
  port: number;
}

export interface CaServiceOptions {
  /** Every CA to serve, unlocked. */
  cas: UnlockedCa[];
  listen: HostPort;
  /** PEM certificate and key for HTTPS on `listen`; plain HTTP without. */
  tls?: { cert: Buffer; key: Buffer };
  /** A separate plain-HTTP listener for /healthz and /metrics; without it they are on `listen`. */
  metricsListen?: HostPort;
  /** Lifetime of the CRLs the service signs, ms (default: each CA's remembered `crl --days`, else 7 days). */
  crlLifetimeMs?: number;
  /** Cap of the `wait` query parameter, seconds (default 60). */
  maxWaitSeconds?: number;
  /** Most requests held at once (default 1000). */
  maxWaiters?: number;
  /** Poll interval of the directory watch, ms (default 1000). */
  pollMs?: number;
  logger: Logger;
}

export interface CaService {
  metrics: CaServiceMetrics;
  /** Signs a fresh CRL per CA (parents first), binds the listeners, starts watching; the bound addresses. */
  start(): Promise<{ address: AddressInfo; metricsAddress?: AddressInfo }>;
  /** Answers every held request, stops timers and watches, closes the listeners. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_WAIT_SECONDS = 60;
export const DEFAULT_MAX_WAITERS = 1000;

function listenOn(server: Server, at: HostPort, what: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new PkiError('CG_CA_SERVE_LISTEN', `cannot listen on ${what} ${at.host}:${at.port}: ${err.code ?? err.message}`, {
        cause: err,
        hint: err.code === 'EADDRINUSE' ? 'another process uses that port: choose another one' : undefined,
      }));
    };
    server.once('error', onError);
    server.listen(at.port, at.host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: Server | undefined): Promise<void> {
  if (!server || !server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // held requests were answered with Connection: close; whatever is still open after a moment is cut
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
}

/** Builds the service; nothing listens, signs or watches until start(). */
export function createCaService(o: CaServiceOptions): CaService {
  const metrics = createCaServiceMetrics();
  const waiters = new LongPollRegistry(o.maxWaiters ?? DEFAULT_MAX_WAITERS);
  const maxWaitSeconds = o.maxWaitSeconds ?? DEFAULT_MAX_WAIT_SECONDS;
  const served: ServedCa[] = [];
  let main: Server | undefined;
  let side: Server | undefined;

  const onChange = (changed: ServedCa) => {
    const i = served.indexOf(changed);
    for (const [file, rep] of changed.current.files) waiters.changed(waitKey(i, file), rep.etag);
    // an intermediate's crl-bundle.pem copies its parent's CRL: re-sign it so the bundle carries the new one
    for (const child of served) if (child.parentDir === changed.ca.dir) void child.publish('parent');
  };

  const health = () => {
    const now = Date.now();
    const cas = served.map((s, i) => ({
      name: s.name,
      basePath: table.basePaths[i],
      crlNumber: s.current.crlNumber.toString(),
      thisUpdate: s.current.thisUpdate.toISOString(),
      nextUpdate: s.current.nextUpdate?.toISOString() ?? null,
      nextRefresh: s.nextRefresh?.toISOString() ?? null,
      ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
    }));
    const bad = served.some((s) => s.lastError !== undefined || (s.current.nextUpdate !== undefined && s.current.nextUpdate.getTime() < now));
    return { status: bad ? 503 : 200, body: { status: bad ? 'stale' : 'ok', cas } };
  };

  let table: RouteTable;

  return {
    metrics,
    async start() {
      // parents before children: a child's crl-bundle.pem copies its parent's fresh CRL
      const ordered = [...o.cas].sort((a, b) => a.chainPems.length - b.chainPems.length);
      for (const ca of ordered) served.push(new ServedCa(ca, { logger: o.logger, metrics, lifetimeMs: o.crlLifetimeMs, pollMs: o.pollMs ?? 1000, onChange }));
      table = buildRouteTable(served.map((s) => ({ name: s.name, dir: s.ca.dir, basePath: s.basePath })), o.metricsListen === undefined);
      for (const s of served) await s.begin();
      const handler = createRequestHandler({ table, cas: served, waiters, metrics, maxWaitSeconds, health });
      main = o.tls ? createTlsServer({ cert: o.tls.cert, key: o.tls.key }, handler) : http.createServer(handler);
      main.requestTimeout = 30_000;
      main.headersTimeout = 10_000;
      const address = await listenOn(main, o.listen, '--listen');
      let metricsAddress: AddressInfo | undefined;
      if (o.metricsListen) {
        const sideTable = buildRouteTable([], true);
        side = http.createServer(createRequestHandler({ table: sideTable, cas: [], waiters, metrics, maxWaitSeconds: 0, health }));
        try {
          metricsAddress = await listenOn(side, o.metricsListen, '--metrics');
        } catch (err) {
          await closeServer(main);
          throw err;
        }
      }
      for (const s of served) s.start();
      for (const [i, s] of served.entries()) {
        o.logger.info({ event: 'ca.serve.ca', ca: s.name, dir: s.ca.dir, path: table.basePaths[i], crlNumber: s.current.crlNumber.toString() },
          `serving ${s.name} at ${table.basePaths[i]}`);
      }
      return { address, ...(metricsAddress ? { metricsAddress } : {}) };
    },
    async close() {
      waiters.closeAll();
      await Promise.all(served.map((s) => s.close()));
      await Promise.all([closeServer(main), closeServer(side)]);
    },
  };
}
