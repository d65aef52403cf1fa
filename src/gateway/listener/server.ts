// One listener: the acceptor (its bound socket), the registry of its open connections, and the protocol handler in
// force (a TLS server speaking h2 and HTTP/1.1 by ALPN, a plain HTTP/1.1 server, or TCP mode: TLS, then a byte pipe).
// Reloads swap the runtime in place, or put a new handler in force when what the listener speaks changes.
import { http } from '../../core/node-http.ts';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createSecureServer, getPackedSettings, constants as h2 } from 'node:http2';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import type { Socket, Server as NetServer } from 'node:net';
import { createServer as createTlsServer, createSecureContext } from 'node:tls';
import type { TLSSocket, SecureContext, SecureContextOptions, Server as TlsServer } from 'node:tls';
import type { Duplex } from 'node:stream';
import { handleRequest, connectionOf } from '../http/request-handler.ts';
import type { HandlerDeps } from '../http/request-handler.ts';
import { handleUpgrade } from '../http/proxy-ws.ts';
import { handleTcp } from '../tcp/proxy-tcp.ts';
import { handleRedirect } from './redirect-server.ts';
import { contextForServername, newTicketKeys, rotateTicketKeys } from '../tls/tls-context.ts';
import type { TlsMaterial } from '../tls/tls-context.ts';
import { reasonFromTlsError, REASONS } from '../policy/reasons.ts';
import type { ReasonCode } from '../policy/reasons.ts';
import type { ListenerRuntime } from '../runtime.ts';
import type { Trust } from '../tls/trust.ts';
import { forwardedVerdict } from '../tls/forwarded-identity.ts';
import { connectionVerdict, unmapIp } from '../tls/connection-identity.ts';
import { authorize } from '../policy/policy.ts';
import { createAcceptor } from './acceptor.ts';
import { readProxyHeader } from './proxy-accept.ts';
import { ConnectionRegistry } from './connection-registry.ts';
import type { ClientConnection } from './connection-registry.ts';

