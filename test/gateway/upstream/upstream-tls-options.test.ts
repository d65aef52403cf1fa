// Upstream tls.verifyDepth (chain below the root, leaf included, like nginx proxy_ssl_verify_depth) and
// tls.minVersion, against real Node https upstreams; each refusal is a 502 with its own reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { h1Request } from '../../helpers/tls-clients.ts';

test('verifyDepth refuses a longer upstream chain; minVersion TLSv1.3 refuses a TLS 1.2-only upstream', async (t) => {
  const dir = tempDir(t, 'cg-upopts-');
  const ca = await makeCa(t, { passphrase: null });
  const root = await makeCa(t, { passphrase: null, name: 'Upstream Root' });
  const inter = await makeCa(t, { passphrase: null, parent: root, name: 'Upstream Intermediate' });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const leaf = await issueCert(inter, 'upstream', { profile: 'server', ip: ['127.0.0.1'] });
  const chain = leaf.certPem + readFileSync(inter.certPath, 'utf8');
  const up = await startEchoUpstream({ tls: { cert: chain, key: leaf.keyPem } });
  t.after(() => up.close());
  const direct = await issueCert(root, 'upstream-direct', { profile: 'server', ip: ['127.0.0.1'] });
  const old = await startEchoUpstream({ tls: { cert: direct.certPem, key: direct.keyPem, maxVersion: 'TLSv1.2' } });
  t.after(() => old.close());
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    routes:
      - {path: /depth2, public: true, upstream: {url: "${up.url}", tls: {ca: ${root.certPath}, verifyDepth: 2}}}
      - {path: /depth1, public: true, upstream: {url: "${up.url}", tls: {ca: ${root.certPath}, verifyDepth: 1}}}
      - {path: /tls12, public: true, upstream: {url: "${old.url}", tls: {ca: ${root.certPath}}}}
      - {path: /tls13, public: true, upstream: {url: "${old.url}", tls: {ca: ${root.certPath}, minVersion: TLSv1.3}}}
`);
  const creds = { ca: ca.ca.certPem };
  const code = (body: string) => /<code>([a-z_]+)<\/code>/.exec(body)?.[1];
  assert.equal((await h1Request(gw.port, '/depth2', creds)).status, 200);
  const d1 = await h1Request(gw.port, '/depth1', creds);
  assert.deepEqual([d1.status, code(d1.body)], [502, 'upstream_cert_untrusted']);
  assert.equal(gw.events('proxy.upstream_error').find((l) => l.path === '/depth1')?.code, 'CERT_CHAIN_TOO_LONG');
  assert.equal((await h1Request(gw.port, '/tls12', creds)).status, 200);
  const v13 = await h1Request(gw.port, '/tls13', creds);
  assert.deepEqual([v13.status, code(v13.body)], [502, 'upstream_tls_protocol']);
});
