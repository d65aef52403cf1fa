// Regression: a raw "#" in the request path ("GET /admin#x") was kept as part of a segment, so "/admin#x" matched
// no "/admin" route and fell through to a laxer "/" route, while the upstream (Node's url parser, Express, most
// frameworks) cut the fragment off and served /admin. A request-target has no fragment (RFC 9112 §3.2): a "#" in
// the path is now refused with 400 like every other ambiguous path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EchoReply } from '../helpers/echo-upstream.ts';
import { RawConnection, h2Session, h2Request } from '../helpers/tls-clients.ts';
import { normalizePath } from '../../src/gateway/policy/path.ts';
import { gatewaySuite } from '../helpers/suite.ts';

const suite = gatewaySuite({
  prefix: 'cg-fragment',
  body: (u) => `    routes:
      - {path: /, upstream: "${u}", public: true}
      - {path: /admin, upstream: "${u}"}
`,
});

test('normalizePath refuses a raw "#"; an encoded one is an ordinary character', () => {
  for (const p of ['/admin#x', '/admin#', '/#/admin', '/a/b#c/d']) assert.equal(normalizePath(p).ok, false, p);
  assert.deepEqual(normalizePath('/a%23b'), { ok: true, path: '/a%23b' });
});

test('"/admin#x" cannot reach the upstream through the public "/" route (HTTP/1.1 and HTTP/2)', async () => {
  const before = suite.upstream.seen.length;
  for (const path of ['/admin#x', '/admin#', '/admin/#/x']) {
    const conn = await RawConnection.open(suite.gw.port, { ca: suite.ca.ca.certPem });
    try {
      conn.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      const res = await conn.readResponse();
      assert.equal(res?.status, 400, `${path}: ${res?.raw}`);
      assert.match(res!.body, /<code>bad_path<\/code>/);
    } finally {
      conn.close();
    }
  }
  const s = await h2Session(suite.gw.port, { ca: suite.ca.ca.certPem });
  suite.scope.after(() => s.close());
  assert.equal((await h2Request(s, '/admin#x')).status, 400);
  assert.equal(suite.upstream.seen.length, before, 'reached the upstream');
  // a "#" after the query starts is the query's business; the path decides the route
  const conn = await RawConnection.open(suite.gw.port, { ca: suite.ca.ca.certPem });
  try {
    const res = await conn.get('/public?a#/../admin');
    assert.equal(res?.status, 200);
    assert.equal((JSON.parse(res!.body) as EchoReply).url, '/public?a#/../admin');
  } finally {
    conn.close();
  }
});
