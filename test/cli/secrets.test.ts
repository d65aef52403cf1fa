// Passphrase sources: file (first line), named env var, --no-passphrase, the echo-less prompt on a terminal, and files
// that can be read only once: /dev/stdin (pipe or socket), FIFOs and process substitutions, through the real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCaPassphrase, readPassword, readSecretLine } from '../../src/cli/secrets.ts';
import type { CliContext } from '../../src/cli/context.ts';
import { CLI_ENTRY, runCli, runProcess } from '../helpers/cli.ts';
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
  assert.equal(await readPassword({ passwordFile: 'p' }, ctx), 'correct horse');
  assert.equal(await readPassword({}, ctx), undefined);
  await assert.rejects(readPassword({ passwordFile: 'empty' }, ctx), { code: 'CG_PKI_BAD_PASSWORD' });
  await assert.rejects(readPassword({ passwordFile: 'nope' }, ctx), { code: 'CG_FILE_NOT_FOUND' });
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

test('/dev/stdin is read once, line by line, through the stream; directories and endless lines are refused', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'sub'));
  const stdin = new PassThrough() as unknown as NodeJS.ReadStream & PassThrough;
  const ctx = { cwd: dir, stdin };
  stdin.end('first\r\nsecond\n');
  assert.equal(await readSecretLine('/dev/stdin', '--password-file', ctx), 'first');
  // what followed the first line stays for a second reader; after EOF there is nothing, not a hang
  assert.equal(await readSecretLine('/dev/fd/0', '--passphrase-file', ctx), 'second');
  assert.equal(await readSecretLine('/proc/self/fd/0', '--passphrase-file', ctx), '');
  await assert.rejects(readSecretLine('sub', '--passphrase-file', ctx), { code: 'CG_SECRET_SOURCE', message: /is a directory/ });
  const endless = new PassThrough() as unknown as NodeJS.ReadStream & PassThrough;
  endless.write('x'.repeat(70 * 1024));
  await assert.rejects(readSecretLine('/dev/stdin', '--passphrase-file', { cwd: dir, stdin: endless }), { code: 'CG_SECRET_SOURCE', message: /no line end/ });
});

test('the real CLI reads secrets from a piped /dev/stdin, a socket stdin, a FIFO and <(...)', { timeout: 300_000 }, async (t) => {
  const dir = tempDir(t);
  const pki = join(dir, 'pki');
  const p12Password = async (file: string, password: string) => {
    const r = await runProcess('openssl', ['pkcs12', '-in', join(dir, file), '-noout', '-passin', `pass:${password}`]);
    assert.equal(r.code, 0, `${file} opens with "${password}": ${r.stderr}`);
  };

  // stdin as Node spawns it: a socket, which no path can reopen (it was ENXIO)
  const created = await runCli(['ca', 'create', '--dir', pki, '--name', 'Stdin CA', '--passphrase-file', '/dev/stdin'], { input: 'ca pass\nnot this\n' });
  assert.equal(created.code, 0, created.stderr);
  const key = await runProcess('openssl', ['pkey', '-in', join(pki, 'ca.key'), '-noout', '-passin', 'pass:ca pass']);
  assert.equal(key.code, 0, key.stderr);

  // the passphrase through a FIFO (its writer waits until certgate opens it), the .p12 password through stdin;
  // the password used to be read twice (check, then write) and the second read found the pipe empty
  const fifo = join(dir, 'pass.fifo');
  assert.equal((await runProcess('mkfifo', ['-m', '600', fifo])).code, 0);
  const writer = runProcess('sh', ['-c', 'printf "ca pass\n" > "$0"', fifo], { timeoutMs: 120_000 });
  const issued = await runCli(['cert', 'issue', 'alice', '--client', '--dir', pki, '--passphrase-file', fifo,
    '--p12', join(dir, 'alice.p12'), '--password-file', '/dev/stdin'], { input: 'p12 one\n', timeoutMs: 120_000 });
  assert.equal(issued.code, 0, issued.stderr);
  assert.equal((await writer).code, 0);
  await p12Password('alice.p12', 'p12 one');

  // a shell pipe into /dev/stdin, and bash process substitution (/dev/fd/63, a pipe)
  const cli = `"$0" "$1" cert export alice --dir "$2" --p12 "$3"`;
  const piped = await runProcess('bash', ['-c', `printf 'p12 two\n' | ${cli} --password-file /dev/stdin`, process.execPath, CLI_ENTRY, pki, join(dir, 'two.p12')]);
  assert.equal(piped.code, 0, piped.stderr);
  await p12Password('two.p12', 'p12 two');
  const substituted = await runProcess('bash', ['-c', `${cli} --password-file <(printf 'p12 three\n')`, process.execPath, CLI_ENTRY, pki, join(dir, 'three.p12')]);
  assert.equal(substituted.code, 0, substituted.stderr);
  await p12Password('three.p12', 'p12 three');
});
