// Expiry you can alert on: the certificate and CRL gauges follow what is in use across reloads and CRL re-reads,
// `cert.expiring` warns at start (and daily) within expiryWarning, and /healthz and /readyz answer on the metrics
// listener (503 with the reason when a served certificate has expired or CRLs fail closed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { Cleanup, TestCa, TestCert } from '../helpers/pki.ts';
import { startGateway, reloadGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { buildCrl } from '../../src/pki/crl.ts';

const DAY = 86_400_000;
let crlNumber = 1n;

async function writeCrl(ca: TestCa, file: string, nextUpdate: Date): Promise<void> {
  const thisUpdate = new Date(Math.min(Date.now() - 60_000, nextUpdate.getTime() - DAY));
  writeFileSync(file, await buildCrl({ issuerCert: ca.ca.cert, signingKey: ca.ca.privateKey, crlNumber: crlNumber++, thisUpdate, nextUpdate, entries: [] }));
}

const seconds = (c: TestCert | TestCa) => Math.floor(new Date(new X509Certificate('certPem' in c ? c.certPem : c.ca.certPem).validTo).getTime() / 1000);

/** The samples of one metric, as {labels text: value}. */
async function samples(gw: TestGateway, name: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await gw.metrics.registry.metrics()).split('\n')) {
    const m = new RegExp(`^${name}\\{(.*)\\} (\\S+)$`).exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

async function fixture(t: Cleanup) {
  const dir = tempDir(t, 'cg-expiry-');
  const ca = await makeCa(t, { passphrase: null, name: 'Clients CA', days: 60 });
  const serverCa = await makeCa(t, { passphrase: null, name: 'Servers CA', days: 60 });
  const upCa = await makeCa(t, { passphrase: null, name: 'Upstream CA', days: 90 });
  const server = await issueCert(serverCa, 'gateway', { profile: 'server', days: 6 });
  const server2 = await issueCert(serverCa, 'gateway-two', { profile: 'server', days: 20 });
  const gwClient = await issueCert(upCa, 'gateway-client', { days: 40 });
  const crlFile = join(dir, 'clients.crl');
  await writeCrl(ca, crlFile, new Date(Date.now() + 2 * DAY));
  return { dir, ca, serverCa, upCa, server, server2, gwClient, crlFile };
}

test('gauges: every certificate in use and every CRL in force, kept current across reloads and CRL re-reads', async (t) => {
  const f = await fixture(t);
  const config = (o: { server: TestCert; upstreamTls: boolean }) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${o.server.certPath}, key: ${o.server.keyPath}}
    clientAuth: {ca: ${f.ca.certPath}, crl: ${f.crlFile}}
    routes:
      - path: /
        upstream: ${o.upstreamTls ? `{url: "https://127.0.0.1:9", tls: {ca: ${f.upCa.certPath}, cert: ${f.gwClient.certPath}, key: ${f.gwClient.keyPath}}}` : '"http://127.0.0.1:9"'}
expiryWarning: 1d
`;
  const gw = await startGateway(t, f.dir, config({ server: f.server, upstreamTls: true }));
  assert.deepEqual(await samples(gw, 'certgate_certificate_expiry_timestamp_seconds'), {
    'role="server",subject="CN=gateway"': seconds(f.server),
    'role="client_ca",subject="CN=Clients CA"': seconds(f.ca),
    'role="upstream_client",subject="CN=gateway-client"': seconds(f.gwClient),
    'role="upstream_ca",subject="CN=Upstream CA"': seconds(f.upCa),
  });
  const crl = await samples(gw, 'certgate_crl_next_update_timestamp_seconds');
  assert.deepEqual(Object.keys(crl), ['issuer="CN=Clients CA"']);
  assert.ok(Math.abs(crl['issuer="CN=Clients CA"'] - (Date.now() + 2 * DAY) / 1000) < 120);

  // a reload: another server certificate, no upstream TLS; what is no longer in use disappears
  await reloadGateway(gw, f.dir, config({ server: f.server2, upstreamTls: false }));
  assert.deepEqual(await samples(gw, 'certgate_certificate_expiry_timestamp_seconds'), {
    'role="server",subject="CN=gateway-two"': seconds(f.server2),
    'role="client_ca",subject="CN=Clients CA"': seconds(f.ca),
  });

  // a CRL re-read moves its gauge
  const later = new Date(Date.now() + 5 * DAY);
  await writeCrl(f.ca, f.crlFile, later);
  gw.gateway.reloadTrust();
  assert.deepEqual(await samples(gw, 'certgate_crl_next_update_timestamp_seconds'), { 'issuer="CN=Clients CA"': Math.floor(later.getTime() / 1000) });
});

test('cert.expiring: at start for what expires within expiryWarning; a reload warns about what is new, not again', async (t) => {
  const f = await fixture(t);
  const config = (server: TestCert, warning: string) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    routes: [{path: /, upstream: "http://127.0.0.1:9", public: true}]
expiryWarning: ${warning}
`;
  const gw = await startGateway(t, f.dir, config(f.server, '7d'));
  const first = gw.events('cert.expiring');
  assert.equal(first.length, 1, JSON.stringify(first));
  assert.equal(first[0].level, 'warn');
  assert.equal(first[0].role, 'server');
  assert.equal(first[0].subject, 'CN=gateway');
  assert.equal(first[0].days_left, 5);
  assert.match(String(first[0].msg), /the server certificate CN=gateway \(127\.0\.0\.1:0\) expires in 5 days/);

  await reloadGateway(gw, f.dir, config(f.server, '7d'));
  assert.equal(gw.events('cert.expiring').length, 1, 'the same certificate is not warned about again on reload');
  await reloadGateway(gw, f.dir, config(f.server2, '30d'));
  const next = gw.events('cert.expiring');
  assert.equal(next.length, 2);
  assert.equal(next[1].subject, 'CN=gateway-two');

  // the rejected twin: nothing within the window, nothing logged
  const quiet = await startGateway(t, f.dir, config(f.server2, '19d'));
  assert.equal(quiet.events('cert.expiring').length, 0);
});

