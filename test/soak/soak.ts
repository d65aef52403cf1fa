// Soak: a real `certgate serve` process under good clients and hostile ones at once (silent TCP, half ClientHellos,
// HTTP/2 stream floods, rapid resets, slow readers, WebSocket churn) while certificates are revoked, for a bounded
// time on 127.0.0.1; then checks what the good clients saw, revocations, descriptors, the live heap
// (after a full collection, through the gateway's inspector), RSS and CLOSE-WAIT.
// By hand: `npx node test/soak/soak.ts 300` (seconds). In `npm test`: test/soak/soak.test.ts, a short run.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import type { Socket, AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Agent, request as httpsRequest } from 'node:https';
import { connect as h2Connect, constants as h2c } from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { makeCa, issueCert } from '../helpers/pki.ts';
import type { TestCa, TestCert, Cleanup } from '../helpers/pki.ts';
import { startEchoUpstream, encodeFrame } from '../helpers/echo-upstream.ts';
import { CLI_ENTRY } from '../helpers/cli.ts';
import { HeapProbe, inspectorUrlIn } from '../helpers/heap-probe.ts';
import { buildCrl } from '../../src/pki/crl.ts';

export interface SoakReport {
  seconds: number;
  goodRequests: number;
  /** Good-client answers other than the expected 200 (status or error text), at most 20 kept. */
  goodFailures: string[];
  goodFailureCount: number;
  /** Per revoked certificate: when all paths (keep-alive h1, open h2 session, new connection) were refused, 2xx seen
   * after the effect delay, when its WebSocket was closed, and the distinct answer triples seen (h1, h2, new). */
  revocations: Array<{ serial: string; at: number; refusedAfterMs: number | null; okAfterEffect: number; wsClosedAfterMs: number | null; seen: string[] }>;
  hostile: Record<string, number>;
  fds: { start: number; peak: number; end: number };
  /** RSS at the start (after warm-up and a full collection), half-way through the run, its peak, once the clients
   * left, and after a full collection at the end. */
  rssMiB: { start: number; mid: number; peak: number; afterLoad: number; end: number };
  /** JavaScript heap still reachable after a full collection, in the gateway process (see heap-probe.ts). */
  liveHeapMiB: { start: number; mid: number; end: number };
  closeWait: number;
  gatewayExit: number | null;
  /** SIGTERM to exit (null: still running after 25 s). */
  drainMs: number | null;
  /** Sockets the gateway process still had at the end (state, queues, addresses). */
  held: string[];
  /** The end of the gateway's log, for a person reading a failed run. */
  logTail: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function procFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

function procRssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : -1;
  } catch {
    return -1;
  }
}

/** Sockets in CLOSE-WAIT on the gateway's side of `port` (the gateway has not closed what the client closed). */
function closeWaitCount(port: number): number {
  const out = execFileSync('ss', ['-tanH', 'state', 'close-wait', `( sport = :${port} )`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

/** The first bytes a real TLS client sends (its ClientHello), captured once from node:tls against a local socket. */
async function captureClientHello(): Promise<Buffer> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => server.once('connection', (s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); })));
  const c = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost' });
  c.on('error', () => undefined);
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

let crlNumber = 1n;
async function writeCrl(ca: TestCa, file: string, revoked: TestCert[]): Promise<void> {
  const now = Date.now();
  const pem = await buildCrl({
    issuerCert: ca.ca.cert, signingKey: ca.ca.privateKey, crlNumber: crlNumber++, thisUpdate: new Date(now - 60_000), nextUpdate: new Date(now + 86_400_000),
    entries: revoked.map((c) => ({ serial: c.record.serial, revokedAt: new Date(now - 1_000), reason: 'keyCompromise' })),
  });
  writeFileSync(file + '.tmp', pem);
  // atomic, as `certgate cert revoke` writes it
  execFileSync('mv', [file + '.tmp', file]);
}

interface Creds { ca: string; cert?: string; key?: string }
const credsOf = (ca: TestCa, c?: TestCert): Creds => ({ ca: ca.ca.certPem, cert: c?.certPem, key: c?.keyPem });

/** One HTTP/1.1 request on a keep-alive agent; resolves with the status (or an error text), never rejects. */
function h1Get(agent: Agent, port: number, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, agent, servername: 'localhost', headers: { host: 'localhost' }, timeout: 8_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', (e) => resolve(`error:${e.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(`error:${(e as NodeJS.ErrnoException).code ?? e.message}`));
    req.end();
  });
}

