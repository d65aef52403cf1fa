// Pid files of `certgate serve` (written atomically, claimed only when no live certgate holds them, removed at exit)
// and how `certgate reload` tells a live certgate process from a stale pid.
import { readFileSync, unlinkSync } from 'node:fs';
import { UserError } from './errors.ts';
import { writeFileAtomic } from './fs-atomic.ts';

/** What `serve` sets as process.title: `pidof certgate` and `pgrep -x certgate` find the gateway by it. */
export const PROCESS_TITLE = 'certgate';
/** Workers' title: `pidof certgate` names the primary alone, `pgrep certgate-worker` the workers. */
export const WORKER_TITLE = 'certgate-worker';

/**
 * The name the kernel shows for a process (Linux: /proc/PID/comm, which process.title sets), or undefined where it
 * cannot be read (no /proc).
 */
export function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Whether a process exists: 'alive', 'gone', or 'foreign' (it exists, but this user may not signal it). */
export function processState(pid: number): 'alive' | 'gone' | 'foreign' {
  try {
    process.kill(pid, 0);
    return 'alive';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'foreign' : 'gone';
  }
}

/** A live process titled certgate. Where names cannot be read, any live process counts (refusing is the safe side). */
export function isLiveCertgate(pid: number): boolean {
  if (processState(pid) === 'gone') return false;
  const name = processName(pid);
  return name === undefined || name === PROCESS_TITLE;
}

/** The pid a pid file holds; undefined when the file does not exist; null when it holds no process id. */
export function readPidFile(path: string): number | undefined | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError('CG_FILE_UNREADABLE', `cannot read pidFile ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const m = /^\s*(\d{1,10})\s*$/.exec(text);
  const pid = m ? Number(m[1]) : 0;
  return pid > 1 ? pid : null;
}

/** Refuses when `path` names another live certgate process (two gateways on one config). */
export function checkPidFileFree(path: string, self = process.pid): void {
  const pid = readPidFile(path);
  if (typeof pid === 'number' && pid !== self && isLiveCertgate(pid)) {
    throw new UserError('CG_PIDFILE_IN_USE', `pidFile ${path} names certgate process ${pid}, which is still running`,
      { hint: `stop that one first (kill -TERM ${pid}), or give this gateway its own pidFile` });
  }
}

/** Writes this process's id to `path` atomically (a reader never sees half a number), after `checkPidFileFree`. */
export function writePidFile(path: string, pid = process.pid): void {
  checkPidFileFree(path, pid);
  try {
    writeFileAtomic(path, `${pid}\n`, { mode: 0o644 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError('CG_PIDFILE_WRITE', `cannot write pidFile ${path}: ${code ?? (err as Error).message}`,
      { hint: code === 'ENOENT' ? 'create its directory first (systemd: RuntimeDirectory=certgate)' : 'make its directory writable by the user certgate runs as', cause: err });
  }
}

/** Removes the pid file if it still names `pid` (a successor's file is left alone). Never throws. */
export function removePidFile(path: string, pid = process.pid): void {
  try {
    if (readPidFile(path) === pid) unlinkSync(path);
  } catch {
    // best effort at exit: a file that cannot be removed is stale next time and overwritten then
  }
}
