// The one bound socket of a listener: accepts TCP connections and hands each to a callback (admission, then the
// protocol handler in force). It outlives reloads, so changing what a listener speaks never unbinds its address.
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { GatewayError } from '../../core/errors.ts';

export interface Acceptor {
  readonly server: Server;
  /** Binds; resolves with the bound address, rejects with CG_GATEWAY_LISTEN. */
  listen(host: string, port: number, label: string, options?: ListenOptions): Promise<{ host: string; port: number }>;
  /** Stops accepting (open connections are not touched); resolves when the socket is closed. */
  close(): Promise<void>;
}

/** How the socket is bound: workers each bind their own with SO_REUSEPORT (see docs/architecture.md, "Workers"). */
export interface ListenOptions {
  reusePort?: boolean;
  /** In a node:cluster worker: bind this process's own socket instead of sharing the primary's. */
  exclusive?: boolean;
}

export function createAcceptor(onSocket: (raw: Socket) => void, onError: (err: Error) => void): Acceptor {
  // TCP_NODELAY on every accepted socket, before the handshake: a small response must not wait for the client's
  // delayed ACK (~40 ms per new connection). nginx sets tcp_nodelay as well.
  const server = createServer({ noDelay: true }, onSocket);
  return {
    server,
    listen(host, port, label, options = {}) {
      return new Promise((resolve, reject) => {
        const fail = (err: NodeJS.ErrnoException) =>
          reject(new GatewayError('CG_GATEWAY_LISTEN', `cannot listen on ${label}: ${err.code ?? err.message}`, { hint: err.code === 'EADDRINUSE' ? 'another process uses that port' : undefined, cause: err }));
        server.once('error', fail);
        server.listen({ host, port, ...options }, () => {
          server.off('error', fail);
          server.on('error', onError);
          const a = server.address() as { address: string; port: number };
          resolve({ host: a.address, port: a.port });
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close(() => resolve());
      });
    },
  };
}
