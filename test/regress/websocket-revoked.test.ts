// Hole 5: work that outlives its request check — a WebSocket tunnel, a long streamed response — kept running after
// its client certificate was revoked, and a silent tunnel was never closed. Now a trust change (CRL file rewritten
// and picked up by the file watch, or gateway.reloadTrust()) closes the revoked certificate's tunnels and cuts its
// in-flight responses within 2 s, counted and logged; other certificates and public routes keep theirs; and
// timeouts.tunnelIdle (not timeouts.idle or timeouts.lifetime) closes a tunnel with no traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { makeCa, issueCert, tempDir, writeCrl } from '../helpers/pki.ts';
import type { Cleanup, TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { Ws } from '../helpers/ws-client.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { h2Session } from '../helpers/tls-clients.ts';
import { createReloadController } from '../../src/gateway/reload.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { preflight } from '../../src/gateway/preflight.ts';
import { createLogger } from '../../src/observability/logger.ts';

/** Stat-poll interval of the watcher these tests start (the test gateway itself watches nothing). */
const POLL_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Streamer {
  url: string;
  /** Per request path: chunks written, and whether the gateway's upstream request was closed before the end. */
  log: Map<string, { chunks: number; aborted: boolean; ended: boolean }>;
}

/** An upstream that answers every request with one chunk every 200 ms for 10 s. */
async function startStreamer(t: Cleanup): Promise<Streamer> {
  const log: Streamer['log'] = new Map();
  const server = createServer((req, res: ServerResponse) => {
    const entry = { chunks: 0, aborted: false, ended: false };
    log.set(req.url ?? '', entry);
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => {
      entry.chunks++;
      res.write(`chunk ${entry.chunks}\n`);
      if (entry.chunks >= 50) {
        clearInterval(timer);
        entry.ended = true;
        res.end();
      }
    }, 200);
    res.on('close', () => {
      clearInterval(timer);
      if (!entry.ended) entry.aborted = true;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, log };
}

interface Fixture {
  dir: string;
  ca: TestCa;
  alice: TestCert;
  carol: TestCert;
  crlFile: string;
  gw: TestGateway;
  streamer: Streamer;
}

async function fixture(t: Cleanup, timeouts = ''): Promise<Fixture> {
  const dir = tempDir(t, 'cg-wsrev-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const alice = await issueCert(ca, 'alice');
  const carol = await issueCert(ca, 'carol');
  const crlFile = join(dir, 'ca.crl');
  await writeCrl(ca, crlFile, []);
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const streamer = await startStreamer(t);
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: ${crlFile}}${timeouts}
    routes:
      - {path: /ws, upstream: "${upstream.url}"}
      - {path: /pub, upstream: "${upstream.url}", public: true}
      - {path: /stream, upstream: "${streamer.url}"}
`);
  return { dir, ca, alice, carol, crlFile, gw, streamer };
}

/** Starts the CA/CRL file watch the way `certgate serve` does, with a short poll. */
function watch(t: Cleanup, gw: TestGateway): void {
  const reloader = createReloadController({
    configPath: gw.configPath, gateway: gw.gateway, logger: createLogger({ destination: { write: () => undefined } }), metrics: gw.metrics,
    load: (p) => loadConfigFile(p), preflight, pollMs: POLL_MS,
  });
  reloader.watch();
  t.after(() => reloader.close());
}

async function metric(gw: TestGateway, pattern: RegExp): Promise<number> {
  const m = pattern.exec(await gw.metrics.registry.metrics());
  return m ? Number(m[1]) : 0;
}
const WS_REVOKED = /certgate_trust_closed_total\{kind="websocket",reason="revoked"\} (\d+)/;
const REQ_REVOKED = /certgate_trust_closed_total\{kind="request",reason="revoked"\} (\d+)/;

async function openAll(f: Fixture, t: Cleanup) {
  const caPem = f.ca.ca.certPem;
  const aliceWs = await Ws.open(f.gw.port, caPem, '/ws/alice', f.alice);
  const carolWs = await Ws.open(f.gw.port, caPem, '/ws/carol', f.carol);
  const alicePub = await Ws.open(f.gw.port, caPem, '/pub/alice', f.alice);
  for (const ws of [aliceWs, carolWs, alicePub]) {
    t.after(() => ws.close());
    assert.equal(ws.status, 101);
    assert.equal(await ws.echo('before'), 'before');
  }
  return { aliceWs, carolWs, alicePub };
}

async function assertOthersUnaffected(f: Fixture, carolWs: Ws, alicePub: Ws): Promise<void> {
  // the unrevoked certificate's tunnel and the public route's tunnel stay open and keep echoing
  for (let i = 0; i < 3; i++) {
    assert.equal(await carolWs.echo(`carol ${i}`), `carol ${i}`);
    assert.equal(await alicePub.echo(`pub ${i}`), `pub ${i}`);
  }
  assert.ok(carolWs.open && alicePub.open);
  const closed = f.gw.events('trust.work_closed');
  assert.equal(closed.length, 1, JSON.stringify(closed));
  assert.equal(closed[0].kind, 'websocket');
  assert.equal(closed[0].reason, 'revoked');
  assert.equal(closed[0].serial, f.alice.record.serial);
  assert.equal(await metric(f.gw, WS_REVOKED), 1);
}

test('CRL file rewritten: the revoked certificate\'s WebSocket is closed within 2 s by the file watch', async (t) => {
  const f = await fixture(t);
  watch(t, f.gw);
  const { aliceWs, carolWs, alicePub } = await openAll(f, t);
  await sleep(POLL_MS * 2); // the watcher has its first stat
  const written = Date.now();
  await writeCrl(f.ca, f.crlFile, [f.alice]);
  const closedAt = await aliceWs.waitClosed(5_000);
  assert.ok(closedAt !== undefined, 'the revoked WebSocket was not closed within 5 s');
  assert.ok(closedAt - written <= 2_000, `closed ${closedAt - written} ms after the CRL write`);
  await assertOthersUnaffected(f, carolWs, alicePub);
});

test('gateway.reloadTrust(): the revoked certificate\'s WebSocket is closed, others stay', async (t) => {
  const f = await fixture(t);
  const { aliceWs, carolWs, alicePub } = await openAll(f, t);
  await writeCrl(f.ca, f.crlFile, [f.alice]);
  const start = Date.now();
  f.gw.gateway.reloadTrust();
  const closedAt = await aliceWs.waitClosed(5_000);
  assert.ok(closedAt !== undefined && closedAt - start <= 2_000, `closed after ${closedAt === undefined ? 'never' : closedAt - start} ms`);
  await assertOthersUnaffected(f, carolWs, alicePub);
  // the revoked certificate cannot open a new one
  const again = await Ws.open(f.gw.port, f.ca.ca.certPem, '/ws/again', f.alice);
  t.after(() => again.close());
  assert.equal(again.status, 403);
});

test('timeouts.tunnelIdle closes a silent WebSocket after ~1 s; a chatty one stays; timeouts.idle and lifetime do not apply', async (t) => {
  // idle (keep-alive) and lifetime are shorter than tunnelIdle: a tunnel closed before ~1 s was closed by one of them
  const f = await fixture(t, '\n    timeouts: {tunnelIdle: 1s, idle: 300ms, lifetime: 500ms}');
  const silent = await Ws.open(f.gw.port, f.ca.ca.certPem, '/ws/silent', f.alice);
  const chatty = await Ws.open(f.gw.port, f.ca.ca.certPem, '/ws/chatty', f.carol);
  t.after(() => silent.close());
  t.after(() => chatty.close());
  assert.equal(silent.status, 101);
  assert.equal(chatty.status, 101);
  const start = Date.now();
  assert.equal(await silent.echo('hi'), 'hi');
  // the chatty tunnel exchanges a message every 300 ms for 2.4 s
  for (let i = 0; i < 8; i++) {
    await sleep(300);
    assert.equal(await chatty.echo(`m${i}`), `m${i}`, `message ${i} at ${Date.now() - start} ms`);
  }
  assert.ok(chatty.open, 'the chatty tunnel stays open past 2 s');
  assert.ok(Date.now() - start >= 2_000);
  const closedAt = await silent.waitClosed(3_000);
  assert.ok(closedAt !== undefined, 'the silent tunnel is closed');
  const after = closedAt - start;
  // closed by tunnelIdle (1 s), not by the 300 ms keep-alive idle timeout or the 500 ms lifetime
  assert.ok(after >= 800 && after <= 3_000, `silent tunnel closed after ${after} ms`);
  assert.ok(await metric(f.gw, /certgate_limit_hits_total\{limit="tunnel_idle"\} (\d+)/) >= 1);
  assert.equal(f.gw.events('trust.work_closed').length, 0, 'idle closing is not a trust change');
});

/** A streamed HTTP/1.1 GET: resolves when the first chunk arrived; `done` settles when the response ends or is cut. */
async function streamH1(f: Fixture, path: string, cert: TestCert) {
  let bytes = 0;
  let complete = false;
  let first!: () => void;
  const firstChunk = new Promise<void>((r) => (first = r));
  const done = new Promise<{ at: number; complete: boolean; bytes: number }>((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port: f.gw.port, path, agent: false, ca: f.ca.ca.certPem, cert: cert.certPem, key: cert.keyPem, servername: 'localhost', timeout: 15_000 }, (res) => {
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        first();
      });
      res.on('end', () => (complete = true));
      res.on('close', () => resolve({ at: Date.now(), complete, bytes }));
      res.on('error', () => undefined);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ at: Date.now(), complete, bytes }));
    req.end();
  });
  await Promise.race([firstChunk, sleep(5_000).then(() => assert.fail(`no first chunk of ${path}`))]);
  return { done }; // wrapped: an async function returning the promise itself would wait for the end

}

test('an in-flight streamed response of a revoked certificate is cut within 2 s (h1 and h2); another certificate\'s continues', async (t) => {
  const f = await fixture(t);
  watch(t, f.gw);
  const aliceH1 = (await streamH1(f, '/stream/alice-h1', f.alice)).done;
  const carolH1 = (await streamH1(f, '/stream/carol-h1', f.carol)).done;
  const session = await h2Session(f.gw.port, { ca: f.ca.ca.certPem, cert: f.alice.certPem, key: f.alice.keyPem });
  t.after(() => session.destroy());
  const h2 = session.request({ ':path': '/stream/alice-h2' });
  let h2Complete = false;
  const h2Done = new Promise<number>((resolve) => {
    h2.on('data', () => undefined);
    h2.on('end', () => (h2Complete = true));
    h2.on('close', () => resolve(Date.now()));
    h2.on('error', () => undefined);
  });
  await new Promise<void>((r) => h2.once('data', () => r()));
  await sleep(POLL_MS * 2);

  const written = Date.now();
  await writeCrl(f.ca, f.crlFile, [f.alice]);
  const [a, h2At] = await Promise.all([
    Promise.race([aliceH1, sleep(5_000).then(() => null)]),
    Promise.race([h2Done, sleep(5_000).then(() => null)]),
  ]);
  assert.ok(a !== null && !a.complete, 'the h1 response was cut, not completed');
  assert.ok(a.at - written <= 2_000, `h1 cut ${a.at - written} ms after the CRL write`);
  assert.ok(h2At !== null && !h2Complete, 'the h2 stream was cut, not completed');
  assert.ok(h2At - written <= 2_000, `h2 cut ${h2At - written} ms after the CRL write`);
  // the upstream requests were aborted too (nothing keeps streaming to nobody)
  await sleep(300);
  assert.equal(f.streamer.log.get('/stream/alice-h1')?.aborted, true);
  assert.equal(f.streamer.log.get('/stream/alice-h2')?.aborted, true);
  assert.equal(await metric(f.gw, REQ_REVOKED), 2);
  const closed = f.gw.events('trust.work_closed');
  assert.deepEqual(closed.map((l) => [l.kind, l.reason]), [['request', 'revoked'], ['request', 'revoked']]);

  // carol's response keeps streaming past the cut
  const before = f.streamer.log.get('/stream/carol-h1')!.chunks;
  await sleep(600);
  assert.ok(f.streamer.log.get('/stream/carol-h1')!.chunks > before, 'carol\'s stream still runs');
  assert.equal(f.streamer.log.get('/stream/carol-h1')!.aborted, false);
  void carolH1;
});
