// Revocation holds where OpenSSL's handshake-time check does not: on an already-open keep-alive connection and on a
// resumed TLS session after the CRL changed; stale CRLs stay enforced (or fail closed); a CA without a CRL refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import type { TestCa, TestCert } from '../../helpers/pki.ts';
import { buildCrl } from '../../../src/pki/crl.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { RawConnection } from '../../helpers/tls-clients.ts';
import type { Creds } from '../../helpers/tls-clients.ts';
import { createReloadController } from '../../../src/gateway/reload.ts';
import { loadConfigFile } from '../../../src/config/load.ts';
import { preflight } from '../../../src/gateway/preflight.ts';

const DAY = 86_400_000;
let crlNumber = 1n;

async function writeCrl(ca: TestCa, file: string, revoked: TestCert[], opts: { stale?: boolean } = {}): Promise<void> {
  const now = Date.now();
  const thisUpdate = new Date(opts.stale ? now - 2 * DAY : now - 60_000);
  const nextUpdate = new Date(opts.stale ? now - DAY : now + DAY);
  const pem = await buildCrl({
    issuerCert: ca.ca.cert, signingKey: ca.ca.privateKey, crlNumber: crlNumber++, thisUpdate, nextUpdate,
    entries: revoked.map((c) => ({ serial: c.record.serial, revokedAt: new Date(now - 30_000), reason: 'keyCompromise' })),
  });
  writeFileSync(file, pem);
}

