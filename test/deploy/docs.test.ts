// docs/deploy.md and deploy/ agree: every file under deploy/ is linked from the page, and every link resolves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

test('every deploy/ file is linked from docs/deploy.md and every relative link there exists', () => {
  const links = [...DOC.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/.test(l));
  assert.ok(links.length > 5);
  const targets = new Set(links.map((l) => resolve(ROOT, 'docs', l)));
  for (const t of targets) assert.ok(existsSync(t), `docs/deploy.md links ${relative(ROOT, t)}, which does not exist`);
  const unlinked = filesUnder(join(ROOT, 'deploy')).filter((f) => !f.endsWith('.yamllint.yaml') && !targets.has(f)).map((f) => relative(ROOT, f));
  assert.deepEqual(unlinked, []);
});
