// Each doctor diagnosis against a real Node https server on 127.0.0.1 that requires client certificates:
// good setup, untrusted server, name mismatch, no client certificate, another CA, expired, wrong EKU, TLS 1.3 only,
// a stapled OCSP response, a port that is closed.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { makeCa, issueCert } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import type { EchoUpstream } from '../helpers/echo-upstream.ts';
import { fileScope } from '../helpers/suite.ts';
import { freePort } from '../helpers/nginx.ts';
import { runDoctor } from '../../src/doctor/report.ts';
import type { DoctorReport } from '../../src/doctor/report.ts';
import { parseTarget } from '../../src/doctor/target.ts';
import { loadCredential } from '../../src/doctor/credentials.ts';
import type { ClientCredential } from '../../src/doctor/credentials.ts';
import { renderText } from '../../src/doctor/render.ts';

const scope = fileScope();
const DAY = 86_400_000;
let ca: TestCa;
let other: TestCa;
let alice: TestCert;
let stranger: TestCert;
let expired: TestCert;
let serverOnly: TestCert;
let server: TestCert;
let upstream: EchoUpstream;

before(async () => {
  ca = await makeCa(scope, { passphrase: null, days: 400, name: 'Doctor Root CA' });
  other = await makeCa(scope, { passphrase: null, days: 400, name: 'Other CA' });
  server = await issueCert(ca, 'server', { profile: 'server', days: 90 });
  alice = await issueCert(ca, 'alice', { days: 90 });
  serverOnly = await issueCert(ca, 'not-a-client', { profile: 'server', dns: ['svc.example'], days: 90 });
  stranger = await issueCert(other, 'stranger', { days: 90 });
  const now = Date.now();
  expired = await issueCert(ca, 'expired', { validity: { notBefore: new Date(now - 3 * DAY), notAfter: new Date(now - DAY) } });
  upstream = await startEchoUpstream({ tls: { cert: server.certPem, key: server.keyPem, ca: ca.ca.certPem, requestCert: true } });
  scope.after(() => upstream.close());
});

const cred = (c: TestCert): ClientCredential =>
  loadCredential({ kind: 'pem', cert: Buffer.from(c.certPem), key: Buffer.from(c.keyPem), certLabel: 'cert', keyLabel: 'key' });

function doctor(o: { port?: number; url?: string; servername?: string; ca?: string | null; cert?: TestCert }): Promise<DoctorReport> {
  const caPem = o.ca === undefined ? ca.ca.certPem : o.ca;
  return runDoctor({
    target: parseTarget(o.url ?? `https://127.0.0.1:${o.port ?? upstream.port}/`, o.servername),
    ca: caPem === null ? undefined : { pem: caPem, label: '--ca ca.pem' },
    credential: o.cert ? cred(o.cert) : undefined,
    timeoutMs: 5000,
  });
}

