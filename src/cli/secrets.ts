// Passphrases and passwords from a file, a named environment variable or an echo-less terminal prompt; never from argv.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { PkiError, UserError } from '../core/errors.ts';
import { loadCa, unlockCa, caKeyEncrypted, assertCaCurrent } from '../pki/ca.ts';
import type { UnlockedCa } from '../pki/ca.ts';
import type { CliContext } from './context.ts';
import { publishOwedAfterUnlock } from './owed-crl.ts';

/** What commander parses from addPassphraseOptions. `passphrase` is false after --no-passphrase. */
export interface PassphraseOptions {
  passphraseFile?: string;
  passphraseEnv?: string;
  passphrase?: boolean;
}

/**
 * Adds --passphrase-file / --passphrase-env to a command that unlocks (or, with `allowNone`, creates) a CA key.
 * `allowNone` also adds --no-passphrase, for ca create / ca import only.
 */
export function addPassphraseOptions(cmd: Command, o: { allowNone?: boolean; prefix?: string; what?: string } = {}): Command {
  const p = o.prefix ?? '';
  const what = o.what ?? 'the CA key passphrase';
  cmd.option(`--${p}passphrase-file <file>`, `read ${what} from the first line of FILE`);
  cmd.option(`--${p}passphrase-env <name>`, `read ${what} from the environment variable NAME`);
  if (o.allowNone) cmd.option('--no-passphrase', 'store the CA key unencrypted (not recommended; prints a warning)');
  return cmd;
}

/** Reads the first line of a secret file, as `openssl -passin file:` does. */
export function readSecretFile(path: string, flag: string, cwd: string): string {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, path), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError('CG_FILE_NOT_FOUND', `${flag} ${path} does not exist`, { cause: err });
    throw new UserError('CG_SECRET_SOURCE', `cannot read ${flag} ${path}: ${code ?? (err as Error).message}`, { cause: err });
  }
  const secret = text.split(/\r?\n/, 1)[0] ?? '';
  if (secret === '') throw new UserError('CG_SECRET_SOURCE', `${flag} ${path} is empty`, { hint: 'put the secret on its first line' });
  return secret;
}

/** Reads a secret from the environment variable NAME (the name, not the value, is on the command line). */
export function readSecretEnv(name: string, flag: string, env: NodeJS.ProcessEnv): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new UserError('CG_SECRET_SOURCE', `${flag} ${name}: that environment variable is not set or is empty`);
  }
  return value;
}

