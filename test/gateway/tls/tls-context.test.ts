// buildTlsMaterial's `staplable`: true only when a served certificate with ocspStapling auto names an http:// OCSP
// responder and carries its issuer, since only then does the TLS server get the OCSPRequest listener that makes
// Node call into JavaScript in every handshake.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/pki.ts';
import { opensslLeaf, opensslRootCa } from '../../helpers/openssl-certs.ts';
import { parseConfigText } from '../../../src/config/load.ts';
import { buildTlsMaterial } from '../../../src/gateway/tls/tls-context.ts';

test('staplable: a responder and its issuer in the file, stapling not turned off', async (t) => {
  const dir = tempDir(t, 'cg-tlsctx-');
  const ca = await opensslRootCa(dir, 'ca');
  const aia = 'OCSP;URI:http://127.0.0.1:9/';
  const withAia = await opensslLeaf(ca, { name: 'aia', subj: '/CN=aia', eku: 'serverAuth', san: 'DNS:localhost', aia });
  const https = await opensslLeaf(ca, { name: 'https', subj: '/CN=https', eku: 'serverAuth', san: 'DNS:localhost', aia: 'OCSP;URI:https://127.0.0.1:9/' });
  const plain = await opensslLeaf(ca, { name: 'plain', subj: '/CN=plain', eku: 'serverAuth', san: 'DNS:localhost' });
  const chain = (name: string, leafPem: string) => {
    const path = join(dir, `${name}-chain.pem`);
    writeFileSync(path, leafPem + ca.certPem);
    return path;
  };
  const material = (cert: string, key: string, extra = '', sites = '') => {
    const yaml = `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${cert}, key: ${key}${extra}}
${sites || '    routes: [{path: /, upstream: "http://127.0.0.1:9", public: true}]'}
`;
    const config = parseConfigText(yaml, join(dir, 'certgate.yaml'), dir);
    return buildTlsMaterial(config.servers[0], undefined, 'off');
  };
  assert.equal(material(chain('aia', withAia.certPem), withAia.keyPath).staplable, true);
  assert.equal(material(chain('aia2', withAia.certPem), withAia.keyPath, ', ocspStapling: off').staplable, false, 'stapling turned off');
  assert.equal(material(withAia.certPath, withAia.keyPath).staplable, false, 'no issuer in the file');
  assert.equal(material(chain('https', https.certPem), https.keyPath).staplable, false, 'https responders are not fetched');
  assert.equal(material(chain('plain', plain.certPem), plain.keyPath).staplable, false, 'no responder named');
  // a site's own certificate counts too
  const site = `    sites:
      - hosts: [site.test]
        tls: {cert: ${chain('site', withAia.certPem)}, key: ${withAia.keyPath}}
        routes: [{path: /, upstream: "http://127.0.0.1:9", public: true}]
      - hosts: ["*"]
        routes: [{path: /, upstream: "http://127.0.0.1:9", public: true}]`;
  const withSite = material(chain('plain2', plain.certPem), plain.keyPath, '', site);
  assert.equal(withSite.staplable, true);
  assert.equal(withSite.contexts.length, 1);
});
