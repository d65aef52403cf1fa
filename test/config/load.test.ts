// Valid configs load and come back normalized: absolute paths, routes folded into sites, crl a list, defaults filled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, parseConfigText } from '../../src/config/load.ts';
import { isCertgateError } from '../../src/core/errors.ts';

const EXAMPLES = new URL('../../examples/', import.meta.url);

test('the example configs load', () => {
  for (const name of ['minimal.yaml', 'certgate.yaml']) {
    const config = loadConfigFile(new URL(name, EXAMPLES).pathname);
    assert.ok(config.servers.length >= 1, name);
    for (const server of config.servers) {
      assert.equal(server.routes, undefined, `${name}: routes folded into sites`);
      assert.ok(Array.isArray(server.sites));
      if (server.redirectToHttps === undefined && server.tcp === undefined) assert.ok(server.sites!.length > 0, `${name}: ${server.listen} has sites`);
    }
  }
});

test('the full example uses every top-level and server key', () => {
  const config = loadConfigFile(new URL('certgate.yaml', EXAMPLES).pathname);
  const used = new Set(config.servers.flatMap((s) => Object.keys(s)));
  for (const key of ['tls', 'clientAuth', 'securityHeaders', 'errorPage', 'redirectToHttps', 'allowPlainRemote', 'maxHeaderSize', 'timeouts', 'limits', 'sites', 'http2', 'tcp']) {
    assert.ok(used.has(key), `examples/certgate.yaml shows ${key}`);
  }
  assert.ok(config.metrics);
});

test('routes shorthand becomes one site with hosts ["*"]; crl a list; paths absolute against the config dir', () => {
  const config = parseConfigText(
    `servers:
  - listen: 127.0.0.1:8443
    tls: {cert: tls/server.crt, key: /abs/server.key}
    errorPage: ../pages/error.html
    clientAuth: {ca: ca.pem, crl: root.crl}
    routes:
      - path: /
        upstream: {url: "https://127.0.0.1:3443", tls: {ca: up/ca.pem, cert: up/c.crt, key: up/c.key}}
`,
    'certgate.yaml',
    '/etc/certgate',
  );
  const s = config.servers[0];
  assert.deepEqual(s.tls, { cert: '/etc/certgate/tls/server.crt', key: '/abs/server.key', minVersion: 'TLSv1.2', ocspStapling: 'auto' });
  assert.equal(s.errorPage, '/etc/pages/error.html');
  assert.deepEqual(s.clientAuth, { ca: '/etc/certgate/ca.pem', crl: ['/etc/certgate/root.crl'], crlRefresh: '30s', mode: 'verify', verifyDepth: 2, staleCrl: 'enforce' });
  assert.equal(s.sites!.length, 1);
  assert.deepEqual(s.sites![0].hosts, ['*']);
  const up = s.sites![0].routes[0].upstream;
  assert.ok(typeof up === 'object');
  assert.deepEqual(up.tls, { ca: '/etc/certgate/up/ca.pem', cert: '/etc/certgate/up/c.crt', key: '/etc/certgate/up/c.key', minVersion: 'TLSv1.2', insecureSkipVerify: false });
});

test('defaults are filled in', () => {
  const config = parseConfigText('servers: [{listen: "127.0.0.1:8080", routes: [{path: /, upstream: "http://127.0.0.1:3000"}]}]\n', 'c.yaml', '/');
  const s = config.servers[0];
  assert.deepEqual(config.log, { level: 'info', access: true, format: 'json' });
  assert.equal(s.http2, true);
  assert.equal(s.securityHeaders, true);
  assert.equal(s.maxHeaderSize, 16384);
  assert.deepEqual(s.timeouts, { header: '10s', idle: '60s', handshake: '10s', tunnelIdle: '1h', lifetime: '1h' });
  assert.deepEqual(s.limits, { connections: 10_000, http2Streams: 128, requestsPerConnection: 1000 });
  const r = s.sites![0].routes[0];
  assert.deepEqual([r.public, r.websocket, r.rewriteLocation, r.timeouts], [false, true, true, { connect: '5s', read: '90s' }]);
  assert.equal(s.clientAuth, undefined);
});

test('accepted forms: IPv6 listen, wildcard hosts, port 0 twice, loopback plain servers, aliases', () => {
  const config = parseConfigText(
    `servers:
  - listen: "[::1]:0"
    routes: [{path: /, upstream: "http://[::1]:3000"}]
  - listen: 127.0.0.1:0
    tls: {cert: a.crt, key: a.key}
    sites:
      - hosts: ["*.example.com", example.com, "::1", "[fe80::1]", 10.0.0.1]
        routes: &rs [{path: /api, upstream: "http://127.0.0.1:3000"}, {path: /api/v2, upstream: "https://127.0.0.1:3001"}]
      - hosts: ["*"]
        routes: *rs
  - listen: localhost:8081
    redirectToHttps: 443
`,
    'c.yaml',
    '/',
  );
  assert.equal(config.servers.length, 3);
  assert.deepEqual(config.servers[1].sites![1].routes.map((r) => r.path), ['/api', '/api/v2']);
  assert.deepEqual(config.servers[2].sites, []);
});

