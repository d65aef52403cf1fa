// Fresh connections, one request each (the handshake benchmark's pattern), on TLS and plain listeners: every
// connection gets its own verified identity, whichever certificate came before it, and small responses arrive whole.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import type { TestCa, TestCert } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import type { EchoUpstream, EchoReply } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { RawConnection } from '../../helpers/tls-clients.ts';
import type { Creds } from '../../helpers/tls-clients.ts';
import { fileScope } from '../../helpers/suite.ts';

const t0 = fileScope();
let ca: TestCa;
let stranger: TestCa;
let alice: TestCert;
let bob: TestCert;
let mallory: TestCert;
let upstream: EchoUpstream;
let gw: TestGateway;

before(async () => {
  const dir = tempDir(t0, 'cg-conns-');
  ca = await makeCa(t0, { passphrase: null });
  stranger = await makeCa(t0, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  alice = await issueCert(ca, 'alice', { o: 'Acme', ous: ['ops'] });
  bob = await issueCert(ca, 'bob', { o: 'Acme', ous: ['dev'], keyType: 'rsa-2048' });
  mallory = await issueCert(stranger, 'alice', { o: 'Acme', ous: ['ops'] });
  upstream = await startEchoUpstream();
  t0.after(() => upstream.close());
  gw = await startGateway(t0, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    routes:
      - {path: /, upstream: "${upstream.url}"}
      - {path: /ops, upstream: "${upstream.url}", allow: [{ou: ops}]}
  - listen: 127.0.0.1:0
    routes:
      - {path: /, upstream: "${upstream.url}", public: true}
`);
});

function creds(cert: TestCert | null): Creds {
  return { ca: ca.ca.certPem, cert: cert?.certPem, key: cert?.keyPem };
}

/** One fresh connection, the request written in its own segment right after the handshake, then closed. */
async function once(cert: TestCert | null, path: string, port = gw.port, tls = true) {
  const conn = await RawConnection.open(port, tls ? creds(cert) : null);
  try {
    conn.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    return await conn.readResponse(10_000);
  } finally {
    conn.close();
  }
}

function fingerprint(cert: TestCert): string {
  return createHash('sha256').update(Buffer.from(cert.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')).digest('hex');
}

test('back-to-back fresh connections each carry their own identity', async () => {
  const order = [alice, bob, alice, null, mallory, bob, alice, null, bob, alice];
  for (const [i, cert] of order.entries()) {
    const res = await once(cert, `/n${i}`);
    assert.ok(res, `connection ${i} got a response`);
    if (cert === null) {
      assert.equal(res.status, 403, `connection ${i}`);
      assert.match(res.body, /no_certificate/);
      continue;
    }
    if (cert === mallory) {
      assert.equal(res.status, 403, `connection ${i}`);
      assert.match(res.body, /unknown_ca/);
      continue;
    }
    assert.equal(res.status, 200, `connection ${i}`);
    const h = (JSON.parse(res.body) as EchoReply).headers;
    assert.equal(h['x-client-verify'], 'SUCCESS');
    assert.equal(h['x-client-fingerprint'], fingerprint(cert), `connection ${i}`);
    assert.match(String(h['x-client-subject']), cert === alice ? /^CN=alice,OU=ops,O=Acme$/ : /^CN=bob,OU=dev,O=Acme$/);
    assert.equal(decodeURIComponent(String(h['x-client-cert'])), cert.certPem);
  }
  // authorization sees each connection's identity, not the previous one's
  assert.equal((await once(alice, '/ops'))?.status, 200);
  assert.equal((await once(bob, '/ops'))?.status, 403);
  assert.equal((await once(alice, '/ops'))?.status, 200);
  assert.equal((await once(mallory, '/ops'))?.status, 403);
});

test('fresh plain connections are answered whole, with the client address forwarded', async () => {
  for (let i = 0; i < 5; i++) {
    const res = await once(null, `/plain${i}`, gw.addresses[1].port, false);
    assert.equal(res?.status, 200);
    const h = (JSON.parse(res!.body) as EchoReply).headers;
    assert.equal(h['x-client-verify'], 'NONE');
    assert.equal(h['x-real-ip'], '127.0.0.1');
  }
});

test('the open-connections gauge follows fresh connections back to zero', async () => {
  const gauge = async (protocol: string): Promise<number> => {
    const m = new RegExp(`certgate_open_connections\\{protocol="${protocol}"\\} (-?\\d+)`).exec(await gw.metrics.registry.metrics());
    return m ? Number(m[1]) : 0;
  };
  // connections of the tests before may still be closing on the server side
  const settle = async (protocol: string, want: number): Promise<number> => {
    for (let i = 0; i < 100 && (await gauge(protocol)) !== want; i++) await new Promise((r) => setTimeout(r, 20));
    return gauge(protocol);
  };
  assert.equal(await settle('h1', 0), 0);
  const conn = await RawConnection.open(gw.port, creds(alice));
  assert.equal((await conn.get('/held'))?.status, 200);
  assert.equal(await gauge('h1'), 1);
  conn.close();
  assert.equal(await settle('h1', 0), 0);
  assert.equal(await settle('plain', 0), 0);
});
