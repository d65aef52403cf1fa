// Regression: `cert issue -- -rf` wrote issued/-rf-<SERIAL>.crt and .key. A file name starting with "-" is read as
// options by the tools people run in issued/ (`cp * ...`, `openssl x509 -in *`, `rm *`), so a NAME chosen by a
// requester could turn an operator's routine command into something else. File stems now never start with "-".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { makeCa } from '../helpers/pki.ts';
import { fileStem, issuedFiles } from '../../src/pki/ca-dir.ts';

test('fileStem never starts with "-" or "."', () => {
  for (const name of ['-rf', '--help', '-', '.-x', '-.x', '..-', '---']) {
    const stem = fileStem(name);
    assert.doesNotMatch(stem, /^[-.]/, `${name} -> ${stem}`);
  }
  assert.equal(fileStem('alice-admin'), 'alice-admin');
  assert.equal(issuedFiles('-rf', 'AB').cert, 'issued/_rf-AB.crt');
});

test('cert issue -- -rf writes no file whose name starts with "-"', async (t) => {
  const ca = await makeCa(t, { passphrase: null });
  const r = await runCli(['cert', 'issue', '--client', '--dir', ca.dir, '--days', '2', '--', '-rf']);
  assert.equal(r.code, 0, r.stderr);
  const files = readdirSync(join(ca.dir, 'issued'));
  assert.equal(files.length, 2);
  for (const f of files) assert.doesNotMatch(f, /^-/, f);
});
