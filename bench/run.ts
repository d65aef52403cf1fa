// `npm run bench`: certgate next to nginx (and a bare Node proxy) under the same mTLS load; medians and ratios.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { buildLoadgen, holdIdle, runLoad } from './loadgen.ts';
import { BODY_100, NGINX, startUpstreamNginx, type UpstreamTarget } from './nginx.ts';
import { makeBenchPki, type BenchPki } from './pki.ts';
import { rssKiB, setNiceness, tail, waitForPort, type Pinned } from './proc.ts';
import { SCENARIO_IDS, SCENARIOS, formatMarkdown, formatText, summarize, type Sample, type ScenarioId } from './report.ts';
import { TARGETS, probeTarget, startTarget, type RunningTarget, type TargetName, type TargetSpec } from './targets.ts';
import { formatTcp, runTcpScenario, type TcpSample, type TcpTargetName } from './tcp.ts';
import { runWorkersScenario } from './workers.ts';
import { formatWorkers, planCores, summarizeWorkers, type WorkersSample, type WorkersTarget } from './workers-report.ts';

/**
 * Every scenario `--scenarios` takes: the HTTP ones of report.ts, `tcp` (bench/tcp.ts) and `workers`
 * (bench/workers.ts), the last two reported apart.
 */
const ALL_SCENARIOS = [...SCENARIO_IDS, 'tcp', 'workers'] as const;
type AnyScenario = (typeof ALL_SCENARIOS)[number];

const HELP = `usage: npm run bench -- [options]

  --targets LIST     comma list of nginx,certgate,bare-node (default: all three; nginx is always measured)
  --scenarios LIST   ${ALL_SCENARIOS.join(',')} (default: all)
                     tcp: mTLS tunnels through nginx stream and certgate's tcp: listener (bulk MB/s, new tunnels/s;
                     at most 8 bulk tunnels, --hs-conns new-tunnel workers; bare-node has no tcp mode)
                     workers: certgate workers: N against nginx worker_processes N on cores 0..N-1, and both
                     with 1 worker on those cores; ECDSA handshakes and keep-alive; ratios to nginx, scaling N/1
                     and gateway CPU per request (all its processes) N vs 1; nginx and certgate only
  --workers N        N for the workers scenario (default: the cores this process may use, ${availableParallelism()} here)
  --runs N           runs per target and scenario, interleaved; medians are reported (default 3)
  --duration S       measured seconds per run (default 5)
  --warmup S         unmeasured seconds before each run (default 1)
  --quick            1 run of 3 s per target and scenario
  --conns N          keep-alive connections (default 64)
  --hs-conns N       parallel connections in the handshake scenarios (default 32)
  --idle-conns N     idle connections for the RSS scenario (default 2000)
  --access-log       let nginx and certgate write access logs (off by default, for both)
  --json FILE        also write every sample and the summary as JSON
  --keep             keep the temp dir (configs, logs) for inspection
  --nice=N           run targets, generator and upstream at nice N (e.g. -10: steadier figures on a shared
                     machine, at the expense of whatever else runs there; default 0 = off)

Pinning: each target runs alone on core 0 (taskset -c 0); the load generator and the upstream nginx share core 1.
The workers scenario runs every gateway on cores 0..N-1, and the generator and its upstream on the cores left over
or, when there are none (N = all cores), on those same cores.
`;

const CPU_TARGET = 0;
const CPU_GEN = 1;

interface Options {
  targets: TargetName[];
  scenarios: AnyScenario[];
  runs: number;
  duration: number;
  warmup: number;
  conns: number;
  hsConns: number;
  idleConns: number;
  accessLog: boolean;
  json?: string;
  keep: boolean;
  nice: number;
  workers: number;
}

function list<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) if (!allowed.includes(i as T)) throw new Error(`${flag}: unknown "${i}" (expected ${allowed.join(', ')})`);
  return items as T[];
}

function niceValue(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < -20 || n > 19) throw new Error(`--nice: expected an integer from -20 to 19, got "${s}"`);
  return n;
}

