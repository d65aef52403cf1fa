// The TLS 1.2 first-flight reader: the CA names it reads off a real server equal what `openssl s_client -tls1_2`
// prints as "Acceptable client certificate CA names"; records split anywhere still parse; a 1.3-only server is told apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeCa, issueCert } from '../helpers/pki.ts';
import { sClient } from '../helpers/tls-clients.ts';
import { FirstFlightReader, parseCertificateRequest, probeTls12 } from '../../src/doctor/tls12-probe.ts';
import { dnText } from '../../src/doctor/certs.ts';

async function listen(t: { after(fn: () => unknown): void }, server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return (server.address() as AddressInfo).port;
}

test('CA names match what openssl s_client -tls1_2 lists; no CertificateRequest reads as not_asked', async (t) => {
  const a = await makeCa(t, { passphrase: null, name: 'Alpha, Inc. Root' });
  const b = await makeCa(t, { passphrase: null, name: 'Beta Root' });
  const server = await issueCert(a, 'server', { profile: 'server' });
  const port = await listen(t, createHttpsServer({ cert: server.certPem, key: server.keyPem, ca: [a.ca.certPem, b.ca.certPem], requestCert: true }));
  const r = await probeTls12('127.0.0.1', port, 'localhost', 5000);
  assert.equal(r.outcome, 'asked');
  const ours = r.outcome === 'asked' ? r.caNames.map((n) => dnText(n)) : [];
  assert.deepEqual(ours, ['CN=Alpha\\, Inc. Root', 'CN=Beta Root']);

  const sc = await sClient(port, ['-tls1_2']);
  const block = /Acceptable client certificate CA names\n([\s\S]*?)\n(?:Requested|Client Certificate Types)/.exec(sc.stdout);
  assert.ok(block, sc.stdout);
  // openssl prints "CN = Beta Root"; compare without the spaces and escapes
  const norm = (s: string) => s.replace(/ = /g, '=').replace(/\\,/g, ',').replace(/"/g, '');
  assert.deepEqual(block[1].split('\n').map(norm), ours.map(norm));

  const plain = await listen(t, createHttpsServer({ cert: server.certPem, key: server.keyPem }));
  assert.deepEqual(await probeTls12('127.0.0.1', plain, undefined, 5000), { outcome: 'not_asked' });
  const only13 = await listen(t, createHttpsServer({ cert: server.certPem, key: server.keyPem, minVersion: 'TLSv1.3' }));
  assert.deepEqual(await probeTls12('127.0.0.1', only13, undefined, 5000), { outcome: 'tls12_refused', alert: 70 });
});

function record(type: number, body: Buffer): Buffer {
  const head = Buffer.from([type, 3, 3, 0, 0]);
  head.writeUInt16BE(body.length, 3);
  return Buffer.concat([head, body]);
}
function handshakeMsg(type: number, body: Buffer): Buffer {
  const head = Buffer.from([type, 0, 0, 0]);
  head.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([head, body]);
}

test('the reader copes with any split of the records, and with alerts', () => {
  const names = [Buffer.from('300f310d300b06035504030c0452656431', 'hex'), Buffer.from('300b3109300706035504030c00', 'hex')];
  const cas = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([0, n.length]), n])));
  const casLen = Buffer.alloc(2);
  casLen.writeUInt16BE(cas.length);
  const certReq = Buffer.concat([Buffer.from([1, 64]), Buffer.from([0, 2, 4, 3]), casLen, cas]);
  assert.deepEqual(parseCertificateRequest(certReq), names);
  const hello = handshakeMsg(2, Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32), Buffer.from([0, 0xc0, 0x2b, 0])]));
  // two handshake records; the CertificateRequest is itself split across them
  const stream = Buffer.concat([hello, handshakeMsg(13, certReq), handshakeMsg(14, Buffer.alloc(0))]);
  const cut = hello.length + 7;
  const bytes = Buffer.concat([record(22, stream.subarray(0, cut)), record(22, stream.subarray(cut))]);
  for (const step of [1, 3, 7, bytes.length]) {
    const reader = new FirstFlightReader();
    let result = null;
    for (let at = 0; at < bytes.length && result === null; at += step) result = reader.push(bytes.subarray(at, at + step));
    assert.deepEqual(result, { outcome: 'asked', caNames: names }, `step ${step}`);
  }
  const cases: Array<{ input: Buffer; expected: unknown }> = [
    { input: record(21, Buffer.from([2, 70])), expected: { outcome: 'tls12_refused', alert: 70 } },
    { input: record(21, Buffer.from([2, 40])), expected: { outcome: 'tls12_refused', alert: 40 } },
    { input: record(22, Buffer.concat([hello, handshakeMsg(14, Buffer.alloc(0))])), expected: { outcome: 'not_asked' } },
    { input: record(23, Buffer.from([1, 2, 3])), expected: { outcome: 'error', message: 'unexpected TLS record type 23 before ServerHelloDone' } },
    { input: record(22, hello), expected: null },
  ];
  for (const { input, expected } of cases) assert.deepEqual(new FirstFlightReader().push(input), expected);
});