function h2Get(session: ClientHttp2Session, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    if (session.closed || session.destroyed) {
      resolve('error:session closed');
      return;
    }
    const s = session.request({ ':path': path, ':authority': 'localhost' });
    const timer = setTimeout(() => s.close(h2c.NGHTTP2_CANCEL), 8_000);
    let status: number | string = 'error:no headers';
    s.on('response', (h) => (status = Number(h[':status'])));
    s.on('error', (e) => (status = `error:${e.message}`));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(status);
    });
    s.resume();
    s.end();
  });
}

function h2Open(port: number, creds: Creds): Promise<ClientHttp2Session | null> {
  return new Promise((resolve) => {
    const s = h2Connect(`https://localhost:${port}`, { ...creds, servername: 'localhost', host: '127.0.0.1' } as never);
    s.on('error', () => resolve(null));
    s.once('connect', () => resolve(s));
    setTimeout(() => resolve(null), 5_000).unref();
  });
}

/** Opens a WebSocket through the gateway; resolves with the socket after 101, or why it failed. */
function wsOpen(port: number, creds: Creds, path = '/ws'): Promise<Socket | string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ...creds, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => { s.destroy(); resolve('timeout'); }, 8_000);
    s.on('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(`error:${e.code ?? e.message}`); });
    s.once('secureConnect', () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      s.once('data', (d: Buffer) => {
        clearTimeout(timer);
        const line = d.toString('latin1').split('\r\n')[0];
        if (line.startsWith('HTTP/1.1 101')) resolve(s);
        else { s.destroy(); resolve(line); }
      });
    });
  });
}

/** Runs the soak for `seconds` and returns what it saw; `t` cleans up temp files and processes. */
export async function runSoak(t: Cleanup, seconds: number): Promise<SoakReport> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-soak-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const good = await issueCert(ca, 'good-client');
  const victims = [await issueCert(ca, 'victim-1'), await issueCert(ca, 'victim-2')];
  const crlFile = join(dir, 'ca.crl');
  await writeCrl(ca, crlFile, []);
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const yaml = join(dir, 'certgate.yaml');
  writeFileSync(yaml, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: ${crlFile}}
    timeouts: {handshake: 3s, header: 3s, idle: 30s, tunnelIdle: 10s}
    routes:
      - {path: /, upstream: "${upstream.url}"}
      - path: /public
        public: true
        # the flood's POST bodies never come: a request whose client vanished unnoticed would hold its upstream
        # connection until this read timeout (seen once under CI load, 2026-12-07); the settle wait below outlasts it
        timeouts: {read: 10s}
        upstream: {url: "${upstream.url}", limits: {connections: 32, queue: 64, queueTimeout: 2s}}
