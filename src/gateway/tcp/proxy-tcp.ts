// TCP mode, both directions: a client connection (TLS with a checked certificate, or plain on loopback) piped to one
// upstream (plain, or TLS verified with session resumption). A refused connection never gets the upstream dialled.
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { HandlerDeps } from '../http/request-handler.ts';
import type { ListenerRuntime, TcpTarget } from '../runtime.ts';
import type { ClientConnection } from '../listener/connection-registry.ts';
import { readConnection, connectionVerdict } from '../tls/connection-identity.ts';
import { authorize } from '../policy/policy.ts';
import type { AuthorizeRequest, Decision } from '../policy/policy.ts';
import { proxyV2Header } from './proxy-protocol.ts';
import type { ReasonCode } from '../policy/reasons.ts';
import { reasonForUpstreamError, upstreamTlsReason } from '../upstream/upstream-errors.ts';

type Result = 'allowed' | 'refused' | 'upstream_error';

/** After drain's deadline ended a tunnel both ways, how long the FINs may take before both sockets are destroyed. */
const DRAIN_END_GRACE_MS = 1_000;

/** Why a tunnel ended, beyond a side closing it: the access line's `reason`. */
type ClosedFor = ReasonCode | 'idle' | 'drain';

/**
 * Whether a tunnel is opened: the one decision, run by `handleTcp` and by `certgate explain`. Server direction: never
 * a connection without a verified certificate, whatever the rules say (verify mode lets such a handshake finish; the
 * semantic check already refuses rules of sourceIp alone); then the tcp allow/deny rules. Client direction: a plain
 * loopback port with no rules; the remote end decides on the certificate the tunnel presents. Pure.
 */
export function decideTunnel(tcp: Pick<TcpTarget, 'direction' | 'route'>, facts: AuthorizeRequest | null): Decision {
  if (tcp.direction === 'client') return { allowed: true, rule: null };
  if (facts === null || facts.identity === null || facts.verifyReason !== null) {
    return { allowed: false, reason: facts?.verifyReason ?? 'no_certificate', rule: null };
  }
  return authorize(tcp.route, facts);
}

/**
 * Serves one TCP-mode connection: in the server direction a TLS socket whose handshake just finished, in the client
 * direction a plain socket just admitted. `conn` is its registry entry: its `state` is filled here, so the
 * listener's recheck can re-verify it, and the tunnel is bound to it as work of kind 'tunnel'.
 */
