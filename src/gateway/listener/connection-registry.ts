// Every open client connection of one listener: admission (connection limits), the handshake deadline, lifetime
// and request counts, the client-certificate state, and the work (requests, WebSockets, tunnels) that rests on it.
import type { Socket } from 'node:net';
import type { ServerHttp2Session } from 'node:http2';
import type { Logger } from '../../observability/logger.ts';
import type { GatewayMetrics } from '../../observability/metrics.ts';
import type { ConnectionState } from '../tls/connection-identity.ts';
import { unmapIp } from '../tls/connection-identity.ts';
import type { CompiledPolicy } from '../policy/policy.ts';
import type { ReasonCode } from '../policy/reasons.ts';

/** The limits the registry enforces, read from the runtime in force each time they are needed. */
export interface ConnectionLimits {
  connections: number;
  connectionsPerIp: number | undefined;
  handshakeMs: number;
  lifetimeMs: number;
  requestsPerConnection: number;
  /** Client-cancelled HTTP/2 streams tolerated per 10 s before the session is ended (rapid reset). */
  resetsPer10s: number;
}

/** Names of limits as counted in `certgate_limit_hits_total{limit}`. */
export type LimitName =
  | 'connections' | 'connections_per_ip' | 'handshake_timeout' | 'lifetime' | 'requests_per_connection'
  | 'http2_rapid_reset' | 'tunnel_idle' | 'body_size' | 'upstream_queue_full' | 'upstream_queue_timeout';

/**
 * Work that rests on the connection's verified client identity: an in-flight proxied request, a WebSocket or a TCP
 * tunnel. When trust changes, the listener re-authorizes it under `route` and calls `close` if it is refused now.
 */
export interface BoundWork {
  /** A compiled route, or TCP mode's route-like policy. */
  route: { policy: CompiledPolicy };
  kind: 'request' | 'websocket' | 'tunnel';
  close(reason: ReasonCode): void;
  /** Set when a trusted gateway in front named the client (trustIdentityHeadersFrom): its identity headers. */
  forwarded?: ForwardedIdentity;
  /** Work with no point where it is idle (a TCP tunnel): ends it gracefully when a drain reaches its deadline. */
  drain?(): void;
}

/** The identity headers a trusted hop sent with a request, kept so a trust change can judge them again. */
export interface ForwardedIdentity {
  sent: ReadonlyMap<string, string> | undefined;
  repeated: boolean;
}

export type ConnectionProtocol = 'h1' | 'h2' | 'plain' | 'tcp';

/** One client connection, from accept to close. Owned by its listener's registry. */
export interface ClientConnection {
  readonly id: number;
  /** The accepted TCP socket: its `close` is the one event every path ends in. */
  readonly raw: Socket;
  /** The socket HTTP is spoken on: the TLS socket once the handshake finished, else `raw`. */
  socket: Socket;
  /** Client address, IPv4-mapped IPv6 unwrapped: the PROXY header's behind a load balancer, else the socket's. */
  readonly ip: string;
  /** Client port: the PROXY header's behind a load balancer, else the socket's. */
  readonly clientPort: number | undefined;
  readonly openedAt: number;
  /** False until the TLS handshake finished (plain connections start true). */
  established: boolean;
  protocol: ConnectionProtocol | null;
  /** The HTTP/2 session, once there is one. */
  session: ServerHttp2Session | null;
  /** The protocol handler that accepted it (a reload may put another in force; this one keeps serving it). */
  handler: unknown;
  /** Client-certificate state, read on the first request. */
  state: ConnectionState | null;
  /** Requests in progress and requests seen. */
  active: number;
  requests: number;
  /** Set when the connection should close once idle (lifetime, request count, drain). */
  retiring: boolean;
  /** Handed over to a tunnel (WebSocket, TCP mode): no more requests on it, so tunnelIdle bounds it, not lifetime. */
  tunnel: boolean;
  /** Work to re-check when trust changes; null until there is some. */
  work: Set<BoundWork> | null;
  resetWindowStart: number;
  resets: number;
  /** The handshake deadline timer (TLS), cleared once the handshake finished or the socket closed. */
  deadline: NodeJS.Timeout | undefined;
}

export interface RegistryOptions {
  listen: string;
  limits: () => ConnectionLimits;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Closes a connection gracefully (HTTP/1.1: end when idle; HTTP/2: GOAWAY). Set by the listener. */
  retire: (conn: ClientConnection) => void;
}

