// TCP mode: after the handshake a connection's certificate is verified and authorized like an HTTP request's, then
// the connection becomes a byte pipe to one upstream. A refused connection is closed before the upstream is dialled.
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { HandlerDeps } from '../http/request-handler.ts';
import type { ListenerRuntime } from '../runtime.ts';
import type { ClientConnection } from '../listener/connection-registry.ts';
import { readConnection, connectionVerdict } from '../tls/connection-identity.ts';
import { authorize } from '../policy/policy.ts';
import { proxyV2Header } from './proxy-protocol.ts';
import type { ReasonCode } from '../policy/reasons.ts';

type Result = 'allowed' | 'refused' | 'upstream_error';

/**
 * Serves one TCP-mode connection whose handshake just finished. `conn` is its registry entry: its `state` is filled
 * here, so the listener's recheck can re-verify it, and the tunnel is bound to it as work of kind 'tunnel'.
 */
export function handleTcp(rt: ListenerRuntime, deps: HandlerDeps, conn: ClientConnection | undefined, client: TLSSocket): void {
  const start = Date.now();
  const tcp = rt.tcp!;
  const state = conn?.state ?? readConnection(client, rt.clientAuth, rt.trust, conn?.ip);
  if (conn) {
    conn.state = state;
    // a tunnel carries no requests: tunnel idle bounds it, not the keep-alive lifetime
    conn.tunnel = true;
  }
  const verdict = rt.clientAuth !== null && rt.trust !== null ? connectionVerdict(state, rt.trust, rt.clientAuth, start) : null;
  const presented = verdict?.presented ?? null;
  const line = (result: Result, extra: { reason?: ReasonCode | string; bytesIn?: number; bytesOut?: number }) => {
    deps.metrics.tcpConnections.inc({ listen: rt.listen, result });
    if (extra.bytesIn) deps.metrics.tcpBytes.inc({ listen: rt.listen, direction: 'in' }, extra.bytesIn);
    if (extra.bytesOut) deps.metrics.tcpBytes.inc({ listen: rt.listen, direction: 'out' }, extra.bytesOut);
    if (!deps.accessLog) return;
    deps.logger.info({
      event: 'tcp.access', result, reason: extra.reason, ip: state.ip, subject: presented?.subject, serial: presented?.serial,
      bytes_in: extra.bytesIn ?? 0, bytes_out: extra.bytesOut ?? 0, duration_ms: Date.now() - start, upstream: tcp.upstream, listen: rt.listen,
    }, 'tcp');
  };

  // Never a connection without a verified certificate, whatever the rules say (verify mode lets such a handshake
  // finish; the semantic check already refuses rules of sourceIp alone).
  const decision = verdict === null || verdict.identity === null
    ? { allowed: false as const, reason: verdict?.reason ?? 'no_certificate' }
    : authorize(tcp.route, { identity: verdict.identity, verifyReason: verdict.reason, sourceIp: state.ip });
  if (!decision.allowed) {
    client.destroy();
    line('refused', { reason: decision.reason });
    return;
  }

  // Half-close both ways: a client that ends its writes still gets the upstream's answer, and the reverse.
  const upstream: Socket = tcp.tls
    ? tlsConnect({ host: tcp.host, port: tcp.port, ...tcp.tls, allowHalfOpen: true } as ConnectionOptions)
    : netConnect({ host: tcp.host, port: tcp.port, allowHalfOpen: true, noDelay: true });
  if (tcp.tls) upstream.setNoDelay(true);
  // plaintext bytes each way (a TLS socket's own counters include the TLS records)
  let bytesIn = 0;
  let bytesOut = 0;
  let connected = false;
  let closedFor: ReasonCode | 'idle' | undefined;
  let logged = false;
  const finish = (result: Result, reason?: string) => {
    if (logged) return;
    logged = true;
    line(result, { reason, bytesIn, bytesOut });
  };
  const connectTimer = setTimeout(() => {
    deps.metrics.upstreamErrors.inc({ upstream: tcp.upstream, kind: 'connect_timeout' });
    upstream.destroy();
    client.destroy();
    finish('upstream_error', 'upstream_connect_timeout');
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
    })
    : undefined;

  upstream.once(tcp.tls ? 'secureConnect' : 'connect', () => {
    clearTimeout(connectTimer);
    connected = true;
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
    if (!connected && !logged) {
      clearTimeout(connectTimer);
      const kind = tcp.tls && !/^E[A-Z]+$/.test(err.code ?? '') ? 'tls' : 'unreachable';
      deps.metrics.upstreamErrors.inc({ upstream: tcp.upstream, kind });
      deps.logger.warn({ event: 'proxy.upstream_error', upstream: tcp.upstream, kind, code: err.code, err: err.message, listen: rt.listen }, 'TCP upstream failed');
      finish('upstream_error', kind === 'tls' ? 'upstream_tls' : 'upstream_unreachable');
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
    deps.registry.hit('tunnel_idle', state.ip);
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
