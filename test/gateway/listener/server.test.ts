// The gateway end to end with certificates made by the openssl CLI only (so an issuer/verifier bug cannot hide):
// verify mode, every refusal reason, identity headers, forged-header stripping, curl over HTTP/1.1 and HTTP/2.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../../helpers/cli.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import type { EchoUpstream, EchoReply } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { h1Request, curl } from '../../helpers/tls-clients.ts';
import type { Creds } from '../../helpers/tls-clients.ts';
import { opensslRootCa, opensslLeaf, opensslSelfSigned, opensslRevoke, opensslCrl } from '../../helpers/openssl-certs.ts';
import type { OsslCa, OsslCert } from '../../helpers/openssl-certs.ts';

let dir: string;
let ca: OsslCa;
let server: OsslCert;
const clients: Record<string, OsslCert> = {};
let upstream: EchoUpstream;
let gw: TestGateway;
const cleanups: Array<() => unknown> = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'certgate-server-'));
  ca = await opensslRootCa(dir, 'root');
  const other = await opensslRootCa(dir, 'other');
  server = await opensslLeaf(ca, { name: 'server', subj: '/CN=localhost', eku: 'serverAuth', san: 'DNS:localhost,IP:127.0.0.1' });
  clients.alice = await opensslLeaf(ca, { name: 'alice', subj: '/O=Acme/OU=ops/CN=alice' });
  clients.noeku = await opensslLeaf(ca, { name: 'noeku', subj: '/O=Acme/OU=dev/CN=carol', eku: 'none' });
  clients.expired = await opensslLeaf(ca, { name: 'expired', subj: '/CN=old', startdate: '20200101000000Z', enddate: '20200102000000Z' });
  clients.future = await opensslLeaf(ca, { name: 'future', subj: '/CN=future', startdate: '20990101000000Z', enddate: '20990102000000Z' });
  clients.serveronly = await opensslLeaf(ca, { name: 'serveronly', subj: '/CN=srv', eku: 'serverAuth' });
  clients.revoked = await opensslLeaf(ca, { name: 'revoked', subj: '/O=Acme/OU=ops/CN=mallory' });
  clients.stranger = await opensslLeaf(other, { name: 'stranger', subj: '/O=Acme/OU=ops/CN=alice' });
  clients.lookalike = await opensslSelfSigned(dir, 'lookalike', '/O=Acme/OU=ops/CN=alice');
  await opensslRevoke(ca, clients.revoked);
  await opensslCrl(ca, join(dir, 'root.crl'));
  upstream = await startEchoUpstream();
  cleanups.push(() => upstream.close());
  gw = await startGateway({ after: (fn) => cleanups.push(fn) }, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: root/server.crt, key: root/server.key}
    clientAuth: {ca: root/ca.crt, crl: root.crl, mode: verify}
    routes:
      - path: /public
        upstream: ${upstream.url}
        public: true
      - path: /ops
        upstream: ${upstream.url}
        allow: [{ou: ops}]
      - path: /
        upstream: ${upstream.url}
