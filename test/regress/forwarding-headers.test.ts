// Regression: the gateway replaced X-Real-IP, X-Forwarded-Proto and X-Forwarded-Host but passed the client's own
// `Forwarded` (which Spring and others prefer over X-Forwarded-*), X-Forwarded-Port/-Prefix/-Scheme/-Ssl and, worse,
// X-Original-URL / X-Rewrite-URL, which Symfony-based and IIS-fronted apps take as the real path: "GET /public" with
// "X-Original-URL: /admin" reached the admin handler through a public route. certgate terminates the client's TLS,
// so nothing in front of it can have set these: they come from the client and are now dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EchoReply } from '../helpers/echo-upstream.ts';
import { RawConnection, h2Session, h2Request } from '../helpers/tls-clients.ts';
import { gatewaySuite } from '../helpers/suite.ts';

const suite = gatewaySuite({
  prefix: 'cg-fwd',
  body: (u) => `    routes:
      - {path: /public, upstream: "${u}", public: true}
      - {path: /admin, upstream: "${u}"}
`,
});

const FORGED: Record<string, string> = {
  'X-Original-URL': '/admin/delete',
  'X-Rewrite-URL': '/admin/delete',
  'Forwarded': 'for=10.0.0.1;proto=http;host=admin.internal',
  'X-Forwarded-Port': '80',
  'X-Forwarded-Prefix': '/admin',
  'X-Forwarded-Scheme': 'http',
  'X-Forwarded-Ssl': 'off',
  'Front-End-Https': 'off',
  'True-Client-IP': '10.0.0.1',
  'X-Client-IP': '10.0.0.1',
  'X-Cluster-Client-IP': '10.0.0.1',
};

test('client-sent path overrides and forwarding headers never reach the upstream (HTTP/1.1)', async () => {
  const conn = await RawConnection.open(suite.gw.port, { ca: suite.ca.ca.certPem });
  try {
    const extra = Object.entries(FORGED).map(([k, v]) => `${k}: ${v}\r\n${k.toLowerCase().replace(/-/g, '_')}: ${v}\r\n`).join('');
    const res = await conn.get('/public/page', 'localhost', extra);
    assert.equal(res?.status, 200);
    const reply = JSON.parse(res!.body) as EchoReply;
    for (const name of Object.keys(FORGED)) assert.equal(reply.headers[name.toLowerCase()], undefined, `${name} forwarded`);
    assert.equal(reply.headers['x-forwarded-proto'], 'https');
    assert.equal(reply.headers['x-real-ip'], '127.0.0.1');
    assert.ok(!reply.rawHeaders.some((h) => /_/.test(h) && /original|rewrite|forwarded|client_ip/i.test(h)), reply.rawHeaders.join(','));
  } finally {
    conn.close();
  }
});

test('the same on HTTP/2', async () => {
  const s = await h2Session(suite.gw.port, { ca: suite.ca.ca.certPem });
  suite.scope.after(() => s.close());
  const headers = Object.fromEntries(Object.entries(FORGED).map(([k, v]) => [k.toLowerCase(), v]));
  const res = await h2Request(s, '/public/page', { headers });
  assert.equal(res.status, 200);
  const reply = JSON.parse(res.body) as EchoReply;
  for (const name of Object.keys(FORGED)) assert.equal(reply.headers[name.toLowerCase()], undefined, `${name} forwarded`);
});
