// Regression: an upstream that repeated a single-value response field (ETag, Location, Content-Type, ...) hung the
// request forever over HTTP/2 (writeHead threw ERR_HTTP2_HEADER_SINGLE_VALUE, the error page's writeHead threw
// again, no access line) while HTTP/1.1 relayed both copies. Now both protocols keep the first copy; a repeated
// Content-Length or a status HTTP/2 cannot carry is a 502 on both; every request ends and is logged.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Socket, AddressInfo } from 'node:net';
import type { ClientHttp2Session } from 'node:http2';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { TestCa } from '../helpers/pki.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { RawConnection, h2Session } from '../helpers/tls-clients.ts';
import { fileScope } from '../helpers/suite.ts';

// Node's http2 single-value fields (lib/internal/http2/util.js kSingleValueFields) an upstream could repeat, less
// Content-Length (below), Proxy-Authorization (hop-by-hop, always dropped) and X-Content-Type-Options (the
// gateway's security header replaces it).
const FIELDS = [
  'ETag', 'Location', 'Last-Modified', 'Expires', 'Age', 'Content-Language', 'Retry-After', 'Content-Type',
  'Content-Encoding', 'Content-Location', 'Content-MD5', 'Content-Range', 'Date', 'Access-Control-Allow-Credentials',
  'Access-Control-Max-Age', 'Access-Control-Request-Method', 'Authorization', 'DNT', 'From', 'Host', 'If-Match',
  'If-Modified-Since', 'If-None-Match', 'If-Range', 'If-Unmodified-Since', 'Max-Forwards', 'Range', 'Referer', 'TK',
  'Upgrade-Insecure-Requests', 'User-Agent',
];

const first = (name: string) => (name === 'Location' ? '/first' : `first-${name.toLowerCase()}`);
const second = (name: string) => (name === 'Location' ? '/second' : `second-${name.toLowerCase()}`);

// A keep-alive upstream that writes its answers by hand: /dup/<Field> repeats that field, /cl/same and /cl/diff
// repeat Content-Length, /cl/te sends it beside chunked, /status/700 answers a status outside 100-599.
function answer(path: string): string {
  const ok = (head: string) => `HTTP/1.1 200 OK\r\n${head}Content-Length: 2\r\n\r\nok`;
  if (path.startsWith('/dup/')) {
    const name = path.slice(5);
    return ok(`${name}: ${first(name)}\r\n${name}: ${second(name)}\r\n`);
  }
  if (path === '/cl/same') return 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok';
  if (path === '/cl/diff') return 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!';
  if (path === '/cl/te') return 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n';
  if (path === '/status/700') return 'HTTP/1.1 700 Odd\r\nContent-Length: 2\r\n\r\nok';
  return ok('');
}

const scope = fileScope();
let ca: TestCa;
let gw: TestGateway;

