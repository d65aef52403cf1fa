// The messages between the primary and its workers (node:cluster IPC, JSON): start, two-phase reloads, trust
// changes with the shared TLS ticket keys, metrics and readiness questions, log reopening, drain.
import type { GatewayConfig } from '../../config/schema.ts';
import type { BoundAddress } from '../gateway.ts';

/** Primary -> worker. `keys`: the TLS session-ticket keys every worker uses (48 bytes, base64). */
export type ToWorker =
  | { t: 'start'; config: GatewayConfig; keys: string }
  | { t: 'prepare'; id: number; config: GatewayConfig; keys: string }
  | { t: 'commit'; id: number }
  | { t: 'abort'; id: number }
  | { t: 'trust'; keys: string }
  | { t: 'metrics'; id: number }
  | { t: 'ready'; id: number }
  | { t: 'reopen' }
  | { t: 'stop'; timeoutMs: number };

/** Worker -> primary. */
export type FromWorker =
  | { t: 'hello' }
  | { t: 'started'; addresses: BoundAddress[] }
  | { t: 'failed'; message: string; code?: string }
  | { t: 'prepared'; id: number }
  | { t: 'prepare_failed'; id: number; message: string; code?: string }
  | { t: 'committed'; id: number }
  | { t: 'metrics'; id: number; json: unknown[] }
  | { t: 'ready'; id: number; reasons: string[] };

/** Tells a certgate message from others on the same channel (prom-client and node:cluster use it too). */
export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}

export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
