// Adversarial review of the gateway, attacks that held: forged identity in trailers, path and request-target tricks,
// Host/SNI confusion, X-Forwarded-For against sourceIp, an expiring certificate on a keep-alive connection, smuggling
// shapes the smuggling suite does not list, and WebSocket upgrades on refused routes. Real TLS on 127.0.0.1.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import type { EchoUpstream, EchoReply } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { RawConnection, h2Session, h2Request } from '../helpers/tls-clients.ts';
import type { Creds } from '../helpers/tls-clients.ts';
import { fileScope } from '../helpers/suite.ts';

const t0 = fileScope();
let ca: TestCa;
let alice: TestCert;
let bob: TestCert;
let upstream: EchoUpstream;
let gw: TestGateway;
/** Every request the trailer-recording upstream saw: its raw headers and raw trailers. */
const trailerSeen: Array<{ url: string; rawHeaders: string[]; rawTrailers: string[] }> = [];

before(async () => {
  const dir = tempDir(t0, 'cg-attacks-');
  ca = await makeCa(t0, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server', dns: ['localhost', 'other.test'], ip: ['127.0.0.1'] });
  alice = await issueCert(ca, 'alice', { ous: ['ops'] });
  bob = await issueCert(ca, 'bob', { ous: ['dev'] });
  upstream = await startEchoUpstream();
  t0.after(() => upstream.close());
  const recorder = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      trailerSeen.push({ url: req.url ?? '', rawHeaders: req.rawHeaders, rawTrailers: req.rawTrailers });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r));
  t0.after(() => new Promise<void>((r) => { recorder.close(() => r()); recorder.closeAllConnections(); }));
  const recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;
  gw = await startGateway(t0, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    sites:
      - hosts: [localhost]
        routes:
          - {path: /public, upstream: "${upstream.url}", public: true}
          - {path: /trailers, upstream: "${recorderUrl}", public: true}
          - {path: /admin, upstream: "${upstream.url}", allow: [{ou: ops}]}
          - {path: /office, upstream: "${upstream.url}", allow: [{sourceIp: 10.0.0.0/8}]}
          - {path: /loopback, upstream: "${upstream.url}", allow: [{sourceIp: 127.0.0.0/8}]}
      - hosts: [other.test]
        routes:
          - {path: /, upstream: "${upstream.url}", public: true}
`);
});

function creds(cert?: TestCert, servername = 'localhost'): Creds {
  return { ca: ca.ca.certPem, cert: cert?.certPem, key: cert?.keyPem, servername };
}

/** One raw request on a fresh TLS connection; the response (null when the server just closed). */
async function raw(request: string, cert?: TestCert, servername = 'localhost') {
  const conn = await RawConnection.open(gw.port, creds(cert, servername));
  try {
    conn.write(request);
    return await conn.readResponse();
  } finally {
    conn.close();
  }
}

function echo(body: string): EchoReply {
  return JSON.parse(body) as EchoReply;
}

function headerNames(rawHeaders: readonly string[]): string[] {
  return rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
}

test('identity headers in request trailers (HTTP/1.1 chunked and HTTP/2) never reach the upstream', async () => {
  const res = await raw('POST /trailers/h1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTrailer: X-Client-Verify\r\n\r\n' +
    '3\r\nabc\r\n0\r\nX-Client-Verify: SUCCESS\r\nX-Client-Subject: CN=admin\r\n\r\n');
  assert.equal(res?.status, 200);
  const h1 = trailerSeen.find((r) => r.url === '/trailers/h1')!;
  assert.deepEqual(h1.rawTrailers, []);
  assert.equal(headerNames(h1.rawHeaders).filter((n) => n.startsWith('x-client-subject')).length, 0);

  const s = await h2Session(gw.port, creds());
  t0.after(() => s.close());
  const status = await new Promise<number>((resolve, reject) => {
    const stream = s.request({ ':path': '/trailers/h2', ':method': 'POST' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-client-verify': 'SUCCESS', 'x-client-subject': 'CN=admin' }));
    stream.on('response', (h) => resolve(Number(h[':status'])));
    stream.on('error', reject);
    stream.resume();
    stream.end('body');
  });
  assert.equal(status, 200);
  const h2 = trailerSeen.find((r) => r.url === '/trailers/h2')!;
  assert.deepEqual(h2.rawTrailers, []);
  assert.equal(h2.rawHeaders[h2.rawHeaders.findIndex((n) => n.toLowerCase() === 'x-client-verify') + 1], 'NONE');
});

test('path tricks reach the route their normalized path names, or get 400; never the upstream as /public', async () => {
  const table: Array<[string, number]> = [
    ['/public/../admin', 403],
    ['/public/%2e%2e/admin', 403],
    ['/public/%2E%2E/admin', 403],
    ['/public/.%2e/admin', 403],
    ['/public/..%2fadmin', 400],
    ['/public/..%2Fadmin', 400],
    ['/public/..%5cadmin', 400],
    ['/public/..\\admin', 400],
    ['/public/..;/admin', 400],
    ['//admin', 403],
    ['///admin/x', 403],
    ['/admin%00', 400],
    ['/admin%00/../public', 400],
    ['/public/%252e%252e/admin', 200], // double encoding stays literal: the upstream gets /public/%252e%252e/admin
    ['/%61dmin', 403],
    ['/admin;jsessionid=1', 403],
    ['/public/../../admin', 400],
  ];
  for (const [path, status] of table) {
    const before = upstream.seen.length;
    const res = await raw(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    assert.equal(res?.status, status, `${path}: ${res?.raw}`);
    if (status !== 200) assert.equal(upstream.seen.length, before, `${path} reached the upstream`);
    else assert.ok(echo(res!.body).url.startsWith('/public/'), path);
  }
});

test('absolute-form targets, OPTIONS * and CONNECT cannot reach a protected route or another site', async () => {
  // absolute-form: its authority replaces Host, and is checked against SNI like Host is
  assert.equal((await raw('GET https://other.test/admin HTTP/1.1\r\nHost: localhost\r\n\r\n'))?.status, 421);
  assert.equal((await raw('GET https://localhost/admin HTTP/1.1\r\nHost: other.test\r\n\r\n'))?.status, 403);
  assert.equal((await raw('GET https://localhost/public/../admin HTTP/1.1\r\nHost: localhost\r\n\r\n'))?.status, 403);
  assert.equal((await raw('GET https://localhost@other.test/public HTTP/1.1\r\nHost: localhost\r\n\r\n'))?.status, 403);
  assert.equal((await raw('GET ftp://localhost/admin HTTP/1.1\r\nHost: localhost\r\n\r\n'))?.status, 400);
  assert.equal((await raw('OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n'))?.status, 400);
  const before = upstream.seen.length;
  const connect = await raw('CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n', alice);
  assert.ok(connect === null || connect.status >= 400, `CONNECT answered ${connect?.status}`);
  assert.equal(upstream.seen.length, before, 'CONNECT reached the upstream');
  // HTTP/2 CONNECT (no :path) is not a tunnel either
  const s = await h2Session(gw.port, creds(alice));
  t0.after(() => s.close());
  const h2status = await new Promise<number>((resolve) => {
    const stream = s.request({ ':method': 'CONNECT', ':authority': 'localhost:443' }, { endStream: false });
    stream.on('response', (h) => resolve(Number(h[':status'])));
    stream.on('error', () => resolve(0));
    stream.on('close', () => resolve(0));
  });
  assert.ok(h2status === 0 || h2status >= 400, `h2 CONNECT answered ${h2status}`);
  assert.equal(upstream.seen.length, before);
});

test('Host spellings select the same site; another site on this session gets 421', async () => {
  for (const host of ['localhost', 'LOCALHOST', 'localhost.', `localhost:${gw.port}`, 'localhost:1', 'LocalHost.:443']) {
    const res = await raw(`GET /public/h HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    assert.equal(res?.status, 200, host);
    assert.equal(echo(res!.body).headers.host, host, 'Host is forwarded as sent');
  }
  for (const host of ['other.test', 'OTHER.TEST.', 'other.test:443']) {
    assert.equal((await raw(`GET /public/h HTTP/1.1\r\nHost: ${host}\r\n\r\n`))?.status, 421, host);
  }
  for (const host of ['evil.test', 'localhost:', 'localhost:abc', 'user@localhost', 'localhost/x', '.localhost', 'local host']) {
    const res = await raw(`GET /public/h HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    assert.ok(res === null || res.status === 403 || res.status === 400, `${host}: ${res?.status}`);
  }
  // SNI for the other site, Host for localhost: 421 the other way round too
  assert.equal((await raw('GET /public/h HTTP/1.1\r\nHost: localhost\r\n\r\n', undefined, 'other.test'))?.status, 421);
});

test('without SNI the Host decides, with the same policy', async () => {
  const conn = await RawConnection.open(gw.port, { ca: ca.ca.certPem, servername: '' });
  t0.after(() => conn.close());
  assert.equal((await conn.get('/admin', 'localhost'))?.status, 403);
  assert.equal((await conn.get('/public/nosni', 'localhost'))?.status, 200);
  assert.equal((await conn.get('/x', 'other.test'))?.status, 200);
});

test('sourceIp rules look at the socket address only, never X-Forwarded-For or X-Real-IP', async () => {
  const spoof = 'X-Forwarded-For: 10.1.2.3\r\nX-Real-IP: 10.1.2.3\r\nForwarded: for=10.1.2.3\r\nX_Forwarded_For: 10.1.2.3\r\n';
  const refused = await raw(`GET /office HTTP/1.1\r\nHost: localhost\r\n${spoof}\r\n`);
  assert.equal(refused?.status, 403);
  const ok = await raw(`GET /loopback HTTP/1.1\r\nHost: localhost\r\n${spoof}\r\n`);
  assert.equal(ok?.status, 200);
  assert.equal(echo(ok!.body).headers['x-real-ip'], '127.0.0.1');
  assert.equal(echo(ok!.body).headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
});

test('a certificate that expires during a keep-alive connection is refused on the next request', async () => {
  const now = Date.now();
  const soon = await issueCert(ca, 'soon', { ous: ['ops'], validity: { notBefore: new Date(now - 60_000), notAfter: new Date(now + 2_500) } });
  const conn = await RawConnection.open(gw.port, creds(soon));
  t0.after(() => conn.close());
  assert.equal((await conn.get('/admin/first'))?.status, 200);
  // bounded wait until the certificate's notAfter (second precision) has passed
  await new Promise((r) => setTimeout(r, Math.max(0, soon.record.notAfter ? Date.parse(soon.record.notAfter) - Date.now() + 1_100 : 3_600)));
  const after = await conn.get('/admin/second');
  assert.equal(after?.status, 403);
  assert.match(after!.body, /<code>expired<\/code>/);
  const pub = await conn.get('/public/after');
  assert.equal(echo(pub!.body).headers['x-client-verify'], 'FAILED:expired');
});

test('Content-Length spellings that parsers disagree on are refused with 400', async () => {
  for (const cl of ['+4', '-4', '4 4', '0x4', '4.0', '04a', ' +4']) {
    const before = upstream.seen.length;
    const res = await raw(`POST /public/cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${cl}\r\n\r\nabcdGET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    assert.equal(res?.status, 400, `Content-Length: ${cl}`);
    assert.equal(upstream.seen.length, before, `Content-Length: ${cl} reached the upstream`);
  }
  for (const te of ['chunked, identity', 'chunked\r\nTransfer-Encoding: identity', 'xchunked', 'chunked;q=1']) {
    const res = await raw(`POST /public/te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\n`);
    assert.equal(res?.status, 400, `Transfer-Encoding: ${te}`);
  }
  // "identity, chunked" ends in chunked, so Node frames it as chunked (RFC 9112 §6.3); the gateway re-frames the body
  // for the upstream, so the two can never disagree: the request behind the body is the gateway's to judge
  const conn = await RawConnection.open(gw.port, creds());
  try {
    conn.write('POST /public/te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: identity, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
      'GET /admin/smuggled HTTP/1.1\r\nHost: localhost\r\nX-Client-Verify: SUCCESS\r\n\r\n');
    const first = await conn.readResponse();
    if (first?.status === 200) {
      assert.equal(echo(first.body).body, 'abc');
      const second = await conn.readResponse();
      assert.ok(second === null || second.status === 403, `smuggled request answered ${second?.status}`);
    } else {
      assert.equal(first?.status, 400);
    }
    assert.ok(!upstream.seen.some((r) => r.url.startsWith('/admin/smuggled')));
  } finally {
    conn.close();
  }
  assert.equal((await raw('GET /public/ HTTP/1.1\r\nHost: localhost\r\nX-Client-Verify : SUCCESS\r\n\r\n'))?.status, 400);
  assert.equal((await raw('GET /public/ HTTP/1.1\r\nHost: localhost\r\n X-Client-Verify: SUCCESS\r\n\r\n'))?.status, 400);
});

