// deploy/docker/Dockerfile (no Dockerfile linter ships in Debian, so its rules are checked here): a Node 24 slim
// base, a non-root user, and a HEALTHCHECK on /readyz whose command really tells 200 from 503.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { runProcess } from '../helpers/cli.ts';
import { parseConfigText } from '../../src/config/load.ts';

const DIR = fileURLToPath(new URL('../../deploy/', import.meta.url));
const DOCKERFILE = readFileSync(`${DIR}docker/Dockerfile`, 'utf8');

/** Instructions, continuation lines joined, comments dropped. */
const INSTRUCTIONS = DOCKERFILE.replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() && !l.startsWith('#'))
  .map((l) => { const m = /^(\w+)\s+(.*)$/.exec(l.trim())!; return { op: m[1].toUpperCase(), args: m[2] }; });
const all = (op: string) => INSTRUCTIONS.filter((i) => i.op === op).map((i) => i.args);

function k8sConfig() {
  const cm = parseAllDocuments(readFileSync(`${DIR}k8s/configmap.yaml`, 'utf8')).map((d) => d.toJS()).find((o) => o?.kind === 'ConfigMap');
  return parseConfigText(cm.data['certgate.yaml'], 'configmap', '/etc/certgate/config');
}

test('every stage is node:24-slim; the image runs as a non-root user; build context rules exist', () => {
  const froms = all('FROM');
  assert.ok(froms.length >= 1);
  for (const f of froms) assert.match(f, /^node:24-slim\b/);
  const user = all('USER').at(-1);
  assert.ok(user && !/^(root|0)(:|$)/.test(user), `final USER ${user}`);
  assert.ok(existsSync(`${DIR}docker/Dockerfile.dockerignore`));
  assert.match(readFileSync(`${DIR}docker/Dockerfile.dockerignore`, 'utf8'), /^node_modules$/m);
  // the ports the image documents are the ones the Kubernetes config uses
  const config = k8sConfig();
  const exposed = all('EXPOSE').flatMap((a) => a.split(/\s+/)).map(Number).sort();
  const expected = [...config.servers.map((s) => Number(s.listen.split(':').pop())), Number(config.metrics!.listen.split(':').pop())].sort();
  assert.deepEqual(exposed, expected);
});

test('the HEALTHCHECK asks /readyz on the metrics port and fails on 503 and on no answer', async (t) => {
  const hc = all('HEALTHCHECK');
  assert.equal(hc.length, 1);
  const cmd = JSON.parse(/CMD\s+(\[.*\])\s*$/.exec(hc[0])![1]) as string[];
  assert.equal(cmd[0], 'node');
  const url = /^CERTGATE_HEALTH_URL=(\S+)$/.exec(all('ENV').find((e) => e.startsWith('CERTGATE_HEALTH_URL=')) ?? '')?.[1];
  assert.ok(url);
  const u = new URL(url);
  assert.equal(u.pathname, '/readyz');
  assert.equal(u.port, k8sConfig().metrics!.listen.split(':').pop());

  let status = 200;
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/readyz' ? status : 404;
    res.end(status === 200 ? 'ready\n' : 'not ready: starting\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const run = (target: string) => runProcess(process.execPath, cmd.slice(1), { env: { CERTGATE_HEALTH_URL: target }, timeoutMs: 20_000 });
  assert.equal((await run(`http://127.0.0.1:${port}${u.pathname}`)).code, 0);
  status = 503;
  assert.equal((await run(`http://127.0.0.1:${port}${u.pathname}`)).code, 1);
  server.close();
  assert.equal((await run(`http://127.0.0.1:${port}${u.pathname}`)).code, 1, 'nothing listening');
});
