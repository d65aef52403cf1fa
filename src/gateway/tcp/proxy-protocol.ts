// The PROXY protocol v2 header (haproxy's proxy-protocol.txt, section 2.2) TCP mode can send ahead of the client's
// bytes, so the service learns the client's address. Pure: addresses in, bytes out.
import { parseIp } from '../policy/cidr.ts';

/** The 12-byte v2 signature. */
const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export interface Endpoint {
  ip: string;
  port: number;
}

function v6Bytes(addr: Uint8Array): Uint8Array {
  if (addr.length === 16) return addr;
  // IPv4 beside IPv6: the IPv4-mapped form (::ffff:a.b.c.d), so both addresses share one family
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(addr, 12);
  return out;
}

/**
 * "PROXY" command, TCP over IPv4 (both ends IPv4, IPv4-mapped IPv6 unwrapped) or over IPv6. An address that does not
 * parse gives the "LOCAL" command with no addresses, which tells the service to use the connection's own.
 */
export function proxyV2Header(source: Endpoint, destination: Endpoint): Buffer {
  const src = parseIp(source.ip);
  const dst = parseIp(destination.ip);
  if (src === undefined || dst === undefined) return Buffer.concat([SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const v4 = src.length === 4 && dst.length === 4;
  const len = v4 ? 12 : 36;
  const out = Buffer.alloc(16 + len);
  SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = v4 ? 0x11 : 0x21; // AF_INET / AF_INET6, STREAM
  out.writeUInt16BE(len, 14);
  const a = v4 ? src : v6Bytes(src);
  const b = v4 ? dst : v6Bytes(dst);
  out.set(a, 16);
  out.set(b, 16 + a.length);
  out.writeUInt16BE(source.port, 16 + 2 * a.length);
  out.writeUInt16BE(destination.port, 18 + 2 * a.length);
  return out;
}
