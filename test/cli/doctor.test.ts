// `certgate doctor` through the real CLI against real certgate gateways on 127.0.0.1 (verify mode: refusal pages;
// require mode: refusals in the handshake): a good setup exits 0, the refusal reason is shown (not allowed, other CA,
// revoked, none sent), a .p12 with --password-file works, a key that does not match the certificate is one line.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir, assertOneLineError } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { fileScope } from '../helpers/suite.ts';
import { runCli } from '../helpers/cli.ts';
import { buildCrl } from '../../src/pki/crl.ts';

const scope = fileScope();
let dir: string;
let ca: TestCa;
let alice: TestCert;
let bob: TestCert;
let stranger: TestCert;
let carol: TestCert;
let gw: TestGateway;
let strict: TestGateway;

before(async () => {
  dir = tempDir(scope, 'cg-doctor-cli-');
  ca = await makeCa(scope, { passphrase: null, days: 400 });
  const other = await makeCa(scope, { passphrase: null, days: 400, name: 'Other CA' });
  const server = await issueCert(ca, 'gateway', { profile: 'server', days: 90 });
  alice = await issueCert(ca, 'alice', { days: 90 });
  bob = await issueCert(ca, 'bob', { days: 90 });
  stranger = await issueCert(other, 'stranger', { days: 90 });
  carol = await issueCert(ca, 'carol', { days: 90 });
  const now = Date.now();
  const crl = join(dir, 'ca.crl');
  writeFileSync(crl, await buildCrl({
    issuerCert: ca.ca.cert, signingKey: ca.ca.privateKey, crlNumber: 1n, thisUpdate: new Date(now - 60_000), nextUpdate: new Date(now + 86_400_000),
    entries: [{ serial: carol.record.serial, revokedAt: new Date(now - 30_000), reason: 'keyCompromise' }],
  }));
  const upstream = await startEchoUpstream();
  scope.after(() => upstream.close());
  gw = await startGateway(scope, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: ${crl}}
    routes:
      - {path: /, upstream: "${upstream.url}", allow: [{cn: [alice, carol]}]}
`);
  strict = await startGateway(scope, tempDir(scope, 'cg-doctor-strict-'), `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: ${crl}, mode: require}
    routes:
      - {path: /, upstream: "${upstream.url}"}
`);
});

const url = () => `https://localhost:${gw.port}/`;
const pemArgs = (c: TestCert) => ['--cert', c.certPath, '--key', c.keyPath!, '--ca', ca.certPath];

test('a good setup against a certgate gateway exits 0 with one ok line per check', async () => {
  const r = await runCli(['doctor', url(), ...pemArgs(alice)]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^ok\s+server-chain\s+the server's chain verifies with --ca /m);
  assert.match(r.stdout, /^ok\s+server-name\s+the certificate is valid for localhost/m);
  assert.match(r.stdout, /^ok\s+cert-request .*accepted CA: CN=Test Root CA/ms);
  assert.match(r.stdout, /^ok\s+client-auth\s+the server accepted our client certificate/m);
  assert.match(r.stdout, /^ok\s+http\s+GET \/ → 200/m);
  assert.match(r.stdout, /all checks passed/);
  assert.doesNotMatch(r.stdout, /FAIL/);
});

test('the gateway refuses a certificate the route does not allow: its reason code is shown, exit 1', async () => {
  const r = await runCli(['doctor', url(), ...pemArgs(bob)]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^FAIL\s+http\s+GET \/ → 403: certgate refused it with reason not_allowed$/m);
  assert.match(r.stdout, /fix: Your certificate is valid but not allowed on this page/);
  assert.match(r.stdout, /^ok\s+client-auth/m);
  assertOneLineError(r, /check failed \(http\)/);
});

test('a custom errorPage without {{reason}}: the reason still comes from the X-Certgate-Reason header', async (t) => {
  const dir = tempDir(t, 'cg-doctor-page-');
  writeFileSync(join(dir, 'page.html'), '<h1>{{status}}</h1><p>Nope.</p>');
  const config = readFileSync(gw.configPath, 'utf8').replace('    routes:', `    errorPage: ${join(dir, 'page.html')}\n    routes:`);
  const custom = await startGateway(t, dir, config);
  const r = await runCli(['doctor', `https://localhost:${custom.port}/`, ...pemArgs(bob)]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^FAIL\s+http\s+GET \/ → 403: certgate refused it with reason not_allowed$/m);
});

test('the gateway (verify mode) shows a certificate from another CA as unknown_ca', async () => {
  const r = await runCli(['doctor', url(), ...pemArgs(stranger), '--json']);
  assert.equal(r.code, 1);
  const report = JSON.parse(r.stdout);
  assert.equal(report.ok, false);
  assert.equal(report.facts.http.certgateReason, 'unknown_ca');
  assert.deepEqual(report.checks.map((c: { id: string }) => c.id),
    ['connect', 'tls', 'server-chain', 'server-name', 'server-expiry', 'ocsp', 'cert-request', 'client-cert', 'client-auth', 'http']);
  const byId = Object.fromEntries(report.checks.map((c: { id: string; level: string; summary: string }) => [c.id, c]));
  assert.equal(byId['client-cert'].level, 'fail');
  assert.equal(byId['client-auth'].level, 'fail');
  assert.match(byId['client-auth'].summary, /certgate refusal unknown_ca.*CN=Other CA, a CA the server does not trust/);
});

test('no client certificate: the gateway answers no_certificate', async () => {
  const r = await runCli(['doctor', url(), '--ca', ca.certPath]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^FAIL\s+client-auth .*no client certificate was sent/m);
  assert.match(r.stdout, /reason no_certificate/);
});

test('a .p12 with --password-file works like --cert/--key', async () => {
  const work = tempDir(scope, 'cg-doctor-p12-');
  const pw = join(work, 'pw.txt');
  writeFileSync(pw, 'p12-secret-pass\n', { mode: 0o600 });
  const p12 = join(work, 'alice.p12');
  const exp = await runCli(['cert', 'export', 'alice', '--dir', ca.dir, '--p12', p12, '--password-file', pw]);
  assert.equal(exp.code, 0, exp.stderr);
  const r = await runCli(['doctor', url(), '--p12', p12, '--password-file', pw, '--ca', ca.certPath]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok\s+client-cert\s+your certificate CN=alice/m);
  const wrong = join(work, 'wrong.txt');
  writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
  assertOneLineError(await runCli(['doctor', url(), '--p12', p12, '--password-file', wrong]), /the password does not open --p12 .*alice\.p12/);
});

test('user errors: key/cert mismatch, a bad target, a missing file, half a credential — one line, exit 1', async () => {
  const mismatch = await runCli(['doctor', url(), '--cert', alice.certPath, '--key', bob.keyPath!]);
  assertOneLineError(mismatch, /--key .*bob-[0-9A-F]+\.key does not match the certificate in --cert .*alice-[0-9A-F]+\.crt/);
  assertOneLineError(await runCli(['doctor', 'http://localhost:1/']), /uses http:\/\/, but doctor checks TLS servers/);
  assertOneLineError(await runCli(['doctor', 'localhost']), /neither a URL nor HOST:PORT/);
  assertOneLineError(await runCli(['doctor', url(), '--ca', join(dir, 'nope.pem')]), /--ca .*nope\.pem: cannot read it \(ENOENT\)/);
  assertOneLineError(await runCli(['doctor', url(), '--cert', alice.certPath]), /--cert needs --key too/);
});

test('a revoked certificate: the gateway page says revoked, and so does doctor', async () => {
  const r = await runCli(['doctor', url(), ...pemArgs(carol)]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^FAIL\s+client-auth\s+the server refused the connection \(certgate refusal revoked\): most likely your certificate has been revoked/m);
  assert.match(r.stdout, /reason revoked/);
});

test('require mode refuses in the handshake: no certificate, another CA, revoked', async () => {
  const at = `https://localhost:${strict.port}/`;
  const none = await runCli(['doctor', at, '--ca', ca.certPath]);
  assert.equal(none.code, 1);
  assert.match(none.stdout, /^FAIL\s+client-auth\s+.*no client certificate was sent, and the server requires one/m);
  const foreign = await runCli(['doctor', at, ...pemArgs(stranger)]);
  assert.equal(foreign.code, 1);
  assert.match(foreign.stdout, /^FAIL\s+client-auth\s+.*CN=Other CA, a CA the server does not trust/m);
  const revoked = await runCli(['doctor', at, ...pemArgs(carol)]);
  assert.equal(revoked.code, 1);
  assert.match(revoked.stdout, /^FAIL\s+client-auth\s+.*most likely your certificate has been revoked/m, revoked.stdout);
  const good = await runCli(['doctor', at, ...pemArgs(alice)]);
  assert.equal(good.code, 0, good.stdout);
});
