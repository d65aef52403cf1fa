// WebSocket (HTTP/1.1 Upgrade): every decision step runs before the upgrade; allowed upgrades become a raw tunnel
// to the upstream, piped both ways; refused ones get the error page and the connection is closed.
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { http } from '../../core/node-http.ts';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { decide, record, answerError, handleRequest, upstreamHost, connectionOf, stateOf } from './request-handler.ts';
import type { HandlerDeps, Decision } from './request-handler.ts';
import type { ListenerRuntime } from '../runtime.ts';
import type { ClientConnection } from '../listener/connection-registry.ts';
import type { ReasonCode } from '../policy/reasons.ts';
import { reasonForUpstreamError, tagTlsAlerts } from '../upstream/upstream-errors.ts';
import { upstreamPath } from '../upstream/upstream-path.ts';

// eslint-disable-next-line no-control-regex
const UNSAFE_VALUE = /[\r\n\0]/;

/** Writes the error page as a raw HTTP/1.1 response on an upgrade socket and closes it. */
function refuse(deps: HandlerDeps, rt: ListenerRuntime, req: IncomingMessage, socket: Duplex, d: Decision, reason: ReasonCode, start: number): void {
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.on('finish', () => socket.end());
  answerError(deps, rt, req, res, d, reason, start);
}

/** Handles the `upgrade` event of the HTTP/1.1 side of a listener. */
export function handleUpgrade(rt: ListenerRuntime, deps: HandlerDeps, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const start = performance.now();
  socket.on('error', () => socket.destroy());
  const conn = connectionOf(deps, req);
  const state = stateOf(rt, conn, req);
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    // Not a WebSocket (e.g. "Upgrade: h2c", which curl --http2 adds to plain-http requests). On Node >= 24.9 these
    // never get here: the listener's shouldUpgradeCallback (server.ts) has Node's parser treat them as the ordinary
    // requests they also are, body included. On older Node the parser stops after the headers and leaves any body
    // on the socket, unparsed: such a request is refused (400) rather than forwarded with its body lost.
    const res = new http.ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.on('finish', () => socket.end());
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    if (hasBody) {
      const d = decide(rt, state, req.rawHeaders, req.url, Date.now(), req.httpVersion === '1.1');
      answerError(deps, rt, req, res, d, 'bad_request', start);
      return;
    }
    handleRequest(rt, deps, req, res);
    return;
  }
  const d = decide(rt, state, req.rawHeaders, req.url, Date.now(), req.httpVersion === '1.1');
  if (d.reason === null && d.target !== null && !d.target.websocket) d.reason = 'websocket_refused';
  if (d.reason !== null || d.target === null) {
    refuse(deps, rt, req, socket, d, d.reason ?? 'internal_error', start);
    return;
  }
  tunnel(rt, deps, req, socket, head, d, start, conn);
}

