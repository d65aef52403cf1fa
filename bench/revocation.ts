// `npx node bench/revocation.ts`: time from `certgate cert revoke` returning to the last of three replicas refusing
// the certificate (CRLs by URL, long-polling `certgate ca serve`), median and max over N revocations.
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './proc.ts';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const exec = promisify(execFile);

const { values } = parseArgs({ options: { revocations: { type: 'string', default: '20' }, replicas: { type: 'string', default: '3' }, keep: { type: 'boolean', default: false } } });
const N = Number(values.revocations);
const R = Number(values.replicas);

async function cli(args: string[], cwd: string): Promise<string> {
  const { stdout } = await exec(process.execPath, [CLI, ...args], { cwd, timeout: 60_000 });
  return stdout;
}

/** Status of one GET over a fresh TLS connection; 0 when the request failed. */
function status(port: number, ca: string, cert: string, key: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, ca, cert, key, servername: 'localhost', timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

const children: ChildProcess[] = [];
function start(args: string[], cwd: string, log: string): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.on('exit', (code) => {
    if (code !== 0 && code !== null) console.error(`${log} exited ${code}: ${err}`);
  });
  children.push(child);
  return child;
}

const dir = await mkdtemp(join(tmpdir(), 'cg-bench-revoke-'));
try {
  const pki = join(dir, 'pki');
  await cli(['ca', 'create', '--dir', pki, '--name', 'Bench CA', '--no-passphrase'], dir);
  const issue = async (name: string, kind: string) => {
    const out = await cli(['cert', 'issue', name, kind, '--days', '2', '--dir', pki], dir);
    const cert = /certificate: (\S+\.crt)/.exec(out)![1];
    return { cert: readFileSync(cert, 'utf8'), certPath: cert, keyPath: cert.replace(/\.crt$/, '.key') };
  };
  const server = await cli(['cert', 'issue', 'localhost', '--server', '--dns', 'localhost', '--days', '2', '--dir', pki], dir);
  const serverCert = /certificate: (\S+\.crt)/.exec(server)![1];
  const clients = [];
  for (let i = 0; i < N; i++) clients.push(await issue(`client-${i}`, '--client'));
  const caPem = readFileSync(join(pki, 'ca.crt'), 'utf8');

  const caPort = await freePort();
  start(['ca', 'serve', '--dir', pki, '--listen', `127.0.0.1:${caPort}`], dir, 'ca serve');
  await waitForPort(caPort, null);
  const ports: number[] = [];
  for (let r = 0; r < R; r++) {
    const port = await freePort();
    const config = join(dir, `replica-${r}.yaml`);
    await writeFile(config, `
servers:
  - listen: 127.0.0.1:${port}
    tls: {cert: ${serverCert}, key: ${serverCert.replace(/\.crt$/, '.key')}}
    clientAuth: {ca: ${join(pki, 'ca.crt')}, crl: "http://127.0.0.1:${caPort}/crl-bundle.pem"}
    routes:
      - {path: /, upstream: "http://127.0.0.1:9", public: false}
log: {level: warn, access: false}
workers: 1
stateDir: ${join(dir, `state-${r}`)}
`);
    start(['serve', '-c', config], dir, `replica ${r}`);
    ports.push(port);
  }
  for (const p of ports) await waitForPort(p, null);

  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const c = clients[i];
    const key = readFileSync(c.keyPath, 'utf8');
    // before: not refused (502: the upstream port is closed, which is fine; what matters is "not 403")
    for (const p of ports) if ((await status(p, caPem, c.cert, key)) === 403) throw new Error(`client-${i} refused before its revocation`);
    await cli(['cert', 'revoke', `client-${i}`, '--dir', pki], dir);
    const t0 = performance.now();
    const per = await Promise.all(ports.map(async (p) => {
      for (let k = 0; k < 2000; k++) {
        if ((await status(p, caPem, c.cert, key)) === 403) return performance.now() - t0;
        await sleep(5);
      }
      return Infinity;
    }));
    times.push(Math.max(...per));
    console.log(`revocation ${i + 1}/${N}: last replica refused after ${Math.max(...per).toFixed(0)} ms (each: ${per.map((x) => x.toFixed(0)).join(', ')})`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  console.log(`\n${N} revocations, ${R} replicas, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${new Date().toISOString()}`);
  console.log(`cert revoke returned -> last replica refusing: median ${median.toFixed(0)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms, min ${sorted[0].toFixed(0)} ms`);
} finally {
  for (const c of children) c.kill('SIGTERM');
  await sleep(500);
  for (const c of children) c.kill('SIGKILL');
  if (!values.keep) await rm(dir, { recursive: true, force: true });
}
