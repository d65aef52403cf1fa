// CLI: `certgate reload` — send SIGHUP to the running gateway (pid from the config's pidFile, or --pid), or say in
// one line why it cannot.
import { relative, isAbsolute } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { loadConfigFile, resolveConfigPath } from '../../config/load.ts';
import { UserError } from '../../core/errors.ts';
import { PROCESS_TITLE, processName, processState, readPidFile } from '../../core/pid-file.ts';

interface ReloadOptions {
  config?: string;
  pid?: string;
}

export function register(program: Command, ctx: CliContext): void {
  const show = (file: string) => {
    const rel = relative(ctx.cwd, file);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
  };

  /** The pid to signal and where it came from (for messages). */
  const target = (opts: ReloadOptions): { pid: number; from: string } => {
    if (opts.pid !== undefined) {
      const pid = /^\d{1,10}$/.test(opts.pid) ? Number(opts.pid) : 0;
      if (pid <= 1) throw new UserError('CG_USAGE', `--pid "${opts.pid}" is not a process id`, { hint: 'e.g. --pid $(pidof certgate)' });
      return { pid, from: `--pid ${pid}` };
    }
    const path = resolveConfigPath(opts.config, ctx.env, ctx.cwd);
    const config = loadConfigFile(path, show(path));
    if (!config.pidFile) {
      throw new UserError('CG_RELOAD_NO_PROCESS', `${show(path)} sets no pidFile, so the running gateway cannot be found`,
        { hint: 'add "pidFile: /run/certgate/certgate.pid" and restart certgate serve, or pass --pid N' });
    }
    const pid = readPidFile(config.pidFile);
    if (pid === undefined) {
      throw new UserError('CG_RELOAD_NO_PROCESS', `pidFile ${show(config.pidFile)} does not exist: no certgate serve is running with ${show(path)}`,
        { hint: `start it: certgate serve -c ${show(path)}` });
    }
    if (pid === null) throw new UserError('CG_RELOAD_NO_PROCESS', `pidFile ${show(config.pidFile)} does not hold a process id`, { hint: 'remove it and restart certgate serve' });
    return { pid, from: `pidFile ${show(config.pidFile)}` };
  };

  program
    .command('reload')
    .description('make the running gateway reload its config (SIGHUP)')
    .option('-c, --config <file>', 'config file whose pidFile names the gateway (default: $CERTGATE_CONFIG, else ./certgate.yaml)')
    .option('--pid <pid>', 'signal this process instead of reading pidFile')
    .addHelpText(
      'after',
      `
Sends SIGHUP to the gateway that \`certgate serve\` runs: its process id comes from the config's \`pidFile:\`, or
from --pid. The gateway then reloads the config all or nothing: the result is in its log, "config.reloaded" or
"config.reload_refused" with the reason (the old config keeps serving). Refuses to signal a process that is not
certgate (a stale pid file).

Examples:
  certgate reload                                  # pidFile of ./certgate.yaml, or $CERTGATE_CONFIG
  certgate reload -c /etc/certgate/certgate.yaml
  certgate reload --pid "$(pidof certgate)"

Exit codes:
  0  the signal was sent
  1  no pidFile and no --pid, the pid file is missing or stale, the process is not certgate, or it may not be signalled`,
    )
    .action((opts: ReloadOptions) => {
      const { pid, from } = target(opts);
      const gone = () => new UserError('CG_RELOAD_NO_PROCESS', `no process ${pid} (${from}): certgate is not running`, { hint: 'a stale pid; start certgate serve' });
      const denied = () => new UserError('CG_RELOAD_DENIED', `not allowed to signal process ${pid} (${from}): it runs as another user`, { hint: 'run certgate reload as that user, or as root' });
      const state = processState(pid);
      if (state === 'gone') throw gone();
      const name = processName(pid);
      if (name !== undefined && name !== PROCESS_TITLE) {
        throw new UserError('CG_RELOAD_NO_PROCESS', `process ${pid} (${from}) is "${name}", not certgate`, { hint: 'the pid is stale or wrong; is certgate serve running?' });
      }
      if (state === 'foreign') throw denied();
      try {
        process.kill(pid, 'SIGHUP');
      } catch (err) {
        throw (err as NodeJS.ErrnoException).code === 'EPERM' ? denied() : gone();
      }
      ctx.out(`sent SIGHUP to certgate (pid ${pid}, ${from}); its log shows config.reloaded, or config.reload_refused with the reason`);
    });
}
