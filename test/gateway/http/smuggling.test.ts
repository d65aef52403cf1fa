// Malformed and hostile HTTP/1.1 on raw sockets: request smuggling shapes get 400, oversized headers 431, slow
// clients are cut off by the header timeout, and the gateway keeps serving afterwards. Nothing reaches the upstream.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import type { TestCa } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import type { EchoUpstream } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { RawConnection, h2Session, h2Request } from '../../helpers/tls-clients.ts';
import { fileScope } from '../../helpers/suite.ts';

const t0 = fileScope();
let ca: TestCa;
let upstream: EchoUpstream;
let gw: TestGateway;
let tlsPort: number;
let plainPort: number;

before(async () => {
  const dir = tempDir(t0, 'cg-smuggle-');
  ca = await makeCa(t0, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  upstream = await startEchoUpstream();
  t0.after(() => upstream.close());
  gw = await startGateway(t0, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    maxHeaderSize: 4096
    timeouts: {header: 1s, idle: 1s}
    routes: [{path: /, upstream: "${upstream.url}", public: true}]
  - listen: 127.0.0.2:0
    routes: [{path: /, upstream: "${upstream.url}", public: true}]
`);
  tlsPort = gw.addresses.find((a) => a.tls)!.port;
  plainPort = gw.addresses.find((a) => !a.tls)!.port;
});

async function send(request: string, tls = true) {
  const conn = await RawConnection.open(tls ? tlsPort : plainPort, tls ? { ca: ca.ca.certPem } : null, { host: tls ? '127.0.0.1' : '127.0.0.2' });
  try {
    conn.write(request);
    const res = await conn.readResponse();
    return { res, closed: await conn.waitClosed(3_000) };
  } finally {
    conn.close();
  }
}

const SMUGGLING: Array<[string, string]> = [
  ['CL and TE together', 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n'],
  ['two different Content-Length', 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd'],
  ['two equal Content-Length', 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd'],
  ['obs-fold header', 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n b\r\n\r\n'],
  ['TE not chunked last', 'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'],
  ['space before colon', 'GET / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
  ['bare LF line ends', 'GET / HTTP/1.1\nHost: localhost\nContent-Length: 0\n\n'],
  ['two Host headers', 'GET / HTTP/1.1\r\nHost: localhost\r\nHost: other.test\r\n\r\n'],
  ['no Host', 'GET / HTTP/1.1\r\n\r\n'],
  ['bad chunk size', 'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
];

test('request smuggling shapes are refused with 400 and never reach the upstream', async () => {
  for (const tls of [true, false]) {
    for (const [name, request] of SMUGGLING) {
      const before = upstream.seen.length;
      const { res } = await send(request, tls);
      assert.equal(res?.status, 400, `${name} (${tls ? 'tls' : 'plain'}): ${res?.raw}`);
      assert.match(res!.body, /<code>bad_(request|path)<\/code>/, `${name} ${tls}`);
      assert.equal(upstream.seen.length, before, `${name} reached the upstream`);
      assert.ok(!upstream.seen.some((r) => r.url === '/smuggled'));
    }
  }
  assert.ok(gw.events('http.client_error').length > 0);
});

test('oversized headers get 431 with the error page', async () => {
  const { res, closed } = await send(`GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(8192)}\r\n\r\n`);
  assert.equal(res?.status, 431);
  assert.match(res!.body, /<code>headers_too_large<\/code>/);
  assert.equal(res!.headers['x-content-type-options'], 'nosniff');
  assert.ok(closed);
});

test('HTTP/2: oversized headers get the same 431 page, and the session keeps serving', async () => {
  const s = await h2Session(tlsPort, { ca: ca.ca.certPem });
  t0.after(() => s.close());
  const before = upstream.seen.length;
  const big = await h2Request(s, '/', { headers: { 'x-big': 'a'.repeat(8192) } });
  assert.equal(big.status, 431);
  assert.match(big.body, /<code>headers_too_large<\/code>/);
  assert.equal(big.headers['x-content-type-options'], 'nosniff');
  assert.equal(upstream.seen.length, before, 'nothing reached the upstream');
  const ok = await h2Request(s, '/after');
  assert.equal(ok.status, 200);
});

test('a client that never finishes its headers is cut off', async () => {
  const conn = await RawConnection.open(tlsPort, { ca: ca.ca.certPem });
  try {
    conn.write('GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    const res = await conn.readResponse(15_000);
    if (res) assert.equal(res.status, 408);
    assert.ok(await conn.waitClosed(15_000), 'connection closed by the header timeout');
  } finally {
    conn.close();
  }
});

test('an idle keep-alive connection is closed after timeouts.idle', async () => {
  const conn = await RawConnection.open(tlsPort, { ca: ca.ca.certPem });
  try {
    assert.equal((await conn.get('/idle'))?.status, 200);
    assert.ok(await conn.waitClosed(10_000), 'closed by the idle timeout');
  } finally {
    conn.close();
  }
});

test('the gateway keeps serving after all of that, on the same kind of connection', async () => {
  const conn = await RawConnection.open(tlsPort, { ca: ca.ca.certPem });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await conn.get(`/fine/${i}`))?.status, 200);
  } finally {
    conn.close();
  }
});
