// Regression (hole 2): one HTTP/2 connection without a client certificate could open any number of streams on a
// public route, and the gateway opened one upstream connection per stream (undici's pool had no cap); streams
// opened and cancelled at once (rapid reset, CVE-2023-44487) could each cost an upstream connection too. Now the gateway
// advertises 128 concurrent streams and refuses more, each upstream has a connection cap and a bounded queue (503
// upstream_busy beyond it or after queueTimeout), and a session that cancels streams in bulk gets GOAWAY
// ENHANCE_YOUR_CALM. Real TLS on 127.0.0.1; the upstream counts the TCP connections it accepts.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect as h2connect, constants as h2 } from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { h2Session, h2Request } from '../helpers/tls-clients.ts';
import { fileScope } from '../helpers/suite.ts';
import { waitFor, limitHits } from '../helpers/sockets.ts';

const UPSTREAM_CONNECTIONS = 16;
const UPSTREAM_QUEUE = 32;

const t0 = fileScope();
let ca: TestCa;
let alice: TestCert;
let gw: TestGateway;

/** The upstream: counts the TCP connections it accepts (and requests it reads); .../hold... is never answered. */
const up = { accepted: 0, open: 0, maxOpen: 0, requests: 0 };

before(async () => {
  const dir = tempDir(t0, 'cg-h2flood-');
  ca = await makeCa(t0, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  alice = await issueCert(ca, 'alice');
  const upstream = createServer((req, res) => {
    up.requests++;
    if (req.url?.includes('/hold')) return;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  });
  upstream.on('connection', (s: Socket) => {
    up.accepted++;
    up.maxOpen = Math.max(up.maxOpen, ++up.open);
    s.once('close', () => up.open--);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t0.after(() => new Promise<void>((r) => {
    upstream.close(() => r());
    upstream.closeAllConnections();
  }));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const target = `{url: "${url}", limits: {connections: ${UPSTREAM_CONNECTIONS}, queue: ${UPSTREAM_QUEUE}, queueTimeout: 1s}}`;
  // a queue long enough that no stream is answered while the raw client below floods
  const queued = `{url: "${url}", limits: {connections: ${UPSTREAM_CONNECTIONS}, queue: 1000, queueTimeout: 10s}}`;
  gw = await startGateway(t0, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    routes:
      - {path: /public, upstream: ${target}, public: true}
      - {path: /private, upstream: ${target}}
      - {path: /queue, upstream: ${queued}, public: true}
`);
});

/** Opens a session without a client certificate; session errors after GOAWAY are expected and ignored. */
function anonymousSession(): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = h2connect(`https://127.0.0.1:${gw.port}`, { ca: ca.ca.certPem, servername: 'localhost' });
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function goodClientServed(): Promise<void> {
  const s = await h2Session(gw.port, { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem });
  try {
    const res = await h2Request(s, '/private/ok');
    assert.equal(res.status, 200, res.body.slice(0, 300));
    assert.equal(res.body, 'ok');
  } finally {
    s.close();
  }
}

/** Waits (bounded) until the upstream gate holds nothing: no request in flight or queued. */
function gateIdle(): Promise<boolean> {
  return waitFor(async () => !/^certgate_upstream_(active|queued)_requests\{[^}]*\} [1-9]/m.test(await gw.metrics.registry.metrics()), 5_000);
}

test('1,000 streams flood on one connection: 128 advertised, 16 upstream connections, the rest 503 upstream_busy', async () => {
  const acceptedBefore = up.accepted;
  const fullBefore = await limitHits(gw.metrics, 'upstream_queue_full');
  const timeoutBefore = await limitHits(gw.metrics, 'upstream_queue_timeout');
  const s = await anonymousSession();
  if (s.remoteSettings.maxConcurrentStreams !== 128) await new Promise((r) => s.once('remoteSettings', r));
  assert.equal(s.remoteSettings.maxConcurrentStreams, 128, 'SETTINGS_MAX_CONCURRENT_STREAMS');

  const outcomes = { busy: 0, other: [] as string[], errors: 0 };
  let maxActive = 0;
  let maxQueued = 0;
  for (let i = 0; i < 1000; i++) {
    // POST whose body is never sent: each admitted stream holds an upstream connection (undici waits for the body)
    const stream = s.request({ ':path': `/public/hold/${i}`, ':method': 'POST', 'content-type': 'text/plain' }, { endStream: false });
    let status = 0;
    let body = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('utf8').on('data', (d: string) => (body += d));
    stream.on('end', () => {
      if (status === 503 && body.includes('<code>upstream_busy</code>')) outcomes.busy++;
      else outcomes.other.push(`${status} ${body.slice(0, 80)}`);
    });
    stream.on('error', () => outcomes.errors++);
  }
  // 16 in flight, 32 wait 1 s then 503, the other 952 are refused at once: all but the 16 end within seconds
  const settled = await waitFor(async () => {
    const text = await gw.metrics.registry.metrics();
    maxActive = Math.max(maxActive, Number(/certgate_upstream_active_requests\{[^}]*\} (\d+)/.exec(text)?.[1] ?? 0));
    maxQueued = Math.max(maxQueued, Number(/certgate_upstream_queued_requests\{[^}]*\} (\d+)/.exec(text)?.[1] ?? 0));
    return outcomes.busy + outcomes.other.length + outcomes.errors >= 1000 - UPSTREAM_CONNECTIONS;
  }, 15_000, 25);
  const seen = up.accepted - acceptedBefore;
  assert.ok(up.maxOpen <= UPSTREAM_CONNECTIONS, `the upstream had ${up.maxOpen} connections open at once (cap ${UPSTREAM_CONNECTIONS})`);
  assert.ok(seen <= UPSTREAM_CONNECTIONS, `the upstream accepted ${seen} connections for 1,000 streams (cap ${UPSTREAM_CONNECTIONS})`);
  assert.ok(settled, `streams answered: ${outcomes.busy} busy, ${outcomes.other.length} other, ${outcomes.errors} errors`);
  assert.deepEqual(outcomes.other, []);
  assert.equal(outcomes.errors, 0);
  assert.equal(outcomes.busy, 1000 - UPSTREAM_CONNECTIONS);
  assert.equal(up.open, UPSTREAM_CONNECTIONS, 'connections held open at the upstream');
  // the gauges (summed over the origin's two gates; the /queue one is idle here) saw the cap and the queue fill
  assert.equal(maxActive, UPSTREAM_CONNECTIONS, 'certgate_upstream_active_requests peak');
  assert.ok(maxQueued > 0 && maxQueued <= UPSTREAM_QUEUE, `certgate_upstream_queued_requests peaked at ${maxQueued}`);
  const full = (await limitHits(gw.metrics, 'upstream_queue_full')) - fullBefore;
  const timedOut = (await limitHits(gw.metrics, 'upstream_queue_timeout')) - timeoutBefore;
  // the queue was filled once and each of its 32 places timed out after 1 s; everything else found it full
  assert.ok(timedOut >= UPSTREAM_QUEUE, `queue timeouts: ${timedOut}`);
  assert.equal(full + timedOut, 1000 - UPSTREAM_CONNECTIONS, `queue full ${full} + timeouts ${timedOut}`);

  // the flood client leaves: its held requests are cut, their places freed, and a good client is served
  s.destroy();
  assert.ok(await gateIdle(), 'the upstream gate emptied');
  await goodClientServed();
});

// --- a raw HTTP/2 client that ignores the advertised limit (node's client queues streams past it itself) ---

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK: :method POST, :scheme https (static indexes 3 and 7), :path and :authority as literals (RFC 7541 §6.2.2). */
function requestBlock(path: string): Buffer {
  const literal = (index: number, value: string) => Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value, 'latin1')]);
  return Buffer.concat([Buffer.from([0x83, 0x87]), literal(4, path), literal(1, 'localhost')]);
}

