// The file watch and Kubernetes-style updates: a mounted Secret or ConfigMap is replaced by swapping its `..data`
// symlink to a new timestamped directory (dir/certgate.yaml -> ..data/certgate.yaml). The config file and the CA/CRL
// files must be picked up like an in-place edit, also when the new file has the old one's size and mtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, symlinkSync, renameSync, rmSync, statSync, utimesSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir, crlPem } from '../helpers/pki.ts';
import type { Cleanup, TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { h1Request } from '../helpers/tls-clients.ts';
import type { Creds } from '../helpers/tls-clients.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { preflight } from '../../src/gateway/preflight.ts';
import { createGateway } from '../../src/gateway/gateway.ts';
import { createReloadController } from '../../src/gateway/reload.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';

/** A directory laid out as the kubelet lays out a mounted volume; `update` swaps in a new generation atomically. */
class ProjectedVolume {
  readonly dir: string;
  #generation = 0;
  #current: string | undefined;

  constructor(dir: string, files: Record<string, string | Buffer>) {
    this.dir = dir;
    this.update(files);
    for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(dir, name));
  }

  /** Writes a new timestamped directory, points `..data` at it with one rename, removes the old one. */
  update(files: Record<string, string | Buffer>, opts: { sameTimes?: boolean } = {}): void {
    const name = `..2026_01_01_00_00_0${this.#generation++}.${1000 + this.#generation}`;
    const next = join(this.dir, name);
    mkdirSync(next);
    for (const [file, data] of Object.entries(files)) {
      writeFileSync(join(next, file), data);
      if (opts.sameTimes && this.#current) {
        const before = statSync(join(this.dir, this.#current, file));
        utimesSync(join(next, file), before.atime, before.mtime);
      }
    }
    symlinkSync(name, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.#current) rmSync(join(this.dir, this.#current), { recursive: true });
    this.#current = name;
  }

  read(file: string): string {
    return readFileSync(join(this.dir, file), 'utf8');
  }
}

async function fixture(t: Cleanup) {
  const dir = tempDir(t, 'cg-k8s-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const alice = await issueCert(ca, 'alice');
  const bob = await issueCert(ca, 'bob');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  // a ConfigMap with certgate.yaml and a Secret with the TLS and CA material, each mounted as a directory; relative
  // paths are resolved against the directory of the configured path (the mount), not the ..data target
  const yaml = (route: string) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ../pki/tls.crt, key: ../pki/tls.key}
    clientAuth: {ca: ../pki/ca.crt, crl: ../pki/ca.crl}
    routes:
      - {path: ${route}, upstream: "${upstream.url}"}
`;
  const secret = async (revoked: TestCert[]) => ({ 'tls.crt': server.certPem, 'tls.key': server.keyPem, 'ca.crt': ca.ca.certPem, 'ca.crl': await crlPem(ca, revoked) });
  mkdirSync(join(dir, 'config'));
  mkdirSync(join(dir, 'pki'));
  const configMap = new ProjectedVolume(join(dir, 'config'), { 'certgate.yaml': yaml('/old') });
  const pki = new ProjectedVolume(join(dir, 'pki'), await secret([]));
  const configPath = join(dir, 'config', 'certgate.yaml');
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void logs.push(JSON.parse(s)) } });
  const metrics = createMetrics({ processMetrics: false });
  const gateway = createGateway(loadConfigFile(configPath), { logger, metrics });
  const [address] = await gateway.start();
  t.after(() => gateway.stop(500));
  const hooks: { afterRead?: () => void } = {};
  const load = (p: string) => {
    const config = loadConfigFile(p);
    hooks.afterRead?.();
    return config;
  };
  const reloader = createReloadController({ configPath, gateway, logger, metrics, load, preflight, pollMs: 100 });
  reloader.watch();
  t.after(() => reloader.close());
  const creds = (c: TestCert): Creds => ({ ca: ca.ca.certPem, cert: c.certPem, key: c.keyPem });
  /** Waits (bounded) until `event` has been logged more than `seen` times. */
  const logged = async (event: string, seen: number) => {
    const deadline = Date.now() + 10_000;
    while (logs.filter((l) => l.event === event).length <= seen) {
      if (Date.now() > deadline) throw new Error(`no ${event} within 10 s; last lines: ${JSON.stringify(logs.slice(-3))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const count = (event: string) => logs.filter((l) => l.event === event).length;
  return { configMap, pki, yaml, secret, hooks, port: address.port, alice, bob, creds, logged, count };
}

test('a ConfigMap-style swap of certgate.yaml reloads the config, twice in a row', async (t) => {
  const { configMap, yaml, port, alice, creds, logged, count } = await fixture(t);
  assert.equal((await h1Request(port, '/old', creds(alice))).status, 200);

  configMap.update({ 'certgate.yaml': yaml('/new') });
  await logged('config.reloaded', 0);
  assert.equal((await h1Request(port, '/new', creds(alice))).status, 200);
  assert.equal((await h1Request(port, '/old', creds(alice))).status, 404);

  // same length (/new and /two), same mtime: only the file behind the link differs
  configMap.update({ 'certgate.yaml': yaml('/two') }, { sameTimes: true });
  await logged('config.reloaded', 1);
  assert.equal((await h1Request(port, '/two', creds(alice))).status, 200);
  assert.equal(count('config.reload_refused'), 0);
});

test('a Secret-style swap of the CRL and CA files starts a new trust generation: the revoked certificate is refused', async (t) => {
  const { pki, secret, port, alice, bob, creds, logged, count } = await fixture(t);
  assert.equal((await h1Request(port, '/old', creds(bob))).status, 200);

  pki.update(await secret([bob]), { sameTimes: true });
  await logged('trust.reloaded', 0);
  const refused = await h1Request(port, '/old', creds(bob));
  assert.equal(refused.status, 403);
  assert.match(refused.body, /revoked/);
  assert.equal((await h1Request(port, '/old', creds(alice))).status, 200);

  // and back: a CRL without bob, swapped in the same way
  const seen = count('trust.reloaded');
  pki.update(await secret([]));
  await logged('trust.reloaded', seen);
  assert.equal((await h1Request(port, '/old', creds(bob))).status, 200);
  assert.match(pki.read('ca.crl'), /BEGIN X509 CRL/);
  assert.equal(count('config.reloaded'), 0, 'trust changes alone do not reload the config');
});

test('an update that lands while a reload is running is not lost', async (t) => {
  const { configMap, yaml, hooks, port, alice, creds, logged } = await fixture(t);
  // the kubelet swaps the volume again right after the reload read the file, before it is done
  hooks.afterRead = () => {
    hooks.afterRead = undefined;
    configMap.update({ 'certgate.yaml': yaml('/three') });
  };
  configMap.update({ 'certgate.yaml': yaml('/two') });
  await logged('config.reloaded', 1);
  assert.equal((await h1Request(port, '/three', creds(alice))).status, 200);
  assert.equal((await h1Request(port, '/two', creds(alice))).status, 404);
});
