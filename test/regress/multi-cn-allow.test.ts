// Regression: a certificate whose subject carries two CNs ("CN=alice,CN=bob", made by a CA outside certgate) passed
// an allow rule `cn: alice`: whose certificate is it? Allow rules now need the certificate's only CN to match (fail
// closed); deny rules still refuse when any CN matches, so a second name can never dodge a deny either.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/pki.ts';
import { opensslRootCa, opensslLeaf } from '../helpers/openssl-certs.ts';
import type { OsslCa, OsslCert } from '../helpers/openssl-certs.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { h1Request } from '../helpers/tls-clients.ts';
import type { Creds } from '../helpers/tls-clients.ts';
import { fileScope } from '../helpers/suite.ts';

const t0 = fileScope();
let ca: OsslCa;
let alice: OsslCert;
let twoNames: OsslCert;
let gw: TestGateway;

async function ossl(args: string[]): Promise<void> {
  const r = await runProcess('openssl', args, { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
}

before(async () => {
  const dir = tempDir(t0, 'cg-multicn-');
  ca = await opensslRootCa(dir, 'root');
  const server = await opensslLeaf(ca, { name: 'server', subj: '/CN=localhost', eku: 'serverAuth', san: 'DNS:localhost,IP:127.0.0.1' });
  alice = await opensslLeaf(ca, { name: 'alice', subj: '/O=Acme/CN=alice' });
  // openssl x509 -req keeps the requested DN verbatim: CN=bob and CN=alice
  const base = join(dir, 'two');
  writeFileSync(`${base}.ext`, 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  await ossl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', '/O=Acme/CN=alice/CN=bob']);
  await ossl(['x509', '-req', '-in', `${base}.csr`, '-CA', join(ca.dir, 'ca.crt'), '-CAkey', join(ca.dir, 'ca.key'), '-set_serial', '0x4242', '-days', '1',
    '-extfile', `${base}.ext`, '-out', `${base}.crt`]);
  const { readFileSync } = await import('node:fs');
  twoNames = { certPath: `${base}.crt`, keyPath: `${base}.key`, certPem: readFileSync(`${base}.crt`, 'utf8'), keyPem: readFileSync(`${base}.key`, 'utf8') };
  const subject = await runProcess('openssl', ['x509', '-in', `${base}.crt`, '-noout', '-subject']);
  assert.match(subject.stdout, /CN ?= ?alice, ?CN ?= ?bob/);
  const upstream = await startEchoUpstream();
  t0.after(() => upstream.close());
  gw = await startGateway(t0, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${join(ca.dir, 'ca.crt')}}
    routes:
      - {path: /alice, upstream: "${upstream.url}", allow: [{cn: alice}]}
      - {path: /acme, upstream: "${upstream.url}", allow: [{o: Acme}]}
      - {path: /nobob, upstream: "${upstream.url}", deny: [{cn: bob}]}
`);
});

function creds(c: OsslCert): Creds {
  return { ca: ca.certPem, cert: c.certPem, key: c.keyPem };
}

test('an allow rule on cn does not admit a certificate that carries another CN as well', async () => {
  assert.equal((await h1Request(gw.port, '/alice', creds(alice))).status, 200);
  const res = await h1Request(gw.port, '/alice', creds(twoNames));
  assert.equal(res.status, 403);
  assert.match(res.body, /<code>not_allowed<\/code>/);
  // it still verifies: rules on other attributes work as before
  assert.equal((await h1Request(gw.port, '/acme', creds(twoNames))).status, 200);
});

test('a deny rule on cn refuses when any of the CNs matches', async () => {
  assert.equal((await h1Request(gw.port, '/nobob', creds(alice))).status, 200);
  assert.equal((await h1Request(gw.port, '/nobob', creds(twoNames))).status, 403);
});
