// A fleet, as real processes on 127.0.0.1: `certgate ca serve`, three `certgate serve` replicas with
// clientAuth.crl: http://… behind HAProxy in TCP mode (send-proxy-v2). A revocation reaches every replica, on new
// and open keep-alive connections, within 2 s; the fleet rides out the CA service being down; bad CRLs are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { Cleanup, TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import type { EchoUpstream } from '../helpers/echo-upstream.ts';
import { runCli } from '../helpers/cli.ts';
import { serve, startCli } from '../helpers/serve-process.ts';
import type { Served } from '../helpers/serve-process.ts';
import { pemDecodeAll, pemEncode } from '../../src/core/pem.ts';

/** A port free right now on 127.0.0.1 (a process restarted on it must find it again). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Creds {
  ca: string;
  cert: string;
  key: string;
}

/** One GET; `agent` keeps the connection open between calls (keep-alive). Status 0: no answer. */
function get(port: number, creds: Creds, from: string, agent: Agent | false = false): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve) => {
    const req = httpsRequest({
      host: '127.0.0.1', port, path: '/', agent, localAddress: agent ? undefined : from, ca: creds.ca, cert: creds.cert, key: creds.key,
      servername: 'localhost', timeout: 5_000,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '', reused: false }));
    req.end();
  });
}

/** A keep-alive client bound to one TCP connection (one socket, reused), from `from`. */
function keepAlive(t: Cleanup, from: string): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: from } as ConstructorParameters<typeof Agent>[0]);
  t.after(() => agent.destroy());
  return agent;
}

/** Milliseconds until `probe` answers 403 (polled every 25 ms), or Infinity after `limitMs`. */
async function msUntilRefused(probe: () => Promise<{ status: number }>, since: number, limitMs = 5_000): Promise<number> {
  while (Date.now() - since < limitMs) {
    if ((await probe()).status === 403) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 25));
  }
  return Infinity;
}

interface Fleet {
  root: TestCa;
  pass: string[];
  alice: TestCert;
  bob: TestCert;
  creds: (c: TestCert) => Creds;
  upstream: EchoUpstream;
  caPort: number;
  ports: number[];
  lbPort: number;
  replicas: Served[];
  ca: Served;
  startCa(): Promise<Served>;
  startReplica(i: number): Promise<Served>;
  configs: string[];
}

