// nginx for the benchmark: config writers (gateway with client-cert auth, 100-byte upstream) and process control.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort, startPinned, type CpuSet, type Pinned } from './proc.ts';

const run = promisify(execFile);

export const NGINX = '/usr/sbin/nginx';

/** The fixed 100-byte body every upstream response carries. */
export const BODY_100 = 'certgate-bench-upstream-body-'.repeat(4).slice(0, 99) + '\n';

export interface UpstreamTarget {
  port: number;
  /** Present: the upstream is https and requires this client certificate (proxy_ssl_certificate). */
  tls?: { ca: string; cert: string; key: string; servername: string };
}

export interface GatewayNginxOptions {
  /** Prefix dir of this nginx instance (pid, logs, temp paths). */
  dir: string;
  port: number;
  serverCert: string;
  serverKey: string;
  clientCa: string;
  upstream: UpstreamTarget;
  /** Write an access log line per request (off by default, as for certgate: the bench measures the proxy path). */
  accessLog?: boolean;
  /**
   * Absent: one process (master_process off), as in the per-core scenarios. A number (the `workers` scenario): a
   * master and that many worker processes, each with its own listening socket (`reuseport`, as certgate's workers
   * bind theirs with SO_REUSEPORT), so the kernel spreads connections the same way for both.
   */
  workers?: number;
}

export interface UpstreamNginxOptions {
  dir: string;
  /** Plain HTTP listener. */
  port: number;
  /** https listener that requires a client certificate signed by `clientCa`. */
  tls: { port: number; cert: string; key: string; clientCa: string };
}

/**
 * The lines every instance shares: no daemon, everything under its own prefix; one process (one worker, no master)
 * unless `workers` asks for a master and that many workers.
 */
function mainBlock(dir: string, accessLog: boolean, workers?: number): string {
  return `# written by bench/nginx.ts
worker_processes ${workers ?? 1};
daemon off;
master_process ${workers === undefined ? 'off' : 'on'};
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} error;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
  access_log ${accessLog ? join(dir, 'access.log') : 'off'};
  client_body_temp_path ${join(dir, 'tmp', 'body')};
  proxy_temp_path ${join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'tmp', 'scgi')};
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  server_tokens off;
`;
}

/**
 * The nginx equivalent of the certgate.yaml written by bench/targets.ts: TLS, `ssl_verify_client on`
 * (= clientAuth mode require), the same identity and forwarding headers, the same security headers,
 * keep-alive to the upstream (like certgate's pooled dispatcher).
 */
export function gatewayNginxConf(o: GatewayNginxOptions): string {
  const up = o.upstream;
  const scheme = up.tls ? 'https' : 'http';
  const upstreamTls = up.tls
    ? `      proxy_ssl_certificate ${up.tls.cert};
      proxy_ssl_certificate_key ${up.tls.key};
      proxy_ssl_trusted_certificate ${up.tls.ca};
      proxy_ssl_verify on;
      proxy_ssl_name ${up.tls.servername};
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
`
    : '';
  return `${mainBlock(o.dir, o.accessLog ?? false, o.workers)}
  upstream app {
    server 127.0.0.1:${up.port};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${o.port} ssl http2${o.workers === undefined ? '' : ' reuseport'};
    ssl_certificate ${o.serverCert};
    ssl_certificate_key ${o.serverKey};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_client_certificate ${o.clientCa};
    ssl_verify_client on;
    ssl_verify_depth 2;
    add_header Strict-Transport-Security "max-age=15768000; includeSubDomains" always;
    add_header X-Content-Type-Options nosniff always;
    add_header Referrer-Policy no-referrer always;
    add_header X-Frame-Options DENY always;
    location / {
      proxy_pass ${scheme}://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Client-Verify $ssl_client_verify;
      proxy_set_header X-Client-Subject $ssl_client_s_dn;
      proxy_set_header X-Client-Issuer $ssl_client_i_dn;
      proxy_set_header X-Client-Serial $ssl_client_serial;
      proxy_set_header X-Client-Fingerprint $ssl_client_fingerprint;
      proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
      proxy_connect_timeout 5s;
      proxy_read_timeout 90s;
${upstreamTls}    }
  }
}
`;
}

/** The upstream: a plain listener and an mTLS listener, both answering 200 with BODY_100. */
export function upstreamNginxConf(o: UpstreamNginxOptions): string {
  const loc = `    location / {
      default_type text/plain;
      return 200 "${BODY_100.replace('\n', '\\n')}";
    }
`;
  return `${mainBlock(o.dir, false)}
  server {
    listen 127.0.0.1:${o.port};
${loc}  }
  server {
    listen 127.0.0.1:${o.tls.port} ssl;
    ssl_certificate ${o.tls.cert};
    ssl_certificate_key ${o.tls.key};
    ssl_client_certificate ${o.tls.clientCa};
    ssl_verify_client on;
    ssl_session_cache shared:up:1m;
${loc}  }
}
`;
}

/** Creates the prefix dir layout and writes `nginx.conf` into it; returns the conf path. */
export async function writeNginxConf(dir: string, text: string): Promise<string> {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, text);
  return conf;
}

function nginxArgs(dir: string, conf: string): string[] {
  // -e: the error log before the config is read also stays in the prefix dir (not /var/log/nginx)
  return ['-p', dir + '/', '-c', conf, '-e', join(dir, 'error.log')];
}

/** `nginx -t -c conf`: does nginx accept this config? */
export async function nginxTest(dir: string, conf: string): Promise<{ ok: boolean; output: string }> {
  try {
    const r = await run(NGINX, ['-t', ...nginxArgs(dir, conf)], { timeout: 20_000 });
    return { ok: true, output: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: (e.stdout ?? '') + (e.stderr ?? '') || e.message };
  }
}

/** Runs nginx in the foreground (daemon off; one process unless the config has a master) pinned to `cpu`. */
export function startNginx(name: string, dir: string, conf: string, cpu: CpuSet): Pinned {
  return startPinned(name, cpu, NGINX, nginxArgs(dir, conf), join(dir, 'stdout.log'));
}

/**
 * The 100-byte upstream of a scenario: writes and checks its config (a plain port and a TLS port that requires a client
 * certificate from `tls.clientCa`), starts it pinned to `cpu` and adds it to `live`. The caller waits for the ports.
 */
export async function startUpstreamNginx(
  name: string, dir: string, tls: { cert: string; key: string; clientCa: string }, cpu: CpuSet, live: Set<Pinned>,
): Promise<{ proc: Pinned; port: number; tlsPort: number }> {
  const port = await freePort();
  const tlsPort = await freePort();
  const conf = await writeNginxConf(dir, upstreamNginxConf({ dir, port, tls: { port: tlsPort, ...tls } }));
  const test = await nginxTest(dir, conf);
  if (!test.ok) throw new Error(`upstream nginx config refused:\n${test.output}`);
  const proc = startNginx(name, dir, conf, cpu);
  live.add(proc);
  return { proc, port, tlsPort };
}
