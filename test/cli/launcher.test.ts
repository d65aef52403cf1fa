// bin/certgate.js: under a Node older than the engines it prints one line and exits 1; under ours it runs, via symlinks too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess } from '../helpers/cli.ts';
import { engineMinimum, findOldNode } from '../helpers/old-node.ts';

const BIN = fileURLToPath(new URL('../../bin/certgate.js', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

test('the launcher names the same minimum as package.json engines', () => {
  const m = /var MINIMUM = \[(\d+), (\d+)\];/.exec(readFileSync(BIN, 'utf8'));
  assert.ok(m, 'bin/certgate.js declares var MINIMUM = [MAJOR, MINOR]');
  assert.deepEqual([Number(m[1]), Number(m[2])], engineMinimum());
});

test('an old Node gets one line saying what is needed, what was found and how to get it, and exit 1', async () => {
  const old = await findOldNode();
  const [major, minor] = engineMinimum();
  for (const args of [['--version'], ['ca', 'create', '--dir', 'pki', '--name', 'X', '--no-passphrase'], []]) {
    const cwd = mkdtempSync(join(tmpdir(), 'cg-oldnode-'));
    try {
      const r = await runProcess(old.path, [BIN, ...args], { cwd, timeoutMs: 30_000 });
      assert.equal(r.code, 1, `${old.path} ${old.version}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
      assert.match(lines[0], new RegExp(`^certgate: needs Node\\.js ${major}\\.${minor} or newer, found ${old.version.replace(/\./g, '\\.')} \\(${old.path}\\)`));
      assert.match(lines[0], /nvm install 24/);
      assert.match(lines[0], /nodejs\.org/);
      assert.doesNotMatch(r.stderr, /sqlite|ERR_|\n\s+at /);
      // it stopped before doing anything
      assert.deepEqual(await runProcess('ls', ['-A', cwd]).then((l) => l.stdout), '');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  }
});

test('under a supported Node it runs, also when started through a symlink as npm installs it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-launch-'));
  try {
    const link = join(dir, 'certgate');
    symlinkSync(BIN, link);
    for (const entry of [BIN, link]) {
      const r = await runProcess(process.execPath, [entry, '--version'], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), VERSION);
    }
    const bad = await runProcess(process.execPath, [link, 'frobnicate'], { cwd: dir });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown command 'frobnicate'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
