// Regression: a POST carrying `Upgrade: h2c` (curl --http2 adds it to every plain-http request) reached the upstream
// with `Content-Length: 0`: Node hands an upgrade request's socket over right after the headers, and the body left
// on it was silently dropped. The upgrade is declined and Node's parser reads the request as an ordinary one, so the
// body is forwarded whole (Content-Length or chunked); the connection closes after the answer, so bytes behind the
// body never reach the upstream; broken chunking is 400.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import type { EchoUpstream, EchoReply } from '../helpers/echo-upstream.ts';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { TestCa } from '../helpers/pki.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { RawConnection, curl } from '../helpers/tls-clients.ts';
import { fileScope } from '../helpers/suite.ts';

const scope = fileScope();
let ca: TestCa;
let upstream: EchoUpstream;
let gw: TestGateway;

before(async () => {
  const dir = tempDir(scope, 'cg-h2cbody-');
  ca = await makeCa(scope, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  upstream = await startEchoUpstream();
  scope.after(() => upstream.close());
  gw = await startGateway(scope, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    routes:
      - {path: /public, upstream: "${upstream.url}", public: true}
  - listen: 127.0.0.1:0
    routes:
      - {path: /public, upstream: "${upstream.url}", public: true}
`);
});

const UPGRADE = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n';

/** Sends `parts` (pausing between them, so later ones arrive after Node handed the socket over) and reads one answer. */
async function send(parts: string[], tls = true) {
  const conn = await RawConnection.open(tls ? gw.port : gw.addresses[1].port, tls ? { ca: ca.ca.certPem } : null);
  try {
    for (const [i, part] of parts.entries()) {
      if (i > 0) await sleep(50);
      conn.write(part);
    }
    return await conn.readResponse(5_000);
  } finally {
    conn.close();
  }
}

function lastSeen(path: string): EchoReply | undefined {
  return upstream.seen.findLast((r) => r.url === path);
}

test('Content-Length and chunked bodies behind Upgrade: h2c reach the upstream whole, in one piece or several', async () => {
  const cases: Array<{ path: string; parts: string[]; framing: 'content-length' | 'chunked' }> = [
    { path: '/public/cl-one', framing: 'content-length', parts: [`POST /public/cl-one HTTP/1.1\r\nHost: localhost\r\n${UPGRADE}Content-Length: 11\r\n\r\nhello world`] },
    { path: '/public/cl-split', framing: 'content-length', parts: [`POST /public/cl-split HTTP/1.1\r\nHost: localhost\r\n${UPGRADE}Content-Length: 11\r\n\r\nhel`, 'lo wo', 'rld'] },
    { path: '/public/te-one', framing: 'chunked', parts: [`POST /public/te-one HTTP/1.1\r\nHost: localhost\r\n${UPGRADE}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n`] },
    { path: '/public/te-split', framing: 'chunked', parts: [`POST /public/te-split HTTP/1.1\r\nHost: localhost\r\n${UPGRADE}Transfer-Encoding: chunked\r\n\r\n`, '5\r', '\nhel', 'lo\r\nC\r\n world', ' again\r', '\n0\r\n', '\r\n'] },
  ];
  for (const c of cases) {
    for (const tls of [true, false]) {
      const res = await send(c.parts, tls);
      assert.equal(res?.status, 200, `${c.path} ${tls}`);
      const reply = lastSeen(c.path)!;
      const want = c.path.endsWith('te-split') ? 'hello world again' : 'hello world';
      assert.equal(reply.body, want, `${c.path} ${tls}`);
      assert.equal(reply.method, 'POST');
      assert.equal(reply.headers.upgrade, undefined);
      // the same bytes, framed by undici: Content-Length when it knows the length, else chunked
      const cl = reply.headers['content-length'];
      if (c.framing === 'content-length') assert.equal(cl, '11');
      else assert.ok(cl === String(want.length) || reply.headers['transfer-encoding'] === 'chunked', JSON.stringify(reply.rawHeaders));
    }
  }
});

test('bytes behind the body never reach the upstream (the connection closes); broken chunking never completes a request', async () => {
  const before = upstream.seen.length;
  const res = await send([`POST /public/first HTTP/1.1\r\nHost: localhost\r\n${UPGRADE}Content-Length: 2\r\n\r\nokGET /public/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n`]);
  assert.equal(res?.status, 200);
  assert.match(res!.raw, /\r\nconnection: close\r\n/i);
  assert.equal(lastSeen('/public/first')?.body, 'ok');
  // Broken chunking without an upgrade is the parser's 400 page; behind a declined upgrade Node's parser stops reading
  // (no answer: the request is held like any client that stops mid-body, until the read timeout or the client
  // leaves). Either way no body and no request of it ever completes at the upstream.
  for (const body of ['zz\r\nhello\r\n0\r\n\r\n', '5\nhello\n0\n\n', '5\r\nhelloXX0\r\n\r\n', '-1\r\n\r\n']) {
    const plain = await send([`POST /public/bad HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n${body}`]);
    assert.equal(plain?.status, 400, JSON.stringify(body));
    assert.match(plain!.body, /<code>bad_request<\/code>/);
    const conn = await RawConnection.open(gw.port, { ca: ca.ca.certPem });
    conn.write(`POST /public/bad HTTP/1.1\r\nHost: localhost\r\n${UPGRADE}Transfer-Encoding: chunked\r\n\r\n${body}`);
    await sleep(300);
    conn.close();
  }
  await sleep(100);
  assert.deepEqual(upstream.seen.slice(before).map((r) => r.url), ['/public/first']);
});

test('a refused upgrade request whose body never fully arrives is answered and closed; the gateway keeps serving', async () => {
  for (const path of ['/nothing-here', '/public/short']) {
    const conn = await RawConnection.open(gw.port, { ca: ca.ca.certPem });
    try {
      conn.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\n${UPGRADE}Content-Length: 100\r\n\r\nonly ten b`);
      if (path === '/nothing-here') assert.equal((await conn.readResponse(5_000))?.status, 404);
      else await sleep(100);
    } finally {
      conn.close();
    }
  }
  await sleep(100);
  const res = await send([`POST /public/after HTTP/1.1\r\nHost: localhost\r\n${UPGRADE}Content-Length: 2\r\n\r\nok`]);
  assert.equal(res?.status, 200);
  assert.equal(upstream.seen.some((r) => r.url === '/public/short'), false);
});

test('Expect: 100-continue behind Upgrade: h2c gets its 100, then the body goes through', async () => {
  const conn = await RawConnection.open(gw.port, { ca: ca.ca.certPem });
  try {
    conn.write(`PUT /public/expect HTTP/1.1\r\nHost: localhost\r\n${UPGRADE}Expect: 100-continue\r\nContent-Length: 4\r\n\r\n`);
    assert.equal((await conn.readResponse(5_000, true))?.status, 100);
    conn.write('data');
    assert.equal((await conn.readResponse(5_000))?.status, 200);
  } finally {
    conn.close();
  }
  assert.equal(lastSeen('/public/expect')?.body, 'data');
  const line = gw.events('access').find((l) => l.path === '/public/expect');
  assert.equal(line?.status, 200);
});

test('curl --http2 on a plain listener: POST bodies arrive (Content-Length and chunked)', async () => {
  const url = `http://127.0.0.1:${gw.addresses[1].port}/public/curl`;
  for (const extra of [[], ['-H', 'Transfer-Encoding: chunked']]) {
    const r = await curl(['--http2', '-d', 'from curl', ...extra, url]);
    assert.equal(r.status, 200, r.stderr);
    assert.equal((JSON.parse(r.body) as EchoReply).body, 'from curl');
  }
});
