// CRL builder: reason mapping tables, and real `openssl crl` / `openssl verify -crl_check_all` on what buildCrl signs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCrl, parseCrl, parseRevokeReason, reasonName, derInteger, crlNextUpdate, signingAlgorithmFor } from '../../src/pki/crl.ts';
import { makeCa, makeLeaf, type TestKeyType } from '../helpers/webcrypto-ca.ts';
import { runProcess } from '../helpers/cli.ts';

const DAY = 86_400_000;

test('parseRevokeReason maps user input to RFC 5280 names', () => {
  const rows: [string, string][] = [
    ['keyCompromise', 'keyCompromise'],
    ['KEYCOMPROMISE', 'keyCompromise'],
    [' superseded ', 'superseded'],
    ['cessationOfOperation', 'cessationOfOperation'],
    ['affiliationchanged', 'affiliationChanged'],
    ['unspecified', 'unspecified'],
  ];
  for (const [input, expected] of rows) assert.equal(parseRevokeReason(input), expected, input);
  for (const bad of ['', 'compromised', 'cACompromise', 'removeFromCRL', 'certificateHold']) {
    assert.throws(() => parseRevokeReason(bad), { code: 'CG_USAGE' }, bad);
  }
});

test('reasonName maps codes back to names', () => {
  const rows: [number | undefined, string | undefined][] = [[undefined, undefined], [0, 'unspecified'], [1, 'keyCompromise'],
    [4, 'superseded'], [5, 'cessationOfOperation'], [3, 'affiliationChanged'], [7, undefined], [10, 'aACompromise']];
  for (const [code, name] of rows) assert.equal(reasonName(code), name, String(code));
});

test('derInteger encodes CRL numbers as DER INTEGERs', () => {
  const rows: [bigint, string][] = [[0n, '020100'], [1n, '020101'], [127n, '02017f'], [128n, '02020080'], [256n, '02020100'],
    [2n ** 64n, '0209010000000000000000']];
  for (const [n, hex] of rows) assert.equal(Buffer.from(derInteger(n)).toString('hex'), hex, String(n));
  assert.throws(() => derInteger(-1n), RangeError);
});

test('crlNextUpdate accepts 1..366 whole days', () => {
  const t = new Date('2030-01-01T00:00:00Z');
  assert.equal(crlNextUpdate(t, 7).toISOString(), '2030-01-08T00:00:00.000Z');
  for (const bad of [0, -1, 1.5, 367, Number.NaN]) assert.throws(() => crlNextUpdate(t, bad), { code: 'CG_USAGE' }, String(bad));
});

async function openssl(args: string[]) {
  return runProcess('openssl', args, { timeoutMs: 20_000 });
}

for (const keyType of ['ec-p256', 'ec-p384', 'rsa-2048'] as TestKeyType[]) {
  test(`openssl reads and verifies a CRL signed by a ${keyType} root`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-crl-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const ca = await makeCa('CRL Root', undefined, keyType);
    const revoked = await makeLeaf(ca, { cn: 'revoked' });
    const twin = await makeLeaf(ca, { cn: 'twin' });
    const other = await makeLeaf(ca, { cn: 'other' });
    const now = new Date(Date.now() - 1000);
    const pem = await buildCrl({
      issuerCert: ca.cert,
      signingKey: ca.keys.privateKey,
      entries: [
        { serial: revoked.cert.serialNumber, revokedAt: now, reason: 'keyCompromise' },
        { serial: other.cert.serialNumber, revokedAt: now, reason: 'unspecified' },
      ],
      crlNumber: 300n,
      thisUpdate: now,
      nextUpdate: crlNextUpdate(now, 7),
    });
    assert.match(pem, /^-----BEGIN X509 CRL-----\n/);
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'crl.pem'), pem);
    writeFileSync(join(dir, 'revoked.crt'), revoked.certPem);
    writeFileSync(join(dir, 'twin.crt'), twin.certPem);

    const text = await openssl(['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text', '-CAfile', join(dir, 'ca.crt')]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stderr + text.stdout, /verify OK/);
    assert.match(text.stdout, /Version 2/);
    assert.match(text.stdout, /X509v3 CRL Number: \n\s+300/);
    assert.match(text.stdout, /X509v3 Authority Key Identifier/);
    assert.match(text.stdout, new RegExp(`Serial Number: ${revoked.cert.serialNumber.toUpperCase()}[\\s\\S]*?Key Compromise`));
    // unspecified: listed, but without a reason code extension
    const otherBlock = text.stdout.split('Serial Number: ').find((b) => b.startsWith(other.cert.serialNumber.toUpperCase()));
    assert.ok(otherBlock, 'other serial listed');
    assert.doesNotMatch(otherBlock.split('Serial Number')[0], /Reason Code/);
    assert.equal((text.stdout.match(/Reason Code/g) ?? []).length, 1);

    const refuse = await openssl(['verify', '-crl_check_all', '-CAfile', join(dir, 'ca.crt'), '-CRLfile', join(dir, 'crl.pem'), join(dir, 'revoked.crt')]);
    assert.notEqual(refuse.code, 0);
    assert.match(refuse.stdout + refuse.stderr, /certificate revoked/);
    const accept = await openssl(['verify', '-crl_check_all', '-CAfile', join(dir, 'ca.crt'), '-CRLfile', join(dir, 'crl.pem'), join(dir, 'twin.crt')]);
    assert.equal(accept.code, 0, accept.stdout + accept.stderr);

    const parsed = parseCrl(pem);
    assert.equal(parsed.crlNumber, 300n);
    assert.equal(parsed.nextUpdate?.getTime() ?? 0, Math.floor(now.getTime() / 1000) * 1000 + 7 * DAY);
    assert.deepEqual(parsed.entries.map((e) => e.reason), ['keyCompromise', undefined]);
    assert.equal(parsed.entries[0].serial, revoked.cert.serialNumber.toUpperCase());
  });
}

