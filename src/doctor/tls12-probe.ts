// Reads the server's TLS 1.2 CertificateRequest (does it ask for a client certificate, from which CAs) off the wire.
// TLS 1.3 encrypts CertificateRequest and Node exposes no client-CA list, so this sends its own TLS 1.2 ClientHello
// on a plain TCP socket and parses the server's first flight (sent in clear in 1.2) up to ServerHelloDone. It never
// completes the handshake: it closes the socket once it has read what it needs.
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';

/** What the TLS 1.2 first flight says about client certificates. */
export type Tls12Request =
  | { outcome: 'asked'; caNames: Buffer[] }
  | { outcome: 'not_asked' }
  /** The server refused TLS 1.2 (alert or close): it speaks only TLS 1.3, and what it asks for cannot be known. */
  | { outcome: 'tls12_refused'; alert: number | null }
  | { outcome: 'error'; message: string };

const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const u24 = (n: number) => Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const vec16 = (...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([u16(body.length), body]);
};
const ext = (type: number, body: Buffer) => Buffer.concat([u16(type), vec16(body)]);
const u16list = (values: number[]) => Buffer.concat(values.map(u16));

// ECDHE with AES-GCM and ChaCha20 first, then the older CBC and RSA suites a legacy server may insist on.
const CIPHERS = [0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0x009e, 0x009f, 0xc009, 0xc013, 0xc00a, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035, 0x00ff];
const GROUPS = [0x001d, 0x0017, 0x0018, 0x0019];
const SIGALGS = [0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201];

/** A TLS 1.2 ClientHello record (no supported_versions extension, so the server cannot pick 1.3). */
export function clientHello12(servername: string | undefined): Buffer {
  const exts: Buffer[] = [];
  if (servername) {
    const name = Buffer.from(servername, 'ascii');
    exts.push(ext(0x0000, vec16(Buffer.from([0]), vec16(name))));
  }
  exts.push(ext(0x000a, vec16(u16list(GROUPS))));
  exts.push(ext(0x000b, Buffer.from([1, 0])));
  exts.push(ext(0x000d, vec16(u16list(SIGALGS))));
  exts.push(ext(0x0017, Buffer.alloc(0)));
  const body = Buffer.concat([
    Buffer.from([3, 3]), randomBytes(32), Buffer.from([0]),
    vec16(u16list(CIPHERS)), Buffer.from([1, 0]), vec16(...exts),
  ]);
  const handshake = Buffer.concat([Buffer.from([1]), u24(body.length), body]);
  return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(handshake.length), handshake]);
}

/** The distinguished names (DER) of a CertificateRequest body (RFC 5246 7.4.4). */
export function parseCertificateRequest(body: Buffer): Buffer[] {
  let at = 1 + body[0]; // certificate_types<1..2^8-1>
  at += 2 + body.readUInt16BE(at); // supported_signature_algorithms<2..2^16-2>
  const end = at + 2 + body.readUInt16BE(at);
  at += 2;
  const names: Buffer[] = [];
  while (at + 2 <= end && names.length < 1000) {
    const len = body.readUInt16BE(at);
    names.push(Buffer.from(body.subarray(at + 2, at + 2 + len)));
    at += 2 + len;
  }
  return names;
}

/** Feeds record bytes in; returns a result once the first flight says enough, else null (need more bytes). */
export class FirstFlightReader {
  private records = Buffer.alloc(0);
  private handshake = Buffer.alloc(0);
  private caNames: Buffer[] | null = null;

  push(chunk: Buffer): Tls12Request | null {
    this.records = Buffer.concat([this.records, chunk]);
    while (this.records.length >= 5) {
      const type = this.records[0];
      const len = this.records.readUInt16BE(3);
      if (this.records.length < 5 + len) return null;
      const fragment = this.records.subarray(5, 5 + len);
      this.records = this.records.subarray(5 + len);
      if (type === 21) {
        // protocol_version (70) or handshake_failure (40) to a 1.2-only hello: the server speaks TLS 1.3 only
        return { outcome: 'tls12_refused', alert: fragment.length >= 2 ? fragment[1] : null };
      }
      if (type !== 22) return { outcome: 'error', message: `unexpected TLS record type ${type} before ServerHelloDone` };
      this.handshake = Buffer.concat([this.handshake, fragment]);
      const done = this.readMessages();
      if (done) return done;
    }
    return null;
  }

  private readMessages(): Tls12Request | null {
    while (this.handshake.length >= 4) {
      const type = this.handshake[0];
      const len = this.handshake.readUIntBE(1, 3);
      if (this.handshake.length < 4 + len) return null;
      const body = this.handshake.subarray(4, 4 + len);
      this.handshake = this.handshake.subarray(4 + len);
      if (type === 2 && !(body[0] === 3 && body[1] === 3)) {
        return { outcome: 'error', message: `the server chose protocol version ${body[0]}.${body[1]}` };
      }
      if (type === 13) {
        try {
          this.caNames = parseCertificateRequest(body);
        } catch {
          return { outcome: 'error', message: 'the server sent a malformed CertificateRequest' };
        }
      }
      if (type === 14) return this.caNames ? { outcome: 'asked', caNames: this.caNames } : { outcome: 'not_asked' };
    }
    return null;
  }
}

/** Connects to host:port, sends a TLS 1.2 ClientHello and reads the first flight; never throws. */
export function probeTls12(host: string, port: number, servername: string | undefined, timeoutMs: number): Promise<Tls12Request> {
  return new Promise((resolve) => {
    const reader = new FirstFlightReader();
    let settled = false;
    const socket = connect({ host, port });
    const finish = (r: Tls12Request) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ outcome: 'error', message: `no answer to a TLS 1.2 hello within ${timeoutMs} ms` }), timeoutMs);
    socket.once('connect', () => socket.write(clientHello12(servername)));
    socket.on('data', (chunk: Buffer) => {
      const r = reader.push(chunk);
      if (r) finish(r);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => finish({ outcome: 'error', message: err.code ?? err.message }));
    // a server that will not speak 1.2 sometimes just closes
    socket.once('close', () => finish({ outcome: 'tls12_refused', alert: null }));
  });
}