function parseOptions(argv: string[]): Options | null {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      targets: { type: 'string' }, scenarios: { type: 'string' }, runs: { type: 'string' }, duration: { type: 'string' },
      warmup: { type: 'string' }, quick: { type: 'boolean' }, conns: { type: 'string' }, 'hs-conns': { type: 'string' },
      'idle-conns': { type: 'string' }, 'access-log': { type: 'boolean' }, json: { type: 'string' }, keep: { type: 'boolean' }, nice: { type: 'string' },
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) return null;
  const num = (s: string | undefined, d: number, flag: string): number => {
    if (s === undefined) return d;
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number, got "${s}"`);
    return n;
  };
  const targets = list(v.targets, TARGETS, '--targets') ?? [...TARGETS];
  if (!targets.includes('nginx')) targets.unshift('nginx'); // every ratio is to nginx
  return {
    targets,
    scenarios: list(v.scenarios, ALL_SCENARIOS, '--scenarios') ?? [...ALL_SCENARIOS],
    runs: v.quick ? 1 : Math.round(num(v.runs, 3, '--runs')),
    duration: v.quick ? 3 : num(v.duration, 5, '--duration'),
    warmup: num(v.warmup, 1, '--warmup'),
    conns: Math.round(num(v.conns, 64, '--conns')),
    hsConns: Math.round(num(v['hs-conns'], 32, '--hs-conns')),
    idleConns: Math.round(num(v['idle-conns'], 2000, '--idle-conns')),
    accessLog: v['access-log'] ?? false,
    json: v.json,
    keep: v.keep ?? false,
    nice: v.nice === undefined ? 0 : niceValue(v.nice),
    workers: Math.round(num(v.workers, availableParallelism(), '--workers')),
  };
}

async function machine(): Promise<Record<string, string | number>> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const sh = (cmd: string, args: string[]) => {
    try {
      // nginx -v prints to stderr: merge it
      return execFileSync('sh', ['-c', '"$0" "$@" 2>&1', cmd, ...args], { encoding: 'utf8' }).trim();
    } catch (err) {
      return String((err as { stderr?: string }).stderr ?? '').trim();
    }
  };
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    kernel: sh('uname', ['-r']),
    node: process.version,
    nodeOpenssl: process.versions.openssl,
    nginx: sh(NGINX, ['-v']).replace(/^nginx version:\s*/, ''),
    systemOpenssl: sh('openssl', ['version']),
    loadavg: (await readFile('/proc/loadavg', 'utf8').catch(() => '')).split(' ').slice(0, 3).join(' '),
  };
}

interface Env {
  dir: string;
  pki: BenchPki;
  loadgen: string;
  upstream: Pinned;
  plain: UpstreamTarget;
  mtls: UpstreamTarget;
  live: Set<Pinned>;
  o: Options;
}

function specFor(env: Env, scenario: ScenarioId, dir: string): TargetSpec {
  return {
    dir,
    certs: scenario === 'handshake-rsa' ? env.pki.rsa : env.pki.ec,
    upstream: scenario === 'mtls-upstream' ? env.mtls : env.plain,
    accessLog: env.o.accessLog,
  };
}

async function withTarget<T>(env: Env, name: TargetName, spec: TargetSpec, fn: (t: RunningTarget) => Promise<T>): Promise<T> {
  const t = await startTarget(name, spec, CPU_TARGET);
  env.live.add(t.proc);
  try {
    const result = await fn(t);
    await sleep(50); // let a crash that the last requests caused surface before judging
    if (!t.proc.alive()) throw new Error(`${name} exited during the run (${await t.proc.exited})\n${await tail(t.logFile)}`);
    return result;
  } finally {
    await t.proc.stop();
    env.live.delete(t.proc);
  }
}

/** One fresh target process, one measurement. */
async function measure(env: Env, scenario: ScenarioId, target: TargetName, run: number): Promise<Sample> {
  const spec = specFor(env, scenario, join(env.dir, 'runs', `${scenario}-${run}-${target}`));
  const { o } = env;
  return withTarget(env, target, spec, async (t) => {
    const client = { binary: env.loadgen, port: t.port, cert: spec.certs.clientCert, key: spec.certs.clientKey, cpu: CPU_GEN };
    if (scenario === 'idle') {
      // warm the target up (lazy init, JIT) so "before" is a steady state, then hold N idle connections
      await runLoad({ ...client, mode: 'keepalive', conns: 4, durationS: 0.5, warmupS: 0 });
      await sleep(500);
      const before = await rssKiB(t.proc.pid);
      const hold = await holdIdle({ ...client, conns: o.idleConns });
      let after: number;
      try {
        await sleep(1000);
        after = await rssKiB(t.proc.pid);
      } finally {
        await hold.release();
      }
      const open = hold.ready.open;
      return {
        scenario, target, run, value: open ? (after - before) / open : NaN, errors: hold.ready.failed, non2xx: open - hold.ready.ok2xx,
        rssBeforeKiB: before, rssAfterKiB: after, open,
      };
    }
    const r = await runLoad({
      ...client,
      mode: scenario.startsWith('handshake') ? 'handshake' : 'keepalive',
      conns: scenario.startsWith('handshake') ? o.hsConns : o.conns,
      durationS: o.duration,
      warmupS: o.warmup,
      watch: [t.proc.pid, env.upstream.pid],
    });
    if (r.resumed) throw new Error(`${r.resumed} handshakes resumed a session: the handshake figure would be wrong`);
    const wantKey = scenario === 'handshake-rsa' ? 'RSA' : 'EC';
    if (r.serverKey && r.serverKey !== wantKey) throw new Error(`server presented a ${r.serverKey} certificate, expected ${wantKey}`);
    return {
      scenario, target, run, value: r.rps ?? 0, p50ms: r.p50ms, p99ms: r.p99ms,
      targetCpu: r.watchCpu?.[String(t.proc.pid)], upstreamCpu: r.watchCpu?.[String(env.upstream.pid)], genCpu: r.selfCpu,
      core0: r.coreBusy?.[0], core1: r.coreBusy?.[1], softirq0: r.coreSoftirq?.[0], softirq1: r.coreSoftirq?.[1],
      errors: r.errors, non2xx: r.non2xx,
    };
  });
}

function progress(s: Sample): string {
  if (s.scenario === 'idle') return `${s.value.toFixed(1)} KiB/conn (RSS ${s.rssBeforeKiB} -> ${s.rssAfterKiB} KiB, ${s.open} open)`;
  const cpu = `cpu target ${s.targetCpu?.toFixed(2)} gen ${s.genCpu?.toFixed(2)} upstream ${s.upstreamCpu?.toFixed(2)} | core0 ${s.core0?.toFixed(2)} (softirq ${s.softirq0?.toFixed(2)}) core1 ${s.core1?.toFixed(2)}`;
  return `${s.value.toFixed(0)}/s p50 ${s.p50ms?.toFixed(2)} p99 ${s.p99ms?.toFixed(2)} ms | ${cpu}${s.errors + s.non2xx ? ` | errors ${s.errors} non-2xx ${s.non2xx}` : ''}`;
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  if (!o) {
    process.stdout.write(HELP);
    return 0;
  }
  for (const tool of ['/usr/bin/taskset', NGINX, '/usr/bin/curl', '/usr/bin/openssl']) {
    if (!existsSync(tool)) throw new Error(`bench needs ${tool} (Debian: apt-get install util-linux nginx curl openssl)`);
  }
  setNiceness(o.nice);
  if (availableParallelism() < 2) throw new Error('bench needs 2 cores: the target on core 0, the load generator on core 1');
  // refuse a bad --workers before anything starts (not after the other scenarios ran)
  const corePlan = o.scenarios.includes('workers') ? planCores(o.workers, availableParallelism()) : undefined;
  const info = await machine();
  console.log(`certgate bench  ${info.date}  ${info.nproc} cores  ${info.cpu}  load ${info.loadavg}`);
  console.log(`node ${info.node} (OpenSSL ${info.nodeOpenssl})  nginx ${info.nginx}  ${info.systemOpenssl}`);

  const dir = await mkdtemp(join(tmpdir(), 'certgate-bench-'));
  const live = new Set<Pinned>();
  const cleanup = async () => {
    for (const p of live) await p.stop();
    if (!o.keep) await rm(dir, { recursive: true, force: true });
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const pki = await makeBenchPki(join(dir, 'pki'));
    const loadgen = await buildLoadgen(dir);
    const up = pki.upstream;
    const { proc: upstream, port: upPort, tlsPort: upTlsPort } = await startUpstreamNginx('upstream', join(dir, 'upstream'), { cert: up.serverCert, key: up.serverKey, clientCa: up.caCert }, CPU_GEN, live);
    await waitForPort(upPort, upstream);
    await waitForPort(upTlsPort, upstream);
    const env: Env = {
      dir, pki, loadgen, upstream, live, o,
      plain: { port: upPort },
      mtls: { port: upTlsPort, tls: { ca: pki.upstream.caCert, cert: pki.upstream.proxyCert, key: pki.upstream.proxyKey, servername: 'localhost' } },
    };

    // Probe every target once (real curl): it must serve the 100-byte body with a client cert and refuse without.
    const targets: TargetName[] = [];
    for (const name of o.targets) {
      for (const up of ['plain', 'mtls'] as const) {
        const spec = { ...specFor(env, up === 'plain' ? 'keepalive' : 'mtls-upstream', join(dir, 'probe', `${name}-${up}`)) };
        const result = await withTarget(env, name, spec, (t) => probeTarget(t, spec.certs, BODY_100.length)).catch((err: Error) => ({ ok: false, detail: err.message }));
        if (!result.ok) {
          if (name === 'nginx') throw new Error(`nginx probe failed: ${result.detail}`);
          console.log(`\n!! ${name} target SKIPPED: ${name === 'certgate' ? '`certgate serve` is not usable yet or not equivalent' : 'probe failed'}:\n${result.detail}\n`);
          break;
        }
        if (up === 'mtls') targets.push(name);
      }
    }
    const perRun = o.duration + o.warmup + 1.5;
    const httpScenarios = o.scenarios.filter((s): s is ScenarioId => s !== 'tcp' && s !== 'workers');
    const workersTargets = targets.filter((t): t is WorkersTarget => t === 'nginx' || t === 'certgate');
    const estimate = (httpScenarios.length + (o.scenarios.includes('tcp') ? 2 : 0)) * o.runs * targets.length * perRun
      + (corePlan ? 2 * 2 * o.runs * workersTargets.length * (perRun + 1) : 0);
    console.log(`targets ${targets.join(', ')}; ${o.runs} run(s) x ${o.duration}s per target and scenario; about ${Math.ceil(estimate / 60)} min`);

    const samples: Sample[] = [];
    for (const scenario of httpScenarios) {
      console.log(`\n== ${SCENARIOS[scenario].title}`);
      for (let run = 1; run <= o.runs; run++) {
        for (const target of targets) {
          try {
            const s = await measure(env, scenario, target, run);
            samples.push(s);
            console.log(`  run ${run} ${target.padEnd(9)} ${progress(s)}`);
          } catch (err) {
            console.log(`  run ${run} ${target.padEnd(9)} FAILED: ${(err as Error).message}`);
          }
        }
      }
    }
    let tcpSamples: TcpSample[] = [];
    if (o.scenarios.includes('tcp')) {
      console.log('\n== tcp: mTLS tunnels (client certificate required), nginx stream vs certgate tcp:, one core each');
      const tcpTargets = targets.filter((t): t is TcpTargetName => t === 'nginx' || t === 'certgate');
      tcpSamples = await runTcpScenario({
        dir, certs: pki.ec, targets: tcpTargets, runs: o.runs, durationS: o.duration, warmupS: o.warmup, conns: Math.min(o.conns, 8), workers: o.hsConns,
        cpuTarget: CPU_TARGET, cpuGen: CPU_GEN, live,
      }, (line) => console.log(line)).catch((err: Error) => {
        console.log(`  tcp FAILED: ${err.message}`);
        return [];
      });
    }
    let workersSamples: WorkersSample[] = [];
    if (corePlan) {
      console.log(`\n== workers: certgate workers: ${o.workers} vs nginx worker_processes ${o.workers} on cores ${corePlan.gateway}, and both with 1 worker there`);
      console.log(`   generator + upstream on cores ${corePlan.generator}${corePlan.shared ? ' (shared with the gateway: no core left over)' : ''}`);
      workersSamples = await runWorkersScenario({
        dir, certs: pki.ec, loadgen, targets: workersTargets, workers: o.workers, plan: corePlan, runs: o.runs,
        durationS: o.duration, warmupS: o.warmup, conns: o.conns, hsConns: o.hsConns, accessLog: o.accessLog, live,
      }, (line) => console.log(line)).catch((err: Error) => {
        console.log(`  workers FAILED: ${err.message}`);
        return [];
      });
    }
    if (samples.length) {
      const rows = summarize(samples, targets);
      console.log(`\n==== medians of ${o.runs} run(s); ratio = target / nginx ====${formatText(rows)}\n`);
      console.log(formatMarkdown(rows));
    }
    const workersSummary = corePlan && workersSamples.length ? summarizeWorkers(workersSamples, o.workers) : undefined;
    if (o.json) {
      const rows = samples.length ? summarize(samples, targets) : undefined;
      await writeFile(o.json, JSON.stringify({ machine: info, options: o, samples, rows, tcpSamples, workersSamples, workersSummary }, null, 2) + '\n');
    }
    if (tcpSamples.length) console.log(`\n==== tcp: medians of ${o.runs} run(s) ====\n${formatTcp(tcpSamples)}`);
    if (corePlan && workersSummary) console.log(`\n==== workers: medians of ${o.runs} run(s) ====\n${formatWorkers(workersSummary, corePlan)}`);
    if (o.keep) console.log(`\nkept ${dir}`);
    return samples.length || tcpSamples.length || workersSamples.length ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanup();
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(`bench: ${(err as Error).message}`);
  process.exitCode = 1;
}
