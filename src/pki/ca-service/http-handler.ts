// The request handler of `ca serve`: GET/HEAD of the published files with validators, conditional GET and long-poll.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { notModified } from './conditional.ts';
import type { LongPollRegistry, ReleaseReason } from './long-poll.ts';
import type { CaServiceMetrics } from './metrics.ts';
import type { Representation } from './published.ts';
import { routeOf, waitSeconds } from './routes.ts';
import type { RouteTable } from './routes.ts';
import type { ServedCa } from './served-ca.ts';

export interface HandlerState {
  table: RouteTable;
  cas: readonly ServedCa[];
  waiters: LongPollRegistry;
  metrics: CaServiceMetrics;
  /** Cap of `wait`, seconds. */
  maxWaitSeconds: number;
  /** /healthz answer. */
  health(): { status: number; body: unknown };
}

/** The key a long-poll waits on. */
export function waitKey(ca: number, file: string): string {
  return `${ca}:${file}`;
}

function send(res: ServerResponse, metrics: CaServiceMetrics, status: number, headers: Record<string, string>, body?: Buffer | string): void {
  metrics.requests.inc({ code: String(status) });
  res.writeHead(status, headers);
  res.end(body);
}

function validators(rep: Representation, wait: number): Record<string, string> {
  const h: Record<string, string> = {
    etag: rep.etag,
    'last-modified': rep.lastModified.toUTCString(),
    'cache-control': 'no-cache',
  };
  if (rep.crl) {
    h['x-certgate-crl-number'] = rep.crl.number.toString();
    if (rep.crl.nextUpdate) h['x-certgate-crl-next-update'] = rep.crl.nextUpdate.toISOString();
  }
  if (wait > 0) h['x-certgate-wait'] = String(wait);
  return h;
}

function sendRepresentation(req: IncomingMessage, res: ServerResponse, state: HandlerState, rep: Representation, wait: number, extra: Record<string, string> = {}): void {
  const headers = { ...validators(rep, wait), 'content-type': rep.contentType, 'content-length': String(rep.body.length), 'x-content-type-options': 'nosniff', ...extra };
  send(res, state.metrics, 200, headers, req.method === 'HEAD' ? undefined : rep.body);
}

function sendNotModified(res: ServerResponse, state: HandlerState, rep: Representation, wait: number, extra: Record<string, string> = {}): void {
  send(res, state.metrics, 304, { ...validators(rep, wait), ...extra });
}

/** Builds the handler. Everything it answers is public and read-only (docs/crl-distribution.md). */
export function createRequestHandler(state: HandlerState): (req: IncomingMessage, res: ServerResponse) => void {
  const text = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
  return (req, res) => {
    const target = req.url ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, state.metrics, 405, { ...text, allow: 'GET, HEAD' }, 'method not allowed: this service is read-only (GET, HEAD)\n');
      return;
    }
    const route = routeOf(state.table, target);
    if (!route) {
      send(res, state.metrics, 404, text, 'not found\n');
      return;
    }
    if (route.kind === 'health') {
      const h = state.health();
      send(res, state.metrics, h.status, { 'content-type': 'application/json', 'cache-control': 'no-store' }, JSON.stringify(h.body) + '\n');
      return;
    }
    if (route.kind === 'metrics') {
      state.metrics.registry.metrics().then(
        (body) => send(res, state.metrics, 200, { 'content-type': state.metrics.registry.contentType, 'cache-control': 'no-store' }, body),
        () => send(res, state.metrics, 500, text, 'metrics failed\n'),
      );
      return;
    }
    const served = state.cas[route.ca];
    const current = () => served.current.files.get(route.file)!;
    const rep = current();
    const wait = waitSeconds(target, state.maxWaitSeconds);
    if (!notModified(req.headers, rep.etag, rep.lastModified)) {
      sendRepresentation(req, res, state, rep, wait);
      return;
    }
    // the client's copy is current: hold the request when it asked to wait and named its copy by ETag
    if (wait === 0 || req.headers['if-none-match'] === undefined) {
      sendNotModified(res, state, rep, wait);
      return;
    }
    const onRelease = (why: ReleaseReason) => {
      state.metrics.waiting.set(state.waiters.size);
      if (why === 'gone') return;
      const now = current();
      if (why === 'closing') sendNotModified(res, state, now, wait, { connection: 'close' });
      else if (why === 'changed' && !notModified(req.headers, now.etag, now.lastModified)) sendRepresentation(req, res, state, now, wait);
      else sendNotModified(res, state, now, wait);
    };
    const cancel = state.waiters.hold(waitKey(route.ca, route.file), rep.etag, wait * 1000, onRelease);
    if (!cancel) {
      send(res, state.metrics, 503, { ...text, 'retry-after': '1' }, 'too many waiting requests: retry in a second\n');
      return;
    }
    state.metrics.waiting.set(state.waiters.size);
    res.on('close', cancel);
  };
}
