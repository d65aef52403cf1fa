// A CA's base URL: stored by create/set-url, read by loadCa; certificates it signs (leaves and intermediates) point
// their CRL Distribution Point and AIA caIssuers at it, and a CA without one adds neither.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as x509 from '../../src/core/x509.ts';
import { loadCa } from '../../src/pki/ca.ts';
import { readBaseUrl, writeBaseUrl } from '../../src/pki/ca-url.ts';
import { issueCert, makeCa } from '../helpers/pki.ts';

function pointers(pem: string): { crl: string[]; caIssuers: string[] } {
  const cert = new x509.X509Certificate(pem);
  const cdp = cert.getExtension(x509.CRLDistributionPointsExtension);
  const aia = cert.getExtension(x509.AuthorityInfoAccessExtension);
  return {
    crl: Array.from(cdp?.distributionPoints ?? []).flatMap((dp) => Array.from(dp.distributionPoint?.fullName ?? []).map((n) => String(n.uniformResourceIdentifier ?? ''))),
    caIssuers: Array.from(aia?.caIssuers ?? []).map((n) => String(n.value)),
  };
}

test('certificates point at the issuing CA\'s base URL; without one they carry no CDP/AIA', async (t) => {
  const root = await makeCa(t, { passphrase: null, baseUrl: 'http://pki.example.test/root' });
  assert.equal(readBaseUrl(root.dir), 'http://pki.example.test/root/');
  assert.equal(loadCa(root.dir).baseUrl, 'http://pki.example.test/root/');
  const issuing = await makeCa(t, { passphrase: null, parent: root, baseUrl: 'http://pki.example.test/issuing/' });
  assert.deepEqual(pointers(issuing.ca.certPem), {
    crl: ['http://pki.example.test/root/crl.crl'], caIssuers: ['http://pki.example.test/root/ca.crt'],
  });
  assert.deepEqual(pointers(root.ca.certPem), { crl: [], caIssuers: [] }, 'a root points nowhere');
  const leaf = await issueCert(issuing, 'alice');
  assert.deepEqual(pointers(leaf.certPem), {
    crl: ['http://pki.example.test/issuing/crl.crl'], caIssuers: ['http://pki.example.test/issuing/ca.crt'],
  });

  const plain = await makeCa(t, { passphrase: null });
  assert.equal(readBaseUrl(plain.dir), undefined);
  assert.deepEqual(pointers((await issueCert(plain, 'bob')).certPem), { crl: [], caIssuers: [] });
  writeBaseUrl(plain.dir, 'https://crl.example.test:8443/x');
  const later = await issueCert({ ...plain, ca: { ...plain.ca, ...loadCa(plain.dir) } }, 'carol');
  assert.deepEqual(pointers(later.certPem).crl, ['https://crl.example.test:8443/x/crl.crl']);
});
