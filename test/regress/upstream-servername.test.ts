// Regression (outbound issue): upstream TLS was verified against the client's Host header, not against
// `tls.servername` or the URL's host, so `Host: app.example.com` to a route whose upstream certificate names
// backend.internal got 502 ERR_TLS_CERT_ALTNAME_INVALID; each new Host also made undici drop its connections.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { RawConnection } from '../helpers/tls-clients.ts';
import type { Creds } from '../helpers/tls-clients.ts';
import { fileScope } from '../helpers/suite.ts';

const scope = fileScope();
let ca: TestCa;
let alice: TestCert;
let gw: TestGateway;
/** What each upstream saw: SNI per request and TLS connections accepted. */
const seen = { named: { sni: [] as Array<string | false | null>, connections: 0 }, ip: { sni: [] as Array<string | false | null>, connections: 0 } };

async function httpsUpstream(cert: TestCert, record: { sni: Array<string | false | null>; connections: number }): Promise<Server> {
  const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    record.sni.push((req.socket as TLSSocket).servername);
    res.end(JSON.stringify({ host: req.headers.host }));
  });
  server.on('secureConnection', () => record.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  scope.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return server;
}

before(async () => {
  const dir = tempDir(scope, 'cg-upsni-');
  ca = await makeCa(scope, { passphrase: null });
  const gateway = await issueCert(ca, 'gateway', { profile: 'server' });
  alice = await issueCert(ca, 'alice');
  // one upstream certificate names only backend.internal (no IP SAN), the other only IP 127.0.0.1
  const named = await httpsUpstream(await issueCert(ca, 'backend', { profile: 'server', dns: ['backend.internal'] }), seen.named);
  const byIp = await httpsUpstream(await issueCert(ca, 'backend-ip', { profile: 'server', ip: ['127.0.0.1'] }), seen.ip);
  gw = await startGateway(scope, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${gateway.certPath}, key: ${gateway.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    routes:
      - path: /named
        upstream: {url: "https://127.0.0.1:${(named.address() as AddressInfo).port}", tls: {ca: ${ca.certPath}, servername: backend.internal}}
      - path: /ip
        upstream: {url: "https://127.0.0.1:${(byIp.address() as AddressInfo).port}", tls: {ca: ${ca.certPath}}}
`);
});

const creds = (): Creds => ({ ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem });
const HOSTS = ['app.example.com', 'localhost:8080', 'backend.internal', 'evil.example'];

test('tls.servername is the SNI sent and the name verified, whatever Host the client sends', async () => {
  const conn = await RawConnection.open(gw.port, creds());
  try {
    for (const host of HOSTS) {
      const r = await conn.get('/named/x', host);
      assert.equal(r?.status, 200, `Host: ${host}`);
    }
  } finally {
    conn.close();
  }
  assert.deepEqual(seen.named.sni, HOSTS.map(() => 'backend.internal'));
  // the pool kept its connection: a new Host is not a reason to reconnect
  assert.equal(seen.named.connections, 1);
});

test('an IP upstream URL verifies the IP SAN and sends no SNI, whatever Host the client sends', async () => {
  const conn = await RawConnection.open(gw.port, creds());
  try {
    for (const host of HOSTS) assert.equal((await conn.get('/ip/x', host))?.status, 200, `Host: ${host}`);
  } finally {
    conn.close();
  }
  assert.deepEqual(seen.ip.sni, HOSTS.map(() => false));
  assert.equal(seen.ip.connections, 1);
  assert.equal(gw.events('proxy.upstream_error').length, 0);
});
