// `workers: 2` with the real CLI: two worker processes behind one address (SO_REUSEPORT), one set of TLS ticket keys
// (a session resumes on whichever worker the kernel picks), a revocation reaches every worker and the keep-alive
// connections already open on them, a killed worker is replaced, /metrics sums the workers, a reload that one part
// cannot apply is refused whole, and SIGTERM drains them all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { createServer } from 'node:net';
import { makeCa, issueCert, tempDir, writeCrl } from '../../helpers/pki.ts';
import type { TestCa, TestCert } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import { freePort } from '../../helpers/nginx.ts';
import { serve } from '../../helpers/serve-process.ts';
import { RawConnection } from '../../helpers/tls-clients.ts';

/** One TLS connection: whether it resumed the given session, and the session it ends with. */
function handshake(port: number, ca: TestCa, c: TestCert, session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let latest: Buffer | undefined;
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.ca.certPem, cert: c.certPem, key: c.keyPem, session, maxVersion: 'TLSv1.3' });
    s.on('session', (b: Buffer) => (latest = b));
    s.once('secureConnect', () => {
      // a TLS 1.3 ticket arrives just after the handshake: give it a moment, then close
      setTimeout(() => {
        resolve({ reused: s.isSessionReused(), session: latest });
        s.end();
      }, 100);
    });
    s.once('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('timeout')));
  });
}

async function get(port: number, ca: TestCa, c: TestCert, path: string): Promise<{ status: number; reason: string | undefined }> {
  const conn = await RawConnection.open(port, { ca: ca.ca.certPem, cert: c.certPem, key: c.keyPem, servername: 'localhost' });
  try {
    const r = await conn.get(path, 'localhost', 'Connection: close\r\n');
    return { status: r?.status ?? 0, reason: /<code>([a-z_]+)<\/code>/.exec(r?.body ?? '')?.[1] };
  } finally {
    conn.close();
  }
}

test('workers: 2 share one address, ticket keys, revocations, restarts, metrics, reloads and the drain', async (t) => {
  const dir = tempDir(t, 'cg-workers-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const alice = await issueCert(ca, 'alice');
  const bob = await issueCert(ca, 'bob');
  const crl = join(dir, 'ca.crl');
  await writeCrl(ca, crl, []);
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const [port, metricsPort] = [await freePort(), await freePort()];
  const yaml = (extra = '') => `
workers: 2
metrics: {listen: "127.0.0.1:${metricsPort}"}
servers:
  - listen: 127.0.0.1:${port}
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: ${crl}}
    routes: [{path: /, upstream: "${upstream.url}"}]
${extra}`;
  const configPath = join(dir, 'certgate.yaml');
  writeFileSync(configPath, yaml());
  const gw = serve(configPath, dir);
  t.after(() => gw.child.kill('SIGKILL'));
  await gw.waitFor((l) => l.event === 'gateway.ready', 30_000);
  const workers = gw.lines.find((l) => l.event === 'gateway.workers');
  assert.equal(workers?.workers, 2);
  assert.equal(workers?.scheduling, 'SO_REUSEPORT');
  // each worker binds the listener (its lines may reach stdout a moment after the primary's gateway.ready)
  await gw.waitFor(() => gw.lines.filter((l) => l.event === 'gateway.listening').length >= 2, 10_000);
  const childPids = () => execFileSync('pgrep', ['-P', String(gw.child.pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  assert.equal(childPids().length, 2);

  // one ticket, any worker: every one of 12 connections resumes the first session
  const first = await handshake(port, ca, alice);
  assert.ok(first.session, 'a session ticket was issued');
  let resumed = 0;
  for (let i = 0; i < 12; i++) if ((await handshake(port, ca, alice, first.session)).reused) resumed++;
  assert.equal(resumed, 12, 'sessions resume on every worker');

  // requests on both workers, summed on /metrics
  for (let i = 0; i < 10; i++) assert.equal((await get(port, ca, bob, `/n${i}`)).status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /^certgate_requests_total\{status="200",reason=""\} 10$/m);
  assert.match(metrics, /^certgate_workers 2$/m);
  assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);

  // a revocation reaches every worker: keep-alive connections opened before it (on whichever worker) and new ones
  const open: RawConnection[] = [];
  for (let i = 0; i < 6; i++) open.push(await RawConnection.open(port, { ca: ca.ca.certPem, cert: bob.certPem, key: bob.keyPem, servername: 'localhost' }));
  t.after(() => { for (const c of open) c.close(); });
  for (const c of open) assert.equal((await c.get('/before'))?.status, 200);
  await writeCrl(ca, crl, [bob]);
  await gw.waitFor((l) => l.event === 'trust.reloaded' && gw.lines.filter((x) => x.event === 'trust.reloaded').length >= 2, 10_000);
  for (const c of open) {
    const r = await c.get('/after');
    assert.equal(r?.status, 403);
    assert.match(r?.body ?? '', /<code>revoked<\/code>/);
  }
  for (let i = 0; i < 6; i++) assert.deepEqual(await get(port, ca, bob, '/new'), { status: 403, reason: 'revoked' });
  assert.equal((await get(port, ca, alice, '/alice')).status, 200);

  // a killed worker is replaced
  const [victim] = childPids();
  process.kill(victim, 'SIGKILL');
  await gw.waitFor((l) => l.event === 'worker.replaced', 15_000);
  assert.equal(childPids().length, 2);
  assert.ok(!childPids().includes(victim));
  assert.match(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(), /^certgate_worker_restarts_total 1$/m);
  // the new worker has the revocation and the shared ticket keys of the others
  for (let i = 0; i < 4; i++) assert.deepEqual(await get(port, ca, bob, '/after-restart'), { status: 403, reason: 'revoked' });

  // a reload that cannot be applied (a new listener on a port another process holds) is refused whole
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => blocker.close());
  const busy = (blocker.address() as { port: number }).port;
  writeFileSync(configPath, yaml(`  - listen: 127.0.0.1:${busy}\n    routes: [{path: /, upstream: "${upstream.url}", public: true}]\n`).replace('routes: [{path: /, upstream', 'routes: [{path: /moved, upstream'));
  process.kill(gw.child.pid!, 'SIGHUP');
  const refused = await gw.waitFor((l) => l.event === 'config.reload_refused', 15_000);
  assert.match(String(refused.msg), /EADDRINUSE/);
  for (let i = 0; i < 4; i++) assert.equal((await get(port, ca, alice, '/still-root')).status, 200, 'the old routes keep serving on every worker');

  // SIGTERM drains every worker, then the primary exits 0
  process.kill(gw.child.pid!, 'SIGTERM');
  assert.equal(await gw.exited, 0);
  await new Promise((r) => setTimeout(r, 200));
  assert.throws(() => execFileSync('pgrep', ['-P', String(gw.child.pid)]), 'no worker is left');
});
