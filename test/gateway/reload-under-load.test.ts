// Reload under load: 20 keep-alive clients (10 HTTP/1.1, 10 HTTP/2) keep requesting while the config, the server
// certificate and the CRL change five times through the file watch. No request that should succeed fails; the
// certificate revoked on the way is refused afterwards; long requests and WebSockets in flight finish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir, crlPem } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { RawConnection, h2Session, h2Request, h1Request } from '../helpers/tls-clients.ts';
import { Ws } from '../helpers/ws-client.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { createGateway } from '../../src/gateway/gateway.ts';
import { createReloadController } from '../../src/gateway/reload.ts';
import { preflight } from '../../src/gateway/preflight.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';

/** Replaces a file the way deploy tools do: written aside, renamed over. */
function replace(path: string, text: string): void {
  writeFileSync(`${path}.new`, text);
  renameSync(`${path}.new`, path);
}

test('20 busy keep-alive clients see no failure while config, server certificate and CRL change five times', async (t) => {
  const dir = tempDir(t, 'cg-reload-load-');
  const ca = await makeCa(t, { passphrase: null });
  const serverA = await issueCert(ca, 'gateway-a', { profile: 'server' });
  const serverB = await issueCert(ca, 'gateway-b', { profile: 'server' });
  const alice = await issueCert(ca, 'alice');
  const mallory = await issueCert(ca, 'mallory');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  copyFileSync(serverA.certPath, join(dir, 'server.crt'));
  copyFileSync(serverA.keyPath!, join(dir, 'server.key'));
  writeFileSync(join(dir, 'ca.crl'), await crlPem(ca, []));
  const yaml = (extra: string) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: server.crt, key: server.key}
    clientAuth: {ca: ${ca.certPath}, crl: ca.crl}
    routes:
      - {path: /, upstream: "${upstream.url}", websocket: true}
${extra}`;
  const configPath = join(dir, 'certgate.yaml');
  writeFileSync(configPath, yaml(''));
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => void logs.push(JSON.parse(s)) } });
  const metrics = createMetrics({ processMetrics: false });
  const gateway = createGateway(loadConfigFile(configPath), { logger, metrics });
  const [{ port }] = await gateway.start();
  t.after(() => gateway.stop(500));
  const reloader = createReloadController({ configPath, gateway, logger, metrics, load: loadConfigFile, preflight, pollMs: 100 });
  reloader.watch();
  t.after(() => reloader.close());
  const creds = { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem };

  // work in flight across every change: two slow requests and two WebSockets
  const slow = [h1Request(port, '/slow?ms=4000', creds, { timeoutMs: 20_000 }), h1Request(port, '/slow?ms=4500', creds, { timeoutMs: 20_000 })];
  const sockets = [await Ws.open(port, ca.ca.certPem, '/ws1', alice), await Ws.open(port, ca.ca.certPem, '/ws2', alice)];
  t.after(() => { for (const w of sockets) w.close(); });
  for (const w of sockets) assert.equal(w.status, 101);

  // 20 clients, each on one keep-alive connection, requesting in a loop until told to stop
  let stop = false;
  const failures: string[] = [];
  let done = 0;
  const h1Clients = Array.from({ length: 10 }, async (_, i) => {
    const conn = await RawConnection.open(port, { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem, servername: 'localhost' });
    try {
      for (let n = 0; !stop && n < 5_000; n++) {
        const r = await conn.get(`/h1/${i}/${n}`);
        if (r?.status !== 200) failures.push(`h1 client ${i} request ${n}: ${r?.status ?? 'connection closed'}`);
        else done++;
        if (r === null) break;
      }
    } finally {
      conn.close();
    }
  });
  const h2Clients = Array.from({ length: 10 }, async (_, i) => {
    const session = await h2Session(port, creds);
    try {
      for (let n = 0; !stop && n < 5_000; n++) {
        const r = await h2Request(session, `/h2/${i}/${n}`).catch((err: Error) => ({ status: 0, body: err.message }));
        if (r.status !== 200) failures.push(`h2 client ${i} request ${n}: ${r.status} ${r.body.slice(0, 80)}`);
        else done++;
        if (session.closed || session.destroyed) break;
      }
    } finally {
      session.close();
    }
  });

  // five changes, each waited for (the reload or trust line), with traffic flowing in between
  const reloads = () => logs.filter((l) => l.event === 'config.reloaded').length;
  const trusts = () => logs.filter((l) => l.event === 'trust.reloaded').length;
  const waitFor = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`${what} not seen; last lines: ${JSON.stringify(logs.slice(-3))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
  };
  let r0 = reloads();
  replace(configPath, yaml('      - {path: /extra, upstream: "' + upstream.url + '"}\n'));
  await waitFor('config change 1', () => reloads() > r0);
  r0 = reloads();
  replace(join(dir, 'server.key'), serverB.keyPem);
  replace(join(dir, 'server.crt'), serverB.certPem);
  await waitFor('server certificate change', () => reloads() > r0);
  let t0 = trusts();
  replace(join(dir, 'ca.crl'), await crlPem(ca, [mallory]));
  await waitFor('CRL change', () => trusts() > t0);
  r0 = reloads();
  replace(configPath, yaml('      - {path: /extra2, upstream: "' + upstream.url + '"}\n'));
  await waitFor('config change 2', () => reloads() > r0);
  t0 = trusts();
  replace(join(dir, 'ca.crl'), await crlPem(ca, [mallory]));
  await waitFor('CRL rewrite', () => trusts() > t0);
  stop = true;
  await Promise.all([...h1Clients, ...h2Clients]);

  assert.deepEqual(failures, []);
  assert.ok(done >= 200, `only ${done} requests were made`);
  assert.deepEqual(logs.filter((l) => l.event === 'config.reload_refused'), []);
  // the revoked certificate is refused now, on new connections
  const refused = await h1Request(port, '/m', { ca: ca.ca.certPem, cert: mallory.certPem, key: mallory.keyPem });
  assert.equal(refused.status, 403);
  assert.match(refused.body, /revoked/);
  // new connections see the new server certificate and the new routes
  const conn = await RawConnection.open(port, { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem, servername: 'localhost' });
  t.after(() => conn.close());
  const peer = (conn.socket as import('node:tls').TLSSocket).getPeerX509Certificate();
  assert.match(String(peer?.subject), /gateway-b/);
  assert.equal((await conn.get('/extra2/x'))?.status, 200);
  // the work in flight finished: slow requests answered, WebSockets still echo
  for (const r of await Promise.all(slow)) assert.equal(r.status, 200);
  for (const w of sockets) assert.equal(await w.echo('still here'), 'still here');
});
