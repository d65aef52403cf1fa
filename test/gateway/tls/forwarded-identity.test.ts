// Chained gateways: an inner certgate takes the X-Client-* headers of a trusted outer certgate (trustIdentityHeadersFrom)
// as the client's identity, and strips them from anybody else. Two real gateways, one real echo app, openssl's PKI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { opensslCrl, opensslLeaf, opensslRevoke, opensslRootCa } from '../../helpers/openssl-certs.ts';
import type { OsslCert } from '../../helpers/openssl-certs.ts';
import { tempDir } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { h1Request } from '../../helpers/tls-clients.ts';
import { parseConfigText } from '../../../src/config/load.ts';
import { isCertgateError } from '../../../src/core/errors.ts';
import { identityFromCertificate } from '../../../src/gateway/identity/identity.ts';
import { X509Certificate } from 'node:crypto';

const reasonOf = (body: string) => /Reason: <code>([a-z_]+)<\/code>/.exec(body)?.[1];

test('a trusted outer gateway passes the client on; forged headers from anyone else never count', async (t) => {
  const dir = tempDir(t, 'cg-hops-');
  const root = await opensslRootCa(dir, 'root');
  const server = await opensslLeaf(root, { subj: '/CN=localhost', name: 'server', eku: 'serverAuth', san: 'DNS:localhost' });
  const edge = await opensslLeaf(root, { subj: '/O=Acme/OU=infra/CN=edge', name: 'edge' });
  const alice = await opensslLeaf(root, { subj: '/O=Acme/OU=ops/CN=alice', name: 'alice' });
  const bob = await opensslLeaf(root, { subj: '/O=Acme/OU=dev/CN=bob', name: 'bob' });
  const carol = await opensslLeaf(root, { subj: '/O=Acme/OU=ops/CN=carol', name: 'carol' });
  await opensslRevoke(root, carol);
  await opensslCrl(root, join(dir, 'root.crl'));
  const app = await startEchoUpstream();
  t.after(() => app.close());

  // the inner gateway knows the CRL that revokes carol; the outer one does not (it says SUCCESS for her)
  const innerDir = join(dir, 'inner');
  mkdirSync(innerDir);
  const inner = await startGateway(t, innerDir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${root.certPath}, crl: ${join(dir, 'root.crl')}, mode: verify}
    trustIdentityHeadersFrom: [{cn: edge}]
    routes:
      - path: /
        upstream: ${app.url}
        allow: [{ou: ops}]
`);
  const outerDir = join(dir, 'outer');
  mkdirSync(outerDir);
  const outer = await startGateway(t, outerDir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${root.certPath}, mode: require}
    routes:
      - path: /
        upstream:
          url: https://127.0.0.1:${inner.port}
          tls: {cert: ${edge.certPath}, key: ${edge.keyPath}, ca: ${root.certPath}, servername: localhost}
`);
  const via = (c: OsslCert, path: string, headers: Record<string, string> = {}) =>
    h1Request(outer.port, path, { ca: root.certPem, cert: c.certPem, key: c.keyPem }, { headers });
  const direct = (c: OsslCert, path: string, headers: Record<string, string> = {}) =>
    h1Request(inner.port, path, { ca: root.certPem, cert: c.certPem, key: c.keyPem }, { headers });
  const aliceId = identityFromCertificate(new X509Certificate(alice.certPem));

  // alice through the outer gateway: the inner one authorizes her (ou=ops), and the app sees her and the hop
  const ok = await via(alice, '/a');
  assert.equal(ok.status, 200, ok.body);
  const seen = app.seen.at(-1)!;
  assert.equal(seen.url, '/a');
  assert.equal(seen.headers['x-client-verify'], 'SUCCESS');
  assert.equal(seen.headers['x-client-fingerprint'], aliceId.fingerprint);
  assert.equal(seen.headers['x-client-subject'], 'CN=alice,OU=ops,O=Acme');
  assert.equal(seen.headers['x-client-hop-subject'], 'CN=edge,OU=infra,O=Acme');

  // bob through the outer gateway: the rule is about him, not about the hop
  const bobRes = await via(bob, '/b');
  assert.equal(bobRes.status, 403);
  assert.equal(reasonOf(bobRes.body), 'not_allowed');
  // carol: the outer gateway vouches, the inner one's CRL says revoked
  const carolRes = await via(carol, '/c');
  assert.equal(carolRes.status, 403);
  assert.equal(reasonOf(carolRes.body), 'revoked');

  // a client that is not the hop forges alice's headers: stripped, bob's own identity decides
  const forged = { 'x-client-verify': 'SUCCESS', 'x-client-cert': aliceId.escapedPem, 'x-client-fingerprint': aliceId.fingerprint, 'x-client-subject': 'CN=alice,OU=ops,O=Acme', 'x-client-hop-subject': 'CN=edge' };
  const before = app.seen.length;
  const forgedRes = await direct(bob, '/forged', forged);
  assert.equal(forgedRes.status, 403);
  assert.equal(reasonOf(forgedRes.body), 'not_allowed');
  assert.equal(app.seen.length, before, 'nothing reached the app');
  // the same headers through the outer gateway are stripped there first: bob is still bob
  const forgedVia = await via(bob, '/forged', forged);
  assert.equal(forgedVia.status, 403);
  assert.equal(app.seen.length, before);
  // alice talking to the inner gateway directly with a forged hop header: she is served as herself, the header replaced
  const own = await direct(alice, '/own', { 'x-client-hop-subject': 'CN=someone', 'x-client-subject': 'CN=root' });
  assert.equal(own.status, 200);
  assert.equal(app.seen.at(-1)!.headers['x-client-hop-subject'], undefined);
  assert.equal(app.seen.at(-1)!.headers['x-client-subject'], 'CN=alice,OU=ops,O=Acme');

  // the hop itself, with headers that do not hang together, is refused rather than believed
  const mismatch = await direct(edge, '/m', { ...forged, 'x-client-fingerprint': '00'.repeat(32) });
  assert.equal(mismatch.status, 403);
  assert.equal(reasonOf(mismatch.body), 'invalid_certificate');
  // and with no identity headers at all, the client it speaks for had no certificate
  const none = await direct(edge, '/n');
  assert.equal(none.status, 403);
  assert.equal(reasonOf(none.body), 'no_certificate');

  // a trust change reaches requests in flight on the client they were made for: revoking alice on the inner
  // gateway's CRL cuts her slow request, though the hop's own certificate stays good
  const slow = via(alice, '/slow?ms=4000');
  for (let i = 0; i < 100 && !app.seen.some((s) => s.url === '/slow?ms=4000'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(app.seen.some((s) => s.url === '/slow?ms=4000'), 'the slow request reached the app');
  await opensslRevoke(root, alice);
  await opensslCrl(root, join(dir, 'root.crl'));
  const start = Date.now();
  inner.gateway.reloadTrust();
  const cut = await slow;
  assert.equal(cut.status, 403);
  assert.equal(reasonOf(cut.body), 'revoked');
  assert.ok(Date.now() - start < 2_000, `answered ${Date.now() - start} ms after the CRL changed`);
  assert.equal(inner.events('trust.work_closed')[0]?.kind, 'request');
});

test('trustIdentityHeadersFrom: a rule of sourceIp alone and a server that asks for no certificate are config errors', () => {
  const base = (extra: string, clientAuth = '\n    clientAuth: {ca: ca.pem, mode: verify}') => `
servers:
  - listen: 127.0.0.1:8443
    tls: {cert: s.crt, key: s.key}${clientAuth}
    trustIdentityHeadersFrom: ${extra}
    routes: [{path: /, upstream: "http://127.0.0.1:3000"}]
`;
  const problems = (yaml: string): string => {
    try {
      parseConfigText(yaml, 'certgate.yaml', '/tmp');
      return '';
    } catch (err) {
      assert.ok(isCertgateError(err));
      const { problems } = err as unknown as { problems: Array<{ message: string; position?: { line: number; column: number } }> };
      return problems.map((p) => `${p.position ? `${p.position.line}:${p.position.column}` : 'nowhere'} ${p.message}`).join('\n');
    }
  };
  assert.match(problems(base('[{sourceIp: 10.0.0.0/8}]')), /^6:32 .*sourceIp alone would trust any local process/);
  assert.match(problems(base('[{cn: edge}]', '')), /^5:5 .*trustIdentityHeadersFrom needs a TLS server that asks for client certificates/);
  assert.equal(problems(base('[{cn: edge, sourceIp: 10.0.0.0/8}]')), '');
});
