// Entry point: the only file that calls process.exit. Maps errors to exit codes (1 user, 2 internal).
import cluster from 'node:cluster';
import { isSea } from 'node:sea';
import { CommanderError } from 'commander';
import { processContext } from './context.ts';
import { buildProgram } from './program.ts';
import { isCertgateError } from '../core/errors.ts';

async function main(): Promise<number> {
  const ctx = processContext();
  const args = process.argv.slice(2);
  // node:cluster starts a worker as `<execPath> <script> <args>`; in the standalone executable the script is the
  // executable itself, which then arrives as a first argument: drop it
  if (cluster.isWorker && isSea() && args[0] === process.execPath) args.shift();
  const program = await buildProgram(ctx, args);
  try {
    await program.parseAsync(args, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version also arrive here, with exit code 0
      return err.exitCode === 0 ? 0 : 1;
    }
    if (isCertgateError(err)) {
      ctx.err(`certgate: ${err.userLine()}`);
      if (ctx.debug && err.exitCode === 2) ctx.err(String(err.stack));
      return err.exitCode;
    }
    ctx.err(`certgate: internal error: ${err instanceof Error ? err.message : String(err)}`);
    ctx.err(ctx.debug ? String(err instanceof Error ? err.stack : err) : 'certgate: rerun with --debug for details and please report it');
    return 2;
  }
}

// No top-level await: the standalone executable runs this file bundled as CommonJS (scripts/build-sea.ts).
// Commands that keep running (serve) resolve only when they are done; exit explicitly so stray handles never hang the CLI.
void main().then((code) => process.exit(code));
