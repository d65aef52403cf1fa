// Pure parts of the `workers` scenario: which cores run what, gateway CPU per request, medians, ratios, the table.
import { median } from './report.ts';

/** The two loads the scenario runs: full ECDSA mTLS handshakes, and keep-alive requests. */
export const WORKERS_MODES = ['handshake-ec', 'keepalive'] as const;
export type WorkersMode = (typeof WORKERS_MODES)[number];
export type WorkersTarget = 'nginx' | 'certgate';

/** The issue's bound: gateway CPU per request with N workers at most this many times the 1-worker figure. */
export const CPU_TAX_GOAL = 1.1;
/** The issue's scaling goal (N = 2), which holds only where the generator is not on the gateway's cores. */
export const SCALING_GOAL = 1.8;

export interface CorePlan {
  /** taskset list the gateway (every process of it, N workers or 1) runs on: the first N cores. */
  gateway: string;
  /** taskset list of the load generator and the upstream: the cores left over, or the gateway's own. */
  generator: string;
  /** True when no core is left over, so the generator and the upstream compete with the gateway. */
  shared: boolean;
}

function range(from: number, to: number): string {
  return from === to ? String(from) : `${from}-${to}`;
}

/** Gateway on cores 0..n-1; generator and upstream on the rest, or (none left) on the same n cores. */
export function planCores(n: number, nproc: number): CorePlan {
  if (!Number.isInteger(n) || n < 2) throw new Error(`--workers: expected a whole number of at least 2 (the scenario compares N workers with 1), got ${n}`);
  if (n > nproc) throw new Error(`--workers ${n}: this machine lets the bench use ${nproc} cores; N workers on fewer cores would time-share them`);
  const gateway = range(0, n - 1);
  return nproc > n ? { gateway, generator: range(n, nproc - 1), shared: false } : { gateway, generator: gateway, shared: true };
}

/**
 * CPU of a process tree in cores (CPU seconds per second of the window): the sum of the generator's per-pid
 * readings. Undefined when a pid has no reading or a negative one (it exited during the window: its CPU is lost).
 */
export function treeCpu(watchCpu: Record<string, number> | undefined, pids: readonly number[]): number | undefined {
  if (!watchCpu || pids.length === 0) return undefined;
  let sum = 0;
  for (const pid of pids) {
    const c = watchCpu[String(pid)];
    if (typeof c !== 'number' || !Number.isFinite(c) || c < 0) return undefined;
    sum += c;
  }
  return sum;
}

/**
 * Gateway CPU per request in microseconds: (CPU seconds per second) / (requests per second). In the handshake
 * mode every connection carries one request, so this is also the CPU per handshake.
 */
export function cpuPerRequestUs(cpuCores: number | undefined, rate: number): number | undefined {
  if (cpuCores === undefined || !Number.isFinite(cpuCores) || cpuCores < 0 || !Number.isFinite(rate) || rate <= 0) return undefined;
  return (cpuCores / rate) * 1e6;
}

/** a / b, or null when either is missing or b is not positive. */
export function ratioOf(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return a / b;
}

/** One run of one target with one worker count. */
export interface WorkersSample {
  mode: WorkersMode;
  target: WorkersTarget;
  workers: number;
  run: number;
  /** 2xx responses per second over the measured window. */
  rate: number;
  /** CPU of the gateway's whole process tree (primary/master + workers), in cores. */
  gatewayCpu?: number;
  /** CPU of the tree's root alone: certgate's primary (of N workers) or nginx's master. The single process at 1. */
  rootCpu?: number;
  /** CPU of each worker process, in cores (empty for certgate's single process). */
  workerCpu: number[];
  genCpu?: number;
  upstreamCpu?: number;
  errors: number;
  non2xx: number;
}

/** Medians over the runs of one (mode, target, worker count). */
export interface WorkersCell {
  runs: number;
  rate: number;
  rateMin: number;
  rateMax: number;
  gatewayCpu?: number;
  rootCpu?: number;
  /** Median of each run's CPU per request (not a ratio of medians). */
  cpuPerRequestUs?: number;
  genCpu?: number;
  errors: number;
}

export interface WorkersLine {
  mode: WorkersMode;
  target: WorkersTarget;
  one?: WorkersCell;
  many?: WorkersCell;
  /** many.rate / one.rate. */
  scaling: number | null;
  /** many.cpuPerRequestUs / one.cpuPerRequestUs: 1.0 = no tax for running several processes. */
  cpuTax: number | null;
}

export interface WorkersSummary {
  n: number;
  lines: WorkersLine[];
  /** certgate / nginx rate per mode, with N workers each and with 1 each. */
  vsNginx: Array<{ mode: WorkersMode; many: number | null; one: number | null }>;
}

function medianDefined(xs: Array<number | undefined>): number | undefined {
  const ys = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return ys.length ? median(ys) : undefined;
}

