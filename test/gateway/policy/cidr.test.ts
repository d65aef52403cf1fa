// CIDR and address parsing: v4, v6, v4-mapped addresses, typos refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CidrSet, parseCidr, parseIp } from '../../../src/gateway/policy/cidr.ts';
import { formatIp } from '../../../src/gateway/identity/identity.ts';

test('parseIp table', () => {
  const rows: Array<[string, string | undefined]> = [
    ['10.1.2.3', '10.1.2.3'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['::', '::'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8::1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::FFFF:a01:203', '10.1.2.3'],
    ['64:ff9b::10.1.2.3', '64:ff9b::a01:203'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['fe80::1%eth0', 'fe80::1'],
    ['10.1.2', undefined],
    ['010.1.2.3', undefined],
    ['256.1.1.1', undefined],
    ['1::2::3', undefined],
    ['example.com', undefined],
    ['', undefined],
  ];
  for (const [text, expected] of rows) {
    const b = parseIp(text);
    assert.equal(b === undefined ? undefined : formatIp(b), expected, text);
  }
});

test('parseCidr refuses typos', () => {
  for (const bad of ['10.1.2.3/16', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', '10.0.0.0/8/8', '::1/129', '2001:db8::1/32', 'x/8', '10.0.0.0/ 8']) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
  assert.deepEqual(parseCidr('10.1.0.0/16'), { bytes: Uint8Array.from([10, 1, 0, 0]), prefix: 16 });
  assert.equal(parseCidr('10.1.2.3')?.prefix, 32);
  assert.equal(parseCidr('::1')?.prefix, 128);
  assert.equal(parseCidr('::ffff:10.0.0.0/104')?.prefix, 8);
});

test('CidrSet.contains table', () => {
  const set = new CidrSet(['10.1.0.0/16', '192.168.1.7', '2001:db8::/32', '172.16.0.0/12'].map((c) => parseCidr(c)!));
  const rows: Array<[string, boolean]> = [
    ['10.1.0.0', true], ['10.1.255.255', true], ['10.2.0.0', false], ['10.0.255.255', false],
    ['192.168.1.7', true], ['192.168.1.8', false],
    ['::ffff:10.1.2.3', true], ['::ffff:10.2.2.3', false],
    ['2001:db8:ffff::1', true], ['2001:db9::1', false],
    ['172.31.255.255', true], ['172.32.0.0', false], ['172.15.255.255', false],
    ['::1', false], ['127.0.0.1', false], ['not-an-ip', false], ['', false],
  ];
  for (const [ip, expected] of rows) assert.equal(set.contains(ip), expected, ip);
  assert.equal(new CidrSet([parseCidr('0.0.0.0/0')!]).contains('8.8.8.8'), true);
  assert.equal(new CidrSet([parseCidr('0.0.0.0/0')!]).contains('::1'), false, 'IPv4 blocks never match IPv6 addresses');
  assert.equal(new CidrSet([parseCidr('::/0')!]).contains('::1'), true);
});