async function fleet(t: Cleanup): Promise<Fleet> {
  const dir = tempDir(t, 'cg-fleet-');
  const root = await makeCa(t, { days: 60 });
  const pass = ['--passphrase-file', root.passphraseFile!];
  const server = await issueCert(root, 'gateway', { profile: 'server', days: 30 });
  const alice = await issueCert(root, 'alice');
  const bob = await issueCert(root, 'bob');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const caPort = await freePort();
  const ports = [await freePort(), await freePort(), await freePort()];
  const lbPort = await freePort();
  const crlUrl = `http://127.0.0.1:${caPort}/crl-bundle.pem`;
  const configs = ports.map((port, i) => {
    const path = join(dir, `replica-${i}.yaml`);
    writeFileSync(path, `
servers:
  - listen: 127.0.0.1:${port}
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${root.certPath}, crl: "${crlUrl}", crlRefresh: 2s}
    proxyProtocol: {from: [127.0.0.1/32]}
    routes:
      - {path: /, upstream: "${upstream.url}"}
stateDir: ${join(dir, `state-${i}`)}
# replica 0 runs two worker processes (the primary fetches, workers read its stateDir cache); the others one
workers: ${i === 0 ? 2 : 1}
`);
    return path;
  });
  const started: Served[] = [];
  t.after(() => {
    for (const s of started) s.child.kill('SIGKILL');
  });
  const f: Fleet = {
    root, pass, alice, bob, upstream, caPort, ports, lbPort, configs, replicas: [], ca: undefined as unknown as Served,
    creds: (c) => ({ ca: root.ca.certPem, cert: c.certPem, key: c.keyPem }),
    async startCa() {
      const ca = startCli(['ca', 'serve', '--dir', root.dir, '--listen', `127.0.0.1:${caPort}`, ...pass], dir);
      started.push(ca);
      await ca.port();
      f.ca = ca;
      return ca;
    },
    async startReplica(i) {
      const r = serve(configs[i], dir);
      started.push(r);
      await r.waitFor((l) => l.event === 'gateway.ready', 45_000);
      f.replicas[i] = r;
      return r;
    },
  };
  await f.startCa();
  await Promise.all([0, 1, 2].map((i) => f.startReplica(i)));

  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, `global
  maxconn 200
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:${lbPort}
  default_backend replicas
backend replicas
  balance roundrobin
${ports.map((p, i) => `  server r${i} 127.0.0.1:${p} send-proxy-v2`).join('\n')}
`);
  const lb = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let lbOut = '';
  lb.stdout.on('data', (d) => (lbOut += d));
  lb.stderr.on('data', (d) => (lbOut += d));
  const killLb = setTimeout(() => lb.kill('SIGKILL'), 120_000);
  t.after(() => {
    clearTimeout(killLb);
    lb.kill('SIGKILL');
  });
  // bounded wait for HAProxy to bind
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createNetServer();
      s.once('error', () => resolve(true)); // in use: HAProxy has it
      s.listen(lbPort, '127.0.0.1', () => s.close(() => resolve(false)));
    });
    if (ok) break;
    assert.ok(Date.now() < deadline && lb.exitCode === null, `haproxy did not start: ${lbOut}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return f;
}

test('fleet: through HAProxy, a revocation reaches three replicas within 2 s; CA service down and back', { timeout: 120_000 }, async (t) => {
  const f = await fleet(t);
  const alice = f.creds(f.alice);
  const bob = f.creds(f.bob);

  // through the balancer: round robin over the three replicas, the client's own address reaches the upstream
  for (let i = 0; i < 3; i++) assert.equal((await get(f.lbPort, alice, '127.0.0.3')).status, 200);
  const viaLb = f.upstream.seen.slice(-3).map((s) => s.headers['x-forwarded-for']);
  assert.deepEqual(viaLb, ['127.0.0.3', '127.0.0.3', '127.0.0.3'], 'X-Forwarded-For names the client, not HAProxy (127.0.0.1)');
  assert.equal(f.upstream.seen[f.upstream.seen.length - 1].headers['x-real-ip'], '127.0.0.3');
  // every replica served one of them, and logged the client's address
  for (const r of f.replicas) await r.waitFor((l) => l.event === 'access' && l.ip === '127.0.0.3', 5_000);

  // open keep-alive connections: one per replica directly (from 127.0.0.2, no PROXY header), one through the balancer
  const direct = f.ports.map(() => keepAlive(t, '127.0.0.2'));
  const viaBalancer = keepAlive(t, '127.0.0.3');
  for (const [i, agent] of direct.entries()) assert.equal((await get(f.ports[i], alice, '', agent)).status, 200);
  assert.equal((await get(f.lbPort, alice, '', viaBalancer)).status, 200);

  const revoked = await runCli(['cert', 'revoke', 'alice', '--dir', f.root.dir, ...f.pass]);
  assert.equal(revoked.code, 0, revoked.stderr);
  const since = Date.now();
  const times = await Promise.all([
    ...f.ports.map((p) => msUntilRefused(() => get(p, alice, '127.0.0.2'), since)),
    ...direct.map((agent, i) => msUntilRefused(() => get(f.ports[i], alice, '', agent), since)),
    msUntilRefused(() => get(f.lbPort, alice, '127.0.0.3'), since),
    msUntilRefused(() => get(f.lbPort, alice, '', viaBalancer), since),
  ]);
  t.diagnostic(`ms until refused: new connections ${times.slice(0, 3)}, keep-alive ${times.slice(3, 6)}, via LB new ${times[6]}, via LB keep-alive ${times[7]}`);
  for (const ms of times) assert.ok(ms < 2_000, `every replica refuses within 2 s: ${times.join(', ')} ms`);
  for (const [i, agent] of direct.entries()) {
    const again = await get(f.ports[i], alice, '', agent);
    assert.equal(again.status, 403);
    assert.equal(again.reused, true, 'the keep-alive connection itself was refused, not a new one');
  }
  for (const r of f.replicas) await r.waitFor((l) => l.event === 'crl.updated');

  // the CA service dies: replicas keep serving with the last good CRL
  f.ca.child.kill('SIGKILL');
  await f.ca.exited;
  for (const p of f.ports) {
    assert.equal((await get(p, bob, '127.0.0.2')).status, 200);
    assert.equal((await get(p, alice, '127.0.0.2')).status, 403);
  }
  // a replica restarted meanwhile starts from its disk cache and still refuses alice
  f.replicas[0].child.kill('SIGTERM');
  assert.equal(await f.replicas[0].exited, 0);
  const restarted = await f.startReplica(0);
  const loaded = await restarted.waitFor((l) => l.event === 'crl.loaded');
  assert.equal(loaded.from, 'cache');
  assert.ok(restarted.lines.some((l) => l.event === 'crl.fetch_failed' && l.reason === 'unreachable'), 'it tried the CA service first');
  assert.equal((await get(f.ports[0], alice, '127.0.0.2')).status, 403);
  assert.equal((await get(f.ports[0], bob, '127.0.0.2')).status, 200);

  // the CA service comes back: the next revocation propagates again (replicas retry within crlRefresh: 2s)
  await f.startCa();
  const second = await runCli(['cert', 'revoke', 'bob', '--dir', f.root.dir, ...f.pass]);
  assert.equal(second.code, 0, second.stderr);
  const again = Date.now();
  const later = await Promise.all(f.ports.map((p) => msUntilRefused(() => get(p, bob, '127.0.0.2'), again, 10_000)));
  t.diagnostic(`after the CA service restart: ms until bob refused ${later}`);
  for (const ms of later) assert.ok(ms < 10_000, `bob refused everywhere: ${later.join(', ')} ms`);
  assert.equal((await get(f.lbPort, bob, '127.0.0.3')).status, 403);
});

test('fleet: a CRL with a broken signature, from another CA, or with a lower number is refused; the last good one stays', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t, 'cg-badcrl-');
  const root = await makeCa(t, { passphrase: null, days: 60 });
  const stranger = await makeCa(t, { passphrase: null, name: 'Stranger CA' });
  const server = await issueCert(root, 'gateway', { profile: 'server', days: 30 });
  const alice = await issueCert(root, 'alice');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const older = readFileSync(join(root.dir, 'crl-bundle.pem'));
  const revoked = await runCli(['cert', 'revoke', 'alice', '--dir', root.dir]);
  assert.equal(revoked.code, 0, revoked.stderr);
  const good = readFileSync(join(root.dir, 'crl-bundle.pem'));
  assert.ok(!good.equals(older));
  const [block] = pemDecodeAll(good.toString('latin1'));
  const der = Buffer.from(block.der);
  der[der.length - 1] ^= 0x01; // last byte of the signature
  const broken = Buffer.from(pemEncode('X509 CRL', der));
  const foreign = readFileSync(join(stranger.dir, 'crl.pem'));

  // a plain web server (no long-poll): conditional GET by ETag, the body swapped by the test
  let body: Buffer = good;
  let version = 1;
  const http = createHttpServer((req, res) => {
    const etag = `"v${version}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    res.writeHead(200, { etag, 'content-type': 'application/x-pem-file' }).end(body);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => http.close(() => r())));
  const port = (http.address() as { port: number }).port;
  const config = join(dir, 'certgate.yaml');
  const metricsPort = await freePort();
  writeFileSync(config, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${root.certPath}, crl: "http://127.0.0.1:${port}/crl-bundle.pem", crlRefresh: 300ms}
    routes:
      - {path: /, upstream: "${upstream.url}"}
stateDir: ${join(dir, 'state')}
metrics: {listen: "127.0.0.1:${metricsPort}"}
`);
  const r = serve(config, dir);
  t.after(() => void r.child.kill('SIGKILL'));
  const gwPort = await r.port();
  const creds = { ca: root.ca.certPem, cert: alice.certPem, key: alice.keyPem };
  assert.equal((await get(gwPort, creds, '127.0.0.1')).status, 403, 'the good CRL revokes alice');

  const cases: Array<[string, Buffer, string]> = [
    ['broken signature', broken, 'bad_signature'],
    ['another CA', foreign, 'unknown_issuer'],
    ['lower CRL number', older, 'number_backwards'],
  ];
  for (const [name, served, reason] of cases) {
    body = served;
    version++;
    const line = await r.waitFor((l) => l.event === 'crl.refused' && l.reason === reason, 10_000);
    assert.match(String(line.msg), /refused: .*the last good CRL stays in force/, name);
    assert.equal((await get(gwPort, creds, '127.0.0.1')).status, 403, `${name}: alice stays revoked`);
  }
  assert.equal(r.lines.filter((l) => l.event === 'crl.updated').length, 0, 'no refused CRL was put in force');
  assert.equal(r.lines.filter((l) => l.event === 'trust.reloaded').length, 0, 'trust never reloaded for a refused CRL');

  // per-URL metrics: failures by reason, the CRL number in force, the last success
  const url = `http://127.0.0.1:${port}/crl-bundle.pem`;
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  for (const reason of ['bad_signature', 'unknown_issuer', 'number_backwards']) {
    assert.match(text, new RegExp(`certgate_crl_fetch_failures_total\\{url="${url}",reason="${reason}"\\} [1-9]`));
  }
  assert.match(text, new RegExp(`certgate_crl_number\\{url="${url}"\\} [1-9]`));
  assert.match(text, new RegExp(`certgate_crl_fetch_last_success_seconds\\{url="${url}"\\} [1-9]`));

  // after a CA restore the numbers really go back: the operator accepts it once, the running gateway follows
  const reset = await runCli(['crl', 'accept-reset', '-c', config, '--url', url], { cwd: dir });
  assert.equal(reset.code, 0, reset.stderr);
  await r.waitFor((l) => l.event === 'crl.reset_accepted', 10_000);
  await r.waitFor((l) => l.event === 'crl.updated', 5_000);
  assert.equal((await get(gwPort, creds, '127.0.0.1')).status, 200, 'the restored CRL (without alice) is in force');
  const unknown = await runCli(['crl', 'accept-reset', '-c', config, '--url', 'http://elsewhere/crl.pem'], { cwd: dir });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /names no CRL URL http:\/\/elsewhere\/crl\.pem/);
});

