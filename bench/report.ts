// Pure reporting for the benchmark: medians over runs, certgate/nginx ratios, text and Markdown tables.
import type { TargetName } from './targets.ts';

export const SCENARIO_IDS = ['handshake-ec', 'handshake-rsa', 'keepalive', 'mtls-upstream', 'idle'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

export interface Scenario {
  id: ScenarioId;
  title: string;
  unit: string;
  higherIsBetter: boolean;
  /** The issue's goal for certgate: a ratio to nginx, or an absolute bound (idle KiB per connection). */
  goal: { kind: 'ratio' | 'absolute'; op: '>=' | '<='; value: number };
}

export const SCENARIOS: Record<ScenarioId, Scenario> = {
  'handshake-ec': { id: 'handshake-ec', title: 'full mTLS handshakes, ECDSA P-256', unit: 'handshakes/s', higherIsBetter: true, goal: { kind: 'ratio', op: '>=', value: 1.0 } },
  'handshake-rsa': { id: 'handshake-rsa', title: 'full mTLS handshakes, RSA-2048', unit: 'handshakes/s', higherIsBetter: true, goal: { kind: 'ratio', op: '>=', value: 1.0 } },
  keepalive: { id: 'keepalive', title: 'keep-alive, 64 connections', unit: 'req/s', higherIsBetter: true, goal: { kind: 'ratio', op: '>=', value: 0.45 } },
  'mtls-upstream': { id: 'mtls-upstream', title: 'keep-alive, 64 conns, mTLS upstream', unit: 'req/s', higherIsBetter: true, goal: { kind: 'ratio', op: '>=', value: 0.5 } },
  idle: { id: 'idle', title: 'RSS, 2,000 idle mTLS connections', unit: 'KiB/conn', higherIsBetter: false, goal: { kind: 'absolute', op: '<=', value: 60 } },
};

/** Per-run figures besides the headline value: a Sample holds one run's, a Row the medians over runs. */
export interface RunFigures {
  scenario: ScenarioId;
  target: TargetName;
  p50ms?: number;
  p99ms?: number;
  /** CPU of the target process over the measured window, in cores. */
  targetCpu?: number;
  /** CPU of the load generator and of the upstream nginx, in cores (both on the generator's core). */
  genCpu?: number;
  upstreamCpu?: number;
  /** Busy fraction of core 0 (target) and core 1 (generator + upstream), all processes included. */
  core0?: number;
  core1?: number;
  /** irq + softirq share of core 0 and core 1 (kernel packet work; largely also inside the processes' stime). */
  softirq0?: number;
  softirq1?: number;
  errors: number;
  rssBeforeKiB?: number;
  rssAfterKiB?: number;
}

/** One measurement of one target in one scenario. `value` is the headline figure (rate, or KiB per connection). */
export interface Sample extends RunFigures {
  run: number;
  value: number;
  non2xx: number;
  open?: number;
}

export interface Row extends RunFigures {
  runs: number;
  median: number;
  min: number;
  max: number;
  /** median(target) / median(nginx); null for nginx itself or when nginx has no figure. */
  ratio: number | null;
  /**
   * Median of value / targetCore(): the rate per second of core 0 the target actually got. Other work on the
   * machine steals CPU from the target; this figure is far less sensitive to that than the absolute rate.
   */
  perCore?: number;
  perCoreRatio?: number | null;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function medianOf(samples: Sample[], pick: (s: Sample) => number | undefined): number | undefined {
  const xs = samples.map(pick).filter((x): x is number => typeof x === 'number' && x >= 0);
  return xs.length ? median(xs) : undefined;
}

/**
 * The share of core 0 the target used: its CPU time from /proc/PID/stat. Kernel softirq time (loopback packet work)
 * is not added: with tick-based accounting the tick that lands in softirq is charged both to the interrupted task's
 * stime and to /proc/stat's softirq column (measured: nginx 0.99 CPU + 0.29 softirq on a core that is 1.00 busy).
 */
export function targetCore(s: { targetCpu?: number }): number | undefined {
  return s.targetCpu;
}

function perCoreOf(s: Sample): number | undefined {
  const c = targetCore(s);
  return c && c > 0.05 ? s.value / c : undefined;
}

function perCoreFields(ss: Sample[], target: TargetName, base: number | undefined): Pick<Row, 'perCore' | 'perCoreRatio'> {
  const perCore = medianOf(ss, perCoreOf);
  if (perCore === undefined) return {};
  return { perCore, perCoreRatio: target === 'nginx' || !base ? null : perCore / base };
}

/** Medians per scenario and target (in the given target order), with ratios to nginx. */
export function summarize(samples: Sample[], targets: readonly TargetName[]): Row[] {
  const rows: Row[] = [];
  for (const id of SCENARIO_IDS) {
    const base = samples.filter((s) => s.scenario === id && s.target === 'nginx');
    const baseMedian = base.length ? median(base.map((s) => s.value)) : NaN;
    const basePerCore = medianOf(base, perCoreOf);
    for (const target of targets) {
      const ss = samples.filter((s) => s.scenario === id && s.target === target);
      if (!ss.length) continue;
      const values = ss.map((s) => s.value);
      const m = median(values);
      rows.push({
        scenario: id,
        target,
        runs: ss.length,
        median: m,
        min: Math.min(...values),
        max: Math.max(...values),
        p50ms: medianOf(ss, (s) => s.p50ms),
        p99ms: medianOf(ss, (s) => s.p99ms),
        targetCpu: medianOf(ss, (s) => s.targetCpu),
        genCpu: medianOf(ss, (s) => s.genCpu),
        upstreamCpu: medianOf(ss, (s) => s.upstreamCpu),
        core0: medianOf(ss, (s) => s.core0),
        core1: medianOf(ss, (s) => s.core1),
        softirq0: medianOf(ss, (s) => s.softirq0),
        softirq1: medianOf(ss, (s) => s.softirq1),
        errors: ss.reduce((a, s) => a + s.errors + s.non2xx, 0),
        ratio: target === 'nginx' || !Number.isFinite(baseMedian) || baseMedian === 0 ? null : m / baseMedian,
        rssBeforeKiB: medianOf(ss, (s) => s.rssBeforeKiB),
        rssAfterKiB: medianOf(ss, (s) => s.rssAfterKiB),
        ...perCoreFields(ss, target, basePerCore),
      });
    }
  }
  return rows;
}

/** "met" / "not met" against the issue's goal, for certgate rows only. */
export function goalVerdict(row: Row): string {
  if (row.target !== 'certgate') return '';
  const g = SCENARIOS[row.scenario].goal;
  const x = g.kind === 'ratio' ? row.ratio : row.median;
  if (x === null || !Number.isFinite(x)) return '';
  const met = g.op === '>=' ? x >= g.value : x <= g.value;
  const goal = g.kind === 'ratio' ? `${g.op} ${g.value.toFixed(2)}x nginx` : `${g.op} ${g.value} ${SCENARIOS[row.scenario].unit}`;
  return `${met ? 'met' : 'NOT met'} (goal ${goal})`;
}

/**
 * Is the nginx figure limited by nginx (what we want) or by the generator's core? The generator and the upstream
 * share core 1, so a busy core 1 with nginx below one core means nginx's figure is a floor, not its ceiling.
 */
export function boundNote(row: Row): string {
  const used = targetCore(row);
  if (used === undefined) return '';
  const cpu = used.toFixed(2);
  const soft = row.softirq0 === undefined ? '' : `, softirq ${row.softirq0.toFixed(2)} of it`;
  if (used >= 0.9) return `target-bound (target CPU ${cpu})`;
  const ours1 = (row.genCpu ?? 0) + (row.upstreamCpu ?? 0);
  if (ours1 >= 0.85) return `generator-bound (generator + upstream ${ours1.toFixed(2)} of core 1): figure is a floor`;
  const other0 = Math.max(0, (row.core0 ?? 0) - used);
  const other1 = Math.max(0, (row.core1 ?? 0) - ours1);
  return `contended (target CPU ${cpu}${soft}; other work: core 0 ${other0.toFixed(2)}, core 1 ${other1.toFixed(2)})`;
}

function fmt(x: number | undefined, digits = 0): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

function figure(row: Row): string {
  const d = row.median < 100 ? 1 : 0;
  const spread = row.median ? ((row.max - row.min) / row.median) * 100 : 0;
  return `${fmt(row.median, d)} (${fmt(row.min, d)}-${fmt(row.max, d)}, spread ${spread.toFixed(0)}%)`;
}

export function formatText(rows: Row[]): string {
  const out: string[] = [];
  for (const id of SCENARIO_IDS) {
    const rs = rows.filter((r) => r.scenario === id);
    if (!rs.length) continue;
    const sc = SCENARIOS[id];
    out.push(`\n${sc.title} [${sc.unit}, ${sc.higherIsBetter ? 'higher' : 'lower'} is better]`);
    for (const r of rs) {
      const parts = [`  ${r.target.padEnd(10)} ${figure(r).padEnd(36)}`];
      parts.push(r.ratio === null ? '        ' : `${r.ratio.toFixed(2)}x`.padStart(6) + '  ');
      if (id === 'idle') parts.push(`RSS ${fmt(r.rssBeforeKiB)} -> ${fmt(r.rssAfterKiB)} KiB`);
      else {
        const eff = r.perCore === undefined ? '' : `per core-s ${fmt(r.perCore)}${r.perCoreRatio ? ` (${r.perCoreRatio.toFixed(2)}x)` : ''}  `;
        parts.push(`p50 ${fmt(r.p50ms, 2)} ms  p99 ${fmt(r.p99ms, 2)} ms  ${eff}${boundNote(r)}`);
      }
      if (r.errors) parts.push(`  errors/non-2xx: ${r.errors}`);
      const v = goalVerdict(r);
      if (v) parts.push(`  ${v}`);
      out.push(parts.join(''));
    }
  }
  return out.join('\n');
}

function perCoreCell(r: Row): string {
  if (r.perCore === undefined) return '';
  return `${fmt(r.perCore)}${r.perCoreRatio ? ` (${r.perCoreRatio.toFixed(2)}x)` : ''}`;
}

export function formatMarkdown(rows: Row[]): string {
  const out = [
    '| scenario | target | median (min-max) | ratio to nginx | p50 / p99 ms | target CPU | per core-s (ratio) | core 1 busy | goal |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const sc = SCENARIOS[r.scenario];
    const lat = r.scenario === 'idle' ? `RSS ${fmt(r.rssBeforeKiB)} -> ${fmt(r.rssAfterKiB)} KiB` : `${fmt(r.p50ms, 2)} / ${fmt(r.p99ms, 2)}`;
    out.push(`| ${sc.title} (${sc.unit}) | ${r.target} | ${figure(r)} | ${r.ratio === null ? '' : `${r.ratio.toFixed(2)}x`} | ${lat} | ${fmt(r.targetCpu, 2)} | ${perCoreCell(r)} | ${fmt(r.core1, 2)} | ${goalVerdict(r)} |`);
  }
  return out.join('\n');
}
