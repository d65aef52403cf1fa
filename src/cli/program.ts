// Builds the commander program: parses and wires, nothing else.
import { Command } from 'commander';
import type { CliContext } from './context.ts';
import { certgateVersion } from './version.ts';

interface CommandModule {
  register(program: Command, ctx: CliContext): void;
}

/**
 * Every command module, by file name (`<noun>-<verb>` or `<verb>`), loaded on demand: `certgate serve` loads the
 * gateway and not the CA's certificate and PKCS#12 machinery, which keeps a gateway process smaller.
 */
const COMMANDS: ReadonlyArray<readonly [string, () => Promise<CommandModule>]> = [
  ['init', () => import('./commands/init.ts')],
  ['demo', () => import('./commands/demo.ts')],
  ['ca-create', () => import('./commands/ca-create.ts')],
  ['ca-import', () => import('./commands/ca-import.ts')],
  ['ca-rekey', () => import('./commands/ca-rekey.ts')],
  ['ca-status', () => import('./commands/ca-status.ts')],
  ['ca-set-url', () => import('./commands/ca-set-url.ts')],
  ['ca-serve', () => import('./commands/ca-serve.ts')],
  ['cert-issue', () => import('./commands/cert-issue.ts')],
  ['cert-sign', () => import('./commands/cert-sign.ts')],
  ['cert-revoke', () => import('./commands/cert-revoke.ts')],
  ['cert-renew', () => import('./commands/cert-renew.ts')],
  ['cert-list', () => import('./commands/cert-list.ts')],
  ['cert-show', () => import('./commands/cert-show.ts')],
  ['cert-export', () => import('./commands/cert-export.ts')],
  ['crl', () => import('./commands/crl.ts')],
  ['crl-accept-reset', () => import('./commands/crl-accept-reset.ts')],
  ['client-config', () => import('./commands/client-config.ts')],
  ['serve', () => import('./commands/serve.ts')],
  ['reload', () => import('./commands/reload.ts')],
  ['check', () => import('./commands/check.ts')],
  ['explain', () => import('./commands/explain.ts')],
  ['doctor', () => import('./commands/doctor.ts')],
];

/** The command modules `argv` (without node and the script) can need: those of its first word, or all of them. */
function modulesFor(argv: readonly string[]): Array<() => Promise<CommandModule>> {
  const word = argv.find((a) => !a.startsWith('-'));
  const picked = word === undefined ? [] : COMMANDS.filter(([file]) => file === word || file.startsWith(`${word}-`));
  // help, a typo or a bare `certgate`: every command, so usage and suggestions are complete
  return (picked.length > 0 ? picked : COMMANDS).map(([, load]) => load);
}

export async function buildProgram(ctx: CliContext, argv: readonly string[] = []): Promise<Command> {
  const modules = await Promise.all(modulesFor(argv).map((load) => load()));
  const program = new Command('certgate')
    .description('Client-certificate (mutual TLS) gateway and the small CA that issues its certificates.')
    .version(certgateVersion(), '-V, --version')
    .option('--debug', 'print stack traces of unexpected errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.out(s.trimEnd()),
      writeErr: (s) => ctx.err(s.trimEnd()),
    });
  // `ca` and `cert` are command groups; their verbs register on them.
  program.command('ca').description('create or import a certificate authority');
  program.command('cert').description('issue, sign, renew, revoke, list, show and export certificates');
  for (const command of modules) command.register(program, ctx);
  for (const sub of program.commands) sub.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** Returns the subcommand group (`ca`, `cert`) so verbs can attach to it. */
export function group(program: Command, name: 'ca' | 'cert'): Command {
  const found = program.commands.find((c) => c.name() === name);
  if (!found) throw new Error(`command group ${name} missing`);
  return found;
}
