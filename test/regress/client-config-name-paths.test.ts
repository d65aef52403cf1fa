// Regression: `client-config NAME --browser` suggested `cert export ... --p12 <NAME>-<platform>.p12` with the raw
// NAME, so a NAME such as "../../x" or "-rf" (the requester's CN for a signed CSR) made the pasted command write the
// .p12 outside the working directory or start with a dash. Suggested file names now use the same safe stem as
// DIR/issued.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.ts';
import { makeCa } from '../helpers/pki.ts';

test('browser snippets suggest .p12 names that stay in the working directory', async (t) => {
  const ca = await makeCa(t, { passphrase: null });
  for (const name of ['../../x', '-rf']) {
    const issued = await runCli(['cert', 'issue', '--client', '--dir', ca.dir, '--days', '2', '--', name]);
    assert.equal(issued.code, 0, issued.stderr);
    const r = await runCli(['client-config', '--dir', ca.dir, '--browser', '--', name]);
    assert.equal(r.code, 0, r.stderr);
    const p12s = [...r.stdout.matchAll(/--p12 (\S+)/g)].map((m) => m[1].replace(/^'|'$/g, ''));
    assert.ok(p12s.length > 0, r.stdout);
    for (const f of p12s) {
      assert.doesNotMatch(f, /\/|^-|^\./, `${name}: --p12 ${f}`);
    }
  }
});
