// explain: the decision for URL + certificate + address, against an openssl-made PKI and a parsed certgate.yaml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/load.ts';
import { certificatesFromFile, explainRequest, type Explanation } from '../../src/gateway/explain.ts';
import { opensslCrl, opensslIntermediateCa, opensslLeaf, opensslRevoke, opensslRootCa, opensslSelfSigned, type OsslCert } from '../helpers/openssl-certs.ts';
import { isCertgateError } from '../../src/core/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'certgate-explain-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const YAML = `
servers:
  - listen: 127.0.0.1:8443
    tls: {cert: server.crt, key: server.key}
    clientAuth: {ca: bundle.pem, crl: [root.crl, inter.crl], mode: verify}
    sites:
      - hosts: [app.example.com, localhost]
        routes:
          - path: /
            upstream: http://127.0.0.1:3000
            public: true
          - path: /admin
            upstream: http://127.0.0.1:3001
            allow: [{ou: ops}, {sourceIp: 10.1.0.0/16}]
            deny: [{cn: mallory}]
  - listen: 127.0.0.1:8444
    tls: {cert: server.crt, key: server.key}
    clientAuth: {ca: bundle.pem, mode: require}
    routes:
      - path: /
        upstream: http://127.0.0.1:3000
  - listen: 127.0.0.1:8080
    redirectToHttps: 8443
`;

interface Fixture {
  alice: OsslCert; bob: OsslCert; mallory: OsslCert; expired: OsslCert; lookalike: OsslCert; interPem: string;
}

async function fixture(): Promise<Fixture> {
  const root = await opensslRootCa(dir, 'root');
  const inter = await opensslIntermediateCa(root, dir, 'inter');
  const alice = await opensslLeaf(inter, { subj: '/O=Acme/OU=ops/CN=alice', name: 'alice' });
  const bob = await opensslLeaf(inter, { subj: '/O=Acme/OU=dev/CN=bob', name: 'bob' });
  const mallory = await opensslLeaf(inter, { subj: '/O=Acme/OU=ops/CN=mallory', name: 'mallory' });
  const expired = await opensslLeaf(inter, { subj: '/O=Acme/OU=ops/CN=old', name: 'old', startdate: '20200101000000Z', enddate: '20200102000000Z' });
  const lookalike = await opensslSelfSigned(dir, 'lookalike', '/O=Acme/OU=ops/CN=alice');
  await opensslRevoke(inter, mallory);
  await opensslCrl(root, join(dir, 'root.crl'));
  await opensslCrl(inter, join(dir, 'inter.crl'));
  writeFileSync(join(dir, 'bundle.pem'), root.certPem + inter.certPem);
  return { alice, bob, mallory, expired, lookalike, interPem: inter.certPem };
}

const summary = (e: Explanation): string =>
  e.outcome.action === 'proxy' ? `proxy ${e.outcome.location}` : `${e.outcome.action} ${e.outcome.status ?? '-'} ${e.outcome.reason ?? ''}`.trim();

test('explain table', async () => {
  const f = await fixture();
  const config = parseConfigText(YAML, 'certgate.yaml', dir);
  const certOf = (c: OsslCert) => ({ file: c.certPath, certs: certificatesFromFile(readFileSync(c.certPath), c.certPath) });
  const rows: Array<{ url: string; cert?: OsslCert; ip?: string; expect: string; rule?: string | null }> = [
    { url: 'https://app.example.com:8443/admin/users?x=1', cert: f.alice, expect: 'proxy http://127.0.0.1:3001/admin/users?x=1', rule: 'servers[0].sites[0].routes[1].allow[0]: ou=ops' },
    { url: 'https://app.example.com:8443/admin', cert: f.bob, expect: 'refuse 403 not_allowed', rule: null },
    { url: 'https://app.example.com:8443/admin', expect: 'refuse 403 no_certificate' },
    { url: 'https://app.example.com:8443/admin', ip: '10.1.2.3', expect: 'proxy http://127.0.0.1:3001/admin', rule: 'servers[0].sites[0].routes[1].allow[1]: sourceIp=10.1.0.0/16' },
    { url: 'https://app.example.com:8443/admin', cert: f.mallory, expect: 'refuse 403 revoked' },
    { url: 'https://app.example.com:8443/admin', cert: f.expired, expect: 'refuse 403 expired' },
    { url: 'https://app.example.com:8443/admin', cert: f.lookalike, expect: 'refuse 403 unknown_ca' },
    { url: 'https://app.example.com:8443/', cert: f.expired, expect: 'proxy http://127.0.0.1:3000/' },
    { url: 'https://app.example.com:8443/admin;x', expect: 'refuse 403 no_certificate' },
    { url: 'https://app.example.com:8443/public/%2e%2e/admin', expect: 'refuse 403 no_certificate' },
    { url: 'https://app.example.com:8443/public/..;/admin', expect: 'refuse 400 bad_path' },
    { url: 'https://app.example.com:8443/a%2fb', expect: 'refuse 400 bad_path' },
    { url: 'https://app.example.com:8443/ADMIN', expect: 'proxy http://127.0.0.1:3000/ADMIN' },
    { url: 'https://app.example.com:8443/caf\u00e9', expect: 'proxy http://127.0.0.1:3000/caf%C3%A9' },
    { url: 'https://evil.test:8443/', expect: 'refuse 403 unknown_host' },
    { url: 'https://127.0.0.1:8443/', expect: 'refuse 403 unknown_host' },
    { url: 'https://LOCALHOST:8443/admin', cert: f.alice, expect: 'proxy http://127.0.0.1:3001/admin' },
    { url: 'https://localhost:8444/', expect: 'handshake_failure - no_certificate' },
    { url: 'https://localhost:8444/', cert: f.lookalike, expect: 'handshake_failure - unknown_ca' },
    { url: 'https://localhost:8444/', cert: f.mallory, expect: 'proxy http://127.0.0.1:3000/' }, // no CRL configured there
    { url: 'http://localhost:8080/x?y=1', expect: 'redirect 301' },
  ];
  for (const row of rows) {
    const e = explainRequest({ config, url: row.url, cert: row.cert ? certOf(row.cert) : null, sourceIp: row.ip });
    assert.equal(summary(e), row.expect, row.url + (row.cert ? ` with ${row.cert.certPath}` : ''));
    if (row.rule !== undefined) assert.equal(e.rule, row.rule, row.url);
    // the JSON shape always has the same keys
    assert.deepEqual(Object.keys(e), ['url', 'request', 'server', 'site', 'path', 'route', 'certificate', 'rule', 'outcome', 'warnings']);
  }
});