before(async () => {
  const dir = tempDir(scope, 'cg-h2dup-');
  ca = await makeCa(scope, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const sockets = new Set<Socket>();
  const upstream = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buf = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      buf += chunk;
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const path = buf.slice(0, end).split(' ')[1];
        buf = buf.slice(end + 4);
        socket.write(answer(path), 'latin1');
      }
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  scope.after(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    upstream.close(() => resolve());
  }));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startGateway(scope, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    routes:
      - {path: /, upstream: "http://127.0.0.1:${port}", public: true}
`);
});

interface Answer { status: number; values: Map<string, string[]>; body: string }

/** One HTTP/2 request that gives up (rejects) after `ms`, so a hung stream fails the test instead of stalling it. */
function h2Get(session: ClientHttp2Session, path: string, ms = 5_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ':method': 'GET' });
    const timer = setTimeout(() => {
      stream.close();
      reject(new Error(`HTTP/2 ${path}: no complete answer within ${ms} ms`));
    }, ms);
    let status = 0;
    const values = new Map<string, string[]>();
    let body = '';
    stream.on('response', (headers, _flags, raw: string[]) => {
      status = Number(headers[':status']);
      for (let i = 0; i < raw.length; i += 2) values.set(raw[i], [...(values.get(raw[i]) ?? []), raw[i + 1]]);
    });
    stream.setEncoding('utf8').on('data', (d: string) => (body += d));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve({ status, values, body });
    });
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function h1Get(path: string): Promise<Answer> {
  const conn = await RawConnection.open(gw.port, { ca: ca.ca.certPem });
  try {
    const res = await conn.get(path, 'localhost', 'Connection: close\r\n');
    assert.ok(res, `HTTP/1.1 ${path}: connection closed without an answer`);
    const values = new Map<string, string[]>();
    for (const [k, v] of Object.entries(res.headers)) values.set(k, Array.isArray(v) ? v : [v ?? '']);
    return { status: res.status, values, body: res.body };
  } finally {
    conn.close();
  }
}

/** The access line of `path` over `proto`, waited for briefly (it is written when the response ends). */
async function accessLine(path: string, proto: 'h1' | 'h2'): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 50; i++) {
    const line = gw.events('access').find((l) => l.path === path && l.proto === proto);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

test('a repeated single-value field: 200 with the first value only, over HTTP/2 and HTTP/1.1 alike', async () => {
  const session = await h2Session(gw.port, { ca: ca.ca.certPem });
  scope.after(() => session.close());
  // in parallel: on the old code every HTTP/2 stream hangs until its own timeout
  const h2 = await Promise.allSettled(FIELDS.map((name) => h2Get(session, `/dup/${name}`)));
  const failures: string[] = [];
  for (const [i, name] of FIELDS.entries()) {
    const path = `/dup/${name}`;
    const lower = name.toLowerCase();
    const r2 = h2[i];
    const r1 = await h1Get(path);
    const got2 = r2.status === 'fulfilled' ? `${r2.value.status} ${JSON.stringify(r2.value.values.get(lower))}` : String(r2.reason);
    const got1 = `${r1.status} ${JSON.stringify(r1.values.get(lower))}`;
    const want = `200 ${JSON.stringify([first(name)])}`;
    if (got2 !== want || got1 !== want) failures.push(`${name}: h2 ${got2}, h1 ${got1}`);
    else if (r2.status === 'fulfilled' && (r2.value.body !== 'ok' || r1.body !== 'ok')) failures.push(`${name}: body`);
    for (const proto of ['h1', 'h2'] as const) {
      const line = await accessLine(path, proto);
      if (line?.status !== 200) failures.push(`${name}: ${proto} access line ${JSON.stringify(line?.status)}`);
    }
  }
  assert.deepEqual(failures, []);
  // the dropped copies are noted at debug level
  const noted = gw.events('proxy.duplicate_header').flatMap((l) => l.names as string[]);
  assert.ok(noted.includes('etag') && noted.includes('content-type'), noted.join(','));
});

test('a repeated Content-Length (same or different value), one beside chunked, a status over 599: 502 upstream_error on both', async () => {
  const session = await h2Session(gw.port, { ca: ca.ca.certPem });
  scope.after(() => session.close());
  for (const path of ['/cl/diff', '/cl/same', '/cl/te', '/status/700']) {
    const [r2, r1] = await Promise.all([h2Get(session, path), h1Get(path)]);
    for (const [proto, r] of [['h2', r2], ['h1', r1]] as const) {
      assert.equal(r.status, 502, `${proto} ${path}`);
      assert.match(r.body, /<code>upstream_error<\/code>/, `${proto} ${path}`);
      const line = await accessLine(path, proto);
      assert.equal(line?.status, 502, `${proto} ${path} access line`);
      assert.equal(line?.reason, 'upstream_error');
    }
  }
  assert.ok(gw.events('proxy.upstream_error').some((l) => l.kind === 'bad_response' && l.path === '/status/700'));
});
