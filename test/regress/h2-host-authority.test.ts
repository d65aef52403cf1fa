// Regression: an HTTP/2 request whose Host field named another host than :authority was served (by :authority).
// RFC 9113 §8.3.1 calls that malformed; it is now refused with 400 before any routing, so no component can
// disagree about which site a request is for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EchoReply } from '../helpers/echo-upstream.ts';
import { h2Session, h2Request } from '../helpers/tls-clients.ts';
import { gatewaySuite } from '../helpers/suite.ts';

const suite = gatewaySuite({
  prefix: 'cg-h2host',
  serverDns: ['localhost', 'other.test'],
  clients: { alice: [] },
  body: (u) => `    sites:
      - hosts: [localhost]
        routes: [{path: /, upstream: "${u}"}]
      - hosts: [other.test]
        routes: [{path: /, upstream: "${u}", public: true}]
`,
});

test('HTTP/2: a host field that disagrees with :authority gets 400 and reaches nothing', async () => {
  const s = await h2Session(suite.gw.port, { ca: suite.ca.ca.certPem, cert: suite.clients.alice.certPem, key: suite.clients.alice.keyPem });
  suite.scope.after(() => s.close());
  const before = suite.upstream.seen.length;
  for (const host of ['other.test', 'evil.test', 'localhost.evil.test']) {
    const res = await h2Request(s, '/x', { authority: 'localhost', headers: { host } });
    assert.equal(res.status, 400, host);
    assert.match(res.body, /<code>bad_request<\/code>/);
  }
  assert.equal(suite.upstream.seen.length, before);
  // the same host in both (any case, trailing dot, port) is fine; the upstream gets :authority as Host
  for (const host of ['localhost', 'LOCALHOST', 'localhost.', `localhost:${suite.gw.port}`]) {
    const ok = await h2Request(s, '/x', { authority: 'localhost', headers: { host } });
    assert.equal(ok.status, 200, host);
    assert.equal((JSON.parse(ok.body) as EchoReply).headers.host, 'localhost');
  }
});
