// Table tests for duration parsing and PEM splitting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from '../../src/core/duration.ts';
import { parseSize } from '../../src/core/size.ts';
import { pemDecodeAll, pemEncode, splitCertificates, isPem } from '../../src/core/pem.ts';

test('parseDuration', () => {
  const rows: Array<[string, number | undefined]> = [
    ['500ms', 500], ['5s', 5000], ['2m', 120000], ['1h', 3600000], ['30d', 2592000000], ['1.5s', 1500],
    ['', undefined], ['5', undefined], ['s', undefined], ['-1s', undefined], ['5 sec', undefined],
  ];
  for (const [input, expected] of rows) assert.equal(parseDuration(input), expected, input);
});

test('pem round trip and bundle split', () => {
  const der = Buffer.from('0123456789'.repeat(20));
  const pem = pemEncode('CERTIFICATE', der);
  assert.ok(pem.split('\n').every((l) => l.length <= 64));
  const bundle = 'junk\n' + pem + pemEncode('X509 CRL', Buffer.from('crl')) + pem;
  assert.equal(pemDecodeAll(bundle).length, 3);
  assert.deepEqual(pemDecodeAll(bundle)[0].der, der);
  assert.deepEqual(splitCertificates(bundle), [pem, pem]);
  assert.equal(isPem(bundle), true);
  assert.equal(isPem(der), false);
});

test('parseSize', () => {
  const rows: Array<[number | string, number | undefined]> = [
    [0, 0], [1048576, 1048576], ['512', 512], ['512k', 524288], ['10m', 10485760], ['1g', 1073741824], ['1.5k', 1536],
    ['10MiB', 10485760], ['10mb', 10485760], [' 2K ', 2048], [-1, undefined], [1.5, undefined], ['10x', undefined], ['', undefined], ['k', undefined],
  ];
  for (const [input, expected] of rows) assert.equal(parseSize(input), expected, String(input));
});
