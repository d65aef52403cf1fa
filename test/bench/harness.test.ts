// Smoke test of the benchmark harness pieces that do not measure speed: configs nginx accepts, a tiny real run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { Config } from '../../src/config/schema.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { buildLoadgen, holdIdle, runLoad } from '../../bench/loadgen.ts';
import { BODY_100, gatewayNginxConf, nginxTest, startNginx, upstreamNginxConf, writeNginxConf, type UpstreamTarget } from '../../bench/nginx.ts';
import { makeBenchPki, type BenchPki } from '../../bench/pki.ts';
import { freePort, processTree, rssKiB, waitForPort, type Pinned } from '../../bench/proc.ts';
import { boundNote, median, summarize, type Row, type Sample } from '../../bench/report.ts';
import { certgateConfig, certgatePidFile, probeTarget, startTarget, type RunningTarget, type TargetSpec } from '../../bench/targets.ts';
import { certgateTcpConfig, streamNginxConf } from '../../bench/tcp.ts';
import { expectedProcesses, stopTree, waitServing } from '../../bench/workers.ts';
import { treeCpu } from '../../bench/workers-report.ts';

let dir: string;
let pki: BenchPki;
let loadgen: string;
let upstream: Pinned;
let plain: UpstreamTarget;
let mtls: UpstreamTarget;
const running: Pinned[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'certgate-bench-test-'));
  [pki, loadgen] = await Promise.all([makeBenchPki(join(dir, 'pki')), buildLoadgen(dir)]);
  const upDir = join(dir, 'upstream');
  const port = await freePort();
  const tlsPort = await freePort();
  const conf = await writeNginxConf(upDir, upstreamNginxConf({
    dir: upDir, port, tls: { port: tlsPort, cert: pki.upstream.serverCert, key: pki.upstream.serverKey, clientCa: pki.upstream.caCert },
  }));
  upstream = startNginx('upstream', upDir, conf, null);
  running.push(upstream);
  await waitForPort(port, upstream);
  await waitForPort(tlsPort, upstream);
  plain = { port };
  mtls = { port: tlsPort, tls: { ca: pki.upstream.caCert, cert: pki.upstream.proxyCert, key: pki.upstream.proxyKey, servername: 'localhost' } };
});

after(async () => {
  for (const p of running) await p.stop();
  await rm(dir, { recursive: true, force: true });
});

function spec(name: string, upstreamTarget: UpstreamTarget, certs = pki.ec): TargetSpec {
  return { dir: join(dir, name), certs, upstream: upstreamTarget, accessLog: false };
}

async function start(name: 'nginx' | 'bare-node', s: TargetSpec): Promise<RunningTarget> {
  const t = await startTarget(name, s, null);
  running.push(t.proc);
  return t;
}

test('gateway and upstream nginx configs pass nginx -t; a config naming a missing cert does not', async () => {
  for (const [name, up, tls] of [['plain', plain, false], ['mtls', mtls, true]] as const) {
    const d = join(dir, `conf-${name}`);
    const text = gatewayNginxConf({ dir: d, port: 1, serverCert: pki.ec.serverCert, serverKey: pki.ec.serverKey, clientCa: pki.ec.caCert, upstream: up });
    assert.match(text, /ssl_verify_client on;/);
    assert.equal(text.includes('proxy_ssl_certificate '), tls);
    const r = await nginxTest(d, await writeNginxConf(d, text));
    assert.ok(r.ok, r.output);
  }
  const d = join(dir, 'conf-broken');
  const text = gatewayNginxConf({ dir: d, port: 1, serverCert: join(dir, 'missing.crt'), serverKey: pki.ec.serverKey, clientCa: pki.ec.caCert, upstream: plain });
  const r = await nginxTest(d, await writeNginxConf(d, text));
  assert.equal(r.ok, false);
  assert.match(r.output, /missing\.crt/);
});

test('the certgate config the bench writes satisfies the schema and the real loader (plain and mTLS upstream)', async () => {
  for (const up of [plain, mtls]) {
    const file = join(dir, 'certgate.yaml');
    await writeFile(file, stringify(certgateConfig(spec('cg', up), 8443)));
    const parsed = Config.safeParse(parse(await readFile(file, 'utf8')));
    assert.ok(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues));
    const loaded = loadConfigFile(file);
    assert.equal(loaded.servers[0].clientAuth?.mode, 'require');
    assert.equal(loaded.servers[0].sites?.[0].routes[0].path, '/');
  }
});