/** Prompts on stderr and reads a line from the terminal with echo off. Ctrl-C / Ctrl-D cancel. */
export function promptHidden(ctx: CliContext, question: string): Promise<string> {
  const stdin = ctx.stdin;
  return new Promise((resolvePromise, reject) => {
    let answer = '';
    const wasRaw = stdin.isRaw;
    const done = (err: Error | null) => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(wasRaw ?? false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolvePromise(answer);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003' || ch === '\u0004') return done(new UserError('CG_SECRET_REQUIRED', 'cancelled at the passphrase prompt'));
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else if (ch >= ' ') answer += ch;
      }
    };
    process.stderr.write(question);
    stdin.setRawMode?.(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

export interface ReadPassphraseOptions {
  /** Ask twice on a terminal (a new passphrase). */
  confirm: boolean;
  /** --no-passphrase is accepted (ca create / import): returns null. */
  allowNone?: boolean;
  /** Flag prefix, e.g. 'parent-' for --parent-passphrase-file. */
  prefix?: string;
  /** What the prompt and messages call it. */
  label?: string;
}

/**
 * The passphrase from --passphrase-file, --passphrase-env, --no-passphrase (null) or a no-echo prompt when stdin is a
 * terminal. Without any of those and without a terminal: CG_SECRET_REQUIRED naming the flags to use.
 */
export async function readCaPassphrase(opts: Record<string, unknown>, ctx: CliContext, o: ReadPassphraseOptions): Promise<string | null> {
  const p = o.prefix ?? '';
  const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const file = opts[camel(`${p}passphrase-file`)] as string | undefined;
  const envName = opts[camel(`${p}passphrase-env`)] as string | undefined;
  const none = p === '' && o.allowNone === true && opts.passphrase === false;
  const given = [file !== undefined, envName !== undefined, none].filter(Boolean).length;
  if (given > 1) {
    throw new UserError('CG_USAGE', `use only one of --${p}passphrase-file, --${p}passphrase-env${o.allowNone ? ', --no-passphrase' : ''}`);
  }
  if (file !== undefined) return readSecretFile(file, `--${p}passphrase-file`, ctx.cwd);
  if (envName !== undefined) return readSecretEnv(envName, `--${p}passphrase-env`, ctx.env);
  if (none) return null;
  const label = o.label ?? 'CA key passphrase';
  if (!ctx.interactive) {
    const ways = `--${p}passphrase-file FILE or --${p}passphrase-env NAME`;
    throw new UserError('CG_SECRET_REQUIRED', `no ${label} given, and there is no terminal to ask for it on`, {
      hint: o.allowNone ? `pass ${ways}, or --no-passphrase to store the key unencrypted` : `pass ${ways}`,
    });
  }
  const first = await promptHidden(ctx, `${label}: `);
  if (first === '') throw new UserError('CG_SECRET_SOURCE', `the ${label} is empty`);
  if (o.confirm) {
    const second = await promptHidden(ctx, `${label} (again): `);
    if (second !== first) throw new UserError('CG_SECRET_SOURCE', `the two ${label}s do not match`);
  }
  return first;
}

/** A PKCS#12 password from --password-file, or undefined (then writeP12 generates one and shows it once). */
export function readPassword(opts: { passwordFile?: string }, ctx: CliContext): string | undefined {
  return opts.passwordFile === undefined ? undefined : readSecretFile(opts.passwordFile, '--password-file', ctx.cwd);
}

export interface UnlockOptions {
  now?: Date;
  /** Flag prefix: 'parent-' reads --parent-passphrase-file / --parent-passphrase-env. */
  prefix?: string;
  /** A passphrase to try first when no flag for this key was given (ca create --intermediate: the new CA's). */
  fallback?: string | null;
  /**
   * Publish the CRL this CA owes, if any, once unlocked (default true). `crl` and `cert revoke` say false: they
   * publish a CRL anyway, and it covers everything owed.
   */
  publishOwed?: boolean;
}

/**
 * For every signing command: loads DIR's CA, refuses an expired one before asking anything, then asks for the
 * passphrase only when ca.key is encrypted and unlocks it. Then publishes a CRL an earlier run owed (see owed-crl.ts).
 */
export async function unlockCaForSigning(dir: string, opts: Record<string, unknown>, ctx: CliContext,
  o: UnlockOptions = {}): Promise<UnlockedCa> {
  const ca = await unlockOnly(dir, opts, ctx, o);
  if (o.publishOwed !== false) await publishOwedAfterUnlock(ca, ctx);
  return ca;
}

async function unlockOnly(dir: string, opts: Record<string, unknown>, ctx: CliContext, o: UnlockOptions): Promise<UnlockedCa> {
  const prefix = o.prefix ?? '';
  const ca = loadCa(dir);
  assertCaCurrent(ca, o.now ?? new Date());
  if (!caKeyEncrypted(ca)) return unlockCa(ca, null);
  const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const flagged = opts[camel(`${prefix}passphrase-file`)] !== undefined || opts[camel(`${prefix}passphrase-env`)] !== undefined;
  if (!flagged && o.fallback) {
    try {
      return await unlockCa(ca, o.fallback);
    } catch (err) {
      if (!(err instanceof PkiError && err.code === 'CG_PKI_BAD_PASSPHRASE')) throw err;
      if (!ctx.interactive) {
        throw new PkiError('CG_PKI_BAD_PASSPHRASE', `the passphrase given does not unlock ${dir}/ca.key`, {
          hint: `pass that key's passphrase with --${prefix}passphrase-file or --${prefix}passphrase-env`,
        });
      }
    }
  }
  const label = prefix === 'parent-' ? `passphrase for the parent CA key ${dir}/ca.key` : 'CA key passphrase';
  const passphrase = await readCaPassphrase(opts, ctx, { confirm: false, prefix, label });
  try {
    return await unlockCa(ca, passphrase);
  } catch (err) {
    if (err instanceof PkiError && err.code === 'CG_PKI_BAD_PASSPHRASE') {
      throw new PkiError('CG_PKI_BAD_PASSPHRASE', `wrong passphrase for the CA key ${dir}/ca.key`, { cause: err });
    }
    throw err;
  }
}
