// Doctor against Debian's nginx with `ssl_verify_client on`: nginx finishes the TLS 1.3 handshake and answers 400 to
// a missing or refused client certificate; doctor must read that as a refusal, not as the application's answer.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { fileScope } from '../helpers/suite.ts';
import { startNginx, freePort } from '../helpers/nginx.ts';
import { runDoctor } from '../../src/doctor/report.ts';
import type { DoctorReport } from '../../src/doctor/report.ts';
import { parseTarget } from '../../src/doctor/target.ts';
import { loadCredential } from '../../src/doctor/credentials.ts';
import { renderText } from '../../src/doctor/render.ts';

const scope = fileScope();
let ca: TestCa;
let alice: TestCert;
let stranger: TestCert;
let port: number;

before(async () => {
  ca = await makeCa(scope, { passphrase: null, days: 400, name: 'Nginx Client CA' });
  const other = await makeCa(scope, { passphrase: null, days: 400, name: 'Other CA' });
  const server = await issueCert(ca, 'nginx', { profile: 'server', days: 90 });
  alice = await issueCert(ca, 'alice', { days: 90 });
  stranger = await issueCert(other, 'stranger', { days: 90 });
  port = await freePort();
  const dir = tempDir(scope, 'cg-doctor-nginx-');
  await startNginx(scope, dir, `  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${server.certPath};
    ssl_certificate_key ${server.keyPath};
    ssl_client_certificate ${ca.certPath};
    ssl_verify_client on;
    location / { return 200 "hello from nginx\\n"; }
  }`, [port]);
});

function doctor(cert?: TestCert): Promise<DoctorReport> {
  return runDoctor({
    target: parseTarget(`https://localhost:${port}/`),
    ca: { pem: ca.ca.certPem, label: '--ca ca.pem' },
    credential: cert ? loadCredential({ kind: 'pem', cert: Buffer.from(cert.certPem), key: Buffer.from(cert.keyPem), certLabel: 'c', keyLabel: 'k' }) : undefined,
    timeoutMs: 5000,
  });
}
const check = (r: DoctorReport, id: string) => r.checks.find((c) => c.id === id)!;

test('nginx: a good certificate passes every check', async () => {
  const r = await doctor(alice);
  assert.equal(r.ok, true, renderText(r));
  assert.deepEqual(r.facts.acceptedCaNames, ['CN=Nginx Client CA']);
  assert.match(check(r, 'http').summary, /GET \/ → 200 \(server: nginx/);
});

test('nginx: no certificate and a foreign one are refusals (400 pages), with the reason', async () => {
  const none = await doctor();
  assert.equal(none.ok, false);
  assert.equal(none.facts.http.outcome === 'answered' && none.facts.http.nginxRefusal, 'no_certificate');
  assert.match(check(none, 'client-auth').summary, /nginx answered 400.*no client certificate was sent/);
  const foreign = await doctor(stranger);
  assert.equal(foreign.ok, false);
  assert.equal(foreign.facts.http.outcome === 'answered' && foreign.facts.http.nginxRefusal, 'certificate_error');
  assert.match(check(foreign, 'client-auth').summary, /CN=Other CA, a CA the server does not trust/);
  assert.match(check(foreign, 'http').summary, /400: nginx refused the client certificate/);
});
