// Known-answer tests for the RFC 7292 Appendix B KDF, checked against published vectors and the real `openssl kdf`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bmpPassword, pkcs12Kdf } from '../../src/pki/pkcs12-crypto.ts';
import type { Pkcs12Hash } from '../../src/pki/pkcs12-crypto.ts';
import { runProcess } from '../helpers/cli.ts';

test('bmpPassword encodes UTF-16BE with a trailing 00 00', () => {
  const rows: { input: string; expected: string }[] = [
    { input: 'smeg', expected: '0073006d006500670000' },
    { input: 'ä', expected: '00e40000' },
    { input: '€', expected: '20ac0000' },
    // outside the BMP: the two UTF-16 code units, as Windows and OpenSSL write them
    { input: '😀', expected: 'd83dde000000' },
  ];
  for (const { input, expected } of rows) assert.equal(bmpPassword(input).toString('hex'), expected, input);
});

test('pkcs12Kdf matches the published SHA-1 vectors', () => {
  // Vectors from the PKCS#12 test suites shipped with OpenSSL and Bouncy Castle.
  const rows = [
    { pw: 'smeg', salt: '0A58CF64530D823F', id: 1, iter: 1, len: 24, expected: '8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3' },
    { pw: 'smeg', salt: '0A58CF64530D823F', id: 2, iter: 1, len: 8, expected: '79993DFE048D3B76' },
    { pw: 'queeg', salt: '05DEC959ACFF72F7', id: 1, iter: 1000, len: 24, expected: 'ED2034E36328830FF09DF1E1A07DD357185DAC0D4F9EB3D4' },
    { pw: 'queeg', salt: '05DEC959ACFF72F7', id: 2, iter: 1000, len: 8, expected: '11DEDAD7758D4860' },
  ] as const;
  for (const r of rows) {
    const got = pkcs12Kdf('sha1', bmpPassword(r.pw), Buffer.from(r.salt, 'hex'), r.id, r.iter, r.len);
    assert.equal(got.toString('hex').toUpperCase(), r.expected, `${r.pw} id ${r.id}`);
  }
});

test('pkcs12Kdf agrees with openssl kdf PKCS12KDF for SHA-1 and SHA-256, all three IDs', async () => {
  const rows: { hash: Pkcs12Hash; pw: string; salt: string; id: 1 | 2 | 3; iter: number; len: number }[] = [
    { hash: 'sha256', pw: 'correct horse', salt: '0011223344556677', id: 3, iter: 2048, len: 32 },
    { hash: 'sha256', pw: 'pässwörd', salt: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', id: 1, iter: 7, len: 70 },
    { hash: 'sha1', pw: 'x', salt: 'ff', id: 3, iter: 2048, len: 20 },
    { hash: 'sha1', pw: 'a much longer password that spans more than one sixty-four byte block', salt: '0102030405060708', id: 2, iter: 3, len: 8 },
  ];
  for (const r of rows) {
    const pw = bmpPassword(r.pw);
    const res = await runProcess('openssl', [
      'kdf', '-keylen', String(r.len), '-kdfopt', `digest:${r.hash.toUpperCase()}`, '-kdfopt', `hexpass:${pw.toString('hex')}`,
      '-kdfopt', `hexsalt:${r.salt}`, '-kdfopt', `iter:${r.iter}`, '-kdfopt', `id:${r.id}`, 'PKCS12KDF',
    ]);
    assert.equal(res.code, 0, res.stderr);
    const expected = res.stdout.trim().replace(/:/g, '').toLowerCase();
    const got = pkcs12Kdf(r.hash, pw, Buffer.from(r.salt, 'hex'), r.id, r.iter, r.len).toString('hex');
    assert.equal(got, expected, `${r.hash} id ${r.id} len ${r.len}`);
  }
});
