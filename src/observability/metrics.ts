// Prometheus metrics on certgate's own prom-client Registry, and the small plain-HTTP server that exposes them.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';

/** Every metric the gateway updates. Created by `createMetrics`; nothing is registered at import. */
export interface GatewayMetrics {
  registry: Registry;
  /** Requests answered, by status code and reason (reason "" for proxied responses). */
  requests: Counter<'status' | 'reason'>;
  requestDuration: Histogram<'status_class'>;
  /** TLS handshakes that failed, by reason code (no_certificate, unknown_ca, expired, ...). */
  handshakeFailures: Counter<'reason'>;
  upstreamErrors: Counter<'upstream' | 'kind'>;
  /** 1 while any configured CRL is past its nextUpdate. */
  crlStale: Gauge;
  /** The trust generation in force (bumps whenever CRLs are re-read). */
  trustGeneration: Gauge;
  reloads: Counter<'result'>;
  connections: Gauge<'protocol'>;
  websockets: Gauge;
}

export interface MetricsOptions {
  /** Also collect prom-client's process metrics (CPU, memory, event loop lag), prefixed certgate_. Default true. */
  processMetrics?: boolean;
}

export function createMetrics(options: MetricsOptions = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'certgate_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'certgate_requests_total',
      help: 'HTTP requests answered by the gateway, by status and gateway reason code ("" when proxied).',
      labelNames: ['status', 'reason'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'certgate_request_duration_seconds',
      help: 'Time from request start to the last response byte, by status class.',
      labelNames: ['status_class'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30],
      registers,
    }),
    handshakeFailures: new Counter({
      name: 'certgate_tls_handshake_failures_total',
      help: 'TLS handshakes that failed, by reason code.',
      labelNames: ['reason'] as const,
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'certgate_upstream_errors_total',
      help: 'Upstream failures, by upstream origin and kind (unreachable, timeout, reset).',
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
    connections: new Gauge({
      name: 'certgate_open_connections',
      help: 'Client connections currently open, by protocol (h1, h2, plain).',
      labelNames: ['protocol'] as const,
      registers,
    }),
    websockets: new Gauge({
      name: 'certgate_open_websockets',
      help: 'WebSocket tunnels currently open.',
      registers,
    }),
  };
}

export interface MetricsServer {
  server: Server;
  address: AddressInfo;
  close(): Promise<void>;
}

/** Serves GET /metrics from `registry` on a plain HTTP listener. */
export function startMetricsServer(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
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
