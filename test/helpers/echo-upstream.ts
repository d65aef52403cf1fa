// Test helper: a loopback upstream that echoes what it received as JSON, plus a minimal WebSocket echo.
// Special paths: /slow?ms=N waits before answering, /redirect?to=URL answers 302, /status/N answers N,
// /hop adds hop-by-hop response headers, /bytes?n=N answers N bytes.
import { createServer as createHttpServer } from 'node:http';
import type { Server, IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';

export interface EchoReply {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
  headers: Record<string, string | string[] | undefined>;
  bodyLength: number;
  body: string;
}

export interface EchoUpstream {
  url: string;
  port: number;
  server: Server;
  /** Every request seen, in order. */
  seen: EchoReply[];
  close(): Promise<void>;
}

export interface EchoOptions {
  /** Serve https with these (for upstream TLS tests); requestCert makes it an mTLS upstream. */
  tls?: { cert: string; key: string; ca?: string; requestCert?: boolean; maxVersion?: 'TLSv1.2' | 'TLSv1.3' };
}

function handle(seen: EchoReply[], req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const reply: EchoReply = {
      method: req.method ?? '',
      url: req.url ?? '',
      httpVersion: req.httpVersion,
      rawHeaders: req.rawHeaders,
      headers: req.headers,
      bodyLength: body.length,
      body: body.subarray(0, 4096).toString('utf8'),
    };
    seen.push(reply);
    const u = new URL(req.url ?? '/', 'http://x');
    const send = () => {
      if (u.pathname === '/redirect') {
        res.writeHead(302, { location: u.searchParams.get('to') ?? '/' }).end();
      } else if (u.pathname.startsWith('/status/')) {
        res.writeHead(Number(u.pathname.slice(8)), { 'content-type': 'text/plain' }).end('upstream status\n');
      } else if (u.pathname === '/hop') {
        res.writeHead(200, { 'keep-alive': 'timeout=5', 'x-drop-me': '1', connection: 'x-drop-me', 'proxy-connection': 'keep-alive', 'content-type': 'text/plain' }).end('hop\n');
      } else if (u.pathname === '/bytes') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.alloc(Number(u.searchParams.get('n') ?? 0), 120));
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'echo' }).end(JSON.stringify(reply));
      }
    };
    const ms = u.pathname === '/slow' ? Number(u.searchParams.get('ms') ?? 0) : 0;
    if (ms > 0) setTimeout(send, Math.min(ms, 30_000));
    else send();
  });
}

/** Starts the echo upstream on 127.0.0.1:0. */
export async function startEchoUpstream(options: EchoOptions = {}): Promise<EchoUpstream> {
  const seen: EchoReply[] = [];
  const server: Server = options.tls
    ? (createHttpsServer({ ...options.tls, rejectUnauthorized: Boolean(options.tls.requestCert) }, (q, s) => handle(seen, q, s)) as unknown as Server)
    : createHttpServer((q, s) => handle(seen, q, s));
  const sockets = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    acceptWebSocket(seen, req, socket, head);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    server,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function acceptWebSocket(seen: EchoReply[], req: IncomingMessage, socket: Duplex, head: Buffer): void {
  seen.push({ method: req.method ?? '', url: req.url ?? '', httpVersion: req.httpVersion, rawHeaders: req.rawHeaders, headers: req.headers, bodyLength: 0, body: '' });
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
  let buf = head;
  const onData = (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const frame = decodeFrame(buf);
      if (!frame) return;
      buf = buf.subarray(frame.length);
      if (frame.opcode === 8) {
        socket.end(encodeFrame(8, Buffer.alloc(0), false));
        return;
      }
      if (frame.opcode === 1 || frame.opcode === 2) socket.write(encodeFrame(frame.opcode, frame.payload, false));
    }
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
  if (head.length) onData(Buffer.alloc(0));
}

/** Decodes one complete WebSocket frame (payloads under 64 KiB), or undefined when more bytes are needed. */
export function decodeFrame(buf: Buffer): { opcode: number; payload: Buffer; length: number } | undefined {
  if (buf.length < 2) return undefined;
  const opcode = buf[0] & 0x0f;
  const masked = (buf[1] & 0x80) !== 0;
  let len = buf[1] & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    throw new Error('test WebSocket frames stay under 64 KiB');
  }
  const maskLen = masked ? 4 : 0;
  if (buf.length < off + maskLen + len) return undefined;
  const payload = Buffer.from(buf.subarray(off + maskLen, off + maskLen + len));
  if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[off + (i % 4)];
  return { opcode, payload, length: off + maskLen + len };
}

/** Encodes one final frame; clients must mask. */
export function encodeFrame(opcode: number, payload: Buffer, mask: boolean): Buffer {
  const len = payload.length;
  const head = Buffer.alloc(len < 126 ? 2 : 4);
  head[0] = 0x80 | opcode;
  if (len < 126) head[1] = len;
  else {
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  }
  if (!mask) return Buffer.concat([head, payload]);
  head[1] |= 0x80;
  const key = Buffer.from([1, 2, 3, 4]);
  const body = Buffer.from(payload);
  for (let i = 0; i < len; i++) body[i] ^= key[i % 4];
  return Buffer.concat([head, key, body]);
}