test('tcp scenario: nginx accepts the stream config (ssl_verify_client on); the certgate tcp: config loads', async () => {
  const d = join(dir, 'conf-stream');
  const text = streamNginxConf({ dir: d, port: 1, certs: pki.ec, upstreamPort: 2 });
  assert.match(text, /stream \{[\s\S]*ssl_verify_client on;[\s\S]*proxy_pass 127\.0\.0\.1:2;/);
  const r = await nginxTest(d, await writeNginxConf(d, text));
  assert.ok(r.ok, r.output);
  const file = join(dir, 'certgate-tcp.yaml');
  await writeFile(file, stringify(certgateTcpConfig({ port: 8443, certs: pki.ec, upstreamPort: 5432 })));
  const loaded = loadConfigFile(file);
  assert.equal(loaded.servers[0].clientAuth?.mode, 'require');
  assert.deepEqual(loaded.servers[0].tcp?.upstream, { address: '127.0.0.1:5432' });
});

test('nginx target: curl probe passes; the load generator gets 2xx in keep-alive and handshake modes', async () => {
  const t = await start('nginx', spec('gw-nginx', plain));
  const probe = await probeTarget(t, pki.ec, BODY_100.length);
  assert.ok(probe.ok, probe.detail);

  const client = { binary: loadgen, port: t.port, cert: pki.ec.clientCert, key: pki.ec.clientKey, cpu: null };
  const ka = await runLoad({ ...client, mode: 'keepalive', conns: 2, durationS: 0.4, warmupS: 0.1, watch: [t.proc.pid] });
  assert.ok(ka.ok2xx > 0, JSON.stringify(ka));
  assert.equal(ka.non2xx, 0);
  assert.equal(ka.errors, 0, ka.lastError);
  assert.equal(ka.serverKey, 'EC');
  assert.ok(typeof ka.watchCpu?.[String(t.proc.pid)] === 'number');

  const hs = await runLoad({ ...client, mode: 'handshake', conns: 2, durationS: 0.4, warmupS: 0.1 });
  assert.ok(hs.ok2xx > 0 && hs.handshakes > 0, JSON.stringify(hs));
  assert.equal(hs.resumed, 0);
  assert.equal(hs.errors, 0, hs.lastError);

  const idle = await holdIdle({ ...client, conns: 20 });
  assert.equal(idle.ready.open, 20);
  assert.ok((await rssKiB(t.proc.pid)) > 0);
  const done = await idle.release();
  assert.equal(done.failed, 0);
});

test('a client certificate from another CA gets no 2xx (the gateway really requires the configured CA)', async () => {
  const t = await start('nginx', spec('gw-nginx-wrong-ca', plain));
  const r = await runLoad({ binary: loadgen, port: t.port, cert: pki.rsa.clientCert, key: pki.rsa.clientKey, cpu: null, mode: 'keepalive', conns: 1, durationS: 0.3, warmupS: 0 });
  assert.equal(r.ok2xx, 0);
  assert.ok(r.errors + r.non2xx > 0, JSON.stringify(r));
});

test('bare Node proxy target to the mTLS upstream passes the curl probe and serves the generator', async () => {
  const t = await start('bare-node', spec('gw-bare', mtls));
  const probe = await probeTarget(t, pki.ec, BODY_100.length);
  assert.ok(probe.ok, probe.detail);
  const r = await runLoad({ binary: loadgen, port: t.port, cert: pki.ec.clientCert, key: pki.ec.clientKey, cpu: null, mode: 'keepalive', conns: 2, durationS: 0.3, warmupS: 0.1 });
  assert.ok(r.ok2xx > 0, JSON.stringify(r));
  assert.equal(r.errors + r.non2xx, 0, r.lastError);
});

test('report: medians over runs and ratios to nginx', () => {
  const rows: Array<{ xs: number[]; want: number }> = [
    { xs: [3], want: 3 },
    { xs: [5, 1, 3], want: 3 },
    { xs: [4, 1, 3, 2], want: 2.5 },
  ];
  for (const { xs, want } of rows) assert.equal(median(xs), want);
  const s = (target: 'nginx' | 'certgate', value: number, targetCpu: number): Sample => ({ scenario: 'keepalive', target, run: 1, value, targetCpu, errors: 0, non2xx: 0 });
  const out = summarize([s('nginx', 1000, 1), s('certgate', 400, 0.5), s('nginx', 1200, 1), s('certgate', 500, 1)], ['nginx', 'certgate']);
  assert.equal(out.length, 2);
  assert.equal(out[0].median, 1100);
  assert.equal(out[0].ratio, null);
  assert.equal(out[1].median, 450);
  assert.ok(Math.abs((out[1].ratio ?? 0) - 450 / 1100) < 1e-9);
  assert.equal(out[1].perCore, 650); // median of 800 and 500 per core-second
});

test('report: each figure is labelled target-bound, generator-bound or contended', () => {
  const base: Row = { scenario: 'keepalive', target: 'nginx', runs: 1, median: 1, min: 1, max: 1, errors: 0, ratio: null };
  const rows: Array<{ row: Partial<Row>; want: RegExp }> = [
    { row: { targetCpu: 0.95 }, want: /^target-bound/ },
    { row: { targetCpu: 0.75, softirq0: 0.2, core0: 1, core1: 0.5 }, want: /^contended .*softirq 0\.20 of it/ }, // softirq is inside stime already
    { row: { targetCpu: 0.6, genCpu: 0.45, upstreamCpu: 0.4 }, want: /^generator-bound/ },
    { row: { targetCpu: 0.4, core0: 1, genCpu: 0.2, upstreamCpu: 0.2, core1: 1 }, want: /^contended .*core 0 0\.60, core 1 0\.60/ },
    { row: {}, want: /^$/ },
  ];
  for (const { row, want } of rows) assert.match(boundNote({ ...base, ...row }), want, JSON.stringify(row));
});

test('workers scenario: nginx with 2 workers and certgate with workers: 2 serve as whole process trees, CPU summed over each', async () => {
  const text = gatewayNginxConf({ dir: join(dir, 'conf-w2'), port: 1, serverCert: pki.ec.serverCert, serverKey: pki.ec.serverKey, clientCa: pki.ec.caCert, upstream: plain, workers: 2 });
  assert.match(text, /^worker_processes 2;$/m);
  assert.match(text, /^master_process on;$/m);
  assert.match(text, /listen 127\.0\.0\.1:1 ssl http2 reuseport;/);
  assert.doesNotMatch(gatewayNginxConf({ dir: join(dir, 'conf-w0'), port: 1, serverCert: pki.ec.serverCert, serverKey: pki.ec.serverKey, clientCa: pki.ec.caCert, upstream: plain }), /reuseport|master_process on/);
  for (const target of ['nginx', 'certgate'] as const) {
    const s = { ...spec(`w2-${target}`, plain), workers: 2 };
    const t = await startTarget(target, s, null);
    running.push(t.proc);
    let tree: number[] = [t.proc.pid];
    try {
      tree = await waitServing(t, s, target, 2);
      assert.equal(tree.length, expectedProcesses(target, 2));
      assert.equal(tree[0], t.proc.pid);
      if (target === 'certgate') assert.equal((await readFile(certgatePidFile(s), 'utf8')).trim(), String(t.proc.pid));
      const probe = await probeTarget(t, pki.ec, BODY_100.length);
      assert.ok(probe.ok, probe.detail);
      const r = await runLoad({ binary: loadgen, port: t.port, cert: pki.ec.clientCert, key: pki.ec.clientKey, cpu: null, mode: 'keepalive', conns: 4, durationS: 0.4, warmupS: 0.1, watch: tree });
      assert.ok(r.ok2xx > 0, JSON.stringify(r));
      assert.equal(r.errors + r.non2xx, 0, r.lastError);
      const cpu = treeCpu(r.watchCpu, tree);
      assert.ok(cpu !== undefined && cpu > 0, `${target}: ${JSON.stringify(r.watchCpu)}`);
    } finally {
      await stopTree(t, tree);
    }
    const left = (await Promise.all(tree.map((pid) => processTree(pid)))).flat();
    assert.deepEqual(left, [], `${target}: processes left after stopTree`);
  }
  // one worker: nginx is a master and one worker, certgate a single process
  assert.equal(expectedProcesses('nginx', 1), 2);
  assert.equal(expectedProcesses('certgate', 1), 1);
});