log: {level: info, access: false}
`);
  const gw: ChildProcess = spawn(process.execPath, ['--inspect=127.0.0.1:0', CLI_ENTRY, 'serve', '-c', yaml], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  gw.stdout!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-20_000); });
  gw.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-20_000); });
  let exit: number | null = null;
  const exited = new Promise<void>((r) => gw.once('exit', (code) => { exit = code; r(); }));
  t.after(async () => {
    if (exit === null) {
      gw.kill('SIGKILL');
      await exited;
    }
  });
  let port = 0;
  for (let i = 0; i < 600 && port === 0; i++) {
    const m = /"event":"gateway.listening"[^\n]*"address":"127\.0\.0\.1:(\d+)"/.exec(log);
    if (m) port = Number(m[1]);
    else await sleep(100);
  }
  if (port === 0) throw new Error(`the gateway did not start:\n${log}`);
  const pid = gw.pid!;
  const inspectorUrl = inspectorUrlIn(log);
  if (!inspectorUrl) throw new Error(`the gateway did not print its inspector address:\n${log}`);
  const probe = await HeapProbe.attach(inspectorUrl);
  t.after(() => probe.close());
  const hello = await captureClientHello();

  // warm-up: the baseline is taken once the process has served its first requests
  const goodAgent = new Agent({ keepAlive: true, maxSockets: 4, ...credsOf(ca, good) });
  for (let i = 0; i < 20; i++) await h1Get(goodAgent, port, '/warm');
  await sleep(300);
  const fds = { start: procFds(pid), peak: 0, end: 0 };
  // both baselines after a full collection, as the end figures are
  const liveHeap = { start: await probe.liveHeapMiB(), mid: 0, end: 0 };
  const rss = { start: procRssMiB(pid), mid: 0, peak: 0, afterLoad: 0, end: 0 };
  const deadline = Date.now() + seconds * 1000;
  const running = () => Date.now() < deadline;
  const hostile: Record<string, number> = { silentTcp: 0, halfHello: 0, h2FloodStreams: 0, rapidResetStreams: 0, slowReaders: 0, wsChurn: 0 };
  const goodFailures: string[] = [];
  let goodFailureCount = 0;
  let goodRequests = 0;
  const fail = (what: string) => {
    goodFailureCount++;
    if (goodFailures.length < 20) goodFailures.push(what);
  };
  const midAt = Date.now() + (seconds * 1000) / 2;
  const sampler = setInterval(() => {
    fds.peak = Math.max(fds.peak, procFds(pid));
    rss.peak = Math.max(rss.peak, procRssMiB(pid));
    if (rss.mid === 0 && Date.now() >= midAt) rss.mid = procRssMiB(pid);
    upstream.seen.length = 0; // the echo upstream keeps every request; a long run must not grow the test process
  }, 250);

  const actors: Array<Promise<void>> = [];
  const loop = (fn: () => Promise<void>) => actors.push((async () => { while (running()) await fn(); })());

  // good clients: HTTP/1.1 keep-alive and HTTP/2, always 200
  for (let w = 0; w < 2; w++) loop(async () => {
    const r = await h1Get(goodAgent, port, '/good');
    goodRequests++;
    if (r !== 200) fail(`h1 /good -> ${r}`);
  });
  loop(async () => {
    const s = await h2Open(port, credsOf(ca, good));
    if (!s) { fail('h2 connect failed'); await sleep(200); return; }
    for (let i = 0; i < 50 && running(); i++) {
      const r = await h2Get(s, '/good-h2');
      goodRequests++;
      if (r !== 200) fail(`h2 /good-h2 -> ${r}`);
    }
    s.close();
  });
  // silent TCP: connect, send nothing, hold past the handshake deadline or not, close
  for (let w = 0; w < 8; w++) loop(async () => {
    const s = netConnect(port, '127.0.0.1');
    s.on('error', () => undefined);
    hostile.silentTcp++;
    await sleep(500 + Math.floor(Math.random() * 4_000));
    s.destroy();
  });
  // half a ClientHello, then silence
  for (let w = 0; w < 4; w++) loop(async () => {
    const s = netConnect(port, '127.0.0.1', () => s.write(hello.subarray(0, Math.max(5, Math.floor(hello.length / 2)))));
    s.on('error', () => undefined);
    hostile.halfHello++;
    await sleep(300 + Math.floor(Math.random() * 1_500));
    s.end();
    await sleep(50);
    s.destroy();
  });
  // HTTP/2 stream flood without a certificate: POSTs whose bodies never come, on the public route
  loop(async () => {
    const s = await h2Open(port, credsOf(ca));
    if (!s) { await sleep(200); return; }
    s.on('error', () => undefined);
    for (let i = 0; i < 300 && !s.destroyed; i++) {
      try {
        const st = s.request({ ':method': 'POST', ':path': '/public/flood', ':authority': 'localhost', 'content-length': '100' });
        st.on('error', () => undefined);
        hostile.h2FloodStreams++;
      } catch {
        break;
      }
    }
    await sleep(1_500);
    s.destroy();
  });
  // rapid reset: open and cancel at once, until the gateway sends GOAWAY
  loop(async () => {
    const s = await h2Open(port, credsOf(ca));
    if (!s) { await sleep(200); return; }
    s.on('error', () => undefined);
    let away = false;
    s.once('goaway', () => (away = true));
    for (let i = 0; i < 5_000 && !away && !s.destroyed && running(); i++) {
      try {
        const st = s.request({ ':path': '/public/rr', ':authority': 'localhost' });
        st.on('error', () => undefined);
        st.close(h2c.NGHTTP2_CANCEL);
        hostile.rapidResetStreams++;
      } catch {
        break;
      }
      if (i % 100 === 99) await sleep(1);
    }
    s.destroy();
    await sleep(200);
  });
  // slow readers: ask for a large body, never read it
  for (let w = 0; w < 2; w++) loop(async () => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca: ca.ca.certPem, ALPNProtocols: ['http/1.1'] });
    s.on('error', () => undefined);
    s.once('secureConnect', () => {
      s.write('GET /public/bytes?n=4000000 HTTP/1.1\r\nHost: localhost\r\n\r\n');
      s.pause();
    });
    hostile.slowReaders++;
    await sleep(1_000 + Math.floor(Math.random() * 2_000));
    s.destroy();
  });
  // WebSocket churn with a good certificate: open, one message, close
  loop(async () => {
    const ws = await wsOpen(port, credsOf(ca, good));
    if (typeof ws === 'string') { fail(`websocket open failed: ${ws}`); await sleep(200); return; }
    hostile.wsChurn++;
    ws.write(encodeFrame(1, Buffer.from('ping'), true));
    await sleep(50);
    ws.destroy();
  });

  // the live heap under full load, half-way through
  actors.push((async () => {
    await sleep(midAt - Date.now());
    liveHeap.mid = await probe.liveHeapMiB();
  })());

  // revocations while all this runs: each victim has an open h1 connection, an h2 session and a WebSocket first
  const revocations: SoakReport['revocations'] = [];
  const revoked: TestCert[] = [];
  for (const [n, victim] of victims.entries()) {
    actors.push((async () => {
      await sleep(seconds * 1000 * (0.3 + 0.35 * n));
      if (!running()) return;
      const agent = new Agent({ keepAlive: true, maxSockets: 1, ...credsOf(ca, victim) });
      const session = await h2Open(port, credsOf(ca, victim));
      const opened = await wsOpen(port, credsOf(ca, victim));
      const ws = typeof opened === 'string' ? null : opened;
      if (ws === null) fail(`victim ${n} websocket: ${opened}`);
      const before = await h1Get(agent, port, '/victim');
      if (before !== 200) fail(`victim ${n} before revocation -> ${before}`);
      revoked.push(victim);
      await writeCrl(ca, crlFile, revoked);
      const at = Date.now();
      const entry: SoakReport['revocations'][number] = { serial: victim.record.serial, at, refusedAfterMs: null, okAfterEffect: 0, wsClosedAfterMs: null, seen: [] };
      revocations.push(entry);
      const seen = new Set<string>();
      ws?.once('close', () => (entry.wsClosedAfterMs = Date.now() - at));
      // sample every path until well past the file-watch delay; the effect is the first sample refused on all paths,
      // and after it no path may answer 2xx again
      while (Date.now() - at < 6_000) {
        const rs = [await h1Get(agent, port, '/victim'), session ? await h2Get(session, '/victim-h2') : 403];
        const fresh = new Agent({ keepAlive: false, ...credsOf(ca, victim) });
        rs.push(await h1Get(fresh, port, '/victim-new'));
        fresh.destroy();
        const ok = rs.some((r) => typeof r === 'number' && r >= 200 && r < 300);
        seen.add(rs.join(','));
        if (entry.refusedAfterMs === null && rs.every((r) => r === 403)) entry.refusedAfterMs = Date.now() - at;
        else if (ok && entry.refusedAfterMs !== null) entry.okAfterEffect++;
        await sleep(100);
      }
      entry.seen = [...seen].slice(0, 10);
      agent.destroy();
      session?.destroy();
      ws?.destroy();
    })());
  }

  await Promise.all(actors);
  clearInterval(sampler);
  goodAgent.destroy();
  // settle: everything the clients opened is closed; the gateway must let go of all of it
  let closeWait = closeWaitCount(port);
  for (let i = 0; i < 120; i++) {
    fds.end = procFds(pid);
    closeWait = closeWaitCount(port);
    if (fds.end <= fds.start + 8 && closeWait === 0) break;
    await sleep(250);
  }
  // V8 lets garbage pile up under load and gives the memory back only after a quiet spell or a full collection: the
  // end figures are taken after one, so they measure what the gateway still holds, not what it has not yet swept
  rss.afterLoad = procRssMiB(pid);
  liveHeap.end = await probe.liveHeapMiB();
  rss.end = procRssMiB(pid);
  probe.close(); // a process with a debugger attached waits for it to leave before it exits
  // what the gateway still holds, by TCP state and local/peer port, for a person reading a failed run
  const held = execFileSync('ss', ['-tanpH'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`pid=${pid},`))
    .map((l) => l.trim().split(/\s+/).slice(0, 5).join(' '));
  const termAt = Date.now();
  gw.kill('SIGTERM');
  await Promise.race([exited, sleep(25_000)]);
  const drainMs = exit === null ? null : Date.now() - termAt;
  return {
    seconds, drainMs, goodRequests, goodFailures, goodFailureCount, revocations, hostile, fds, rssMiB: rss, liveHeapMiB: liveHeap, closeWait,
    gatewayExit: exit, held,
    logTail: log.split('\n').slice(-15).join('\n'),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const cleanups: Array<() => unknown> = [];
  const seconds = Number(process.argv[2] ?? 60);
  runSoak({ after: (fn) => void cleanups.push(fn) }, seconds)
    .then((r) => console.log(JSON.stringify(r, null, 2)))
    .finally(async () => {
      for (const c of cleanups.reverse()) await c();
    });
}
