// What `serve` loads: no ES module import of node:http, which would compile Node's bundled undici (src/core/node-http.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/** Imports `specifier` in a fresh Node and says whether Node's internal undici got loaded. */
function loadsBundledUndici(specifier: string): boolean {
  const script = `await import(${JSON.stringify(specifier)});
process.stdout.write(String(process.moduleLoadList.some((m) => m.includes('internal/deps/undici'))));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return out.trim() === 'true';
}

test('the modules of `certgate serve` leave Node\'s bundled undici unloaded', () => {
  assert.equal(loadsBundledUndici(join(ROOT, 'src', 'cli', 'commands', 'serve.ts')), false);
  assert.equal(loadsBundledUndici(join(ROOT, 'src', 'core', 'node-http.ts')), false);
});

test('an ES module import of node:http does load it (what the check above would catch)', () => {
  assert.equal(loadsBundledUndici('node:http'), true);
});
