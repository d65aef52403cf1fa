// Stapled OCSP: responses made by `openssl ocsp` (good, revoked, unknown) read right, and a Node server that staples
// them through its OCSPRequest event shows up in doctor's report (ok for good, FAIL for revoked).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/pki.ts';
import { opensslRootCa, opensslLeaf, opensslRevoke } from '../helpers/openssl-certs.ts';
import type { OsslCa, OsslCert } from '../helpers/openssl-certs.ts';
import { runProcess } from '../helpers/cli.ts';
import { fileScope } from '../helpers/suite.ts';
import { stapledStatus } from '../../src/doctor/ocsp.ts';
import { runDoctor } from '../../src/doctor/report.ts';
import { parseTarget } from '../../src/doctor/target.ts';

const scope = fileScope();
let ca: OsslCa;
let server: OsslCert;
const responses: Record<'good' | 'revoked' | 'unknown', Buffer> = {} as never;

async function ossl(args: string[]): Promise<void> {
  const r = await runProcess('openssl', args, { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
}

/** The CA's current answer for `cert`, signed by the CA itself (openssl ocsp as a one-shot responder). */
async function respond(dir: string, cert: OsslCert, name: string): Promise<Buffer> {
  const req = join(dir, `${name}.req`);
  const resp = join(dir, `${name}.der`);
  await ossl(['ocsp', '-issuer', ca.certPath, '-cert', cert.certPath, '-reqout', req, '-no_nonce']);
  await ossl(['ocsp', '-index', join(ca.dir, 'index.txt'), '-rsigner', ca.certPath, '-rkey', ca.keyPath, '-CA', ca.certPath,
    '-reqin', req, '-respout', resp, '-ndays', '1']);
  return readFileSync(resp);
}

before(async () => {
  const dir = tempDir(scope, 'cg-doctor-ocsp-');
  ca = await opensslRootCa(dir, 'ocsp-root');
  server = await opensslLeaf(ca, { subj: '/CN=stapled', eku: 'serverAuth', san: 'DNS:localhost,IP:127.0.0.1', name: 'server' });
  const doomed = await opensslLeaf(ca, { subj: '/CN=doomed', eku: 'serverAuth', san: 'DNS:localhost', name: 'doomed' });
  // a certificate the CA's index does not know: signed with -set_serial, so openssl ca never recorded it
  const stray = await opensslLeaf(ca, { subj: '/CN=stray', eku: 'serverAuth', san: 'DNS:localhost', name: 'stray', serial: '0x7A11' });
  responses.good = await respond(dir, server, 'good');
  await opensslRevoke(ca, doomed);
  responses.revoked = await respond(dir, doomed, 'revoked');
  responses.unknown = await respond(dir, stray, 'unknown');
});

test('stapled responses read as good / revoked / unknown; no staple and junk are told apart', () => {
  const cases: Array<{ input: Buffer | null; expected: string }> = [
    { input: responses.good, expected: 'good' },
    { input: responses.revoked, expected: 'revoked' },
    { input: responses.unknown, expected: 'unknown' },
    { input: null, expected: 'none' },
    { input: Buffer.alloc(0), expected: 'none' },
    { input: Buffer.from('30030a0101', 'hex'), expected: 'not_successful' }, // OCSPResponse { malformedRequest }
    { input: Buffer.from('not ocsp'), expected: 'unparsable' },
  ];
  for (const { input, expected } of cases) assert.equal(stapledStatus(input), expected);
});

test('doctor reports what a server staples', async (t) => {
  for (const [status, level] of [['good', 'ok'], ['revoked', 'fail']] as const) {
    const srv = createHttpsServer({ cert: server.certPem, key: server.keyPem }, (_q, s) => s.end('ok'));
    srv.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer, cb: (err: Error | null, resp?: Buffer) => void) => cb(null, responses[status]));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => { srv.close(() => r()); srv.closeAllConnections(); }));
    const r = await runDoctor({
      target: parseTarget(`https://localhost:${(srv.address() as AddressInfo).port}/`),
      ca: { pem: ca.certPem, label: '--ca ca.pem' }, timeoutMs: 5000,
    });
    assert.equal(r.facts.ocsp, status);
    assert.equal(r.checks.find((c) => c.id === 'ocsp')?.level, level);
    assert.equal(r.ok, level === 'ok');
  }
});
