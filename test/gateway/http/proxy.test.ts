// The proxy path: normalized paths upstream, 400/404/421/403 host and path cases, per-site certificates by SNI,
// hop-by-hop hygiene both ways, Location rewriting, request bodies, 502/504, error page and security headers.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import type { TestCa, TestCert } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import type { EchoUpstream, EchoReply } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { RawConnection, h1Request } from '../../helpers/tls-clients.ts';
import type { Creds } from '../../helpers/tls-clients.ts';
import { fileScope } from '../../helpers/suite.ts';

const t0 = fileScope();
let ca: TestCa;
let alice: TestCert;
let upstream: EchoUpstream;
let gw: TestGateway;
let deadPort: number;

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

before(async () => {
  const dir = tempDir(t0, 'cg-proxy-');
  ca = await makeCa(t0, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server', dns: ['localhost', 'app.test', 'api.test'], ip: ['127.0.0.1'] });
  const other = await issueCert(ca, 'other', { profile: 'server', dns: ['other.test'] });
  alice = await issueCert(ca, 'alice');
  upstream = await startEchoUpstream();
  t0.after(() => upstream.close());
  deadPort = await closedPort();
  gw = await startGateway(t0, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    sites:
      - hosts: [localhost, app.test]
        routes:
          - {path: /, upstream: "${upstream.url}", public: true}
          - {path: /slow, upstream: "${upstream.url}", public: true, timeouts: {read: 300ms}}
          - {path: /down, upstream: "http://127.0.0.1:${deadPort}", public: true}
          - {path: /redirect-raw, upstream: "${upstream.url}", public: true, rewriteLocation: false}
          - {path: /private, upstream: "${upstream.url}"}
      - hosts: [api.test]
        routes: [{path: /api, upstream: "${upstream.url}", public: true}]
      - hosts: [other.test]
        tls: {cert: ${other.certPath}, key: ${other.keyPath}}
        routes: [{path: /, upstream: "${upstream.url}", public: true}]
`);
});

const anon = (servername = 'localhost'): Creds => ({ ca: ca.ca.certPem, servername });

async function raw(request: string, servername = 'localhost') {
  const conn = await RawConnection.open(gw.port, anon(servername));
  try {
    conn.write(request);
    return await conn.readResponse(10_000, request.startsWith('HEAD '));
  } finally {
    conn.close();
  }
}

test('the upstream gets the normalized path and the original query', async () => {
  const table: Array<[string, string]> = [
    ['/a/./b/../c//d%41?x=%2F&y', '/a/c/dA?x=%2F&y'],
    ['/%7euser/%2e%2e/x', '/x'],
    ['//double//slash/', '/double/slash/'],
    ['/caf%c3%a9?q', '/caf%C3%A9?q'],
    ['http://localhost/absolute/form?z', '/absolute/form?z'],
  ];
  for (const [sent, expected] of table) {
    const res = await raw(`GET ${sent} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    assert.equal(res?.status, 200, sent);
    assert.equal((JSON.parse(res!.body) as EchoReply).url, expected, sent);
  }
});

test('ambiguous paths get 400, unknown paths 404', async () => {
  for (const bad of ['/a%2Fb', '/a/../../x', '/a%5cb', '/%zz', '/a%00b', '/..;/admin']) {
    const res = await raw(`GET ${bad} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    assert.equal(res?.status, 400, bad);
    assert.match(res!.body, /<code>bad_path<\/code>/, bad);
  }
  const missing = await raw('GET /nope HTTP/1.1\r\nHost: api.test\r\n\r\n', 'api.test');
  assert.equal(missing?.status, 404);
  assert.match(missing!.body, /<code>no_route<\/code>/);
});

test('Host naming another site than SNI gets 421; an unknown Host gets 403', async () => {
  const mis = await raw('GET /api HTTP/1.1\r\nHost: api.test\r\n\r\n', 'localhost');
  assert.equal(mis?.status, 421);
  assert.match(mis!.body, /<code>misdirected<\/code>/);
  const unknown = await raw('GET / HTTP/1.1\r\nHost: evil.test\r\n\r\n', 'localhost');
  assert.equal(unknown?.status, 403);
  assert.match(unknown!.body, /<code>unknown_host<\/code>/);
  const noSni = await raw('GET / HTTP/1.1\r\nHost: evil.test\r\n\r\n', 'unknown-sni.test');
  assert.equal(noSni?.status, 403);
  const twoHosts = await raw('GET / HTTP/1.1\r\nHost: localhost\r\nHost: api.test\r\n\r\n');
  assert.equal(twoHosts?.status, 400);
});

test('a site with its own certificate is served by SNI', async () => {
  const cn = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: gw.port, servername: 'other.test', ca: ca.ca.certPem }, () => {
      resolve(String(s.getPeerCertificate().subject.CN));
      s.destroy();
    });
    s.on('error', reject);
  });
  assert.equal(cn, 'other');
  const res = await raw('GET /x HTTP/1.1\r\nHost: other.test\r\n\r\n', 'other.test');
  assert.equal(res?.status, 200);
});

test('hop-by-hop fields are removed both ways', async () => {
  const res = await raw('GET /hop HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\n\r\n');
  assert.equal(res?.status, 200);
  const seen = upstream.seen.at(-1)!;
  for (const h of ['x-secret', 'keep-alive', 'te', 'proxy-authorization']) assert.equal(seen.headers[h], undefined, h);
  assert.notEqual(seen.headers.connection, 'keep-alive, X-Secret');
  for (const h of ['x-drop-me', 'proxy-connection']) assert.equal(res!.headers[h], undefined, h);
  assert.notEqual(res!.headers['keep-alive'], 'timeout=5', "the upstream's Keep-Alive is not passed on (the gateway's own may be)");
});

test('Location headers pointing at the upstream are rewritten unless the route says not to', async () => {
  const to = encodeURIComponent(`${upstream.url}/next?a=1`);
  const res = await raw(`GET /redirect?to=${to} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
  assert.equal(res?.status, 302);
  assert.equal(res!.headers.location, 'https://app.test/next?a=1');
  const kept = await raw(`GET /redirect-raw/redirect?to=${to} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
  assert.equal(kept?.status, 200); // echo answers /redirect-raw/... with JSON: the route keeps Location untouched anyway
  const foreign = await raw(`GET /redirect?to=${encodeURIComponent('https://elsewhere.test/x')} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
  assert.equal(foreign!.headers.location, 'https://elsewhere.test/x');
});

test('request bodies stream to the upstream (content-length and chunked)', async () => {
  const big = 'x'.repeat(1_000_000);
  const res = await h1Request(gw.port, '/upload', anon(), { method: 'POST', body: big, headers: { 'content-type': 'text/plain', host: 'localhost' } });
  assert.equal((JSON.parse(res.body) as EchoReply).bodyLength, big.length);
  const chunked = await raw('POST /chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
  const reply = JSON.parse(chunked!.body) as EchoReply;
  assert.equal(reply.body, 'hello world');
  const head = await raw('HEAD /private HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.equal(head?.status, 403);
  assert.equal(head!.body, '');
});

test('502 when the upstream is unreachable, 504 after the read timeout; the gateway keeps serving', async () => {
  const down = await raw('GET /down HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.equal(down?.status, 502);
  assert.match(down!.body, /<code>upstream_unreachable<\/code>/);
  const slow = await raw('GET /slow?ms=3000 HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.equal(slow?.status, 504);
  assert.match(slow!.body, /<code>upstream_timeout<\/code>/);
  assert.equal(slow!.headers['x-frame-options'], 'DENY');
  const kinds = gw.events('proxy.upstream_error').map((l) => l.kind);
  assert.ok(kinds.includes('unreachable') && kinds.includes('timeout'), kinds.join(','));
  const metrics = await gw.metrics.registry.metrics();
  assert.match(metrics, /certgate_upstream_errors_total\{upstream="http:\/\/127\.0\.0\.1:\d+",kind="timeout"\} 1/);
  assert.equal((await raw('GET /fine HTTP/1.1\r\nHost: localhost\r\n\r\n'))?.status, 200);
  assert.equal((await h1Request(gw.port, '/private', { ...anon(), cert: alice.certPem, key: alice.keyPem }, { headers: { host: 'localhost' } })).status, 200);
});

test('a custom error page gets status, reason and message, HTML-escaped; security headers can be overridden', async (t) => {
  const dir = tempDir(t, 'cg-page-');
  const server = await issueCert(ca, 'gateway2', { profile: 'server' });
  writeFileSync(join(dir, 'error.html'), '<p id=s>{{status}}</p><p id=r>{{ reason }}</p><p id=m>{{message}}</p>');
  const up = await startEchoUpstream();
  t.after(() => up.close());
  const g = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    errorPage: error.html
    securityHeaders: {x-frame-options: SAMEORIGIN, referrer-policy: false, content-security-policy: "default-src 'self'"}
    routes: [{path: /, upstream: "${up.url}"}]
`);
  const res = await h1Request(g.port, '/x', anon());
  assert.equal(res.status, 403);
  assert.equal(res.body, '<p id=s>403</p><p id=r>no_certificate</p><p id=m>No client certificate was sent. Install the certificate you were given in your browser or system and try again.</p>');
  assert.equal(res.headers['x-certgate-reason'], 'no_certificate', 'the reason code travels as a header too');
  assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
  assert.equal(res.headers['referrer-policy'], undefined);
  assert.equal(res.headers['content-security-policy'], "default-src 'self'");
  const ok = await h1Request(g.port, '/x', { ...anon(), cert: alice.certPem, key: alice.keyPem });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['x-frame-options'], 'SAMEORIGIN');
  assert.equal(ok.headers['strict-transport-security'], 'max-age=15768000; includeSubDomains');
});
