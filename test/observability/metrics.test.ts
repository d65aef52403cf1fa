// Metrics live on their own Registry and are served as Prometheus text on /metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register as globalRegistry } from 'prom-client';
import { createMetrics, startMetricsServer } from '../../src/observability/metrics.ts';

test('metrics use their own registry and are served on /metrics', async (t) => {
  const m = createMetrics({ processMetrics: false });
  m.requests.inc('403', 'no_certificate');
  m.requestDuration.observe('4xx', 0.003);
  m.requestDuration.observe('4xx', 20);
  m.crlStale.set(1);
  m.handshakeFailures.inc({ reason: 'unknown_ca' });
  assert.equal(await globalRegistry.getSingleMetricAsString('certgate_requests_total').catch(() => ''), '');
  const srv = await startMetricsServer(m.registry, '127.0.0.1', 0);
  t.after(() => srv.close());
  const res = await fetch(`http://127.0.0.1:${srv.address.port}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /certgate_requests_total\{status="403",reason="no_certificate"\} 1/);
  assert.match(text, /certgate_crl_stale 1/);
  assert.match(text, /certgate_request_duration_seconds_bucket\{le="0.0025",status_class="4xx"\} 0/);
  assert.match(text, /certgate_request_duration_seconds_bucket\{le="0.005",status_class="4xx"\} 1/);
  assert.match(text, /certgate_request_duration_seconds_bucket\{le="\+Inf",status_class="4xx"\} 2/);
  assert.match(text, /certgate_request_duration_seconds_sum\{status_class="4xx"\} 20.003/);
  assert.match(text, /certgate_request_duration_seconds_count\{status_class="4xx"\} 2/);
  assert.match(text, /# TYPE certgate_request_duration_seconds histogram/);
  assert.match(text, /certgate_tls_handshake_failures_total\{reason="unknown_ca"\} 1/);
  assert.equal((await fetch(`http://127.0.0.1:${srv.address.port}/other`)).status, 404);
});

test('two metric sets can coexist (no global state)', () => {
  const a = createMetrics();
  const b = createMetrics();
  assert.notEqual(a.registry, b.registry);
});

test('the open-connections gauge counts up and down per protocol, in registration order', async () => {
  const m = createMetrics({ processMetrics: false });
  m.connections.inc({ protocol: 'h1' });
  m.connections.inc({ protocol: 'h1' });
  m.connections.inc({ protocol: 'h2' });
  m.connections.dec({ protocol: 'h1' });
  m.websockets.inc();
  const text = await m.registry.metrics();
  assert.match(text, /# TYPE certgate_open_connections gauge/);
  assert.match(text, /certgate_open_connections\{protocol="h1"\} 1/);
  assert.match(text, /certgate_open_connections\{protocol="h2"\} 1/);
  assert.ok(text.indexOf('certgate_config_reloads_total') < text.indexOf('certgate_open_connections'));
  assert.ok(text.indexOf('certgate_open_connections') < text.indexOf('certgate_open_websockets'));
});
