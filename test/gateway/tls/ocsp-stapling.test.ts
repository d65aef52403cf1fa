// OCSP stapling end to end: `openssl ocsp` as the responder on loopback, a real gateway, `openssl s_client -status`
// as the client. Good status stapled (TLS 1.2 and 1.3, HTTP and TCP listeners), revoked never stapled, responder down,
// a restart stapling from the cached file, `off`, an unrelated signer refused, reload without a refetch, and
// responders that hang, fail or flood.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '../../helpers/pki.ts';
import type { Cleanup } from '../../helpers/pki.ts';
import { opensslLeaf, opensslRevoke, opensslRootCa } from '../../helpers/openssl-certs.ts';
import type { OsslCa, OsslCert } from '../../helpers/openssl-certs.ts';
import { freePort } from '../../helpers/nginx.ts';
import { startGateway, reloadGateway } from '../../helpers/gateway.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { sClient } from '../../helpers/tls-clients.ts';
import { waitFor, sample } from '../../helpers/sockets.ts';
import type { GatewayMetrics } from '../../../src/observability/metrics.ts';
import { createMetrics } from '../../../src/observability/metrics.ts';
import { createLogger } from '../../../src/observability/logger.ts';
import { OcspStapler } from '../../../src/gateway/tls/ocsp-stapling.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';

interface Responder {
  /** Requests the responder has received so far. */
  requests(): number;
  stop(): Promise<void>;
}

/**
 * Runs `openssl ocsp` as the responder for `ca`'s database, signing with `signer` (the CA itself unless told), until
 * the test ends. OpenSSL 3.0's -port takes a port number only (it binds every address); requests come over loopback.
 * Readiness is read from its output, not probed: a connection closed without a request hangs its one-at-a-time loop.
 */
