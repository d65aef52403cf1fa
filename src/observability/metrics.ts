// Prometheus metrics on certgate's own prom-client Registry, and the small plain-HTTP server that exposes them.
import { http } from '../core/node-http.ts';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client';

/**
 * A counter with two labels, counted in a plain Map: prom-client's own `inc(labels)` hashes and validates the
 * labels on every call, which showed up in the per-request profile. Exported in the Prometheus format on scrape.
 */
export class PairCounter {
  readonly name: string;
  readonly help: string;
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly #labelNames: readonly [string, string];
  readonly #counts = new Map<string, { a: string; b: string; n: number }>();

  constructor(name: string, help: string, labelNames: readonly [string, string]) {
    this.name = name;
    this.help = help;
    this.#labelNames = labelNames;
  }

  inc(a: string, b: string, by = 1): void {
    const key = a + '\u0000' + b;
    const entry = this.#counts.get(key);
    if (entry) entry.n += by;
    else this.#counts.set(key, { a, b, n: by });
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Array<{ labels: Record<string, string>; value: number }> } {
    const [la, lb] = this.#labelNames;
    const values = [...this.#counts.values()].map((e) => ({ labels: { [la]: e.a, [lb]: e.b }, value: e.n }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** A one-label histogram with fixed buckets, kept in typed arrays (same reason as PairCounter). */
export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #label: string;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, { buckets: Float64Array; sum: number; count: number }>();

  constructor(name: string, help: string, label: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.#label = label;
    this.#bounds = bounds;
  }

  observe(labelValue: string, value: number): void {
    let s = this.#series.get(labelValue);
    if (!s) this.#series.set(labelValue, (s = { buckets: new Float64Array(this.#bounds.length), sum: 0, count: 0 }));
    s.sum += value;
    s.count++;
    const b = this.#bounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]) {
        s.buckets[i]++;
        break;
      }
    }
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> } {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const [lv, s] of this.#series) {
      let acc = 0;
      this.#bounds.forEach((le, i) => {
        acc += s.buckets[i];
        values.push({ labels: { le, [this.#label]: lv }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', [this.#label]: lv }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { [this.#label]: lv }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { [this.#label]: lv }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/**
 * A gauge with one label, kept as plain numbers: opening and closing a connection updates it, and prom-client's
 * `inc(labels)` hashed and validated the labels on each of those (visible in the per-handshake profile).
 */
export class LabelGauge<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'gauge';
  readonly aggregator = 'sum';
  readonly #label: L;
  readonly #values = new Map<string, number>();

  constructor(name: string, help: string, label: L) {
    this.name = name;
    this.help = help;
    this.#label = label;
  }

  inc(labels: Record<L, string>, by = 1): void {
    const v = labels[this.#label];
    this.#values.set(v, (this.#values.get(v) ?? 0) + by);
  }

  dec(labels: Record<L, string>, by = 1): void {
    this.inc(labels, -by);
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Array<{ labels: Record<string, string>; value: number }> } {
    const values = [...this.#values].map(([v, n]) => ({ labels: { [this.#label]: v }, value: n }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** Every metric the gateway updates. Created by `createMetrics`; nothing is registered at import. */
export interface GatewayMetrics {
  registry: Registry;
  /** Requests answered, by status code and reason (reason "" for proxied responses): `requests.inc(status, reason)`. */
  requests: PairCounter;
  /** `requestDuration.observe(statusClass, seconds)`. */
  requestDuration: FastHistogram;
  /** TLS handshakes that failed, by reason code (no_certificate, unknown_ca, expired, ...). */
  handshakeFailures: Counter<'reason'>;
  upstreamErrors: Counter<'upstream' | 'kind'>;
  /** 1 while any configured CRL is past its nextUpdate. */
  crlStale: Gauge;
  /** The trust generation in force (bumps whenever CRLs are re-read). */
  trustGeneration: Gauge;
  reloads: Counter<'result'>;
  /** Per CRL URL (clientAuth.crl: http(s)://): Unix time of the last successful fetch (200 accepted or 304). */
  crlFetchSuccess: Gauge<'url'>;
  /** Per CRL URL: Unix time of the last failed fetch or refused CRL. */
  crlFetchFailure: Gauge<'url'>;
  /** Per CRL URL: failed fetches and refused CRLs, by reason. */
  crlFetchFailures: Counter<'url' | 'reason'>;
  /** Per CRL URL: the highest CRL number in force. */
  crlNumber: Gauge<'url'>;
  /** Per CRL URL: thisUpdate of the newest CRL in force (Unix time); age = now - this. */
  crlThisUpdate: Gauge<'url'>;
  /** Connections refused by the PROXY protocol check, by reason. */
  proxyRefused: Counter<'reason'>;
  connections: LabelGauge<'protocol'>;
  websockets: Gauge;
  /** Times a resource limit was reached, by limit name (connections, handshake_timeout, upstream_queue_full, ...). */
  limitHits: Counter<'limit'>;
  /** Requests in flight to / waiting for each upstream (the connection cap and its queue). */
  upstreamActive: Gauge<'upstream'>;
  upstreamQueued: Gauge<'upstream'>;
  /** Sources the two upstream gauges read at scrape time (each gateway's pools add one). */
  upstreamGates: Set<() => Array<{ origin: string; active: number; queued: number }>>;
  /** Requests, WebSockets and tunnels cut because a trust change (revocation, CA removed) refused their certificate. */
  trustClosed: Counter<'kind' | 'reason'>;
  /** TCP-mode connections after the handshake, by listener and result (allowed, refused, upstream_error). */
  tcpConnections: Counter<'listen' | 'result'>;
  /** Bytes piped by TCP mode, by listener and direction (in: client to upstream, out: upstream to client). */
  tcpBytes: Counter<'listen' | 'direction'>;
  /** notAfter (Unix seconds) of every certificate in use; reset and refilled on every reload and trust re-read. */
  certExpiry: Gauge<'role' | 'subject'>;
  /** nextUpdate (Unix seconds) of every CRL in force, by issuer; refilled like certExpiry. */
  crlNextUpdate: Gauge<'issuer'>;
  /** Sources the OCSP staple gauges read at scrape time (each gateway's stapler adds one while it runs). */
  ocspSources: Set<() => Array<{ subject: string; status: string; validUntil: number | null }>>;
  /** 1 per served certificate naming an OCSP responder, labelled with its staple status (good, revoked, unknown, none). */
  ocspStaple: Gauge<'subject' | 'status'>;
  /** Until when the stapled response is valid (Unix seconds), per served certificate that has one. */
  ocspStapleValidUntil: Gauge<'subject'>;
  /** OCSP fetches that failed or gave a response that was refused, by reason. */
  ocspFetchErrors: Counter<'reason'>;
}

export interface MetricsOptions {
  /** Also collect prom-client's process metrics (CPU, memory, event loop lag), prefixed certgate_. Default true. */
  processMetrics?: boolean;
}

export function createMetrics(options: MetricsOptions = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'certgate_' });
  const registers = [registry];
  const requests = new PairCounter('certgate_requests_total',
    'HTTP requests answered by the gateway, by status and gateway reason code ("" when proxied).', ['status', 'reason']);
  const requestDuration = new FastHistogram('certgate_request_duration_seconds',
    'Time from request start to the end of the response, by status class.', 'status_class',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30]);
  registry.registerMetric(requests as unknown as Parameters<Registry['registerMetric']>[0]);
  registry.registerMetric(requestDuration as unknown as Parameters<Registry['registerMetric']>[0]);
  // registered where prom-client's gauge was, so the exposition keeps its order
  const registered = <M>(metric: M): M => {
    registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
    return metric;
  };
  const upstreamGates = new Set<() => Array<{ origin: string; active: number; queued: number }>>();
  const gateGauge = (name: string, help: string, field: 'active' | 'queued') =>
    new Gauge({
      name, help, labelNames: ['upstream'] as const, registers,
      collect() {
        this.reset();
        // summed: routes to one origin with different TLS settings, timeouts or limits have separate gates, and
        // setting the series once per gate would show only the last one
        for (const source of upstreamGates) for (const g of source()) this.inc({ upstream: g.origin }, g[field]);
      },
    });
  const ocspSources = new Set<() => Array<{ subject: string; status: string; validUntil: number | null }>>();
  return {
    registry,
    requests,
    ocspSources,
    ocspStaple: new Gauge({
      name: 'certgate_ocsp_staple',
      help: 'One series per served certificate that names an OCSP responder, value 1, labelled with its staple status: good (a verified response is stapled), revoked, unknown, none (no valid response yet: responder down or answers refused).',
      labelNames: ['subject', 'status'] as const,
      registers,
      collect() {
        this.reset();
        for (const source of ocspSources) for (const s of source()) this.set({ subject: s.subject, status: s.status }, 1);
      },
    }),
    ocspStapleValidUntil: new Gauge({
      name: 'certgate_ocsp_staple_valid_until_timestamp_seconds',
      help: 'Until when the stapled OCSP response of each served certificate is valid (its nextUpdate), as Unix time; absent while nothing is stapled.',
      labelNames: ['subject'] as const,
      registers,
      collect() {
        this.reset();
        for (const source of ocspSources) for (const s of source()) if (s.validUntil !== null) this.set({ subject: s.subject }, s.validUntil / 1000);
      },
    }),
    ocspFetchErrors: new Counter({
      name: 'certgate_ocsp_fetch_errors_total',
      help: 'OCSP fetches for stapling that failed (unreachable, timeout, http_status) or whose response was refused (bad_signature, unauthorized_signer, expired, ...), by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    requestDuration,
    upstreamGates,
    handshakeFailures: new Counter({
      name: 'certgate_tls_handshake_failures_total',
      help: 'TLS handshakes that failed, by reason code.',
      labelNames: ['reason'] as const,
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'certgate_upstream_errors_total',
      help: 'Upstream failures, by upstream origin and kind (unreachable, timeout, upstream_cert_untrusted, upstream_refused_our_cert, ...).',
      labelNames: ['upstream', 'kind'] as const,
      registers,
    }),
    crlStale: new Gauge({
      name: 'certgate_crl_stale',
      help: '1 while at least one configured CRL is past its nextUpdate (revocations stay enforced).',
      registers,
    }),
    trustGeneration: new Gauge({
      name: 'certgate_trust_generation',
      help: 'Generation of the CA/CRL material in force; increases on every CRL re-read.',
      registers,
    }),
    reloads: new Counter({
      name: 'certgate_config_reloads_total',
      help: 'Configuration reloads, by result (ok, refused).',
      labelNames: ['result'] as const,
      registers,
    }),
    crlFetchSuccess: new Gauge({
      name: 'certgate_crl_fetch_last_success_seconds',
      help: 'CRL URLs: Unix time of the last successful fetch (a CRL accepted, or 304 Not Modified).',
      labelNames: ['url'] as const,
      registers,
    }),
    crlFetchFailure: new Gauge({
      name: 'certgate_crl_fetch_last_failure_seconds',
      help: 'CRL URLs: Unix time of the last failed fetch or refused CRL.',
      labelNames: ['url'] as const,
      registers,
    }),
    crlFetchFailures: new Counter({
      name: 'certgate_crl_fetch_failures_total',
      help: 'CRL URLs: failed fetches and refused CRLs, by reason (unreachable, timeout, http_<status>, bad_signature, number_backwards, ...).',
      labelNames: ['url', 'reason'] as const,
      registers,
    }),
    crlNumber: new Gauge({
      name: 'certgate_crl_number',
      help: 'CRL URLs: the highest CRL number of the CRL in force.',
      labelNames: ['url'] as const,
      registers,
    }),
    crlThisUpdate: new Gauge({
      name: 'certgate_crl_this_update_seconds',
      help: 'CRL URLs: thisUpdate of the newest CRL in force (Unix time); its age is time() minus this.',
      labelNames: ['url'] as const,
      registers,
    }),
    proxyRefused: new Counter({
      name: 'certgate_proxy_protocol_refused_total',
      help: 'Connections refused by proxyProtocol: header missing from a load balancer, invalid, too slow, or sent by another address.',
      labelNames: ['reason'] as const,
      registers,
    }),
    connections: registered(new LabelGauge('certgate_open_connections', 'Client connections currently open, by protocol (h1, h2, plain).', 'protocol')),
    websockets: new Gauge({
      name: 'certgate_open_websockets',
      help: 'WebSocket tunnels currently open.',
      registers,
    }),
    limitHits: new Counter({
      name: 'certgate_limit_hits_total',
      help: 'Times a resource limit was reached, by limit (connections, connections_per_ip, handshake_timeout, lifetime, http2_rapid_reset, tunnel_idle, body_size, upstream_queue_full, upstream_queue_timeout).',
      labelNames: ['limit'] as const,
      registers,
    }),
    upstreamActive: gateGauge('certgate_upstream_active_requests', 'Requests in flight to an upstream (at most its limits.connections).', 'active'),
    upstreamQueued: gateGauge('certgate_upstream_queued_requests', 'Requests waiting for a free upstream connection (at most its limits.queue).', 'queued'),
    certExpiry: new Gauge({
      name: 'certgate_certificate_expiry_timestamp_seconds',
      help: 'notAfter of each certificate in use, as Unix time, by role (server, client_ca, upstream_client, upstream_ca) and subject; the soonest when two share a subject.',
      labelNames: ['role', 'subject'] as const,
      registers,
    }),
    crlNextUpdate: new Gauge({
      name: 'certgate_crl_next_update_timestamp_seconds',
      help: 'nextUpdate of each CRL in force, as Unix time, by issuer; the soonest when several listeners use CRLs of one issuer.',
      labelNames: ['issuer'] as const,
      registers,
    }),
    trustClosed: new Counter({
      name: 'certgate_trust_closed_total',
      help: 'In-flight requests, WebSockets and tunnels closed because a trust change refused their certificate, by kind and reason.',
      labelNames: ['kind', 'reason'] as const,
      registers,
    }),
    tcpConnections: new Counter({
      name: 'certgate_tcp_connections_total',
      help: 'TCP-mode connections after the TLS handshake, by listener and result (allowed, refused, upstream_error).',
      labelNames: ['listen', 'result'] as const,
      registers,
    }),
    tcpBytes: new Counter({
      name: 'certgate_tcp_bytes_total',
      help: 'Bytes piped by TCP mode, by listener and direction (in: client to upstream; out: upstream to client).',
      labelNames: ['listen', 'direction'] as const,
      registers,
    }),
  };
}

export interface MetricsServer {
  server: Server;
  address: AddressInfo;
  close(): Promise<void>;
}

/** What the probe endpoints ask the gateway. */
export interface Probes {
  /** Why the gateway is not ready; empty when it is (asked of every worker when there are several). */
  notReady(): string[] | Promise<string[]>;
}

/** What the metrics endpoint reads: one Registry, or the sum over workers. */
export type MetricsSource = Pick<Registry, 'metrics' | 'contentType'>;

/**
 * Serves GET /metrics from `registry` on a plain HTTP listener, and with `probes` the Kubernetes-style probes:
 * /healthz (200 while the process answers at all) and /readyz (200, or 503 with one reason per line).
 */
export function startMetricsServer(registry: MetricsSource, host: string, port: number, probes?: Probes): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (get && probes && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('ok\n');
      return;
    }
    if (get && probes && path === '/readyz') {
      Promise.resolve(probes.notReady()).then((reasons) => {
        const body = reasons.length === 0 ? 'ready\n' : `not ready:\n${reasons.map((r) => `- ${r}\n`).join('')}`;
        res.writeHead(reasons.length === 0 ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(body);
      }, () => res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('not ready:\n- the workers did not answer\n'));
      return;
    }
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        server,
        address: server.address() as AddressInfo,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
