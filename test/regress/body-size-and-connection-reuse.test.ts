// Hole 6: no bound on request bodies or on connection reuse. A route's maxBodySize refuses a declared-too-large body
// with 413 body_too_large before the upstream sees anything, and cuts a streamed body at the limit (the upstream
// never gets more); limits.requestsPerConnection ends HTTP/1.1 connections (Connection: close) and HTTP/2 sessions
// (GOAWAY); timeouts.lifetime closes an old idle keep-alive connection. Real TLS on 127.0.0.1.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { Cleanup, TestCa, TestCert } from '../helpers/pki.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { RawConnection, h2Session, h2Request } from '../helpers/tls-clients.ts';
import type { Creds } from '../helpers/tls-clients.ts';
import { fileScope } from '../helpers/suite.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Seen {
  /** Body bytes that reached the upstream (counted as they arrive, also for requests cut short). */
  bytes: number;
  complete: boolean;
}

/** An upstream that records, per URL, how many body bytes arrived; answers 200 once the body ended. */
async function startRecorder(t: Cleanup): Promise<{ url: string; seen: Map<string, Seen> }> {
  const seen = new Map<string, Seen>();
  const server = createServer((req, res) => {
    const entry: Seen = { bytes: 0, complete: false };
    seen.set(req.url ?? '', entry);
    req.on('data', (d: Buffer) => (entry.bytes += d.length));
    req.on('end', () => {
      entry.complete = true;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes: entry.bytes }));
    });
    req.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const t0 = fileScope();
let ca: TestCa;
let server: TestCert;
let alice: TestCert;
let recorder: { url: string; seen: Map<string, Seen> };
let gw: TestGateway;
let creds: Creds;

/** A gateway on the shared CA and recorder, with extra listener YAML (indented four spaces). */
async function gateway(t: Cleanup, extra: string): Promise<TestGateway> {
  return startGateway(t, tempDir(t, 'cg-limits-'), `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
${extra}
    routes:
      - {path: /small, upstream: "${recorder.url}", maxBodySize: 1k}
      - {path: /, upstream: "${recorder.url}"}
`);
}

before(async () => {
  ca = await makeCa(t0, { passphrase: null });
  server = await issueCert(ca, 'gateway', { profile: 'server' });
  alice = await issueCert(ca, 'alice');
  recorder = await startRecorder(t0);
  gw = await gateway(t0, '    limits: {requestsPerConnection: 3}');
  creds = { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem };
});

function reasonOf(body: string): string | undefined {
  return /<code>([a-z_]+)<\/code>/.exec(body)?.[1];
}

/** One request on an HTTP/2 stream; `chunks` are written with a pause between them (the stream stays open). */
function h2Post(session: ClientHttp2Session, path: string, headers: Record<string, string>, chunks: Buffer[], end: boolean): Promise<{ status: number; body: string; stream: ClientHttp2Stream }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ':method': 'POST', ...headers });
    let status = 0;
    let body = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('utf8').on('data', (d: string) => (body += d));
    stream.on('end', () => resolve({ status, body, stream }));
    stream.on('error', (err) => (status ? resolve({ status, body, stream }) : reject(err)));
    void (async () => {
      for (const c of chunks) {
        if (stream.destroyed || status) return;
        stream.write(c);
        await sleep(50);
      }
      if (end && !stream.destroyed) stream.end();
    })();
  });
}

test('HTTP/1.1: a declared Content-Length over maxBodySize gets 413 body_too_large, the upstream sees nothing, the connection closes', async (t) => {
  const conn = await RawConnection.open(gw.port, creds);
  t.after(() => conn.close());
  conn.write(`POST /small/declared-h1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\n\r\n${'a'.repeat(2048)}`);
  const r = await conn.readResponse();
  assert.equal(r?.status, 413);
  assert.equal(reasonOf(r!.body), 'body_too_large');
  assert.match(String(r!.headers.connection), /close/i);
  assert.equal(await conn.waitClosed(5_000), true, 'connection closed after the 413');
  assert.equal(recorder.seen.has('/small/declared-h1'), false, 'the upstream saw nothing');
});

test('HTTP/2: a declared content-length over maxBodySize gets 413 before the upstream sees anything; the session goes on', async (t) => {
  const session = await h2Session(gw.port, creds);
  t.after(() => session.destroy());
  const r = await h2Post(session, '/small/declared-h2', { 'content-length': '2048' }, [Buffer.alloc(2048, 97)], true);
  assert.equal(r.status, 413);
  assert.equal(reasonOf(r.body), 'body_too_large');
  assert.equal(recorder.seen.has('/small/declared-h2'), false, 'the upstream saw nothing');
  assert.equal((await h2Request(session, '/small/after-413')).status, 200);
});

