// OCSP response checks without a network: responses made by `openssl ocsp` offline (-reqin/-respout) from a real
// CA database, each verdict asserted; plus the refresh and retry schedules and the targets of certificate files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/pki.ts';
import { fileScope } from '../../helpers/suite.ts';
import { runProcess } from '../../helpers/cli.ts';
import { opensslLeaf, opensslRevoke, opensslRootCa } from '../../helpers/openssl-certs.ts';
import type { OsslCa, OsslCert } from '../../helpers/openssl-certs.ts';
import {
  buildOcspRequest, ocspTarget, refreshDelay, retryDelay, verifyOcspResponse,
  REFRESH_MAX_MS, REFRESH_MIN_MS, RETRY_MAX_MS, RETRY_MIN_MS, NO_NEXT_UPDATE_VALIDITY_MS,
} from '../../../src/gateway/tls/ocsp-response.ts';
import type { OcspTarget } from '../../../src/gateway/tls/ocsp-response.ts';

const AIA = 'OCSP;URI:http://127.0.0.1:9/';

interface Fixture {
  dir: string;
  ca: OsslCa;
  other: OsslCa;
  good: OsslCert;
  revoked: OsslCert;
  delegate: OsslCert;
  notDelegate: OsslCert;
}

let fixture: Promise<Fixture> | undefined;
const scope = fileScope();

function setup(): Promise<Fixture> {
  fixture ??= (async () => {
    const dir = tempDir(scope, 'cg-ocsp-unit-');
    const ca = await opensslRootCa(dir, 'ca');
    const other = await opensslRootCa(dir, 'other');
    const server = { eku: 'serverAuth', san: 'DNS:localhost', aia: AIA };
    const good = await opensslLeaf(ca, { ...server, name: 'good', subj: '/CN=good.test' });
    const revoked = await opensslLeaf(ca, { ...server, name: 'revoked', subj: '/CN=revoked.test' });
    await opensslRevoke(ca, revoked);
    const delegate = await opensslLeaf(ca, { name: 'responder', subj: '/CN=delegated responder', eku: 'OCSPSigning' });
    const notDelegate = await opensslLeaf(ca, { name: 'plain', subj: '/CN=not a responder', eku: 'serverAuth' });
    return { dir, ca, other, good, revoked, delegate, notDelegate };
  })();
  return fixture;
}

function targetOf(cert: OsslCert, ca: OsslCa): OcspTarget {
  const t = ocspTarget(cert.certPem + ca.certPem);
  if ('skip' in t) throw new Error(t.detail);
  return t;
}

let n = 0;
/** A response from `openssl ocsp` acting as responder offline, for `target`, signed by `signer`. */
async function respond(f: Fixture, target: OcspTarget, signer: OsslCert, extra: string[] = []): Promise<Buffer> {
  const req = join(f.dir, `req-${++n}.der`);
  const out = join(f.dir, `resp-${n}.der`);
  writeFileSync(req, await buildOcspRequest(target));
  const r = await runProcess('openssl', ['ocsp', '-index', join(f.ca.dir, 'index.txt'), '-CA', f.ca.certPath, '-rsigner', signer.certPath,
    '-rkey', signer.keyPath, '-reqin', req, '-respout', out, ...extra], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  return readFileSync(out);
}

test('a good response signed by the issuer verifies, with its times', async () => {
  const f = await setup();
  const target = targetOf(f.good, f.ca);
  assert.equal(target.url, 'http://127.0.0.1:9/');
  assert.match(target.subject, /CN=good\.test/);
  const der = await respond(f, target, f.ca, ['-nmin', '30']);
  const now = new Date();
  const v = await verifyOcspResponse(der, target, now);
  assert.ok(v.ok, JSON.stringify(v));
  assert.equal(v.status, 'good');
  assert.ok(v.nextUpdate && Math.abs(v.nextUpdate.getTime() - now.getTime() - 30 * 60_000) < 120_000);
  assert.equal(v.validUntil.getTime(), v.nextUpdate.getTime());
});

test('a revoked certificate verifies as revoked, with the revocation time', async () => {
  const f = await setup();
  const target = targetOf(f.revoked, f.ca);
  const v = await verifyOcspResponse(await respond(f, target, f.ca, ['-nmin', '30']), target, new Date());
  assert.ok(v.ok, JSON.stringify(v));
  assert.equal(v.status, 'revoked');
  assert.ok(v.revokedAt instanceof Date && v.revokedAt.getTime() <= Date.now());
});

test('a delegated responder needs the issuer\'s signature and id-kp-OCSPSigning', async () => {
  const f = await setup();
  const target = targetOf(f.good, f.ca);
  const delegated = await verifyOcspResponse(await respond(f, target, f.delegate, ['-nmin', '30']), target, new Date());
  assert.ok(delegated.ok && delegated.status === 'good', JSON.stringify(delegated));
  const noEku = await verifyOcspResponse(await respond(f, target, f.notDelegate, ['-nmin', '30']), target, new Date());
  assert.deepEqual(noEku.ok ? noEku : noEku.reason, 'unauthorized_signer');
});

test('responses that must never be stapled are refused, each with its reason', async () => {
  const f = await setup();
  const target = targetOf(f.good, f.ca);
  const good = await respond(f, target, f.ca, ['-nmin', '30']);
  const goodNoCerts = await respond(f, target, f.ca, ['-nmin', '30', '-resp_no_certs']);
  const tampered = Buffer.from(goodNoCerts);
  tampered[tampered.length - 3] ^= 0x01; // inside the signature, which ends the response without certs
  const now = Date.now();
  const rows: Array<{ name: string; der: Buffer; target?: OcspTarget; at?: number; reason: string }> = [
    { name: 'signed by an unrelated key', der: await respond(f, target, f.other, ['-nmin', '30']), reason: 'unauthorized_signer' },
    { name: 'signed by an unrelated key, certificate not sent', der: await respond(f, target, f.other, ['-nmin', '30', '-resp_no_certs']), reason: 'unknown_signer' },
    { name: 'signature altered', der: tampered, reason: 'bad_signature' },
    { name: 'about another certificate', der: good, target: targetOf(f.revoked, f.ca), reason: 'cert_id_mismatch' },
    { name: 'past nextUpdate', der: good, at: now + 40 * 60_000, reason: 'expired' },
    { name: 'thisUpdate in the future', der: good, at: now - 30 * 60_000, reason: 'not_yet_valid' },
    { name: 'not DER at all', der: Buffer.from('<html>hello</html>'), reason: 'malformed' },
    { name: 'status tryLater', der: Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x03]), reason: 'not_successful' },
  ];
  for (const row of rows) {
    const v = await verifyOcspResponse(row.der, row.target ?? target, new Date(row.at ?? now));
    assert.equal(v.ok ? `ok ${v.status}` : v.reason, row.reason, row.name);
  }
  // the untouched twin of the altered one verifies, so the alteration is what refused it
  const twin = await verifyOcspResponse(goodNoCerts, target, new Date(now));
  assert.ok(twin.ok && twin.status === 'good');
});