let ids = 0;

/** The key accepted sockets are found by until their TLS socket is established: the peer's address and port. */
function peerKey(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/**
 * The registry of one listener. Lookups by TLS socket or HTTP/2 session go through WeakMaps it owns; entries are
 * removed when the TCP socket closes. Nothing here is module-level state except the id counter.
 */
export class ConnectionRegistry {
  readonly #o: RegistryOptions;
  readonly #open = new Set<ClientConnection>();
  /** Accepted sockets by "address|port" until the TLS layer hands back its own socket for them. */
  readonly #byPeer = new Map<string, ClientConnection>();
  readonly #byHolder = new WeakMap<object, ClientConnection>();
  readonly #perIp = new Map<string, number>();
  #sweep: NodeJS.Timeout | undefined;
  #sweepMs = 0;
  /** Runs on every sweep (the listener re-checks work whose certificate may have expired meanwhile). */
  onSweep: (() => void) | undefined;

  readonly #onClose: (this: Socket) => void;
  readonly #onEnd: (this: Socket) => void;
  readonly #onDeadline: (conn: ClientConnection) => void;

  constructor(options: RegistryOptions) {
    this.#o = options;
    const registry = this;
    this.#onClose = function (this: Socket) {
      registry.#closed(this);
    };
    this.#onEnd = function (this: Socket) {
      if (registry.#byHolder.get(this)?.established === false) this.destroy();
    };
    this.#onDeadline = (conn) => {
      if (conn.established) return;
      this.hit('handshake_timeout', conn.ip);
      this.#o.metrics.handshakeFailures.inc({ reason: 'timeout' });
      conn.raw.destroy();
    };
  }

  /** The accepted socket closed: every path a connection ends by comes here, once. */
  #closed(raw: Socket): void {
    const conn = this.#byHolder.get(raw);
    if (conn === undefined || !this.#open.delete(conn)) return;
    clearTimeout(conn.deadline);
    conn.deadline = undefined;
    // still there when the handshake never finished (the address was read at admission, so Node still has it)
    const key = peerKey(raw);
    if (this.#byPeer.get(key) === conn) this.#byPeer.delete(key);
    const n = (this.#perIp.get(conn.ip) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(conn.ip);
    else this.#perIp.set(conn.ip, n);
    if (conn.protocol) this.#o.metrics.connections.dec({ protocol: conn.protocol });
  }

  get size(): number {
    return this.#open.size;
  }

  connections(): IterableIterator<ClientConnection> {
    return this.#open.values();
  }

  /** Counts a limit hit (metric; a debug log line, since scanners make these routine). */
  hit(limit: LimitName, ip: string): void {
    this.#o.metrics.limitHits.inc({ limit });
    this.#o.logger.debug({ event: 'limit.hit', limit, ip, listen: this.#o.listen }, `limit reached: ${limit}`);
  }

  /**
   * Admits an accepted socket or destroys it (over the listener's or the address's connection limit). Admitted
   * sockets that are not established (TLS) within the handshake deadline are destroyed, never ended: `end()` on a
   * socket whose handshake never finished does not complete, and the descriptor would stay in CLOSE-WAIT.
   * `client`: the client address a PROXY header named (limits, logs and policy use it).
   */
  admit(raw: Socket, tls: boolean, plainProtocol: 'plain' | 'tcp' = 'plain', client?: { ip: string; port: number }): ClientConnection | null {
    const limits = this.#o.limits();
    // behind a load balancer (PROXY protocol) the client is the one its header named, not the balancer
    const ip = client !== undefined ? unmapIp(client.ip) : unmapIp(raw.remoteAddress);
    if (raw.remoteAddress === undefined) {
      raw.destroy();
      return null;
    }
    if (this.#open.size >= limits.connections) {
      this.hit('connections', ip);
      raw.destroy();
      return null;
    }
    const fromIp = this.#perIp.get(ip) ?? 0;
    if (limits.connectionsPerIp !== undefined && fromIp >= limits.connectionsPerIp) {
      this.hit('connections_per_ip', ip);
      raw.destroy();
      return null;
    }
    const conn: ClientConnection = {
      id: ++ids, raw, socket: raw, ip, clientPort: client?.port ?? raw.remotePort, openedAt: Date.now(), established: !tls, protocol: tls ? null : plainProtocol, session: null, handler: null,
      state: null, active: 0, requests: 0, retiring: false, tunnel: false, work: null, resetWindowStart: 0, resets: 0, deadline: undefined,
    };
    this.#open.add(conn);
    this.#perIp.set(ip, fromIp + 1);
    this.#byHolder.set(raw, conn);
    // Listeners and the deadline are functions shared by every connection: an idle connection holds its entry and
    // nothing else of the registry's (no closure per connection, no `once` wrappers).
    raw.on('close', this.#onClose);
    if (tls) {
      // only the TLS layer needs the address lookup, and only until the handshake finished (see established())
      this.#byPeer.set(peerKey(raw), conn);
      conn.deadline = setTimeout(this.#onDeadline, limits.handshakeMs, conn);
      // a client that half-closes before the handshake completed will never complete it
      raw.on('end', this.#onEnd);
    } else {
      this.#o.metrics.connections.inc({ protocol: plainProtocol });
    }
    this.#armSweep(limits);
    return conn;
  }

  /** Marks the connection behind `socket` (the TLS socket of an accepted raw socket) established. */
  established(socket: Socket, protocol: ConnectionProtocol): ClientConnection | undefined {
    const key = peerKey(socket);
    const conn = this.#byPeer.get(key);
    if (conn === undefined) return undefined;
    // from here on the TLS socket (and an HTTP/2 session, attached before this) lead to the entry: the address
    // key and its map slot are not kept for the connection's life
    this.#byPeer.delete(key);
    conn.established = true;
    clearTimeout(conn.deadline);
    conn.deadline = undefined;
    conn.socket = socket;
    if (conn.protocol === null) {
      conn.protocol = protocol;
      this.#o.metrics.connections.inc({ protocol });
    }
    this.#byHolder.set(socket, conn);
    return conn;
  }

  /** Links an HTTP/2 session to its connection. */
  attachSession(session: ServerHttp2Session): ClientConnection | undefined {
    const socket = session.socket;
    const conn = this.#byPeer.get(peerKey(socket));
    if (conn === undefined) return undefined;
    conn.session = session;
    this.#byHolder.set(session, conn);
    return conn;
  }

  /** The connection a TLS socket wraps, also before its handshake finished (by the peer's address and port). */
  accepted(socket: Socket): ClientConnection | undefined {
    return this.#byPeer.get(peerKey(socket));
  }

  /** The connection of a TLS socket, raw socket or HTTP/2 session. */
  of(holder: object): ClientConnection | undefined {
    return this.#byHolder.get(holder);
  }

  /** Counts a client-cancelled HTTP/2 stream; true when the connection went over the rapid-reset limit. */
  noteReset(conn: ClientConnection, now: number): boolean {
    if (now - conn.resetWindowStart > 10_000) {
      conn.resetWindowStart = now;
      conn.resets = 0;
    }
    return ++conn.resets > this.#o.limits().resetsPer10s;
  }

  /** Registers work resting on the connection's identity; returns the function that unregisters it. */
  bind(conn: ClientConnection, work: BoundWork): () => void {
    (conn.work ??= new Set()).add(work);
    return () => {
      // an idle keep-alive connection keeps no empty set (and its hash table) between requests
      if (conn.work?.delete(work) && conn.work.size === 0) conn.work = null;
    };
  }

  /** Closes every open connection at once (stop after the drain timeout). */
  destroyAll(): void {
    for (const c of this.#open) c.raw.destroy();
  }

  /** Stops the sweep timer (the listener is closed). */
  close(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  // Lifetime: one timer per listener walks the connections, not one timer per connection.
  #armSweep(limits: ConnectionLimits): void {
    const every = Math.min(Math.max(Math.floor(limits.lifetimeMs / 4), 250), 5_000);
    if (this.#sweep !== undefined && every === this.#sweepMs) return;
    clearInterval(this.#sweep);
    this.#sweepMs = every;
    this.#sweep = setInterval(() => this.#sweepOnce(), every);
    this.#sweep.unref();
  }

  #sweepOnce(): void {
    if (this.#open.size === 0) {
      this.close();
      return;
    }
    this.onSweep?.();
    const { lifetimeMs } = this.#o.limits();
    const now = Date.now();
    for (const c of this.#open) {
      if (c.retiring || c.tunnel || !c.established || now - c.openedAt < lifetimeMs) continue;
      this.hit('lifetime', c.ip);
      this.#o.retire(c);
    }
  }
}
