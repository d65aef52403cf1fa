// TCP mode (`tcp:` on a server): mutual TLS in front of a plain TCP service. Allowed certificates get a byte pipe
// (1 MiB intact, client-speaks-first, half-close, idle timeout); refused ones are closed before the upstream is even
// dialled; a revoked certificate's open tunnel is closed by the CRL file watch within 2 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { randomBytes, createHash } from 'node:crypto';
import { makeCa, issueCert, tempDir, writeCrl } from '../../helpers/pki.ts';
import type { Cleanup, TestCa, TestCert } from '../../helpers/pki.ts';
import { startLineEcho } from '../../helpers/line-echo.ts';
import type { LineEcho } from '../../helpers/line-echo.ts';
import { startGateway, reloadGateway } from '../../helpers/gateway.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { createReloadController } from '../../../src/gateway/reload.ts';
import { loadConfigFile } from '../../../src/config/load.ts';
import { preflight } from '../../../src/gateway/preflight.ts';
import { createLogger } from '../../../src/observability/logger.ts';

const POLL_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms for at most `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

interface Fixture {
  dir: string;
  ca: TestCa;
  app: TestCert;
  other: TestCert;
  crlFile: string;
  echo: LineEcho;
  gw: TestGateway;
}

async function setup(t: Cleanup, opts: { mode?: 'require' | 'verify'; timeouts?: string; extra?: string; echo?: LineEcho } = {}): Promise<Fixture> {
  const dir = tempDir(t, 'cg-tcp-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const app = await issueCert(ca, 'app-server');
  const other = await issueCert(ca, 'other');
  const crlFile = join(dir, 'ca.crl');
  await writeCrl(ca, crlFile, []);
  const echo = opts.echo ?? await startLineEcho(t);
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: ${crlFile}, mode: ${opts.mode ?? 'require'}}
    tcp:
      upstream: 127.0.0.1:${echo.port}
      allow: [{cn: [app-server, alice, carol, other]}]
      deny: [{cn: other}]
      timeouts: {connect: 2s${opts.timeouts ?? ''}}
${opts.extra ?? ''}`);
  return { dir, ca, app, other, crlFile, echo, gw };
}

/** A TLS client on the gateway that collects everything it reads and notes when the socket closed. */
class Client {
  socket: TLSSocket;
  data = Buffer.alloc(0);
  closed = false;
  ended = false;

  constructor(socket: TLSSocket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => (this.data = Buffer.concat([this.data, d])));
    socket.on('end', () => (this.ended = true));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static open(f: Fixture, cert: TestCert | null, t: Cleanup): Promise<Client> {
    return new Promise((resolve, reject) => {
      // allowHalfOpen (honoured by tls.connect, missing from its types): the client may end and still read
      const options = {
        host: '127.0.0.1', port: f.gw.port, ca: f.ca.ca.certPem, servername: 'localhost', allowHalfOpen: true,
        ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
      } as ConnectionOptions;
      const socket = tlsConnect(options);
      const c = new Client(socket);
      t.after(() => {
        socket.destroy();
      });
      const timer = setTimeout(() => reject(new Error('TLS connect timed out')), 5_000);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        resolve(c);
      });
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(c); // a refused handshake (require mode) closes here; the caller checks `closed`
      });
    });
  }

  /** The gateway ended or closed it (the client half-closes, so an end from the gateway does not close it). */
  get gone(): boolean {
    return this.closed || this.ended;
  }

  text(): string {
    return this.data.toString('latin1');
  }

  async line(expected: string, ms = 3_000): Promise<void> {
    await until(() => this.text().includes(expected), ms, `reading "${expected.trim()}"`);
  }
}

function watch(t: Cleanup, gw: TestGateway): void {
  const reloader = createReloadController({
    configPath: gw.configPath, gateway: gw.gateway, logger: createLogger({ destination: { write: () => undefined } }), metrics: gw.metrics,
    load: (p) => loadConfigFile(p), preflight, pollMs: POLL_MS,
  });
  reloader.watch();
  t.after(() => reloader.close());
}