async function setup(t: Parameters<typeof tempDir>[0], extra = '', stale = false) {
  const dir = tempDir(t, 'cg-rev-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const alice = await issueCert(ca, 'alice', { ous: ['ops'] });
  const bob = await issueCert(ca, 'bob');
  const crlFile = join(dir, 'ca.crl');
  await writeCrl(ca, crlFile, [bob], { stale });
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: ${crlFile}${extra}}
    routes: [{path: /, upstream: "${upstream.url}"}]
`);
  const creds = (c: TestCert): Creds => ({ ca: ca.ca.certPem, cert: c.certPem, key: c.keyPem });
  return { dir, ca, alice, bob, crlFile, gw, creds };
}

test('a keep-alive connection opened before the CRL changed is refused on its next request', async (t) => {
  const { ca, alice, bob, crlFile, gw, creds } = await setup(t);
  const conn = await RawConnection.open(gw.port, creds(alice));
  t.after(() => conn.close());
  assert.equal((await conn.get('/before'))?.status, 200);
  const revokedBob = await RawConnection.open(gw.port, creds(bob));
  t.after(() => revokedBob.close());
  const r = await revokedBob.get('/bob');
  assert.equal(r?.status, 403);
  assert.match(r!.body, /<code>revoked<\/code>/);

  await writeCrl(ca, crlFile, [bob, alice]);
  gw.gateway.reloadTrust();
  const after = await conn.get('/after');
  assert.equal(after?.status, 403, 'same connection, new CRL');
  assert.match(after!.body, /<code>revoked<\/code>/);
  assert.ok(gw.events('trust.reloaded').length >= 1);
  const line = gw.events('access').find((l) => l.path === '/after')!;
  assert.equal(line.verify, 'FAILED:revoked');
});

test('a resumed TLS session is checked against the CRLs in force now; old tickets stop working', async (t) => {
  const { ca, alice, crlFile, gw, creds } = await setup(t);
  const first = await RawConnection.open(gw.port, creds(alice));
  assert.equal((await first.get('/one'))?.status, 200);
  const ticket = first.session;
  first.close();
  assert.ok(ticket, 'the server issued a session ticket');

  // Resumption works while nothing changed.
  const resumedOk = await RawConnection.open(gw.port, creds(alice), { session: ticket });
  t.after(() => resumedOk.close());
  assert.equal(resumedOk.resumed, true);
  assert.equal((await resumedOk.get('/two'))?.status, 200);

  await writeCrl(ca, crlFile, [alice]);
  gw.gateway.reloadTrust();
  // Tickets from before the change were rotated away: a full handshake happens, and the request is refused.
  const stale = await RawConnection.open(gw.port, creds(alice), { session: ticket });
  t.after(() => stale.close());
  assert.equal(stale.resumed, false);
  assert.equal((await stale.get('/three'))?.status, 403);
  // A session issued after the change resumes (the handshake skips certificate checks) and is still refused.
  const fresh = stale.session;
  assert.ok(fresh);
  const resumed = await RawConnection.open(gw.port, creds(alice), { session: fresh });
  t.after(() => resumed.close());
  assert.equal(resumed.resumed, true);
  const r = await resumed.get('/four');
  assert.equal(r?.status, 403);
  assert.match(r!.body, /<code>revoked<\/code>/);
});

test('fresh connections with the same certificate see a CRL change (nothing cached across trust generations)', async (t) => {
  const { ca, alice, crlFile, gw, creds } = await setup(t);
  const fresh = async (path: string) => {
    const conn = await RawConnection.open(gw.port, creds(alice));
    try {
      return await conn.get(path);
    } finally {
      conn.close();
    }
  };
  for (let i = 0; i < 3; i++) assert.equal((await fresh(`/ok${i}`))?.status, 200);
  await writeCrl(ca, crlFile, [alice]);
  gw.gateway.reloadTrust();
  for (let i = 0; i < 3; i++) {
    const r = await fresh(`/revoked${i}`);
    assert.equal(r?.status, 403);
    assert.match(r!.body, /<code>revoked<\/code>/);
  }
  await writeCrl(ca, crlFile, []);
  gw.gateway.reloadTrust();
  assert.equal((await fresh('/again'))?.status, 200);
});

test('a changed CRL file is picked up without a reload signal', async (t) => {
  const { ca, alice, crlFile, gw, creds } = await setup(t);
  const reloader = createReloadController({
    configPath: gw.configPath, gateway: gw.gateway, logger: { info() {}, warn() {}, error() {} } as never, metrics: gw.metrics,
    load: (p) => loadConfigFile(p), preflight, pollMs: 50,
  });
  reloader.watch();
  t.after(() => reloader.close());
  const conn = await RawConnection.open(gw.port, creds(alice));
  t.after(() => conn.close());
  assert.equal((await conn.get('/a'))?.status, 200);
  await writeCrl(ca, crlFile, [alice]);
  let status = 0;
  for (let i = 0; i < 100 && status !== 403; i++) {
    await new Promise((r) => setTimeout(r, 50));
    status = (await conn.get('/poll'))?.status ?? 0;
  }
  assert.equal(status, 403);
});

test('a stale CRL keeps being enforced and is reported loudly', async (t) => {
  const { alice, bob, gw, creds } = await setup(t, '', true);
  const ok = await RawConnection.open(gw.port, creds(alice));
  t.after(() => ok.close());
  assert.equal((await ok.get('/'))?.status, 200);
  const refused = await RawConnection.open(gw.port, creds(bob));
  t.after(() => refused.close());
  assert.equal((await refused.get('/'))?.status, 403);
  assert.ok(gw.events('trust.crl_stale').length >= 1);
  assert.match(await gw.metrics.registry.metrics(), /certgate_crl_stale 1/);
});

test('staleCrl: refuse fails closed with crl_stale', async (t) => {
  const { alice, gw, creds } = await setup(t, ', staleCrl: refuse', true);
  const conn = await RawConnection.open(gw.port, creds(alice));
  t.after(() => conn.close());
  const r = await conn.get('/');
  assert.equal(r?.status, 403);
  assert.match(r!.body, /<code>crl_stale<\/code>/);
});

test('with CRLs configured, a CA in the chain without a CRL refuses its clients (crl_unavailable)', async (t) => {
  const dir = tempDir(t, 'cg-rev-');
  const root = await makeCa(t, { passphrase: null });
  const inter = await makeCa(t, { passphrase: null, parent: root });
  const server = await issueCert(root, 'gateway', { profile: 'server' });
  const carol = await issueCert(inter, 'carol');
  const crlFile = join(dir, 'inter.crl');
  await writeCrl(inter, crlFile, []);
  const bundle = join(dir, 'bundle.pem');
  writeFileSync(bundle, root.ca.certPem + inter.ca.certPem);
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${bundle}, crl: ${crlFile}}
    routes: [{path: /, upstream: "${upstream.url}"}]
`);
  const conn = await RawConnection.open(gw.port, { ca: root.ca.certPem, cert: carol.certPem, key: carol.keyPem });
  t.after(() => conn.close());
  const r = await conn.get('/');
  assert.equal(r?.status, 403);
  assert.match(r!.body, /<code>crl_unavailable<\/code>/);
});
