// PROXY protocol reader: v1 and v2 byte layouts from haproxy's proxy-protocol.txt, table-driven, accepted and refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyHeader, looksLikeProxyHeader } from '../../../src/gateway/tcp/proxy-protocol-parse.ts';
import { proxyV2Header } from '../../../src/gateway/tcp/proxy-protocol.ts';

const SIG = '0d0a0d0a000d0a515549540a';
const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');

test('parseProxyHeader: complete headers give the client address and the header length', () => {
  const rows: Array<{ name: string; input: Buffer; ip?: string; port?: number; length: number; version: 1 | 2 }> = [
    { name: 'v1 TCP4', input: Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET'), ip: '192.0.2.7', port: 56324, length: 45, version: 1 },
    { name: 'v1 TCP6', input: Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n'), ip: '2001:db8::7', port: 1, length: 44, version: 1 },
    { name: 'v1 UNKNOWN', input: Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'), length: 35, version: 1 },
    // version 2 PROXY, AF_INET STREAM, 12 bytes: 192.0.2.7 -> 198.51.100.1, 56324 -> 443
    { name: 'v2 TCP4', input: hex(`${SIG} 21 11 000c c0000207 c6336401 dc04 01bb 160301`), ip: '192.0.2.7', port: 56324, length: 28, version: 2 },
    // v2 TCP4 with a TLV after the addresses (HAProxy may add some): skipped, counted in the length
    { name: 'v2 TCP4 + TLV', input: hex(`${SIG} 21 11 0010 c0000207 c6336401 dc04 01bb 04 0001 00`), ip: '192.0.2.7', port: 56324, length: 32, version: 2 },
    { name: 'v2 TCP6', input: hex(`${SIG} 21 21 0024 20010db8000000000000000000000007 20010db8000000000000000000000001 0050 01bb`), ip: '2001:db8::7', port: 80, length: 52, version: 2 },
    { name: 'v2 TCP6 v4-mapped', input: hex(`${SIG} 21 21 0024 00000000000000000000ffffc0000207 00000000000000000000ffffc6336401 0050 01bb`), ip: '192.0.2.7', port: 80, length: 52, version: 2 },
    { name: 'v2 LOCAL', input: hex(`${SIG} 20 00 0000`), length: 16, version: 2 },
    { name: 'v2 UNIX is no TCP client', input: hex(`${SIG} 21 31 00d8 ${'00'.repeat(216)}`), length: 232, version: 2 },
    { name: 'our own writer', input: proxyV2Header({ ip: '10.1.2.3', port: 4000 }, { ip: '10.9.9.9', port: 443 }), ip: '10.1.2.3', port: 4000, length: 28, version: 2 },
  ];
  for (const row of rows) {
    const r = parseProxyHeader(row.input);
    assert.equal(r.status, 'ok', row.name);
    if (r.status !== 'ok') continue;
    assert.equal(r.length, row.length, row.name);
    assert.equal(r.version, row.version, row.name);
    assert.equal(r.source?.ip, row.ip, row.name);
    assert.equal(r.source?.port, row.port, row.name);
  }
});

test('parseProxyHeader: partial headers ask for more; malformed ones are refused with a reason', () => {
  const incomplete = [Buffer.from('PRO'), Buffer.from('PROXY TCP4 1.2.3.4'), hex(SIG.slice(0, 10)), hex(`${SIG} 21 11 000c c0000207`)];
  for (const input of incomplete) assert.equal(parseProxyHeader(input).status, 'incomplete', input.toString('hex'));
  const invalid: Array<[Buffer, RegExp]> = [
    [Buffer.from([0x16, 0x03, 0x01]), /no PROXY header/], // a TLS ClientHello
    [Buffer.from('GET / HTTP/1.1\r\n'), /no PROXY header/],
    [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n'), /is not/],
    [Buffer.from('PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n'), /not IPv4/],
    [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n'), /ports/],
    [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'), /ports/],
    [Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), /107/],
    [hex(`${SIG} 11 11 000c`), /version 1/],
    [hex(`${SIG} 22 11 000c`), /command 2/],
    [hex(`${SIG} 21 11 ffff`), /larger/],
    [hex(`${SIG} 21 11 0004 c0000207`), /truncated/],
    [hex('0d0a0d0a00ff'), /no PROXY header/],
  ];
  for (const [input, reason] of invalid) {
    const r = parseProxyHeader(input);
    assert.equal(r.status, 'invalid', input.toString('latin1'));
    if (r.status === 'invalid') assert.match(r.reason, reason);
  }
});

test('looksLikeProxyHeader: tells a PROXY header from TLS and HTTP by its first bytes', () => {
  assert.equal(looksLikeProxyHeader(Buffer.from('PROXY ')), true);
  assert.equal(looksLikeProxyHeader(hex(SIG)), true);
  assert.equal(looksLikeProxyHeader(Buffer.from('PRO')), true);
  assert.equal(looksLikeProxyHeader(Buffer.from([0x16, 0x03])), false);
  assert.equal(looksLikeProxyHeader(Buffer.from('POST /')), false);
  assert.equal(looksLikeProxyHeader(Buffer.alloc(0)), false);
});
