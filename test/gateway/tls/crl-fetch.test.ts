// CrlFetcher against real HTTP servers on 127.0.0.1: a plain server is polled (no ?wait after it shows it does not
// long-poll), 503 waits for Retry-After, the cache lands in stateDir, close() stops every request; stateDir defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import { parseConfigText } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/observability/logger.ts';
import { CrlFetcher, cachePaths, resolveStateDir } from '../../../src/gateway/tls/crl-fetch.ts';

test('resolveStateDir: config, then $STATE_DIRECTORY, then $XDG_STATE_HOME/certgate, then ~/.local/state/certgate', () => {
  assert.equal(resolveStateDir({ stateDir: '/srv/state' }, { STATE_DIRECTORY: '/var/lib/certgate' }), '/srv/state');
  assert.equal(resolveStateDir({}, { STATE_DIRECTORY: '/var/lib/certgate:/var/lib/other', XDG_STATE_HOME: '/x' }), '/var/lib/certgate');
  assert.equal(resolveStateDir({}, { XDG_STATE_HOME: '/home/u/.state' }), '/home/u/.state/certgate');
  assert.match(resolveStateDir({}, {}), /\/\.local\/state\/certgate$/);
});

test('CrlFetcher: polls a plain server every crlRefresh, honours 503 Retry-After, caches, and stops on close', async (t) => {
  const dir = tempDir(t, 'cg-crlfetch-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const crl = readFileSync(join(ca.dir, 'crl-bundle.pem'));
  const seen: Array<{ url: string; inm: string | undefined; at: number }> = [];
  let busy = 0;
  const http = createServer((req: IncomingMessage, res) => {
    seen.push({ url: req.url ?? '', inm: req.headers['if-none-match'] as string | undefined, at: Date.now() });
    if (busy > 0) {
      busy--;
      res.writeHead(503, { 'retry-after': '1' }).end();
      return;
    }
    if (req.headers['if-none-match'] === '"1"') res.writeHead(304, { etag: '"1"' }).end();
    else res.writeHead(200, { etag: '"1"' }).end(crl);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => http.close(() => r())));
  const url = `http://127.0.0.1:${(http.address() as { port: number }).port}/crl-bundle.pem`;
  const config = parseConfigText(`
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: "${url}", crlRefresh: 300ms}
    routes: [{path: /, upstream: "http://127.0.0.1:9"}]
`, join(dir, 'certgate.yaml'), dir);
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => logs.push(JSON.parse(s)) } });
  const stateDir = join(dir, 'state');
  const fetcher = new CrlFetcher({ stateDir, logger, writeCache: true });
  t.after(() => fetcher.close());

  assert.deepEqual(await fetcher.prepare(config), []);
  assert.ok(fetcher.data(url)?.equals(crl));
  assert.ok(readFileSync(cachePaths(stateDir, url).body).equals(crl), 'the accepted CRL is cached');
  assert.equal(JSON.parse(readFileSync(cachePaths(stateDir, url).meta, 'utf8')).etag, '"1"');

  fetcher.start();
  const deadline = Date.now() + 5_000;
  while (seen.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(seen.length >= 5, `polled: ${seen.length}`);
  assert.match(seen[1].url, /\?wait=25$/, 'the first poll offers to long-poll');
  assert.equal(seen[1].inm, '"1"');
  assert.ok(seen.slice(2).every((s) => !s.url.includes('wait=')), 'a server without X-Certgate-Wait is then polled plainly');
  const gaps = seen.slice(2, 5).map((s, i) => s.at - seen[i + 1].at);
  assert.ok(gaps.every((g) => g >= 250), `polled every crlRefresh (300 ms): ${gaps}`);

  busy = 1;
  const before = seen.length;
  while (seen.length < before + 2 && Date.now() < deadline + 5_000) await new Promise((r) => setTimeout(r, 50));
  assert.ok(seen[before + 1].at - seen[before].at >= 300, 'after 503 it waits (Retry-After capped at crlRefresh)');

  fetcher.close();
  const stopped = seen.length;
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(seen.length, stopped, 'no request after close()');
  assert.equal(logs.filter((l) => l.event === 'crl.refused').length, 0);
});

test('CrlFetcher: no copy anywhere is a problem line; an unwritable stateDir is one too', async (t) => {
  const dir = tempDir(t, 'cg-crlfetch-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const yaml = (url: string) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: "${url}"}
    routes: [{path: /, upstream: "http://127.0.0.1:9"}]
`;
  const logger = createLogger({ level: 'silent' });
  const config = parseConfigText(yaml('http://127.0.0.1:9/crl.pem'), join(dir, 'c.yaml'), dir);
  const none = new CrlFetcher({ stateDir: join(dir, 'state'), logger, writeCache: false });
  const problems = await none.prepare(config);
  none.close();
  assert.equal(problems.length, 1);
  assert.match(problems[0], /CRL URL http:\/\/127\.0\.0\.1:9\/crl\.pem: cannot fetch it \(ECONNREFUSED\); there is no cached copy/);
  assert.equal(existsSync(join(dir, 'state')), false, 'check (writeCache: false) creates nothing');

  const blocker = join(dir, 'file');
  writeFileSync(blocker, 'x');
  chmodSync(blocker, 0o400);
  const bad = new CrlFetcher({ stateDir: join(blocker, 'state'), logger, writeCache: true });
  const p2 = await bad.prepare(config);
  bad.close();
  assert.match(p2[0], /stateDir .* cannot be created/);
});