test('without nextUpdate a response counts as valid for an hour after thisUpdate', async () => {
  const f = await setup();
  const target = targetOf(f.good, f.ca);
  const der = await respond(f, target, f.ca);
  const v = await verifyOcspResponse(der, target, new Date());
  assert.ok(v.ok && v.nextUpdate === undefined, JSON.stringify(v));
  assert.equal(v.validUntil.getTime() - v.thisUpdate.getTime(), NO_NEXT_UPDATE_VALIDITY_MS);
  const later = await verifyOcspResponse(der, target, new Date(Date.now() + NO_NEXT_UPDATE_VALIDITY_MS + 60_000));
  assert.equal(later.ok ? 'ok' : later.reason, 'expired');
});

test('certificate files without something to staple say why', async () => {
  const f = await setup();
  const noAia = await opensslLeaf(f.ca, { name: 'no-aia', subj: '/CN=plain.test', eku: 'serverAuth' });
  const https = await opensslLeaf(f.ca, { name: 'https-aia', subj: '/CN=https.test', eku: 'serverAuth', aia: 'OCSP;URI:https://ocsp.example/' });
  const rows: Array<{ name: string; pem: string; expected: string }> = [
    { name: 'no AIA extension', pem: noAia.certPem + f.ca.certPem, expected: 'no_responder' },
    { name: 'issuer missing from the file', pem: f.good.certPem, expected: 'no_issuer' },
    { name: 'issuer of another CA', pem: f.good.certPem + f.other.certPem, expected: 'no_issuer' },
    { name: 'https responder', pem: https.certPem + f.ca.certPem, expected: 'unsupported_url' },
    { name: 'no certificate', pem: 'nothing here', expected: 'unparsable' },
    { name: 'leaf and issuer', pem: f.good.certPem + f.ca.certPem, expected: 'target' },
  ];
  for (const row of rows) {
    const t = ocspTarget(row.pem);
    assert.equal('skip' in t ? t.skip : 'target', row.expected, row.name);
  }
});

test('refresh at half the remaining validity, within bounds; retries back off and cap', () => {
  const now = 1_000_000_000;
  const rows: Array<[number, number]> = [
    [now + 2 * 3_600_000, 3_600_000],
    [now + 7 * 86_400_000, REFRESH_MAX_MS],
    [now + 30_000, REFRESH_MIN_MS],
    [now - 1, REFRESH_MIN_MS],
  ];
  for (const [validUntil, expected] of rows) assert.equal(refreshDelay(now, validUntil), expected, `validUntil ${validUntil - now} ms ahead`);
  const retries: Array<[number, number]> = [[1, RETRY_MIN_MS], [2, 2 * RETRY_MIN_MS], [3, 4 * RETRY_MIN_MS], [8, RETRY_MAX_MS], [1000, RETRY_MAX_MS]];
  for (const [failures, expected] of retries) assert.equal(retryDelay(failures), expected, `${failures} failures`);
});
