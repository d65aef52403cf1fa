// Regression (hole 1): TCP connections that never finished the TLS handshake — silent ones, and ones that sent half
// a ClientHello — were left open by the gateway after the handshake deadline; once the client closed its side, each
// stayed in CLOSE-WAIT for the gateway's port with its descriptor held, for good. Now the registry destroys a socket
// that has not finished the handshake by `timeouts.handshake`, counts it, and the process's descriptors come back.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as netConnect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import type { EchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { h1Request } from '../helpers/tls-clients.ts';
import { fileScope } from '../helpers/suite.ts';
import { fdCount, tcpStates, waitFor, limitHits, sample } from '../helpers/sockets.ts';

const t0 = fileScope();
let ca: TestCa;
let alice: TestCert;
let upstream: EchoUpstream;
let gw: TestGateway;

before(async () => {
  const dir = tempDir(t0, 'cg-hsleak-');
  ca = await makeCa(t0, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  alice = await issueCert(ca, 'alice');
  upstream = await startEchoUpstream();
  t0.after(() => upstream.close());
  gw = await startGateway(t0, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    timeouts: {handshake: 500ms}
    routes:
      - {path: /, upstream: "${upstream.url}"}
`);
});

/** The first bytes a real node TLS client sends: its ClientHello, captured by a local TCP server. */
async function captureClientHello(): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const hello = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ClientHello within 5 s')), 5_000);
      server.once('connection', (s: Socket) => {
        let buf = Buffer.alloc(0);
        s.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          // a TLS record: type(1) version(2) length(2) then `length` bytes
          if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
            clearTimeout(timer);
            s.destroy();
            resolve(buf);
          }
        });
      });
    });
    const client = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'] });
    client.on('error', () => undefined);
    try {
      return await hello;
    } finally {
      client.destroy();
    }
  } finally {
    server.close();
  }
}

/** Opens `n` TCP connections to the gateway, writing `first` (if any) on each; resolves once all are connected. */
async function openMany(n: number, first: Buffer | null): Promise<Array<{ socket: Socket; closedByServer: () => boolean }>> {
  const opened = [];
  for (let i = 0; i < n; i++) {
    opened.push(new Promise<{ socket: Socket; closedByServer: () => boolean }>((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port: gw.port });
      let serverClosed = false;
      socket.on('end', () => (serverClosed = true));
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNRESET') serverClosed = true;
      });
      socket.on('close', () => undefined);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => undefined);
        if (first) socket.write(first);
        resolve({ socket, closedByServer: () => serverClosed || socket.destroyed });
      });
      socket.once('error', reject);
    }));
  }
  return Promise.all(opened);
}

test('silent and half-ClientHello connections are closed at the handshake deadline: no CLOSE-WAIT, no fd leak', async () => {
  const hello = await captureClientHello();
  assert.equal(hello[0], 0x16, 'a TLS handshake record');
  assert.equal(hello[5], 0x01, 'a ClientHello');
  const half = hello.subarray(0, Math.floor(hello.length / 2));
  // warm up: a handshake that completes, so lazily opened descriptors are counted in the baseline
  assert.equal((await h1Request(gw.port, '/warm', { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem })).status, 200);
  await waitFor(async () => Object.keys(await tcpStates(gw.port)).every((s) => s === 'LISTEN'), 5_000);
  const fdsBefore = fdCount();
  const hitsBefore = await limitHits(gw.metrics, 'handshake_timeout');

  const started = Date.now();
  const silent = await openMany(200, null);
  const partial = await openMany(50, half);
  const clients = [...silent, ...partial];
  // hold them past the 500 ms deadline: the gateway must have closed every one of them by itself
  const allClosed = await waitFor(() => clients.every((c) => c.closedByServer()), 5_000);
  const waited = Date.now() - started;
  const stillOpen = clients.filter((c) => !c.closedByServer()).length;
  // then the client closes its side (on the old code this FIN is what left the gateway's side in CLOSE-WAIT)
  for (const c of clients) c.socket.end();
  await waitFor(() => clients.every((c) => c.socket.destroyed), 5_000);
  for (const c of clients) c.socket.destroy();

  let states: Record<string, number> = {};
  await waitFor(async () => {
    states = await tcpStates(gw.port);
    return (states['CLOSE-WAIT'] ?? 0) === 0 && (states.ESTAB ?? 0) === 0;
  }, 5_000, 100);
  assert.equal(states['CLOSE-WAIT'] ?? 0, 0, `sockets in CLOSE-WAIT on the gateway's port: ${JSON.stringify(states)}`);
  assert.equal(states.ESTAB ?? 0, 0, `sockets still established on the gateway's port: ${JSON.stringify(states)}`);
  assert.ok(allClosed, `${stillOpen} of 250 connections were still open ${waited} ms after they started (deadline 500 ms)`);

  let fds = 0;
  await waitFor(() => (fds = fdCount()) <= fdsBefore + 5, 5_000);
  assert.ok(fds <= fdsBefore + 5, `descriptors: ${fdsBefore} before, ${fds} after`);

  const hits = (await limitHits(gw.metrics, 'handshake_timeout')) - hitsBefore;
  assert.ok(hits >= 250, `handshake_timeout counted ${hits} times for 250 stalled handshakes`);
  assert.ok(await sample(gw.metrics, 'certgate_tls_handshake_failures_total', 'reason="timeout"') >= 250);

  // and a client with a valid certificate is still served
  const ok = await h1Request(gw.port, '/after', { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem });
  assert.equal(ok.status, 200);
  assert.equal(upstream.seen.at(-1)?.url, '/after');
});
