// Builds the commander program: parses and wires, nothing else.
import { Command } from 'commander';
import type { CliContext } from './context.ts';
import { certgateVersion } from './version.ts';
import * as caCreate from './commands/ca-create.ts';
import * as caImport from './commands/ca-import.ts';
import * as caRekey from './commands/ca-rekey.ts';
import * as caStatus from './commands/ca-status.ts';
import * as caSetUrl from './commands/ca-set-url.ts';
import * as caServe from './commands/ca-serve.ts';
import * as certIssue from './commands/cert-issue.ts';
import * as certSign from './commands/cert-sign.ts';
import * as certRevoke from './commands/cert-revoke.ts';
import * as certRenew from './commands/cert-renew.ts';
import * as certList from './commands/cert-list.ts';
import * as certShow from './commands/cert-show.ts';
import * as certExport from './commands/cert-export.ts';
import * as crl from './commands/crl.ts';
import * as crlAcceptReset from './commands/crl-accept-reset.ts';
import * as clientConfig from './commands/client-config.ts';
import * as init from './commands/init.ts';
import * as demo from './commands/demo.ts';
import * as serve from './commands/serve.ts';
import * as reload from './commands/reload.ts';
import * as check from './commands/check.ts';
import * as explain from './commands/explain.ts';
import * as doctor from './commands/doctor.ts';

const COMMANDS = [init, demo, caCreate, caImport, caRekey, caStatus, caSetUrl, caServe, certIssue, certSign, certRevoke, certRenew, certList, certShow,
  certExport, crl, crlAcceptReset, clientConfig, serve, reload, check, explain, doctor];

export function buildProgram(ctx: CliContext): Command {
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
  for (const command of COMMANDS) command.register(program, ctx);
  for (const sub of program.commands) sub.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** Returns the subcommand group (`ca`, `cert`) so verbs can attach to it. */
export function group(program: Command, name: 'ca' | 'cert'): Command {
  const found = program.commands.find((c) => c.name() === name);
  if (!found) throw new Error(`command group ${name} missing`);
  return found;
}
