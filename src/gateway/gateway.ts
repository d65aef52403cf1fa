// The gateway as a whole: every listener of a config, the upstream pools, the metrics and probe endpoints, CRL
// re-reads, expiry gauges, configuration reloads and graceful shutdown. No side effects until `start()`.
import type { GatewayConfig, ServerConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics, MetricsServer } from '../observability/metrics.ts';
import { startMetricsServer } from '../observability/metrics.ts';
import { GatewayError } from '../core/errors.ts';
import { parseDuration } from '../core/duration.ts';
import { UpstreamPools } from './upstream/upstream-pool.ts';
import { compileListener, loadClientTrust, splitListen } from './runtime.ts';
import type { ListenerRuntime } from './runtime.ts';
import { createListener } from './listener/server.ts';
import type { Listener, PreparedSwap } from './listener/server.ts';
import type { ListenOptions } from './listener/acceptor.ts';
import { ExpiryWatch, trustProblems } from './expiry.ts';
import { OcspStapler } from './tls/ocsp-stapling.ts';
import type { CrlFetcher } from './tls/crl-fetch.ts';
import { crlSources } from './tls/trust.ts';
import type { CrlData } from './tls/trust.ts';

export interface GatewayDeps {
  logger: Logger;
  /** Where access lines go (`log.file`); default: `logger`. Its level follows `log.level` on reload. */
  accessLogger?: Logger;
  metrics: GatewayMetrics;
  /**
   * The CRL URLs of the config (crl-fetch.ts), prepared by the caller before start (and before a reload). The gateway
   * starts its polling, reloads trust when it accepts a new CRL, and closes it on stop.
   */
  crls?: CrlFetcher;
  /** Without `crls`: where the copies of CRL URLs come from (a worker: the stateDir cache its primary writes). */
  crlData?: CrlData;
  /** How listeners bind; workers pass `{reusePort: true, exclusive: true}`. */
  listenOptions?: ListenOptions;
  /**
   * The TLS session-ticket keys to put in force whenever keys change (start, reload, trust change). Workers get them
   * from the primary, so a ticket issued by one worker resumes on any other. Absent: fresh random keys each time.
   */
  ticketKeys?: () => Buffer;
  /** False: do not bind `metrics.listen` (a worker: the primary serves the metrics of all of them). */
  serveMetrics?: boolean;
}

/** A reload whose every fallible step is done: `commit` puts it in force (never throws), `abort` undoes it. */
export interface PreparedReload {
  commit(): void;
  abort(): Promise<void>;
}

export interface BoundAddress {
  /** The configured listen string (port 0 stays 0 here). */
  listen: string;
  host: string;
  port: number;
  tls: boolean;
}

export interface Gateway {
  /** Listens on every address; resolves with the bound addresses (port 0 resolved). */
  start(): Promise<BoundAddress[]>;
  /** Puts a new config in force. Throws (and changes nothing) when any part of it cannot be compiled or bound. */
  reload(next: GatewayConfig): Promise<void>;
  /** The first half of `reload`: throws (changing nothing) or returns a reload that can no longer fail. */
  prepareReload(next: GatewayConfig): Promise<PreparedReload>;
  /**
   * Re-reads every CA bundle and CRL (a new trust generation); keeps the old trust of a listener whose files fail.
   * With `url`: only the listeners naming that CRL URL (a new CRL was fetched). Open connections are re-checked.
   */
  reloadTrust(url?: string): void;
  /** Stops accepting, drains in-flight requests for at most `timeoutMs`, closes pools and the metrics server. */
  stop(timeoutMs: number): Promise<void>;
  /** Every CRL file in force (for the file watcher). */
  crlFiles(): string[];
  /**
   * Every other file the config in force reads once when compiled: server certificates and keys, upstream client
   * certificates, keys, p12s and CA bundles, error pages. A change to one is a reload (the file watcher's job).
   */
  materialFiles(): string[];
  /**
   * Why the gateway is not ready to take traffic (empty when it is): not started or stopping, a listener not bound,
   * a served certificate expired, client certificates refused wholesale because CRLs fail closed. /readyz reads it.
   */
  notReady(): string[];
  addresses(): BoundAddress[];
  readonly config: GatewayConfig;
}