const check = (r: DoctorReport, id: string) => {
  const c = r.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id}`);
  return c;
};

test('good setup: every check passes, the CA list names our issuer, GET / answers 200', async () => {
  const r = await doctor({ cert: alice });
  const failed = r.checks.filter((c) => c.level === 'fail' || c.level === 'warn');
  assert.deepEqual(failed, [], renderText(r));
  assert.equal(r.ok, true);
  assert.equal(r.facts.protocol, 'TLSv1.3');
  assert.equal(r.facts.serverVerified, true);
  assert.equal(r.facts.clientCertRequested, 'yes');
  assert.deepEqual(r.facts.acceptedCaNames, ['CN=Doctor Root CA']);
  assert.deepEqual(r.facts.http, { outcome: 'answered', status: 200, server: null, certgateReason: null, certgateMessage: null, nginxRefusal: null });
  assert.equal(check(r, 'client-auth').summary, 'the server accepted our client certificate');
  assert.equal(r.facts.ocsp, 'none');
  assert.equal(r.checks.length, 10);
});

test('untrusted server: the system store does not know the test CA', async () => {
  const r = await doctor({ cert: alice, ca: null });
  assert.equal(r.ok, false);
  const c = check(r, 'server-chain');
  assert.equal(c.level, 'fail');
  assert.match(c.summary, /does not verify with the system store/);
  assert.match(c.fix ?? '', /--ca FILE .*Doctor Root CA/);
  // the rest still runs: the client certificate was accepted
  assert.equal(check(r, 'client-auth').level, 'ok');
});

test('host name mismatch: --servername names a host the certificate does not list', async () => {
  const r = await doctor({ cert: alice, servername: 'wrong.example' });
  assert.equal(r.ok, false);
  assert.equal(check(r, 'server-chain').level, 'ok');
  const c = check(r, 'server-name');
  assert.equal(c.level, 'fail');
  assert.match(c.summary, /DNS:localhost.*not wrong\.example/);
});

test('no client certificate sent while the server requires one', async () => {
  const r = await doctor({});
  assert.equal(r.ok, false);
  assert.equal(check(r, 'client-cert').level, 'skip');
  const c = check(r, 'client-auth');
  assert.equal(c.level, 'fail');
  assert.match(c.summary, /certificate_required \(116\).*no client certificate was sent/);
  assert.match(c.fix ?? '', /--cert FILE --key FILE/);
});

test('client certificate from another CA: not among the CAs the server lists', async () => {
  const r = await doctor({ cert: stranger });
  assert.equal(r.ok, false);
  assert.match(check(r, 'client-cert').summary, /issued by CN=Other CA, which is not among the CAs the server accepts/);
  const c = check(r, 'client-auth');
  assert.equal(c.level, 'fail');
  assert.match(c.summary, /refused.*a CA the server does not trust/);
});

test('expired client certificate', async () => {
  const r = await doctor({ cert: expired });
  assert.equal(r.ok, false);
  const own = check(r, 'client-cert');
  assert.equal(own.level, 'fail');
  assert.match(own.summary, /expired on \d{4}-\d\d-\d\d/);
  assert.match(check(r, 'client-auth').summary, /refused.*expired/);
});

test('a certificate without clientAuth EKU', async () => {
  const r = await doctor({ cert: serverOnly });
  assert.equal(r.ok, false);
  assert.match(check(r, 'client-cert').summary, /not for client authentication/);
  assert.match(check(r, 'client-auth').summary, /lacks the clientAuth extended key usage/);
});

test('a TLS 1.3-only server: which CAs it accepts cannot be known', async (t) => {
  const srv = createHttpsServer({ cert: server.certPem, key: server.keyPem, ca: ca.ca.certPem, requestCert: true, minVersion: 'TLSv1.3' }, (_q, s) => s.end('ok'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { srv.close(() => r()); srv.closeAllConnections(); }));
  const r = await doctor({ cert: alice, port: (srv.address() as AddressInfo).port });
  assert.equal(r.ok, true, renderText(r));
  const c = check(r, 'cert-request');
  assert.equal(c.level, 'skip');
  assert.match(c.summary, /cannot be known \(TLS 1\.3 only\)/);
  assert.equal(r.facts.clientCertRequested, 'unknown');
});

test('a TLS 1.2-only server refuses the wrong CA inside the handshake', async (t) => {
  const srv = createHttpsServer({ cert: server.certPem, key: server.keyPem, ca: ca.ca.certPem, requestCert: true, rejectUnauthorized: true, maxVersion: 'TLSv1.2' }, (_q, s) => s.end('ok'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { srv.close(() => r()); srv.closeAllConnections(); }));
  const port = (srv.address() as AddressInfo).port;
  const good = await doctor({ cert: alice, port });
  assert.equal(good.ok, true, renderText(good));
  assert.equal(good.facts.protocol, 'TLSv1.2');
  const bad = await doctor({ cert: stranger, port });
  assert.equal(bad.ok, false);
  assert.match(check(bad, "client-auth").summary, /a CA the server does not trust/, renderText(bad) + JSON.stringify(bad.facts.tlsError));
});

test('a closed port: connect fails with a fix, everything after is skipped', async () => {
  const port = await freePort();
  const r = await doctor({ cert: alice, port });
  assert.equal(r.ok, false);
  assert.match(check(r, 'connect').summary, /ECONNREFUSED/);
  assert.equal(check(r, 'tls').level, 'skip');
  assert.equal(check(r, 'client-cert').level, 'ok');
});

test('HOST:PORT probes HTTP only when the server offers it by ALPN', async () => {
  const r = await doctor({ url: `127.0.0.1:${upstream.port}`, cert: alice });
  assert.equal(r.facts.alpn, 'http/1.1');
  assert.equal(check(r, 'http').level, 'ok');
});

test('a non-HTTP TLS service (HOST:PORT, no ALPN): HTTP is skipped, a refused certificate is still seen', async (t) => {
  const srv = createTlsServer({ cert: server.certPem, key: server.keyPem, ca: ca.ca.certPem, requestCert: true, rejectUnauthorized: true }, (s) => s.end('220 ready\r\n'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  const port = (srv.address() as AddressInfo).port;
  const good = await doctor({ url: `127.0.0.1:${port}`, cert: alice });
  assert.equal(good.ok, true, renderText(good));
  assert.equal(check(good, 'http').level, 'skip');
  assert.match(check(good, 'http').summary, /did not offer HTTP by ALPN/);
  const bad = await doctor({ url: `127.0.0.1:${port}`, cert: stranger });
  assert.equal(bad.ok, false);
  assert.match(check(bad, 'client-auth').summary, /closed without a TLS alert.*CN=Other CA, a CA the server does not trust/);
});
