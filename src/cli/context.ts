// What a command may touch of the outside world, passed in so commands stay testable and side-effect free at import.

export interface CliContext {
  /** Print a line on stdout (results: JSON, tables, paths). */
  out(text: string): void;
  /** Print a line on stderr (warnings, progress, one-time secrets for the terminal). */
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdin: NodeJS.ReadStream;
  /** True when stdin and stderr are terminals, so certgate may prompt (without echo). */
  interactive: boolean;
  /** Set by --debug: print stacks of unexpected errors. */
  debug: boolean;
}

export function processContext(): CliContext {
  return {
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
    err: (text) => process.stderr.write(text.endsWith('\n') ? text : text + '\n'),
    env: process.env,
    cwd: process.cwd(),
    stdin: process.stdin,
    interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
    debug: process.argv.includes('--debug'),
  };
}
