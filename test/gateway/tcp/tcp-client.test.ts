// TCP mode, client direction (a `tcp:` server without `tls:`): a plain loopback port whose connections certgate
// wraps in mTLS to the remote. Chained to a server-direction gateway in front of a line-echo service: 1 MiB intact,
// a client-speaks-first binary protocol, half-close, session reuse; a wrong remote CA or servername closes the
// connection with the reason on the access line; drain ends open tunnels at its deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, createHash } from 'node:crypto';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import type { Cleanup, TestCa, TestCert } from '../../helpers/pki.ts';
import { readFileSync } from 'node:fs';
import { startGateway, reloadGateway } from '../../helpers/gateway.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { startLineEcho } from '../../helpers/line-echo.ts';
import type { LineEcho } from '../../helpers/line-echo.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms for at most `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

interface Chain {
  dir: string;
  localDir: string;
  ca: TestCa;
  app: TestCert;
  echo: LineEcho;
  /** Server direction: mTLS in, plain out to the service. */
  remote: TestGateway;
  /** Client direction: plain in on loopback, mTLS out to `remote`. */
  local: TestGateway;
}

/**
 * The sidecar chain: app -> local (client direction) -> remote (server direction) -> service. `upstreamTls` is the
 * YAML mapping of the local side's upstream TLS; `legacy` writes it as tcp.tls beside a host:port upstream.
 */
async function chain(t: Cleanup, o: { upstreamTls?: (c: { ca: TestCa; app: TestCert }) => string; legacy?: boolean; service?: number } = {}): Promise<Chain> {
  const dir = tempDir(t, 'cg-tcpc-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server', dns: ['db.example.test'], ip: ['127.0.0.1'] });
  const app = await issueCert(ca, 'app-server');
  const echo = await startLineEcho(t);
  const remote = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, mode: require}
    tcp:
      upstream: 127.0.0.1:${o.service ?? echo.port}
      allow: [{cn: app-server}]
`);
  const tls = o.upstreamTls?.({ ca, app }) ?? `{ca: ${ca.certPath}, cert: ${app.certPath}, key: ${app.keyPath}, servername: db.example.test}`;
  const upstream = o.legacy
    ? `      upstream: 127.0.0.1:${remote.port}\n      tls: ${tls}\n`
    : `      upstream: {address: 127.0.0.1:${remote.port}, tls: ${tls}}\n`;
  const localDir = tempDir(t, 'cg-tcpc-local-');
  const local = await startGateway(t, localDir, `
servers:
  - listen: 127.0.0.1:0
    tcp:
