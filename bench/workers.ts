// The `workers` scenario: certgate `workers: N` against nginx `worker_processes N` on the same N cores, and both with
// one worker on those cores; handshakes and keep-alive; gateway CPU summed over every process of each gateway.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLoad } from './loadgen.ts';
import { BODY_100, startUpstreamNginx } from './nginx.ts';
import type { CertSet } from './pki.ts';
import { processTree, tail, waitForPort, type Pinned } from './proc.ts';
import { certgatePidFile, probeTarget, startTarget, type RunningTarget, type TargetSpec } from './targets.ts';
import { WORKERS_MODES, treeCpu, cpuPerRequestUs, type CorePlan, type WorkersMode, type WorkersSample, type WorkersTarget } from './workers-report.ts';

export interface WorkersOptions {
  dir: string;
  /** ECDSA certificates (the handshake mode is the ECDSA one). */
  certs: CertSet;
  loadgen: string;
  targets: WorkersTarget[];
  /** N: the worker count compared with 1. */
  workers: number;
  plan: CorePlan;
  runs: number;
  durationS: number;
  warmupS: number;
  conns: number;
  hsConns: number;
  accessLog: boolean;
  live: Set<Pinned>;
}

/** loadgen.c watches at most 64 pids: the gateway's processes and the upstream. */
const MAX_WATCHED = 64;

/** Processes a target is made of once it serves: nginx a master + workers; certgate one process, or a primary + N. */
export function expectedProcesses(target: WorkersTarget, workers: number): number {
  return target === 'certgate' && workers === 1 ? 1 : 1 + workers;
}

/** Waits (bounded) until the target has all its processes and, for certgate with workers, wrote its pid file. */
export async function waitServing(t: RunningTarget, spec: TargetSpec, target: WorkersTarget, workers: number): Promise<number[]> {
  const want = expectedProcesses(target, workers);
  const pidFile = target === 'certgate' && workers > 1 ? certgatePidFile(spec) : null;
  let tree: number[] = [];
  for (let i = 0; i < 300; i++) {
    if (!t.proc.alive()) throw new Error(`${target} exited while starting (${await t.proc.exited})\n${await tail(t.logFile)}`);
    tree = await processTree(t.proc.pid);
    if (tree.length === want && (pidFile === null || existsSync(pidFile))) return tree;
    await sleep(50);
  }
  throw new Error(`${target} x${workers}: ${tree.length} of ${want} processes${pidFile ? ', pid file not written' : ''} after 15 s\n${await tail(t.logFile)}`);
}

/** Stops the root (SIGTERM: certgate's primary drains its workers, nginx's master stops its own), then any straggler. */
export async function stopTree(t: RunningTarget, tree: number[]): Promise<void> {
  await t.proc.stop();
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 40 && tree.some(alive); i++) await sleep(50);
  for (const pid of tree.filter(alive)) {
    console.error(`bench: ${t.name} process ${pid} outlived its parent by 2 s; killing it`);
    process.kill(pid, 'SIGKILL');
  }
}

