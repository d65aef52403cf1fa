// Regression (issue 10): switching a listener between plain HTTP and TLS on the same address was refused with
// "tlsServer.setTicketKeys is not a function" after the old plain listener had already taken the new routes. Now the
// switch works without dropping a connection, and a reload refused at any point leaves every listener as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { Cleanup } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway, reloadGateway } from '../helpers/gateway.ts';
import { RawConnection, h1Request } from '../helpers/tls-clients.ts';
import type { Creds } from '../helpers/tls-clients.ts';

async function fixture(t: Cleanup) {
  const dir = tempDir(t, 'cg-switch-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const alice = await issueCert(ca, 'alice');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const creds: Creds = { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem };
  /** The first listener, plain or TLS, serving `route`; `extra` is appended (more servers, metrics). */
  const config = (o: { tls: boolean; route: string; extra?: string }) => `
servers:
  - listen: 127.0.0.1:0
${o.tls ? `    tls: {cert: ${server.certPath}, key: ${server.keyPath}}\n    clientAuth: {ca: ${ca.certPath}}\n` : ''}    routes:
      - {path: ${o.route}, upstream: "${upstream.url}"${o.tls ? '' : ', public: true'}}
${o.extra ?? ''}`;
  return { dir, creds, upstream, config, server, ca };
}

/** A port held by "another process": a plain TCP server the test owns. */
async function occupiedPort(t: Cleanup): Promise<number> {
  const holder: Server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  return (holder.address() as { port: number }).port;
}

/** What the listener answers right now on a fresh connection: plain and TLS, with the route given. */
async function probe(port: number, creds: Creds, path: string): Promise<{ plain: number | 'refused'; tls: number | 'refused' }> {
  let plain: number | 'refused' = 'refused';
  let tls: number | 'refused' = 'refused';
  const raw = await RawConnection.open(port, null);
  try {
    const r = await raw.get(path, 'localhost', 'Connection: close\r\n');
    if (r && r.status > 0) plain = r.status;
  } catch {
    // a TLS listener sends nothing parseable back to plain HTTP
  } finally {
    raw.close();
  }
  try {
    tls = (await h1Request(port, path, creds, { timeoutMs: 5_000 })).status;
  } catch {
    tls = 'refused';
  }
  return { plain, tls };
}

test('plain -> TLS on the same address: the open plain connection finishes its work, new connections speak TLS', async (t) => {
  const { dir, creds, config } = await fixture(t);
  const gw = await startGateway(t, dir, config({ tls: false, route: '/' }));
  const port = gw.port;
  const before = await RawConnection.open(port, null);
  t.after(() => before.close());
  assert.equal((await before.get('/one'))?.status, 200);
  // a request in flight across the reload
  before.write('GET /slow?ms=800 HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await new Promise((r) => setTimeout(r, 150));

  await reloadGateway(gw, dir, config({ tls: true, route: '/' }));
  assert.equal(gw.events('config.reload_refused').length, 0);
  const inflight = await before.readResponse();
  assert.equal(inflight?.status, 200, 'the in-flight plain request finished');
  // the idle plain connection is not cut under a client that may be sending: its next request is answered (by the
  // handler that accepted it), with Connection: close, and then it closes
  const next = await before.get('/two');
  assert.equal(next?.status, 200);
  assert.equal(next?.headers.connection, 'close');
  assert.equal(await before.waitClosed(5_000), true);

  const now = await probe(port, creds, '/three');
  assert.equal(now.tls, 200, 'new connections get TLS and the new config');
  assert.equal(now.plain, 'refused', 'plain HTTP is no longer spoken on the address');
  assert.equal(gw.gateway.addresses()[0].port, port);
  assert.equal(gw.gateway.addresses()[0].tls, true);
});

test('TLS -> plain on the same address: the open TLS connection keeps working until it closes, new ones are plain', async (t) => {
  const { dir, creds, config } = await fixture(t);
  const gw = await startGateway(t, dir, config({ tls: true, route: '/' }));
  const port = gw.port;
  const before = await RawConnection.open(port, creds);
  t.after(() => before.close());
  assert.equal((await before.get('/one'))?.status, 200);

  await reloadGateway(gw, dir, config({ tls: false, route: '/' }));
  const next = await before.get('/two');
  assert.equal(next?.status, 200, 'the TLS connection opened before still answers');
  assert.equal(next?.headers.connection, 'close');
  assert.equal(await before.waitClosed(5_000), true);

  const now = await probe(port, creds, '/three');
  assert.equal(now.plain, 200);
  assert.equal(now.tls, 'refused');

  // and back again: the address never stopped being bound
  await reloadGateway(gw, dir, config({ tls: true, route: '/' }));
  const back = await probe(port, creds, '/four');
  assert.equal(back.tls, 200);
  assert.equal(back.plain, 'refused');
  assert.equal(gw.events('gateway.listening').length, 1, 'bound once, at start');
});

test('a reload refused late (a second listener cannot bind) leaves the first listener exactly as it was', async (t) => {
  const { dir, creds, config } = await fixture(t);
  const busy = await occupiedPort(t);
  const gw = await startGateway(t, dir, config({ tls: false, route: '/old' }));
  const port = gw.port;
  const open = await RawConnection.open(port, null);
  t.after(() => open.close());
  assert.equal((await open.get('/old'))?.status, 200);

  // same protocol, new routes, plus a listener on a taken address
  const second = `  - listen: 127.0.0.1:${busy}\n    routes: [{path: /, upstream: "http://127.0.0.1:9", public: true}]\n`;
  await assert.rejects(reloadGateway(gw, dir, config({ tls: false, route: '/new', extra: second })), (err: NodeJS.ErrnoException) => err.code === 'CG_GATEWAY_LISTEN');
  assert.equal((await open.get('/old'))?.status, 200, 'open connection: old routes');
  assert.equal((await open.get('/new'))?.status, 404);
  let now = await probe(port, creds, '/old');
  assert.equal(now.plain, 200, 'new connection: old routes');
  assert.equal((await probe(port, creds, '/new')).plain, 404);

  // plain -> TLS plus the taken address: still plain, still the old routes
  await assert.rejects(reloadGateway(gw, dir, config({ tls: true, route: '/new', extra: second })), (err: NodeJS.ErrnoException) => err.code === 'CG_GATEWAY_LISTEN');
  now = await probe(port, creds, '/old');
  assert.deepEqual(now, { plain: 200, tls: 'refused' });
  assert.equal((await open.get('/old'))?.status, 200);
  assert.equal(open.closed, false, 'the open connection was not retired');
  assert.deepEqual(gw.gateway.addresses().map((a) => [a.port, a.tls]), [[port, false]]);
  assert.equal(gw.gateway.config.servers.length, 1);
});

test('a reload refused at its very end (metrics.listen moved to a taken address) changes nothing', async (t) => {
  const { dir, creds, config } = await fixture(t);
  const busy = await occupiedPort(t);
  const gw = await startGateway(t, dir, config({ tls: false, route: '/old', extra: 'metrics: {listen: 127.0.0.1:0}\n' }));
  const port = gw.port;
  await assert.rejects(reloadGateway(gw, dir, config({ tls: true, route: '/new', extra: `metrics: {listen: "127.0.0.1:${busy}"}\n` })),
    (err: NodeJS.ErrnoException) => err.code === 'CG_GATEWAY_LISTEN');
  assert.deepEqual(await probe(port, creds, '/old'), { plain: 200, tls: 'refused' });
  assert.equal((await probe(port, creds, '/new')).plain, 404);
  assert.equal(gw.gateway.config.metrics?.listen, '127.0.0.1:0');
  const metricsAt = String(gw.events('metrics.listening')[0].address);
  const res = await fetch(`http://${metricsAt}/metrics`);
  assert.equal(res.status, 200, 'the metrics endpoint still answers');
  await res.text();
});

test('a TLS setting that cannot be used on a second listener refuses the reload before the first one changes', async (t) => {
  const { dir, creds, config, server, upstream } = await fixture(t);
  const second = (ciphers: string) =>
    `  - listen: 127.0.0.1:0\n    tls: {cert: ${server.certPath}, key: ${server.keyPath}, ciphers: "${ciphers}"}\n    routes: [{path: /, upstream: "${upstream.url}", public: true}]\n`;
  const gw = await startGateway(t, dir, config({ tls: true, route: '/old', extra: second('ECDHE+AESGCM') }));
  await assert.rejects(reloadGateway(gw, dir, config({ tls: true, route: '/new', extra: second('NO-SUCH-CIPHER') })),
    (err: NodeJS.ErrnoException) => err.code === 'CG_CONFIG_TLS' && /not usable/.test(err.message));
  assert.equal((await h1Request(gw.port, '/old', creds)).status, 200);
  assert.equal((await h1Request(gw.port, '/new', creds)).status, 404);
  assert.equal((await h1Request(gw.gateway.addresses()[1].port, '/', creds)).status, 200);
});
