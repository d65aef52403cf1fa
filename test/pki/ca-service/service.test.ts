// `ca serve` in-process on 127.0.0.1: endpoints and types, validators and 304, long-poll (change, timeout, limit,
// close), 404/405, health and metrics, CRLs re-signed before nextUpdate, and an intermediate following its parent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../../src/observability/logger.ts';
import { createCaService } from '../../../src/pki/ca-service/service.ts';
import type { CaServiceOptions } from '../../../src/pki/ca-service/service.ts';
import { parseCrl } from '../../../src/pki/crl.ts';
import { revokeCertificate } from '../../../src/pki/revoke.ts';
import { CaStore } from '../../../src/pki/store.ts';
import { makeCa, issueCert } from '../../helpers/pki.ts';
import type { Cleanup, TestCa } from '../../helpers/pki.ts';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  ms: number;
}

/** One request on a fresh connection; fails the test after `timeoutMs`. */
function get(port: number, path: string, o: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Reply> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), ms: Date.now() - started }));
    });
    req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer to ${path} within ${o.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function startService(t: Cleanup, cas: TestCa[], extra: Partial<CaServiceOptions> = {}) {
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ destination: { write: (s: string) => void logs.push(JSON.parse(s)) } });
  const service = createCaService({ cas: cas.map((c) => c.ca), listen: { host: '127.0.0.1', port: 0 }, logger, ...extra });
  const bound = await service.start();
  t.after(() => service.close());
  return { service, port: bound.address.port, logs, metricsPort: bound.metricsAddress?.port };
}

async function revoke(tca: TestCa, ref: string): Promise<void> {
  const store = CaStore.open(tca.dir);
  try {
    await revokeCertificate(tca.ca, store, { ref, reason: 'keyCompromise', cwd: tca.dir });
  } finally {
    store.close();
  }
}

test('files, content types, validators, conditional GET, HEAD, 404 and 405', async (t) => {
  const ca = await makeCa(t, { passphrase: null });
  const { port } = await startService(t, [ca]);
  const types: Record<string, string> = {
    '/ca.crt': 'application/pkix-cert', '/chain.pem': 'application/x-pem-file', '/crl.pem': 'application/x-pem-file',
    '/crl.crl': 'application/pkix-crl', '/crl-bundle.pem': 'application/x-pem-file',
  };
  for (const [path, type] of Object.entries(types)) {
    const r = await get(port, path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers['content-type'], type, path);
    assert.match(String(r.headers.etag), /^"[0-9a-z-]+"$/, path);
    assert.ok(r.headers['last-modified'], path);
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.equal(Number(r.headers['content-length']), r.body.length);
  }
  // bodies are what DIR holds: the DER CRL parses and matches crl.pem; ca.crt is the DER certificate
  const crl = parseCrl(new Uint8Array((await get(port, '/crl.crl')).body));
  const onDisk = parseCrl(readFileSync(join(ca.dir, 'crl.pem'), 'utf8'));
  assert.equal(crl.crlNumber, onDisk.crlNumber);
  assert.deepEqual((await get(port, '/ca.crt')).body, Buffer.from(ca.ca.cert.rawData));
  const pem = await get(port, '/crl.pem');
  assert.equal(pem.body.toString(), readFileSync(join(ca.dir, 'crl.pem'), 'utf8'));
  assert.match(String(pem.headers.etag), new RegExp(`^"${onDisk.crlNumber}-[0-9a-f]{16}"$`));
  assert.equal(pem.headers['x-certgate-crl-number'], String(onDisk.crlNumber));
  assert.equal(pem.headers['x-certgate-crl-next-update'], onDisk.nextUpdate!.toISOString());
  assert.notEqual(pem.headers.etag, (await get(port, '/crl.crl')).headers.etag, 'PEM and DER are different representations');

  const hit = await get(port, '/crl.pem', { headers: { 'if-none-match': String(pem.headers.etag) } });
  assert.equal(hit.status, 304);
  assert.equal(hit.body.length, 0);
  assert.equal(hit.headers.etag, pem.headers.etag);
  assert.equal((await get(port, '/crl.pem', { headers: { 'if-none-match': '"0-0000000000000000"' } })).status, 200);
  assert.equal((await get(port, '/crl.pem', { headers: { 'if-modified-since': String(pem.headers['last-modified']) } })).status, 304);
  const head = await get(port, '/crl.pem', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers.etag, pem.headers.etag);

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const r = await get(port, '/crl.pem', { method });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.allow, 'GET, HEAD');
  }
  for (const path of ['/', '/ca.key', '/certgate.db', '/issued/', '/../ca.key', '/%2e%2e/ca.key', '/crl.pem/', '//crl.pem', '/base-url.txt']) {
    assert.equal((await get(port, path)).status, 404, path);
  }
});

