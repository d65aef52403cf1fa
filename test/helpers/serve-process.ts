// Test helper: `certgate serve` as a real child process, its JSON log lines parsed as they arrive and awaited by
// predicate (bounded); killed with SIGKILL after 60 s so a hung gateway fails the test instead of CI.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { CLI_ENTRY } from './cli.ts';

export interface Served {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  /** Resolves with the first log line matching `pred`; rejects after `timeoutMs` or when the process exits. */
  waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** The port of the first `gateway.listening` line (`ca.serve.listening` for `certgate ca serve`). */
  port(): Promise<number>;
  exited: Promise<number | null>;
  stderr(): string;
}

export function serve(configPath: string, cwd: string, extraArgs: string[] = []): Served {
  return startCli(['serve', '-c', configPath, '--drain-timeout', '10s', ...extraArgs], cwd, 'gateway.listening');
}

/** Any long-running certgate command (`ca serve` …) as a child, with the same log handling as serve(). */
export function startCli(args: string[], cwd: string, listeningEvent = 'ca.serve.listening'): Served {
  return startProgram(process.execPath, [CLI_ENTRY, ...args], cwd, listeningEvent);
}

/** The same for another certgate program (the standalone executable): `command` with `args`, optionally its own env. */
export function startProgram(command: string, args: string[], cwd: string, listeningEvent: string, env?: NodeJS.ProcessEnv): Served {
  const child = spawn(command, args, { cwd, env: env ? { ...process.env, ...env } : process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let partial = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    partial += d;
    let i: number;
    while ((i = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ raw: line });
      }
    }
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    clearTimeout(kill);
    for (const w of waiters.splice(0)) w();
    resolve(code);
  }));
  const waitFor: Served['waitFor'] = async (pred, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = lines.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`log line not seen; got: ${JSON.stringify(lines.slice(-5))} ${stderr}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 200);
        waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  };
  return {
    child,
    lines,
    exited,
    waitFor,
    stderr: () => stderr,
    async port() {
      const listening = await waitFor((l) => l.event === listeningEvent);
      return Number(String(listening.address).split(':').pop());
    },
  };
}
