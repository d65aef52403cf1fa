// log.file: access lines go to a file in whole lines; SIGUSR1 (logrotate's postrotate) reopens it at its path, and
// no line is lost or split across the renamed file and the new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir, assertOneLineError } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { h1Request } from '../helpers/tls-clients.ts';
import { runCli } from '../helpers/cli.ts';
import { serve } from '../helpers/serve-process.ts';
import { openLogFile } from '../../src/observability/log-file.ts';
import { createLogger, flushLogger, writeFlat } from '../../src/observability/logger.ts';

/** Parses every line of a log file; fails on any line that is not one whole JSON object. */
function parseLines(path: string): Array<Record<string, unknown>> {
  const text = readFileSync(path, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), `${path} ends mid-line`);
  return text.split('\n').filter((l) => l !== '').map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      assert.fail(`split or garbled line in ${path}: ${l.slice(0, 200)}`);
    }
  });
}

test('reopen under a stream of writes: every line whole, in one file or the other, none lost', async (t) => {
  const dir = tempDir(t, 'cg-logfile-');
  const path = join(dir, 'access.log');
  const file = openLogFile(path);
  const log = createLogger({ destination: file.destination });
  const pad = 'x'.repeat(300); // ~400-byte lines: a 16 KiB batch boundary falls inside lines
  let i = 0;
  for (; i < 3000; i++) writeFlat(log, { event: 'access', i, pad });
  await flushLogger(log); // these reached the file before logrotate renames it
  for (; i < 3500; i++) writeFlat(log, { event: 'access', i, pad }); // and these are still buffered when it does
  renameSync(path, `${path}.1`);
  const reopened = file.reopen();
  for (; i < 6000; i++) writeFlat(log, { event: 'access', i, pad });
  await reopened;
  for (; i < 7000; i++) writeFlat(log, { event: 'access', i, pad });
  await flushLogger(log);
  file.close();
  const old = parseLines(`${path}.1`).map((l) => l.i as number);
  const now = parseLines(path).map((l) => l.i as number);
  assert.ok(old.length >= 3000, `the old file keeps what was written before the rename (${old.length})`);
  assert.ok(now.length >= 1000, `the new file has the lines after the reopen (${now.length})`);
  assert.deepEqual([...old, ...now], Array.from({ length: 7000 }, (_, k) => k), 'every line once, in order');
});

test('serve writes access lines to log.file and reopens it on SIGUSR1', async (t) => {
  const dir = tempDir(t, 'cg-logserve-');
  const ca = await makeCa(t, { passphrase: null, days: 400 });
  const server = await issueCert(ca, 'gateway', { profile: 'server', days: 90 });
  const alice = await issueCert(ca, 'alice');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const creds = { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem };
  const config = (file: string) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    routes:
      - {path: /, upstream: "${upstream.url}"}
log: {file: ${file}}
`;
  const cfg = join(dir, 'certgate.yaml');

  // the rejected twin: a log.file whose directory does not exist stops the start with one line
  writeFileSync(cfg, config('missing/access.log'));
  assertOneLineError(await runCli(['serve', '-c', cfg], { cwd: dir, timeoutMs: 20_000 }), /cannot open log\.file .*missing\/access\.log: ENOENT/);

  writeFileSync(cfg, config('access.log')); // relative to the config file
  const logPath = join(dir, 'access.log');
  const s = serve(cfg, dir);
  t.after(() => s.child.kill('SIGKILL'));
  const port = await s.port();
  const batch = async (from: number, n: number) => {
    const rs = await Promise.all(Array.from({ length: n }, (_, k) => h1Request(port, `/p/${from + k}`, creds)));
    for (const r of rs) assert.equal(r.status, 200);
  };
  await batch(0, 30);
  // lines are written in batches at least every 200 ms: wait until the first 30 are in the file (bounded)
  for (let tries = 0; tries < 50 && (!existsSync(logPath) || parseLines(logPath).length < 30); tries++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(parseLines(logPath).length, 30);
  // logrotate's rename, then its postrotate `kill -USR1`, while requests are in flight
  const during = batch(30, 30);
  renameSync(logPath, `${logPath}.1`);
  s.child.kill('SIGUSR1');
  await s.waitFor((l) => l.event === 'log.reopened');
  await during;
  await batch(60, 30);
  // a reload cannot move the file: it says so, and the lines keep going to the open one
  writeFileSync(cfg, config('elsewhere.log'));
  s.child.kill('SIGHUP');
  const warned = await s.waitFor((l) => l.event === 'config.warning' && l.setting === 'log.file');
  assert.equal(warned.ignored, join(dir, 'elsewhere.log'));
  await s.waitFor((l) => l.event === 'config.reloaded');
  await batch(90, 5);
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);

  assert.ok(existsSync(logPath), 'a new file at the original path');
  const old = parseLines(`${logPath}.1`);
  const now = parseLines(logPath);
  for (const l of [...old, ...now]) assert.equal(l.event, 'access');
  const paths = (ls: Array<Record<string, unknown>>) => ls.map((l) => Number(String(l.path).slice(3)));
  const all = [...paths(old), ...paths(now)].sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: 95 }, (_, k) => k), 'each request logged exactly once');
  assert.equal(existsSync(join(dir, 'elsewhere.log')), false);
  for (let k = 0; k < 30; k++) assert.ok(paths(old).includes(k), `request ${k} (before the rotation) is in the renamed file`);
  for (let k = 60; k < 90; k++) assert.ok(paths(now).includes(k), `request ${k} (after the reopen) is in the new file`);
  assert.equal(s.lines.filter((l) => l.event === 'access').length, 0, 'no access line on stdout');
  assert.ok(s.lines.some((l) => l.event === 'gateway.ready'), 'the other lines stay on stdout');
});
