// `certgate serve` starts with a CRL past its nextUpdate and applies staleCrl to it, as a running gateway does:
// enforce keeps its revocations, refuse fails closed (403 crl_stale). Before, a stale CRL stopped serve at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { h1Request } from '../helpers/tls-clients.ts';
import { serve } from '../helpers/serve-process.ts';
import { buildCrl } from '../../src/pki/crl.ts';

test('serve with a stale CRL: starts; enforce keeps revocations, refuse refuses every client of that CA', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t, 'cg-stalecrl-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const alice = await issueCert(ca, 'alice');
  const bob = await issueCert(ca, 'bob');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const now = Date.now();
  const stale = join(dir, 'stale.crl');
  writeFileSync(stale, await buildCrl({
    issuerCert: ca.ca.cert, signingKey: ca.ca.privateKey, crlNumber: 5n,
    entries: [{ serial: bob.record.serial, revokedAt: new Date(now - 7_200_000), reason: 'keyCompromise' }],
    thisUpdate: new Date(now - 3 * 86_400_000), nextUpdate: new Date(now - 86_400_000),
  }));
  for (const mode of ['enforce', 'refuse'] as const) {
    const config = join(dir, `${mode}.yaml`);
    writeFileSync(config, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: ${stale}, staleCrl: ${mode}}
    routes:
      - {path: /, upstream: "${upstream.url}"}
`);
    const r = serve(config, dir);
    t.after(() => void r.child.kill('SIGKILL'));
    const port = await r.port();
    await r.waitFor((l) => l.event === 'gateway.ready');
    assert.ok(r.lines.some((l) => l.event === 'trust.crl_stale'), `${mode}: the stale CRL is reported`);
    assert.match(r.stderr(), /warning: .*stale\.crl.* is out of date since/);
    const creds = (c: typeof alice) => ({ ca: ca.ca.certPem, cert: c.certPem, key: c.keyPem });
    const a = await h1Request(port, '/', creds(alice));
    const b = await h1Request(port, '/', creds(bob));
    assert.equal(b.status, 403, `${mode}: bob stays revoked`);
    assert.equal(a.status, mode === 'enforce' ? 200 : 403, `${mode}: alice`);
    r.child.kill('SIGTERM');
    assert.equal(await r.exited, 0);
  }
});