async function startResponder(t: Cleanup, ca: OsslCa, port: number, signer: { certPath: string; keyPath: string } = ca): Promise<Responder> {
  const child: ChildProcess = spawn('openssl', ['ocsp', '-index', join(ca.dir, 'index.txt'), '-port', String(port), '-CA', ca.certPath,
    '-rsigner', signer.certPath, '-rkey', signer.keyPath, '-nmin', '30', '-ignore_err'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  t.after(stop);
  assert.ok(await waitFor(() => output.includes('waiting for OCSP client connections'), 10_000), `openssl ocsp did not listen on ${port}: ${output}`);
  return { requests: () => output.split('Received request').length - 1, stop };
}

interface Setup {
  dir: string;
  ca: OsslCa;
  port: number;
  /** A server certificate naming the responder, with the CA after it in `chainPath`. */
  server: OsslCert & { chainPath: string };
}

async function setup(t: Cleanup, name = 'server'): Promise<Setup> {
  const dir = tempDir(t, 'cg-ocsp-');
  const ca = await opensslRootCa(dir, 'ca');
  const port = await freePort();
  const leaf = await opensslLeaf(ca, { name, subj: `/CN=${name}.localhost`, eku: 'serverAuth', san: 'DNS:localhost,IP:127.0.0.1', aia: `OCSP;URI:http://127.0.0.1:${port}` });
  const chainPath = join(dir, `${name}-chain.pem`);
  writeFileSync(chainPath, leaf.certPem + ca.certPem);
  return { dir, ca, port, server: { ...leaf, chainPath } };
}

async function gateway(t: Cleanup, s: Setup, tlsExtra = ''): Promise<TestGateway> {
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  return startGateway(t, s.dir, gatewayYaml(s, upstream.url, tlsExtra));
}

function gatewayYaml(s: Setup, upstreamUrl: string, tlsExtra = ''): string {
  return `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${s.server.chainPath}, key: ${s.server.keyPath}${tlsExtra}}
    routes: [{path: /, upstream: "${upstreamUrl}"}]
`;
}

async function until(gw: TestGateway, event: string, count = 1): Promise<Record<string, unknown>> {
  assert.ok(await waitFor(() => gw.events(event).length >= count, 15_000), `no ${event} log line; events: ${gw.logs.map((l) => l.event).join(', ')}`);
  return gw.events(event)[count - 1];
}

async function status(port: number, ca: OsslCa, extra: string[] = []): Promise<string> {
  const r = await sClient(port, ['-status', '-CAfile', ca.certPath, ...extra]);
  return r.stdout + r.stderr;
}

/** The value of certgate_ocsp_staple for `status` (its other label, subject, comes first in the exposition). */
async function stapleGauge(metrics: GatewayMetrics, status: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const m = new RegExp(`^certgate_ocsp_staple\\{subject="[^"]*",status="${status}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const STAPLED = /OCSP Response Status: successful[\s\S]*Cert Status: good/;
const NOT_STAPLED = /OCSP response: no response sent/;

test('a good status is fetched, verified, cached next to the certificate and stapled (TLS 1.2 and 1.3)', async (t) => {
  const s = await setup(t);
  await startResponder(t, s.ca, s.port);
  const gw = await gateway(t, s);
  const line = await until(gw, 'ocsp.stapled');
  assert.equal(line.from, 'responder');
  for (const version of ['-tls1_3', '-tls1_2']) {
    const out = await status(gw.port, s.ca, [version]);
    assert.match(out, STAPLED, version);
    assert.match(out, /Verify return code: 0 \(ok\)/, version);
  }
  assert.ok(existsSync(`${s.server.chainPath}.ocsp`), 'the response is cached in <cert>.ocsp');
  assert.equal(await stapleGauge(gw.metrics, 'good'), 1);
  // a client that does not ask for status gets none, and the handshake is the same
  const plain = await sClient(gw.port, ['-CAfile', s.ca.certPath]);
  assert.doesNotMatch(plain.stdout, /OCSP Response Status/);
  assert.match(plain.stdout, /Verify return code: 0 \(ok\)/);
});

test('a TCP-mode listener staples too', async (t) => {
  const s = await setup(t);
  await startResponder(t, s.ca, s.port);
  const gw = await startGateway(t, s.dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${s.server.chainPath}, key: ${s.server.keyPath}}
    clientAuth: {ca: ${s.ca.certPath}, mode: verify}
    tcp: {upstream: "127.0.0.1:9"}
`);
  await until(gw, 'ocsp.stapled');
  assert.match(await status(gw.port, s.ca), STAPLED);
});

test('a revoked certificate is never stapled and is logged as an error', async (t) => {
  const s = await setup(t);
  await opensslRevoke(s.ca, s.server);
  await startResponder(t, s.ca, s.port);
  const gw = await gateway(t, s);
  const line = await until(gw, 'ocsp.revoked');
  assert.equal(line.level, 'error');
  const out = await status(gw.port, s.ca);
  assert.match(out, NOT_STAPLED);
  assert.doesNotMatch(out, /Cert Status: revoked/);
  assert.equal(existsSync(`${s.server.chainPath}.ocsp`), false, 'a revoked status is not cached');
  assert.equal(await stapleGauge(gw.metrics, 'revoked'), 1);
});

test('with the responder down the handshake goes on without a staple, logged and counted', async (t) => {
  const s = await setup(t);
  const gw = await gateway(t, s); // nothing listens on s.port
  const line = await until(gw, 'ocsp.fetch_failed');
  assert.equal(line.reason, 'unreachable');
  assert.ok(Number(line.retry_in_s) > 0);
  const out = await status(gw.port, s.ca);
  assert.match(out, NOT_STAPLED);
  assert.match(out, /Verify return code: 0 \(ok\)/);
  assert.ok(await sample(gw.metrics, 'certgate_ocsp_fetch_errors_total', 'reason="unreachable"') >= 1);
  assert.equal(await stapleGauge(gw.metrics, 'none'), 1);
  // stop() closes the stapler: its retry timer and its gauge source go with it
  await gw.gateway.stop(500);
  assert.equal(gw.metrics.ocspSources.size, 0);
  assert.doesNotMatch(await gw.metrics.registry.metrics(), /^certgate_ocsp_staple\{/m);
});

test('a restart staples at once from the cached file, with the responder gone', async (t) => {
  const s = await setup(t);
  const responder = await startResponder(t, s.ca, s.port);
  const first = await gateway(t, s);
  await until(first, 'ocsp.stapled');
  await first.gateway.stop(500);
  await responder.stop();
  const second = await gateway(t, s);
  const line = await until(second, 'ocsp.stapled');
  assert.equal(line.from, 'cache');
  assert.match(await status(second.port, s.ca), STAPLED);
  assert.equal(second.events('ocsp.fetch_failed').length, 0, 'nothing fetched: the cached response is fresh');
});

test('a cached file that does not verify is not stapled', async (t) => {
  const s = await setup(t);
  writeFileSync(`${s.server.chainPath}.ocsp`, Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01]));
  const gw = await gateway(t, s); // responder down
  const refused = await until(gw, 'ocsp.cache_refused');
  assert.equal(refused.reason, 'not_successful');
  await until(gw, 'ocsp.fetch_failed');
  assert.match(await status(gw.port, s.ca), NOT_STAPLED);
});