test('WebSocket upgrades on a refused route: HTTP/1.0, Connection lists, odd Upgrade values never tunnel', async () => {
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  const variants = [
    `GET /admin/ws HTTP/1.0\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`,
    `GET /admin/ws HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`,
    `GET /admin/ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: WebSocket, h2c\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`,
    `GET /admin/ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n`,
  ];
  for (const cert of [undefined, bob]) {
    for (const req of variants) {
      const before = upstream.seen.length;
      const res = await raw(req, cert);
      assert.equal(res?.status, 403, `${req.split('\r\n').slice(0, 4).join(' | ')}: ${res?.raw}`);
      assert.equal(upstream.seen.length, before, 'refused upgrade reached the upstream');
    }
  }
});

test('a body that looks like a request stays a body when the route is refused (no desync on keep-alive)', async () => {
  const inner = 'GET /public/inner HTTP/1.1\r\nHost: localhost\r\n\r\n';
  const conn = await RawConnection.open(gw.port, creds());
  try {
    conn.write(`POST /admin HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${inner.length}\r\nExpect: 100-continue\r\n\r\n${inner}`);
    let first = await conn.readResponse();
    if (first?.status === 100) first = await conn.readResponse();
    assert.equal(first?.status, 403);
    const next = await conn.get('/public/outer');
    if (next !== null) assert.equal(echo(next.body).url, '/public/outer');
    assert.ok(!upstream.seen.some((r) => r.url === '/public/inner'), 'the body was run as a request');
  } finally {
    conn.close();
  }
});

