// Passphrases and passwords from a file, a named environment variable or an echo-less terminal prompt; never from argv.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { PkiError, UserError } from '../core/errors.ts';
import { loadCa, unlockCa, caKeyEncrypted, assertCaCurrent } from '../pki/ca.ts';
import { assertUsablePassword } from '../pki/pkcs12.ts';
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

/** A secret's first line longer than this is not a secret but the wrong file (or a stream without line ends). */
const MAX_SECRET_BYTES = 64 * 1024;

/** Paths that mean "this process's stdin": read through ctx.stdin, which may be a socket no path can reopen. */
const STDIN_PATH = /^\/(?:dev\/stdin|dev\/fd\/0|proc\/self\/fd\/0)$/;
const FD_PATH = /^\/(?:dev\/fd|proc\/self\/fd)\/(\d+)$/;

/**
 * Reads the first line of `stream` (without its LF or CRLF), stopping at the first line end or at EOF, so a writer
 * that keeps its end open (`<(cat)`, a FIFO fed by a long-lived process) still gives up its first line.
 */
function readFirstLine(stream: Readable, flag: string, path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let rest: Buffer | undefined;
    const finish = (err: Error | null) => {
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      stream.pause();
      // what followed the line stays in the stream (stdin is not ours to drain)
      if (rest && rest.length > 0) stream.unshift(rest);
      if (err) return reject(err);
      const line = Buffer.concat(chunks).toString('utf8');
      resolvePromise(line.endsWith('\r') ? line.slice(0, -1) : line);
    };
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      const nl = buf.indexOf(0x0a);
      chunks.push(nl === -1 ? buf : buf.subarray(0, nl));
      size += nl === -1 ? buf.length : nl;
      if (nl !== -1) {
        rest = buf.subarray(nl + 1);
        return finish(null);
      }
      if (size > MAX_SECRET_BYTES) {
        finish(new UserError('CG_SECRET_SOURCE', `${flag} ${path} has no line end in its first ${MAX_SECRET_BYTES / 1024} KiB`, {
          hint: 'put the secret on the first line',
        }));
      }
    };
    const onEnd = () => finish(null);
    const onError = (err: NodeJS.ErrnoException) => {
      finish(new UserError('CG_SECRET_SOURCE', `cannot read ${flag} ${path}: ${err.code ?? err.message}`, { cause: err }));
    };
    if (stream.readableEnded) return resolvePromise(''); // drained by an earlier read: nothing more will come
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.resume();
  });
}

/**
 * The first line of a secret file (possibly empty), as `openssl -passin file:` reads it. Besides regular files this
 * reads, exactly once, what can only be read once: `/dev/stdin` (a pipe, or the socket a parent process spawned us
 * with, which no path can reopen), a process substitution `<(...)` and a FIFO (mkfifo). Callers must therefore read
 * each secret flag once and pass the value on, never the path.
 */
export async function readSecretLine(path: string, flag: string, ctx: Pick<CliContext, 'cwd' | 'stdin'>): Promise<string> {
  const full = resolve(ctx.cwd, path);
  if (STDIN_PATH.test(full)) return readFirstLine(ctx.stdin, flag, path);
  let stats: Stats;
  try {
    stats = statSync(full);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError('CG_FILE_NOT_FOUND', `${flag} ${path} does not exist`, { cause: err });
    throw new UserError('CG_SECRET_SOURCE', `cannot read ${flag} ${path}: ${code ?? (err as Error).message}`, { cause: err });
  }
  if (stats.isDirectory()) throw new UserError('CG_SECRET_SOURCE', `${flag} ${path} is a directory`, { hint: 'name the file that holds the secret' });
  if (stats.isFile()) {
    let text: string;
    try {
      text = readFileSync(full, 'utf8');
    } catch (err) {
      throw new UserError('CG_SECRET_SOURCE', `cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    return text.split(/\r?\n/, 1)[0] ?? '';
  }
  // A pipe, FIFO or character device: opening a FIFO waits for its writer. A socket handed down as /dev/fd/N cannot be
  // opened by path (ENXIO), so that one is read through its descriptor.
  const fd = FD_PATH.exec(full);
  const stream = stats.isSocket() && fd ? createReadStream('', { fd: Number(fd[1]), autoClose: false }) : createReadStream(full);
  try {
    return await readFirstLine(stream, flag, path);
  } finally {
    stream.destroy();
  }
}

/** A passphrase from a file: its first line, which must not be empty (CG_SECRET_SOURCE). */
export async function readSecretFile(path: string, flag: string, ctx: Pick<CliContext, 'cwd' | 'stdin'>): Promise<string> {
  const secret = await readSecretLine(path, flag, ctx);
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
  if (file !== undefined) return readSecretFile(file, `--${p}passphrase-file`, ctx);
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

/**
 * The PKCS#12 password from --password-file, read once (it may be a pipe), or undefined: then writeP12 generates one
 * and shows it once. An empty or unusable password is CG_PKI_BAD_PASSWORD.
 */
export async function readPassword(opts: { passwordFile?: string }, ctx: Pick<CliContext, 'cwd' | 'stdin'>): Promise<string | undefined> {
  if (opts.passwordFile === undefined) return undefined;
  const password = await readSecretLine(opts.passwordFile, '--password-file', ctx);
  if (password === '') {
    throw new PkiError('CG_PKI_BAD_PASSWORD', `--password-file ${opts.passwordFile} is empty`, {
      hint: 'put the password on its first line, or leave out --password-file to have certgate generate one',
    });
  }
  assertUsablePassword(password);
  return password;
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
