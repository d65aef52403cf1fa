// PROXY protocol v2 header bytes, as a table (haproxy proxy-protocol.txt, section 2.2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { proxyV2Header } from '../../../src/gateway/tcp/proxy-protocol.ts';

const SIG = '0d0a0d0a000d0a515549540a';

const CASES: Array<{ name: string; src: [string, number]; dst: [string, number]; hex: string }> = [
  { name: 'IPv4 both ends', src: ['10.1.2.3', 50000], dst: ['127.0.0.1', 15432], hex: SIG + '2111000c' + '0a010203' + '7f000001' + 'c350' + '3c48' },
  { name: 'IPv4-mapped IPv6 is IPv4', src: ['::ffff:10.1.2.3', 1], dst: ['::ffff:127.0.0.1', 2], hex: SIG + '2111000c' + '0a010203' + '7f000001' + '0001' + '0002' },
  { name: 'IPv6 both ends', src: ['2001:db8::1', 443], dst: ['::1', 8443], hex: SIG + '21210024' + '20010db8000000000000000000000001' + '00000000000000000000000000000001' + '01bb' + '20fb' },
  { name: 'IPv4 beside IPv6: mapped', src: ['10.0.0.1', 1], dst: ['::1', 2], hex: SIG + '21210024' + '00000000000000000000ffff0a000001' + '00000000000000000000000000000001' + '0001' + '0002' },
  { name: 'unparseable address: LOCAL', src: ['', 1], dst: ['::1', 2], hex: SIG + '20000000' },
];

for (const c of CASES) {
  test(`PROXY v2 header: ${c.name}`, () => {
    const h = proxyV2Header({ ip: c.src[0], port: c.src[1] }, { ip: c.dst[0], port: c.dst[1] });
    assert.equal(h.toString('hex'), c.hex);
  });
}
