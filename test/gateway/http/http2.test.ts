// HTTP/2 gets exactly the HTTP/1.1 treatment: same refusals and pages, identity headers, header hygiene, and the
// SNI/Host check on every stream (a coalesced connection asking for another site gets 421).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientHttp2Session } from 'node:http2';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import type { TestCa, TestCert } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import type { EchoUpstream, EchoReply } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { h2Session, h2Request, h1Request } from '../../helpers/tls-clients.ts';
import type { Creds } from '../../helpers/tls-clients.ts';
import { fileScope } from '../../helpers/suite.ts';

const t0 = fileScope();
let ca: TestCa;
let alice: TestCert;
let upstream: EchoUpstream;
let gw: TestGateway;

before(async () => {
  const dir = tempDir(t0, 'cg-h2-');
  ca = await makeCa(t0, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server', dns: ['localhost', 'a.test', 'b.test'] });
  alice = await issueCert(ca, 'alice');
  upstream = await startEchoUpstream();
  t0.after(() => upstream.close());
  gw = await startGateway(t0, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    sites:
      - hosts: [a.test]
        routes: [{path: /, upstream: "${upstream.url}", public: true}]
      - hosts: [b.test]
        routes: [{path: /app, upstream: "${upstream.url}"}]
`);
});

async function session(servername: string, cert?: TestCert): Promise<ClientHttp2Session> {
  const creds: Creds = { ca: ca.ca.certPem, servername, cert: cert?.certPem, key: cert?.keyPem };
  const s = await h2Session(gw.port, creds);
  t0.after(() => s.close());
  return s;
}

test('HTTP/2 is negotiated and public routes work, with forged identity headers stripped', async () => {
  const s = await session('a.test');
  assert.equal(s.alpnProtocol, 'h2');
  const res = await h2Request(s, '/x?y=1', { authority: 'a.test', headers: { 'x-client-verify': 'SUCCESS', 'X-Client-Subject': 'CN=admin', cookie: ['a=1', 'b=2'] } });
  assert.equal(res.status, 200);
  const reply = JSON.parse(res.body) as EchoReply;
  assert.equal(reply.url, '/x?y=1');
  assert.equal(reply.headers['x-client-verify'], 'NONE');
  assert.equal(reply.headers['x-client-subject'], undefined);
  assert.equal(reply.headers.host, 'a.test');
  assert.equal(reply.headers.cookie, 'a=1; b=2');
  assert.equal(reply.httpVersion, '1.1');
  assert.equal(res.headers['strict-transport-security'], 'max-age=15768000; includeSubDomains');
  assert.equal(res.headers.connection, undefined);
});

test('a stream for another site on a coalesced connection gets 421; an unknown one 403', async () => {
  const s = await session('a.test');
  const mis = await h2Request(s, '/app', { authority: 'b.test' });
  assert.equal(mis.status, 421);
  assert.match(mis.body, /<code>misdirected<\/code>/);
  const unknown = await h2Request(s, '/', { authority: 'c.test' });
  assert.equal(unknown.status, 403);
  assert.match(unknown.body, /<code>unknown_host<\/code>/);
  // the same session still serves its own site
  assert.equal((await h2Request(s, '/', { authority: 'a.test' })).status, 200);
});

test('the same refusals and successes as HTTP/1.1', async () => {
  const anon = await session('b.test');
  const refused = await h2Request(anon, '/app', { authority: 'b.test' });
  assert.equal(refused.status, 403);
  assert.match(refused.body, /<code>no_certificate<\/code>/);
  const h1 = await h1Request(gw.port, '/app', { ca: ca.ca.certPem, servername: 'b.test' }, { headers: { host: 'b.test' } });
  assert.equal(h1.status, refused.status);
  assert.equal(h1.body, refused.body);

  const s = await session('b.test', alice);
  const ok = await h2Request(s, '/app/z', { authority: 'b.test' });
  assert.equal(ok.status, 200);
  const reply = JSON.parse(ok.body) as EchoReply;
  assert.equal(reply.headers['x-client-verify'], 'SUCCESS');
  assert.match(String(reply.headers['x-client-subject']), /CN=alice/);
  assert.equal(reply.headers['x-client-serial'], alice.record.serial);

  assert.equal((await h2Request(s, '/app/%2F', { authority: 'b.test' })).status, 400);
  assert.equal((await h2Request(s, '/other', { authority: 'b.test' })).status, 404);
  const post = await h2Request(s, '/app/upload', { authority: 'b.test', method: 'POST', body: 'y'.repeat(100_000) });
  assert.equal((JSON.parse(post.body) as EchoReply).bodyLength, 100_000);
  const lines = gw.events('access').filter((l) => l.proto === 'h2');
  assert.ok(lines.some((l) => l.status === 421 && l.reason === 'misdirected'));
});
