// Proxies one HTTP request to its upstream with undici's dispatcher API directly (no per-request wrappers),
// streaming both bodies with backpressure, and maps upstream failures to 502/504.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Upstream, GatePass, GateRefusal } from '../upstream/upstream-pool.ts';
import { filterResponseHeaders } from './headers.ts';
import type { ResponseHeaderOptions } from './headers.ts';
import type { ReasonCode } from '../policy/reasons.ts';
import { BAD_RESPONSE, reasonForUpstreamError } from '../upstream/upstream-errors.ts';

export type ClientRequest = IncomingMessage | Http2ServerRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse;

/** Everything the proxy needs for one request, decided by the request handler. */
export interface ProxyJob {
  req: ClientRequest;
  res: ClientResponse;
  upstream: Upstream;
  method: string;
  /** Normalized path plus the original query. */
  path: string;
  headers: string[];
  hasBody: boolean;
  readTimeoutMs: number;
  /** Largest request body (bytes) the route accepts; undefined: unlimited. The body is counted as it streams. */
  maxBodySize: number | undefined;
  /**
   * Dispatch after the current I/O batch (HTTP/2): a stream a client opens and resets in the same read (rapid
   * reset) is then gone before it costs an upstream connection.
   */
  defer: boolean;
  response: ResponseHeaderOptions;
  /** Answers with the gateway's error page (only called before any response byte was sent). */
  fail(reason: ReasonCode, err: unknown): void;
  /** The upstream repeated these single-value response fields; later copies were dropped (see headers.ts). */
  duplicates(names: readonly string[]): void;
  /** Called once the response is complete or abandoned; `bytes` counts body bytes sent. */
  done(status: number, bytes: number, upstreamError: unknown): void;
  /** A limit stopped the request before or while it reached the upstream (counted by the caller). */
  limit(which: GateRefusal | 'body_size'): void;
}

/** Thrown inside the request body stream when it grows past `maxBodySize`. */
class BodyTooLarge extends Error {
  code = 'CG_BODY_TOO_LARGE';
}

/** The client's body, counted as undici reads it; throws BodyTooLarge past `max` bytes. */
async function* limitedBody(body: AsyncIterable<Buffer>, max: number): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of body) {
    seen += chunk.length;
    if (seen > max) throw new BodyTooLarge(`request body over ${max} bytes`);
    yield chunk;
  }
}

// A legacy-style undici handler: it is what undici's core calls natively (the new-style API is adapted per request).
class ProxyHandler implements Dispatcher.DispatchHandler {
  job: ProxyJob;
  abort: ((err?: Error) => void) | null = null;
  resume: (() => void) | null = null;
  status = 0;
  bytes = 0;
  finished = false;
  clientGone = false;
  /** Set while the request holds (or waits for) a place at the upstream gate. */
  pass: GatePass | null = null;
  /** Set when a trust change refused the certificate this request was authorized with. */
  cutReason: ReasonCode | undefined;

