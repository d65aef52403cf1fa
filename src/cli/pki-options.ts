// Flags shared by the CA commands (--dir, --days, --client/--server, SAN flags, negative serials) and their parsing.
import { Command } from 'commander';
import type { ParseOptionsResult } from 'commander';
import { UserError } from '../core/errors.ts';
import { resolveCaDir } from '../pki/ca-dir.ts';
import type { LeafProfile, SanInput } from '../pki/profiles.ts';
import type { CliContext } from './context.ts';

/** Exit-code paragraph every CA command's help ends with. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  done
  1  a problem with the input (flag, file, passphrase, CA state): one line on stderr says what
  2  an internal error (a bug): rerun with --debug and report it`;

export function addDirOption(cmd: Command): Command {
  return cmd.option('--dir <dir>', 'the CA directory (default: $CERTGATE_PKI, else ./pki)');
}

export function caDir(opts: { dir?: string }, ctx: CliContext): string {
  return resolveCaDir(opts.dir, ctx.env, ctx.cwd);
}

/** Accumulates a repeatable flag (--dns a --dns b). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** --days N: a whole number of days ≥ 1. */
export function parseDays(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) {
    throw new UserError('CG_USAGE', `--days expects a whole number of days ≥ 1 (got "${value}")`);
  }
  return Number(value);
}

/** Exactly one of --client / --server. */
export function leafProfile(opts: { client?: boolean; server?: boolean }): LeafProfile {
  if (opts.client && opts.server) throw new UserError('CG_USAGE', 'choose one of --client or --server, not both');
  if (!opts.client && !opts.server) throw new UserError('CG_USAGE', 'say what the certificate is for: --client or --server');
  return opts.client ? 'client' : 'server';
}

/** The flags addDirOption + addProfileOptions + addSanOptions + --days give a leaf-signing command. */
export interface LeafFlags {
  dir?: string;
  client?: boolean;
  server?: boolean;
  dns?: string[];
  ip?: string[];
  email?: string[];
  uri?: string[];
  days?: number;
  [flag: string]: unknown;
}

export function addProfileOptions(cmd: Command): Command {
  return cmd
    .option('--client', 'a client certificate (EKU clientAuth): people, services calling the gateway')
    .option('--server', 'a server certificate (EKU serverAuth); needs --dns and/or --ip');
}

export function addSanOptions(cmd: Command): Command {
  return cmd
    .option('--dns <name>', 'DNS name SAN (repeatable; server and client)', collect)
    .option('--ip <address>', 'IP address SAN (repeatable; server only)', collect)
    .option('--email <address>', 'email SAN (repeatable; client only)', collect)
    .option('--uri <uri>', 'URI SAN, e.g. spiffe://org/svc (repeatable; client only)', collect);
}

export function sanOptions(opts: { dns?: string[]; ip?: string[]; email?: string[]; uri?: string[] }): SanInput {
  return { dns: opts.dns, ip: opts.ip, email: opts.email, uri: opts.uri };
}

/** A serial as openssl prints a negative one, "-7EDC1234" (colons and "0x" allowed). */
const NEGATIVE_SERIAL = /^-(0x)?[0-9A-Fa-f][0-9A-Fa-f:]*$/;

/**
 * A command whose SERIAL operand may be negative: commander alone reads `cert revoke -7EDC1234` as the unknown option
 * `-7`. Before `--`, a token shaped like a negative hex serial that is not the value of the option just before it is
 * an operand. No certgate option is a single hex digit, so no option is shadowed.
 */
class SerialOperandCommand extends Command {
  override parseOptions(args: string[]): ParseOptionsResult {
    const serials: string[] = [];
    const rest: string[] = [];
    for (let i = 0; i < args.length; i++) {
      if (args[i] === '--') {
        rest.push(...args.slice(i));
        break;
      }
      if (NEGATIVE_SERIAL.test(args[i]) && !this.#takesValue(args[i - 1])) serials.push(args[i]);
      else rest.push(args[i]);
    }
    const parsed = super.parseOptions(rest);
    return { operands: [...serials, ...parsed.operands], unknown: parsed.unknown };
  }

  /** True when `flag` is one of this command's options that takes a value (so the next token is that value). */
  #takesValue(flag: string | undefined): boolean {
    if (flag === undefined || !flag.startsWith('-') || flag.includes('=')) return false;
    const option = this.options.find((o) => o.long === flag || o.short === flag);
    return option !== undefined && (option.required || option.optional);
  }
}

/** Adds verb `name` to `parent` (a group such as `cert`) as a command whose operand may be a negative serial. */
export function serialOperandCommand(parent: Command, name: string): Command {
  const cmd = new SerialOperandCommand(name).copyInheritedSettings(parent);
  parent.addCommand(cmd);
  return cmd;
}