test('loadConfigFile: a missing file and a directory are user errors naming the path', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'certgate-load-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'conf.d'));
  for (const [path, code] of [[join(dir, 'nope.yaml'), 'CG_FILE_NOT_FOUND'], [join(dir, 'conf.d'), 'CG_FILE_UNREADABLE']] as const) {
    assert.throws(() => loadConfigFile(path), (err) => isCertgateError(err) && err.code === code && err.message.includes(path));
  }
  const file = join(dir, 'certgate.yaml');
  writeFileSync(file, 'servers:\n  - listen: 127.0.0.1:8443\n    tsl: {}\n');
  assert.throws(() => loadConfigFile(file), (err) => isCertgateError(err) && err.userLine().startsWith(`${file}:3:5: unknown key "tsl"`));
});

test('clientAuth.crl: URLs stay URLs, files and fallbacks become absolute; proxyProtocol and stateDir load', () => {
  const config = parseConfigText(`
servers:
  - listen: 127.0.0.1:8443
    tls: {cert: server.crt, key: server.key}
    clientAuth:
      ca: ca.pem
      crl: [root.crl, "http://pki.example.com/issuing/crl-bundle.pem", {url: "https://pki.example.com/b/crl.pem", fallback: b.crl}]
      crlRefresh: 10s
    proxyProtocol: {from: [10.0.0.5, 10.0.1.0/24]}
    routes: [{path: /, upstream: "http://127.0.0.1:3000"}]
stateDir: state
`, 'certgate.yaml', '/etc/certgate');
  const s = config.servers[0];
  assert.deepEqual(s.clientAuth!.crl, [
    '/etc/certgate/root.crl', 'http://pki.example.com/issuing/crl-bundle.pem', { url: 'https://pki.example.com/b/crl.pem', fallback: '/etc/certgate/b.crl' },
  ]);
  assert.equal(s.clientAuth!.crlRefresh, '10s');
  assert.deepEqual(s.proxyProtocol, { from: ['10.0.0.5', '10.0.1.0/24'], timeout: '5s' });
  assert.equal(config.stateDir, '/etc/certgate/state');
});

test('clientAuth.crl and proxyProtocol: a URL certgate cannot fetch and a bad CIDR are config errors', () => {
  const bad = (crl: string, proxy = '') => () => parseConfigText(`
servers:
  - listen: 127.0.0.1:8443
    tls: {cert: server.crt, key: server.key}
    clientAuth: {ca: ca.pem, crl: ${crl}}
${proxy}    routes: [{path: /, upstream: "http://127.0.0.1:3000"}]
`, 'certgate.yaml', '/etc/certgate');
  assert.throws(bad('"ftp://pki.example.com/crl.pem"'), /neither a file path nor an http\(s\) URL/);
  assert.throws(bad('[{url: "http://user:pw@pki.example.com/crl.pem"}]'), /without user info/);
  assert.throws(bad('[{url: "http://pki/crl.pem", fallback: a.crl, extra: 1}]'), /extra/);
  assert.throws(bad('root.crl', '    proxyProtocol: {from: [10.0.0.300]}\n'), /IP address or CIDR/);
  assert.doesNotThrow(bad('"http://pki.example.com/crl.pem"', '    proxyProtocol: {from: ["::1"]}\n'));
});

test('tcp: both upstream spellings normalize to {address, tls} with absolute paths; plain stays {address}', () => {
  const base = 'servers:\n  - listen: 127.0.0.1:5433\n    tcp:\n';
  const nested = parseConfigText(`${base}      upstream:\n        address: db.example.com:15432\n        tls: {ca: ca.pem, cert: app.crt, key: app.key, servername: db.internal}\n`, 'certgate.yaml', '/etc/cg');
  const legacy = parseConfigText(`${base}      upstream: db.example.com:15432\n      tls: {ca: ca.pem, cert: app.crt, key: app.key, servername: db.internal}\n`, 'certgate.yaml', '/etc/cg');
  const expected = {
    address: 'db.example.com:15432',
    tls: { ca: '/etc/cg/ca.pem', cert: '/etc/cg/app.crt', key: '/etc/cg/app.key', servername: 'db.internal', minVersion: 'TLSv1.2', insecureSkipVerify: false },
  };
  for (const config of [nested, legacy]) {
    assert.deepEqual(config.servers[0].tcp!.upstream, expected);
    assert.equal(config.servers[0].tcp!.tls, undefined);
  }
  const tls = 'tls: {cert: s.crt, key: s.key}\n    clientAuth: {ca: ca.pem}\n';
  const plain = parseConfigText(`servers:\n  - listen: 127.0.0.1:15432\n    ${tls}    tcp: {upstream: "127.0.0.1:5432"}\n`, 'certgate.yaml', '/etc/cg');
  assert.deepEqual(plain.servers[0].tcp!.upstream, { address: '127.0.0.1:5432' });
});
