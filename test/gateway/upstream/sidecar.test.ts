// The sidecar ("Server B") recipe: an app talks plain HTTP to certgate on loopback, certgate wraps each request in
// mutual TLS to the remote service ("Server A"): Debian's nginx with ssl_verify_client on, and a Node https server.
// Whatever Host the app sends, the name verified and sent is the upstream's own; identity headers the app sends are
// stripped on the plain listener too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import type { EchoReply } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { startNginx, freePort } from '../../helpers/nginx.ts';

function plainGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('sidecar: plain HTTP in on loopback, mTLS out to nginx and to a Node server, whatever Host the app sends', async (t) => {
  const dir = tempDir(t, 'cg-sidecar-');
  const upCa = await makeCa(t, { passphrase: null, name: 'Server A CA' });
  const otherCa = await makeCa(t, { passphrase: null, name: 'Other CA' });
  const serverA = await issueCert(upCa, 'server-a', { profile: 'server', dns: ['backend.internal'] });
  const sidecarCert = await issueCert(upCa, 'app-sidecar');
  const stranger = await issueCert(otherCa, 'app-sidecar');

  const node = await startEchoUpstream({ tls: { cert: serverA.certPem, key: serverA.keyPem, ca: upCa.ca.certPem, requestCert: true } });
  t.after(() => node.close());
  const ngxPort = await freePort();
  await startNginx(t, tempDir(t, 'cg-sidecar-nginx-'), `  server {
    listen 127.0.0.1:${ngxPort} ssl;
    ssl_certificate ${serverA.certPath};
    ssl_certificate_key ${serverA.keyPath};
    ssl_client_certificate ${upCa.certPath};
    ssl_verify_client on;
    location / { default_type text/plain; return 200 "host=$host dn=$ssl_client_s_dn\\n"; }
  }`, [ngxPort]);

  const upstream = (url: string, cert = sidecarCert) =>
    `{url: "${url}", tls: {cert: ${cert.certPath}, key: ${cert.keyPath}, ca: ${upCa.certPath}, servername: backend.internal}}`;
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    routes:
      - {path: /nginx, public: true, upstream: ${upstream(`https://127.0.0.1:${ngxPort}`)}}
      - {path: /node, public: true, upstream: ${upstream(node.url)}}
      - {path: /stranger, public: true, upstream: ${upstream(node.url, stranger)}}
`);
  for (const host of [`localhost:${gw.port}`, 'app.example.com', '127.0.0.1']) {
    const viaNginx = await plainGet(gw.port, '/nginx/x', { host });
    assert.equal(viaNginx.status, 200, `nginx with Host ${host}: ${viaNginx.body}`);
    // the upstream is reached by its own name, and that is the Host it is sent (tls.servername)
    assert.match(viaNginx.body, /^host=backend\.internal dn=CN=app-sidecar/);

    const viaNode = await plainGet(gw.port, '/node/y', { host, 'x-client-verify': 'SUCCESS', 'x-client-subject': 'CN=admin' });
    assert.equal(viaNode.status, 200, `node with Host ${host}: ${viaNode.body}`);
    const seen = JSON.parse(viaNode.body) as EchoReply;
    assert.equal(seen.headers.host, 'backend.internal');
    // a plain listener asks for no certificate: the app's forged identity headers are replaced by NONE
    assert.equal(seen.headers['x-client-verify'], 'NONE');
    assert.equal(seen.headers['x-client-subject'], undefined);
  }
  // a client certificate Server A does not trust: 502 with its own reason
  const refused = await plainGet(gw.port, '/stranger', { host: 'localhost' });
  assert.equal(refused.status, 502);
  assert.match(refused.body, /<code>upstream_refused_our_cert<\/code>/);
});
