// Process control for the benchmark: start pinned children (taskset), wait for their port, read RSS, stop them.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Pinned {
  child: ChildProcess;
  /** The pid of the program itself: taskset execs it, so this is not a wrapper's pid. */
  pid: number;
  name: string;
  /** Resolves with the exit code (or signal name) once the process has gone. */
  exited: Promise<number | string>;
  /** False once the process has exited (on its own or stopped). */
  alive(): boolean;
  stop(): Promise<void>;
}

let niceness = 0;

/**
 * Opt-in (`--nice N`): run every bench process at this nice value. A negative value makes the bench win the CPU
 * over other work on a shared machine, which steadies the figures but slows that other work down.
 */
export function setNiceness(n: number): void {
  niceness = n;
}

/**
 * Where a process may run: one core (0), a taskset list of cores ("0-1", "0,2"), or null (anywhere, no taskset).
 */
export type CpuSet = number | string | null;

/** The command line that runs `cmd args` on `cpu` (taskset execs nice, which execs cmd: the pid stays cmd's). */
export function pinnedCommand(cpu: CpuSet, cmd: string, args: string[]): [string, string[]] {
  const niced = niceness ? ['nice', '-n', String(niceness), cmd, ...args] : [cmd, ...args];
  return cpu === null ? [niced[0], niced.slice(1)] : ['taskset', ['-c', String(cpu), ...niced]];
}

/** Starts `cmd args` pinned to `cpu` with taskset; stdout/stderr go to `logFile` (append) so nothing blocks on a pipe. */
export function startPinned(name: string, cpu: CpuSet, cmd: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): Pinned {
  const fd = openSync(logFile, 'a');
  const [file, argv] = pinnedCommand(cpu, cmd, args);
  const child = spawn(file, argv, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', () => resolve('spawn-error'));
  });
  let gone = false;
  void exited.then(() => (gone = true));
  return {
    child,
    pid: child.pid,
    name,
    exited,
    alive: () => !gone,
    async stop() {
      if (gone) return;
      child.kill('SIGTERM');
      const t = await Promise.race([exited.then(() => 'ok'), sleep(5000, 'timeout')]);
      if (t === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Waits until something accepts TCP on 127.0.0.1:port, or the process exits, or timeoutMs passes. */
export async function waitForPort(port: number, proc: Pinned | null, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | string | null = null;
  void proc?.exited.then((c) => (exited = c));
  for (let i = 0; Date.now() < deadline && i < 1000; i++) {
    if (exited !== null) throw new Error(`${proc?.name} exited (${exited}) before listening on port ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${proc?.name ?? 'process'} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** A currently free loopback port (bind port 0, read it, close). nginx needs a concrete port number. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** VmRSS of a process in KiB (from /proc/PID/status). */
export async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/**
 * `pid` and every live descendant of it (children, their children, ...), parents first: the processes whose CPU
 * is a multi-process server's cost (certgate's primary and its cluster workers, nginx's master and workers). Read
 * from /proc/N/stat's ppid field; a process that exits while the table is read is left out.
 */
export async function processTree(pid: number): Promise<number[]> {
  const parentOf = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isInteger(ppid)) parentOf.set(Number(name), ppid);
  }
  if (!parentOf.has(pid)) return [];
  const tree = [pid];
  for (let i = 0; i < tree.length && i < 10_000; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** The last `n` lines of a log file, for error messages. */
export async function tail(file: string, n = 15): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}