test('ocspStapling: off never fetches nor staples', async (t) => {
  const s = await setup(t);
  const responder = await startResponder(t, s.ca, s.port);
  const gw = await gateway(t, s, ', ocspStapling: off');
  // give a fetch, were one started, the time to reach the responder
  await new Promise((r) => setTimeout(r, 1_000));
  assert.match(await status(gw.port, s.ca), NOT_STAPLED);
  assert.equal(responder.requests(), 0);
  assert.equal(gw.logs.filter((l) => String(l.event).startsWith('ocsp.')).length, 0);
});

test('a response signed by an unrelated key is refused and not stapled', async (t) => {
  const s = await setup(t);
  const other = await opensslRootCa(s.dir, 'other');
  await startResponder(t, s.ca, s.port, other);
  const gw = await gateway(t, s);
  const line = await until(gw, 'ocsp.fetch_failed');
  assert.equal(line.reason, 'unauthorized_signer');
  assert.match(await status(gw.port, s.ca), NOT_STAPLED);
  assert.equal(existsSync(`${s.server.chainPath}.ocsp`), false);
  assert.equal(await sample(gw.metrics, 'certgate_ocsp_fetch_errors_total', 'reason="unauthorized_signer"'), 1);
});

test('a delegated responder (id-kp-OCSPSigning, signed by the issuer) is accepted', async (t) => {
  const s = await setup(t);
  const delegate = await opensslLeaf(s.ca, { name: 'responder', subj: '/CN=ocsp responder', eku: 'OCSPSigning' });
  await startResponder(t, s.ca, s.port, delegate);
  const gw = await gateway(t, s);
  await until(gw, 'ocsp.stapled');
  assert.match(await status(gw.port, s.ca), STAPLED);
});

test('a reload with the same certificate keeps the staple without a refetch; a new certificate is fetched', async (t) => {
  const s = await setup(t);
  // issued before the responder starts: openssl ocsp reads its index.txt once
  const renewed = await opensslLeaf(s.ca, { name: 'renewed', subj: '/CN=renewed.localhost', eku: 'serverAuth', san: 'DNS:localhost', aia: `OCSP;URI:http://127.0.0.1:${s.port}` });
  const responder = await startResponder(t, s.ca, s.port);
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, s.dir, gatewayYaml(s, upstream.url));
  await until(gw, 'ocsp.stapled');
  const before = responder.requests();
  assert.equal(before, 1);
  await reloadGateway(gw, s.dir, gatewayYaml(s, upstream.url));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(responder.requests(), before, 'no request for an unchanged certificate');
  assert.match(await status(gw.port, s.ca), STAPLED);
  // a renewed certificate in the same file is a new staple
  writeFileSync(s.server.chainPath, renewed.certPem + s.ca.certPem);
  writeFileSync(s.server.keyPath, renewed.keyPem);
  await reloadGateway(gw, s.dir, gatewayYaml(s, upstream.url));
  const line = await until(gw, 'ocsp.stapled', 2);
  assert.match(String(line.subject), /renewed/);
  const out = await status(gw.port, s.ca);
  assert.match(out, STAPLED);
  assert.match(out, /renewed\.localhost/);
});

