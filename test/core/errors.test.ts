// Walks the error catalog: every code is documented, and the classes carry code, exit code and position.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, ConfigError, InternalError, PkiError } from '../../src/core/errors.ts';

test('every error code is listed in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  for (const code of Object.keys(ERROR_CODES)) {
    assert.match(doc, new RegExp('`' + code + '`'), `${code} missing from docs/errors.md`);
  }
});

test('docs/errors.md lists no code that the catalog lacks', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const listed = [...doc.matchAll(/`(CG_[A-Z0-9_]+)`/g)].map((m) => m[1]);
  for (const code of listed) assert.ok(code in ERROR_CODES, `${code} documented but not in the catalog`);
});

test('codes are stable CG_ names', () => {
  for (const code of Object.keys(ERROR_CODES)) assert.match(code, /^CG_[A-Z0-9_]+$/);
});

test('user errors exit 1, internal errors exit 2', () => {
  assert.equal(new PkiError('CG_PKI_NO_CA', 'no CA in ./pki').exitCode, 1);
  assert.equal(new InternalError('CG_INTERNAL', 'bug').exitCode, 2);
});

test('config errors point at file:line:column', () => {
  const err = new ConfigError('CG_CONFIG_UNKNOWN_KEY', 'unknown key "lisen"', { file: 'certgate.yaml', line: 3, column: 5 }, { hint: 'did you mean "listen"?' });
  assert.equal(err.userLine(), 'certgate.yaml:3:5: unknown key "lisen" (did you mean "listen"?)');
  assert.equal(err.code, 'CG_CONFIG_UNKNOWN_KEY');
});
