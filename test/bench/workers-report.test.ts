// The workers scenario's pure parts: core plan, CPU summed over a process tree, CPU per request, medians and ratios.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpuPerRequestUs, cpuTaxVerdict, formatWorkers, planCores, ratioOf, scalingVerdict, summarizeWorkers, treeCpu,
  type WorkersSample,
} from '../../bench/workers-report.ts';

test('planCores: gateway on the first N cores, generator on the rest or (none left) on the same ones', () => {
  const rows = [
    { n: 2, nproc: 2, want: { gateway: '0-1', generator: '0-1', shared: true } },
    { n: 2, nproc: 3, want: { gateway: '0-1', generator: '2', shared: false } },
    { n: 2, nproc: 8, want: { gateway: '0-1', generator: '2-7', shared: false } },
    { n: 4, nproc: 4, want: { gateway: '0-3', generator: '0-3', shared: true } },
  ];
  for (const { n, nproc, want } of rows) assert.deepEqual(planCores(n, nproc), want, `${n} of ${nproc}`);
  const refused = [
    { n: 1, nproc: 2, why: /at least 2/ },
    { n: 0, nproc: 2, why: /at least 2/ },
    { n: 2.5, nproc: 4, why: /whole number/ },
    { n: 3, nproc: 2, why: /use 2 cores/ },
  ];
  for (const { n, nproc, why } of refused) assert.throws(() => planCores(n, nproc), why, `${n} of ${nproc}`);
});

test('treeCpu sums every process of the tree; a missing or negative reading (process gone) voids the sum', () => {
  const rows: Array<{ watch: Record<string, number> | undefined; pids: number[]; want: number | undefined }> = [
    { watch: { 10: 0.01, 11: 0.6, 12: 0.55, 99: 0.3 }, pids: [10, 11, 12], want: 1.16 }, // 99 (the upstream) left out
    { watch: { 10: 0.9 }, pids: [10], want: 0.9 },
    { watch: { 10: 0, 11: 0 }, pids: [10, 11], want: 0 },
    { watch: { 10: 0.01, 11: -1 }, pids: [10, 11], want: undefined },
    { watch: { 10: 0.01 }, pids: [10, 11], want: undefined },
    { watch: { 10: 0.01 }, pids: [], want: undefined },
    { watch: undefined, pids: [10], want: undefined },
  ];
  for (const { watch, pids, want } of rows) {
    const got = treeCpu(watch, pids);
    if (want === undefined) assert.equal(got, undefined, JSON.stringify({ watch, pids }));
    else assert.ok(got !== undefined && Math.abs(got - want) < 1e-9, `${JSON.stringify({ watch, pids })}: ${got}`);
  }
});

test('cpuPerRequestUs: CPU seconds per second over requests per second, in microseconds', () => {
  const rows: Array<{ cpu: number | undefined; rate: number; want: number | undefined }> = [
    { cpu: 1, rate: 1000, want: 1000 },
    { cpu: 0.5, rate: 20_000, want: 25 },
    { cpu: 0, rate: 100, want: 0 },
    { cpu: 1, rate: 0, want: undefined },
    { cpu: 1, rate: -5, want: undefined },
    { cpu: undefined, rate: 100, want: undefined },
    { cpu: -1, rate: 100, want: undefined },
    { cpu: Number.NaN, rate: 100, want: undefined },
  ];
  for (const { cpu, rate, want } of rows) assert.equal(cpuPerRequestUs(cpu, rate), want, `${cpu} / ${rate}`);
  assert.equal(ratioOf(3, 2), 1.5);
  assert.equal(ratioOf(3, 0), null);
  assert.equal(ratioOf(undefined, 2), null);
});

function sample(target: 'nginx' | 'certgate', workers: number, run: number, rate: number, gatewayCpu: number, mode: WorkersSample['mode'] = 'keepalive'): WorkersSample {
  return { mode, target, workers, run, rate, gatewayCpu, workerCpu: [], errors: 0, non2xx: 0 };
}

