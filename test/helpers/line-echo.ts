// Test helper: a loopback line-echo service (plain or TLS) for TCP mode: answers each line, reports the client's
// end, and counts connections and bytes so a refused client can be shown to have reached nothing.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { TLSSocket, TlsOptions } from 'node:tls';
import type { Cleanup } from './pki.ts';

/**
 * A line-echo service: answers each "\n"-terminated line with "echo: <line>\n", and on end answers "bye <n bytes>\n"
 * then ends. It counts connections and bytes, so refused clients can be shown to have reached nothing.
 */
export interface LineEcho {
  port: number;
  connections: number;
  bytes: number;
  /** Set when a connection saw the client's end. */
  ended: number;
  /** The first bytes the service received (up to 64). */
  head: Buffer;
  server: Server;
}

export async function startLineEcho(t: Cleanup, tls?: TlsOptions): Promise<LineEcho & { peers: string[] }> {
  const sockets = new Set<Socket>();
  const echo = { port: 0, connections: 0, bytes: 0, ended: 0, head: Buffer.alloc(0), server: undefined as unknown as Server, peers: [] as string[] };
  const serve = (s: Socket) => {
    echo.connections++;
    if (tls) echo.peers.push((s as TLSSocket).getPeerX509Certificate()?.subject ?? '');
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = '';
    let seen = 0;
    s.on('data', (d: Buffer) => {
      echo.bytes += d.length;
      if (echo.head.length < 64) echo.head = Buffer.concat([echo.head, d]).subarray(0, 64);
      seen += d.length;
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        s.write(`echo: ${buf.slice(0, i)}\n`);
        buf = buf.slice(i + 1);
      }
    });
    s.on('end', () => {
      echo.ended++;
      s.end(`bye ${seen}\n`);
    });
  };
  const server = tls ? createTlsServer({ ...tls, allowHalfOpen: true } as TlsOptions, serve) : createServer({ allowHalfOpen: true }, serve);
  // every accepted socket, TLS handshake or not, so teardown can close them all
  server.on('connection', (raw: Socket) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  echo.server = server;
  echo.port = (server.address() as AddressInfo).port;
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return echo;
}

