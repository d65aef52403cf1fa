// `certgate serve` as a real process: refuses to start on preflight errors; SIGHUP reloads, a bad config is refused
// with file:line:col and the old one keeps serving; SIGTERM drains in-flight requests and exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import { h1Request } from '../helpers/tls-clients.ts';
import { runCli } from '../helpers/cli.ts';
import { serve } from '../helpers/serve-process.ts';
import { createReloadController } from '../../src/gateway/reload.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { preflight } from '../../src/gateway/preflight.ts';
import { createLogger } from '../../src/observability/logger.ts';

async function fixture(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t, 'cg-reload-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const alice = await issueCert(ca, 'alice');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const config = (route: string) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    routes:
      - {path: ${route}, upstream: "${upstream.url}"}
log: {level: info}
`;
  const creds = { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem };
  return { dir, ca, server, alice, upstream, config, creds };
}

test('serve refuses to start when preflight finds an error, naming the file', async (t) => {
  const { dir, server, config } = await fixture(t);
  writeFileSync(join(dir, 'certgate.yaml'), config('/').replace(`key: ${server.keyPath}`, `key: ${join(dir, 'missing.key')}`));
  const r = await runCli(['serve', '-c', 'certgate.yaml'], { cwd: dir, timeoutMs: 20_000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /missing\.key/);
  assert.match(r.stderr, /refusing to start/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('SIGHUP: a bad config is refused with file:line:col and the old one keeps serving; a good one takes over', async (t) => {
  const { dir, config, creds } = await fixture(t);
  const path = join(dir, 'certgate.yaml');
  writeFileSync(path, config('/old'));
  const s = serve(path, dir);
  t.after(() => s.child.kill('SIGKILL'));
  const listening = await s.waitFor((l) => l.event === 'gateway.listening');
  const port = Number(String(listening.address).split(':').pop());
  await s.waitFor((l) => l.event === 'gateway.ready');
  assert.equal((await h1Request(port, '/old', creds)).status, 200);

  writeFileSync(path, config('/new').replace('routes:', 'routes:\n      - {path: /x, upstream: 42}'));
  s.child.kill('SIGHUP');
  const refused = await s.waitFor((l) => l.event === 'config.reload_refused');
  assert.match(String(refused.msg), /certgate\.yaml:\d+:\d+: /);
  assert.equal((await h1Request(port, '/old', creds)).status, 200, 'old config still serving');

  writeFileSync(path, config('/new'));
  s.child.kill('SIGHUP');
  await s.waitFor((l) => l.event === 'config.reloaded');
  assert.equal((await h1Request(port, '/new', creds)).status, 200);
  assert.equal((await h1Request(port, '/old', creds)).status, 404);

  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});

test('SIGTERM drains: the in-flight request finishes, new connections are refused, exit 0', async (t) => {
  const { dir, config, creds } = await fixture(t);
  const path = join(dir, 'certgate.yaml');
  writeFileSync(path, config('/'));
  const s = serve(path, dir);
  t.after(() => s.child.kill('SIGKILL'));
  const listening = await s.waitFor((l) => l.event === 'gateway.listening');
  const port = Number(String(listening.address).split(':').pop());
  await s.waitFor((l) => l.event === 'gateway.ready');
  const inflight = h1Request(port, '/slow?ms=1500', creds);
  // wait until the request is at the upstream, then stop
  await new Promise((r) => setTimeout(r, 300));
  s.child.kill('SIGTERM');
  await s.waitFor((l) => l.event === 'gateway.draining');
  await assert.rejects(h1Request(port, '/late', creds));
  const res = await inflight;
  assert.equal(res.status, 200);
  assert.equal(await s.exited, 0);
  assert.ok(s.lines.some((l) => l.event === 'gateway.stopped'));
});

test('in-process: a reload that fails keeps the previous config and logs why', async (t) => {
  const { dir, config, creds } = await fixture(t);
  const gw = await startGateway(t, dir, config('/old'));
  const logs: string[] = [];
  const logger = createLogger({ destination: { write: (s: string) => void logs.push(s) } });
  const reloader = createReloadController({ configPath: gw.configPath, gateway: gw.gateway, logger, metrics: gw.metrics, load: (p) => loadConfigFile(p), preflight, pollMs: 0 });
  t.after(() => reloader.close());
  writeFileSync(gw.configPath, config('/new').replace('{path: /new', '{pth: /new'));
  assert.equal(await reloader.reloadConfig('test'), false);
  assert.match(logs.join(''), /config\.reload_refused/);
  assert.match(logs.join(''), /certgate\.yaml:\d+:\d+/);
  assert.equal((await h1Request(gw.port, '/old', creds)).status, 200);
  writeFileSync(gw.configPath, config('/new'));
  assert.equal(await reloader.reloadConfig('test'), true);
  assert.equal((await h1Request(gw.port, '/new', creds)).status, 200);
  assert.match(await gw.metrics.registry.metrics(), /certgate_config_reloads_total\{result="refused"\} 1/);
});
