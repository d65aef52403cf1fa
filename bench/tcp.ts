// The `tcp` scenario: mTLS tunnels (client certificate required) through certgate's server-direction tcp: listener
// and through nginx `stream` (ssl_verify_client on, proxy_pass), each on one core: bulk MB/s and new tunnels/s.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { ConfigInput } from '../src/config/schema.ts';
import { nginxTest, startNginx, writeNginxConf } from './nginx.ts';
import type { CertSet } from './pki.ts';
import { freePort, pinnedCommand, startPinned, tail, waitForPort, type Pinned } from './proc.ts';

const run = promisify(execFile);
const PEERS = fileURLToPath(new URL('./tcp-peers.ts', import.meta.url));
const CLI_ENTRY = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
/** Debian ships nginx `stream` as a dynamic module (package libnginx-mod-stream). */
export const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

export type TcpTargetName = 'nginx' | 'certgate';

export interface TcpOptions {
  dir: string;
  certs: CertSet;
  targets: TcpTargetName[];
  runs: number;
  durationS: number;
  warmupS: number;
  /** Parallel tunnels in the bulk run. */
  conns: number;
  /** Parallel workers (each: connect, PING, PONG, close, again) in the new-tunnels run. */
  workers: number;
  cpuTarget: number;
  cpuGen: number;
  live: Set<Pinned>;
}

export interface TcpSample {
  target: TcpTargetName;
  run: number;
  mode: 'bulk' | 'tunnels';
  value: number;
  errors: number;
  /** CPU seconds per second the target used during the run (1.0 = its core was saturated). */
  targetCpu: number;
}

/** nginx `stream` equivalent of certgate's tcp: server: TLS, client certificate required, a byte pipe. */
export function streamNginxConf(o: { dir: string; port: number; certs: CertSet; upstreamPort: number }): string {
  return `# written by bench/tcp.ts
load_module ${STREAM_MODULE};
worker_processes 1;
daemon off;
master_process off;
pid ${join(o.dir, 'nginx.pid')};
error_log ${join(o.dir, 'error.log')} error;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
stream {
  server {
    listen 127.0.0.1:${o.port} ssl;
    ssl_certificate ${o.certs.serverCert};
    ssl_certificate_key ${o.certs.serverKey};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_client_certificate ${o.certs.caCert};
    ssl_verify_client on;
    ssl_verify_depth 2;
    proxy_connect_timeout 5s;
    proxy_pass 127.0.0.1:${o.upstreamPort};
  }
}
`;
}

/** certgate.yaml equivalent of streamNginxConf. */
export function certgateTcpConfig(o: { port: number; certs: CertSet; upstreamPort: number }): ConfigInput {
  return {
    workers: 1, // one process on its one core, like nginx's worker_processes 1
    servers: [{
      listen: `127.0.0.1:${o.port}`,
      tls: { cert: o.certs.serverCert, key: o.certs.serverKey, minVersion: 'TLSv1.2' },
      clientAuth: { ca: o.certs.caCert, mode: 'require', verifyDepth: 2 },
      limits: { connections: 10_000 },
      tcp: { upstream: `127.0.0.1:${o.upstreamPort}` },
    }],
    log: { level: 'error', access: false, format: 'json' },
  };
}

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime (fields 14 and 15 of the whole line) in clock ticks of 1/100 s on Linux
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function startTcpTarget(name: TcpTargetName, o: TcpOptions, dir: string, upstreamPort: number): Promise<{ port: number; proc: Pinned; log: string }> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  let proc: Pinned;
  let log: string;
  if (name === 'nginx') {
    const conf = await writeNginxConf(dir, streamNginxConf({ dir, port, certs: o.certs, upstreamPort }));
    const t = await nginxTest(dir, conf);
    if (!t.ok) throw new Error(`nginx stream config refused (is ${STREAM_MODULE} installed? apt-get install libnginx-mod-stream):\n${t.output}`);
    proc = startNginx('nginx-stream', dir, conf, o.cpuTarget);
    log = join(dir, 'error.log');
  } else {
    const conf = join(dir, 'certgate.yaml');
    await writeFile(conf, `# written by bench/tcp.ts\n${stringify(certgateTcpConfig({ port, certs: o.certs, upstreamPort }))}`);
    log = join(dir, 'certgate.log');
    proc = startPinned('certgate-tcp', o.cpuTarget, process.execPath, [CLI_ENTRY, 'serve', '-c', conf], log);
  }
  o.live.add(proc);
  try {
    await waitForPort(port, proc);
  } catch (err) {
    await proc.stop();
    o.live.delete(proc);
    throw new Error(`${(err as Error).message}\n${await tail(log)}`);
  }
  return { port, proc, log };
}