test('an allowed certificate round-trips 1 MiB intact, client speaking first, with one access line', async (t) => {
  const f = await setup(t);
  const c = await Client.open(f, f.app, t);
  assert.equal(c.closed, false);
  // client speaks first: a line written before anything was read
  c.socket.write('hello\n');
  await c.line('echo: hello\n');
  // 1 MiB of hex in 64-byte lines: the echo returns each line prefixed, so the reply is checked line by line
  const payload = randomBytes(512 * 1024).toString('hex');
  const lines = payload.match(/.{64}/g)!;
  const body = lines.join('\n') + '\n';
  c.socket.write(body);
  const expected = lines.map((l) => `echo: ${l}\n`).join('');
  const want = 'echo: hello\n'.length + expected.length;
  await until(() => c.data.length >= want, 20_000, 'the 1 MiB echo');
  const got = c.text().slice('echo: hello\n'.length);
  assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(expected).digest('hex'));
  assert.equal(f.echo.bytes, 'hello\n'.length + body.length);
  c.socket.end();
  await until(() => c.closed, 3_000, 'close after both ends');
  await until(() => f.gw.events('tcp.access').length === 1, 2_000, 'access line');
  const [line] = f.gw.events('tcp.access');
  assert.equal(line.result, 'allowed');
  assert.equal(line.bytes_in, 'hello\n'.length + body.length);
  assert.ok(typeof line.serial === 'string' && String(line.subject).includes('app-server'));
  assert.ok(typeof line.duration_ms === 'number');
  const metrics = await f.gw.metrics.registry.metrics();
  assert.match(metrics, /certgate_tcp_connections_total\{listen="[^"]+",result="allowed"\} 1/);
  assert.match(metrics, /certgate_tcp_bytes_total\{listen="[^"]+",direction="in"\} \d+/);
});

test('half-close: the client ends, the upstream sees the end and still delivers its reply', async (t) => {
  const f = await setup(t);
  const c = await Client.open(f, f.app, t);
  c.socket.end('last words\n');
  await c.line('echo: last words\nbye 11\n');
  await until(() => c.ended, 3_000, 'end from the gateway');
  assert.equal(f.echo.ended, 1);
});

test('refused certificates are closed with zero bytes and zero connections at the upstream', async (t) => {
  const f = await setup(t);
  // denied by rule
  const denied = await Client.open(f, f.other, t);
  denied.socket.write('should never arrive\n');
  await until(() => denied.gone, 3_000, 'denied connection closed');
  // not on the allow list: a cert from the same CA with another CN
  const stranger = await issueCert(f.ca, 'stranger');
  const notAllowed = await Client.open(f, stranger, t);
  notAllowed.socket.write('nor this\n');
  await until(() => notAllowed.gone, 3_000, 'unlisted connection closed');
  // revoked (the gateway reads the CRL file again on reloadTrust)
  const revoked = await issueCert(f.ca, 'alice');
  await writeCrl(f.ca, f.crlFile, [revoked]);
  await f.gw.gateway.reloadTrust();
  const r = await Client.open(f, revoked, t);
  if (!r.gone) r.socket.write('revoked bytes\n');
  await until(() => r.gone, 3_000, 'revoked connection closed');
  await sleep(200);
  assert.equal(f.echo.connections, 0);
  assert.equal(f.echo.bytes, 0);
  for (const c of [denied, notAllowed, r]) assert.equal(c.text(), '');
  const refused = f.gw.events('tcp.access').filter((l) => l.result === 'refused');
  assert.deepEqual(refused.map((l) => l.reason), ['not_allowed', 'not_allowed', 'revoked'], JSON.stringify(refused));
  assert.deepEqual(refused.map((l) => l.subject), ['CN=other', 'CN=stranger', 'CN=alice']);
  assert.match(await f.gw.metrics.registry.metrics(), /certgate_tcp_connections_total\{listen="[^"]+",result="refused"\} 3/);
});

test('verify mode: a connection without a certificate is closed before the upstream is dialled', async (t) => {
  const f = await setup(t, { mode: 'verify' });
  const c = await Client.open(f, null, t);
  c.socket.write('anonymous\n');
  await until(() => c.gone, 3_000, 'anonymous connection closed');
  await sleep(200);
  assert.equal(f.echo.connections, 0);
  assert.equal(f.echo.bytes, 0);
  const [line] = f.gw.events('tcp.access');
  assert.equal(line.result, 'refused');
  assert.equal(line.reason, 'no_certificate');
  // and an allowed certificate still works in verify mode
  const ok = await Client.open(f, f.app, t);
  ok.socket.write('ok\n');
  await ok.line('echo: ok\n');
});

test('timeouts.idle closes a silent tunnel; a chatty one stays open', async (t) => {
  const f = await setup(t, { timeouts: ', idle: 600ms' });
  const silent = await Client.open(f, f.app, t);
  const chatty = await Client.open(f, f.app, t);
  const started = Date.now();
  for (let i = 0; i < 8 && !silent.gone; i++) {
    chatty.socket.write(`ping ${i}\n`);
    await chatty.line(`echo: ping ${i}\n`);
    await sleep(200);
  }
  await until(() => silent.gone, 3_000, 'silent tunnel closed');
  assert.ok(Date.now() - started >= 500, 'closed too early');
  assert.equal(chatty.gone, false);
});

test('revoking the certificate (CRL file rewritten, file watch) closes its open tunnel within 2 s; others stay', async (t) => {
  const f = await setup(t);
  const alice = await issueCert(f.ca, 'alice');
  const carol = await issueCert(f.ca, 'carol');
  watch(t, f.gw);
  const a = await Client.open(f, alice, t);
  const c = await Client.open(f, carol, t);
  for (const x of [a, c]) {
    x.socket.write('before\n');
    await x.line('echo: before\n');
  }
  await sleep(POLL_MS * 2); // the watcher has taken its first look at the files
  const revokedAt = Date.now();
  await writeCrl(f.ca, f.crlFile, [alice]);
  await until(() => a.gone, 2_000, 'revoked tunnel closed');
  assert.ok(Date.now() - revokedAt <= 2_000);
  c.socket.write('after\n');
  await c.line('echo: after\n');
  assert.equal(c.gone, false);
  const closed = f.gw.events('trust.work_closed');
  assert.equal(closed.length, 1, JSON.stringify(closed));
  assert.equal(closed[0].kind, 'tunnel');
  assert.match(await f.gw.metrics.registry.metrics(), /certgate_trust_closed_total\{kind="tunnel",reason="revoked"\} 1/);
});

test('an unreachable upstream: the client connection is closed, logged as upstream_error', async (t) => {
  const f = await setup(t);
  await new Promise<void>((r) => f.echo.server.close(() => r()));
  const c = await Client.open(f, f.app, t);
  c.socket.write('anyone?\n');
  await until(() => c.gone, 3_000, 'connection closed');
  await until(() => f.gw.events('tcp.access').length === 1, 2_000, 'access line');
  const [line] = f.gw.events('tcp.access');
  assert.equal(line.result, 'upstream_error');
  assert.equal(line.reason, 'upstream_unreachable');
  assert.equal(f.gw.events('proxy.upstream_error').length, 1);
});

test('a reload turns a tcp: server into an HTTP one and back on the same bound address', async (t) => {
  const f = await setup(t);
  const yaml = readFileSync(f.gw.configPath, 'utf8');
  const http = yaml.replace(/ {4}tcp:[\s\S]*$/, `    routes: [{path: /, upstream: "http://127.0.0.1:${f.echo.port}"}]\n`);
  await reloadGateway(f.gw, f.dir, http);
  const h = await Client.open(f, f.app, t);
  h.socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await h.line('HTTP/1.1 ');
  h.socket.destroy();
  await reloadGateway(f.gw, f.dir, yaml);
  const c = await Client.open(f, f.app, t);
  c.socket.write('tcp again\n');
  await c.line('echo: tcp again\n');
});

test('proxyProtocol: v2 sends the client\'s address ahead of its first byte', async (t) => {
  const f = await setup(t, { extra: '      proxyProtocol: v2\n' });
  const c = await Client.open(f, f.app, t);
  c.socket.write('hi\n');
  await c.line('hi\n');
  const h = f.echo.head;
  assert.equal(h.subarray(0, 12).toString('hex'), '0d0a0d0a000d0a515549540a');
  assert.equal(h[12], 0x21);
  assert.equal(h[13], 0x11);
  assert.equal(h.readUInt16BE(14), 12);
  assert.equal([...h.subarray(16, 20)].join('.'), '127.0.0.1');
  assert.equal(h.readUInt16BE(24), c.socket.localPort);
  assert.equal(h.readUInt16BE(26), f.gw.port);
  assert.equal(h.subarray(28, 31).toString(), 'hi\n');
  c.socket.end();
  await until(() => f.gw.events('tcp.access').length === 1, 3_000, 'access line');
  assert.equal(f.gw.events('tcp.access')[0].bytes_in, 3);
});

test('tcp.tls: the upstream is reached over verified TLS with a client certificate; a name mismatch never connects', async (t) => {
  const upCa = await makeCa(t, { passphrase: null, name: 'Upstream CA' });
  const backend = await issueCert(upCa, 'backend', { profile: 'server', dns: ['backend.internal'] });
  const gwClient = await issueCert(upCa, 'gateway-client');
  const echo = await startLineEcho(t, { cert: backend.certPem, key: backend.keyPem, ca: upCa.ca.certPem, requestCert: true, rejectUnauthorized: true });
  const tlsLine = (servername: string) =>
    `      tls: {ca: ${upCa.certPath}, cert: ${gwClient.certPath}, key: ${gwClient.keyPath}, servername: ${servername}}\n`;
  const f = await setup(t, { echo, extra: tlsLine('backend.internal') });
  const c = await Client.open(f, f.app, t);
  c.socket.write('over tls\n');
  await c.line('echo: over tls\n');
  assert.deepEqual(echo.peers, ['CN=gateway-client']);
  c.socket.end();
  await until(() => f.gw.events('tcp.access').length === 1, 3_000, 'access line');
  assert.equal(f.gw.events('tcp.access')[0].bytes_in, 'over tls\n'.length);

  const wrong = await setup(t, { echo, extra: tlsLine('other.internal') });
  const w = await Client.open(wrong, wrong.app, t);
  w.socket.write('never\n');
  await until(() => w.gone, 3_000, 'closed on a name mismatch');
  await until(() => wrong.gw.events('tcp.access').length === 1, 3_000, 'access line');
  const [line] = wrong.gw.events('tcp.access');
  assert.equal(line.result, 'upstream_error');
  assert.equal(line.reason, 'upstream_name_mismatch');
  assert.match(await wrong.gw.metrics.registry.metrics(), /certgate_upstream_errors_total\{upstream="127\.0\.0\.1:\d+",kind="upstream_name_mismatch"\} 1/);
  assert.equal(w.text(), '');
  assert.equal(echo.bytes, 'over tls\n'.length);
});
