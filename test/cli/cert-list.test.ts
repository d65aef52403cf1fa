// `certgate cert list` through the real CLI: --expiring finds exactly the soon-expiring certs, JSON keys are stable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import { revokeCertificate } from '../../src/pki/revoke.ts';
import { CaStore } from '../../src/pki/store.ts';
import { LIST_ENTRY_KEYS } from '../../src/pki/list.ts';

const DAY = 86_400_000;

test('cert list: --expiring 30d, --status, JSON shape and the table', async (t) => {
  const tca = await makeCa(t, { passphrase: null, days: 365 });
  const short = [await issueCert(tca, 'short-a', { days: 10 }), await issueCert(tca, 'short-b', { days: 10, profile: 'server' })];
  const long = [await issueCert(tca, 'long-a', { days: 90 }), await issueCert(tca, 'long-b', { days: 90 })];
  const now = Date.now();
  const expired = await issueCert(tca, 'gone', { validity: { notBefore: new Date(now - 20 * DAY), notAfter: new Date(now - DAY) } });
  const revokedSoon = await issueCert(tca, 'revoked-soon', { days: 5 });
  const store = CaStore.open(tca.dir);
  try {
    await revokeCertificate(tca.ca, store, { ref: 'revoked-soon', reason: 'superseded', cwd: tca.dir });
  } finally {
    store.close();
  }

  const exp = await runCli(['cert', 'list', '--dir', tca.dir, '--expiring', '30d', '--json']);
  assert.equal(exp.code, 0, exp.stderr);
  const expiring = JSON.parse(exp.stdout) as Record<string, unknown>[];
  assert.deepEqual(expiring.map((e) => e.serial).sort(), short.map((c) => c.record.serial).sort());
  for (const entry of expiring) assert.deepEqual(Object.keys(entry), [...LIST_ENTRY_KEYS]);

  const all = JSON.parse((await runCli(['cert', 'list', '--dir', tca.dir, '--json'])).stdout) as { name: string; status: string; profile: string }[];
  assert.equal(all.length, 6);
  const byName = Object.fromEntries(all.map((e) => [e.name, e]));
  assert.equal(byName.gone.status, 'expired');
  assert.equal(byName['revoked-soon'].status, 'revoked');
  assert.equal(byName['long-a'].status, 'valid');
  assert.equal(byName['short-b'].profile, 'server');

  const revoked = JSON.parse((await runCli(['cert', 'list', '--dir', tca.dir, '--json', '--status', 'revoked'])).stdout) as { serial: string }[];
  assert.deepEqual(revoked.map((e) => e.serial), [revokedSoon.record.serial]);
  const expiredList = JSON.parse((await runCli(['cert', 'list', '--dir', tca.dir, '--json', '--status', 'expired'])).stdout) as { serial: string }[];
  assert.deepEqual(expiredList.map((e) => e.serial), [expired.record.serial]);
  const valid = JSON.parse((await runCli(['cert', 'list', '--dir', tca.dir, '--json', '--status', 'valid'])).stdout) as { serial: string }[];
  assert.deepEqual(valid.map((e) => e.serial).sort(), [...short, ...long].map((c) => c.record.serial).sort());

  const table = await runCli(['cert', 'list'], { env: { CERTGATE_PKI: tca.dir } });
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split('\n');
  assert.match(lines[0], /^SERIAL\s+NAME\s+PROFILE\s+STATUS\s+NOT AFTER\s+SUBJECT$/);
  assert.equal(lines.length, 7);
  assert.ok(lines.some((l) => l.includes(expired.record.serial) && /\bexpired\b/.test(l)));
});

test('cert list: bad flags and a missing CA are one-line exit-1 errors', async (t) => {
  const dir = tempDir(t);
  const tca = await makeCa(t, { passphrase: null });
  const cases: [string[], RegExp][] = [
    [['cert', 'list', '--dir', join(dir, 'nope')], /does not exist/],
    [['cert', 'list', '--dir', tca.dir, '--status', 'active'], /--status/],
    [['cert', 'list', '--dir', tca.dir, '--expiring', 'soon'], /--expiring/],
    [['cert', 'list', '--dir', tca.dir, '--expiring', '30d', '--status', 'revoked'], /--expiring/],
  ];
  for (const [args, msg] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, msg);
  }
  const empty = await runCli(['cert', 'list', '--dir', tca.dir, '--json']);
  assert.equal(empty.code, 0);
  assert.deepEqual(JSON.parse(empty.stdout), []);
});
