// `certgate reload` and what it relies on: `serve` titles its process "certgate" and keeps `pidFile:` (written once
// serving, refused while another live certgate holds it, removed at exit); reload signals that process or says in
// one line why it cannot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir, assertOneLineError } from '../helpers/pki.ts';
import type { Cleanup } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { h1Request } from '../helpers/tls-clients.ts';
import { runCli, runProcess } from '../helpers/cli.ts';
import { serve } from '../helpers/serve-process.ts';

async function fixture(t: Cleanup) {
  const dir = tempDir(t, 'cg-reloadcli-');
  // long enough that serve prints no expiry warning: stderr must hold exactly the one error line
  const ca = await makeCa(t, { passphrase: null, days: 400 });
  const server = await issueCert(ca, 'gateway', { profile: 'server', days: 90 });
  const alice = await issueCert(ca, 'alice');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const config = (route: string, pidFile = 'run/certgate.pid') => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    routes:
      - {path: ${route}, upstream: "${upstream.url}"}
${pidFile ? `pidFile: ${pidFile}\n` : ''}`;
  const creds = { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem };
  return { dir, config, creds, path: join(dir, 'certgate.yaml'), pidFile: join(dir, 'run', 'certgate.pid') };
}

/** A live process that is not certgate, killed after the test. */
function bystander(t: Cleanup): number {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => void child.kill('SIGKILL'));
  return child.pid!;
}

test('serve is titled certgate and keeps its pidFile; reload signals it; a second serve is refused; exit removes it', async (t) => {
  const { dir, config, creds, path, pidFile } = await fixture(t);
  writeFileSync(path, config('/old'));
  // a relative pidFile resolves against the config's directory, and its directory must exist
  const noDir = await runCli(['serve', '-c', path], { cwd: dir, timeoutMs: 20_000 });
  assertOneLineError(noDir, /cannot write pidFile .*run\/certgate\.pid: ENOENT/);
  await runProcess('mkdir', [join(dir, 'run')]);

  const s = serve(path, dir);
  t.after(() => s.child.kill('SIGKILL'));
  const port = await s.port();
  const ready = await s.waitFor((l) => l.event === 'gateway.ready');
  assert.equal(ready.pidFile, pidFile);
  const pid = s.child.pid!;
  assert.equal(readFileSync(pidFile, 'utf8'), `${pid}\n`);
  assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'certgate');
  const pidof = await runProcess('pidof', ['certgate']);
  assert.ok(pidof.stdout.trim().split(/\s+/).includes(String(pid)), `pidof certgate: ${pidof.stdout}`);

  writeFileSync(path, config('/new'));
  const r = await runCli(['reload', '-c', 'certgate.yaml'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`sent SIGHUP to certgate \\(pid ${pid}, pidFile run/certgate\\.pid\\)`));
  await s.waitFor((l) => l.event === 'config.reloaded' && l.why === 'SIGHUP');
  assert.equal((await h1Request(port, '/new', creds)).status, 200);

  const byPid = await runCli(['reload', '--pid', String(pid)], { cwd: dir });
  assert.equal(byPid.code, 0, byPid.stderr);
  await s.waitFor((l) => l.event === 'config.reloaded' && l !== s.lines.find((x) => x.event === 'config.reloaded'));

  const second = await runCli(['serve', '-c', path], { cwd: dir, timeoutMs: 20_000 });
  assertOneLineError(second, new RegExp(`pidFile .*certgate\\.pid names certgate process ${pid}, which is still running`));
  assert.equal(readFileSync(pidFile, 'utf8'), `${pid}\n`, 'the running gateway keeps its pid file');

  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);
  assert.equal(existsSync(pidFile), false, 'removed at exit');
  const after = await runCli(['reload', '-c', path], { cwd: dir });
  assertOneLineError(after, /pidFile run\/certgate\.pid does not exist: no certgate serve is running/);
});

test('a stale pidFile (its process is gone, or is not certgate) does not stop serve from starting', async (t) => {
  const { dir, config, path, pidFile } = await fixture(t);
  await runProcess('mkdir', [join(dir, 'run')]);
  writeFileSync(path, config('/'));
  writeFileSync(pidFile, `${bystander(t)}\n`);
  const s = serve(path, dir);
  t.after(() => s.child.kill('SIGKILL'));
  await s.waitFor((l) => l.event === 'gateway.ready');
  assert.equal(readFileSync(pidFile, 'utf8'), `${s.child.pid}\n`);
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});

test('reload explains in one line why it cannot signal', async (t) => {
  const { dir, config, path, pidFile } = await fixture(t);
  await runProcess('mkdir', [join(dir, 'run')]);

  writeFileSync(path, config('/', ''));
  assertOneLineError(await runCli(['reload'], { cwd: dir }), /certgate\.yaml sets no pidFile, so the running gateway cannot be found \(add "pidFile:/);

  writeFileSync(path, config('/'));
  writeFileSync(pidFile, 'not a pid\n');
  assertOneLineError(await runCli(['reload', '-c', path], { cwd: dir }), /pidFile run\/certgate\.pid does not hold a process id/);

  const sleeper = bystander(t);
  writeFileSync(pidFile, `${sleeper}\n`);
  assertOneLineError(await runCli(['reload'], { cwd: dir }), new RegExp(`process ${sleeper} \\(pidFile run/certgate\\.pid\\) is "sleep", not certgate`));
  // the bystander was not signalled: SIGHUP would have ended it
  assert.equal((await runProcess('kill', ['-0', String(sleeper)])).code, 0);

  const gone = await runProcess(process.execPath, ['-e', 'console.log(process.pid)']);
  assertOneLineError(await runCli(['reload', '--pid', gone.stdout.trim()], { cwd: dir }), /no process \d+ \(--pid \d+\): certgate is not running/);
  const bad = await runCli(['reload', '--pid', 'abc'], { cwd: dir });
  assertOneLineError(bad, /--pid "abc" is not a process id/);

  writeFileSync(path, config('/').replace('servers:', 'servrs:'));
  assertOneLineError(await runCli(['reload'], { cwd: dir }), /certgate\.yaml:\d+:\d+: /);
});
