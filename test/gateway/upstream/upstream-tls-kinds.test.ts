// Each TLS failure towards an upstream gets its own reason (502 page), log `kind` and metric label, against a Node
// https upstream and Debian's nginx (`ssl_verify_client on`) that both require a client certificate; WebSocket
// tunnels map the same way. nginx completes the handshake and answers 400 to a certificate it refuses.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import type { TestCa } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { h1Request } from '../../helpers/tls-clients.ts';
import { fileScope } from '../../helpers/suite.ts';
import { startNginx, freePort } from '../../helpers/nginx.ts';

const scope = fileScope();
let ca: TestCa;
let gw: TestGateway;

before(async () => {
  const dir = tempDir(scope, 'cg-upkinds-');
  ca = await makeCa(scope, { passphrase: null });
  const upCa = await makeCa(scope, { passphrase: null, name: 'Upstream CA' });
  const otherCa = await makeCa(scope, { passphrase: null, name: 'Other CA' });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const upServer = await issueCert(upCa, 'upstream', { profile: 'server', ip: ['127.0.0.1'], dns: ['upstream.internal'] });
  const now = Date.now();
  const upExpired = await issueCert(upCa, 'upstream-expired', {
    profile: 'server', ip: ['127.0.0.1'], validity: { notBefore: new Date(now - 3 * 86_400_000), notAfter: new Date(now - 86_400_000) },
  });
  const gwClient = await issueCert(upCa, 'gateway-client');
  const foreignClient = await issueCert(otherCa, 'foreign-client');

  const node = await startEchoUpstream({ tls: { cert: upServer.certPem, key: upServer.keyPem, ca: upCa.ca.certPem, requestCert: true } });
  scope.after(() => node.close());
  const nodeExpired = await startEchoUpstream({ tls: { cert: upExpired.certPem, key: upExpired.keyPem, ca: upCa.ca.certPem, requestCert: true } });
  scope.after(() => nodeExpired.close());
  const plain = createHttpServer((_q, s) => s.end('plain'));
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  scope.after(() => new Promise<void>((r) => { plain.close(() => r()); plain.closeAllConnections(); }));

  const ngxDir = tempDir(scope, 'cg-upkinds-nginx-');
  const [ngxGood, ngxExpired] = [await freePort(), await freePort()];
  const block = (port: number, cert: string | null, key: string | null) => `  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_client_certificate ${upCa.certPath};
    ssl_verify_client on;
    location / { default_type text/plain; return 200 "nginx ok\\n"; }
  }`;
  await startNginx(scope, ngxDir, [block(ngxGood, upServer.certPath, upServer.keyPath), block(ngxExpired, upExpired.certPath, upExpired.keyPath)].join('\n'), [ngxGood, ngxExpired]);

  const origins = { node: node.url, nginx: `https://127.0.0.1:${ngxGood}` };
  const expired = { node: nodeExpired.url, nginx: `https://127.0.0.1:${ngxExpired}` };
  const mine = `cert: ${gwClient.certPath}, key: ${gwClient.keyPath}`;
  let routes = '';
  for (const k of ['node', 'nginx'] as const) {
    routes += `
      - {path: /${k}/good, public: true, upstream: {url: "${origins[k]}", tls: {ca: ${upCa.certPath}, ${mine}}}}
      - {path: /${k}/untrusted, public: true, upstream: {url: "${origins[k]}", tls: {ca: ${otherCa.certPath}, ${mine}}}}
      - {path: /${k}/name, public: true, upstream: {url: "${origins[k]}", tls: {ca: ${upCa.certPath}, servername: wrong.example, ${mine}}}}
      - {path: /${k}/expired, public: true, upstream: {url: "${expired[k]}", tls: {ca: ${upCa.certPath}, ${mine}}}}
      - {path: /${k}/nocert, public: true, upstream: {url: "${origins[k]}", tls: {ca: ${upCa.certPath}}}}
      - {path: /${k}/foreign, public: true, upstream: {url: "${origins[k]}", tls: {ca: ${upCa.certPath}, cert: ${foreignClient.certPath}, key: ${foreignClient.keyPath}}}}`;
  }
  routes += `
      - {path: /protocol, public: true, upstream: {url: "https://127.0.0.1:${(plain.address() as AddressInfo).port}", tls: {ca: ${upCa.certPath}}}}
      - {path: /down, public: true, upstream: {url: "https://127.0.0.1:1", tls: {ca: ${upCa.certPath}}}}`;
  gw = await startGateway(scope, join(dir), `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    routes:${routes}
`);
});

