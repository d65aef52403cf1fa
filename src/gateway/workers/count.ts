// How many gateway processes a config asks for, and how connections reach them. Pure.
import type { GatewayConfig } from '../../config/schema.ts';
import { splitListen } from '../runtime.ts';

export interface WorkerPlan {
  count: number;
  /** Why the count is what it is, for the start-up log line. */
  why: string;
  /** SO_REUSEPORT: each worker binds its own socket and the kernel spreads connections (else node:cluster's primary hands them out). */
  reusePort: boolean;
}

/** Platforms whose SO_REUSEPORT spreads connections over the sockets bound to one address. */
const REUSEPORT_PLATFORMS = new Set(['linux', 'freebsd']);

export function planWorkers(config: GatewayConfig, cpus: number, platform: string): WorkerPlan {
  const reusePort = REUSEPORT_PLATFORMS.has(platform);
  if (config.workers === 1) return { count: 1, why: 'workers: 1', reusePort };
  const zero = config.servers.find((s) => splitListen(s.listen).port === 0) ?? (config.metrics && splitListen(config.metrics.listen).port === 0 ? config.metrics : undefined);
  // port 0 means "any free port", and each worker would get another one: one process then
  if (zero) return { count: 1, why: `${zero.listen} asks for any free port (port 0), which several workers cannot share`, reusePort };
  if (config.workers === 'auto') return { count: Math.max(1, cpus), why: `workers: auto (${cpus} CPU${cpus === 1 ? '' : 's'} available)`, reusePort };
  return { count: config.workers, why: `workers: ${config.workers}`, reusePort };
}