export interface Listener {
  /** The runtime in force; a reload replaces it through `prepare(next).commit()`. */
  readonly runtime: ListenerRuntime;
  readonly registry: ConnectionRegistry;
  /** True while the listener's socket is bound. */
  readonly listening: boolean;
  /** Resolves when listening; rejects with CG_GATEWAY_LISTEN. */
  start(): Promise<{ host: string; port: number }>;
  /**
   * Gets a new runtime (same listen address) ready to be put in force, doing everything that can fail now: a new
   * protocol handler when what the listener speaks changes (plain <-> TLS), the TLS context and HTTP/2 settings
   * otherwise. Nothing is in force until `commit()`, which cannot fail; `abort()` discards what was built.
   */
  prepare(next: ListenerRuntime): PreparedSwap;
  /** Every runtime still serving a connection: the one in force and those of retired handlers. */
  runtimes(): ListenerRuntime[];
  /** New trust (CA bundle and CRLs) for every handler of the listener, then a re-check of every open connection. */
  setTrust(trust: Trust): void;
  /** Re-checks the work on open connections (requests, WebSockets) against the trust in force now. */
  recheck(): void;
  /** New ticket keys for every context (call when CRLs change). */
  rotateTicketKeys(keys?: Buffer): void;
  /** Stops accepting, lets in-flight requests finish, closes idle connections; forces the rest after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
}

/** A runtime ready to go in force on a listener (see `Listener.prepare`). */
export interface PreparedSwap {
  /**
   * Same protocol: swapped in place, open connections keep their state. Plain <-> TLS: the new handler takes new
   * connections; open ones stay on the handler that accepted them and close after their next response (HTTP/1.1)
   * or GOAWAY (HTTP/2). Never throws.
   */
  commit(): void;
  abort(): void;
}

/** One protocol handler: a server object that never listens itself; the acceptor hands it sockets. */
interface Handler {
  tls: boolean;
  /** What it speaks after admission: HTTP, or TCP mode's byte pipe. */
  kind: 'http' | 'tcp';
  server: Http2SecureServer | HttpServer | TlsServer | NetServer;
  /** The runtime this handler serves with (the listener's current one, or the last one before it was retired). */
  rt: ListenerRuntime;
}

/**
 * What a handler's server is built with and cannot change in place: protocol, TLS or not, and which JavaScript
 * callbacks the handshake makes. Each callback costs a round trip into JS inside every handshake, so each is
 * installed only when the config needs it: the certificate callback (per-site contexts by SNI, OCSP staples) when a
 * site has its own certificate or a served certificate can be stapled; the ALPN callback when h2 is off (with h2
 * on, Node's static list h2, http/1.1 picks).
 */
function handlerShape(rt: ListenerRuntime): string {
  const kind = rt.tcp !== null ? 'tcp' : 'http';
  if (!rt.tls || !rt.tlsMaterial) return `${kind}:plain`;
  const sni = usesSni(rt.tlsMaterial) ? 'sni' : 'one-cert';
  const ocsp = rt.tlsMaterial.staplable ? 'staple' : 'no-staple';
  return kind === 'tcp' ? `tcp:tls:${sni}:${ocsp}` : `http:tls:${sni}:${ocsp}:${rt.config.http2 ? 'h2' : 'h1-only'}`;
}

/** Whether the listener serves a per-site certificate, so SNI has to choose a context in the handshake. */
function usesSni(material: TlsMaterial): boolean {
  return material.contexts.length > 0;
}

/** The per-site context chooser, for a handler whose shape says SNI; undefined (no callback at all) otherwise. */
function sniCallback(handler: Handler): ((servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void) | undefined {
  if (!handler.rt.tlsMaterial || !usesSni(handler.rt.tlsMaterial)) return undefined;
  return (servername, cb) => cb(null, handler.rt.tlsMaterial ? contextForServername(handler.rt.tlsMaterial, servername) : undefined);
}

function tlsClientReason(err: NodeJS.ErrnoException, socket: TLSSocket): ReasonCode | 'handshake' {
  if (err.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return 'no_certificate';
  // require mode: Node records the verify error (a plain JS property) and then drops the connection. Never touch
  // socket._handle here: after a failed handshake the native handle may be gone, and using it crashes the process.
  const verifyError = socket.authorizationError;
  if (verifyError) return reasonFromTlsError(String((verifyError as NodeJS.ErrnoException).code ?? verifyError), true);
  return 'handshake';
}

/** Answers an HTTP/1.1 parse error (smuggling attempts, oversized headers, timeouts) with the error page, then closes. */
function clientErrorResponse(rt: ListenerRuntime, err: NodeJS.ErrnoException): { reason: ReasonCode; bytes: string } {
  const reason: ReasonCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : 'bad_request';
  const page = rt.pages(reason);
  let head = `HTTP/1.1 ${page.status} ${reason === 'headers_too_large' ? 'Request Header Fields Too Large' : reason === 'request_timeout' ? 'Request Timeout' : 'Bad Request'}\r\n`;
  const headers = [...page.headers, ...rt.security.flat, 'connection', 'close'];
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return { reason, bytes: head + '\r\n' + page.body.toString('utf8') };
}

/** After drain's deadline ended the tunnels with a FIN, how long they may take to close before being destroyed. */
const TUNNEL_END_GRACE_MS = 1_000;

/** A socket error ends the socket (one function for every connection, not a closure each). */
function destroyOnError(this: Socket): void {
  this.destroy();
}

/** How long a socket that got its error page may take to read it before it is destroyed. */
const ERROR_PAGE_GRACE_MS = 2_000;

/** The OCSP response to staple for a served leaf (DER), among those a listener staples; null for none. */
export type StapleLookup = (certDer: Buffer, stapled: ReadonlySet<string>) => Buffer | null;

export function createListener(initial: ListenerRuntime, shared: HandlerDeps | Omit<HandlerDeps, 'registry'>, staples?: StapleLookup): Listener {
  let draining = false;
  const handlers = new Set<Handler>();
  const registry = new ConnectionRegistry({
    listen: initial.listen,
    limits: () => current.rt.limits,
    logger: shared.logger,
    metrics: shared.metrics,
    retire: (conn) => retire(conn),
  });
  // per-listener deps: the registry here, accessLog and the rest read through to the gateway's shared object
  const deps = Object.create(shared, { registry: { value: registry } }) as HandlerDeps;
  const handlerOf = (conn: ClientConnection): Handler => (conn.handler as Handler | null) ?? current;

  /** Closes a connection once idle: HTTP/2 gets GOAWAY (open streams finish), HTTP/1.1 ends after its response. */
  const retire = (conn: ClientConnection): void => {
    conn.retiring = true;
    // a TCP-mode tunnel has no idle point to close at: it runs until either side ends it, or drain's deadline
    // ends it (BoundWork.drain)
    if (conn.protocol === 'tcp') return;
    if (conn.session) conn.session.close();
    else if (conn.active === 0) conn.socket.end();
  };

  const onRequest = (handler: Handler) => (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    const rt = handler.rt;
    const conn = connectionOf(deps, req);
    const h2stream = (req as Http2ServerRequest).stream;
    if (conn !== undefined) {
      conn.active++;
      conn.requests++;
      if (conn.requests >= rt.limits.requestsPerConnection && !conn.retiring) {
        registry.hit('requests_per_connection', conn.ip);
        // HTTP/2: GOAWAY, this stream and those before it finish. HTTP/1.1: this response says Connection: close
        // and the socket ends after it (Node's maxRequestsPerSocket only sends the header and leaves it open).
        retire(conn);
      }
      if ((draining || conn.retiring) && h2stream === undefined) (res as ServerResponse).shouldKeepAlive = false;
      // a declined upgrade (h2c) is answered, then the connection closed: Node's parser does not go on reading after it
      if (h2stream === undefined && req.headers.upgrade !== undefined) (res as ServerResponse).shouldKeepAlive = false;
      res.once('close', () => {
        conn.active--;
        // a stream closed before its response was complete was cancelled: many in a short time is rapid reset
        if (h2stream !== undefined && !res.writableEnded && conn.session && registry.noteReset(conn, Date.now())) {
          registry.hit('http2_rapid_reset', conn.ip);
          shared.logger.warn({ event: 'http2.rapid_reset', ip: conn.ip, listen: rt.listen }, 'HTTP/2 session ended: too many cancelled streams');
          const session = conn.session;
          conn.session = null;
          session.goaway(h2.NGHTTP2_ENHANCE_YOUR_CALM);
          setTimeout(() => session.destroy(), 100).unref();
          return;
        }
        if ((draining || conn.retiring) && conn.active === 0) {
          if (conn.session) conn.session.close();
          // HTTP/1.1 outside a drain: a response that promised keep-alive is not followed by a FIN the client could
          // cross with its next request; that request is answered with Connection: close (or the idle timeout ends it)
          else if (draining) conn.socket.end();
        }
      });
    }
    if (rt.redirectPort !== undefined && !rt.tls) handleRedirect(rt, deps, req as IncomingMessage, res as ServerResponse);
    else handleRequest(rt, deps, req, res, conn);
  };

  const wireHttp1 = (handler: Handler) => {
    const server = handler.server as Http2SecureServer | HttpServer;
    server.on('request', onRequest(handler));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const rt = handler.rt;
      if (rt.redirectPort !== undefined && !rt.tls) {
        socket.destroy();
        return;
      }
      handleUpgrade(rt, deps, req, socket, head);
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // Only HTTP parse errors get a page. Anything else (a TLS handshake that timed out or failed, a reset) comes
      // from a socket that may never finish an `end()`: destroy it, or its descriptor stays in CLOSE-WAIT for good.
      const httpLevel = err.code !== undefined && (err.code.startsWith('HPE_') || err.code === 'ERR_HTTP_REQUEST_TIMEOUT');
      if (!httpLevel || !socket.writable) {
        socket.destroy();
        return;
      }
      const rt = handler.rt;
      const { reason, bytes } = clientErrorResponse(rt, err);
      shared.metrics.requests.inc(String(REASONS[reason].status), reason);
      shared.logger.info({ event: 'http.client_error', reason, code: err.code, ip: unmapIp((socket as Socket).remoteAddress), listen: rt.listen }, 'malformed request refused');
      // a client that does not read its page must not hold the socket: destroy it after a short grace
      const timer = setTimeout(() => socket.destroy(), ERROR_PAGE_GRACE_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
      socket.end(bytes, () => socket.destroy());
    });
    // Only WebSocket upgrades leave HTTP: any other Upgrade (h2c) is declined (RFC 9110 §7.8) and the request parsed
    // and answered as an ordinary one, body included, by Node's own parser (Node >= 24.9 reads this property).
    (server as unknown as { shouldUpgradeCallback: (req: IncomingMessage) => boolean }).shouldUpgradeCallback =
      (req) => (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
    applyHttp1Limits(server, handler.rt);
    // Node starts checking header and request timeouts when a server emits 'listening'. These servers never listen
    // (the acceptor owns the socket), so the event is emitted here to start that check.
    server.emit('listening');
  };

  /**
   * Node emits OCSPRequest on the server object when a client asks for certificate status (status_request), also for
   * sockets handed over with emit('connection'), with the certificate of the context SNI picked. It is attached only
   * when a served certificate can be stapled (handlerShape); a certificate without a staple yet is answered null and
   * the handshake goes on without one.
   */
  const onOcspRequest = (handler: Handler) => (certificate: Buffer, _issuer: Buffer | null, callback: (err: Error | null, response?: Buffer | null) => void) => {
    const material = handler.rt.tlsMaterial;
    callback(null, staples && material ? staples(certificate, material.stapled) : null);
  };

  const onTlsClientError = (handler: Handler) => (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const reason = tlsClientReason(err, socket);
    shared.metrics.handshakeFailures.inc({ reason });
    const routine = err.code === 'ECONNRESET' || err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
    shared.logger[routine ? 'debug' : 'info']({ event: 'tls.handshake_failed', reason, code: err.code, ip: registry.accepted(socket)?.ip ?? unmapIp(socket.remoteAddress), sni: (socket as TLSSocket & { servername?: string }).servername || undefined, listen: handler.rt.listen }, err.message);
  };

  /**
   * TCP mode. Server direction: the same TLS front (SNI contexts, client certificate request), then proxy-tcp.ts
   * instead of HTTP. Client direction (no tls:): an unbound plain net.Server, so every admitted socket goes straight
   * to proxy-tcp.ts, which dials the upstream over TLS.
   */
  const makeTcpHandler = (rt: ListenerRuntime): Handler => {
    if (!rt.tls) {
      const handler = { tls: false, kind: 'tcp', rt } as Handler;
      handler.server = createNetServer({ allowHalfOpen: true }, (socket: Socket) => {
        socket.setNoDelay(true);
        handleTcp(handler.rt, deps, registry.of(socket), socket);
      });
      return handler;
    }
    const material = rt.tlsMaterial!;
    const handler = { tls: true, kind: 'tcp', rt } as Handler;
    const tlsServer = createTlsServer({
      ...material.base,
      requestCert: material.requestCert,
      rejectUnauthorized: material.rejectUnauthorized,
      SNICallback: sniCallback(handler),
    });
    handler.server = tlsServer;
    tlsServer.on('secureConnection', (socket: TLSSocket) => {
      const conn = registry.established(socket, 'tcp');
      if (conn) conn.handler = handler;
      handleTcp(handler.rt, deps, conn, socket);
    });
    tlsServer.on('tlsClientError', onTlsClientError(handler));
    if (material.staplable) tlsServer.on('OCSPRequest', onOcspRequest(handler));
    return handler;
  };

  const makeHandler = (rt: ListenerRuntime): Handler => {
    if (rt.tcp !== null) return makeTcpHandler(rt);
    if (!rt.tls) {
      // Host is checked by the pipeline (400 with the error page), not by Node's bare 400
      const plain = http.createServer({ maxHeaderSize: rt.maxHeaderSize, requireHostHeader: false });
      const handler: Handler = { tls: false, kind: 'http', server: plain, rt };
      wireHttp1(handler);
      return handler;
    }
    const material = rt.tlsMaterial!;
    const handler = { tls: true, kind: 'http', rt } as Handler;
    const tlsServer = createSecureServer({
      ...material.base,
      requestCert: material.requestCert,
      rejectUnauthorized: material.rejectUnauthorized,
      allowHTTP1: true,
      // h2 on: Node's own ALPN list (h2, then http/1.1); a client offering only other protocols gets the
      // no_application_protocol alert (RFC 7301; nginx does the same). h2 off: a callback, since http2 replaces any
      // ALPNProtocols given to it
      ALPNCallback: rt.config.http2 ? undefined : ({ protocols }: { protocols: string[] }) => (protocols.includes('http/1.1') ? 'http/1.1' : undefined),
      SNICallback: sniCallback(handler),
      settings: http2Settings(rt),
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
      // nghttp2's own rapid-reset guard (RST_STREAM frames per second after a burst), behind the per-connection
      // count of cancelled streams in onRequest, which ends the session with GOAWAY first
      streamResetBurst: 1000,
      streamResetRate: 100,
    } as Parameters<typeof createSecureServer>[0]);
    handler.server = tlsServer;
    tlsServer.on('session', (session: ServerHttp2Session) => {
      const conn = registry.attachSession(session);
      if (conn) conn.handler = handler;
      session.setTimeout(handler.rt.idleTimeoutMs, () => {
        if (!conn || conn.active === 0) session.close();
      });
      session.on('error', () => undefined);
    });
    tlsServer.on('secureConnection', (socket: TLSSocket) => {
      const conn = registry.established(socket, socket.alpnProtocol === 'h2' ? 'h2' : 'h1');
      if (conn) conn.handler = handler;
    });
    tlsServer.on('tlsClientError', onTlsClientError(handler));
    if (material.staplable) tlsServer.on('OCSPRequest', onOcspRequest(handler));
    wireHttp1(handler);
    return handler;
  };

  let current = makeHandler(initial);
  handlers.add(current);

  /** Admits an accepted socket (client: the address a PROXY header named) and hands it to the handler in force. */
  const hand = (handler: Handler, raw: Socket, client: { ip: string; port: number } | undefined) => {
    // a plain TCP-mode (client direction) connection is counted as tcp from the start; TLS ones once established
    const conn = registry.admit(raw, handler.tls, handler.kind === 'tcp' ? 'tcp' : 'plain', client);
    if (conn === null) return;
    emitTo(handler, conn, raw);
  };
  const emitTo = (handler: Handler, conn: ClientConnection, raw: Socket) => {
    conn.handler = handler;
    raw.on('error', destroyOnError);
    // TCP mode passes half-closes on: the TLS socket takes allowHalfOpen from the socket it wraps
    if (handler.kind === 'tcp') raw.allowHalfOpen = true;
    handler.server.emit('connection', raw);
  };

  const acceptor = createAcceptor(
    (raw) => {
      if (draining) {
        raw.destroy();
        return;
      }
      const handler = current;
      const proxy = handler.rt.proxyFrom;
      if (proxy === null) {
        hand(handler, raw, undefined);
        return;
      }
      // PROXY protocol: the header comes before the first TLS byte; from a balancer it is required, from others refused
      raw.on('error', destroyOnError);
      const fromBalancer = proxy.from.contains(raw.remoteAddress ?? '');
      // anyone else is admitted first (connection limits, the handshake deadline), then only peeked at
      const conn = fromBalancer ? null : registry.admit(raw, handler.tls, handler.kind === 'tcp' ? 'tcp' : 'plain');
      if (!fromBalancer && conn === null) return;
      readProxyHeader(raw, fromBalancer, fromBalancer ? proxy.timeoutMs : handler.rt.handshakeTimeoutMs, (o) => {
        if (!o.ok) {
          if (o.reason !== 'closed') {
            shared.metrics.proxyRefused.inc({ reason: o.reason });
            shared.logger.info({ event: 'proxy.refused', reason: o.reason, peer: unmapIp(raw.remoteAddress), listen: handler.rt.listen }, `connection refused: ${o.detail}`);
          }
          raw.destroy();
          return;
        }
        if (draining && conn === null) {
          raw.destroy();
          return;
        }
        if (conn !== null) emitTo(handler, conn, raw);
        else hand(handler, raw, o.ip === undefined ? undefined : { ip: o.ip, port: o.port ?? 0 });
      });
    },
    (err) => shared.logger.error({ event: 'gateway.server_error', err, listen: current.rt.listen }, 'listener error'),
  );

  /**
   * A handler no longer in force: HTTP/2 sessions get GOAWAY (open streams finish), HTTP/1.1 connections answer their
   * next request with Connection: close. An idle HTTP/1.1 connection is not ended here: a client may be sending on it
   * this very moment, and that request would be lost; its idle timeout closes it if nothing comes. Then it is dropped.
   */
  const retireHandler = (handler: Handler) => {
    for (const conn of registry.connections()) {
      if (handlerOf(conn) !== handler) continue;
      conn.retiring = true;
      conn.session?.close();
    }
    const dropIfEmpty = () => {
      for (const conn of registry.connections()) if (handlerOf(conn) === handler) return false;
      handlers.delete(handler);
      handler.server.close(() => undefined);
      return true;
    };
    if (dropIfEmpty()) return;
    const timer = setInterval(() => {
      if (dropIfEmpty()) clearInterval(timer);
    }, 1_000);
    timer.unref();
  };

  const recheck = () => {
    const now = Date.now();
    for (const conn of registry.connections()) {
      if (conn.work === null || conn.work.size === 0 || conn.state === null) continue;
      const rt = handlerOf(conn).rt;
      if (rt.clientAuth === null || rt.trust === null) continue;
      const verdict = connectionVerdict(conn.state, rt.trust, rt.clientAuth, now);
      const hop = verdict.identity;
      const hopTrusted = hop !== null && rt.identityHops !== null && rt.identityHops.some((rule) => rule.matches(hop, conn.ip));
      for (const work of [...conn.work]) {
        // work a trusted gateway in front vouched for is judged on the client it named, while that gateway is trusted
        const v = work.forwarded && hopTrusted ? forwardedVerdict(work.forwarded.sent, work.forwarded.repeated, hop, rt.trust, now) : verdict;
        const decision = authorize(work.route, { identity: v.identity, verifyReason: v.reason, sourceIp: conn.ip });
        if (decision.allowed) continue;
        conn.work?.delete(work); // the set goes (null) once its last work unbinds
        shared.metrics.trustClosed.inc({ kind: work.kind, reason: decision.reason });
        shared.logger.info({ event: 'trust.work_closed', kind: work.kind, reason: decision.reason, ip: conn.ip, subject: conn.state.presented?.subject, serial: conn.state.presented?.serial, listen: rt.listen },
          `${work.kind} closed: its client certificate is refused now (${decision.reason})`);
        work.close(decision.reason);
      }
    }
  };
  registry.onSweep = recheck;

  return {
    get runtime() {
      return current.rt;
    },
    registry,
    get listening() {
      return acceptor.server.listening;
    },
    async start() {
      return acceptor.listen(initial.host, initial.port, initial.listen, shared.listenOptions);
    },
    prepare(next) {
      // a handler keeps its shape for life: in-place reloads happen only while the shape stays the same
      if (handlerShape(next) !== handlerShape(current.rt)) {
        const handler = makeHandler(next); // an unbound server: nothing reaches it before commit
        return {
          commit() {
            const old = current;
            current = handler;
            handlers.add(handler);
            retireHandler(old);
          },
          abort() {
            handler.server.close(() => undefined); // stops the header-timeout check makeHandler started
          },
        };
      }
      // Build what setSecureContext and updateSettings would build, so a bad key or setting throws here and not
      // halfway through a commit that has already changed another listener.
      if (next.tlsMaterial) createSecureContext(next.tlsMaterial.base);
      if (current.kind === 'http') getPackedSettings(http2Settings(next));
      return {
        commit() {
          const server = current.server;
          if (next.tlsMaterial && 'setSecureContext' in server) {
            const tlsServer = server as Http2SecureServer & { setSecureContext(o: SecureContextOptions): void; requestCert: boolean; rejectUnauthorized: boolean };
            tlsServer.setSecureContext(next.tlsMaterial.base);
            tlsServer.requestCert = next.tlsMaterial.requestCert;
            tlsServer.rejectUnauthorized = next.tlsMaterial.rejectUnauthorized;
            if (current.kind === 'http') tlsServer.updateSettings(http2Settings(next));
          }
          current.rt = next;
          if (current.kind === 'http') applyHttp1Limits(server as Http2SecureServer | HttpServer, next);
          recheck();
        },
        abort() {},
      };
    },
    runtimes() {
      return [...handlers].map((h) => h.rt);
    },
    setTrust(trust) {
      for (const h of handlers) h.rt.trust = trust;
      recheck();
    },
    recheck,
    rotateTicketKeys(keys) {
      // one key set for every handler and context of the listener (and, given by the caller, of every worker)
      const next = keys ?? newTicketKeys();
      for (const h of handlers) {
        if (!h.rt.tlsMaterial || !h.tls) continue;
        const tlsServer = h.server as Http2SecureServer & { setTicketKeys(keys: Buffer): void };
        rotateTicketKeys((k) => tlsServer.setTicketKeys(k), h.rt.tlsMaterial, next);
      }
    },
    drain(timeoutMs) {
      draining = true;
      return new Promise<void>((resolve) => {
        let finished = false;
        const done = () => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          clearInterval(poll);
          registry.close();
          for (const h of handlers) h.server.close(() => undefined);
          resolve();
        };
        // the deadline: tunnels (TCP mode), which have no idle point to stop at, are ended both ways with a FIN;
        // whatever is still open after that grace (and every other connection) is destroyed
        const timer = setTimeout(() => {
          let tunnels = 0;
          for (const conn of registry.connections()) {
            for (const work of conn.work ?? []) {
              if (work.drain === undefined) continue;
              work.drain();
              tunnels++;
            }
          }
          if (tunnels === 0 || timeoutMs === 0) {
            registry.destroyAll();
            done();
            return;
          }
          setTimeout(() => {
            registry.destroyAll();
            done();
          }, TUNNEL_END_GRACE_MS).unref();
        }, timeoutMs);
        const poll = setInterval(() => {
          if (registry.size === 0) done();
        }, 50);
        void acceptor.close().then(() => {
          if (registry.size === 0) done();
        });
        for (const conn of [...registry.connections()]) {
          if (!conn.established) conn.raw.destroy();
          else retire(conn);
        }
      });
    },
  };
}

function http2Settings(rt: ListenerRuntime) {
  return { maxHeaderListSize: rt.maxHeaderSize, enablePush: false, maxConcurrentStreams: rt.http2Streams };
}

// HTTP/1.1 limits live on the server object (also for the HTTP/1.1 side of the h2 server, which reads them there).
function applyHttp1Limits(server: Http2SecureServer | HttpServer, rt: ListenerRuntime): void {
  const s = server as unknown as Record<string, number | boolean>;
  s.maxHeaderSize = rt.maxHeaderSize;
  s.requireHostHeader = false; // the pipeline answers a missing Host with 400 and the error page
  s.headersTimeout = rt.headerTimeoutMs;
  s.requestTimeout = Math.max(300_000, rt.headerTimeoutMs);
  s.keepAliveTimeout = rt.idleTimeoutMs;
  s.maxRequestsPerSocket = rt.limits.requestsPerConnection;
  // how often Node checks header/request timeouts: fine-grained enough for short test timeouts, cheap otherwise
  s.connectionsCheckingInterval = Math.min(Math.max(Math.floor(rt.headerTimeoutMs / 4), 250), 5_000);
}