function cell(ss: WorkersSample[]): WorkersCell | undefined {
  if (!ss.length) return undefined;
  const rates = ss.map((s) => s.rate);
  return {
    runs: ss.length,
    rate: median(rates),
    rateMin: Math.min(...rates),
    rateMax: Math.max(...rates),
    gatewayCpu: medianDefined(ss.map((s) => s.gatewayCpu)),
    rootCpu: medianDefined(ss.map((s) => s.rootCpu)),
    cpuPerRequestUs: medianDefined(ss.map((s) => cpuPerRequestUs(s.gatewayCpu, s.rate))),
    genCpu: medianDefined(ss.map((s) => s.genCpu)),
    errors: ss.reduce((a, s) => a + s.errors + s.non2xx, 0),
  };
}

export function summarizeWorkers(samples: readonly WorkersSample[], n: number): WorkersSummary {
  const lines: WorkersLine[] = [];
  const vsNginx: WorkersSummary['vsNginx'] = [];
  for (const mode of WORKERS_MODES) {
    const byTarget = new Map<WorkersTarget, WorkersLine>();
    for (const target of ['nginx', 'certgate'] as const) {
      const of = (w: number) => cell(samples.filter((s) => s.mode === mode && s.target === target && s.workers === w));
      const one = of(1);
      const many = of(n);
      if (!one && !many) continue;
      const line = { mode, target, one, many, scaling: ratioOf(many?.rate, one?.rate), cpuTax: ratioOf(many?.cpuPerRequestUs, one?.cpuPerRequestUs) };
      byTarget.set(target, line);
      lines.push(line);
    }
    const ng = byTarget.get('nginx');
    const cg = byTarget.get('certgate');
    if (ng && cg) vsNginx.push({ mode, many: ratioOf(cg.many?.rate, ng.many?.rate), one: ratioOf(cg.one?.rate, ng.one?.rate) });
  }
  return { n, lines, vsNginx };
}

const TITLES: Record<WorkersMode, string> = { 'handshake-ec': 'handshakes (ECDSA)', keepalive: 'keep-alive' };

function f(x: number | null | undefined, digits: number, suffix = ''): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : `${x.toFixed(digits)}${suffix}`;
}

function rateCell(c: WorkersCell | undefined): string {
  return c ? `${f(c.rate, 0)} (${f(c.rateMin, 0)}-${f(c.rateMax, 0)})` : '-';
}

/** The scenario's verdict on the CPU-tax goal, for certgate lines. */
export function cpuTaxVerdict(line: WorkersLine): string {
  if (line.target !== 'certgate' || line.cpuTax === null) return '';
  return `${line.cpuTax <= CPU_TAX_GOAL ? 'met' : 'NOT met'} (goal <= ${CPU_TAX_GOAL.toFixed(2)}x)`;
}

/** The scaling goal applies only to N = 2 with the generator off the gateway's cores. */
export function scalingVerdict(line: WorkersLine, n: number, shared: boolean): string {
  if (line.target !== 'certgate' || line.scaling === null) return '';
  if (shared) return 'no verdict: the generator shares the cores';
  if (n !== 2) return '';
  return `${line.scaling >= SCALING_GOAL ? 'met' : 'NOT met'} (goal >= ${SCALING_GOAL.toFixed(1)}x)`;
}

/** Markdown tables: rates and CPU per request at N and 1, the N/1 ratios, then certgate / nginx. */
export function formatWorkers(s: WorkersSummary, plan: CorePlan): string {
  const n = s.n;
  const out = [
    `gateway on cores ${plan.gateway}; generator + upstream on ${plan.generator}${plan.shared ? ' (the same cores: the generator competes with the gateway)' : ''}`,
    '',
    `| load | target | rate, ${n} workers | rate, 1 worker | scaling ${n}/1 | gateway CPU (cores) ${n} / 1 | CPU µs per request ${n} / 1 | CPU per request ${n}/1 | goals (certgate) |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const l of s.lines) {
    const goals = [cpuTaxVerdict(l) && `CPU/request ${cpuTaxVerdict(l)}`, scalingVerdict(l, n, plan.shared) && `scaling ${scalingVerdict(l, n, plan.shared)}`].filter(Boolean).join('; ');
    const errors = (l.one?.errors ?? 0) + (l.many?.errors ?? 0);
    out.push(`| ${TITLES[l.mode]} | ${l.target} | ${rateCell(l.many)} | ${rateCell(l.one)} | ${f(l.scaling, 2, 'x')} | ${f(l.many?.gatewayCpu, 2)} / ${f(l.one?.gatewayCpu, 2)} | `
      + `${f(l.many?.cpuPerRequestUs, 1)} / ${f(l.one?.cpuPerRequestUs, 1)} | ${f(l.cpuTax, 3, 'x')} | ${goals}${errors ? `; errors/non-2xx ${errors}` : ''} |`);
  }
  if (s.vsNginx.length) {
    out.push('', `| load | certgate / nginx, ${n} workers each | certgate / nginx, 1 worker each |`, '|---|---|---|');
    for (const v of s.vsNginx) out.push(`| ${TITLES[v.mode]} | ${f(v.many, 2, 'x')} | ${f(v.one, 2, 'x')} |`);
  }
  if (plan.shared) {
    out.push('', `Scaling ${n}/1 is not the gateway's own: the load generator and the upstream run on the same cores, so at ${n} workers`,
      'they take CPU the gateway would use. CPU per request (summed over every process of the gateway) is the figure to judge here.');
  }
  return out.join('\n');
}
