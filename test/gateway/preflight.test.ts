// Preflight on real files made by the openssl CLI: pairs, expiry, chain order, purpose, host names, CA bundles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { TlsFiles } from '../helpers/tls-files.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { preflight } from '../../src/gateway/preflight.ts';
import type { Finding } from '../../src/gateway/preflight.ts';

const dir = mkdtempSync(join(tmpdir(), 'certgate-preflight-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const files = new TlsFiles(dir);
const ossl = (...args: string[]) => files.openssl(...args);
const makeCa = (name: string, issuer?: string) => files.ca(name, issuer);
const makeLeaf = (name: string, issuer: string, eku: 'serverAuth' | 'clientAuth', san: string) => files.leaf(name, issuer, eku, san);

const read = (name: string) => readFileSync(join(dir, name), 'utf8');
const DAY = 86_400_000;

test.before(async () => {
  await makeCa('root');
  await makeCa('inter', 'root');
  await makeLeaf('server', 'inter', 'serverAuth', 'DNS:localhost,DNS:app.example.com,IP:127.0.0.1');
  await makeLeaf('other', 'inter', 'serverAuth', 'DNS:other.example.com');
  await makeLeaf('client', 'inter', 'clientAuth', 'email:alice@example.com');
  writeFileSync(join(dir, 'chain.pem'), read('server.crt') + read('inter.crt'));
  await files.leaf('ocsp', 'inter', 'serverAuth', 'DNS:localhost,DNS:app.example.com', 'authorityInfoAccess=OCSP;URI:http://127.0.0.1:9');
  writeFileSync(join(dir, 'ocsp-chain.pem'), read('ocsp.crt') + read('inter.crt'));
  writeFileSync(join(dir, 'chain-reversed.pem'), read('inter.crt') + read('server.crt'));
  writeFileSync(join(dir, 'chain-gap.pem'), read('server.crt') + read('root.crt'));
  writeFileSync(join(dir, 'clients-ca.pem'), read('root.crt') + read('inter.crt'));
  writeFileSync(join(dir, 'not-a-ca.pem'), read('client.crt'));
  writeFileSync(join(dir, 'error.html'), '<h1>{{status}}</h1>');
  await ossl('pkey', '-in', 'server.key', '-out', 'server-enc.key', '-aes256', '-passout', 'pass:secret-test-only');
  await ossl('x509', '-in', 'server.crt', '-outform', 'der', '-out', 'server.der');
  await makeCa('stranger');
  await files.crl('root', 'root.crl');
  await files.crl('inter', 'inter.crl');
  await files.crl('stranger', 'stranger.crl');
  await files.crl('inter', 'inter-stale.crl', { thisUpdate: new Date(Date.now() - 3 * DAY), nextUpdate: new Date(Date.now() - DAY) });
  writeFileSync(join(dir, 'garbage.crl'), '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
  writeFileSync(join(dir, 'loose.key'), read('server.key'));
  chmodSync(join(dir, 'loose.key'), 0o644);
});

function config(server: string, extra = ''): string {
  return `servers:\n  - listen: 127.0.0.1:8443\n${server}${extra}`;
}
const ROUTES = '    sites:\n      - hosts: [localhost, app.example.com]\n        routes: [{path: /, upstream: "http://127.0.0.1:3000"}]\n';
const TLS = (cert = 'chain.pem', key = 'server.key') => `    tls: {cert: ${cert}, key: ${key}}\n`;
const AUTH = (ca = 'clients-ca.pem') => `    clientAuth: {ca: ${ca}}\n`;
const CRL = (crl: string) => `    clientAuth: {ca: clients-ca.pem, crl: ${crl}}\n`;

function run(yaml: string, now?: Date): Finding[] {
  return preflight(parseConfigText(yaml, 'certgate.yaml', dir), now);
}
const render = (fs: Finding[]) => fs.map((f) => `${f.level} ${f.file ? f.file.slice(dir.length + 1) : '-'}: ${f.message}`);

test('a good config has no findings', () => {
  assert.deepEqual(render(run(config(TLS() + AUTH() + ROUTES))), []);
});

interface Case {
  name: string;
  yaml: string;
  /** Evaluated when the test runs, after the certificates exist. */
  now?: () => Date;
  expect: Array<[Finding['level'], string, RegExp]>;
}

const inDays = (d: number) => () => new Date(Date.now() + d * DAY);
/** `d` days (and a half, to stay clear of rounding) before the server certificate ends. */
const beforeEnd = (d: number) => () => new Date(new X509Certificate(read('server.crt')).validToDate.getTime() - (d + 0.5) * DAY);

const CASES: Case[] = [
  { name: 'key of another certificate', yaml: config(TLS('chain.pem', 'other.key') + AUTH() + ROUTES),
    expect: [['error', 'other.key', /does not belong to the certificate in .*chain\.pem \(CN=server\)/]] },
  { name: 'missing certificate file', yaml: config(TLS('nope.crt') + AUTH() + ROUTES),
    expect: [['error', 'nope.crt', /server certificate of servers\[0\] \(127\.0\.0\.1:8443\): the file does not exist/]] },
  { name: 'DER instead of PEM', yaml: config(TLS('server.der') + AUTH() + ROUTES),
    expect: [['error', 'server.der', /the file is DER; certgate reads PEM/]] },
  { name: 'encrypted key', yaml: config(TLS('chain.pem', 'server-enc.key') + AUTH() + ROUTES),
    expect: [['error', 'server-enc.key', /the key is encrypted/]] },
  { name: 'key readable by others', yaml: config(TLS('chain.pem', 'loose.key') + AUTH() + ROUTES),
    expect: [['warn', 'loose.key', /readable by group or others; chmod 600/]] },
  { name: 'chain in the wrong order', yaml: config(TLS('chain-reversed.pem') + AUTH() + ROUTES),
    expect: [['error', 'chain-reversed.pem', /the chain is out of order: the server certificate \(CN=server\) is certificate 2 of 2; put it first/]] },
  { name: 'only CA certificates', yaml: config(TLS('clients-ca.pem', 'server.key') + AUTH() + ROUTES),
    expect: [['error', 'clients-ca.pem', /holds only CA certificates \(CN=root; CN=inter\); put the server's own certificate first/]] },
  { name: 'chain with a gap', yaml: config(TLS('chain-gap.pem') + AUTH() + ROUTES),
    expect: [['error', 'chain-gap.pem', /certificate 2 \(CN=root\) did not issue certificate 1 \(CN=server\)/]] },
  { name: 'client certificate used as server certificate', yaml: config(TLS('client.crt', 'client.key') + AUTH() + ROUTES),
    expect: [
      ['error', 'client.crt', /CN=client is not a server certificate \(its extended key usage lacks serverAuth\)/],
      ['warn', 'client.crt', /localhost, app\.example\.com are not among the certificate's names \(email:alice@example\.com\)/],
    ] },
  { name: 'site host not in the certificate', yaml: config(TLS() + '    sites:\n      - hosts: [app.example.com, "*.example.com", "127.0.0.1", nope.example.org]\n        routes: [{path: /, upstream: "http://127.0.0.1:3000"}]\n'),
    expect: [
      ['warn', 'chain.pem', /\*\.example\.com, nope\.example\.org are not among the certificate's names/],
      ['warn', undefined as unknown as string, /route \/ on app\.example\.com needs a client certificate, but servers\[0\] \(127\.0\.0\.1:8443\) asks for none/],
    ] },
  { name: 'expired server certificate', yaml: config(TLS() + AUTH() + ROUTES), now: inDays(500),
    expect: [['error', 'chain.pem', /server certificate of servers\[0\] \(127\.0\.0\.1:8443\): CN=server expired on \d{4}-\d\d-\d\d/]] },
  { name: 'server certificate expiring soon', yaml: config(TLS() + AUTH() + ROUTES), now: beforeEnd(9),
    expect: [['warn', 'chain.pem', /CN=server expires in 9 days/]] },
  { name: 'server certificate not yet valid', yaml: config(TLS() + AUTH() + ROUTES), now: inDays(-2),
    expect: [
      ['error', 'chain.pem', /CN=server is not valid until/],
      ['error', 'chain.pem', /chain certificate 2: CN=inter is not valid until/],
      ['error', 'clients-ca.pem', /client CA bundle of servers\[0\] \(127\.0\.0\.1:8443\): CN=root is not valid until/],
      ['error', 'clients-ca.pem', /CN=inter is not valid until/],
    ] },
  { name: 'client certificate in the client CA bundle', yaml: config(TLS() + AUTH('not-a-ca.pem') + ROUTES),
    expect: [['error', 'not-a-ca.pem', /CN=client is not a CA certificate/]] },
  { name: 'missing error page and CRL', yaml: config(TLS() + '    clientAuth: {ca: clients-ca.pem, crl: none.crl}\n    errorPage: missing.html\n' + ROUTES),
    expect: [
      ['error', 'none.crl', /CRL of servers\[0\] .*: the file does not exist/],
      ['error', 'missing.html', /error page of servers\[0\] .*: the file does not exist/],
    ] },
  { name: 'CRLs for every CA', yaml: config(TLS() + CRL('[root.crl, inter.crl]') + ROUTES), expect: [] },
  { name: 'a CA without a CRL', yaml: config(TLS() + CRL('inter.crl') + ROUTES),
    expect: [['error', 'clients-ca.pem', /CRLs are configured, but the CA "CN=root" has none, so every client certificate it issued would be refused; add its CRL/]] },
  { name: 'a stale CRL', yaml: config(TLS() + CRL('[root.crl, inter-stale.crl]') + ROUTES),
    expect: [['warn', 'inter-stale.crl', /CRL .*inter-stale\.crl of "CN=inter" is out of date since .*; publish a fresh CRL .*\(its revocations stay enforced meanwhile \(staleCrl: enforce\)\)/]] },
  { name: 'a CRL that goes stale later', yaml: config(TLS() + CRL('[root.crl, inter.crl]') + ROUTES), now: inDays(2),
    expect: [
      ['warn', 'root.crl', /CRL .*root\.crl of "CN=root" is out of date/],
      ['warn', 'inter.crl', /CRL .*inter\.crl of "CN=inter" is out of date/],
    ] },
  { name: 'a stale CRL with staleCrl: refuse', yaml: config(TLS() + '    clientAuth: {ca: clients-ca.pem, crl: [root.crl, inter-stale.crl], staleCrl: refuse}\n' + ROUTES),
    expect: [['warn', 'inter-stale.crl', /every client under that CA is refused until a fresh CRL is in place/]] },
  { name: 'a CRL from a CA outside the bundle', yaml: config(TLS() + CRL('[root.crl, inter.crl, stranger.crl]') + ROUTES),
    expect: [['error', 'stranger.crl', /CRL file .*stranger\.crl is issued by "CN=stranger", which is not a CA in clientAuth\.ca/]] },
  { name: 'a CRL that does not parse', yaml: config(TLS() + CRL('[root.crl, garbage.crl]') + ROUTES),
    expect: [['error', 'garbage.crl', /garbage\.crl does not parse as a CRL/]] },
  { name: 'public route behind clientAuth require', yaml: config(TLS() + '    clientAuth: {ca: clients-ca.pem, mode: require}\n    routes: [{path: /health, upstream: "http://127.0.0.1:3000", public: true}]\n'),
    expect: [['warn', undefined as unknown as string, /route \/health is public, but clientAuth mode require/]] },
  { name: 'upstream client key mismatch', yaml: config(TLS() + AUTH() + '    routes:\n      - path: /\n        upstream: {url: "https://127.0.0.1:3443", tls: {ca: clients-ca.pem, cert: client.crt, key: other.key}}\n'),
    expect: [['error', 'other.key', /client key for upstream https:\/\/127\.0\.0\.1:3443 of .*: does not belong to the certificate/]] },
  { name: 'a certificate naming an OCSP responder without its issuer in the file', yaml: config(TLS('ocsp.crt', 'ocsp.key') + AUTH() + ROUTES),
    expect: [['warn', 'ocsp.crt', /names an OCSP responder but cannot be stapled: the file does not contain the issuing CA certificate/]] },
  { name: 'a certificate naming an OCSP responder, issuer included', yaml: config(TLS('ocsp-chain.pem', 'ocsp.key') + AUTH() + ROUTES), expect: [] },
  { name: 'a certificate naming an OCSP responder without its issuer, stapling off', yaml: config('    tls: {cert: ocsp.crt, key: ocsp.key, ocspStapling: off}\n' + AUTH() + ROUTES), expect: [] },
  { name: 'upstream with insecureSkipVerify', yaml: config(TLS() + AUTH() + '    routes:\n      - path: /\n        upstream: {url: "https://127.0.0.1:3443", tls: {insecureSkipVerify: true}}\n'),
    expect: [['warn', undefined as unknown as string, /^INSECURE: upstream https:\/\/127\.0\.0\.1:3443 of .* is NOT verified/]] },
];

for (const c of CASES) {
  test(`preflight: ${c.name}`, () => {
    const findings = run(c.yaml, c.now?.());
    assert.equal(findings.length, c.expect.length, render(findings).join('\n'));
    c.expect.forEach(([level, file, message], i) => {
      const f = findings[i];
      assert.equal(f.level, level, render(findings).join('\n'));
      assert.equal(f.file, file === undefined ? undefined : join(dir, file));
      assert.match(f.message, message);
      if (level === 'error') assert.ok(f.code === 'CG_CONFIG_TLS' || f.code === 'CG_CONFIG_FILE');
    });
  });
}

test('a bad pair used by two servers is reported for each, naming the server', () => {
  const yaml = config(TLS('chain.pem', 'other.key') + AUTH() + ROUTES) + `  - listen: 127.0.0.1:9443\n${TLS('chain.pem', 'other.key')}${AUTH()}${ROUTES}`;
  const errors = run(yaml).filter((f) => f.level === 'error').map((f) => f.message);
  assert.equal(errors.length, 2);
  assert.match(errors[0], /servers\[0\] \(127\.0\.0\.1:8443\)/);
  assert.match(errors[1], /servers\[1\] \(127\.0\.0\.1:9443\)/);
});