test('the refusal page never echoes request data (path, Host, headers)', async () => {
  const res = await raw('GET /nowhere/%3Cscript%3E{{reason}}<b> HTTP/1.1\r\nHost: localhost\r\nX-Inject: <img src=x>\r\n\r\n');
  assert.ok(res === null || res.status === 400 || res.status === 404, String(res?.status));
  const res2 = await raw('GET /nowhere/%3Cscript%3E HTTP/1.1\r\nHost: localhost\r\nX-Inject: <img src=x>\r\n\r\n');
  assert.equal(res2?.status, 404);
  assert.ok(!/script|img src|nowhere/i.test(res2!.body), res2!.body);
  assert.ok(!/nowhere|script/i.test(res2!.raw), 'request data in the response head');
});

test('HTTP/2: a body longer than its content-length never turns into a second upstream request', async () => {
  const s = await h2Session(gw.port, creds());
  t0.after(() => s.close());
  const smuggled = 'GET /admin/h2cl HTTP/1.1\r\nHost: localhost\r\nX-Client-Verify: SUCCESS\r\n\r\n';
  const status = await new Promise<number>((resolve) => {
    const stream = s.request({ ':path': '/public/h2cl', ':method': 'POST', 'content-length': '0' }, { endStream: false });
    stream.on('response', (h) => resolve(Number(h[':status'])));
    stream.on('error', () => resolve(0));
    stream.on('close', () => resolve(0));
    stream.resume();
    stream.end(smuggled);
  });
  assert.ok(status === 0 || status === 400 || status === 200, String(status));
  // give a desynchronized upstream connection a chance to show itself on the next request
  const s2 = await h2Session(gw.port, creds());
  t0.after(() => s2.close());
  assert.equal((await h2Request(s2, '/public/after-h2cl')).status, 200);
  assert.ok(!upstream.seen.some((r) => r.url.startsWith('/admin/h2cl')), 'smuggled request reached the upstream');
});

test('Location rewriting uses the Host the site check accepted, never raw request bytes', async () => {
  const target = encodeURIComponent(`${upstream.url}/somewhere?x=1`);
  // the other site proxies / to the echo upstream, whose /redirect answers 302 to ?to=
  const res = await raw(`GET /redirect?to=${target} HTTP/1.1\r\nHost: other.test\r\n\r\n`, undefined, 'other.test');
  assert.equal(res?.status, 302);
  assert.equal(res!.headers.location, 'https://other.test/somewhere?x=1');
});
