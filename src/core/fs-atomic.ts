// Atomic file writes: write a temp file beside the target, fsync, rename. A reader never sees half a file.
import { openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync, linkSync, constants, lstatSync, statSync, accessSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from './errors.ts';

export interface AtomicWriteOptions {
  /** File mode, e.g. 0o600 for keys and .p12 files. Default 0o644. */
  mode?: number;
  /** Refuse to replace an existing file. */
  exclusive?: boolean;
}

export function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const mode = options.mode ?? 0o644;
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    if (options.exclusive) {
      // link() fails with EEXIST instead of replacing, which rename() would do silently
      linkSync(tmp, path);
    } else {
      renameSync(tmp, path);
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed
    }
  }
  fsyncDir(dirname(path));
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some filesystems do not allow fsync on directories; the rename is still atomic
  }
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function assertWritableDirectory(path: string, what: string): void {
  const dir = dirname(path);
  let st: Stats;
  try {
    st = statSync(dir);
  } catch {
    throw new UserError('CG_FILE_NOT_FOUND', `the directory for ${what} does not exist`, { hint: `create ${dir} first` });
  }
  if (!st.isDirectory()) throw new UserError('CG_FILE_NOT_FOUND', `the directory for ${what} is not a directory: ${dir}`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UserError('CG_FILE_UNWRITABLE', `cannot write ${what}: ${dir} is not writable`, { hint: 'choose another place or fix its permissions' });
  }
}

/**
 * Checks, before a command changes anything, that writeFileAtomic(path, …, {exclusive: true}) can create `path`: a
 * writable directory, and nothing at `path` — no file, directory or symlink, not even a dangling one (existsSync
 * does not see those; link() refuses them after the work is done). `what` names the flag, e.g. "--p12 bob.p12".
 */
export function assertNewFilePath(path: string, what: string): void {
  assertWritableDirectory(path, what);
  const st = lstatOrNull(path);
  if (st === null) return;
  const kind = st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : 'a file';
  throw new UserError('CG_FILE_EXISTS', `${what} already exists (${kind}); certgate does not overwrite it`, { hint: 'remove it or choose another file name' });
}

/** Checks, before a command changes anything, that writeFileAtomic(path, …) can replace or create `path` (not a directory). */
export function assertReplaceableFilePath(path: string, what: string): void {
  assertWritableDirectory(path, what);
  const st = lstatOrNull(path);
  if (st !== null && st.isDirectory()) throw new UserError('CG_FILE_EXISTS', `${what} is a directory; certgate writes a file there`, { hint: 'name a file instead' });
}
