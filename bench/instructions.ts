// Instructions per request: certgate and the bare Node proxy (and nginx) under valgrind's callgrind, counted only
// while a fixed number of keep-alive requests runs. Unlike req/s, the count barely moves with other work on the
// machine, so small changes to the request path can be compared here before a full `npm run bench`.
// Usage: npm run bench:instructions -- [--targets certgate,bare-node,nginx] [--requests N] [--warmup N] [--conns N]
//        [--mtls] [--handshakes] [--node-flags "--flag ..."] [--cache-sim] [--syscalls] [--keep]
// What it counts: user-space instructions of the target process (JavaScript, V8, OpenSSL, libuv), not the kernel
// (syscalls, loopback) and not cache misses: a guide to the work on the request path, not a speed figure.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { makeBenchPki } from './pki.ts';
import { gatewayNginxConf, nginxTest, startNginx, upstreamNginxConf, writeNginxConf, NGINX, type UpstreamTarget } from './nginx.ts';
import { freePort, waitForPort, type Pinned } from './proc.ts';
import { bareProxyConfig, certgateConfig, TARGETS, type TargetName, type TargetSpec } from './targets.ts';

const CLI_ENTRY = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const BARE_ENTRY = fileURLToPath(new URL('./bare-node-proxy.ts', import.meta.url));

/** Keep-alive GETs over `conns` connections, `total` in all; resolves with how many answered 200. */
async function drive(agent: Agent, port: number, total: number, conns: number): Promise<number> {
  let next = 0;
  let ok = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent, servername: 'localhost', rejectUnauthorized: false }, (res) => {
        if (res.statusCode === 200) ok++;
        res.resume();
        res.once('end', resolve);
      });
      req.setTimeout(120_000, () => req.destroy(new Error('no answer in 120 s')));
      req.once('error', reject);
      req.end();
    });
  await Promise.all(Array.from({ length: conns }, async () => {
    while (next < total) {
      next++;
      await one();
    }
  }));
  return ok;
}

function callgrindControl(args: string[]): void {
  execFileSync('callgrind_control', args, { stdio: 'ignore', timeout: 60_000 });
}