test('summarizeWorkers: medians, scaling N/1, CPU per request N vs 1 (median of per-run figures), certgate / nginx', () => {
  const samples = [
    // certgate, 2 workers: per-run CPU/request 100, 110, 300 µs -> median 110 (the median rate/CPU would give another figure)
    sample('certgate', 2, 1, 10_000, 1.0), sample('certgate', 2, 2, 10_000, 1.1), sample('certgate', 2, 3, 4_000, 1.2),
    // certgate, 1 worker: 100 µs each run
    sample('certgate', 1, 1, 6_000, 0.6), sample('certgate', 1, 2, 7_000, 0.7), sample('certgate', 1, 3, 8_000, 0.8),
    sample('nginx', 2, 1, 40_000, 1.0), sample('nginx', 1, 1, 25_000, 0.625),
    // a handshake line with no 1-worker run: no ratios, no crash
    sample('certgate', 2, 1, 500, 1.0, 'handshake-ec'),
  ];
  const s = summarizeWorkers(samples, 2);
  assert.equal(s.n, 2);
  const cg = s.lines.find((l) => l.mode === 'keepalive' && l.target === 'certgate')!;
  assert.equal(cg.many?.rate, 10_000);
  assert.equal(cg.many?.rateMin, 4_000);
  assert.equal(cg.many?.runs, 3);
  assert.ok(Math.abs((cg.many?.cpuPerRequestUs ?? 0) - 110) < 1e-9, String(cg.many?.cpuPerRequestUs));
  assert.ok(Math.abs((cg.one?.cpuPerRequestUs ?? 0) - 100) < 1e-9);
  assert.ok(Math.abs((cg.cpuTax ?? 0) - 1.1) < 1e-9);
  assert.ok(Math.abs((cg.scaling ?? 0) - 10_000 / 7_000) < 1e-9);
  const ng = s.lines.find((l) => l.mode === 'keepalive' && l.target === 'nginx')!;
  assert.ok(Math.abs((ng.cpuTax ?? 0) - 1) < 1e-9); // 25 µs both
  const ka = s.vsNginx.find((v) => v.mode === 'keepalive')!;
  assert.equal(ka.many, 10_000 / 40_000);
  assert.equal(ka.one, 7_000 / 25_000);
  const hs = s.lines.find((l) => l.mode === 'handshake-ec')!;
  assert.equal(hs.one, undefined);
  assert.equal(hs.scaling, null);
  assert.equal(hs.cpuTax, null);
  assert.equal(s.vsNginx.some((v) => v.mode === 'handshake-ec'), false); // no nginx handshake figure
});

test('verdicts: CPU per request within 10 %; scaling judged only with the generator off the gateway cores and N = 2', () => {
  const line = (cpuTax: number | null, scaling: number | null, target: 'nginx' | 'certgate' = 'certgate') => ({ mode: 'keepalive' as const, target, scaling, cpuTax });
  const rows = [
    { l: line(1.05, 1.9), n: 2, shared: false, tax: /^met/, scale: /^met/ },
    { l: line(1.1, 1.8), n: 2, shared: false, tax: /^met/, scale: /^met/ },
    { l: line(1.11, 1.79), n: 2, shared: false, tax: /^NOT met/, scale: /^NOT met/ },
    { l: line(0.9, 1.0), n: 2, shared: true, tax: /^met/, scale: /^no verdict: the generator shares/ },
    { l: line(1.0, 3.5), n: 4, shared: false, tax: /^met/, scale: /^$/ },
    { l: line(null, null), n: 2, shared: false, tax: /^$/, scale: /^$/ },
    { l: line(2, 0.5, 'nginx'), n: 2, shared: false, tax: /^$/, scale: /^$/ },
  ];
  for (const { l, n, shared, tax, scale } of rows) {
    assert.match(cpuTaxVerdict(l), tax, JSON.stringify(l));
    assert.match(scalingVerdict(l, n, shared), scale, JSON.stringify({ l, n, shared }));
  }
});

test('formatWorkers prints both ratios to nginx and says when the generator shares the cores', () => {
  const s = summarizeWorkers([sample('certgate', 2, 1, 9_000, 0.9), sample('certgate', 1, 1, 6_000, 0.6), sample('nginx', 2, 1, 30_000, 0.9), sample('nginx', 1, 1, 20_000, 0.6)], 2);
  const shared = formatWorkers(s, planCores(2, 2));
  assert.match(shared, /\| keep-alive \| certgate \| 9000 \(9000-9000\) \| 6000 \(6000-6000\) \| 1\.50x \|/);
  assert.match(shared, /\| keep-alive \| 0\.30x \| 0\.30x \|/);
  assert.match(shared, /CPU\/request met/);
  assert.match(shared, /the load generator and the upstream run on the same cores/);
  const apart = formatWorkers(s, planCores(2, 4));
  assert.doesNotMatch(apart, /run on the same cores/);
  assert.match(apart, /scaling NOT met \(goal >= 1\.8x\)/);
});