test('a site certificate chosen by SNI gets its own staple; a site with ocspStapling: off gets none', async (t) => {
  const s = await setup(t);
  const aia = `OCSP;URI:http://127.0.0.1:${s.port}`;
  const sites: Record<string, string> = {};
  for (const name of ['app', 'quiet']) {
    const leaf = await opensslLeaf(s.ca, { name, subj: `/CN=${name}.test`, eku: 'serverAuth', san: `DNS:${name}.test`, aia });
    sites[name] = join(s.dir, `${name}-chain.pem`);
    writeFileSync(sites[name], leaf.certPem + s.ca.certPem);
    sites[`${name}Key`] = leaf.keyPath;
  }
  const responder = await startResponder(t, s.ca, s.port);
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, s.dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${s.server.chainPath}, key: ${s.server.keyPath}, ocspStapling: off}
    sites:
      - hosts: [app.test]
        tls: {cert: ${sites.app}, key: ${sites.appKey}}
        routes: [{path: /, upstream: "${upstream.url}"}]
      - hosts: [quiet.test]
        tls: {cert: ${sites.quiet}, key: ${sites.quietKey}, ocspStapling: off}
        routes: [{path: /, upstream: "${upstream.url}"}]
`);
  const line = await until(gw, 'ocsp.stapled');
  assert.match(String(line.subject), /CN=app\.test/);
  const app = await status(gw.port, s.ca, ['-servername', 'app.test']);
  assert.match(app, STAPLED);
  assert.match(app, /CN ?= ?app\.test/);
  assert.match(await status(gw.port, s.ca, ['-servername', 'quiet.test']), NOT_STAPLED);
  assert.match(await status(gw.port, s.ca, ['-servername', 'other.test']), NOT_STAPLED);
  assert.equal(responder.requests(), 1, 'only the site with auto is fetched');
});

test('a cache file that cannot be written is reported once; the staple is kept in memory', async (t) => {
  const s = await setup(t);
  mkdirSync(`${s.server.chainPath}.ocsp`); // a directory where the cache file would go: unreadable and unwritable as a file
  await startResponder(t, s.ca, s.port);
  const gw = await gateway(t, s);
  await until(gw, 'ocsp.stapled');
  const line = await until(gw, 'ocsp.cache_unwritable');
  assert.equal(line.level, 'warn');
  assert.match(await status(gw.port, s.ca), STAPLED);
  assert.equal(gw.events('ocsp.cache_unwritable').length, 1);
});

/** A stapler on its own, with its log lines captured, for responders that misbehave at the HTTP level. */
function bareStapler(t: Cleanup) {
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void logs.push(JSON.parse(line)) } });
  const metrics = createMetrics({ processMetrics: false });
  const stapler = new OcspStapler({ logger, metrics, fetchTimeoutMs: 300 });
  t.after(() => stapler.close());
  return { stapler, logs, metrics, events: (e: string) => logs.filter((l) => l.event === e) };
}

test('a responder that hangs, fails or floods is given up on with its own reason, and close() aborts a fetch', async (t) => {
  const s = await setup(t);
  const sockets = new Set<Socket>();
  let mode: 'hang' | '500' | 'flood' = 'hang';
  const bad = createServer((req, res) => {
    if (mode === 'hang') return; // never answers
    if (mode === '500') {
      res.writeHead(500).end('no');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/ocsp-response' }).end(Buffer.alloc(100 * 1024));
  });
  bad.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => bad.listen(s.port, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    bad.closeAllConnections();
    bad.close(() => resolve());
  }));
  const source = { certFile: s.server.chainPath, certPem: readFileSync(s.server.chainPath, 'utf8') };
  for (const [m, reason] of [['hang', 'timeout'], ['500', 'http_status'], ['flood', 'too_large']] as const) {
    mode = m;
    const bare = bareStapler(t);
    bare.stapler.sync([source]);
    assert.ok(await waitFor(() => bare.events('ocsp.fetch_failed').length > 0, 5_000), m);
    assert.equal(bare.events('ocsp.fetch_failed')[0].reason, reason, m);
    assert.equal(await sample(bare.metrics, 'certgate_ocsp_fetch_errors_total', `reason="${reason}"`), 1, m);
    bare.stapler.close();
  }
  // close() while a fetch is in flight: the request is aborted, nothing is logged after it
  mode = 'hang';
  const bare = new OcspStapler({ logger: createLogger({ level: 'silent' }), metrics: createMetrics({ processMetrics: false }), fetchTimeoutMs: 10_000 });
  bare.sync([source]);
  assert.ok(await waitFor(() => sockets.size === 1, 5_000), 'the fetch reached the responder');
  bare.close();
  assert.ok(await waitFor(() => sockets.size === 0, 2_000), 'close() aborted the fetch');
});