const creds = () => ({ ca: ca.ca.certPem });

async function reasonOf(path: string): Promise<{ status: number; code: string | undefined; body: string }> {
  const r = await h1Request(gw.port, path, creds());
  return { status: r.status, code: /<code>([a-z_]+)<\/code>/.exec(r.body)?.[1], body: r.body };
}

const CASES: Array<[string, string]> = [
  ['untrusted', 'upstream_cert_untrusted'],
  ['name', 'upstream_name_mismatch'],
  ['expired', 'upstream_cert_expired'],
];

for (const k of ['node', 'nginx']) {
  test(`${k}: a valid client certificate gets 200; each upstream certificate failure its own 502 reason`, async () => {
    assert.equal((await reasonOf(`/${k}/good`)).status, 200);
    for (const [path, code] of CASES) {
      const r = await reasonOf(`/${k}/${path}`);
      assert.deepEqual([r.status, r.code], [502, code], `/${k}/${path}`);
      const line = gw.events('proxy.upstream_error').find((l) => l.path === `/${k}/${path}`);
      assert.equal(line?.kind, code, `/${k}/${path} log kind`);
    }
  });
}

test('node (TLS 1.3): a missing or foreign client certificate is upstream_refused_our_cert', async () => {
  for (const path of ['/node/nocert', '/node/foreign']) {
    const r = await reasonOf(path);
    assert.deepEqual([r.status, r.code], [502, 'upstream_refused_our_cert'], path + JSON.stringify(gw.events('proxy.upstream_error').findLast((l) => l.path === path)));
    assert.equal(gw.events('proxy.upstream_error').findLast((l) => l.path === path)?.kind, 'upstream_refused_our_cert');
  }
});

test('nginx answers 400 itself to a certificate it refuses; the gateway relays that answer', async () => {
  for (const path of ['/nginx/nocert', '/nginx/foreign']) {
    const r = await reasonOf(path);
    assert.equal(r.status, 400, path);
    assert.match(r.body, /SSL certificate|No required SSL certificate/i, path);
  }
});

test('a TLS handshake with a plain-HTTP port is upstream_tls_protocol; a closed port stays upstream_unreachable', async () => {
  const p = await reasonOf('/protocol');
  assert.deepEqual([p.status, p.code], [502, 'upstream_tls_protocol']);
  const d = await reasonOf('/down');
  assert.deepEqual([d.status, d.code], [502, 'upstream_unreachable']);
  const kinds = new Map(gw.events('proxy.upstream_error').map((l) => [l.path, l.kind]));
  assert.equal(kinds.get('/protocol'), 'upstream_tls_protocol');
  assert.equal(kinds.get('/down'), 'unreachable');
});

test('certgate_upstream_errors_total counts each kind', async () => {
  const text = await gw.metrics.registry.metrics();
  for (const kind of ['upstream_cert_untrusted', 'upstream_name_mismatch', 'upstream_cert_expired', 'upstream_refused_our_cert']) {
    assert.match(text, new RegExp(`certgate_upstream_errors_total\\{upstream="[^"]+",kind="${kind}"\\} \\d+`), kind);
  }
});

async function wsStatus(path: string): Promise<string> {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: gw.port, servername: 'localhost', ca: ca.ca.certPem, ALPNProtocols: ['http/1.1'] }, () => resolve(s));
    s.on('error', reject);
  });
  socket.setTimeout(10_000, () => socket.destroy());
  socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`);
  return new Promise<string>((resolve) => {
    let acc = '';
    socket.on('data', (d) => (acc += d.toString()));
    socket.on('close', () => resolve(acc));
  });
}

test('WebSocket tunnels get the same reasons', async () => {
  const rows: Array<[string, string]> = [
    ['/node/nocert', 'upstream_refused_our_cert'],
    ['/node/foreign', 'upstream_refused_our_cert'],
    ['/node/expired', 'upstream_cert_expired'],
    ['/node/name', 'upstream_name_mismatch'],
    ['/node/untrusted', 'upstream_cert_untrusted'],
    ['/protocol', 'upstream_tls_protocol'],
  ];
  for (const [path, code] of rows) {
    const text = await wsStatus(path);
    assert.match(text, /^HTTP\/1\.1 502/, path);
    assert.match(text, new RegExp(`<code>${code}</code>`), path);
  }
});
