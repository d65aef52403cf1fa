// Table tests: which encoding each --for platform gets, parsing of --for, and the import steps printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PLATFORMS, chooseLegacy, importSteps, parsePlatform, platformProfile, q } from '../../src/pki/platforms.ts';
import type { Platform } from '../../src/pki/platforms.ts';

test('each platform gets the encoding it imports', () => {
  const rows: { platform: Platform; legacy: boolean }[] = [
    { platform: 'macos', legacy: true },
    { platform: 'ios', legacy: true },
    { platform: 'android', legacy: true },
    { platform: 'windows', legacy: true },
    { platform: 'firefox', legacy: false },
    { platform: 'chrome', legacy: false },
    { platform: 'linux', legacy: false },
  ];
  assert.deepEqual(rows.map((r) => r.platform).sort(), [...PLATFORMS].sort(), 'every platform has a row');
  for (const { platform, legacy } of rows) {
    assert.equal(platformProfile(platform).legacy, legacy, platform);
    assert.equal(chooseLegacy(false, platform), legacy, platform);
    assert.equal(chooseLegacy(true, platform), true, `--legacy wins for ${platform}`);
  }
  assert.equal(chooseLegacy(false, undefined), false, 'default is modern');
  assert.equal(chooseLegacy(true, undefined), true);
});

test('parsePlatform accepts the names in any case and refuses others with CG_USAGE', () => {
  const ok: { input: string; expected: Platform }[] = [
    { input: 'macos', expected: 'macos' },
    { input: 'iOS', expected: 'ios' },
    { input: ' Windows ', expected: 'windows' },
    { input: 'FIREFOX', expected: 'firefox' },
  ];
  for (const { input, expected } of ok) assert.equal(parsePlatform(input), expected, input);
  for (const bad of ['', 'osx', 'win', 'safari', 'macos,ios']) {
    assert.throws(() => parsePlatform(bad), { code: 'CG_USAGE' }, bad);
  }
});

test('import steps name the file and the friendly name for every platform', () => {
  for (const platform of PLATFORMS) {
    const steps = importSteps(platform, '/home/me/out dir/alice.p12', 'alice');
    assert.ok(steps.length >= 2, platform);
    const text = steps.join('\n');
    assert.match(text, /alice\.p12/, platform);
    assert.match(text, /"alice"/, platform);
    // the password is never part of the steps
    assert.doesNotMatch(text, /-passin|-P |pass:/, platform);
  }
  // device platforms get only the file name; local commands get a quoted full path
  assert.doesNotMatch(importSteps('ios', '/home/me/out dir/alice.p12', 'a').join('\n'), /home\/me/);
  assert.match(importSteps('linux', '/home/me/out dir/alice.p12', 'a').join('\n'), /'\/home\/me\/out dir\/alice\.p12'/);
});

test('q quotes for a POSIX shell only when needed', () => {
  const rows = [
    { input: '/pki/issued/alice-4F1A.crt', expected: '/pki/issued/alice-4F1A.crt' },
    { input: '/my pki/a.crt', expected: "'/my pki/a.crt'" },
    { input: "it's", expected: "'it'\\''s'" },
    { input: '$HOME', expected: "'$HOME'" },
    { input: '', expected: "''" },
  ];
  for (const { input, expected } of rows) assert.equal(q(input), expected, input);
});
