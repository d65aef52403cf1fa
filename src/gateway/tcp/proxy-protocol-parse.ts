// Reads a PROXY protocol header (v1 text, v2 binary; haproxy's proxy-protocol.txt) a load balancer sends first. Pure.
import { isIP } from 'node:net';
import type { Endpoint } from './proxy-protocol.ts';

/** The 12-byte v2 signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** A v1 line is at most 107 bytes, CRLF included (spec section 2.1). */
export const V1_MAX = 107;
/** Largest v2 header accepted: addresses plus room for TLVs (HAProxy's send-proxy-v2 sends a few small ones). */
export const V2_MAX = 16 + 1024;

export type ProxyHeader =
  /** More bytes are needed to decide. */
  | { status: 'incomplete' }
  | { status: 'invalid'; reason: string }
  /**
   * A complete header of `length` bytes. `source` is the client; absent for v1 UNKNOWN, v2 LOCAL and address
   * families other than TCP over IPv4/IPv6 (the connection's own address applies then).
   */
  | { status: 'ok'; version: 1 | 2; length: number; source?: Endpoint; destination?: Endpoint };

/** True when `buf` starts (so far) like a PROXY header of either version: a listener not expecting one refuses it. */
export function looksLikeProxyHeader(buf: Buffer): boolean {
  const n = Math.min(buf.length, 6);
  if (n === 0) return false;
  return buf.subarray(0, n).equals(V1_PREFIX.subarray(0, n)) || buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n));
}

function port(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV1(buf: Buffer): ProxyHeader {
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length >= V1_MAX ? { status: 'invalid', reason: 'v1 line longer than 107 bytes' } : { status: 'incomplete' };
  if (end + 2 > V1_MAX) return { status: 'invalid', reason: 'v1 line longer than 107 bytes' };
  const line = buf.subarray(0, end).toString('latin1');
  const parts = line.split(' ');
  if (parts[1] === 'UNKNOWN') return { status: 'ok', version: 1, length: end + 2 };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return { status: 'invalid', reason: 'v1 line is not "PROXY TCP4|TCP6 src dst sport dport"' };
  const family = parts[1] === 'TCP4' ? 4 : 6;
  const [src, dst] = [parts[2], parts[3]];
  const [sport, dport] = [port(parts[4]), port(parts[5])];
  if (isIP(src) !== family || isIP(dst) !== family) return { status: 'invalid', reason: `v1 addresses are not IPv${family}` };
  if (sport === undefined || dport === undefined) return { status: 'invalid', reason: 'v1 ports are not numbers from 0 to 65535' };
  return { status: 'ok', version: 1, length: end + 2, source: { ip: src, port: sport }, destination: { ip: dst, port: dport } };
}

function v6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // the URL parser writes the canonical, compressed form (RFC 5952): 2001:db8::7
  const text = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  // IPv4-mapped addresses read as the IPv4 address, as the gateway shows clients everywhere else
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return text;
}

function parseV2(buf: Buffer): ProxyHeader {
  if (buf.length < 16) return { status: 'incomplete' };
  const verCmd = buf[12];
  if (verCmd >> 4 !== 2) return { status: 'invalid', reason: `v2 version ${verCmd >> 4}, expected 2` };
  const command = verCmd & 0x0f;
  if (command > 1) return { status: 'invalid', reason: `v2 command ${command} is neither LOCAL nor PROXY` };
  const len = buf.readUInt16BE(14);
  const length = 16 + len;
  if (length > V2_MAX) return { status: 'invalid', reason: `v2 header of ${length} bytes is larger than ${V2_MAX}` };
  if (buf.length < length) return { status: 'incomplete' };
  if (command === 0) return { status: 'ok', version: 2, length }; // LOCAL: health checks from the balancer itself
  const family = buf[13];
  if (family === 0x11) {
    if (len < 12) return { status: 'invalid', reason: 'v2 TCP4 addresses are truncated' };
    const ip = (o: number) => `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`;
    return { status: 'ok', version: 2, length, source: { ip: ip(16), port: buf.readUInt16BE(24) }, destination: { ip: ip(20), port: buf.readUInt16BE(26) } };
  }
  if (family === 0x21) {
    if (len < 36) return { status: 'invalid', reason: 'v2 TCP6 addresses are truncated' };
    return {
      status: 'ok', version: 2, length,
      source: { ip: v6Text(buf.subarray(16, 32)), port: buf.readUInt16BE(48) },
      destination: { ip: v6Text(buf.subarray(32, 48)), port: buf.readUInt16BE(50) },
    };
  }
  // UNSPEC, UDP, unix sockets: a valid header that names no TCP client; the connection's address applies
  return { status: 'ok', version: 2, length };
}

/** Parses the header at the start of `buf` (the first bytes of a connection). */
export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { status: 'incomplete' };
  if (buf[0] === 0x50) {
    const n = Math.min(buf.length, V1_PREFIX.length);
    if (!buf.subarray(0, n).equals(V1_PREFIX.subarray(0, n))) return { status: 'invalid', reason: 'no PROXY header' };
    return buf.length < V1_PREFIX.length ? { status: 'incomplete' } : parseV1(buf);
  }
  if (buf[0] === 0x0d) {
    const n = Math.min(buf.length, 12);
    if (!buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return { status: 'invalid', reason: 'no PROXY header' };
    return parseV2(buf);
  }
  return { status: 'invalid', reason: 'no PROXY header' };
}
