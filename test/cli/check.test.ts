// `certgate check` end to end: the real CLI on real files; findings on stdout, one line on stderr, exit 0/1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { TlsFiles } from '../helpers/tls-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'certgate-check-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const files = new TlsFiles(dir);

test.before(async () => {
  await files.ca('root');
  await files.ca('inter', 'root');
  await files.leaf('server', 'inter', 'serverAuth', 'DNS:localhost');
  await files.leaf('other', 'inter', 'serverAuth', 'DNS:other.example.com');
  const read = (n: string) => readFileSync(join(dir, n), 'utf8');
  writeFileSync(join(dir, 'chain.pem'), read('server.crt') + read('inter.crt'));
  writeFileSync(join(dir, 'clients-ca.pem'), read('root.crt') + read('inter.crt'));
  await files.crl('root', 'root.crl');
  await files.crl('inter', 'inter.crl');
  const day = 86_400_000;
  await files.crl('inter', 'inter-stale.crl', { thisUpdate: new Date(Date.now() - 3 * day), nextUpdate: new Date(Date.now() - day) });
});

const GOOD = `servers:
  - listen: 127.0.0.1:8443
    tls: {cert: chain.pem, key: server.key}
    clientAuth: {ca: clients-ca.pem}
    sites:
      - hosts: [localhost]
        routes: [{path: /, upstream: "http://127.0.0.1:3000"}]
`;

