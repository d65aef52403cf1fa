// Plain listeners with `redirectToHttps`: every request gets 301 to https://<host>:<port><path> (nginx's
// `return 301 https://$host$request_uri`), with the security headers; nothing is proxied.
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { scanRequestHeaders } from '../http/headers.ts';
import { answerError, record } from '../http/request-handler.ts';
import type { HandlerDeps, Decision } from '../http/request-handler.ts';
import { readConnection, NO_CLIENT_AUTH } from '../tls/connection-identity.ts';
import type { ListenerRuntime } from '../runtime.ts';

// A host name or address, optionally with a port: nothing that could bend the Location elsewhere.
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/** The https URL for a request to a plain listener, or undefined when Host is missing or malformed. */
export function redirectLocation(host: string | undefined, url: string, httpsPort: number): string | undefined {
  if (host === undefined) return undefined;
  const m = HOST.exec(host);
  if (!m || !url.startsWith('/')) return undefined;
  const port = httpsPort === 443 ? '' : `:${httpsPort}`;
  return `https://${m[1].toLowerCase()}${port}${url}`;
}

export function handleRedirect(rt: ListenerRuntime, deps: HandlerDeps, req: IncomingMessage, res: ServerResponse): void {
  const start = performance.now();
  const scan = scanRequestHeaders(req.rawHeaders);
  const state = readConnection(req.socket, null);
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const d: Decision = {
    scan, state, verdict: NO_CLIENT_AUTH, host: scan.host, path: q < 0 ? url : url.slice(0, q), query: '', reason: null, target: null, routePath: undefined,
  };
  const location = scan.hostCount === 1 ? redirectLocation(scan.host, url, rt.redirectPort!) : undefined;
  if (location === undefined) {
    answerError(deps, rt, req, res, d, 'bad_request', start);
    return;
  }
  res.writeHead(301, ['location', location, 'content-length', '0', 'cache-control', 'no-store', ...rt.security.flat]);
  res.end();
  record(deps, rt, req, d, 301, 0, start);
}