  constructor(job: ProxyJob) {
    this.job = job;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.clientGone) abort(new Error('client went away'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx (100 Continue, 103 Early Hints) are the upstream's business: Node answers Expect itself
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.resume = resume;
    const res = this.job.res;
    if (this.clientGone || res.headersSent) return false;
    // Until the head is out, any failure can still become the 502 page. A throw must not escape into undici: the
    // page would be attempted from inside its parser callback and a failure there left the stream open for good.
    try {
      // Node sends 100-999 over HTTP/1.1 but only 200-599 over HTTP/2; RFC 9110 §15 knows 100-599: one answer, 502
      if (statusCode > 599) throw badResponse(`status ${statusCode}`);
      const filtered = filterResponseHeaders(rawHeaders, this.job.response);
      if (filtered.conflict !== undefined) throw badResponse(filtered.conflict);
      if (filtered.dropped !== undefined) this.job.duplicates(filtered.dropped);
      (res as ServerResponse).writeHead(statusCode, filtered.headers);
    } catch (err) {
      // abort() reports through onError (the 502 page) and closes the upstream connection mid-response
      if (this.abort) this.abort(err as Error);
      else this.onError(err as Error);
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    const res = this.job.res as ServerResponse;
    if (this.clientGone) return true;
    if (res.write(chunk)) return true;
    res.once('drain', this.onDrain);
    return false;
  }

  onDrain = (): void => {
    this.resume?.();
  };

  onComplete(): void {
    (this.job.res as ServerResponse).end();
    this.finish(null);
  }

  onError(err: Error): void {
    if (this.finished) return;
    const res = this.job.res;
    if ((err as { code?: string }).code === 'CG_BODY_TOO_LARGE') this.job.limit('body_size');
    if (this.clientGone) {
      this.finish(err);
      return;
    }
    if (!res.headersSent) {
      this.job.fail(this.cutReason ?? reasonForUpstreamError(err).reason, err);
      this.finish(err, true);
      return;
    }
    // The response has started: the only honest signal left is cutting the client's response short.
    (res as ServerResponse).destroy(err);
    this.finish(err);
  }

  onClientClose = (): void => {
    if (this.finished) return;
    this.clientGone = true;
    if (this.abort) this.abort(new Error('client went away'));
    else if (!this.dispatched) this.finish(null); // left while waiting at the gate, or before a deferred dispatch
  };

  dispatched = false;

  finish(err: Error | null, failed = false): void {
    if (this.finished) return;
    this.finished = true;
    this.pass?.release();
    this.pass = null;
    this.job.res.off('close', this.onClientClose);
    if (!failed) this.job.done(this.status || (this.clientGone ? 499 : 0), this.bytes, err);
  }

  /** Hands the request to undici (once admitted by the gate). */
  dispatch = (): void => {
    // a client gone before its 'close' listener was in place (a stream reset while the request waited) never
    // fires it: check the stream itself, or the request would hold an upstream connection until the read timeout
    if (!this.clientGone && clientClosed(this.job)) this.clientGone = true;
    if (this.finished || this.clientGone) {
      this.finish(null);
      return;
    }
    this.dispatched = true;
    const job = this.job;
    let body: Dispatcher.DispatchOptions['body'] = null;
    if (job.hasBody) {
      const source = job.req as IncomingMessage;
      body = job.maxBodySize === undefined ? source : Readable.from(limitedBody(source as AsyncIterable<Buffer>, job.maxBodySize), { objectMode: false });
    }
    const opts: Dispatcher.DispatchOptions = {
      path: job.path,
      method: job.method as Dispatcher.HttpMethod,
      headers: job.headers,
      body,
      headersTimeout: job.readTimeoutMs,
      bodyTimeout: job.readTimeoutMs,
      // never the client's Host: the upstream's TLS name is pinned in upstream-pool.ts
      servername: job.upstream.sniKey,
    } as Dispatcher.DispatchOptions;
    try {
      job.upstream.pool.dispatch(opts, this);
    } catch (err) {
      this.onError(err as Error);
    }
  };
}

/** The client's side is already closed: its HTTP/2 stream, or the HTTP/1.1 socket. */
function clientClosed(job: ProxyJob): boolean {
  const stream = (job.res as Http2ServerResponse).stream;
  if (stream !== undefined) return stream.destroyed || stream.closed;
  return job.req.socket?.destroyed === true;
}

function badResponse(detail: string): Error {
  return Object.assign(new Error(`invalid upstream response: ${detail}`), { code: BAD_RESPONSE });
}

/**
 * Sends `job` upstream once the upstream's gate admits it. All outcomes end in `job.done` (or `job.fail`, which
 * reports on its own); the gate place is given back on every path. Returns a function that aborts the request
 * (a trust change refused the certificate it was authorized with).
 */
export function proxyHttp(job: ProxyJob): (reason: ReasonCode) => void {
  const handler = new ProxyHandler(job);
  job.res.on('close', handler.onClientClose);
  // the pass is kept from enter() (a request that leaves while queued gives up its place) and set again before
  // dispatching (a dispatch that fails synchronously finishes the handler before enter() has returned)
  handler.pass = job.upstream.gate.enter(
    (pass) => {
      handler.pass = pass;
      if (job.defer) setImmediate(handler.dispatch);
      else handler.dispatch();
    },
    (why) => {
      job.limit(why);
      handler.onError(Object.assign(new Error(why === 'upstream_queue_full' ? 'upstream queue full' : 'waited too long for an upstream connection'), { code: 'CG_UPSTREAM_BUSY' }));
    },
  );
  return (reason: ReasonCode) => {
    if (handler.finished) return;
    handler.cutReason = reason;
    const err = Object.assign(new Error(`closed by a trust change: ${reason}`), { code: 'CG_TRUST_CUT' });
    if (handler.abort) handler.abort(err);
    else handler.onError(err);
  };
}
