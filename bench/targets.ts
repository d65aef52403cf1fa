// The systems under test (nginx, certgate, bare Node proxy): write each one's equivalent config and start it pinned.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { ConfigInput } from '../src/config/schema.ts';
import type { BareProxyConfig } from './bare-node-proxy.ts';
import type { CertSet } from './pki.ts';
import { gatewayNginxConf, startNginx, writeNginxConf, type UpstreamTarget } from './nginx.ts';
import { freePort, startPinned, waitForPort, tail, type CpuSet, type Pinned } from './proc.ts';

export const TARGETS = ['nginx', 'certgate', 'bare-node'] as const;
export type TargetName = (typeof TARGETS)[number];

const CLI_ENTRY = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const BARE_ENTRY = fileURLToPath(new URL('./bare-node-proxy.ts', import.meta.url));

export interface TargetSpec {
  /** A fresh directory for this instance's config and logs. */
  dir: string;
  /** Server and client certificates (EC or RSA) and the client CA. */
  certs: CertSet;
  upstream: UpstreamTarget;
  accessLog: boolean;
  /**
   * Absent: one process (the per-core scenarios). Set (the `workers` scenario): certgate `workers: N` with a pid
   * file (written once every worker serves), nginx a master with `worker_processes N`.
   */
  workers?: number;
}

/** Where certgate's pid file goes when spec.workers is set: its appearance means every worker is serving. */
export function certgatePidFile(spec: TargetSpec): string {
  return join(spec.dir, 'certgate.pid');
}

export interface RunningTarget {
  name: TargetName;
  port: number;
  proc: Pinned;
  logFile: string;
}

/**
 * certgate.yaml equivalent to gatewayNginxConf: one TLS listener, client certificate required (mode require =
 * ssl_verify_client on), one route / to the upstream. http2 stays at its default (true), as nginx offers h2 too.
 */
export function certgateConfig(spec: TargetSpec, port: number): ConfigInput {
  const up = spec.upstream;
  const upstream = up.tls
    ? { url: `https://127.0.0.1:${up.port}`, tls: { ca: up.tls.ca, cert: up.tls.cert, key: up.tls.key, servername: up.tls.servername } }
    : `http://127.0.0.1:${up.port}`;
  return {
    // per-core scenarios: one process on the one core it is pinned to (workers: auto would time-share that core);
    // the workers scenario sets the count and a pid file, so the harness knows when every worker serves
    workers: spec.workers ?? 1,
    ...(spec.workers === undefined ? {} : { pidFile: certgatePidFile(spec) }),
    servers: [
      {
        listen: `127.0.0.1:${port}`,
        tls: { cert: spec.certs.serverCert, key: spec.certs.serverKey, minVersion: 'TLSv1.2' },
        clientAuth: { ca: spec.certs.caCert, mode: 'require', verifyDepth: 2 },
        // nginx's bench config sets keepalive_requests 1000000; the same here, so neither side reconnects mid-run
        limits: { requestsPerConnection: 1_000_000 },
        routes: [{ path: '/', upstream, timeouts: { connect: '5s', read: '90s' } }],
      },
    ],
    log: spec.accessLog ? { level: 'info', access: true, format: 'json' } : { level: 'error', access: false, format: 'json' },
  };
}

export function bareProxyConfig(spec: TargetSpec, port: number): BareProxyConfig {
  const up = spec.upstream;
  return {
    port,
    cert: spec.certs.serverCert,
    key: spec.certs.serverKey,
    clientCa: spec.certs.caCert,
    upstream: `${up.tls ? 'https' : 'http'}://127.0.0.1:${up.port}`,
    upstreamTls: up.tls,
  };
}

/**
 * Writes the target's config into spec.dir, starts it pinned to `cpu`, waits until it accepts connections. A port
 * picked by freePort() can be taken by someone else before the target binds it: that case is retried on a new port.
 */
export async function startTarget(name: TargetName, spec: TargetSpec, cpu: CpuSet): Promise<RunningTarget> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startTargetOnce(name, spec, cpu, await freePort());
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE|address already in use|in use/i.test((err as Error).message)) throw err;
      console.error(`bench: ${name}: its port was taken before it could bind; retrying on another (${attempt}/3)`);
    }
  }
}

async function startTargetOnce(name: TargetName, spec: TargetSpec, cpu: CpuSet, port: number): Promise<RunningTarget> {
  await mkdir(spec.dir, { recursive: true });
  let proc: Pinned;
  let logFile: string;
  if (name === 'nginx') {
    const conf = await writeNginxConf(
      spec.dir,
      gatewayNginxConf({
        dir: spec.dir,
        port,
        serverCert: spec.certs.serverCert,
        serverKey: spec.certs.serverKey,
        clientCa: spec.certs.caCert,
        upstream: spec.upstream,
        accessLog: spec.accessLog,
        workers: spec.workers,
      }),
    );
    proc = startNginx('nginx', spec.dir, conf, cpu);
    logFile = join(spec.dir, 'error.log');
  } else if (name === 'certgate') {
    const conf = join(spec.dir, 'certgate.yaml');
    await writeFile(conf, `# written by bench/targets.ts\n${stringify(certgateConfig(spec, port))}`);
    logFile = join(spec.dir, 'certgate.log');
    proc = startPinned('certgate', cpu, process.execPath, [CLI_ENTRY, 'serve', '-c', conf], logFile);
  } else {
    const conf = join(spec.dir, 'bare-node.json');
    await writeFile(conf, JSON.stringify(bareProxyConfig(spec, port)));
    logFile = join(spec.dir, 'bare-node.log');
    proc = startPinned('bare-node', cpu, process.execPath, [BARE_ENTRY, conf], logFile);
  }
  try {
    await waitForPort(port, proc);
  } catch (err) {
    await proc.stop();
    const log = await tail(logFile);
    throw new Error(`${(err as Error).message}${log ? `\n--- ${logFile} ---\n${log}` : ''}`);
  }
  return { name, port, proc, logFile };
}

export interface ProbeResult {
  ok: boolean;
  detail: string;
}

async function curl(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, out: stdout + stderr });
    });
  });
}

/**
 * Checks that a running target is the equivalent we mean to measure, with the real curl: with the client
 * certificate it answers 200 with the 100-byte upstream body; without one it refuses (handshake failure or 4xx).
 */
export async function probeTarget(t: RunningTarget, certs: CertSet, bodyBytes: number): Promise<ProbeResult> {
  const base = ['--cacert', certs.caCert, '--resolve', `localhost:${t.port}:127.0.0.1`, `https://localhost:${t.port}/`];
  const good = await curl(['--cert', certs.clientCert, '--key', certs.clientKey, '-o', '/dev/null', '-w', '%{http_code} %{size_download}', ...base]);
  if (good.code !== 0 || good.out.trim() !== `200 ${bodyBytes}`) {
    return { ok: false, detail: `${t.name}: with a client certificate expected "200 ${bodyBytes}", got: ${good.out.trim() || `curl exit ${good.code}`}` };
  }
  const bare = await curl(['-o', '/dev/null', '-w', '%{http_code}', ...base]);
  const status = Number(bare.out.trim().slice(-3));
  if (bare.code === 0 && status >= 200 && status < 400) {
    return { ok: false, detail: `${t.name}: answered ${status} to a client without a certificate (must refuse)` };
  }
  return { ok: true, detail: `${t.name}: 200 with a client cert; without one: ${bare.code === 0 ? `HTTP ${status}` : 'handshake refused'}` };
}