test('long-poll: answered at once when the CRL changes, 304 when the wait ends, cap and limit, release on close', async (t) => {
  const ca = await makeCa(t, { passphrase: null, baseUrl: 'http://pki.example.test/issuing/' });
  const alice = await issueCert(ca, 'alice');
  const { service, port, logs } = await startService(t, [ca], { maxWaiters: 2, maxWaitSeconds: 3 });
  assert.equal((await get(port, '/crl.pem')).status, 404, 'a CA with a URL is served under its path only');
  const first = await get(port, '/issuing/crl-bundle.pem');
  const etag = String(first.headers.etag);

  // a wait without If-None-Match, or with a stale one, is answered at once
  const noTag = await get(port, '/issuing/crl-bundle.pem?wait=3');
  assert.equal(noTag.status, 200);
  assert.ok(noTag.ms < 1000, `${noTag.ms} ms`);
  assert.equal(noTag.headers['x-certgate-wait'], '3');

  // held, then answered with the new CRL as soon as a revocation publishes it
  const held = get(port, '/issuing/crl-bundle.pem?wait=30', { headers: { 'if-none-match': etag } });
  await new Promise((r) => setTimeout(r, 300));
  const revokedAt = Date.now();
  await revoke(ca, alice.record.serial);
  const changed = await held;
  const latency = Date.now() - revokedAt;
  assert.equal(changed.status, 200);
  assert.equal(changed.headers['x-certgate-wait'], '3', 'the wait is capped at --max-wait');
  assert.notEqual(changed.headers.etag, etag);
  assert.ok(latency < 1500, `answered ${latency} ms after the revocation`);
  const listed = parseCrl(changed.body.toString('utf8'));
  assert.deepEqual(listed.entries.map((e) => e.serial), [alice.record.serial]);
  assert.ok(logs.some((l) => l.event === 'ca.crl.changed'));

  // nothing changes: 304 once the (capped) wait is over
  const quiet = await get(port, '/issuing/crl-bundle.pem?wait=1', { headers: { 'if-none-match': String(changed.headers.etag) } });
  assert.equal(quiet.status, 304);
  assert.ok(quiet.ms >= 900 && quiet.ms < 3000, `${quiet.ms} ms`);
  assert.equal(quiet.headers.etag, changed.headers.etag);

  // at most two held requests: the third is refused at once; close answers the held ones with 304
  const tag = { 'if-none-match': String(changed.headers.etag) };
  const a = get(port, '/issuing/crl.pem?wait=3', { headers: { 'if-none-match': String((await get(port, '/issuing/crl.pem')).headers.etag) } });
  const b = get(port, '/issuing/crl-bundle.pem?wait=3', { headers: tag });
  await new Promise((r) => setTimeout(r, 300));
  const c = await get(port, '/issuing/crl-bundle.pem?wait=3', { headers: tag });
  assert.equal(c.status, 503);
  assert.equal(c.headers['retry-after'], '1');
  const metrics = (await get(port, '/metrics')).body.toString();
  assert.match(metrics, /certgate_ca_serve_waiting_requests 2/);
  const closing = Date.now();
  await service.close();
  const [ra, rb] = await Promise.all([a, b]);
  assert.deepEqual([ra.status, rb.status], [304, 304]);
  assert.equal(ra.headers.connection, 'close');
  assert.ok(Date.now() - closing < 2000);
});

