// Route `upstream` as a mapping: a base path on the URL, `stripPrefix`, `host:` (else tls.servername, else the
// client's Host) and Location headers mapped back, end to end through a real gateway and upstreams; WebSocket too.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import type { TestCa } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import type { EchoUpstream, EchoReply } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { h1Request } from '../../helpers/tls-clients.ts';
import { fileScope } from '../../helpers/suite.ts';
import { parseConfigText } from '../../../src/config/load.ts';
import { CertgateError } from '../../../src/core/errors.ts';
import { explainRequest } from '../../../src/gateway/explain.ts';

const scope = fileScope();
let ca: TestCa;
let gw: TestGateway;
let plain: EchoUpstream;
let secure: EchoUpstream;

before(async () => {
  const dir = tempDir(scope, 'cg-upmap-');
  ca = await makeCa(scope, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const backend = await issueCert(ca, 'backend', { profile: 'server', dns: ['backend.internal'] });
  plain = await startEchoUpstream();
  scope.after(() => plain.close());
  secure = await startEchoUpstream({ tls: { cert: backend.certPem, key: backend.keyPem } });
  scope.after(() => secure.close());
  gw = await startGateway(scope, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    routes:
      - {path: /api, public: true, upstream: {url: "${plain.url}/app", stripPrefix: true}}
      - {path: /keep, public: true, upstream: {url: "${plain.url}/app"}}
      - {path: /r, public: true, upstream: {url: "${plain.url}", stripPrefix: true}}
      - {path: /hosted, public: true, upstream: {url: "${plain.url}", host: "backend.internal:8080"}}
      - {path: /named, public: true, upstream: {url: "${secure.url}/v1/", stripPrefix: true, tls: {ca: ${ca.certPath}, servername: backend.internal}}}
      - {path: /both, public: true, upstream: {url: "${secure.url}", host: other.internal, tls: {ca: ${ca.certPath}, servername: backend.internal}}}
`);
});

const creds = () => ({ ca: ca.ca.certPem });

async function seenFor(up: EchoUpstream, path: string, headers?: Record<string, string>): Promise<EchoReply> {
  const r = await h1Request(gw.port, path, creds(), { headers });
  assert.equal(r.status, 200, `${path}: ${r.body}`);
  return JSON.parse(r.body) as EchoReply;
}

test('base path and stripPrefix: join(B, stripPrefix ? P without R : P), query unchanged', async () => {
  const rows: Array<[string, string]> = [
    ['/api/x?y', '/app/x?y'],
    ['/api/x/?y=1&z=%2F', '/app/x/?y=1&z=%2F'],
    ['/api', '/app'],
    ['/api/', '/app/'],
    ['/keep/x?y', '/app/keep/x?y'],
    ['/keep', '/app/keep'],
    ['/r/x', '/x'],
    ['/r', '/'],
  ];
  for (const [path, expected] of rows) assert.equal((await seenFor(plain, path)).url, expected, path);
});

test('Host sent upstream: host:, else tls.servername, else the client\'s Host; X-Forwarded-Host stays the client\'s', async () => {
  const hosted = await seenFor(plain, '/hosted/x', { host: 'app.example.com' });
  assert.equal(hosted.headers.host, 'backend.internal:8080');
  assert.equal(hosted.headers['x-forwarded-host'], 'app.example.com');
  const named = await seenFor(secure, '/named/x?q', { host: 'app.example.com' });
  assert.equal(named.headers.host, 'backend.internal');
  assert.equal(named.url, '/v1/x?q');
  const both = await seenFor(secure, '/both/x', { host: 'app.example.com' });
  assert.equal(both.headers.host, 'other.internal');
  const client = await seenFor(plain, '/keep/x', { host: 'app.example.com' });
  assert.equal(client.headers.host, 'app.example.com');
});

test('Location headers are mapped back to the public path', async () => {
  const port = plain.port;
  const rows: Array<[string, string]> = [
    // path-absolute, through a stripped prefix: /redirect?to=/x is sent as /redirect, its /x comes back as /r/x
    [`/r/redirect?to=${encodeURIComponent('/x?a=1')}`, '/r/x?a=1'],
    [`/r/redirect?to=${encodeURIComponent(`http://127.0.0.1:${port}/deep/y`)}`, `https://localhost/r/deep/y`],
  ];
  for (const [path, expected] of rows) {
    const r = await h1Request(gw.port, path, creds(), { headers: { host: 'localhost' } });
    assert.equal(r.status, 302, path);
    assert.equal(r.headers.location, expected, path);
  }
});

test('WebSocket upgrades take the same path and Host', async () => {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: gw.port, servername: 'localhost', ca: ca.ca.certPem, ALPNProtocols: ['http/1.1'] }, () => resolve(s));
    s.on('error', reject);
  });
  scope.after(() => void socket.destroy());
  socket.setTimeout(10_000, () => socket.destroy());
  const before = plain.seen.length;
  socket.write(`GET /api/ws?t=1 HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`);
  const head = await new Promise<string>((resolve) => {
    let acc = '';
    socket.on('data', (d) => {
      acc += d.toString('latin1');
      if (acc.includes('\r\n\r\n')) resolve(acc);
    });
    socket.on('close', () => resolve(acc));
  });
  assert.match(head, /^HTTP\/1\.1 101/);
  assert.equal(plain.seen[before]?.url, '/app/ws?t=1');
  socket.destroy();
});

function configError(url: string): CertgateError {
  try {
    parseConfigText(`servers:\n  - listen: 127.0.0.1:8080\n    routes:\n      - path: /\n        upstream: "${url}"\n`, '/tmp/x.yaml', '/tmp');
  } catch (err) {
    return err as CertgateError;
  }
  assert.fail(`${url} was accepted`);
}

test('the schema takes a plain base path and refuses queries, fragments and unnormalized paths with a hint', () => {
  for (const url of ['http://127.0.0.1:3000/app', 'https://api.internal/app/v1/', 'http://u/']) {
    parseConfigText(`servers:\n  - listen: 127.0.0.1:8080\n    routes:\n      - path: /\n        upstream: "${url}"\n`, '/tmp/x.yaml', '/tmp');
  }
  const rows: Array<[string, RegExp]> = [
    ['http://u/app?x=1', /no query or fragment/],
    ['http://u/app#f', /no query or fragment/],
    ['http://u/a/../b', /plain base path/],
    ['http://u//app', /plain base path/],
    ['http://u/a%2Fb', /plain base path/],
  ];
  for (const [url, hint] of rows) {
    const e = configError(url);
    assert.equal(e.code, 'CG_CONFIG_INVALID', url);
    assert.match(`${e.message} ${(e as { hint?: string }).hint ?? ''}`, hint, url);
  }
});

test('explain names the upstream path the request handler sends', () => {
  const config = parseConfigText(`servers:
  - listen: 127.0.0.1:8080
    routes:
      - {path: /api, public: true, upstream: {url: "http://u:3000/app", stripPrefix: true}}
      - {path: /keep, public: true, upstream: "http://u:3000/app/"}
`, '/tmp/x.yaml', '/tmp');
  const rows: Array<[string, string]> = [
    ['http://127.0.0.1:8080/api/x?y', 'http://u:3000/app/x?y'],
    ['http://127.0.0.1:8080/keep/x', 'http://u:3000/app/keep/x'],
  ];
  for (const [url, expected] of rows) assert.equal(explainRequest({ config, url, cert: null }).outcome.location, expected, url);
});