`);
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

function creds(name?: string): Creds {
  const c = name ? clients[name] : undefined;
  return { ca: ca.certPem, cert: c?.certPem, key: c?.keyPem };
}

function echo(body: string): EchoReply {
  return JSON.parse(body) as EchoReply;
}

test('verify mode: no certificate gets the 403 page with its reason; a public route still works', async () => {
  const refused = await h1Request(gw.port, '/app', creds());
  assert.equal(refused.status, 403);
  assert.match(refused.headers['content-type'] as string, /^text\/html/);
  assert.match(refused.body, /no_certificate/);
  assert.match(refused.body, /No client certificate was sent/);
  assert.equal(refused.headers['strict-transport-security'], 'max-age=15768000; includeSubDomains');
  assert.equal(refused.headers['x-frame-options'], 'DENY');
  const ok = await h1Request(gw.port, '/public/x', creds());
  assert.equal(ok.status, 200);
  assert.equal(echo(ok.body).headers['x-client-verify'], 'NONE');
  assert.equal(ok.headers['x-content-type-options'], 'nosniff');
});

test('a valid certificate reaches the upstream with nginx-identical identity headers', async () => {
  const res = await h1Request(gw.port, '/app?q=1', creds('alice'));
  assert.equal(res.status, 200);
  const h = echo(res.body).headers;
  assert.equal(echo(res.body).url, '/app?q=1');
  assert.equal(h['x-client-verify'], 'SUCCESS');
  const subject = await runProcess('openssl', ['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', clients.alice.certPath]);
  assert.equal(h['x-client-subject'], subject.stdout.trim().replace(/^subject=/, ''));
  const issuer = await runProcess('openssl', ['x509', '-noout', '-issuer', '-nameopt', 'RFC2253', '-in', clients.alice.certPath]);
  assert.equal(h['x-client-issuer'], issuer.stdout.trim().replace(/^issuer=/, ''));
  const serial = await runProcess('openssl', ['x509', '-noout', '-serial', '-in', clients.alice.certPath]);
  assert.equal(h['x-client-serial'], serial.stdout.trim().replace(/^serial=/, ''));
  const fp = await runProcess('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', clients.alice.certPath]);
  assert.equal(h['x-client-fingerprint'], fp.stdout.trim().split('=')[1].replace(/:/g, '').toLowerCase());
  assert.equal(decodeURIComponent(h['x-client-cert'] as string), clients.alice.certPem);
  assert.equal(h.host, `127.0.0.1:${gw.port}`); // Host preserved as the client sent it
  assert.equal(h['x-forwarded-proto'], 'https');
  assert.equal(h['x-real-ip'], '127.0.0.1');
  assert.equal(h['x-forwarded-for'], '127.0.0.1');
});

test('no EKU is accepted; allow rules see the verified identity', async () => {
  assert.equal((await h1Request(gw.port, '/app', creds('noeku'))).status, 200);
  assert.equal((await h1Request(gw.port, '/ops/x', creds('alice'))).status, 200);
  const denied = await h1Request(gw.port, '/ops/x', creds('noeku'));
  assert.equal(denied.status, 403);
  assert.match(denied.body, /not_allowed/);
});

test('each bad certificate is refused with the right reason', async () => {
  const table: Array<[string, string]> = [
    ['expired', 'expired'],
    ['future', 'not_yet_valid'],
    ['serveronly', 'bad_purpose'],
    ['revoked', 'revoked'],
    ['stranger', 'unknown_ca'],
    ['lookalike', 'unknown_ca'],
  ];
  for (const [name, reason] of table) {
    const res = await h1Request(gw.port, '/app', creds(name));
    assert.equal(res.status, 403, name);
    assert.match(res.body, new RegExp(`<code>${reason}</code>`), name);
  }
});

test('a look-alike of an allowed DN never reaches the upstream as that identity', async () => {
  for (const name of ['lookalike', 'stranger']) {
    const res = await h1Request(gw.port, '/public/who', creds(name));
    assert.equal(res.status, 200);
    const h = echo(res.body).headers;
    assert.equal(h['x-client-verify'], 'FAILED:unknown_ca');
    assert.equal(h['x-client-subject'], undefined);
    assert.equal(h['x-client-cert'], undefined);
  }
  assert.equal((await h1Request(gw.port, '/ops/x', creds('lookalike'))).status, 403);
});

test('forged identity headers are stripped in any case and count', async () => {
  const res = await h1Request(gw.port, '/public/forged', creds(), {
    headers: {
      'X-Client-Verify': 'SUCCESS', 'x-client-subject': ['CN=admin', 'CN=root'], 'X-CLIENT-SERIAL': '01',
      'X-Client-Fingerprint': 'ab', 'X-Client-Cert': 'x', 'X-Client-Issuer': 'CN=evil', 'X-Real-IP': '6.6.6.6',
      'X-Forwarded-For': '10.9.9.9',
    },
  });
  const reply = echo(res.body);
  const names = reply.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  assert.deepEqual(names.filter((n) => n.startsWith('x-client-')), ['x-client-verify']);
  assert.equal(reply.headers['x-client-verify'], 'NONE');
  assert.equal(reply.headers['x-real-ip'], '127.0.0.1');
  assert.equal(reply.headers['x-forwarded-for'], '10.9.9.9, 127.0.0.1');
});

test('curl with a client certificate over HTTP/1.1 and HTTP/2', async () => {
  const a = clients.alice;
  for (const proto of ['--http1.1', '--http2']) {
    const r = await curl([proto, '--cacert', ca.certPath, '--cert', a.certPath, '--key', a.keyPath,
      '--resolve', `localhost:${gw.port}:127.0.0.1`, `https://localhost:${gw.port}/app/curl`]);
    assert.equal(r.status, 200, r.stderr);
    const h = echo(r.body).headers;
    assert.equal(h['x-client-verify'], 'SUCCESS');
    assert.equal(h.host, `localhost:${gw.port}`);
    assert.equal(h['x-forwarded-host'], `localhost:${gw.port}`);
    const refused = await curl([proto, '--cacert', ca.certPath, '--resolve', `localhost:${gw.port}:127.0.0.1`, `https://localhost:${gw.port}/app`]);
    assert.equal(refused.status, 403);
    assert.match(refused.body, /no_certificate/);
  }
});

test('access lines carry the decision; TLS refusals are counted', async () => {
  await h1Request(gw.port, '/app/logged', creds('alice'));
  const line = gw.events('access').find((l) => l.path === '/app/logged')!;
  assert.equal(line.status, 200);
  assert.equal(line.verify, 'SUCCESS');
  assert.equal(line.route, '/');
  assert.equal(line.upstream, upstream.url);
  assert.equal(line.sni, 'localhost');
  assert.equal(line.method, 'GET');
  assert.match(String(line.subject), /CN=alice/);
  assert.equal(typeof line.duration_ms, 'number');
  assert.ok(!gw.rawLogs().includes('BEGIN'), 'no PEM in logs');
});