${upstream}      timeouts: {connect: 2s}
`);
  return { dir, localDir, ca, app, echo, remote, local };
}

/** A plain TCP client of the local port that collects what it reads. */
class Plain {
  socket: Socket;
  data = Buffer.alloc(0);
  ended = false;
  closed = false;

  constructor(port: number, t: Cleanup) {
    this.socket = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    this.socket.on('data', (d: Buffer) => (this.data = Buffer.concat([this.data, d])));
    this.socket.on('end', () => (this.ended = true));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
    t.after(() => {
      this.socket.destroy();
    });
  }

  text(): string {
    return this.data.toString('latin1');
  }

  async line(expected: string, ms = 3_000): Promise<void> {
    await until(() => this.text().includes(expected), ms, `reading "${expected.trim()}"`);
  }
}

test('client direction -> server direction -> service: 1 MiB round-trips intact; the second tunnel resumes TLS', async (t) => {
  const c = await chain(t);
  const p = new Plain(c.local.port, t);
  const payload = randomBytes(512 * 1024).toString('hex');
  const lines = payload.match(/.{64}/g)!;
  const body = lines.join('\n') + '\n';
  p.socket.write(body);
  const expected = lines.map((l) => `echo: ${l}\n`).join('');
  await until(() => p.data.length >= expected.length, 20_000, 'the 1 MiB echo');
  assert.equal(createHash('sha256').update(p.text()).digest('hex'), createHash('sha256').update(expected).digest('hex'));
  assert.equal(c.echo.bytes, body.length);
  p.socket.end();
  await until(() => p.closed, 3_000, 'close after both ends');
  await until(() => c.local.events('tcp.access').length === 1 && c.remote.events('tcp.access').length === 1, 3_000, 'access lines');
  const [local] = c.local.events('tcp.access');
  assert.equal(local.direction, 'client');
  assert.equal(local.result, 'allowed');
  assert.equal(local.bytes_in, body.length);
  assert.equal(local.bytes_out, expected.length + `bye ${body.length}\n`.length);
  assert.equal(local.tls_resumed, false);
  const [remote] = c.remote.events('tcp.access');
  assert.equal(remote.direction, 'server');
  assert.equal(remote.subject, 'CN=app-server');
  assert.equal(remote.bytes_in, body.length);
  assert.match(await c.local.metrics.registry.metrics(), /certgate_tcp_connections_total\{listen="127\.0\.0\.1:0",result="allowed"\} 1/);

  const again = new Plain(c.local.port, t);
  again.socket.write('again\n');
  await again.line('echo: again\n');
  again.socket.end();
  await until(() => c.local.events('tcp.access').length === 2, 3_000, 'second access line');
  assert.equal(c.local.events('tcp.access')[1].tls_resumed, true);
});

test('a PostgreSQL-style protocol (client speaks first, binary, length-prefixed) works through both directions', async (t) => {
  // the service stays silent until it has read the whole startup message, then answers AuthenticationOk and
  // ReadyForQuery, then echoes each query ('Q') as a DataRow-like ('D') message
  const seen: Buffer[] = [];
  const open = new Set<Socket>();
  const pg = createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    let buf = Buffer.alloc(0);
    let started = false;
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let i = 0; i < 100; i++) {
        if (!started) {
          if (buf.length < 4 || buf.length < buf.readInt32BE(0)) return;
          const len = buf.readInt32BE(0);
          seen.push(buf.subarray(0, len));
          buf = buf.subarray(len);
          started = true;
          s.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49])); // R ok, Z idle
          continue;
        }
        if (buf.length < 5 || buf.length < 1 + buf.readInt32BE(1)) return;
        const len = buf.readInt32BE(1);
        const query = buf.subarray(5, 1 + len);
        buf = buf.subarray(1 + len);
        const out = Buffer.alloc(5 + query.length);
        out.write('D', 0);
        out.writeInt32BE(4 + query.length, 1);
        query.copy(out, 5);
        s.write(out);
      }
    });
  });
  await new Promise<void>((r) => pg.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of open) s.destroy();
    return new Promise<void>((r) => pg.close(() => r()));
  });
  const c = await chain(t, { service: (pg.address() as AddressInfo).port });

  const p = new Plain(c.local.port, t);
  const params = Buffer.from('user\0app\0database\0orders\0\0');
  const startup = Buffer.alloc(8 + params.length);
  startup.writeInt32BE(startup.length, 0);
  startup.writeInt32BE(196608, 4); // protocol 3.0
  params.copy(startup, 8);
  p.socket.write(startup);
  await until(() => p.data.length >= 15, 3_000, 'AuthenticationOk + ReadyForQuery');
  assert.equal(p.data.subarray(0, 15).toString('hex'), '52000000080000000' + '05a0000000549');
  const q = Buffer.from('SELECT 1;\0');
  const msg = Buffer.concat([Buffer.from('Q'), Buffer.alloc(4), q]);
  msg.writeInt32BE(4 + q.length, 1);
  p.socket.write(msg);
  await until(() => p.data.length >= 15 + 5 + q.length, 3_000, 'the query answer');
  assert.equal(p.data.subarray(15, 16).toString(), 'D');
  assert.deepEqual(p.data.subarray(20), q);
  assert.deepEqual(seen[0], startup);
});

test('half-close crosses both directions: the app ends, the service sees it and still answers', async (t) => {
  const c = await chain(t);
  const p = new Plain(c.local.port, t);
  p.socket.end('last words\n');
  await p.line('echo: last words\nbye 11\n');
  await until(() => p.ended, 3_000, 'end from the local gateway');
  assert.equal(c.echo.ended, 1);
});

test('the old spelling (tcp.tls beside a host:port upstream) still works; without servername the IP SAN is verified', async (t) => {
  const c = await chain(t, { legacy: true, upstreamTls: ({ ca, app }) => `{ca: ${ca.certPath}, cert: ${app.certPath}, key: ${app.keyPath}}` });
  const p = new Plain(c.local.port, t);
  p.socket.write('old spelling\n');
  await p.line('echo: old spelling\n');
});

for (const bad of [
  { name: 'a remote CA the local side does not trust', kind: 'upstream_cert_untrusted', otherCa: true, servername: 'db.example.test', cert: true },
  { name: 'a servername the remote certificate does not carry', kind: 'upstream_name_mismatch', otherCa: false, servername: 'other.example.test', cert: true },
  // the remote (require mode) answers a missing client certificate with TLS 1.3's certificate_required alert, which
  // arrives after the local side's handshake finished
  { name: 'no client certificate for a remote that requires one', kind: 'upstream_refused_our_cert', otherCa: false, servername: 'db.example.test', cert: false },
]) {
  test(`client direction with ${bad.name}: closed, nothing reaches the service, access line says ${bad.kind}`, async (t) => {
    const other = bad.otherCa ? await makeCa(t, { passphrase: null, name: 'Other CA' }) : undefined;
    const c = await chain(t, {
      upstreamTls: ({ ca, app }) => `{ca: ${(other ?? ca).certPath}, ${bad.cert ? `cert: ${app.certPath}, key: ${app.keyPath}, ` : ''}servername: ${bad.servername}}`,
    });
    const p = new Plain(c.local.port, t);
    p.socket.write('never\n');
    await until(() => p.ended || p.closed, 3_000, 'closed');
    await until(() => c.local.events('tcp.access').length === 1, 3_000, 'access line');
    const [line] = c.local.events('tcp.access');
    assert.equal(line.result, 'upstream_error');
    assert.equal(line.reason, bad.kind);
    assert.equal(p.text(), '');
    assert.equal(c.echo.connections, 0);
    assert.equal(c.local.events('proxy.upstream_error')[0].kind, bad.kind);
    assert.match(await c.local.metrics.registry.metrics(), new RegExp(`certgate_upstream_errors_total\\{upstream="127\\.0\\.0\\.1:\\d+",kind="${bad.kind}"\\} 1`));
  });
}

test('a reload turns the client-direction port into a plain HTTP server and back, on the same bound socket', async (t) => {
  const c = await chain(t);
  const yaml = readFileSync(c.local.configPath, 'utf8');
  const http = yaml.replace(/ {4}tcp:[\s\S]*$/, `    routes: [{path: /, upstream: "http://127.0.0.1:${c.echo.port}", public: true}]\n`);
  await reloadGateway(c.local, c.localDir, http);
  const h = new Plain(c.local.port, t);
  h.socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await h.line('HTTP/1.1 ');
  h.socket.destroy();
  await reloadGateway(c.local, c.localDir, yaml);
  const p = new Plain(c.local.port, t);
  p.socket.write('tunnel again\n');
  await p.line('echo: tunnel again\n');
});

test('drain leaves an open tunnel running until its deadline, then ends it with a FIN; the access line says drain', async (t) => {
  const c = await chain(t);
  const p = new Plain(c.local.port, t);
  p.socket.write('before\n');
  await p.line('echo: before\n');
  const started = Date.now();
  const stopped = c.local.gateway.stop(800);
  await sleep(300);
  p.socket.write('during\n');
  await p.line('echo: during\n');
  assert.equal(p.ended, false, 'not ended before the deadline');
  await until(() => p.ended, 3_000, 'FIN at the deadline');
  assert.ok(Date.now() - started >= 700, `ended after ${Date.now() - started} ms`);
  await stopped;
  await until(() => c.local.events('tcp.access').length === 1, 3_000, 'access line');
  assert.equal(c.local.events('tcp.access')[0].reason, 'drain');
});

test('a remote that accepts but never completes TLS: closed after timeouts.connect, kind connect_timeout', async (t) => {
  const ca = await makeCa(t, { passphrase: null });
  const held = new Set<Socket>();
  const silent = createServer((s) => {
    held.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of held) s.destroy();
    return new Promise<void>((r) => silent.close(() => r()));
  });
  const local = await startGateway(t, tempDir(t, 'cg-tcpc-silent-'), `
servers:
  - listen: 127.0.0.1:0
    tcp:
      upstream: {address: 127.0.0.1:${(silent.address() as AddressInfo).port}, tls: {ca: ${ca.certPath}}}
      timeouts: {connect: 300ms}
`);
  const p = new Plain(local.port, t);
  p.socket.write('hello?\n');
  const started = Date.now();
  await until(() => p.ended || p.closed, 3_000, 'closed');
  assert.ok(Date.now() - started >= 250, 'closed before the connect timeout');
  await until(() => local.events('tcp.access').length === 1, 2_000, 'access line');
  assert.equal(local.events('tcp.access')[0].reason, 'upstream_unreachable');
  assert.equal(local.events('proxy.upstream_error')[0].kind, 'connect_timeout');
  assert.match(await local.metrics.registry.metrics(), /certgate_upstream_errors_total\{upstream="127\.0\.0\.1:\d+",kind="connect_timeout"\} 1/);
});