function writeConfig(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

test('a good config: exit 0 and a summary', async () => {
  writeConfig('good.yaml', GOOD);
  const r = await runCli(['check', '-c', 'good.yaml'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.stdout, 'good.yaml: OK (1 server, 1 site, 1 route)\n');
  assert.equal(r.stderr, '');
});

test('default ./certgate.yaml, then $CERTGATE_CONFIG', async () => {
  writeConfig('certgate.yaml', GOOD);
  let r = await runCli(['check'], { cwd: dir, env: { CERTGATE_CONFIG: '' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^certgate\.yaml: OK/);
  writeConfig('env.yaml', GOOD);
  r = await runCli(['check'], { cwd: dir, env: { CERTGATE_CONFIG: join(dir, 'env.yaml') } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^env\.yaml: OK/);
});

test('a typo: exit 1, every problem with file:line:column on stdout, one line on stderr', async () => {
  writeConfig('typo.yaml', GOOD.replace('    clientAuth:', '    clientAuht:').replace('listen: 127.0.0.1:8443', 'listen: 8443'));
  const r = await runCli(['check', '-c', 'typo.yaml'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.deepEqual(r.stdout.trimEnd().split('\n'), [
    'error: typo.yaml:2:13: servers[0].listen: expected host:port, e.g. 127.0.0.1:8443 or [::1]:8443, got the number 8443 (write "127.0.0.1:8443" for this machine only, or "0.0.0.0:8443" for every interface)',
    'error: typo.yaml:4:5: unknown key "clientAuht" in servers[0] (did you mean "clientAuth"? allowed here: listen, tls, http2, clientAuth, securityHeaders, errorPage, redirectToHttps, allowPlainRemote, maxHeaderSize, timeouts, limits, sites, routes, tcp, proxyProtocol, trustIdentityHeadersFrom)',
  ]);
  assert.equal(r.stderr, 'certgate: typo.yaml: 2 errors in the config; the files it names were not checked\n');
});

test('a key that does not match: exit 1, the key file named', async () => {
  writeConfig('mismatch.yaml', GOOD.replace('key: server.key', 'key: other.key'));
  const r = await runCli(['check', '-c', 'mismatch.yaml'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^error: other\.key: key of server certificate of servers\[0\] \(127\.0\.0\.1:8443\): does not belong to the certificate in .*chain\.pem \(CN=server\)$/m);
  assert.equal(r.stderr, 'certgate: mismatch.yaml: 1 error\n');
});

test('CRLs covering every CA: exit 0', async () => {
  writeConfig('crl.yaml', GOOD.replace('clientAuth: {ca: clients-ca.pem}', 'clientAuth: {ca: clients-ca.pem, crl: [root.crl, inter.crl]}'));
  const r = await runCli(['check', '-c', 'crl.yaml'], { cwd: dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^crl\.yaml: OK/);
});

test('a CA without a CRL: exit 1, the CA named', async () => {
  writeConfig('nocrl.yaml', GOOD.replace('clientAuth: {ca: clients-ca.pem}', 'clientAuth: {ca: clients-ca.pem, crl: inter.crl}'));
  const r = await runCli(['check', '-c', 'nocrl.yaml'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^error: clients-ca\.pem: clientAuth of servers\[0\] \(127\.0\.0\.1:8443\): CRLs are configured, but the CA "CN=root" has none/m);
  assert.equal(r.stderr, 'certgate: nocrl.yaml: 1 error\n');
});

test('a stale CRL: a warning (exit 0); staleCrl decides what the gateway does with it', async () => {
  writeConfig('stale.yaml', GOOD.replace('clientAuth: {ca: clients-ca.pem}', 'clientAuth: {ca: clients-ca.pem, crl: [root.crl, inter-stale.crl]}'));
  const r = await runCli(['check', '-c', 'stale.yaml'], { cwd: dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^warning: inter-stale\.crl: clientAuth of .*: CRL .*inter-stale\.crl of "CN=inter" is out of date since .*staleCrl: enforce/m);
});

test('warnings alone: exit 0, warnings counted', async () => {
  writeConfig('warn.yaml', GOOD.replace('hosts: [localhost]', 'hosts: [localhost, app.example.com]'));
  const r = await runCli(['check', '-c', 'warn.yaml'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^warning: chain\.pem: server certificate of .*: app\.example\.com is not among the certificate's names \(DNS:localhost\)/m);
  assert.match(r.stdout, /^warn\.yaml: OK \(1 server, 1 site, 1 route; 1 warning\)$/m);
});

test('--json for scripts', async () => {
  writeConfig('mismatch.yaml', GOOD.replace('key: server.key', 'key: other.key'));
  const r = await runCli(['check', '-c', 'mismatch.yaml', '--json'], { cwd: dir });
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout);
  assert.equal(out.ok, false);
  assert.equal(out.errors, 1);
  assert.equal(out.findings[0].code, 'CG_CONFIG_TLS');
  assert.equal(out.findings[0].file, join(dir, 'other.key'));
});

test('--json with config problems gives line and column', async () => {
  writeConfig('typo.yaml', GOOD.replace('    clientAuth:', '    clientAuht:'));
  const r = await runCli(['check', '-c', 'typo.yaml', '--json'], { cwd: dir });
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.findings.map((f: { file: string; line: number; column: number; code: string }) => [f.file, f.line, f.column, f.code]), [
    [join(dir, 'typo.yaml'), 4, 5, 'CG_CONFIG_UNKNOWN_KEY'],
  ]);
});

test('a missing config file: exit 1 with what to do', async () => {
  const r = await runCli(['check', '-c', 'nope.yaml'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^certgate: config file nope\.yaml not found \(pass -c FILE, set CERTGATE_CONFIG/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('help shows usage, examples and exit codes', async () => {
  const r = await runCli(['check', '--help']);
  assert.equal(r.code, 0);
  for (const part of ['Usage: certgate check', 'Examples:', 'Exit codes:']) assert.ok(r.stdout.includes(part), part);
});

test('tcp servers are listed (direction, upstream, policy) and their upstream TLS files are checked', async () => {
  const tcp = `servers:
  - listen: 127.0.0.1:15432
    tls: {cert: chain.pem, key: server.key}
    clientAuth: {ca: clients-ca.pem, mode: require}
    tcp:
      upstream: 127.0.0.1:5432
      allow: [{cn: app-server}]
  - listen: 127.0.0.1:5433
    tcp:
      upstream: {address: db.example.com:15432, tls: {ca: clients-ca.pem, cert: other.crt, key: other.key, servername: db.internal}}
`;
  writeConfig('tcp.yaml', tcp);
  let r = await runCli(['check', '-c', 'tcp.yaml'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'tcp 127.0.0.1:15432: server direction -> 127.0.0.1:5432 (plain TCP); client certificate from clients-ca.pem (require); allow: {cn: app-server}; deny: none',
    'tcp 127.0.0.1:5433: client direction -> db.example.com:15432 (TLS, verified as db.internal against clients-ca.pem, presenting other.crt); plain connections from this machine (loopback)',
    'tcp.yaml: OK (2 servers, 0 sites, 0 routes, 2 tcp tunnels)',
  ]);
  // the same preflight as routes' upstreams: a key that does not belong to the certificate
  writeConfig('tcp-bad.yaml', tcp.replace('key: other.key', 'key: server.key'));
  r = await runCli(['check', '-c', 'tcp-bad.yaml', '--json'], { cwd: dir });
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout);
  assert.match(out.findings[0].message, /client key for tcp upstream db\.example\.com:15432 of servers\[1\] \(127\.0\.0\.1:5433\): does not belong to the certificate/);
  assert.deepEqual(out.tcp.map((x: { direction: string }) => x.direction), ['server', 'client']);
});
