// Builds bench/loadgen.c with gcc and runs it pinned to the load-generator core; parses its JSON result line.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pinnedCommand, type CpuSet } from './proc.ts';

const run = promisify(execFile);
const SOURCE = fileURLToPath(new URL('./loadgen.c', import.meta.url));

export interface LoadResult {
  mode: 'handshake' | 'keepalive' | 'idle';
  seconds: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  handshakes: number;
  /** Handshakes that resumed a session: always 0 (the generator never offers one); reported as proof. */
  resumed: number;
  reconnects: number;
  tlsVersion: string;
  cipher: string;
  /** Key type of the server certificate actually presented ("EC" / "RSA"). */
  serverKey: string;
  lastError: string;
  conns?: number;
  /** Responses of any status in the measured window. */
  requests?: number;
  /** 2xx responses per second (errors and non-2xx answers do not count). */
  rps?: number;
  p50ms?: number;
  p90ms?: number;
  p99ms?: number;
  maxms?: number;
  /** CPU used by the generator itself during the measured window, in cores (1.0 = one core busy). */
  selfCpu?: number;
  /** CPU of each watched pid during the measured window, in cores. */
  watchCpu?: Record<string, number>;
  /** Busy fraction of core 0 and core 1 over the measured window (/proc/stat, every process), and their steal. */
  coreBusy?: number[];
  coreSteal?: number[];
  /** irq + softirq share of each core (loopback packet processing, charged to no process). */
  coreSoftirq?: number[];
  open?: number;
  failed?: number;
}

export interface LoadOptions {
  binary: string;
  mode: 'handshake' | 'keepalive';
  port: number;
  cert: string;
  key: string;
  conns: number;
  durationS: number;
  warmupS: number;
  /** CPU (or taskset list of CPUs) to pin the generator to (null: no taskset). */
  cpu: CpuSet;
  /** pids whose CPU use over the measured window is reported (the target, the upstream). */
  watch?: number[];
}

/** Compiles the generator into `dir`; throws with gcc's message if it can't. */
export async function buildLoadgen(dir: string): Promise<string> {
  const out = join(dir, 'loadgen');
  try {
    await run('gcc', ['-O2', '-Wall', '-o', out, SOURCE, '-lssl', '-lcrypto'], { timeout: 60_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`could not build the load generator (needs gcc and libssl-dev): ${e.stderr || e.message}`);
  }
  return out;
}

function parseLast(stdout: string): LoadResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as LoadResult;
  } catch {
    throw new Error(`load generator printed no result: ${stdout.slice(-500)}`);
  }
}

/** One bounded run (warm-up + measured window); the child is killed if it overruns by 30 s. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const args = ['--mode', o.mode, '--port', String(o.port), '--cert', o.cert, '--key', o.key, '--conns', String(o.conns),
    '--duration', String(o.durationS), '--warmup', String(o.warmupS)];
  for (const pid of o.watch ?? []) args.push('--watch', String(pid));
  const [file, argv] = pinnedCommand(o.cpu, o.binary, args);
  try {
    const r = await run(file, argv, { timeout: (o.durationS + o.warmupS + 30) * 1000 });
    return parseLast(r.stdout);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`load generator failed: ${e.stderr || e.message}`);
  }
}

export interface IdleHold {
  ready: { open: number; failed: number; ok2xx: number; seconds: number };
  /** Closes stdin so the generator closes every connection; resolves with its final line. */
  release(): Promise<LoadResult>;
}

/** Opens `conns` mTLS connections (handshake + one request each) and keeps them open until release(). */
export async function holdIdle(o: { binary: string; port: number; cert: string; key: string; conns: number; cpu: CpuSet }): Promise<IdleHold> {
  const args = ['--mode', 'idle', '--port', String(o.port), '--cert', o.cert, '--key', o.key, '--conns', String(o.conns),
    '--parallel', '64', '--hold-max', '120'];
  const [file, argv] = pinnedCommand(o.cpu, o.binary, args);
  const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 150_000);
  const ready = await new Promise<IdleHold['ready']>((resolve, reject) => {
    child.stdout.on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0 && out.startsWith('{"ready"')) resolve(JSON.parse(out.slice(0, nl)));
    });
    void exited.then(() => reject(new Error(`idle load generator exited early: ${err || out}`)));
  });
  return {
    ready,
    async release() {
      child.stdin.end();
      await exited;
      clearTimeout(killer);
      return parseLast(out);
    },
  };
}