async function measure(o: WorkersOptions, upstream: Pinned, upstreamPort: number, mode: WorkersMode, target: WorkersTarget, workers: number, run: number): Promise<WorkersSample> {
  const spec: TargetSpec = {
    dir: join(o.dir, 'workers', `${mode}-${run}-${target}-x${workers}`),
    certs: o.certs, upstream: { port: upstreamPort }, accessLog: o.accessLog, workers,
  };
  const t = await startTarget(target, spec, o.plan.gateway);
  o.live.add(t.proc);
  let tree: number[] = [t.proc.pid];
  try {
    tree = await waitServing(t, spec, target, workers);
    if (tree.length + 1 > MAX_WATCHED) throw new Error(`${tree.length} processes: the generator watches at most ${MAX_WATCHED - 1}`);
    if (run === 1) {
      const probe = await probeTarget(t, o.certs, BODY_100.length);
      if (!probe.ok) throw new Error(`probe failed: ${probe.detail}`);
    }
    const r = await runLoad({
      binary: o.loadgen, port: t.port, cert: o.certs.clientCert, key: o.certs.clientKey, cpu: o.plan.generator,
      mode: mode === 'handshake-ec' ? 'handshake' : 'keepalive',
      conns: mode === 'handshake-ec' ? o.hsConns : o.conns,
      durationS: o.durationS, warmupS: o.warmupS,
      watch: [...tree, upstream.pid],
    });
    if (r.resumed) throw new Error(`${r.resumed} handshakes resumed a session: the handshake figure would be wrong`);
    if (r.serverKey && r.serverKey !== 'EC') throw new Error(`server presented a ${r.serverKey} certificate, expected EC`);
    const after = await processTree(t.proc.pid);
    if (after.join(',') !== tree.join(',')) throw new Error(`the process tree changed during the run (${tree.join(',')} -> ${after.join(',')}): a worker crashed or was replaced\n${await tail(t.logFile)}`);
    const gatewayCpu = treeCpu(r.watchCpu, tree);
    if (gatewayCpu === undefined) throw new Error(`no CPU reading for every process of ${tree.join(',')}`);
    return {
      mode, target, workers, run, rate: r.rps ?? 0, gatewayCpu,
      rootCpu: r.watchCpu?.[String(tree[0])],
      workerCpu: tree.slice(1).map((pid) => r.watchCpu?.[String(pid)] ?? -1),
      genCpu: r.selfCpu, upstreamCpu: r.watchCpu?.[String(upstream.pid)],
      errors: r.errors, non2xx: r.non2xx,
    };
  } finally {
    await stopTree(t, tree);
    o.live.delete(t.proc);
  }
}

export function progressLine(s: WorkersSample): string {
  const perReq = cpuPerRequestUs(s.gatewayCpu, s.rate);
  const parts = s.workerCpu.length ? ` (${s.target === 'nginx' ? 'master' : 'primary'} ${s.rootCpu?.toFixed(2)}, workers ${s.workerCpu.map((c) => c.toFixed(2)).join('+')})` : '';
  return `${s.rate.toFixed(0)}/s | gateway CPU ${s.gatewayCpu?.toFixed(2)}${parts} = ${perReq?.toFixed(1) ?? '-'} µs/request`
    + ` | generator ${s.genCpu?.toFixed(2)} upstream ${s.upstreamCpu?.toFixed(2)}${s.errors + s.non2xx ? ` | errors ${s.errors} non-2xx ${s.non2xx}` : ''}`;
}

/**
 * Runs the scenario with its own upstream nginx on the generator's cores. Per load and run, the four variants
 * interleave (nginx xN, certgate xN, nginx x1, certgate x1); each measurement starts a fresh gateway.
 */
export async function runWorkersScenario(o: WorkersOptions, print: (line: string) => void): Promise<WorkersSample[]> {
  // only the plain listener serves this scenario; the TLS one (which the config writer always adds) gets the EC set
  const { proc: upstream, port: upPort } = await startUpstreamNginx('workers-upstream', join(o.dir, 'workers-upstream'),
    { cert: o.certs.serverCert, key: o.certs.serverKey, clientCa: o.certs.caCert }, o.plan.generator, o.live);
  const samples: WorkersSample[] = [];
  try {
    await waitForPort(upPort, upstream);
    for (const mode of WORKERS_MODES) {
      print(`  -- ${mode === 'handshake-ec' ? `full mTLS handshakes, ECDSA, ${o.hsConns} connections` : `keep-alive, ${o.conns} connections`}`);
      for (let run = 1; run <= o.runs; run++) {
        for (const workers of [o.workers, 1]) {
          for (const target of o.targets) {
            const label = `run ${run} ${target.padEnd(8)} x${workers}`;
            try {
              const s = await measure(o, upstream, upPort, mode, target, workers, run);
              samples.push(s);
              print(`  ${label} ${progressLine(s)}`);
            } catch (err) {
              print(`  ${label} FAILED: ${(err as Error).message}`);
            }
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
