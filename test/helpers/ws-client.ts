// Test helper: a WebSocket client on a raw TLS socket (the upgrade, masked text frames and their echoes from
// echo-upstream.ts, and when the socket closed), for tests of tunnels that must stay open or be cut.
import { randomBytes } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { decodeFrame, encodeFrame } from './echo-upstream.ts';

/** A WebSocket client on a raw TLS socket: the upgrade, masked text frames, echoes, and when the socket closed. */
export class Ws {
  socket: TLSSocket;
  status = 0;
  #buf = Buffer.alloc(0);
  #wake: Array<() => void> = [];
  closedAt: number | undefined;

  private constructor(socket: TLSSocket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#notify();
    });
    socket.on('close', () => {
      this.closedAt = Date.now();
      this.#notify();
    });
    socket.on('error', () => undefined);
  }

  #notify(): void {
    for (const w of this.#wake.splice(0)) w();
  }

  async #until<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: nothing within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.#wake.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  static async open(port: number, serverCa: string, path: string, cert: { certPem: string; keyPem: string }): Promise<Ws> {
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: serverCa, cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ['http/1.1'] }, () => resolve(s));
      s.once('error', reject);
    });
    const ws = new Ws(socket);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`);
    const end = await ws.#until(() => {
      const i = ws.#buf.indexOf('\r\n\r\n');
      return i >= 0 ? i : ws.closedAt !== undefined ? -1 : undefined;
    }, 10_000, 'upgrade response');
    if (end >= 0) {
      ws.status = Number(ws.#buf.subarray(0, end).toString('latin1').split(' ')[1]);
      ws.#buf = ws.#buf.subarray(end + 4);
    }
    return ws;
  }

  /** Sends a text frame and waits for its echo (throws if the tunnel closed first). */
  async echo(text: string, timeoutMs = 5_000): Promise<string> {
    this.socket.write(encodeFrame(1, Buffer.from(text), true));
    const frame = await this.#until(() => {
      const f = decodeFrame(this.#buf);
      if (f) {
        this.#buf = this.#buf.subarray(f.length);
        return f;
      }
      if (this.closedAt !== undefined) throw new Error('tunnel closed before the echo');
      return undefined;
    }, timeoutMs, 'echo');
    return frame.payload.toString();
  }

  /** Resolves with the close time, or undefined if still open after `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<number | undefined> {
    return this.#until(() => this.closedAt ?? undefined, timeoutMs, 'close').catch(() => undefined);
  }

  get open(): boolean {
    return this.closedAt === undefined;
  }

  close(): void {
    this.socket.destroy();
  }
}
