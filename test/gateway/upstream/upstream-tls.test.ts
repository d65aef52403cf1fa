// https upstreams: verified against the configured CA (502 when it does not verify), a client certificate for mTLS
// upstreams, and insecureSkipVerify as the explicit escape hatch. WebSocket tunnels use the same TLS settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import type { EchoReply } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { h1Request } from '../../helpers/tls-clients.ts';

test('an mTLS upstream is verified and gets the gateway client certificate', async (t) => {
  const dir = tempDir(t, 'cg-uptls-');
  const ca = await makeCa(t, { passphrase: null });
  const upCa = await makeCa(t, { passphrase: null, name: 'Upstream CA' });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const upServer = await issueCert(upCa, 'upstream', { profile: 'server', ip: ['127.0.0.1'] });
  const gwClient = await issueCert(upCa, 'gateway-client');
  const upstream = await startEchoUpstream({ tls: { cert: upServer.certPem, key: upServer.keyPem, ca: upCa.ca.certPem, requestCert: true } });
  t.after(() => upstream.close());
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    routes:
      - path: /good
        public: true
        upstream: {url: "${upstream.url}", tls: {ca: ${upCa.certPath}, cert: ${gwClient.certPath}, key: ${gwClient.keyPath}}}
      - path: /nocert
        public: true
        upstream: {url: "${upstream.url}", tls: {ca: ${upCa.certPath}}}
      - path: /wrongca
        public: true
        upstream: {url: "${upstream.url}", tls: {ca: ${ca.certPath}, cert: ${gwClient.certPath}, key: ${gwClient.keyPath}}}
      - path: /insecure
        public: true
        upstream: {url: "${upstream.url}", tls: {insecureSkipVerify: true, cert: ${gwClient.certPath}, key: ${gwClient.keyPath}}}
`);
  const creds = { ca: ca.ca.certPem };
  const good = await h1Request(gw.port, '/good', creds);
  assert.equal(good.status, 200);
  assert.equal((JSON.parse(good.body) as EchoReply).url, '/good');
  assert.equal((await h1Request(gw.port, '/wrongca', creds)).status, 502);
  assert.equal((await h1Request(gw.port, '/nocert', creds)).status, 502);
  assert.equal((await h1Request(gw.port, '/insecure', creds)).status, 200);
  const kinds = gw.events('proxy.upstream_error').map((l) => l.kind);
  assert.ok(kinds.length >= 2, kinds.join(','));
});
