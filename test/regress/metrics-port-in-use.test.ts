// Regression: `certgate serve` with a metrics.listen port another process already uses exited 2 with "internal
// error ... please report it" (and a stack with --debug). A busy port is the user's to fix: it now exits 1 with one
// line on stderr that names metrics.listen. Runs the real CLI as a child process; the port is held by a local server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import type { Cleanup } from '../helpers/pki.ts';
import { runCli, CLI_ENTRY } from '../helpers/cli.ts';

async function fixture(t: Cleanup): Promise<{ dir: string; config: (metricsPort: number) => string }> {
  const dir = tempDir(t, 'cg-metricsport-');
  // valid past preflight's 30-day warning, so stderr holds only what serve says about the port
  const ca = await makeCa(t, { passphrase: null, days: 90 });
  const server = await issueCert(ca, 'gateway', { profile: 'server', days: 60 });
  const config = (metricsPort: number) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    routes:
      - {path: /, upstream: "http://127.0.0.1:9"}
metrics: {listen: "127.0.0.1:${metricsPort}"}
`;
  return { dir, config };
}

/** A local TCP server holding a loopback port (closed by the test). */
async function occupy(t: Cleanup): Promise<number> {
  const holder = createServer((s) => s.destroy());
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => holder.close(() => r())));
  return (holder.address() as AddressInfo).port;
}

test('serve with metrics.listen on a port in use exits 1 with one line naming metrics.listen', async (t) => {
  const { dir, config } = await fixture(t);
  const port = await occupy(t);
  writeFileSync(join(dir, 'certgate.yaml'), config(port));
  for (const args of [[], ['--debug']]) {
    const r = await runCli(['serve', '-c', 'certgate.yaml', ...args], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(r.code, 1, `exit code with ${JSON.stringify(args)}; stderr: ${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
    assert.match(lines[0], /metrics\.listen/);
    assert.match(lines[0], new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(r.stderr, /internal error|please report/i);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('the twin: with the port free, serve starts and answers /metrics', async (t) => {
  const { dir, config } = await fixture(t);
  // a port that was free a moment ago (held by nobody now)
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  writeFileSync(join(dir, 'certgate.yaml'), config(port));
  const child = spawn(process.execPath, [CLI_ENTRY, 'serve', '-c', 'certgate.yaml'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
  t.after(() => {
    clearTimeout(kill);
    child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const listening = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('"event":"metrics.listening"')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.once('exit', () => resolve(false));
  });
  assert.ok(listening, `metrics.listening not logged; stdout: ${out.slice(-500)} stderr: ${err}`);
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /^certgate_limit_hits_total|# TYPE certgate_requests_total counter/m);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, err);
});