function allMaterialFiles(config: GatewayConfig): string[] {
  const files = new Set<string>();
  const addTls = (tls: { ca?: string; cert?: string; key?: string; p12?: string; passwordFile?: string } | undefined) => {
    for (const f of [tls?.ca, tls?.cert, tls?.key, tls?.p12, tls?.passwordFile]) if (f) files.add(f);
  };
  for (const s of config.servers) {
    if (s.tls) files.add(s.tls.cert).add(s.tls.key);
    if (s.errorPage) files.add(s.errorPage);
    if (s.tcp) addTls(typeof s.tcp.upstream === 'string' ? s.tcp.tls : s.tcp.upstream.tls ?? s.tcp.tls);
    for (const site of s.sites ?? []) {
      if (site.tls) files.add(site.tls.cert).add(site.tls.key);
      for (const route of site.routes) if (typeof route.upstream !== 'string') addTls(route.upstream.tls);
    }
  }
  return [...files];
}

/** The files a config reads once when compiled, other than CA bundles and CRLs (those start a trust reload instead). */
export function materialFilesOf(config: GatewayConfig): string[] {
  const trust = new Set(crlFilesOf(config));
  return allMaterialFiles(config).filter((f) => !trust.has(f));
}

export function crlFilesOf(config: GatewayConfig): string[] {
  const files = new Set<string>();
  for (const s of config.servers) {
    for (const src of crlSources(s.clientAuth?.crl)) if (src.kind === 'file') files.add(src.file);
    if (s.clientAuth) files.add(s.clientAuth.ca);
  }
  return [...files];
}

