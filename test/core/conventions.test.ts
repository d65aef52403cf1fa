// House rules that a reader should not have to police by hand: only main.ts exits, every file says what it is for,
// pki and gateway never import each other, doctor stays a client beside them, nothing imports the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

const FILES = sources('src').map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }));

test('only src/cli/main.ts calls process.exit', () => {
  const offenders = FILES.filter((f) => f.path !== 'src/cli/main.ts' && /process\.exit\(/.test(f.text)).map((f) => f.path);
  assert.deepEqual(offenders, []);
});

test('every source file opens with a one-line purpose comment', () => {
  const missing = FILES.filter((f) => !/^\/\/ \S/.test(f.text)).map((f) => f.path);
  assert.deepEqual(missing, []);
});

test('imports go one way: pki and gateway never import each other, doctor only core/observability, nothing imports cli', () => {
  const imports = (text: string) => [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
  const bad: string[] = [];
  for (const f of FILES) {
    const area = f.path.split('/')[1];
    for (const spec of imports(f.text)) {
      if (!spec.startsWith('.')) continue;
      const target = relative(join(ROOT, 'src'), join(ROOT, f.path, '..', spec)).split('/')[0];
      if (area !== 'cli' && target === 'cli') bad.push(`${f.path} -> ${spec}`);
      if (area === 'pki' && target === 'gateway') bad.push(`${f.path} -> ${spec}`);
      if (area === 'gateway' && target === 'pki') bad.push(`${f.path} -> ${spec}`);
      if (area === 'core' && target !== 'core') bad.push(`${f.path} -> ${spec}`);
      if (area === 'observability' && ['gateway', 'pki', 'config'].includes(target)) bad.push(`${f.path} -> ${spec}`);
      // doctor is a client of TLS servers: it may use core and observability, never the gateway, pki or config
      if (area === 'doctor' && !['doctor', 'core', 'observability'].includes(target)) bad.push(`${f.path} -> ${spec}`);
      if (area !== 'cli' && area !== 'doctor' && target === 'doctor') bad.push(`${f.path} -> ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('no syntax that type stripping cannot erase (enum, namespace)', () => {
  const offenders = FILES.filter((f) => /^\s*(export\s+)?(const\s+)?enum\s|^\s*(export\s+)?namespace\s/m.test(f.text)).map((f) => f.path);
  assert.deepEqual(offenders, []);
});