/** Runs the scenario: a fresh target process per measurement, targets interleaved per run; returns every sample. */
export async function runTcpScenario(o: TcpOptions, print: (line: string) => void): Promise<TcpSample[]> {
  const upstreamPort = await freePort();
  const upstream = startPinned('tcp-upstream', o.cpuGen, process.execPath, [PEERS, 'upstream', String(upstreamPort)], join(o.dir, 'tcp-upstream.log'));
  o.live.add(upstream);
  const samples: TcpSample[] = [];
  try {
    await waitForPort(upstreamPort, upstream);
    for (let r = 1; r <= o.runs; r++) {
      for (const mode of ['bulk', 'tunnels'] as const) {
        for (const name of o.targets) {
          const t = await startTcpTarget(name, o, join(o.dir, 'tcp', `${mode}-${r}-${name}`), upstreamPort);
          try {
            const [cmd, args] = pinnedCommand(o.cpuGen, process.execPath, [PEERS, 'load', '--mode', mode, '--port', String(t.port),
              '--cert', o.certs.clientCert, '--key', o.certs.clientKey, '--ca', o.certs.caCert, '--conns', String(mode === 'bulk' ? o.conns : o.workers),
              '--duration', String(o.durationS), '--warmup', String(o.warmupS)]);
            const cpuStart = await cpuSeconds(t.proc.pid);
            const timeStart = Date.now();
            const out = await run(cmd, args, { timeout: (o.durationS + o.warmupS + 30) * 1000 });
            const cpu = (await cpuSeconds(t.proc.pid)) - cpuStart;
            const result = JSON.parse(out.stdout.trim().split('\n').pop()!) as { mbPerS: number; tunnelsPerS: number; errors: number };
            const sample: TcpSample = {
              target: name, run: r, mode, value: mode === 'bulk' ? result.mbPerS : result.tunnelsPerS, errors: result.errors,
              targetCpu: cpu / ((Date.now() - timeStart) / 1000),
            };
            samples.push(sample);
            print(`  run ${r} ${mode.padEnd(7)} ${name.padEnd(9)} ${sample.value.toFixed(1)} ${mode === 'bulk' ? 'MB/s' : 'tunnels/s'} | target cpu ${sample.targetCpu.toFixed(2)}${sample.errors ? ` | errors ${sample.errors}` : ''}`);
          } finally {
            await t.proc.stop();
            o.live.delete(t.proc);
          }
        }
      }
    }
  } finally {
    await upstream.stop();
    o.live.delete(upstream);
  }
  return samples;
}

/** Medians per target and mode, and certgate / nginx. */
export function formatTcp(samples: TcpSample[]): string {
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
  };
  const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : '-');
  const lines = ['| tcp (mTLS tunnel, one core each) | nginx stream | certgate tcp | certgate / nginx |', '| --- | --- | --- | --- |'];
  for (const mode of ['bulk', 'tunnels'] as const) {
    const of = (t: TcpTargetName) => med(samples.filter((s) => s.mode === mode && s.target === t).map((s) => s.value));
    const n = of('nginx');
    const c = of('certgate');
    const unit = mode === 'bulk' ? 'throughput, MB/s' : 'new tunnels/s (handshake + PING/PONG)';
    lines.push(`| ${unit} | ${n.toFixed(1)} | ${c.toFixed(1)} | ${ratio(c, n)} |`);
    // when the generator, not the target, is the limit (target cpu well below 1), the cost per unit still compares
    const cost = (t: TcpTargetName) => med(samples.filter((s) => s.mode === mode && s.target === t && s.value > 0).map((s) => (1000 * s.targetCpu) / s.value));
    const nc = cost('nginx');
    const cc = cost('certgate');
    lines.push(`| target CPU ms per ${mode === 'bulk' ? 'MB' : 'tunnel'} (lower is better) | ${nc.toFixed(2)} | ${cc.toFixed(2)} | ${ratio(cc, nc)} |`);
  }
  return lines.join('\n');
}

