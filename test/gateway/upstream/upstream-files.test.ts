// The upstream's client certificate as a .p12 with a password file, and upstream TLS files that change on disk:
// the file watch reloads, the pool is rebuilt, new connections present the new certificate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { opensslLeaf, opensslRootCa } from '../../helpers/openssl-certs.ts';
import { tempDir } from '../../helpers/pki.ts';
import { runProcess } from '../../helpers/cli.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import { h1Request } from '../../helpers/tls-clients.ts';
import { loadConfigFile, parseConfigText } from '../../../src/config/load.ts';
import { createGateway } from '../../../src/gateway/gateway.ts';
import { createReloadController } from '../../../src/gateway/reload.ts';
import { preflight } from '../../../src/gateway/preflight.ts';
import { createLogger } from '../../../src/observability/logger.ts';
import { createMetrics } from '../../../src/observability/metrics.ts';

const reasonOf = (body: string) => /Reason: <code>([a-z_]+)<\/code>/.exec(body)?.[1];

async function pki(t: { after(fn: () => unknown): void }) {
  const dir = tempDir(t, 'cg-upfiles-');
  const root = await opensslRootCa(dir, 'root');
  const other = await opensslRootCa(dir, 'other');
  const server = await opensslLeaf(root, { subj: '/CN=localhost', name: 'server', eku: 'serverAuth', san: 'DNS:localhost,IP:127.0.0.1' });
  const good = await opensslLeaf(root, { subj: '/CN=gateway', name: 'good' });
  const stranger = await opensslLeaf(other, { subj: '/CN=gateway', name: 'stranger' });
  // the mTLS upstream trusts client certificates of `root` only
  const upstream = await startEchoUpstream({ tls: { cert: server.certPem, key: server.keyPem, ca: root.certPem, requestCert: true } });
  t.after(() => upstream.close());
  return { dir, root, server, good, stranger, upstream };
}

test('upstream tls.p12 + passwordFile: the gateway presents the certificate in the .p12; a wrong password is a clear error', async (t) => {
  const { dir, root, server, good, upstream } = await pki(t);
  writeFileSync(join(dir, 'p12-pass.txt'), 'correct horse\n');
  const p12 = join(dir, 'client.p12');
  const r = await runProcess('openssl', ['pkcs12', '-export', '-in', good.certPath, '-inkey', good.keyPath, '-out', p12, '-passout', `file:${join(dir, 'p12-pass.txt')}`], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  const yaml = (passwordFile: string) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    routes:
      - path: /
        public: true
        upstream:
          url: https://127.0.0.1:${upstream.port}
          tls: {p12: client.p12, passwordFile: ${passwordFile}, ca: ${root.certPath}, servername: localhost}
`;
  const config = parseConfigText(yaml('p12-pass.txt'), join(dir, 'certgate.yaml'), dir);
  assert.deepEqual(preflight(config).filter((f) => f.level === 'error'), []);
  const gateway = createGateway(config, { logger: createLogger({ level: 'silent' }), metrics: createMetrics({ processMetrics: false }) });
  const [address] = await gateway.start();
  t.after(() => gateway.stop(500));
  const res = await h1Request(address.port, '/through', { ca: root.certPem });
  assert.equal(res.status, 200, res.body);
  assert.equal(upstream.seen.at(-1)?.url, '/through');

  // a password file with the wrong password: preflight (check / serve / reload) names the file and the problem
  writeFileSync(join(dir, 'wrong-pass.txt'), 'battery staple\n');
  const wrong = parseConfigText(yaml('wrong-pass.txt'), join(dir, 'certgate.yaml'), dir);
  const errors = preflight(wrong).filter((f) => f.level === 'error');
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /client\.p12: the password in .*wrong-pass\.txt does not open it/);
  // p12 beside cert/key, or a password file without a p12, is a config error at its line
  assert.throws(() => parseConfigText(yaml('p12-pass.txt').replace('{p12: client.p12,', `{p12: client.p12, cert: ${good.certPath}, key: ${good.keyPath},`), 'certgate.yaml', dir),
    /either as p12 or as cert \+ key, not both/);
});

test('replaced upstream client certificate files are picked up by the file watch: the pool is rebuilt', async (t) => {
  const { dir, root, server, good, stranger, upstream } = await pki(t);
  // the gateway starts with a certificate the upstream does not trust
  copyFileSync(stranger.certPath, join(dir, 'client.crt'));
  copyFileSync(stranger.keyPath, join(dir, 'client.key'));
  const configPath = join(dir, 'certgate.yaml');
  writeFileSync(configPath, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    routes:
      - path: /
        public: true
        upstream:
          url: https://127.0.0.1:${upstream.port}
          tls: {cert: client.crt, key: client.key, ca: ${root.certPath}, servername: localhost}
`);
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void logs.push(JSON.parse(s)) } });
  const metrics = createMetrics({ processMetrics: false });
  const gateway = createGateway(loadConfigFile(configPath), { logger, metrics });
  const [address] = await gateway.start();
  t.after(() => gateway.stop(500));
  const reloader = createReloadController({ configPath, gateway, logger, metrics, load: loadConfigFile, preflight, pollMs: 100 });
  reloader.watch();
  t.after(() => reloader.close());

  const refused = await h1Request(address.port, '/before', { ca: root.certPem });
  assert.equal(refused.status, 502);
  assert.equal(reasonOf(refused.body), 'upstream_refused_our_cert');

  // the certificate and key are replaced the way tools do it: written aside, renamed over
  writeFileSync(join(dir, 'client.crt.new'), good.certPem);
  writeFileSync(join(dir, 'client.key.new'), good.keyPem);
  renameSync(join(dir, 'client.key.new'), join(dir, 'client.key'));
  renameSync(join(dir, 'client.crt.new'), join(dir, 'client.crt'));
  let status = 0;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (logs.some((l) => l.event === 'config.reloaded')) {
      status = (await h1Request(address.port, '/after', { ca: root.certPem })).status;
      if (status === 200) break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 200, `after the files changed: ${JSON.stringify(logs.filter((l) => String(l.event).startsWith('config.')))}`);
  assert.match(String(logs.find((l) => l.event === 'config.reloaded')?.why), /file changed: .*client\.(crt|key)/);
  assert.equal(upstream.seen.at(-1)?.url, '/after');
});
