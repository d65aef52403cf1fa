// Hole 4: a CA removed (or replaced) from clientAuth.ca by a reload kept vouching for connections opened under it.
// The same open HTTP/2 session or HTTP/1.1 keep-alive connection must get 403 unknown_ca on its next request (the
// chain is completed and its signatures verified again under the bundle in force), never 200 with the old identity;
// a same-name CA with another key vouches for nobody; a request in flight is cut with 403; a reload that keeps the CA
// and only swaps the CRL keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir, writeCrl } from '../helpers/pki.ts';
import type { Cleanup, TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import type { EchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway, reloadGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { RawConnection, h2Session, h2Request } from '../helpers/tls-clients.ts';
import type { Creds } from '../helpers/tls-clients.ts';
import { createReloadController } from '../../src/gateway/reload.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { preflight } from '../../src/gateway/preflight.ts';
import { createLogger } from '../../src/observability/logger.ts';

interface Fixture {
  dir: string;
  /** Signs the gateway's server certificate only (kept apart from the client CAs being swapped). */
  serverCa: TestCa;
  upstream: EchoUpstream;
  gw: TestGateway;
  yaml(clientAuth: string): string;
}

async function fixture(t: Cleanup, clientAuth: string): Promise<Fixture> {
  const dir = tempDir(t, 'cg-caswap-');
  const serverCa = await makeCa(t, { passphrase: null, name: 'Gateway Server CA' });
  const server = await issueCert(serverCa, 'gateway', { profile: 'server' });
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const yaml = (ca: string) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: ${ca}
    routes: [{path: /, upstream: "${upstream.url}"}]
`;
  const gw = await startGateway(t, dir, yaml(clientAuth));
  return { dir, serverCa, upstream, gw, yaml };
}

function creds(f: Fixture, c: TestCert): Creds {
  return { ca: f.serverCa.ca.certPem, cert: c.certPem, key: c.keyPem };
}

/** The status, refusal reason and what the upstream saw for one request (null when the upstream saw nothing). */
function outcome(f: Fixture, r: { status: number; body: string } | null, path: string) {
  const seen = f.upstream.seen.find((s) => s.url === path);
  const reason = /<code>([a-z_]+)<\/code>/.exec(r?.body ?? '')?.[1];
  return { status: r?.status, reason, upstreamVerify: seen?.headers['x-client-verify'] };
}

test('h2: the open session of a CA replaced by reload gets 403 unknown_ca, new sessions are refused, the new CA works', async (t) => {
  const caA = await makeCa(t, { passphrase: null, name: 'Client CA A' });
  const caB = await makeCa(t, { passphrase: null, name: 'Client CA B' });
  const alice = await issueCert(caA, 'alice');
  const bob = await issueCert(caB, 'bob');
  const crlDir = tempDir(t, 'cg-caswap-crl-');
  const crlA = await writeCrl(caA, join(crlDir, 'a.crl'));
  const crlB = await writeCrl(caB, join(crlDir, 'b.crl'));
  const f = await fixture(t, `{ca: ${caA.certPath}, crl: ${crlA}}`);

  const session = await h2Session(f.gw.port, creds(f, alice));
  t.after(() => session.destroy());
  assert.deepEqual(outcome(f, await h2Request(session, '/h2-before'), '/h2-before'), { status: 200, reason: undefined, upstreamVerify: 'SUCCESS' });

  await reloadGateway(f.gw, f.dir, f.yaml(`{ca: ${caB.certPath}, crl: ${crlB}}`));
  assert.equal(session.closed || session.destroyed, false, 'the session itself survives the reload');
  assert.deepEqual(outcome(f, await h2Request(session, '/h2-after'), '/h2-after'), { status: 403, reason: 'unknown_ca', upstreamVerify: undefined });

  const fresh = await h2Session(f.gw.port, creds(f, alice)).catch(() => null);
  t.after(() => fresh?.destroy());
  const freshRes = fresh ? await h2Request(fresh, '/h2-new').catch(() => null) : null;
  assert.notEqual(freshRes?.status, 200, 'a new session of the removed CA is refused');
  assert.equal(f.upstream.seen.some((s) => s.url === '/h2-new'), false);

  const bobSession = await h2Session(f.gw.port, creds(f, bob));
  t.after(() => bobSession.destroy());
  assert.deepEqual(outcome(f, await h2Request(bobSession, '/h2-bob'), '/h2-bob'), { status: 200, reason: undefined, upstreamVerify: 'SUCCESS' });
  const line = f.gw.events('access').find((l) => l.path === '/h2-after')!;
  assert.equal(line.verify, 'FAILED:unknown_ca');
});

test('HTTP/1.1 keep-alive: the SIGHUP reload path (reload controller) removes a CA from an open connection', async (t) => {
  const caA = await makeCa(t, { passphrase: null, name: 'Client CA A' });
  const caB = await makeCa(t, { passphrase: null, name: 'Client CA B' });
  const alice = await issueCert(caA, 'alice');
  const f = await fixture(t, `{ca: ${caA.certPath}}`);
  const logger = createLogger({ destination: { write: () => undefined } });
  const reloader = createReloadController({ configPath: f.gw.configPath, gateway: f.gw.gateway, logger, metrics: f.gw.metrics, load: (p) => loadConfigFile(p), preflight, pollMs: 0 });
  t.after(() => reloader.close());

  const conn = await RawConnection.open(f.gw.port, creds(f, alice));
  t.after(() => conn.close());
  assert.deepEqual(outcome(f, await conn.get('/h1-before'), '/h1-before'), { status: 200, reason: undefined, upstreamVerify: 'SUCCESS' });

  writeFileSync(f.gw.configPath, f.yaml(`{ca: ${caB.certPath}}`));
  assert.equal(await reloader.reloadConfig('SIGHUP'), true);
  assert.equal(conn.closed, false, 'the keep-alive connection itself survives the reload');
  assert.deepEqual(outcome(f, await conn.get('/h1-after'), '/h1-after'), { status: 403, reason: 'unknown_ca', upstreamVerify: undefined });

  const fresh = await RawConnection.open(f.gw.port, creds(f, alice)).catch(() => null);
  t.after(() => fresh?.close());
  const freshRes = fresh ? await fresh.get('/h1-new').catch(() => null) : null;
  assert.notEqual(freshRes?.status, 200, 'a new connection of the removed CA is refused');
  assert.equal(f.upstream.seen.some((s) => s.url === '/h1-new'), false);
});

test('a CA replaced by one with the SAME subject name but another key stops vouching (signature re-verified)', async (t) => {
  const caA = await makeCa(t, { passphrase: null, name: 'Client Twin CA' });
  const twin = await makeCa(t, { passphrase: null, name: 'Client Twin CA' });
  assert.equal(twin.ca.cert.subject.toString(), caA.ca.cert.subject.toString());
  const alice = await issueCert(caA, 'alice');
  const crlDir = tempDir(t, 'cg-caswap-crl-');
  const crlA = await writeCrl(caA, join(crlDir, 'a.crl'));
  const crlTwin = await writeCrl(twin, join(crlDir, 'twin.crl'));
  const f = await fixture(t, `{ca: ${caA.certPath}, crl: ${crlA}}`);

  const session = await h2Session(f.gw.port, creds(f, alice));
  t.after(() => session.destroy());
  const conn = await RawConnection.open(f.gw.port, creds(f, alice));
  t.after(() => conn.close());
  assert.equal((await h2Request(session, '/twin-h2-before')).status, 200);
  assert.equal((await conn.get('/twin-h1-before'))?.status, 200);

  await reloadGateway(f.gw, f.dir, f.yaml(`{ca: ${twin.certPath}, crl: ${crlTwin}}`));
  assert.deepEqual(outcome(f, await h2Request(session, '/twin-h2-after'), '/twin-h2-after'), { status: 403, reason: 'unknown_ca', upstreamVerify: undefined });
  assert.deepEqual(outcome(f, await conn.get('/twin-h1-after'), '/twin-h1-after'), { status: 403, reason: 'unknown_ca', upstreamVerify: undefined });
  const fresh = await RawConnection.open(f.gw.port, creds(f, alice)).catch(() => null);
  t.after(() => fresh?.close());
  const freshRes = fresh ? await fresh.get('/twin-new').catch(() => null) : null;
  assert.notEqual(freshRes?.status, 200);
  assert.equal(f.upstream.seen.some((s) => s.url === '/twin-new'), false);
});

test('the CA kept and only its CRL replaced: the open session keeps its identity (and a CRL revoking it still cuts)', async (t) => {
  const caA = await makeCa(t, { passphrase: null, name: 'Client CA A' });
  const alice = await issueCert(caA, 'alice');
  const bob = await issueCert(caA, 'bob');
  const crlDir = tempDir(t, 'cg-caswap-crl-');
  const crl1 = await writeCrl(caA, join(crlDir, 'one.crl'));
  const crl2 = await writeCrl(caA, join(crlDir, 'two.crl'), [bob]);
  const crl3 = await writeCrl(caA, join(crlDir, 'three.crl'), [bob, alice]);
  const f = await fixture(t, `{ca: ${caA.certPath}, crl: ${crl1}}`);

  const session = await h2Session(f.gw.port, creds(f, alice));
  t.after(() => session.destroy());
  const conn = await RawConnection.open(f.gw.port, creds(f, alice));
  t.after(() => conn.close());
  assert.equal((await h2Request(session, '/crl-h2-before')).status, 200);
  assert.equal((await conn.get('/crl-h1-before'))?.status, 200);

  await reloadGateway(f.gw, f.dir, f.yaml(`{ca: ${caA.certPath}, crl: ${crl2}}`));
  assert.deepEqual(outcome(f, await h2Request(session, '/crl-h2-after'), '/crl-h2-after'), { status: 200, reason: undefined, upstreamVerify: 'SUCCESS' });
  assert.deepEqual(outcome(f, await conn.get('/crl-h1-after'), '/crl-h1-after'), { status: 200, reason: undefined, upstreamVerify: 'SUCCESS' });

  await reloadGateway(f.gw, f.dir, f.yaml(`{ca: ${caA.certPath}, crl: ${crl3}}`));
  assert.deepEqual(outcome(f, await h2Request(session, '/crl-h2-revoked'), '/crl-h2-revoked'), { status: 403, reason: 'revoked', upstreamVerify: undefined });
  assert.deepEqual(outcome(f, await conn.get('/crl-h1-revoked'), '/crl-h1-revoked'), { status: 403, reason: 'revoked', upstreamVerify: undefined });
});

test('a request in flight when the reload removes its CA is answered 403 unknown_ca, not with the upstream\'s 200', async (t) => {
  const caA = await makeCa(t, { passphrase: null, name: 'Client CA A' });
  const caB = await makeCa(t, { passphrase: null, name: 'Client CA B' });
  const alice = await issueCert(caA, 'alice');
  const f = await fixture(t, `{ca: ${caA.certPath}}`);
  const session = await h2Session(f.gw.port, creds(f, alice));
  t.after(() => session.destroy());
  const slow = h2Request(session, '/slow?ms=4000');
  // wait until the upstream has the request, then take the CA away
  for (let i = 0; i < 100 && !f.upstream.seen.some((s) => s.url === '/slow?ms=4000'); i++) await new Promise((r) => setTimeout(r, 20));
  const start = Date.now();
  await reloadGateway(f.gw, f.dir, f.yaml(`{ca: ${caB.certPath}}`));
  const r = await slow;
  assert.equal(r.status, 403);
  assert.match(r.body, /<code>unknown_ca<\/code>/);
  assert.ok(Date.now() - start < 2_000, `answered ${Date.now() - start} ms after the reload`);
  assert.equal(f.gw.events('trust.work_closed')[0]?.kind, 'request');
  assert.match(await f.gw.metrics.registry.metrics(), /certgate_trust_closed_total\{kind="request",reason="unknown_ca"\} 1/);
});
