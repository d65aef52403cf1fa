// The standalone executable (npm run build:sea, docs/deploy.md): built once into a temp dir, then run with no Node on
// PATH as a new user would: --version, init (node:sqlite inside), serve, one curl with the client certificate
// through it to a real upstream (served by as many workers as the machine has cores), SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import type { EchoReply } from '../helpers/echo-upstream.ts';
import { curl } from '../helpers/tls-clients.ts';
import { startProgram } from '../helpers/serve-process.ts';
import { freePort } from '../helpers/nginx.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test('the standalone executable: --version, init, serve, a request with a client certificate', { timeout: 600_000 }, async (t) => {
  const dir = tempDir(t, 'cg-sea-');
  const built = await runProcess(process.execPath, [join(ROOT, 'scripts', 'build-sea.ts'), '--out', join(dir, 'build')], { cwd: ROOT, timeoutMs: 300_000 });
  assert.equal(built.code, 0, built.stdout + built.stderr);
  const exe = join(dir, 'build', 'certgate');
  assert.ok(statSync(exe).mode & 0o100, 'executable');
  // no node on PATH: the executable carries its own
  const noNode = join(dir, 'empty-path');
  mkdirSync(noNode);
  const env = { PATH: noNode };
  const run = (args: string[], cwd: string, input?: string) => runProcess(exe, args, { cwd, env, input, timeoutMs: 60_000 });

  const version = await run(['--version'], dir);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), VERSION);
  assert.equal(version.stderr, '', 'no SEA or experimental warnings');

  // no config: one line, pointing at init (the executable has no examples/ beside it)
  const work = join(dir, 'work');
  mkdirSync(work);
  const missing = await run(['serve'], work);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^certgate: config file certgate\.yaml not found \(.*`certgate init`\)\n$/);

  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  writeFileSync(join(work, 'ca-pass.txt'), 'a long CA passphrase\n', { mode: 0o600 });
  // a fixed port, so `workers: auto` runs workers (node:cluster forks the executable itself)
  const listenPort = await freePort();
  const init = await run(['init', '--listen', `127.0.0.1:${listenPort}`, '--upstream', upstream.url, '--client', 'alice', '--passphrase-file', 'ca-pass.txt', '--no-p12'], work);
  assert.equal(init.code, 0, init.stderr);
  // the CA database (node:sqlite) works inside the executable
  const list = await run(['cert', 'list', '--dir', 'pki'], work);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /alice/);
  assert.match(list.stdout, /gateway/);

  const s = startProgram(exe, ['serve', '--drain-timeout', '5s'], work, 'gateway.listening', env);
  t.after(() => s.child.kill('SIGKILL'));
  const listening = await s.waitFor((l) => l.event === 'gateway.listening', 30_000);
  const port = Number(String(listening.address).split(':').pop());
  await s.waitFor((l) => l.event === 'gateway.ready');
  const workers = s.lines.find((l) => l.event === 'gateway.workers');
  assert.ok(Number(workers?.workers) >= 1, JSON.stringify(workers));
  // every worker is listening (a worker started wrongly would exit and be replaced, never listening); workers write
  // their own lines, which may reach stdout a moment after the primary's gateway.ready
  await s.waitFor(() => s.lines.filter((l) => l.event === 'gateway.listening').length >= Number(workers?.workers), 10_000);
  assert.equal(s.lines.filter((l) => l.event === 'worker.exited').length, 0);

  const issued = readdirSync(join(work, 'pki', 'issued'));
  const alice = issued.find((f) => /^alice-.*\.crt$/.test(f))!;
  const base = ['--cacert', join(work, 'pki', 'ca.crt'), '--resolve', `localhost:${port}:127.0.0.1`];
  const ok = await curl([...base, '--cert', join(work, 'pki', 'issued', alice), '--key', join(work, 'pki', 'issued', alice.replace(/\.crt$/, '.key')), `https://localhost:${port}/hello`]);
  assert.equal(ok.status, 200, ok.stderr + ok.body);
  const echoed = JSON.parse(ok.body) as EchoReply;
  assert.equal(echoed.url, '/hello');
  assert.equal(echoed.headers['x-client-verify'], 'SUCCESS');
  assert.match(String(echoed.headers['x-client-subject']), /CN=alice/);
  // the rejected twin: no certificate, no upstream request
  const seen = upstream.seen.length;
  const refused = await curl([...base, `https://localhost:${port}/hello`]);
  assert.equal(refused.status, 403);
  assert.equal(upstream.seen.length, seen);

  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);
  assert.ok(s.lines.some((l) => l.event === 'access' && l.status === 200 && String(l.subject).includes('alice')));
});
