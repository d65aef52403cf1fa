// `certgate ca rekey`: a new passphrase for the same key; the old passphrase stops working, certificates stay valid,
// and a failed run leaves ca.key byte-for-byte as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, tempDir, assertOneLineError } from '../helpers/pki.ts';
import { runCli, runProcess } from '../helpers/cli.ts';

function secret(dir: string, name: string, value: string): string {
  const f = join(dir, name);
  writeFileSync(f, value + '\n', { mode: 0o600 });
  return f;
}

test('rekey: the new passphrase unlocks, the old one no longer does, the certificate is unchanged', async (t) => {
  const tca = await makeCa(t);
  const work = tempDir(t);
  const keyFile = join(tca.dir, 'ca.key');
  const certBefore = readFileSync(join(tca.dir, 'ca.crt'), 'utf8');
  const spkiBefore = (await runProcess('openssl', ['pkey', '-in', keyFile, '-passin', `file:${tca.passphraseFile}`, '-pubout'])).stdout;
  const next = secret(work, 'new.txt', 'a brand new passphrase');
  const r = await runCli(['ca', 'rekey', '--dir', tca.dir, '--passphrase-file', tca.passphraseFile!, '--new-passphrase-file', next]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(tca.dir, 'ca.crt'), 'utf8'), certBefore);
  const spkiAfter = await runProcess('openssl', ['pkey', '-in', keyFile, '-passin', `file:${next}`, '-pubout']);
  assert.equal(spkiAfter.code, 0, spkiAfter.stderr);
  assert.equal(spkiAfter.stdout, spkiBefore);
  const asn1 = await runProcess('openssl', ['asn1parse', '-in', keyFile]);
  assert.match(asn1.stdout, /:scrypt\n/);
  const old = await runCli(['cert', 'issue', 'alice', '--client', '--days', '7', '--dir', tca.dir, '--passphrase-file', tca.passphraseFile!]);
  assertOneLineError(old, /wrong passphrase/);
  const ok = await runCli(['cert', 'issue', 'alice', '--client', '--days', '7', '--dir', tca.dir, '--passphrase-file', next]);
  assert.equal(ok.code, 0, ok.stderr);
  const audit = await runCli(['cert', 'list', '--dir', tca.dir, '--json']);
  assert.equal(JSON.parse(audit.stdout).length, 1);
});

test('rekey encrypts a key created with --no-passphrase', async (t) => {
  const tca = await makeCa(t, { passphrase: null });
  const work = tempDir(t);
  const keyFile = join(tca.dir, 'ca.key');
  assert.doesNotMatch(readFileSync(keyFile, 'utf8'), /ENCRYPTED/);
  const next = secret(work, 'new.txt', 'now encrypted');
  const r = await runCli(['ca', 'rekey', '--dir', tca.dir, '--new-passphrase-file', next]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(readFileSync(keyFile, 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
  const noPass = await runCli(['cert', 'issue', 'bob', '--client', '--days', '7', '--dir', tca.dir]);
  assertOneLineError(noPass, /no CA key passphrase given/);
});

test('a wrong current passphrase or no new one changes nothing', async (t) => {
  const tca = await makeCa(t);
  const work = tempDir(t);
  const keyFile = join(tca.dir, 'ca.key');
  const before = readFileSync(keyFile);
  const wrong = secret(work, 'wrong.txt', 'not it');
  const next = secret(work, 'new.txt', 'whatever');
  assertOneLineError(await runCli(['ca', 'rekey', '--dir', tca.dir, '--passphrase-file', wrong, '--new-passphrase-file', next]), /wrong passphrase/);
  assertOneLineError(await runCli(['ca', 'rekey', '--dir', tca.dir, '--passphrase-file', tca.passphraseFile!]), /--new-passphrase-file/);
  assert.deepEqual(readFileSync(keyFile), before);
});