test('a client that ignores SETTINGS_MAX_CONCURRENT_STREAMS gets no more than 128 streams taken', async (t) => {
  const acceptedBefore = up.accepted;
  const requestsBefore = up.requests;
  const socket = tlsConnect({ host: '127.0.0.1', port: gw.port, ca: ca.ca.certPem, servername: 'localhost', ALPNProtocols: ['h2'] });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  assert.equal(socket.alpnProtocol, 'h2');
  const seen = { responses: 0, refused: [] as number[], goaway: undefined as { last: number; code: number } | undefined, closed: false, maxStreams: -1 };
  let buf = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
      const len = buf.readUIntBE(0, 3);
      const type = buf[3];
      const flags = buf[4];
      const id = buf.readUInt32BE(5) & 0x7fffffff;
      const payload = buf.subarray(9, 9 + len);
      buf = buf.subarray(9 + len);
      if (type === 0x4 && (flags & 0x1) === 0) {
        for (let o = 0; o + 6 <= payload.length; o += 6) if (payload.readUInt16BE(o) === 0x3) seen.maxStreams = payload.readUInt32BE(o + 2);
        socket.write(frame(0x4, 0x1, 0));
      } else if (type === 0x1) {
        seen.responses++;
      } else if (type === 0x3 && payload.readUInt32BE(0) === h2.NGHTTP2_REFUSED_STREAM) {
        seen.refused.push(id);
      } else if (type === 0x7) {
        seen.goaway = { last: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4) };
      }
    }
  });
  socket.on('close', () => (seen.closed = true));
  // preface, empty SETTINGS, then 1,000 HEADERS (no END_STREAM) in one write. Every stream the gateway takes waits
  // (16 upstream, the rest in a 10 s queue), so none finishes and frees a place while the flood is read.
  const frames = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(0x4, 0, 0)];
  for (let i = 0; i < 1000; i++) frames.push(frame(0x1, 0x4, 2 * i + 1, requestBlock(`/queue/hold/raw${i}`)));
  socket.write(Buffer.concat(frames));
  // the gateway answers in stream order: settled once it refused or cut off the last stream, or closed
  await waitFor(() => seen.closed || seen.goaway !== undefined || seen.refused.includes(1999), 10_000);
  await new Promise((r) => setTimeout(r, 200));
  socket.destroy();
  // streams the gateway read: up to the GOAWAY's last stream, else up to the last one it refused, else all
  const lastRead = seen.goaway?.last ?? (seen.refused.length > 0 ? Math.max(...seen.refused) : 1999);
  const taken = (lastRead + 1) / 2 - seen.refused.filter((id) => id <= lastRead).length;
  t.diagnostic(`taken ${taken} of the streams up to ${lastRead}; refused ${seen.refused.length}; goaway ${JSON.stringify(seen.goaway)}; closed ${seen.closed}`);
  assert.equal(seen.maxStreams, 128, 'SETTINGS_MAX_CONCURRENT_STREAMS');
  assert.ok(seen.refused.length > 0, 'streams past the limit are refused (RST_STREAM REFUSED_STREAM)');
  assert.ok(taken <= 128, `${taken} streams taken up to stream ${lastRead}; refused ${seen.refused.length}, goaway ${JSON.stringify(seen.goaway)}`);
  assert.equal(seen.responses, 0, 'no stream was answered while it waited');
  assert.ok(up.accepted - acceptedBefore <= UPSTREAM_CONNECTIONS, `the upstream accepted ${up.accepted - acceptedBefore} connections`);
  assert.ok(up.requests - requestsBefore <= UPSTREAM_CONNECTIONS, `the upstream saw ${up.requests - requestsBefore} requests`);
  assert.ok(await gateIdle(), 'the upstream gates emptied');
  await goodClientServed();
});

