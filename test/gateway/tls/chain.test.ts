// Chains with an intermediate CA: verifyDepth, an intermediate sent by the client instead of sitting in the bundle,
// and a revoked intermediate (revocation applies to every CA in the chain, not just the leaf).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import type { TestCa } from '../../helpers/pki.ts';
import { buildCrl } from '../../../src/pki/crl.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { h1Request } from '../../helpers/tls-clients.ts';

let crlNumber = 1n;
async function crl(ca: TestCa, file: string, serials: string[]): Promise<string> {
  const now = Date.now();
  writeFileSync(file, await buildCrl({
    issuerCert: ca.ca.cert, signingKey: ca.ca.privateKey, crlNumber: crlNumber++, thisUpdate: new Date(now - 60_000), nextUpdate: new Date(now + 86_400_000),
    entries: serials.map((serial) => ({ serial, revokedAt: new Date(now - 30_000), reason: 'keyCompromise' })),
  }));
  return file;
}

async function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t, 'cg-chain-');
  const root = await makeCa(t, { passphrase: null });
  const inter = await makeCa(t, { passphrase: null, parent: root });
  const server = await issueCert(root, 'gateway', { profile: 'server' });
  const carol = await issueCert(inter, 'carol');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const bundle = join(dir, 'bundle.pem');
  writeFileSync(bundle, root.ca.certPem + inter.ca.certPem);
  const start = (clientAuth: string) => startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: ${clientAuth}
    routes: [{path: /, upstream: "${upstream.url}"}]
`);
  return { dir, root, inter, carol, bundle, start };
}

test('verifyDepth counts the certificates below the root', async (t) => {
  const { root, carol, bundle, start } = await setup(t);
  const creds = { ca: root.ca.certPem, cert: carol.certPem, key: carol.keyPem };
  const deep = await start(`{ca: ${bundle}, verifyDepth: 1}`);
  const refused = await h1Request(deep.port, '/', creds);
  assert.equal(refused.status, 403);
  assert.match(refused.body, /<code>chain_too_deep<\/code>/);
});

test('an intermediate the CA bundle lacks is refused even when the client sends it (depth and revocation cannot be checked)', async (t) => {
  const { root, inter, carol, bundle, start } = await setup(t);
  const rootOnly = await start(`{ca: ${root.certPath}}`);
  const refused = await h1Request(rootOnly.port, '/', { ca: root.ca.certPem, cert: carol.certPem + inter.ca.certPem, key: carol.keyPem });
  assert.equal(refused.status, 403);
  assert.match(refused.body, /<code>unknown_ca<\/code>/);
  const full = await start(`{ca: ${bundle}}`);
  const ok = await h1Request(full.port, '/', { ca: root.ca.certPem, cert: carol.certPem + inter.ca.certPem, key: carol.keyPem });
  assert.equal(ok.status, 200);
  assert.match(JSON.parse(ok.body).headers['x-client-issuer'], /Intermediate/);
});

test('a revoked intermediate refuses every certificate below it', async (t) => {
  const { dir, root, inter, carol, bundle, start } = await setup(t);
  const rootCrl = await crl(root, join(dir, 'root.crl'), []);
  const interCrl = await crl(inter, join(dir, 'inter.crl'), []);
  const gw = await start(`{ca: ${bundle}, crl: [${rootCrl}, ${interCrl}]}`);
  const creds = { ca: root.ca.certPem, cert: carol.certPem, key: carol.keyPem };
  assert.equal((await h1Request(gw.port, '/', creds)).status, 200);
  await crl(root, rootCrl, [inter.ca.cert.serialNumber]);
  gw.gateway.reloadTrust();
  const res = await h1Request(gw.port, '/', creds);
  assert.equal(res.status, 403);
  assert.match(res.body, /<code>revoked<\/code>/);
});