for (const keyType of ['ec-p256', 'ec-p384', 'rsa-2048'] as TestKeyType[]) {
  test(`negative serials are listed as negative INTEGERs and the ${keyType} signature still verifies`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-crl-neg-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const ca = await makeCa('Negative Root', undefined, keyType);
    const now = new Date(Date.now() - 1000);
    // -0x80 and +0x80 differ only in the sign: one octet 80 versus 00 80
    const serials = ['-7EDC1234', '0080', '-80', '-7e:dc'];
    const pem = await buildCrl({
      issuerCert: ca.cert, signingKey: ca.keys.privateKey, crlNumber: 9n, thisUpdate: now, nextUpdate: crlNextUpdate(now, 1),
      entries: serials.map((serial, i) => ({ serial, revokedAt: now, reason: i === 0 ? 'keyCompromise' : null })),
    });
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'crl.pem'), pem);
    const text = await openssl(['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text', '-CAfile', join(dir, 'ca.crt')]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stderr + text.stdout, /verify OK/);
    assert.deepEqual([...text.stdout.matchAll(/Serial Number: (\S+)/g)].map((m) => m[1]), ['-7EDC1234', '80', '-80', '-7EDC']);
    assert.match(text.stdout, /Serial Number: -7EDC1234[\s\S]*?Key Compromise/);
    const parsed = parseCrl(pem);
    assert.deepEqual(parsed.entries.map((e) => e.serial), ['-7EDC1234', '0080', '-80', '-7EDC']);
    assert.equal(parsed.crlNumber, 9n);
    await assert.rejects(buildCrl({
      issuerCert: ca.cert, signingKey: ca.keys.privateKey, crlNumber: 10n, thisUpdate: now, nextUpdate: crlNextUpdate(now, 1),
      entries: [{ serial: '-80', revokedAt: now, reason: null }, { serial: '-0080', revokedAt: now, reason: null }],
    }), /listed twice/);
  });
}

test('an empty CRL still verifies, and parseCrl refuses garbage', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-crl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await makeCa('Empty Root');
  const now = new Date();
  const pem = await buildCrl({ issuerCert: ca.cert, signingKey: ca.keys.privateKey, entries: [], crlNumber: 1n, thisUpdate: now, nextUpdate: crlNextUpdate(now, 1) });
  writeFileSync(join(dir, 'crl.pem'), pem);
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  const r = await openssl(['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text', '-CAfile', join(dir, 'ca.crt')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /No Revoked Certificates/);
  assert.equal(parseCrl(pem).entries.length, 0);
  assert.throws(() => parseCrl('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n'), { code: 'CG_PKI_BAD_CERT' });
});

test('signingAlgorithmFor refuses keys it cannot sign CRLs with', async () => {
  const hmac = (await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])) as CryptoKey;
  assert.throws(() => signingAlgorithmFor(hmac), { code: 'CG_PKI_KEY_TYPE' });
});
