// Test helper: a real Node.js older than package.json's engines, to run the launcher the way an outdated machine would.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { runProcess } from './cli.ts';

/** package.json "engines.node" as [major, minor]; only the ">=X.Y" form is supported (the launcher hard-codes it). */
export function engineMinimum(): [number, number] {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
  const m = /^>=(\d+)\.(\d+)$/.exec(pkg.engines.node);
  assert.ok(m, `engines.node must read ">=MAJOR.MINOR", got "${pkg.engines.node}"`);
  return [Number(m[1]), Number(m[2])];
}

/**
 * The path and version of an old Node: $CERTGATE_OLD_NODE, else /usr/bin/node, whichever is older than the engines.
 *
 * Why a real binary and not a fake: a preloaded script that overrides process.versions would prove the comparison, not
 * that the launcher parses and exits cleanly on an old runtime before anything needs node:sqlite, which is the bug.
 * Why not download one here: tests never reach the network. .ci/run provides one (`npm install node@20` into
 * .ci/old-node, from the npm cache after the first run) when the machine's /usr/bin/node is missing or new enough.
 * Without either the test fails, naming the fix: a silent skip would hide that the launcher went unchecked.
 */
export async function findOldNode(): Promise<{ path: string; version: string }> {
  const [major, minor] = engineMinimum();
  const candidates = [process.env.CERTGATE_OLD_NODE, '/usr/bin/node'].filter((p): p is string => !!p && existsSync(p));
  const seen: string[] = [];
  for (const path of candidates) {
    const r = await runProcess(path, ['--version'], { timeoutMs: 20_000 });
    const v = /^v(\d+)\.(\d+)\.\d+/.exec(r.stdout.trim());
    if (!v) continue;
    seen.push(`${path} ${r.stdout.trim()}`);
    if (Number(v[1]) < major || (Number(v[1]) === major && Number(v[2]) < minor)) return { path, version: r.stdout.trim() };
  }
  assert.fail(`no Node.js older than ${major}.${minor} to test the launcher with (seen: ${seen.join(', ') || 'none'}); ` +
    'run the tests through .ci/run, which installs one, or set CERTGATE_OLD_NODE to one');
}