test('a chunked body growing past maxBodySize is cut at the limit: 413, and the upstream never gets more than 1k (h1, h2)', async (t) => {
  // HTTP/1.1: 512-byte chunks, the third crosses the limit; the client then waits (no terminating chunk)
  const conn = await RawConnection.open(gw.port, creds);
  t.after(() => conn.close());
  conn.write(`POST /small/chunked-h1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n`);
  for (let i = 0; i < 3; i++) {
    await sleep(50);
    conn.write(`200\r\n${'b'.repeat(512)}\r\n`);
  }
  const r = await conn.readResponse();
  assert.equal(r?.status, 413, 'HTTP/1.1 chunked body over the limit');
  assert.equal(reasonOf(r!.body), 'body_too_large');
  const h1Seen = recorder.seen.get('/small/chunked-h1');
  assert.ok(!h1Seen || (h1Seen.bytes <= 1024 && !h1Seen.complete), `upstream got ${JSON.stringify(h1Seen)}`);

  // HTTP/2: a body with no content-length, written in 512-byte pieces up to 2k
  const session = await h2Session(gw.port, creds);
  t.after(() => session.destroy());
  const r2 = await h2Post(session, '/small/chunked-h2', {}, [0, 1, 2, 3].map(() => Buffer.alloc(512, 99)), true);
  assert.equal(r2.status, 413, 'HTTP/2 body over the limit');
  assert.equal(reasonOf(r2.body), 'body_too_large');
  await sleep(200);
  const h2Seen = recorder.seen.get('/small/chunked-h2');
  assert.ok(!h2Seen || (h2Seen.bytes <= 1024 && !h2Seen.complete), `upstream got ${JSON.stringify(h2Seen)}`);
  assert.match(await gw.metrics.registry.metrics(), /certgate_limit_hits_total\{limit="body_size"\} [1-9]/);
});

test('a body of exactly maxBodySize passes (declared and chunked, h1 and h2)', async (t) => {
  const conn = await RawConnection.open(gw.port, creds);
  t.after(() => conn.close());
  conn.write(`POST /small/exact-h1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1024\r\n\r\n${'c'.repeat(1024)}`);
  const r = await conn.readResponse();
  assert.equal(r?.status, 200);
  assert.deepEqual(JSON.parse(r!.body), { bytes: 1024 });
  conn.write(`POST /small/exact-h1-chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n${'d'.repeat(512)}\r\n200\r\n${'d'.repeat(512)}\r\n0\r\n\r\n`);
  const rc = await conn.readResponse();
  assert.equal(rc?.status, 200);
  assert.deepEqual(JSON.parse(rc!.body), { bytes: 1024 });

  const session = await h2Session(gw.port, creds);
  t.after(() => session.destroy());
  const r2 = await h2Post(session, '/small/exact-h2', { 'content-length': '1024' }, [Buffer.alloc(1024, 101)], true);
  assert.equal(r2.status, 200);
  assert.deepEqual(JSON.parse(r2.body), { bytes: 1024 });
  const r3 = await h2Post(session, '/small/exact-h2-stream', {}, [Buffer.alloc(512, 102), Buffer.alloc(512, 102)], true);
  assert.equal(r3.status, 200);
  assert.deepEqual(JSON.parse(r3.body), { bytes: 1024 });
});

test('limits.requestsPerConnection: 3 — the 3rd HTTP/1.1 response says Connection: close', async (t) => {
  const conn = await RawConnection.open(gw.port, creds);
  t.after(() => conn.close());
  const connection: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const r = await conn.get(`/reuse/h1-${i}`);
    assert.equal(r?.status, 200, `request ${i}`);
    connection.push(String(r!.headers.connection ?? ''));
  }
  assert.doesNotMatch(connection[0] + connection[1], /close/i);
  assert.match(connection[2], /close/i);
  assert.equal(await conn.waitClosed(5_000), true, 'closed after the 3rd response');
});

test('limits.requestsPerConnection: 3 — an HTTP/2 session gets GOAWAY after its 3rd stream', async (t) => {
  const session = await h2Session(gw.port, creds);
  t.after(() => session.destroy());
  let goawayAfter = -1;
  let done = 0;
  session.on('goaway', () => (goawayAfter = done));
  for (let i = 1; i <= 3; i++) {
    assert.equal((await h2Request(session, `/reuse/h2-${i}`)).status, 200, `stream ${i}`);
    done++;
    if (i < 3) assert.equal(goawayAfter, -1, `no GOAWAY after stream ${i}`);
  }
  for (let i = 0; i < 50 && goawayAfter < 0; i++) await sleep(20);
  assert.ok(goawayAfter >= 2, `GOAWAY after the 3rd stream (seen after ${goawayAfter})`);
  await assert.rejects(h2Request(session, '/reuse/h2-4'), 'a 4th stream is refused');
  assert.equal(recorder.seen.has('/reuse/h2-4'), false);
});

test('timeouts.lifetime: 1s closes an idle keep-alive connection older than that (h1 and h2)', async (t) => {
  const g = await gateway(t, '    timeouts: {lifetime: 1s}');
  const conn = await RawConnection.open(g.port, creds);
  t.after(() => conn.close());
  const session = await h2Session(g.port, creds);
  t.after(() => session.destroy());
  let goawayAt = 0;
  session.on('goaway', () => (goawayAt = Date.now()));
  const opened = Date.now();
  assert.equal((await conn.get('/life/h1'))?.status, 200);
  assert.equal((await h2Request(session, '/life/h2')).status, 200);
  assert.equal(await conn.waitClosed(6_000), true, 'the idle keep-alive connection is closed within 6 s');
  const after = Date.now() - opened;
  assert.ok(after >= 900, `closed after ${after} ms, before its lifetime`);
  for (let i = 0; i < 100 && goawayAt === 0; i++) await sleep(50);
  assert.ok(goawayAt > 0 && goawayAt - opened <= 6_000, 'the h2 session got GOAWAY');
  assert.match(await g.metrics.registry.metrics(), /certgate_limit_hits_total\{limit="lifetime"\} [1-9]/);
});