export function createGateway(initialConfig: GatewayConfig, deps: GatewayDeps): Gateway {
  const { logger, metrics, crls } = deps;
  const crlData = crls?.data ?? deps.crlData;
  const pools = new UpstreamPools(metrics);
  let config = initialConfig;
  let listeners = new Map<string, Listener>();
  let bound = new Map<string, BoundAddress>();
  let metricsServer: MetricsServer | undefined;
  const accessLogger = deps.accessLogger ?? logger;
  const handlerDeps = { logger, accessLogger, metrics, accessLog: config.log.access, listenOptions: deps.listenOptions };
  const serveMetrics = deps.serveMetrics ?? true;
  const ticketKeys = (): Buffer | undefined => deps.ticketKeys?.();

  // Listeners are keyed by their listen string; a repeated one (two ":0" test listeners) gets its position added.
  const compileAll = (cfg: GatewayConfig): Map<string, ListenerRuntime> => {
    const out = new Map<string, ListenerRuntime>();
    cfg.servers.forEach((server, i) => out.set(out.has(server.listen) ? `${server.listen}#${i}` : server.listen, compileListener(server, pools, crlData)));
    return out;
  };

  let staleTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  /** True from the end of start() until stop() begins. */
  let serving = false;
  const expiry = new ExpiryWatch({ logger, metrics, runtimes: () => [...listeners.values()].map((l) => l.runtime) });
  const probes = { notReady: () => notReady() };
  // created here, closed by stop(): its timers and fetches live no longer than the gateway
  const stapler = new OcspStapler({ logger, metrics });
  const staples = (certDer: Buffer, stapled: ReadonlySet<string>) => stapler.responseFor(certDer, stapled);
  /** Hands the stapler the certificates served with ocspStapling: auto now; unchanged ones keep their staple. */
  const syncStaples = (): void => stapler.sync([...listeners.values()].flatMap((l) => l.runtime.tlsMaterial?.ocsp ?? []));

  // Logs and exports CRL staleness, and wakes up again when the next CRL goes stale (no file change needed).
  const reportTrust = (): void => {
    let stale = 0;
    let generation = 0;
    let nextStale = Infinity;
    const now = Date.now();
    for (const l of listeners.values()) {
      const t = l.runtime.trust;
      if (!t) continue;
      for (const crl of t.crls) {
        const at = crl.nextUpdate?.getTime();
        if (at !== undefined && at > now && at < nextStale) nextStale = at;
      }
      generation = Math.max(generation, t.generation);
      if (t.stale.length > 0) {
        stale = 1;
        logger.warn({ event: 'trust.crl_stale', listen: l.runtime.listen, stale: t.stale, policy: l.runtime.clientAuth?.staleCrl },
          l.runtime.clientAuth?.staleCrl === 'refuse'
            ? 'a CRL is past its nextUpdate: client certificates are refused until it is renewed (staleCrl: refuse)'
            : 'a CRL is past its nextUpdate: its revocations stay enforced; renew it (certgate crl) soon');
      }
    }
    metrics.crlStale.set(stale);
    metrics.trustGeneration.set(generation);
    if (!stopped) expiry.update(parseDuration(config.expiryWarning) ?? 30 * 86_400_000);
    clearTimeout(staleTimer);
    if (nextStale !== Infinity && !stopped) {
      staleTimer = setTimeout(reportTrust, Math.min(nextStale - now + 1_000, 2_000_000_000));
      staleTimer.unref();
    }
  };

  /** Binds a metrics endpoint (put in force by the caller). */
  const bindMetrics = async (listen: string): Promise<MetricsServer> => {
    const { host, port } = splitListen(listen);
    try {
      return await startMetricsServer(metrics.registry, host, port, probes);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new GatewayError('CG_GATEWAY_LISTEN', `cannot listen on metrics.listen ${listen}: ${code ?? (err as Error).message}`,
        { hint: code === 'EADDRINUSE' ? 'another process (or this one, on an overlapping address: restart to move it) uses that port; pick another metrics.listen' : undefined, cause: err });
    }
  };
  const logMetrics = (m: MetricsServer) =>
    logger.info({ event: 'metrics.listening', address: `${m.address.address}:${m.address.port}` }, 'metrics endpoint listening');

  /** Binds a listener's address; it serves from then on, but is logged (and counted as ours) only by the caller. */
  const bindListener = async (rt: ListenerRuntime): Promise<[Listener, BoundAddress]> => {
    const listener = createListener(rt, handlerDeps, staples);
    const a = await listener.start();
    return [listener, { listen: rt.listen, host: a.host, port: a.port, tls: rt.tls }];
  };
  const logListening = (rt: ListenerRuntime, a: BoundAddress) =>
    logger.info({ event: 'gateway.listening', listen: rt.listen, address: `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`, tls: rt.tls,
      clientAuth: rt.clientAuth?.mode ?? 'none', redirectToHttps: rt.redirectPort }, `listening on ${rt.scheme}://${a.host}:${a.port}`);

  /** Upstream pools some handler may still send a request to (retired handlers included). */
  const poolsInUse = (): Set<string> => {
    const keep = new Set<string>();
    for (const l of listeners.values()) for (const rt of l.runtimes()) for (const t of rt.targets.values()) keep.add(t.upstream.key);
    return keep;
  };

  const notReady = (): string[] => {
    if (!serving) return [stopped ? 'stopping' : 'starting'];
    const reasons: string[] = [];
    for (const [key, l] of listeners) if (!l.listening) reasons.push(`listener ${key} is not bound`);
    const runtimes = [...listeners.values()].map((l) => l.runtime);
    reasons.push(...trustProblems(runtimes, new Date(), expiry.certificates));
    return reasons;
  };

  // The second half of a reload: from here on nothing throws.
  const commitReload = (
    next: GatewayConfig, runtimes: Map<string, ListenerRuntime>, prepared: Array<[string, Listener, PreparedSwap]>,
    added: Array<[string, Listener, BoundAddress, ListenerRuntime]>, metricsMoved: boolean, nextMetrics: MetricsServer | undefined,
  ): void => {
    const nextListeners = new Map<string, Listener>();
    const nextBound = new Map<string, BoundAddress>();
    for (const [listen, l, p] of prepared) {
      p.commit();
      l.rotateTicketKeys(ticketKeys());
      nextListeners.set(listen, l);
      nextBound.set(listen, { ...bound.get(listen)!, tls: l.runtime.tls });
    }
    for (const [listen, l, a, rt] of added) {
      if (deps.ticketKeys) l.rotateTicketKeys(deps.ticketKeys());
      nextListeners.set(listen, l);
      nextBound.set(listen, a);
      logListening(rt, a);
    }
    const removed = [...listeners].filter(([listen]) => !runtimes.has(listen));
    listeners = nextListeners;
    bound = nextBound;
    if (next.log.file !== initialConfig.log.file) {
      // the file is opened once by `serve` (like pidFile); say so on each reload rather than seem to have moved it
      logger.warn({ event: 'config.warning', setting: 'log.file', file: initialConfig.log.file, ignored: next.log.file }, 'log.file changed: it takes effect at the next start');
    }
    config = next;
    handlerDeps.accessLog = next.log.access;
    logger.level = next.log.level;
    accessLogger.level = next.log.level;
    for (const [listen, l] of removed) {
      logger.info({ event: 'gateway.listener_closed', listen }, 'listener removed by reload');
      void l.drain(10_000);
    }
    void pools.retain(poolsInUse());
    crls?.retain(next);
    if (metricsMoved) {
      const old = metricsServer;
      metricsServer = nextMetrics;
      void old?.close();
      if (nextMetrics) logMetrics(nextMetrics);
    }
    reportTrust();
    syncStaples();
  };

  const self: Gateway = {
    get config() {
      return config;
    },
    async start() {
      const runtimes = compileAll(config);
      try {
        for (const [key, rt] of runtimes) {
          const [listener, address] = await bindListener(rt);
          if (deps.ticketKeys) listener.rotateTicketKeys(deps.ticketKeys());
          listeners.set(key, listener);
          bound.set(key, address);
          logListening(rt, address);
        }
        if (config.metrics && serveMetrics) {
          metricsServer = await bindMetrics(config.metrics.listen);
          logMetrics(metricsServer);
        }
      } catch (err) {
        await Promise.all([...listeners.values()].map((l) => l.drain(0)));
        await pools.closeAll(0);
        stapler.close();
        throw err;
      }
      reportTrust();
      syncStaples();
      if (crls) {
        crls.onChange = (url) => self.reloadTrust(url);
        crls.start();
      }
      serving = true;
      return [...bound.values()];
    },

    // All or nothing. Everything that can fail happens first, while the old config keeps serving untouched:
    // compiling (files, TLS material), binding new addresses, building new protocol handlers and TLS contexts,
    // binding a moved metrics endpoint. A failure there undoes only what it built. The commit after it cannot fail.
    async reload(next) {
      (await self.prepareReload(next)).commit();
    },

    async prepareReload(next) {
      let runtimes: Map<string, ListenerRuntime>;
      try {
        runtimes = compileAll(next);
      } catch (err) {
        void pools.retain(poolsInUse()); // upstream pools compiled before the failure
        throw err;
      }
      const added: Array<[string, Listener, BoundAddress, ListenerRuntime]> = [];
      const prepared: Array<[string, Listener, PreparedSwap]> = [];
      const metricsMoved = serveMetrics && (JSON.stringify(next.metrics) !== JSON.stringify(config.metrics) || (next.metrics !== undefined && !metricsServer));
      let nextMetrics: MetricsServer | undefined;
      try {
        for (const [listen, rt] of runtimes) {
          const existing = listeners.get(listen);
          if (existing) {
            prepared.push([listen, existing, existing.prepare(rt)]);
            continue;
          }
          const [l, a] = await bindListener(rt);
          added.push([listen, l, a, rt]);
        }
        if (metricsMoved && next.metrics) nextMetrics = await bindMetrics(next.metrics.listen);
      } catch (err) {
        for (const [, , p] of prepared) p.abort();
        await Promise.all(added.map(([, l]) => l.drain(0)));
        // pools the refused config created go; those in use stay
        void pools.retain(poolsInUse());
        throw err;
      }

      return {
        abort: async () => {
          for (const [, , p] of prepared) p.abort();
          await Promise.all(added.map(([, l]) => l.drain(0)));
          await nextMetrics?.close();
          void pools.retain(poolsInUse());
        },
        commit: () => commitReload(next, runtimes, prepared, added, metricsMoved, nextMetrics),
      };
    },

    reloadTrust(url) {
      for (const l of listeners.values()) {
        const rt = l.runtime;
        if (!rt.trust) continue;
        // a fetched CRL changes only the listeners that name its URL
        if (url !== undefined && !crlSources(rt.config.clientAuth?.crl).some((s) => s.kind === 'url' && s.url === url)) continue;
        try {
          const trust = loadClientTrust(rt.config as ServerConfig, crlData);
          if (trust === null) continue;
          l.rotateTicketKeys(ticketKeys());
          // every open connection's work (requests, WebSockets) is re-checked under the new trust
          l.setTrust(trust);
          logger.info({ event: 'trust.reloaded', listen: rt.listen, generation: trust.generation, url }, url ? `new CRL from ${url} in force` : 'CA and CRL files re-read');
        } catch (err) {
          logger.error({ event: 'trust.reload_failed', listen: rt.listen, err }, 'CA/CRL files could not be re-read; the previous ones stay in force');
        }
      }
      reportTrust();
    },

    async stop(timeoutMs) {
      stopped = true;
      serving = false;
      clearTimeout(staleTimer);
      expiry.close();
      stapler.close();
      crls?.close();
      logger.info({ event: 'gateway.draining', timeout_ms: timeoutMs }, 'stopping: draining connections');
      await Promise.all([...listeners.values()].map((l) => l.drain(timeoutMs)));
      await pools.closeAll(Math.min(timeoutMs, 2_000));
      await metricsServer?.close();
      logger.info({ event: 'gateway.stopped' }, 'stopped');
    },

    materialFiles: () => materialFilesOf(config),
    crlFiles() {
      return crlFilesOf(config);
    },

    notReady,

    addresses() {
      return [...bound.values()];
    },
  };
  return self;
}