test('fleet: a replica that never had a CRL and cannot fetch one does not start; a fallback file lets it', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t, 'cg-crlstart-');
  const root = await makeCa(t, { passphrase: null, days: 60 });
  const server = await issueCert(root, 'gateway', { profile: 'server', days: 30 });
  const closed = await freePort();
  const config = (fallback: string) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${root.certPath}, crl: [{url: "http://127.0.0.1:${closed}/crl-bundle.pem"${fallback}}]}
    routes:
      - {path: /, upstream: "http://127.0.0.1:9"}
stateDir: ${join(dir, 'state')}
`;
  writeFileSync(join(dir, 'none.yaml'), config(''));
  const check = await runCli(['check', '-c', 'none.yaml'], { cwd: dir });
  assert.equal(check.code, 1);
  assert.match(check.stdout, /^error: CRL URL http:\/\/127\.0\.0\.1:\d+\/crl-bundle\.pem: cannot fetch it \(ECONNREFUSED\); there is no cached copy .* and no fallback file/m);
  const refused = await runCli(['serve', '-c', 'none.yaml'], { cwd: dir, timeoutMs: 30_000 });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^certgate: refusing to start: a CRL URL has no verified copy/m);

  writeFileSync(join(dir, 'fallback.yaml'), config(`, fallback: ${join(root.dir, 'crl-bundle.pem')}`));
  assert.equal((await runCli(['check', '-c', 'fallback.yaml'], { cwd: dir })).code, 0);
  const r = serve(join(dir, 'fallback.yaml'), dir);
  t.after(() => void r.child.kill('SIGKILL'));
  await r.waitFor((l) => l.event === 'gateway.ready');
  const loaded = r.lines.find((l) => l.event === 'crl.loaded');
  assert.equal(loaded?.from, 'fallback');
  r.child.kill('SIGTERM');
  assert.equal(await r.exited, 0, 'timers and sockets of the fetcher do not keep it running');
});