async function countTarget(name: TargetName, spec: TargetSpec, o: { requests: number; warmup: number; conns: number; syscalls: boolean; handshakes: boolean; nodeFlags: string[]; cacheSim: boolean }): Promise<{ instructions: number; ok: number; syscalls?: string; events?: string }> {
  const port = await freePort();
  const out = join(spec.dir, `callgrind.${name}.out`);
  // --syscalls: no valgrind; strace counts the system calls of the measured requests instead
  const vg = o.syscalls ? [] : ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, ...(o.cacheSim ? ['--cache-sim=yes'] : [])];
  let argv: string[];
  if (name === 'certgate') {
    const conf = join(spec.dir, 'certgate.yaml');
    await writeFile(conf, stringify(certgateConfig(spec, port)));
    argv = [...vg, process.execPath, ...o.nodeFlags, CLI_ENTRY, 'serve', '-c', conf];
  } else if (name === 'bare-node') {
    const conf = join(spec.dir, 'bare-node.json');
    await writeFile(conf, JSON.stringify(bareProxyConfig(spec, port)));
    argv = [...vg, process.execPath, ...o.nodeFlags, BARE_ENTRY, conf];
  } else {
    const conf = await writeNginxConf(spec.dir, gatewayNginxConf({ dir: spec.dir, port, serverCert: spec.certs.serverCert, serverKey: spec.certs.serverKey, clientCa: spec.certs.caCert, upstream: spec.upstream }));
    argv = [...vg, NGINX, '-p', spec.dir, '-c', conf];
  }
  const child = o.syscalls ? spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn('valgrind', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitForPort(port, null, 120_000);
    // --handshakes: a new connection (full handshake, no session resumption) for every request
    const agent = new Agent({ keepAlive: !o.handshakes, maxSockets: o.conns, maxCachedSessions: 0, cert: await readFile(spec.certs.clientCert), key: await readFile(spec.certs.clientKey) });
    // warm-up: connections open and V8's optimizing tiers reached before counting starts
    await drive(agent, port, o.warmup, o.conns);
    if (o.syscalls) {
      const traceFile = join(spec.dir, 'strace.txt');
      const tracer = spawn('strace', ['-c', '-f', '-o', traceFile, '-p', String(child.pid)], { stdio: 'ignore' });
      const traced = new Promise<void>((r) => tracer.once('exit', () => r()));
      await sleep(1000); // strace attaches to every thread
      const ok = await drive(agent, port, o.requests, o.conns);
      tracer.kill('SIGINT');
      await Promise.race([traced, sleep(10_000)]);
      agent.destroy();
      return { instructions: 0, ok, syscalls: await readFile(traceFile, 'utf8') };
    }
    callgrindControl(['--instr=on', String(child.pid)]);
    const ok = await drive(agent, port, o.requests, o.conns);
    callgrindControl(['--instr=off', String(child.pid)]);
    callgrindControl(['--dump', String(child.pid)]);
    agent.destroy();
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(30_000)]);
    // every dump is a file of its own (out.1, out.2...); the one with instructions is the one taken above
    const files = execFileSync('sh', ['-c', `ls ${out}* 2>/dev/null`], { encoding: 'utf8' }).split('\n').filter(Boolean);
    let instructions = 0;
    let events = '';
    for (const f of files) {
      const text = await readFile(f, 'utf8');
      const m = /^totals:\s*([\d ]+)/m.exec(text);
      const counts = m ? m[1]!.trim().split(/\s+/).map(Number) : [];
      if ((counts[0] ?? 0) <= instructions) continue;
      instructions = counts[0]!;
      // with --cache-sim: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw (reads, L1 misses, last-level misses)
      const names = /^events:\s*(.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? [];
      events = names.slice(1).map((n, i) => `${n} ${((counts[i + 1] ?? 0) / o.requests).toFixed(0)}`).join(', ');
    }
    return { instructions, ok, events };
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}\n${log}`);
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { targets: { type: 'string' }, requests: { type: 'string' }, warmup: { type: 'string' }, conns: { type: 'string' }, mtls: { type: 'boolean' }, syscalls: { type: 'boolean' }, keep: { type: 'boolean' }, handshakes: { type: 'boolean' }, 'node-flags': { type: 'string' }, 'cache-sim': { type: 'boolean' } } });
  const targets = (v.targets ?? 'certgate,bare-node').split(',').map((t) => {
    if (!(TARGETS as readonly string[]).includes(t)) throw new Error(`unknown target ${t} (${TARGETS.join(', ')})`);
    return t as TargetName;
  });
  const o = { requests: Number(v.requests ?? 2000), warmup: Number(v.warmup ?? 3000), conns: Number(v.conns ?? 8), syscalls: v.syscalls ?? false, handshakes: v.handshakes ?? false,
    nodeFlags: v['node-flags'] ? v['node-flags'].split(' ').filter(Boolean) : [], cacheSim: v['cache-sim'] ?? false };
  const dir = await mkdtemp(join(tmpdir(), 'certgate-instr-'));
  let upstream: Pinned | undefined;
  try {
    const pki = await makeBenchPki(join(dir, 'pki'));
    const upDir = join(dir, 'upstream');
    const upPort = await freePort();
    const upTlsPort = await freePort();
    const upConf = await writeNginxConf(upDir, upstreamNginxConf({ dir: upDir, port: upPort, tls: { port: upTlsPort, cert: pki.upstream.serverCert, key: pki.upstream.serverKey, clientCa: pki.upstream.caCert } }));
    const test = await nginxTest(upDir, upConf);
    if (!test.ok) throw new Error(`upstream nginx config refused:\n${test.output}`);
    upstream = startNginx('upstream', upDir, upConf, null);
    await waitForPort(upTlsPort, upstream);
    const up: UpstreamTarget = v.mtls
      ? { port: upTlsPort, tls: { ca: pki.upstream.caCert, cert: pki.upstream.proxyCert, key: pki.upstream.proxyKey, servername: 'localhost' } }
      : { port: upPort };
    console.log(`${o.requests} ${o.handshakes ? 'requests, each on a new connection (full ECDSA handshake),' : 'keep-alive requests'} over ${o.conns} connections after ${o.warmup} unmeasured; upstream ${v.mtls ? 'mTLS' : 'plain HTTP'}`);
    for (const name of targets) {
      const spec: TargetSpec = { dir: join(dir, name), certs: pki.ec, upstream: up, accessLog: false };
      await execFileSync('mkdir', ['-p', spec.dir]);
      const r = await countTarget(name, spec, o);
      if (r.syscalls !== undefined) {
        console.log(`${name}: system calls during ${o.requests} requests\n${r.syscalls}`);
        continue;
      }
      console.log(`${name.padEnd(10)} ${(r.instructions / o.requests / 1000).toFixed(1).padStart(8)} k instructions per request (${r.ok}/${o.requests} answered 200)${r.events ? `; per request: ${r.events}` : ''}`);
    }
  } finally {
    await upstream?.stop();
    if (v.keep) console.log(`kept ${dir} (callgrind_annotate <target>/callgrind.<target>.out.1 shows where the instructions go)`);
    else await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await main();
