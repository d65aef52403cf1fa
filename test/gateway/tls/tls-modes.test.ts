// clientAuth modes at the TLS layer (require: the handshake fails; off: no certificate requested), handshake failure
// logs and metrics, TLS version floor, the plain-HTTP redirect listener and the metrics endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { request as httpRequest } from 'node:http';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import type { TestCert } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { h1Request, sClient } from '../../helpers/tls-clients.ts';

function handshake(port: number, caPem: string, cert?: TestCert, extra: Record<string, unknown> = {}): Promise<{ ok: boolean; error?: string; alpn?: string | false }> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem, cert: cert?.certPem, key: cert?.keyPem, ...extra });
    // TLS 1.3 clients learn about a refused certificate only when they read: send a request and wait
    s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    s.on('data', () => {
      resolve({ ok: true, alpn: s.alpnProtocol ?? false });
      s.destroy();
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? err.message }));
    s.on('close', () => resolve({ ok: false, error: 'closed' }));
  });
}

test('require mode: no certificate or a bad one fails the handshake; a good one gets through', async (t) => {
  const dir = tempDir(t, 'cg-req-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const alice = await issueCert(ca, 'alice');
  const now = Date.now();
  const expired = await issueCert(ca, 'expired', { validity: { notBefore: new Date(now - 3 * 86_400_000), notAfter: new Date(now - 86_400_000) } });
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, mode: require}
    routes: [{path: /, upstream: "${upstream.url}"}]
`);
  const none = await handshake(gw.port, ca.ca.certPem);
  assert.equal(none.ok, false);
  const bad = await handshake(gw.port, ca.ca.certPem, expired);
  assert.equal(bad.ok, false);
  const good = await h1Request(gw.port, '/', { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem });
  assert.equal(good.status, 200);
  assert.equal(JSON.parse(good.body).headers['x-client-verify'], 'SUCCESS');

  const sc = await sClient(gw.port, ['-CAfile', ca.certPath, '-tls1_2'], 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.match(sc.stdout + sc.stderr, /alert|handshake failure|certificate required|peer did not return/i);

  const failures = gw.events('tls.handshake_failed').map((l) => l.reason);
  assert.ok(failures.includes('no_certificate'), failures.join(','));
  assert.ok(failures.includes('expired'), failures.join(','));
  const metrics = await gw.metrics.registry.metrics();
  assert.match(metrics, /certgate_tls_handshake_failures_total\{reason="no_certificate"\} [1-9]/);
});

test('mode off requests no certificate; TLS below the floor is refused; HTTP/1.1-only when http2 is off', async (t) => {
  const dir = tempDir(t, 'cg-off-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}, minVersion: TLSv1.3}
    http2: false
    clientAuth: {ca: ${ca.certPath}, mode: off}
    routes: [{path: /, upstream: "${upstream.url}", public: true}]
`);
  const sc = await sClient(gw.port, ['-CAfile', ca.certPath]);
  assert.match(sc.stdout, /No client certificate CA names sent/);
  const old = await handshake(gw.port, ca.ca.certPem, undefined, { maxVersion: 'TLSv1.2' });
  assert.equal(old.ok, false);
  const h = await handshake(gw.port, ca.ca.certPem, undefined, { ALPNProtocols: ['h2', 'http/1.1'] });
  assert.equal(h.ok, true);
  assert.equal(h.alpn, 'http/1.1');
});

test('a plain listener with redirectToHttps answers 301 to https; metrics are served', async (t) => {
  const dir = tempDir(t, 'cg-redir-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.2:0
    redirectToHttps: 8443
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    routes: [{path: /, upstream: "${upstream.url}", public: true}]
metrics: {listen: 127.0.0.3:0}
`);
  const plain = gw.addresses.find((a) => !a.tls)!;
  const get = (path: string, host?: string) =>
    new Promise<{ status: number; location?: string; hsts?: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.2', port: plain.port, path, headers: host ? { host } : {}, setHost: host === undefined ? false : true }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location, hsts: res.headers['strict-transport-security'] as string | undefined });
      });
      req.on('error', reject);
      req.end();
    });
  const r = await get('/a/b?c=1', 'App.Example:80');
  assert.equal(r.status, 301);
  assert.equal(r.location, 'https://app.example:8443/a/b?c=1');
  assert.equal(r.hsts, undefined, 'no HSTS over plain HTTP');
  assert.equal((await get('/x', 'evil.test/@x')).status, 400);
  assert.equal((await get('/x')).status, 400);
  const line = gw.logs.find((l) => l.event === 'metrics.listening')!;
  const metrics = await fetch(`http://${line.address}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /certgate_requests_total\{status="301",reason=""\} 1/);
});
