// Twenty `certgate cert issue` processes at once on one CA: twenty distinct serials, twenty records, a sound database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { makeCa } from '../helpers/pki.ts';
import { CaStore } from '../../src/pki/store.ts';

const N = 20;

test(`${N} parallel cert issue processes yield ${N} distinct serials and integrity_check ok`, async (t) => {
  const ca = await makeCa(t);
  const runs = await Promise.all(Array.from({ length: N }, (_, i) =>
    runCli(['cert', 'issue', `user${i}`, '--client', '--days', '5', '--dir', ca.dir, '--passphrase-file', ca.passphraseFile!, '--json'],
      { timeoutMs: 120_000 })));
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  const serials = runs.map((r) => (JSON.parse(r.stdout) as { serial: string }).serial);
  assert.equal(new Set(serials).size, N);
  const store = CaStore.open(ca.dir);
  t.after(() => store.close());
  const recs = store.list();
  assert.equal(recs.length, N);
  assert.deepEqual(recs.map((r) => r.serial).sort(), [...serials].sort());
  assert.equal(store.integrityCheck(), 'ok');
  assert.equal(store.auditLog().filter((e) => e.operation === 'cert.issue').length, N);
  assert.equal(readdirSync(join(ca.dir, 'issued')).filter((f) => f.endsWith('.crt')).length, N);
  const list = await runCli(['cert', 'list', '--json', '--dir', ca.dir]);
  assert.equal(list.code, 0, list.stderr);
  const listed = (JSON.parse(list.stdout) as { serial: string }[]).map((e) => e.serial);
  assert.deepEqual(listed.sort(), [...serials].sort());
});

test('racing the same NAME: exactly one wins, the others get CG_PKI_DUPLICATE_NAME', async (t) => {
  const ca = await makeCa(t, { passphrase: null });
  const runs = await Promise.all(Array.from({ length: 4 }, () =>
    runCli(['cert', 'issue', 'same', '--client', '--days', '5', '--dir', ca.dir], { timeoutMs: 120_000 })));
  assert.equal(runs.filter((r) => r.code === 0).length, 1);
  for (const r of runs.filter((x) => x.code !== 0)) {
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists/);
  }
  const store = CaStore.open(ca.dir);
  t.after(() => store.close());
  assert.equal(store.findByName('same').length, 1);
});