test('rapid reset: streams opened and cancelled at once end the session with GOAWAY ENHANCE_YOUR_CALM', async (t) => {
  const acceptedBefore = up.accepted;
  const requestsBefore = up.requests;
  const hitsBefore = await limitHits(gw.metrics, 'http2_rapid_reset');
  const s = await anonymousSession();
  let goaway: number | undefined;
  s.on('goaway', (code: number) => (goaway ??= code));
  let opened = 0;
  const deadline = Date.now() + 20_000;
  // batches of 50 HEADERS + RST_STREAM pairs (under the 128 streams the client may have open), each followed by a
  // PING round trip: node's client does not read while a write of its own is pending, so without a pause it would
  // not see the GOAWAY it was sent. The server reads each HEADERS and its RST_STREAM together, as in the attack.
  while (opened < 20_000 && goaway === undefined && !s.closed && !s.destroyed && Date.now() < deadline) {
    try {
      for (let i = 0; i < 50; i++) {
        const stream = s.request({ ':path': `/public/hold/rr${opened}`, ':method': 'POST' }, { endStream: false });
        stream.on('error', () => undefined);
        stream.close(h2.NGHTTP2_CANCEL);
        opened++;
      }
    } catch {
      break; // the session was told to go away between two batches
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 500);
      if (!s.ping(() => {
        clearTimeout(timer);
        resolve();
      })) {
        clearTimeout(timer);
        resolve();
      }
    });
  }
  const elapsed = 20_000 - (deadline - Date.now());
  await waitFor(() => goaway !== undefined, 2_000);
  s.destroy();
  t.diagnostic(`GOAWAY ${goaway} after ${opened} streams in ${elapsed} ms; upstream: ${up.accepted - acceptedBefore} connections, ${up.requests - requestsBefore} requests`);
  assert.equal(goaway, h2.NGHTTP2_ENHANCE_YOUR_CALM, `GOAWAY after ${opened} streams in ${elapsed} ms`);
  // the limit is max(200, 2 x http2Streams) = 256 cancelled streams per 10 s, so GOAWAY comes in the 6th batch of 50
  // (350 streams measured every run); 1,000 leaves room for a slow read and is still far below 20,000
  assert.ok(opened <= 1_000, `${opened} streams opened before GOAWAY`);
  assert.ok((await limitHits(gw.metrics, 'http2_rapid_reset')) - hitsBefore >= 1, 'http2_rapid_reset counted');
  // each cancelled stream is gone before its deferred dispatch: at most the gate's cap ever reached the upstream
  const conns = up.accepted - acceptedBefore;
  const reqs = up.requests - requestsBefore;
  assert.ok(conns <= UPSTREAM_CONNECTIONS, `${conns} upstream connections for ${opened} streams`);
  assert.ok(reqs <= UPSTREAM_CONNECTIONS, `${reqs} upstream requests for ${opened} streams`);
  assert.ok(await gateIdle(), 'the upstream gate emptied');
  await goodClientServed();
});
