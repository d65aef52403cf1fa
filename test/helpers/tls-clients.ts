// Test helper: real clients for the gateway — node https (HTTP/1.1), node http2, a raw TLS/TCP connection that
// speaks hand-written HTTP/1.1 (keep-alive, smuggling), curl and openssl s_client.
import { request as httpsRequest } from 'node:https';
import type { RequestOptions as HttpsOptions } from 'node:https';
import { connect as h2connect } from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { runProcess } from './cli.ts';
import type { CliResult } from './cli.ts';

export interface Creds {
  /** PEM text of the CA that signed the gateway's server certificate. */
  ca: string;
  cert?: string;
  key?: string;
  servername?: string;
}

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string;
  timeoutMs?: number;
}

/** One HTTP/1.1 request over a fresh TLS connection (no agent, no reuse). */
export function h1Request(port: number, path: string, creds: Creds, options: RequestOptions = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: false,
      ca: creds.ca, cert: creds.cert, key: creds.key, servername: creds.servername ?? 'localhost',
      timeout: options.timeoutMs ?? 10_000,
    } as HttpsOptions, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Opens an HTTP/2 session (closed by the caller). */
export function h2Session(port: number, creds: Creds): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://127.0.0.1:${port}`, { ca: creds.ca, cert: creds.cert, key: creds.key, servername: creds.servername ?? 'localhost' });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/** One request on an HTTP/2 session. `authority` sets :authority (default: the servername). */
export function h2Request(session: ClientHttp2Session, path: string, options: RequestOptions & { authority?: string } = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ':path': path, ':method': options.method ?? 'GET', ...options.headers };
    if (options.authority) headers[':authority'] = options.authority;
    const stream = session.request(headers, { endStream: options.body === undefined });
    let status = 0;
    let resHeaders: Record<string, string | string[] | undefined> = {};
    let body = '';
    stream.on('response', (h) => {
      status = Number(h[':status']);
      resHeaders = h as Record<string, string | string[] | undefined>;
    });
    stream.setEncoding('utf8').on('data', (d: string) => (body += d));
    stream.on('end', () => resolve({ status, headers: resHeaders, body }));
    stream.on('error', reject);
    if (options.body !== undefined) stream.end(options.body);
  });
}

/** A raw HTTP/1.1 connection (TLS or plain) for keep-alive and malformed-request tests. */
export class RawConnection {
  socket: TLSSocket | Socket;
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  closed = false;
  /** The latest TLS session (ticket) the server sent, for resumption tests. */
  session: Buffer | undefined;

  private constructor(socket: TLSSocket | Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
    socket.on('session', (session: Buffer) => (this.session = session));
  }

  /** True when this TLS connection resumed an earlier session. */
  get resumed(): boolean {
    return 'isSessionReused' in this.socket ? this.socket.isSessionReused() : false;
  }

  /** Sends a GET and reads its response. */
  async get(path: string, host = 'localhost', extra = ''): Promise<(SimpleResponse & { raw: string }) | null> {
    this.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`);
    return this.readResponse();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  static open(port: number, creds: Creds | null, tlsOptions: { session?: Buffer; host?: string } = {}): Promise<RawConnection> {
    const host = tlsOptions.host ?? '127.0.0.1';
    return new Promise((resolve, reject) => {
      const socket = creds
        ? tlsConnect({ host, port, ca: creds.ca, cert: creds.cert, key: creds.key, servername: creds.servername ?? 'localhost', ALPNProtocols: ['http/1.1'], session: tlsOptions.session,
          // the chain is still verified; the name check is left to tests that are about names
          checkServerIdentity: () => undefined })
        : netConnect({ host, port });
      socket.once(creds ? 'secureConnect' : 'connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Waits for one complete response (Content-Length or chunked), or for the connection to close. */
  async readResponse(timeoutMs = 10_000, noBody = false): Promise<(SimpleResponse & { raw: string }) | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = parseResponse(this.#buf, noBody);
      if (parsed) {
        this.#buf = this.#buf.subarray(parsed.length);
        return parsed.response;
      }
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no complete response within ${timeoutMs} ms: ${this.#buf.toString('latin1').slice(0, 200)}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  /** Waits until the server closes the connection (bounded). */
  async waitClosed(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const timer = setTimeout(r, deadline - Date.now());
        this.#waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

function parseResponse(buf: Buffer, noBody: boolean): { response: SimpleResponse & { raw: string }; length: number } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buf.subarray(0, end).toString('latin1');
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string | string[] | undefined> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    const prev = headers[k];
    headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const status = Number(statusLine.split(' ')[1]);
  let off = end + 4;
  let body: Buffer;
  if (noBody) {
    body = Buffer.alloc(0);
  } else if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', off);
      if (lineEnd < 0) return undefined;
      const size = parseInt(buf.subarray(off, lineEnd).toString('latin1'), 16);
      if (buf.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      off = lineEnd + 2 + size + 2;
      if (size === 0) break;
    }
    body = Buffer.concat(parts);
  } else {
    const len = Number(headers['content-length'] ?? 0);
    if (buf.length < off + len) return undefined;
    body = buf.subarray(off, off + len);
    off += len;
  }
  return { response: { status, headers, body: body.toString('utf8'), raw: head }, length: off };
}

/** Runs curl with a time limit; `-s -S` and a status line appended via -w. */
export async function curl(args: string[], timeoutMs = 20_000): Promise<CliResult & { status: number; body: string }> {
  const r = await runProcess('curl', ['-s', '-S', '--max-time', String(Math.ceil(timeoutMs / 1000)), '-w', '\n%{http_code}', ...args], { timeoutMs: timeoutMs + 5_000 });
  const i = r.stdout.lastIndexOf('\n');
  return { ...r, status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}

/** Runs `openssl s_client` against the gateway, sending `input`; returns its output (handshake transcript). */
export function sClient(port: number, args: string[], input = 'Q\n'): Promise<CliResult> {
  return runProcess('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args], { input, timeoutMs: 20_000 });
}