function requestHead(rt: ListenerRuntime, req: IncomingMessage, d: Decision): string | undefined {
  const host = upstreamHost(d, req);
  const ip = d.state.ip;
  const headers = [
    ...d.scan.forward,
    'host', d.target!.hostHeader ?? host,
    'x-forwarded-for', d.scan.xff === undefined ? ip : `${d.scan.xff}, ${ip}`,
    'x-forwarded-proto', rt.scheme,
    'x-forwarded-host', host,
    'x-real-ip', ip,
    ...d.verdict.headers,
    'connection', 'Upgrade',
    'upgrade', 'websocket',
  ];
  let head = `${req.method} ${upstreamPath(d.target!.paths, d.path)}${d.query} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    // Node's parser already refused CR/LF from the client; this guards values certgate builds itself.
    if (UNSAFE_VALUE.test(headers[i]) || UNSAFE_VALUE.test(headers[i + 1])) return undefined;
    head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  }
  return head + '\r\n';
}

function tunnel(rt: ListenerRuntime, deps: HandlerDeps, req: IncomingMessage, client: Duplex, head: Buffer, d: Decision, start: number, conn: ClientConnection | undefined): void {
  const target = d.target!;
  const up = target.upstream;
  const headText = requestHead(rt, req, d);
  if (headText === undefined) {
    refuse(deps, rt, req, client, d, 'bad_request', start);
    return;
  }
  const upstream: Socket = up.tls
    ? tlsConnect({ host: up.hostname, port: up.port, ...up.tlsOptions, ALPNProtocols: ['http/1.1'] })
    : netConnect({ host: up.hostname, port: up.port });
  const alerts = up.tls ? tagTlsAlerts(upstream) : undefined;
  // the upgrade request and small WebSocket frames must not wait for delayed ACKs (undici does the same)
  upstream.setNoDelay(true);
  const connectTimer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), up.connectTimeoutMs);
  let status = 0;
  let bytes = 0;
  let open = false;
  let done = false;
  // Before the upstream answered, a failure still gets the error page; afterwards only closing is honest.
  const failEarly = (err: Error) => {
    if (done) return;
    done = true;
    clearTimeout(connectTimer);
    const { reason, kind } = reasonForUpstreamError(err);
    deps.metrics.upstreamErrors.inc({ upstream: up.origin, kind });
    deps.logger.warn({ event: 'proxy.upstream_error', upstream: up.origin, kind, code: (err as { code?: string }).code, err: err.message, path: d.path }, 'WebSocket upstream failed');
    upstream.destroy();
    refuse(deps, rt, req, client, d, reason, start);
  };
  upstream.once(up.tls ? 'secureConnect' : 'connect', () => {
    clearTimeout(connectTimer);
    open = true;
    deps.metrics.websockets.inc();
    upstream.write(headText);
    upstream.on('data', (chunk: Buffer) => (bytes += chunk.length));
    // The tunnel opens only once the upstream agreed (101). Until then nothing else the client sent goes upstream:
    // an upstream that ignores the upgrade and keeps the connection alive would otherwise read those bytes (or a
    // later request) as a new request that no check saw, forged X-Client-* headers and all.
    let answer: Buffer = Buffer.alloc(0);
    const onAnswer = (chunk: Buffer) => {
      answer = answer.length ? Buffer.concat([answer, chunk]) : chunk;
      if (answer.indexOf('\r\n') < 0 && answer.length < 64) return; // the status line is not complete yet
      upstream.off('data', onAnswer);
      status = Number(answer.subarray(9, 12).toString('latin1')) || 502;
      upstream.pause();
      client.write(answer);
      upstream.pipe(client);
      if (status === 101) {
        if (head.length) upstream.write(head);
        client.pipe(upstream);
        return;
      }
      // Refused (any other status): relay that answer, send the upstream nothing more, and close once it is done.
      client.on('data', () => undefined);
      upstream.end();
      const timer = setTimeout(() => upstream.destroy(), target.readTimeoutMs);
      upstream.once('close', () => {
        clearTimeout(timer);
        client.end();
      });
    };
    upstream.on('data', onAnswer);
  });
  upstream.on('error', (err) => {
    if (status === 0) failEarly(err);
    else client.destroy();
  });
  upstream.on('close', () => {
    if (status === 0) failEarly(Object.assign(new Error('upstream closed before answering'), { code: 'UND_ERR_SOCKET', cause: alerts?.alert() }));
  });
  // A tunnel carries no requests to re-check, so it is registered with the connection: a trust change that refuses
  // its certificate closes it. And a tunnel with no byte either way for tunnelIdle is closed (the client socket's
  // timer sees both directions: reads from the client and writes of what the upstream sent).
  // The connection carries no more requests: lifetime (which ends idle keep-alive connections) must not end it.
  if (conn !== undefined) conn.tunnel = true;
  const unbind = conn !== undefined && d.route !== undefined && !d.route.config.public && d.verdict.identity !== null
    ? deps.registry.bind(conn, { route: d.route, kind: 'websocket', close: () => { client.destroy(); upstream.destroy(); }, forwarded: d.forwarded })
    : undefined;
  (client as Socket).setTimeout(rt.tunnelIdleMs, () => {
    deps.registry.hit('tunnel_idle', d.state.ip);
    client.destroy();
    upstream.destroy();
  });
  client.on('close', () => {
    unbind?.();
    upstream.destroy();
    if (open) deps.metrics.websockets.dec();
    open = false;
    if (done) return;
    done = true;
    clearTimeout(connectTimer);
    record(deps, rt, req, d, status || 499, bytes, start);
  });
}
