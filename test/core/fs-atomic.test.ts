// Atomic writes: content and mode land whole; exclusive refuses to replace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/core/fs-atomic.ts';

test('writes content with the requested mode and leaves no temp file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-atomic-'));
  const file = join(dir, 'ca.key');
  writeFileAtomic(file, 'secret', { mode: 0o600 });
  assert.equal(readFileSync(file, 'utf8'), 'secret');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['ca.key']);
});

test('exclusive refuses to replace an existing file and keeps it intact', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-atomic-'));
  const file = join(dir, 'a.txt');
  writeFileSync(file, 'old');
  assert.throws(() => writeFileAtomic(file, 'new', { exclusive: true }), /EEXIST/);
  assert.equal(readFileSync(file, 'utf8'), 'old');
  assert.deepEqual(readdirSync(dir), ['a.txt']);
});

test('non-exclusive replaces', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-atomic-'));
  const file = join(dir, 'a.txt');
  writeFileSync(file, 'old');
  writeFileAtomic(file, 'new');
  assert.equal(readFileSync(file, 'utf8'), 'new');
});