async function probe(address: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

test('/healthz and /readyz on the metrics listener: ready, then 503 with the reason while CRLs fail closed', async (t) => {
  const f = await fixture(t);
  await writeCrl(f.ca, f.crlFile, new Date(Date.now() - 60_000)); // stale already
  const gw = await startGateway(t, f.dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${f.server.certPath}, key: ${f.server.keyPath}}
    clientAuth: {ca: ${f.ca.certPath}, crl: ${f.crlFile}, staleCrl: refuse}
    routes: [{path: /, upstream: "http://127.0.0.1:9"}]
metrics: {listen: "127.0.0.1:0"}
`);
  const at = String(gw.events('metrics.listening')[0].address);
  assert.deepEqual(await probe(at, '/healthz'), { status: 200, body: 'ok\n' });
  const failing = await probe(at, '/readyz');
  assert.equal(failing.status, 503);
  assert.match(failing.body, /^not ready:\n- 127\.0\.0\.1:0: CRL .*clients\.crl of "CN=Clients CA" is out of date since .* \(staleCrl: refuse\)\n$/);

  await writeCrl(f.ca, f.crlFile, new Date(Date.now() + DAY));
  gw.gateway.reloadTrust();
  assert.deepEqual(await probe(at, '/readyz'), { status: 200, body: 'ready\n' });
  assert.equal((await probe(at, '/metrics')).status, 200);
  assert.equal((await probe(at, '/nope')).status, 404);

  await gw.gateway.stop(100);
  assert.deepEqual(gw.gateway.notReady(), ['stopping']);
});

test('/readyz: 503 while a served certificate has expired; a stale CRL that is still enforced stays ready', async (t) => {
  const f = await fixture(t);
  const now = Date.now();
  const expired = await issueCert(f.serverCa, 'old-gateway', { profile: 'server', validity: { notBefore: new Date(now - 3 * DAY), notAfter: new Date(now - DAY) } });
  await writeCrl(f.ca, f.crlFile, new Date(now - 60_000));
  const config = (server: TestCert) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${f.ca.certPath}, crl: ${f.crlFile}}
    routes: [{path: /, upstream: "http://127.0.0.1:9"}]
metrics: {listen: "127.0.0.1:0"}
`;
  const gw = await startGateway(t, f.dir, config(expired));
  const at = String(gw.events('metrics.listening')[0].address);
  const r = await probe(at, '/readyz');
  assert.equal(r.status, 503);
  assert.match(r.body, /server certificate CN=old-gateway of 127\.0\.0\.1:0 expired at /);
  assert.doesNotMatch(r.body, /CRL/, 'staleCrl: enforce keeps enforcing: not a readiness problem');
  assert.equal(gw.events('cert.expiring')[0]?.subject, 'CN=old-gateway');
  assert.match(String(gw.events('cert.expiring')[0]?.msg), /has expired/);

  await reloadGateway(gw, f.dir, config(f.server));
  assert.deepEqual(await probe(at, '/readyz'), { status: 200, body: 'ready\n' });
});
