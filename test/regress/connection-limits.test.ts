// Regression: a listener accepted any number of connections, from one address or from all, each holding a
// descriptor and a TLS handshake's worth of memory (handshakes in progress included). Now `limits.connections` and
// `limits.connectionsPerIp` close the connection over the limit as soon as it is accepted, before any TLS byte,
// count it in certgate_limit_hits_total{limit}, and a place freed by a closing connection is taken again.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import type { EchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { RawConnection } from '../helpers/tls-clients.ts';
import type { Creds } from '../helpers/tls-clients.ts';
import { fileScope } from '../helpers/suite.ts';
import { limitHits, tcpStates, waitFor } from '../helpers/sockets.ts';

const t0 = fileScope();
let ca: TestCa;
let alice: TestCert;
let upstream: EchoUpstream;
let gw: TestGateway;

before(async () => {
  const dir = tempDir(t0, 'cg-connlimits-');
  ca = await makeCa(t0, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  alice = await issueCert(ca, 'alice');
  upstream = await startEchoUpstream();
  t0.after(() => upstream.close());
  const listener = (limits: string) => `
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    timeouts: {handshake: 30s}
    limits: ${limits}
    routes:
      - {path: /, upstream: "${upstream.url}"}`;
  gw = await startGateway(t0, dir, `
servers:${listener('{connections: 20}')}${listener('{connectionsPerIp: 5}')}
`);
});

function creds(): Creds {
  return { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem };
}

/** A bare TCP connection (a TLS handshake that has not started yet): it holds a place too. */
function bare(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port, localAddress });
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** A TLS connection that has been served one request, kept open (keep-alive). */
async function served(port: number): Promise<RawConnection> {
  const conn = await RawConnection.open(port, creds());
  const res = await conn.get('/held');
  assert.equal(res?.status, 200);
  return conn;
}

/** Tries a TLS handshake: 'refused' when the server closes before it completes (within `ms`), else 'handshake'. */
function tryHandshake(port: number, localAddress = '127.0.0.1', ms = 5_000): Promise<{ outcome: 'refused' | 'handshake'; code?: string; elapsed: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const tcp = netConnect({ host: '127.0.0.1', port, localAddress });
    tcp.on('error', () => undefined);
    const s = tlsConnect({ socket: tcp, ...creds(), servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ outcome: 'handshake', code: 'timeout', elapsed: Date.now() - started });
    }, ms);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ outcome: 'handshake', elapsed: Date.now() - started });
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ outcome: 'refused', code: err.code, elapsed: Date.now() - started });
    });
  });
}

/** Sockets of this port still open on the gateway's side (ESTAB or CLOSE-WAIT). */
async function openOnServer(port: number): Promise<number> {
  const states = await tcpStates(port);
  return (states.ESTAB ?? 0) + (states['CLOSE-WAIT'] ?? 0);
}

test('limits.connections: the 21st connection is closed before its handshake; closing some frees places', async () => {
  const port = gw.addresses[0].port;
  const hitsBefore = await limitHits(gw.metrics, 'connections');
  // 10 served TLS connections and 10 handshakes not yet started: 20 places
  const tlsConns: RawConnection[] = [];
  const bares: Socket[] = [];
  t0.after(() => {
    for (const c of tlsConns) c.close();
    for (const s of bares) s.destroy();
  });
  for (let i = 0; i < 10; i++) tlsConns.push(await served(port));
  for (let i = 0; i < 10; i++) bares.push(await bare(port));
  assert.ok(await waitFor(async () => (await openOnServer(port)) === 20, 5_000), 'the gateway holds the 20 connections');

  const over = await tryHandshake(port);
  assert.equal(over.outcome, 'refused', `the 21st connection completed a TLS handshake (${over.code ?? ''})`);
  assert.ok(over.elapsed < 2_000, `closed after ${over.elapsed} ms, not at once`);
  assert.equal((await limitHits(gw.metrics, 'connections')) - hitsBefore, 1, 'certgate_limit_hits_total{limit="connections"}');
  // a bare TCP connection over the limit is closed too, without a byte from the gateway
  const overBare = await bare(port);
  const got: Buffer[] = [];
  overBare.on('data', (d: Buffer) => got.push(d));
  assert.ok(await waitFor(() => overBare.destroyed || overBare.readableEnded, 2_000), 'the bare 22nd connection is closed at once');
  assert.equal(Buffer.concat(got).length, 0);
  assert.equal((await limitHits(gw.metrics, 'connections')) - hitsBefore, 2);

  // the connections inside the limit were not touched: each served one is still served
  for (const c of tlsConns) assert.equal((await c.get('/still'))?.status, 200);

  // closing 5 (3 bare, 2 served) frees 5 places (bounded wait for the gateway to see the closes)
  for (const s of bares.splice(0, 3)) s.end();
  for (const c of tlsConns.splice(0, 2)) c.close();
  assert.ok(await waitFor(async () => (await openOnServer(port)) === 15, 5_000), 'the gateway let go of the 5 closed connections');
  for (let i = 0; i < 5; i++) tlsConns.push(await served(port));
  assert.equal((await tryHandshake(port)).outcome, 'refused', 'full again after 5 new ones');
  assert.equal((await limitHits(gw.metrics, 'connections')) - hitsBefore, 3);
});

test('limits.connectionsPerIp: the 6th connection from one address is closed at once; other addresses get in', async () => {
  const port = gw.addresses[1].port;
  const hitsBefore = await limitHits(gw.metrics, 'connections_per_ip');
  const totalBefore = await limitHits(gw.metrics, 'connections');
  const held: Socket[] = [];
  t0.after(() => {
    for (const s of held) s.destroy();
  });
  for (let i = 0; i < 5; i++) held.push(await bare(port));
  assert.ok(await waitFor(async () => (await openOnServer(port)) === 5, 5_000));

  const sixth = await tryHandshake(port);
  assert.equal(sixth.outcome, 'refused', `the 6th connection from 127.0.0.1 completed a TLS handshake (${sixth.code ?? ''})`);
  assert.ok(sixth.elapsed < 2_000, `closed after ${sixth.elapsed} ms, not at once`);
  assert.equal((await limitHits(gw.metrics, 'connections_per_ip')) - hitsBefore, 1, 'certgate_limit_hits_total{limit="connections_per_ip"}');
  assert.equal((await limitHits(gw.metrics, 'connections')) - totalBefore, 0, 'not counted as the listener limit');

  // another loopback address has its own 5 places
  const other = await tryHandshake(port, '127.0.0.2');
  assert.equal(other.outcome, 'handshake', `127.0.0.2 was refused (${other.code ?? ''})`);

  // one closes: its address gets one place back, and only one
  held.shift()!.end();
  assert.ok(await waitFor(async () => (await openOnServer(port)) === 4, 5_000), 'the gateway let go of the closed connection');
  const back = await RawConnection.open(port, creds());
  t0.after(() => back.close());
  assert.equal((await back.get('/again'))?.status, 200);
  assert.equal((await tryHandshake(port)).outcome, 'refused');
  assert.equal((await limitHits(gw.metrics, 'connections_per_ip')) - hitsBefore, 2);
});