test('explain details: certificate, path, redirect, chain sent by the client', async () => {
  const f = await fixture();
  const config = parseConfigText(YAML, 'certgate.yaml', dir);
  const e = explainRequest({ config, url: 'https://app.example.com:8443/x/../admin/./a//b', cert: { file: 'mallory.crt', certs: certificatesFromFile(readFileSync(f.mallory.certPath), 'mallory.crt') } });
  assert.equal(e.path.normalized, '/admin/a/b');
  assert.equal(e.request.rawPath, '/x/../admin/./a//b');
  assert.equal(e.request.sni, 'app.example.com');
  assert.equal(e.certificate?.subject, 'CN=mallory,OU=ops,O=Acme');
  assert.equal(e.certificate?.verified, false);
  assert.match(e.certificate?.detail ?? '', /revoked by "CN=inter,O=certgate tests" \(keyCompromise\)/);
  assert.equal(e.route?.label, 'servers[0].sites[0].routes[1]');
  assert.equal(e.outcome.message, 'Your client certificate has been revoked. Ask your administrator for a new one.');

  const r = explainRequest({ config, url: 'http://localhost:8080/x?y=1', cert: null });
  assert.equal(r.outcome.location, 'https://localhost:8443/x?y=1');

  const bad = explainRequest({ config, url: 'https://localhost:8443/%zz', cert: null });
  assert.match(bad.path.error ?? '', /invalid %-escape/);

  // a PEM file with the leaf and its intermediate, as a client would send it
  const bundled = join(dir, 'alice-chain.pem');
  writeFileSync(bundled, f.alice.certPem + f.interPem);
  const certs = certificatesFromFile(readFileSync(bundled), bundled);
  assert.equal(certs.length, 2);
  const ok = explainRequest({ config, url: 'https://localhost:8443/admin', cert: { file: bundled, certs } });
  assert.equal(ok.certificate?.chain.length, 3);
  assert.equal(ok.outcome.action, 'proxy');
});

test('unusable input is a user error', () => {
  const config = parseConfigText(YAML, 'certgate.yaml', dir);
  const rows: Array<[string, string, RegExp]> = [
    ['https://localhost:9999/', '127.0.0.1', /no https server in the config listens on port 9999/],
    ['http://localhost:8443/', '127.0.0.1', /no http server .* port 8443/],
    ['ftp://localhost/', '127.0.0.1', /not an http:\/\/ or https:\/\/ URL/],
    ['https://u:p@localhost:8443/', '127.0.0.1', /user:password@/],
    ['https://localhost:8443/', 'not-an-ip', /--source-ip not-an-ip/],
  ];
  for (const [url, ip, message] of rows) {
    assert.throws(() => explainRequest({ config, url, cert: null, sourceIp: ip }), (err: unknown) => {
      assert.ok(isCertgateError(err) && err.code === 'CG_USAGE' && err.exitCode === 1);
      assert.match(err.message, message);
      return true;
    }, url);
  }
  assert.throws(() => certificatesFromFile(Buffer.from('hello'), 'x.crt'), (err: unknown) => isCertgateError(err) && err.code === 'CG_PKI_BAD_CERT');
});
