// proxyProtocol on a listener: a load balancer's PROXY header (v1, v2) names the client for sourceIp, X-Forwarded-For
// and logs; a missing header from a balancer, a header from anyone else, or a slow balancer is refused and counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { proxyV2Header } from '../../../src/gateway/tcp/proxy-protocol.ts';

interface Reply {
  status: number;
  body: string;
}

/** One GET over TLS on a TCP connection from `localAddress`, after `header` (raw bytes) if any. Null: closed without an answer. */
function request(port: number, localAddress: string, header: Buffer | null, creds: { ca: string; cert: string; key: string }, path = '/'): Promise<Reply | null> {
  return new Promise((resolve) => {
    const raw: Socket = netConnect({ host: '127.0.0.1', port, localAddress });
    const timer = setTimeout(() => {
      raw.destroy();
      resolve(null);
    }, 8_000);
    raw.on('error', () => undefined);
    raw.once('connect', () => {
      if (header) raw.write(header);
      const tls = tlsConnect({ socket: raw, ca: creds.ca, cert: creds.cert, key: creds.key, servername: 'localhost' });
      let data = '';
      tls.on('error', () => undefined);
      tls.on('secureConnect', () => tls.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`));
      tls.on('data', (d: Buffer) => (data += d.toString()));
      tls.on('close', () => {
        clearTimeout(timer);
        const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
        resolve(m ? { status: Number(m[1]), body: data.slice(data.indexOf('\r\n\r\n') + 4) } : null);
      });
    });
  });
}

test('proxyProtocol: v1 and v2 from the balancer name the client; other peers and missing headers are refused', async (t) => {
  const dir = tempDir(t, 'cg-proxyproto-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const alice = await issueCert(ca, 'alice');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    proxyProtocol: {from: [127.0.0.1/32], timeout: 1s}
    routes:
      - {path: /only-doc-net, upstream: "${upstream.url}", allow: [{cn: alice, sourceIp: 203.0.113.0/24}]}
      - {path: /, upstream: "${upstream.url}"}
`);
  const creds = { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem };
  const seenFor = () => upstream.seen[upstream.seen.length - 1].headers;

  const v1 = await request(gw.port, '127.0.0.1', Buffer.from('PROXY TCP4 203.0.113.9 127.0.0.1 40001 443\r\n'), creds);
  assert.equal(v1?.status, 200);
  assert.equal(seenFor()['x-forwarded-for'], '203.0.113.9');
  assert.equal(seenFor()['x-real-ip'], '203.0.113.9');

  const v2 = await request(gw.port, '127.0.0.1', proxyV2Header({ ip: '203.0.113.10', port: 40002 }, { ip: '127.0.0.1', port: 443 }), creds, '/only-doc-net');
  assert.equal(v2?.status, 200, 'sourceIp sees the client the header named');
  assert.equal(seenFor()['x-forwarded-for'], '203.0.113.10');

  // the rejected twin of sourceIp: a client outside the block, named by the same balancer
  const outside = await request(gw.port, '127.0.0.1', proxyV2Header({ ip: '198.51.100.1', port: 40003 }, { ip: '127.0.0.1', port: 443 }), creds, '/only-doc-net');
  assert.equal(outside?.status, 403);

  // LOCAL (a balancer's own health check): the connection's own address applies
  const local = await request(gw.port, '127.0.0.1', Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex'), creds);
  assert.equal(local?.status, 200);
  assert.equal(seenFor()['x-forwarded-for'], '127.0.0.1');

  // refused: no header from the balancer, a header from another address, a balancer too slow to send one
  const seen = upstream.seen.length;
  assert.equal(await request(gw.port, '127.0.0.1', null, creds), null);
  assert.equal(await request(gw.port, '127.0.0.2', Buffer.from('PROXY TCP4 203.0.113.9 127.0.0.1 40001 443\r\n'), creds), null);
  const slow = await new Promise<number>((resolve) => {
    const started = Date.now();
    const s = netConnect({ host: '127.0.0.1', port: gw.port });
    s.on('error', () => undefined);
    s.once('connect', () => s.write('PROXY TCP4 '));
    s.once('close', () => resolve(Date.now() - started));
  });
  assert.ok(slow >= 900 && slow < 5_000, `a partial header is dropped after the 1 s timeout (${slow} ms)`);
  assert.equal(upstream.seen.length, seen, 'nothing refused reached the upstream');

  // another address without a header is an ordinary client
  const direct = await request(gw.port, '127.0.0.2', null, creds);
  assert.equal(direct?.status, 200);
  assert.equal(seenFor()['x-forwarded-for'], '127.0.0.2');

  // a failed handshake behind the balancer is logged with the client's address
  await new Promise<void>((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port: gw.port });
    s.on('error', () => undefined);
    s.once('connect', () => s.write('PROXY TCP4 203.0.113.77 127.0.0.1 40009 443\r\nNOT TLS AT ALL\r\n\r\n'));
    s.once('close', () => resolve());
    setTimeout(() => s.destroy(), 5_000);
  });
  const failed = gw.events('tls.handshake_failed');
  assert.equal(failed[failed.length - 1]?.ip, '203.0.113.77');

  const reasons = gw.events('proxy.refused').map((l) => l.reason).sort();
  assert.deepEqual(reasons, ['proxy_header_missing', 'proxy_header_timeout', 'proxy_header_untrusted']);
  const text = await gw.metrics.registry.metrics();
  assert.match(text, /certgate_proxy_protocol_refused_total\{reason="proxy_header_untrusted"\} 1/);
  const access = gw.events('access').map((l) => l.ip);
  assert.ok(access.includes('203.0.113.9'), `access log names the real client: ${JSON.stringify(access)}`);
});
