// Regression: a WebSocket upgrade became a raw tunnel before the upstream agreed to it. Bytes sent after the upgrade
// request (in the same packet, or after a non-101 answer) went straight to an upstream that ignores upgrades and
// keeps the connection alive, so a client allowed on one route could smuggle "GET /admin" with forged X-Client-*
// headers past every check. The tunnel now opens only on 101; anything else is relayed and the connection closed.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { TestCa } from '../helpers/pki.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { RawConnection } from '../helpers/tls-clients.ts';
import { fileScope } from '../helpers/suite.ts';

const t0 = fileScope();
let ca: TestCa;
let gw: TestGateway;
/** Everything the upstream received, over all connections. */
let received = '';

before(async () => {
  const dir = tempDir(t0, 'cg-ws-smuggle-');
  ca = await makeCa(t0, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  // An HTTP/1.1 upstream without WebSocket support: it answers every request head with 404 and keeps the connection.
  const sockets = new Set<Socket>();
  const upstream = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = '';
    let tunnel = false;
    s.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (tunnel) {
        s.write(d);
        return;
      }
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const first = buf.slice(0, buf.indexOf('\r\n'));
        buf = buf.slice(end + 4);
        if (first.startsWith('GET /chat/accept ')) {
          // this path agrees to the upgrade, then echoes raw bytes
          tunnel = true;
          s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n' + buf);
          return;
        }
        s.write('HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found');
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t0.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); upstream.close(() => r()); }));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  gw = await startGateway(t0, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    routes:
      - {path: /chat, upstream: "${url}", public: true}
      - {path: /admin, upstream: "${url}", allow: [{ou: ops}]}
`);
});

const UPGRADE = 'GET /chat HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
const SMUGGLED = 'GET /admin/secret HTTP/1.1\r\nHost: localhost\r\nX-Client-Verify: SUCCESS\r\nX-Client-Subject: CN=root\r\n\r\n';

test('bytes pipelined behind an upgrade request never reach an upstream that refuses the upgrade', async () => {
  received = '';
  const conn = await RawConnection.open(gw.port, { ca: ca.ca.certPem });
  try {
    conn.write(UPGRADE + SMUGGLED);
    const res = await conn.readResponse();
    assert.equal(res?.status, 404);
    assert.ok(await conn.waitClosed(5_000), 'the connection is closed after a refused upgrade');
  } finally {
    conn.close();
  }
  assert.ok(received.includes('GET /chat '), 'the upgrade request itself was proxied');
  assert.ok(!received.includes('/admin/secret'), 'smuggled request reached the upstream');
});

test('a request sent after a non-101 answer is not tunnelled to the upstream', async () => {
  received = '';
  const conn = await RawConnection.open(gw.port, { ca: ca.ca.certPem });
  try {
    conn.write(UPGRADE);
    assert.equal((await conn.readResponse())?.status, 404);
    conn.write(SMUGGLED);
    const second = conn.closed ? null : await conn.readResponse(3_000).catch(() => null);
    assert.ok(second === null || second.status === 403, `second request answered ${second?.status}`);
  } finally {
    conn.close();
  }
  assert.ok(!received.includes('/admin/secret'), 'smuggled request reached the upstream');
});

test('after a 101 the tunnel carries the bytes sent with the upgrade request, in order', async () => {
  received = '';
  const conn = await RawConnection.open(gw.port, { ca: ca.ca.certPem });
  try {
    conn.write(UPGRADE.replace('GET /chat ', 'GET /chat/accept ') + 'early-bytes');
    const res = await conn.readResponse(10_000, true);
    assert.equal(res?.status, 101);
    conn.write('|late-bytes');
    for (let i = 0; i < 100 && !received.includes('late-bytes'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(received.includes('\r\n\r\nearly-bytes|late-bytes'), received);
  } finally {
    conn.close();
  }
});
