// Passphrase sources: file (first line), named env var, --no-passphrase, and the echo-less prompt on a terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCaPassphrase, readPassword } from '../../src/cli/secrets.ts';
import type { CliContext } from '../../src/cli/context.ts';
import { tempDir } from '../helpers/pki.ts';

/** A terminal stand-in: a stream with setRawMode, fed the keystrokes a user would type. */
function ttyContext(keys: string[], cwd = '/'): { ctx: CliContext; rawModes: boolean[] } {
  const stdin = new PassThrough() as unknown as NodeJS.ReadStream & PassThrough;
  const rawModes: boolean[] = [];
  Object.assign(stdin, { isRaw: false, setRawMode: (m: boolean) => { rawModes.push(m); return stdin; } });
  let i = 0;
  // type the next answer whenever the prompt starts listening
  stdin.on('resume', () => { if (i < keys.length) setImmediate(() => stdin.write(keys[i++])); });
  const ctx: CliContext = { out: () => {}, err: () => {}, env: {}, cwd, stdin, interactive: true, debug: false };
  return { ctx, rawModes };
}

function plainContext(cwd: string, env: NodeJS.ProcessEnv = {}): CliContext {
  return { out: () => {}, err: () => {}, env, cwd, stdin: process.stdin, interactive: false, debug: false };
}

test('file: first line without its line ending; env: by name; --no-passphrase: null', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'p'), 'correct horse\r\nsecond line\n', { mode: 0o600 });
  writeFileSync(join(dir, 'empty'), '\n', { mode: 0o600 });
  const ctx = plainContext(dir, { MY_PASS: 'from env' });
  assert.equal(await readCaPassphrase({ passphraseFile: 'p' }, ctx, { confirm: true }), 'correct horse');
  assert.equal(await readCaPassphrase({ passphraseEnv: 'MY_PASS' }, ctx, { confirm: true }), 'from env');
  assert.equal(await readCaPassphrase({ passphrase: false }, ctx, { confirm: true, allowNone: true }), null);
  assert.equal(readPassword({ passwordFile: 'p' }, ctx), 'correct horse');
  assert.equal(readPassword({}, ctx), undefined);
  await assert.rejects(readCaPassphrase({ passphraseFile: 'empty' }, ctx, { confirm: false }), { code: 'CG_SECRET_SOURCE' });
  await assert.rejects(readCaPassphrase({ passphraseFile: 'nope' }, ctx, { confirm: false }), { code: 'CG_FILE_NOT_FOUND' });
  await assert.rejects(readCaPassphrase({ passphraseEnv: 'UNSET' }, ctx, { confirm: false }), { code: 'CG_SECRET_SOURCE' });
  await assert.rejects(readCaPassphrase({ passphraseFile: 'p', passphraseEnv: 'MY_PASS' }, ctx, { confirm: false }), { code: 'CG_USAGE' });
  await assert.rejects(readCaPassphrase({ passphrase: false }, ctx, { confirm: false }), { code: 'CG_SECRET_REQUIRED' });
  await assert.rejects(readCaPassphrase({}, ctx, { confirm: true, allowNone: true }),
    (e: Error & { code?: string; hint?: string }) => e.code === 'CG_SECRET_REQUIRED' && /--passphrase-file/.test(e.hint!) && /--no-passphrase/.test(e.hint!));
  await assert.rejects(readCaPassphrase({}, ctx, { confirm: false, prefix: 'parent-' }),
    (e: Error & { hint?: string }) => /--parent-passphrase-file/.test(e.hint!));
});

test('terminal prompt: raw mode (no echo), backspace, confirmation, mismatch, Ctrl-C', async () => {
  const a = ttyContext(['hunter3\u007f2\r', 'hunter2\r']);
  assert.equal(await readCaPassphrase({}, a.ctx, { confirm: true }), 'hunter2');
  assert.deepEqual(a.rawModes, [true, false, true, false]);
  const b = ttyContext(['one\r', 'two\r']);
  await assert.rejects(readCaPassphrase({}, b.ctx, { confirm: true }), { code: 'CG_SECRET_SOURCE' });
  const c = ttyContext(['\u0003']);
  await assert.rejects(readCaPassphrase({}, c.ctx, { confirm: false }), { code: 'CG_SECRET_REQUIRED' });
  const d = ttyContext(['\r']);
  await assert.rejects(readCaPassphrase({}, d.ctx, { confirm: false }), { code: 'CG_SECRET_SOURCE' });
});
