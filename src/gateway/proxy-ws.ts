// WebSocket (HTTP/1.1 Upgrade): every decision step runs before the upgrade; allowed upgrades become a raw tunnel
// to the upstream, piped both ways; refused ones get the error page and the connection is closed.
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ServerResponse } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Duplex, Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { decide, record, answerError, handleRequest, upstreamHost, connectionOf, stateOf } from './request-handler.ts';
import type { HandlerDeps, Decision } from './request-handler.ts';
import type { ListenerRuntime } from './runtime.ts';
import type { ClientConnection } from './connection-registry.ts';
import type { ReasonCode } from './reasons.ts';
import { reasonForUpstreamError, BAD_REQUEST_BODY } from './proxy-http.ts';

// eslint-disable-next-line no-control-regex
const UNSAFE_VALUE = /[\r\n\0]/;

/** Writes the error page as a raw HTTP/1.1 response on an upgrade socket and closes it. */
function refuse(deps: HandlerDeps, rt: ListenerRuntime, req: IncomingMessage, socket: Duplex, d: Decision, reason: ReasonCode, start: number): void {
  const res = new ServerResponse(req);
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
    // Not a WebSocket (e.g. "Upgrade: h2c", which curl --http2 adds to plain-http requests, POSTs included): the
    // upgrade is declined (RFC 9110 §7.8 lets a server ignore it) and the request answered as the ordinary
    // HTTP/1.1 request it also is, then the connection closed. Node hands the socket over right after the headers,
    // so a body is still on the socket: it is read from there and forwarded whole, since the person sending it
    // expects the POST to arrive, and an upstream told Content-Length: 0 would act on a request nobody sent.
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.on('finish', () => socket.end());
    handleRequest(rt, deps, req, res, upgradeRequestBody(req, socket, head));
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

/**
 * The body of an upgrade request, which Node's parser leaves on the socket: exactly Content-Length bytes, or a
 * chunked body decoded (undici re-chunks it), taken from `head` and then the socket. Bytes after the body are never
 * forwarded: the connection closes after the answer. Malformed chunking or a client that leaves early fails the
 * stream (ERR_CG_BAD_REQUEST_BODY: 400 while nothing was answered). Undefined when the request has no body.
 */
function upgradeRequestBody(req: IncomingMessage, socket: Duplex, head: Buffer): Readable | undefined {
  const te = req.headers['transfer-encoding'];
  const cl = req.headers['content-length'];
  // Node's parser has already refused Content-Length with Transfer-Encoding, and codings other than a final chunked
  const chunked = te !== undefined;
  if (!chunked && (cl === undefined || cl === '0')) return undefined;
  const body = new PassThrough();
  // undici listens while it sends the body; a refused request never reads it, and its failure must not go unheard
  body.on('error', () => undefined);
  let left = chunked ? 0 : Number(cl); // bytes of the body (chunked: of the current chunk) still to come
  let state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = chunked ? 'size' : 'data';
  let line = ''; // the chunk-size, chunk-end or trailer line read so far (latin1)
  let trailerBytes = 0;
  if (req.headers.expect?.toLowerCase() === '100-continue') socket.write('HTTP/1.1 100 Continue\r\n\r\n');
  const stop = () => {
    state = 'done';
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onEnd);
    body.off('drain', onDrain);
    socket.resume(); // whatever follows the body is read and dropped until the answer closes the connection
  };
  const fail = (why: string) => {
    stop();
    body.destroy(Object.assign(new Error(`request body: ${why}`), { code: BAD_REQUEST_BODY }));
  };
  // One complete line (without its CRLF) in the chunked framing; false when the body is malformed.
  const onLine = (text: string): boolean => {
    if (state === 'size') {
      const m = /^([0-9A-Fa-f]{1,12})(?:;[\t\x20-\x7e]*)?$/.exec(text);
      if (!m) return false;
      left = parseInt(m[1], 16);
      state = left === 0 ? 'trailer' : 'data';
    } else if (state === 'data-end') {
      if (text !== '') return false;
      state = 'size';
    } else if (text === '') {
      stop(); // the empty line after the trailers (dropped, as on every proxied request) ends the body
      body.end();
    }
    return true;
  };
  const onData = (buf: Buffer): void => {
    let i = 0;
    while (i < buf.length && state !== 'done') {
      if (state === 'data') {
        const n = Math.min(left, buf.length - i);
        left -= n;
        body.write(buf.subarray(i, i + n));
        i += n;
        if (left > 0) continue;
        if (!chunked) {
          stop();
          body.end();
          return;
        }
        state = 'data-end';
        continue;
      }
      // a line: size, the CRLF after a chunk's data, or a trailer field
      const lf = buf.indexOf(10, i);
      line += buf.toString('latin1', i, lf < 0 ? buf.length : lf);
      if (state === 'trailer') trailerBytes += (lf < 0 ? buf.length : lf + 1) - i;
      i = lf < 0 ? buf.length : lf + 1;
      if (line.length > 4096 || trailerBytes > 16_384) return fail('chunk framing line too long');
      if (lf < 0) continue;
      // CRLF only: a bare LF is how parsers are made to disagree about where a chunk ends
      if (!line.endsWith('\r') || !onLine(line.slice(0, -1))) return fail('malformed chunked encoding');
      line = '';
    }
    if (body.writableNeedDrain) socket.pause();
  };
  const onDrain = () => socket.resume();
  const onEnd = () => fail('the client closed the connection before the body ended');
  body.on('drain', onDrain);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  if (!Number.isSafeInteger(left)) fail('bad Content-Length');
  else if (head.length > 0) onData(head);
  if (!body.destroyed && !body.writableEnded) socket.on('data', onData);
  return body;
}

function requestHead(rt: ListenerRuntime, req: IncomingMessage, d: Decision): string | undefined {
  const host = upstreamHost(d, req);
  const ip = d.state.ip;
  const headers = [
    ...d.scan.forward,
    'host', host,
    'x-forwarded-for', d.scan.xff === undefined ? ip : `${d.scan.xff}, ${ip}`,
    'x-forwarded-proto', rt.scheme,
    'x-forwarded-host', host,
    'x-real-ip', ip,
    ...d.verdict.headers,
    'connection', 'Upgrade',
    'upgrade', 'websocket',
  ];
  let head = `${req.method} ${d.path}${d.query} HTTP/1.1\r\n`;
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
    if (status === 0) failEarly(Object.assign(new Error('upstream closed before answering'), { code: 'UND_ERR_SOCKET' }));
  });
  // A tunnel carries no requests to re-check, so it is registered with the connection: a trust change that refuses
  // its certificate closes it. And a tunnel with no byte either way for tunnelIdle is closed (the client socket's
  // timer sees both directions: reads from the client and writes of what the upstream sent).
  // The connection carries no more requests: lifetime (which ends idle keep-alive connections) must not end it.
  if (conn !== undefined) conn.tunnel = true;
  const unbind = conn !== undefined && d.route !== undefined && !d.route.config.public && d.verdict.identity !== null
    ? deps.registry.bind(conn, { route: d.route, kind: 'websocket', close: () => { client.destroy(); upstream.destroy(); } })
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
