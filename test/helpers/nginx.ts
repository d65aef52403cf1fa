// Test helper: runs Debian's nginx in the foreground (one process, no daemon) from a config body, under a temp prefix,
// on 127.0.0.1 ports picked by the test; stopped by the test's cleanup.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Cleanup } from './pki.ts';

export const NGINX = '/usr/sbin/nginx';

/** A port that was free a moment ago (nginx cannot listen on :0 and report it). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port }, () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

/**
 * Starts nginx with `httpBody` inside its `http {}` block and waits (at most 10 s) until every port in `ports`
 * accepts connections. Throws with nginx's error log when it does not come up.
 */
export async function startNginx(t: Cleanup, dir: string, httpBody: string, ports: number[]): Promise<void> {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} info;
events { worker_connections 64; }
http {
  access_log ${join(dir, 'access.log')};
  client_body_temp_path ${join(dir, 'tmp')};
  proxy_temp_path ${join(dir, 'tmp')};
  fastcgi_temp_path ${join(dir, 'tmp')};
  uwsgi_temp_path ${join(dir, 'tmp')};
  scgi_temp_path ${join(dir, 'tmp')};
${httpBody}
}
`);
  const child = spawn(NGINX, ['-p', dir + '/', '-c', conf, '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  let exited = false;
  child.on('exit', () => (exited = true));
  t.after(async () => {
    if (exited) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await Promise.race([gone, new Promise<void>((r) => setTimeout(r, 3_000))]);
    if (!exited) child.kill('SIGKILL');
  });
  for (let i = 0; i < 100; i++) {
    if (exited) break;
    if ((await Promise.all(ports.map(accepts))).every(Boolean)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  let log = '';
  try { log = readFileSync(join(dir, 'error.log'), 'utf8'); } catch { /* no log written */ }
  throw new Error(`nginx did not start on ${ports.join(', ')}: ${log.slice(-2000)}`);
}
