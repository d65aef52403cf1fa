// IP addresses and CIDR blocks (v4 and v6) for sourceIp rules and SAN IP comparison. Pure, no DNS.
import { isIPv4, isIPv6 } from 'node:net';

/** A parsed block: network bytes (4 or 16) and prefix length. */
export interface Cidr {
  bytes: Uint8Array;
  prefix: number;
}

function parseV4(text: string): Uint8Array | undefined {
  if (!isIPv4(text)) return undefined;
  return Uint8Array.from(text.split('.').map(Number));
}

function parseV6(text: string): Uint8Array | undefined {
  if (!isIPv6(text)) return undefined;
  let s = text;
  const tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    // an embedded IPv4 address in the last 32 bits ("::ffff:10.0.0.1")
    const v4 = parseV4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    tail.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const [l, r] = s.split('::');
  const hex = (g: string): number => parseInt(g, 16);
  const left = l ? l.split(':').map(hex) : [];
  const right = r ? r.split(':').map(hex) : [];
  const zeros = s.includes('::') ? 8 - tail.length - left.length - right.length : 0;
  if (zeros < 0) return undefined;
  const words = [...left, ...new Array<number>(zeros).fill(0), ...right, ...tail];
  if (words.length !== 8) return undefined;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  return out;
}

function isV4Mapped(b: Uint8Array): boolean {
  return b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

/**
 * Bytes of an IP address (4 for IPv4, 16 for IPv6). An IPv4-mapped IPv6 address ("::ffff:10.0.0.1", what a
 * dual-stack socket reports) becomes its 4 IPv4 bytes so IPv4 rules apply to it. A zone ("%eth0") is ignored.
 */
export function parseIp(text: string): Uint8Array | undefined {
  const bare = text.trim().replace(/^\[(.*)\]$/, '$1').replace(/%[^%]*$/, '');
  const v4 = parseV4(bare);
  if (v4) return v4;
  const v6 = parseV6(bare);
  if (!v6) return undefined;
  return isV4Mapped(v6) ? v6.subarray(12) : v6;
}

/** Parses "10.1.0.0/16", "2001:db8::/32" or a single address (a /32 or /128). Host bits must be zero. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr, len, extra] = text.trim().split('/');
  if (extra !== undefined) return undefined;
  const bytes = parseIp(addr);
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  // a v4-mapped block ("::ffff:10.0.0.0/104") counts its prefix over 128 bits: convert to the IPv4 prefix
  const mapped = bytes.length === 4 && !isIPv4(addr.trim());
  let prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (mapped && len !== undefined) prefix -= 96;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  for (let bit = prefix; bit < max; bit++) {
    if (bytes[bit >> 3] & (0x80 >> (bit & 7))) return undefined; // "10.1.2.3/16": refuse, it is almost always a typo
  }
  return { bytes, prefix };
}

/** True when `address` (already parsed) lies inside `block`. IPv4 and IPv6 never match each other. */
export function cidrContains(block: Cidr, address: Uint8Array): boolean {
  if (block.bytes.length !== address.length) return false;
  const full = block.prefix >> 3;
  for (let i = 0; i < full; i++) if (block.bytes[i] !== address[i]) return false;
  const rest = block.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (block.bytes[full] & mask) === (address[full] & mask);
}

/** A list of blocks compiled once; `contains` takes the client address as Node reports it. */
export class CidrSet {
  readonly blocks: readonly Cidr[];

  constructor(blocks: Cidr[]) {
    this.blocks = blocks;
  }

  contains(address: string): boolean {
    const bytes = parseIp(address);
    return bytes !== undefined && this.blocks.some((b) => cidrContains(b, bytes));
  }
}
