// Test helper: what the kernel and the process say about sockets — `ss -tan` states for one local port, the
// process's open descriptors — plus a bounded poll and limit-hit counts read from a gateway's metrics registry.
import { readdirSync } from 'node:fs';
import { runProcess } from './cli.ts';
import type { GatewayMetrics } from '../../src/observability/metrics.ts';

/** Open file descriptors of this process (the in-process gateway's sockets included). */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** TCP states (`ss -tan`) of the sockets whose local port is `port`, e.g. {ESTAB: 3, 'CLOSE-WAIT': 1}. */
export async function tcpStates(port: number): Promise<Record<string, number>> {
  const r = await runProcess('ss', ['-tanH'], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`ss failed: ${r.stderr}`);
  const states: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const cols = line.trim().split(/\s+/);
    // State Recv-Q Send-Q Local:Port Peer:Port
    if (cols.length < 5 || !cols[3].endsWith(`:${port}`)) continue;
    states[cols[0]] = (states[cols[0]] ?? 0) + 1;
  }
  return states;
}

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passed; returns its last result. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The value of a labelled sample in the registry's text exposition (0 when absent). */
export async function sample(metrics: GatewayMetrics, name: string, labels: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const escaped = labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${name}\\{${escaped}\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** `certgate_limit_hits_total{limit=...}`. */
export function limitHits(metrics: GatewayMetrics, limit: string): Promise<number> {
  return sample(metrics, 'certgate_limit_hits_total', `limit="${limit}"`);
}
