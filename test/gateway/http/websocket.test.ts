// WebSocket through the gateway: authorization runs before the upgrade; allowed upgrades are piped both ways with
// identity headers; refused ones (no certificate, not allowed, websocket: false) get 403 and no upgrade.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import type { TestCa, TestCert } from '../../helpers/pki.ts';
import { startEchoUpstream, decodeFrame, encodeFrame } from '../../helpers/echo-upstream.ts';
import type { EchoUpstream } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { fileScope } from '../../helpers/suite.ts';

const t0 = fileScope();
let ca: TestCa;
let alice: TestCert;
let bob: TestCert;
let upstream: EchoUpstream;
let gw: TestGateway;

before(async () => {
  const dir = tempDir(t0, 'cg-ws-');
  ca = await makeCa(t0, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  alice = await issueCert(ca, 'alice', { ous: ['ops'] });
  bob = await issueCert(ca, 'bob', { ous: ['dev'] });
  upstream = await startEchoUpstream();
  t0.after(() => upstream.close());
  gw = await startGateway(t0, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    routes:
      - {path: /ws, upstream: "${upstream.url}", allow: [{ou: ops}]}
      - {path: /nows, upstream: "${upstream.url}", websocket: false}
`);
});

interface WsResult {
  status: number;
  head: string;
  socket: TLSSocket;
  rest: Buffer;
}

/** Opens a TLS connection and sends a WebSocket upgrade; resolves with the response head. */
function upgrade(path: string, cert?: TestCert, extraHeaders = ''): Promise<WsResult> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: gw.port, servername: 'localhost', ca: ca.ca.certPem, cert: cert?.certPem, key: cert?.keyPem, ALPNProtocols: ['http/1.1'] }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n${extraHeaders}\r\n`);
    });
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const head = buf.subarray(0, end).toString('latin1');
      resolve({ status: Number(head.split(' ')[1]), head, socket, rest: buf.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.on('error', reject);
    setTimeout(() => reject(new Error('no upgrade response')), 10_000).unref();
  });
}

function readFrame(socket: TLSSocket, initial: Buffer): Promise<{ opcode: number; payload: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = initial;
    const tryDecode = () => {
      const f = decodeFrame(buf);
      if (f) {
        socket.off('data', onData);
        resolve(f);
      }
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      tryDecode();
    };
    socket.on('data', onData);
    tryDecode();
    setTimeout(() => reject(new Error('no frame')), 10_000).unref();
  });
}

test('an allowed WebSocket is upgraded and piped both ways, with identity headers upstream', async () => {
  const ws = await upgrade('/ws/chat?room=1', alice, 'X-Client-Verify: SUCCESS\r\nX-Client-Subject: CN=admin\r\n');
  try {
    assert.equal(ws.status, 101, ws.head);
    for (const msg of ['hello', 'x'.repeat(300)]) {
      ws.socket.write(encodeFrame(1, Buffer.from(msg), true));
      const frame = await readFrame(ws.socket, ws.rest);
      ws.rest = Buffer.alloc(0);
      assert.equal(frame.payload.toString(), msg);
    }
    const seen = upstream.seen.find((r) => r.url === '/ws/chat?room=1')!;
    assert.equal(seen.headers['x-client-verify'], 'SUCCESS');
    assert.match(String(seen.headers['x-client-subject']), /CN=alice/);
    assert.equal(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-client-subject').length, 1);
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers.upgrade, 'websocket');
  } finally {
    ws.socket.destroy();
  }
});

test('refused upgrades get the 403 page and never reach the upstream', async () => {
  const table: Array<[string, TestCert | undefined, string]> = [
    ['/ws', undefined, 'no_certificate'],
    ['/ws', bob, 'not_allowed'],
    ['/nows', alice, 'websocket_refused'],
  ];
  for (const [path, cert, reason] of table) {
    const before = upstream.seen.length;
    const ws = await upgrade(path, cert);
    try {
      assert.equal(ws.status, 403, `${path} ${reason}`);
      const body = await new Promise<string>((resolve) => {
        let acc = ws.rest.toString();
        ws.socket.on('data', (d) => (acc += d.toString()));
        ws.socket.on('close', () => resolve(acc));
      });
      assert.ok(body.includes(`<code>${reason}</code>`), body);
      assert.match(ws.head, /connection: close/i);
      assert.equal(upstream.seen.length, before);
    } finally {
      ws.socket.destroy();
    }
  }
  const lines = gw.events('access').filter((l) => l.status === 403);
  assert.ok(lines.some((l) => l.reason === 'websocket_refused'));
});

test('an unreachable WebSocket upstream gets 502', async (t) => {
  const dir = tempDir(t, 'cg-ws2-');
  const server = await issueCert(ca, 'gateway2', { profile: 'server' });
  const g = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    routes: [{path: /, upstream: "http://127.0.0.1:1", public: true}]
`);
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: g.port, servername: 'localhost', ca: ca.ca.certPem, ALPNProtocols: ['http/1.1'] }, () => resolve(s));
    s.on('error', reject);
  });
  t.after(() => socket.destroy());
  socket.write(`GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`);
  const text = await new Promise<string>((resolve) => {
    let acc = '';
    socket.on('data', (d) => (acc += d.toString()));
    socket.on('close', () => resolve(acc));
  });
  assert.match(text, /^HTTP\/1\.1 502/);
  assert.match(text, /upstream_unreachable/);
});
