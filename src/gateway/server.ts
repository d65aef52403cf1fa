// One listener: a TLS server speaking h2 and HTTP/1.1 by ALPN (or a plain HTTP/1.1 server), its timeouts and limits,
// connection tracking for graceful drain, and hot swapping of its compiled runtime on reload.
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createSecureServer } from 'node:http2';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket, SecureContextOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../core/errors.ts';
import { handleRequest } from './request-handler.ts';
import type { HandlerDeps } from './request-handler.ts';
import { handleUpgrade } from './proxy-ws.ts';
import { handleRedirect } from './redirect-server.ts';
import { contextForServername, rotateTicketKeys } from './tls-context.ts';
import { reasonFromTlsError, REASONS } from './reasons.ts';
import type { ReasonCode } from './reasons.ts';
import type { ListenerRuntime } from './runtime.ts';
import { unmapIp } from './connection-identity.ts';

/** In-flight request count per connection (HTTP/1.1 socket or HTTP/2 session). */
const kActive = Symbol('certgate.active');
type Tracked = (Socket | ServerHttp2Session) & { [kActive]?: number };

export interface Listener {
  /** The runtime in force; reload swaps it with `swap`. */
  readonly runtime: ListenerRuntime;
  readonly server: Http2SecureServer | HttpServer;
  /** Resolves when listening; rejects with CG_GATEWAY_LISTEN. */
  start(): Promise<{ host: string; port: number }>;
  /** Puts a new runtime (same listen address) in force; TLS material too. Open connections keep their state. */
  swap(next: ListenerRuntime): void;
  /** New ticket keys for every context (call when CRLs change). */
  rotateTicketKeys(): void;
  /** Stops accepting, lets in-flight requests finish, closes idle connections; forces the rest after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
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

export function createListener(initial: ListenerRuntime, deps: HandlerDeps): Listener {
  let rt = initial;
  let draining = false;
  const sockets = new Set<Tracked>();
  const sessions = new Set<Tracked>();

  const onRequest = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    const holder: Tracked = (req as Http2ServerRequest).stream ? ((req as Http2ServerRequest).stream.session as Tracked) : (req.socket as Tracked);
    holder[kActive] = (holder[kActive] ?? 0) + 1;
    if (draining && !(req as Http2ServerRequest).stream) (res as ServerResponse).shouldKeepAlive = false;
    res.once('close', () => {
      holder[kActive]!--;
      if (draining && holder[kActive] === 0) closeConnection(holder);
    });
    if (rt.redirectPort !== undefined && !rt.tls) handleRedirect(rt, deps, req as IncomingMessage, res as ServerResponse);
    else handleRequest(rt, deps, req, res);
  };

  const closeConnection = (c: Tracked) => {
    if ('goaway' in c) (c as ServerHttp2Session).close();
    else (c as Socket).end();
  };

  let server: Http2SecureServer | HttpServer;
  if (rt.tls) {
    const material = rt.tlsMaterial!;
    const tlsServer = createSecureServer({
      ...material.base,
      requestCert: material.requestCert,
      rejectUnauthorized: material.rejectUnauthorized,
      allowHTTP1: true,
      // TCP_NODELAY on every accepted socket, before the handshake. node:https does this for its sockets, but the
      // h2 server's HTTP/1.1 fallback does not: a small response then waits for the client's delayed ACK (~40 ms
      // per new connection). nginx sets tcp_nodelay as well.
      noDelay: true,
      // ALPN chosen per connection so a reload can turn h2 on or off
      ALPNCallback: ({ protocols }: { protocols: string[] }) =>
        rt.config.http2 && protocols.includes('h2') ? 'h2' : protocols.includes('http/1.1') ? 'http/1.1' : undefined,
      SNICallback: (servername: string, cb: (err: Error | null, ctx?: import('node:tls').SecureContext) => void) =>
        cb(null, rt.tlsMaterial ? contextForServername(rt.tlsMaterial, servername) : undefined),
      handshakeTimeout: rt.handshakeTimeoutMs,
      settings: { maxHeaderListSize: rt.maxHeaderSize, enablePush: false },
      maxSessionInvalidFrames: 100,
    } as Parameters<typeof createSecureServer>[0]);
    tlsServer.on('session', (session: ServerHttp2Session) => {
      sessions.add(session as Tracked);
      deps.metrics.connections.inc({ protocol: 'h2' });
      session.setTimeout(rt.idleTimeoutMs, () => {
        if (!(session as Tracked)[kActive]) session.close();
      });
      session.once('close', () => {
        sessions.delete(session as Tracked);
        deps.metrics.connections.dec({ protocol: 'h2' });
      });
      session.on('error', () => undefined);
    });
    tlsServer.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') return;
      sockets.add(socket as Tracked);
      deps.metrics.connections.inc({ protocol: 'h1' });
      socket.once('close', () => {
        sockets.delete(socket as Tracked);
        deps.metrics.connections.dec({ protocol: 'h1' });
      });
    });
    tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      const reason = tlsClientReason(err, socket);
      deps.metrics.handshakeFailures.inc({ reason });
      deps.logger.info({ event: 'tls.handshake_failed', reason, code: err.code, ip: unmapIp(socket.remoteAddress), sni: (socket as TLSSocket & { servername?: string }).servername || undefined, listen: rt.listen }, err.message);
    });
    server = tlsServer;
  } else {
    // Host is checked by the pipeline (400 with the error page), not by Node's bare 400
    const plain = createHttpServer({ maxHeaderSize: rt.maxHeaderSize, requireHostHeader: false, noDelay: true });
    plain.on('connection', (socket: Socket) => {
      sockets.add(socket as Tracked);
      deps.metrics.connections.inc({ protocol: 'plain' });
      socket.once('close', () => {
        sockets.delete(socket as Tracked);
        deps.metrics.connections.dec({ protocol: 'plain' });
      });
    });
    server = plain;
  }
  applyHttp1Limits(server, rt);
  server.on('request', onRequest);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (rt.redirectPort !== undefined && !rt.tls) {
      socket.destroy();
      return;
    }
    handleUpgrade(rt, deps, req, socket, head);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const { reason, bytes } = clientErrorResponse(rt, err);
    deps.metrics.requests.inc(String(REASONS[reason].status), reason);
    deps.logger.info({ event: 'http.client_error', reason, code: err.code, ip: unmapIp((socket as Socket).remoteAddress), listen: rt.listen }, 'malformed request refused');
    socket.end(bytes, () => socket.destroy());
  });

  return {
    get runtime() {
      return rt;
    },
    server,
    start() {
      return new Promise((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException) =>
          reject(new GatewayError('CG_GATEWAY_LISTEN', `cannot listen on ${rt.listen}: ${err.code ?? err.message}`, { hint: err.code === 'EADDRINUSE' ? 'another process uses that port' : undefined, cause: err }));
        server.once('error', onError);
        server.listen({ host: rt.host, port: rt.port }, () => {
          server.off('error', onError);
          server.on('error', (err) => deps.logger.error({ event: 'gateway.server_error', err, listen: rt.listen }, 'listener error'));
          const a = server.address() as { address: string; port: number };
          resolve({ host: a.address, port: a.port });
        });
      });
    },
    swap(next) {
      if (next.tlsMaterial && 'setSecureContext' in server) {
        const tlsServer = server as Http2SecureServer & { setSecureContext(o: SecureContextOptions): void; requestCert: boolean; rejectUnauthorized: boolean };
        tlsServer.setSecureContext(next.tlsMaterial.base);
        tlsServer.requestCert = next.tlsMaterial.requestCert;
        tlsServer.rejectUnauthorized = next.tlsMaterial.rejectUnauthorized;
      }
      rt = next;
      applyHttp1Limits(server, rt);
    },
    rotateTicketKeys() {
      if (!rt.tlsMaterial) return;
      const tlsServer = server as Http2SecureServer & { setTicketKeys(keys: Buffer): void };
      rotateTicketKeys((keys) => tlsServer.setTicketKeys(keys), rt.tlsMaterial);
    },
    drain(timeoutMs) {
      draining = true;
      return new Promise<void>((resolve) => {
        let finished = false;
        const done = () => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          for (const s of sockets) (s as Socket).destroy();
          for (const s of sessions) (s as ServerHttp2Session).destroy();
          done();
        }, timeoutMs);
        server.close(() => done());
        for (const s of sockets) if (!s[kActive]) (s as Socket).end();
        for (const s of sessions) (s as ServerHttp2Session).close();
      });
    },
  };
}

// HTTP/1.1 limits live on the server object (also for the HTTP/1.1 side of the h2 server, which reads them there).
function applyHttp1Limits(server: Http2SecureServer | HttpServer, rt: ListenerRuntime): void {
  const s = server as unknown as Record<string, number | boolean>;
  s.maxHeaderSize = rt.maxHeaderSize;
  s.requireHostHeader = false; // the pipeline answers a missing Host with 400 and the error page
  s.headersTimeout = rt.headerTimeoutMs;
  s.requestTimeout = Math.max(300_000, rt.headerTimeoutMs);
  s.keepAliveTimeout = rt.idleTimeoutMs;
  // how often Node checks header/request timeouts: fine-grained enough for short test timeouts, cheap otherwise
  s.connectionsCheckingInterval = Math.min(Math.max(Math.floor(rt.headerTimeoutMs / 4), 250), 5_000);
}
