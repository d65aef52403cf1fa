// Regression: an HTTP/2 request whose Host field named another host than :authority was served (by :authority).
// RFC 9113 §8.3.1 calls that malformed; it is now refused with 400 before any routing, so no component can
// disagree about which site a request is for.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import type { EchoUpstream, EchoReply } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { h2Session, h2Request } from '../helpers/tls-clients.ts';

const cleanups: Array<() => unknown> = [];
const t0 = { after: (fn: () => unknown) => void cleanups.push(fn) };
let ca: TestCa;
let alice: TestCert;
let upstream: EchoUpstream;
let gw: TestGateway;

before(async () => {
  const dir = tempDir(t0, 'cg-h2host-');
  ca = await makeCa(t0, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server', dns: ['localhost', 'other.test'] });
  alice = await issueCert(ca, 'alice');
  upstream = await startEchoUpstream();
  cleanups.push(() => upstream.close());
  gw = await startGateway(t0, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    sites:
      - hosts: [localhost]
        routes: [{path: /, upstream: "${upstream.url}"}]
      - hosts: [other.test]
        routes: [{path: /, upstream: "${upstream.url}", public: true}]
`);
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('HTTP/2: a host field that disagrees with :authority gets 400 and reaches nothing', async () => {
  const s = await h2Session(gw.port, { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem });
  cleanups.push(() => s.close());
  const before = upstream.seen.length;
  for (const host of ['other.test', 'evil.test', 'localhost.evil.test']) {
    const res = await h2Request(s, '/x', { authority: 'localhost', headers: { host } });
    assert.equal(res.status, 400, host);
    assert.match(res.body, /<code>bad_request<\/code>/);
  }
  assert.equal(upstream.seen.length, before);
  // the same host in both (any case, trailing dot, port) is fine; the upstream gets :authority as Host
  for (const host of ['localhost', 'LOCALHOST', 'localhost.', `localhost:${gw.port}`]) {
    const ok = await h2Request(s, '/x', { authority: 'localhost', headers: { host } });
    assert.equal(ok.status, 200, host);
    assert.equal((JSON.parse(ok.body) as EchoReply).headers.host, 'localhost');
  }
});
