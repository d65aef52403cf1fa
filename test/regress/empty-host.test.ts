// Regression: `GET http:///public/x` (absolute-form with an empty authority, which replaces Host) and an empty
// `Host:` header were served, the site chosen by SNI, and the upstream got `Host: ` (empty). An empty Host names
// no site: 400 bad_request on HTTP/1.1 and HTTP/1.0 (HTTP/2 streams with an empty :authority or host are reset by
// nghttp2 before they reach the gateway; that they never reach the upstream is checked too). A request with no
// Host at all (HTTP/1.0) is still served, and the upstream gets the name the client connected to instead of an
// empty Host.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import type { EchoUpstream } from '../helpers/echo-upstream.ts';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { TestCa } from '../helpers/pki.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { RawConnection, h2Session, h2Request } from '../helpers/tls-clients.ts';
import { fileScope } from '../helpers/suite.ts';

const scope = fileScope();
let ca: TestCa;
let upstream: EchoUpstream;
let gw: TestGateway;

before(async () => {
  const dir = tempDir(scope, 'cg-emptyhost-');
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

/** Sends one raw request (TLS when `tls`, else to the plain listener) and reads the answer. */
async function raw(head: string, tls = true) {
  const conn = await RawConnection.open(tls ? gw.port : gw.addresses[1].port, tls ? { ca: ca.ca.certPem } : null);
  try {
    conn.write(head);
    return await conn.readResponse(5_000);
  } finally {
    conn.close();
  }
}

const EMPTY_HOST_SHAPES = [
  'GET http:///public/x HTTP/1.1\r\nHost: localhost\r\n\r\n',
  'GET https:///public/x HTTP/1.1\r\nHost: localhost\r\n\r\n',
  'GET http:///public/x HTTP/1.1\r\nHost: \r\n\r\n',
  'GET /public/x HTTP/1.1\r\nHost: \r\n\r\n',
  'GET /public/x HTTP/1.1\r\nHost:\r\n\r\n',
  'GET /public/x HTTP/1.0\r\nHost: \r\n\r\n',
  'GET http:///public/x HTTP/1.0\r\n\r\n',
  'GET http:///public/x?q=1 HTTP/1.1\r\nHost: localhost\r\n\r\n',
];

test('an empty Host or absolute-form authority gets 400 bad_request and reaches nothing (TLS and plain listeners)', async () => {
  const seen = upstream.seen.length;
  for (const tls of [true, false]) {
    for (const head of EMPTY_HOST_SHAPES) {
      const res = await raw(head, tls);
      const label = `${tls ? 'tls' : 'plain'} ${JSON.stringify(head)}`;
      assert.equal(res?.status, 400, label);
      assert.match(res!.body, /<code>bad_request<\/code>/, label);
    }
  }
  assert.deepEqual(upstream.seen.slice(seen).map((r) => r.headers.host), []);
  const refused = gw.events('access').filter((l) => l.status === 400 && l.reason === 'bad_request');
  assert.ok(refused.length >= EMPTY_HOST_SHAPES.length * 2, `${refused.length} access lines`);
});

test('HTTP/2: an empty :authority or host never reaches the upstream', async () => {
  const s = await h2Session(gw.port, { ca: ca.ca.certPem });
  scope.after(() => s.close());
  const seen = upstream.seen.length;
  // nghttp2 resets these streams itself (PROTOCOL_ERROR) before the gateway sees them; decide() answers 400 should
  // one get through. Either way the upstream sees nothing.
  const shapes: Array<Record<string, string>> = [
    { ':authority': '' }, { ':authority': '', host: '' }, { ':authority': '', host: 'localhost' }, { host: '' }, { ':authority': 'localhost', host: '' },
  ];
  for (const headers of shapes) {
    const res = await h2Request(s, '/public/x', { headers }).catch((err: NodeJS.ErrnoException) => ({ status: err.code, body: '' }));
    assert.ok(res.status === 'ERR_HTTP2_STREAM_ERROR' || res.status === 400, `${JSON.stringify(headers)}: ${res.status}`);
  }
  assert.equal(upstream.seen.length, seen);
});

test('a request without any Host (HTTP/1.0) is still served, and the upstream gets a non-empty Host', async () => {
  // HTTP/1.0 answers end at close (no Content-Length): what the upstream saw is what matters
  const hosts: Array<[string, string | string[] | undefined]> = [];
  for (const tls of [true, false]) {
    const res = await raw('GET /public/x HTTP/1.0\r\n\r\n', tls);
    assert.equal(res?.status, 200);
    const reply = upstream.seen.at(-1)!;
    hosts.push([String(reply.headers.host), reply.headers['x-forwarded-host']]);
  }
  // TLS: the name the client connected to (SNI); plain: the address it connected to
  assert.deepEqual(hosts, [['localhost', 'localhost'], ['127.0.0.1', '127.0.0.1']]);
});