test('re-signs the CRL at half its lifetime without any command; health and metrics say so', async (t) => {
  const ca = await makeCa(t, { passphrase: null });
  const { port, logs } = await startService(t, [ca], { crlLifetimeMs: 4000 });
  const first = parseCrl((await get(port, '/crl.pem')).body.toString());
  assert.equal(first.nextUpdate!.getTime() - first.thisUpdate.getTime(), 4000);
  const health = await get(port, '/healthz');
  assert.equal(health.status, 200);
  const doc = JSON.parse(health.body.toString()) as { status: string; cas: Array<{ crlNumber: string; nextRefresh: string }> };
  assert.equal(doc.status, 'ok');
  assert.equal(doc.cas[0].crlNumber, String(first.crlNumber));
  // the next CRL appears before the first one's nextUpdate
  const deadline = Date.now() + 6000;
  let next = first;
  while (next.crlNumber === first.crlNumber && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    next = parseCrl((await get(port, '/crl.pem')).body.toString());
  }
  assert.ok(next.crlNumber! > first.crlNumber!, 'a new CRL was signed');
  assert.ok(Date.now() < first.nextUpdate!.getTime() + 1000, 'before the old one lapsed (1 s of slack for the poll)');
  assert.ok(logs.some((l) => l.event === 'ca.crl.published' && l.cause === 'schedule'));
  const metrics = (await get(port, '/metrics')).body.toString();
  assert.match(metrics, /certgate_ca_crl_published_total\{ca="Test Root CA",cause="schedule"\} [1-9]/);
  assert.match(metrics, /certgate_ca_crl_next_refresh_seconds\{ca="Test Root CA"\} \d/);
  assert.match(metrics, /certgate_ca_certificates\{ca="Test Root CA",status="valid"\} 0/);
});

test('an intermediate served with its root: a root revocation reaches the intermediate\'s crl-bundle.pem', async (t) => {
  const root = await makeCa(t, { passphrase: null, baseUrl: 'http://127.0.0.1:1/root/' });
  const issuing = await makeCa(t, { passphrase: null, parent: root, baseUrl: 'http://127.0.0.1:1/issuing/' });
  const { port, metricsPort } = await startService(t, [issuing, root], { metricsListen: { host: '127.0.0.1', port: 0 } });
  assert.equal((await get(port, '/metrics')).status, 404, 'metrics moved to their own listener');
  assert.equal((await get(metricsPort!, '/healthz')).status, 200);
  const before = await get(port, '/issuing/crl-bundle.pem');
  const tag = String(before.headers.etag);
  const held = get(port, '/issuing/crl-bundle.pem?wait=20', { headers: { 'if-none-match': tag } });
  await new Promise((r) => setTimeout(r, 300));
  const store = CaStore.open(root.dir);
  const serial = store.list()[0].serial; // the intermediate's certificate, recorded by its parent
  store.close();
  await revoke(root, serial);
  const after = await held;
  assert.equal(after.status, 200);
  const blocks = after.body.toString().match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g)!;
  assert.equal(blocks.length, 2);
  const rootCrl = parseCrl(blocks[1]);
  assert.deepEqual(rootCrl.entries.map((e) => e.serial), [serial]);
});

test('revocations while the service re-signs every second: no CRL loses one, numbers only grow', async (t) => {
  const ca = await makeCa(t, { passphrase: null });
  const certs = [];
  for (const name of ['a', 'b', 'c', 'd']) certs.push(await issueCert(ca, name));
  const { port } = await startService(t, [ca], { crlLifetimeMs: 2000 });
  const seen: bigint[] = [];
  for (const cert of certs) {
    await revoke(ca, cert.record.serial);
    seen.push(parseCrl((await get(port, '/crl.pem')).body.toString()).crlNumber!);
    await new Promise((r) => setTimeout(r, 400));
  }
  const want = certs.map((c) => c.record.serial).sort();
  const deadline = Date.now() + 3000;
  let listed: string[] = [];
  while (Date.now() < deadline) {
    const crl = parseCrl((await get(port, '/crl.pem')).body.toString());
    seen.push(crl.crlNumber!);
    listed = crl.entries.map((e) => e.serial).sort();
    if (listed.length === want.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(listed, want);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], `CRL numbers went ${seen.join(', ')}`);
  // a later scheduled CRL still lists all four
  await new Promise((r) => setTimeout(r, 1200));
  const later = parseCrl((await get(port, '/crl.pem')).body.toString());
  assert.ok(later.crlNumber! > seen[seen.length - 1]);
  assert.deepEqual(later.entries.map((e) => e.serial).sort(), want);
});

test('HTTPS with --tls-cert/--tls-key', async (t) => {
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'pki-server', { profile: 'server' });
  const { port } = await startService(t, [ca], { tls: { cert: Buffer.from(server.certPem), key: Buffer.from(server.keyPem) } });
  const { request: httpsRequest } = await import('node:https');
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/crl.crl', ca: ca.ca.certPem, agent: false }, (res) => {
      res.resume();
      assert.equal(res.headers['content-type'], 'application/pkix-crl');
      resolve(res.statusCode!);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer')));
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 200);
  await assert.rejects(get(port, '/crl.crl', { timeoutMs: 3000 }), 'plain HTTP is not spoken on an HTTPS listener');
});