export function handleTcp(rt: ListenerRuntime, deps: HandlerDeps, conn: ClientConnection | undefined, client: Socket): void {
  const start = Date.now();
  const tcp = rt.tcp!;
  const server = tcp.direction === 'server';
  const state = server ? conn?.state ?? readConnection(client as TLSSocket, rt.clientAuth, rt.trust, conn?.ip) : null;
  if (conn) {
    conn.state = state;
    // a tunnel carries no requests: tunnel idle bounds it, not the keep-alive lifetime
    conn.tunnel = true;
  }
  const ip = state?.ip ?? conn?.ip ?? client.remoteAddress ?? '';
  const verdict = state !== null && rt.clientAuth !== null && rt.trust !== null ? connectionVerdict(state, rt.trust, rt.clientAuth, start) : null;
  const presented = verdict?.presented ?? null;
  // TLS upstream: whether the connection resumed the last session (set once connected)
  let resumed: boolean | undefined;
  const line = (result: Result, extra: { reason?: ReasonCode | string; bytesIn?: number; bytesOut?: number }) => {
    deps.metrics.tcpConnections.inc({ listen: rt.listen, result });
    if (extra.bytesIn) deps.metrics.tcpBytes.inc({ listen: rt.listen, direction: 'in' }, extra.bytesIn);
    if (extra.bytesOut) deps.metrics.tcpBytes.inc({ listen: rt.listen, direction: 'out' }, extra.bytesOut);
    if (!deps.accessLog) return;
    deps.accessLogger.info({
      event: 'tcp.access', direction: tcp.direction, result, reason: extra.reason, ip, subject: presented?.subject, serial: presented?.serial,
      bytes_in: extra.bytesIn ?? 0, bytes_out: extra.bytesOut ?? 0, duration_ms: Date.now() - start, upstream: tcp.upstream, tls_resumed: resumed, listen: rt.listen,
    }, 'tcp');
  };

  const decision = decideTunnel(tcp, verdict === null ? null : { identity: verdict.identity, verifyReason: verdict.reason, sourceIp: ip });
  if (!decision.allowed) {
    client.destroy();
    line('refused', { reason: decision.reason });
    return;
  }

  // Half-close both ways: a client that ends its writes still gets the upstream's answer, and the reverse.
  // TLS: the name verified is tls.servername, else the address host (tlsOptionsOf); the last session is offered
  const sessions = tcp.sessions;
  const upstream: Socket = tcp.tls
    ? tlsConnect({ host: tcp.host, port: tcp.port, ...tcp.tls, session: sessions.last, allowHalfOpen: true } as ConnectionOptions)
    : netConnect({ host: tcp.host, port: tcp.port, allowHalfOpen: true, noDelay: true });
  if (tcp.tls) {
    upstream.setNoDelay(true);
    // TLS 1.3 sends tickets after the handshake, maybe several: keep the newest for the next connection
    upstream.on('session', (session: Buffer) => (sessions.last = session));
  }
  // plaintext bytes each way (a TLS socket's own counters include the TLS records)
  let bytesIn = 0;
  let bytesOut = 0;
  let connected = false;
  let closedFor: ClosedFor | undefined;
  let logged = false;
  const finish = (result: Result, reason?: string) => {
    if (logged) return;
    logged = true;
    line(result, { reason, bytesIn, bytesOut });
  };
  const connectTimer = setTimeout(() => {
    // as an HTTP upstream's connect timeout: reason upstream_unreachable, kind connect_timeout
    deps.metrics.upstreamErrors.inc({ upstream: tcp.upstream, kind: 'connect_timeout' });
    deps.logger.warn({ event: 'proxy.upstream_error', upstream: tcp.upstream, kind: 'connect_timeout', listen: rt.listen }, 'TCP upstream did not connect in time');
    sessions.last = undefined;
    upstream.destroy();
    client.destroy();
    finish('upstream_error', 'upstream_unreachable');
  }, tcp.connectTimeoutMs);
  connectTimer.unref();

  const unbind = conn !== undefined
    ? deps.registry.bind(conn, {
      route: tcp.route,
      kind: 'tunnel',
      close: (reason) => {
        closedFor = reason;
        client.destroy();
        upstream.destroy();
      },
      // drain's deadline: both sides get a FIN (a database client sees a closed connection, not a reset), then go
      drain: () => {
        closedFor ??= 'drain';
        client.end();
        upstream.end();
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, DRAIN_END_GRACE_MS).unref();
      },
    })
    : undefined;

  upstream.once(tcp.tls ? 'secureConnect' : 'connect', () => {
    clearTimeout(connectTimer);
    connected = true;
    if (tcp.tls) resumed = (upstream as TLSSocket).isSessionReused();
    if (tcp.proxyProtocol) {
      // the client's address and the listener's, before any byte of the client's
      const header = proxyV2Header({ ip: conn?.ip || (client.remoteAddress ?? ''), port: conn?.clientPort ?? client.remotePort ?? 0 }, { ip: client.localAddress ?? '', port: client.localPort ?? 0 });
      upstream.write(header);
    }
    client.on('data', (d: Buffer) => (bytesIn += d.length));
    upstream.on('data', (d: Buffer) => (bytesOut += d.length));
    // pipe: backpressure both ways, and the end of one side becomes end() (half-close) on the other
    client.pipe(upstream);
    upstream.pipe(client);
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    // Before the pipe: any failure to connect or to complete TLS. After it: only a TLS alert (the upstream refusing
    // our certificate, which TLS 1.3 tells after our side of the handshake finished) is the upstream's failure.
    if (!logged && (!connected || upstreamTlsReason(err.code ?? '') !== undefined)) {
      clearTimeout(connectTimer);
      sessions.last = undefined;
      const { reason, kind } = reasonForUpstreamError(err);
      deps.metrics.upstreamErrors.inc({ upstream: tcp.upstream, kind });
      deps.logger.warn({ event: 'proxy.upstream_error', upstream: tcp.upstream, kind, code: err.code, err: err.message, listen: rt.listen }, 'TCP upstream failed');
      finish('upstream_error', reason);
    }
    client.destroy();
  });
  upstream.on('close', () => {
    // both directions done (or a reset): nothing more can reach the client
    if (!client.destroyed && !client.writableEnded) client.destroy();
  });
  client.on('error', () => upstream.destroy());
  // No byte either way for the idle time: the TLS socket's timer sees the client's writes and ours to it.
  client.setTimeout(tcp.idleMs, () => {
    deps.registry.hit('tunnel_idle', ip);
    closedFor = 'idle';
    client.destroy();
    upstream.destroy();
  });
  client.on('close', () => {
    clearTimeout(connectTimer);
    unbind?.();
    upstream.destroy();
    finish('allowed', closedFor);
  });
}
