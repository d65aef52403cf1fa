// `certgate ca status` and `cert list --fail-if-any` through the real CLI: exit 0 with nothing due, 1 when something is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { assertOneLineError, issueCert, makeCa } from '../helpers/pki.ts';
import { revokeCertificate } from '../../src/pki/revoke.ts';
import { CaStore } from '../../src/pki/store.ts';

const DAY = 86_400_000;
const STATUS_KEYS = ['dir', 'checkedAt', 'window', 'ca', 'crl', 'certificates', 'attention'];

test('ca status and cert list --fail-if-any: quiet when nothing is due, exit 1 once something is', { timeout: 240_000 }, async (t) => {
  const tca = await makeCa(t, { passphrase: null, days: 365 });
  const now = Date.now();
  await issueCert(tca, 'long', { days: 90 });
  await issueCert(tca, 'gone', { validity: { notBefore: new Date(now - 20 * DAY), notAfter: new Date(now - DAY) } });
  await issueCert(tca, 'rev', { days: 90 });
  const store = CaStore.open(tca.dir);
  try {
    await revokeCertificate(tca.ca, store, { ref: 'rev', reason: 'keyCompromise', cwd: tca.dir });
  } finally {
    store.close();
  }

  // nothing due: an expired and a revoked certificate are counted, not alerted on
  const quiet = await runCli(['ca', 'status', '--dir', tca.dir, '--fail-if-any']);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, '');
  assert.match(quiet.stdout, /^CA: +CN=Test Root CA in /m);
  assert.match(quiet.stdout, /^CRL: +number 2, 1 revoked listed$/m);
  assert.match(quiet.stdout, /^certificates: 1 valid \(0 expiring within 30d\), 1 revoked, 1 expired$/m);
  assert.match(quiet.stdout, /^attention: +nothing within 30d$/m);
  const none = await runCli(['cert', 'list', '--dir', tca.dir, '--expiring', '30d', '--fail-if-any']);
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stdout.trim(), 'no certificates match');

  // one certificate due within the window
  const short = await issueCert(tca, 'short', { days: 10 });
  const due = await runCli(['ca', 'status', '--fail-if-any'], { env: { CERTGATE_PKI: tca.dir } });
  assertOneLineError(due, /1 thing in .* needs attention within 30d \(--fail-if-any\)/);
  assert.match(due.stdout, /^attention: +1 certificate expires within 30d: short \(/m);
  const listed = await runCli(['cert', 'list', '--dir', tca.dir, '--expiring', '30d', '--fail-if-any', '--json']);
  assertOneLineError(listed, /^certgate: 1 certificate expires within 30d \(--fail-if-any\)$/);
  assert.deepEqual((JSON.parse(listed.stdout) as { serial: string }[]).map((e) => e.serial), [short.record.serial]);
  // the same without --fail-if-any, or with a window it is not in: exit 0
  assert.equal((await runCli(['cert', 'list', '--dir', tca.dir, '--expiring', '30d'])).code, 0);
  assert.equal((await runCli(['cert', 'list', '--dir', tca.dir, '--expiring', '5d', '--fail-if-any'])).code, 0);
  // any listing, not only --expiring
  assertOneLineError(await runCli(['cert', 'list', '--dir', tca.dir, '--status', 'revoked', '--fail-if-any']), /1 certificate matches/);

  const json = await runCli(['ca', 'status', '--dir', tca.dir, '--json', '--expiring', '5d', '--fail-if-any']);
  assert.equal(json.code, 0, json.stderr);
  const s = JSON.parse(json.stdout) as Record<string, unknown> & { certificates: unknown; ca: { state: string }; crl: { state: string; crlNumber: number } };
  assert.deepEqual(Object.keys(s), STATUS_KEYS);
  assert.deepEqual(s.certificates, { valid: 2, expiring: 0, revoked: 1, expired: 1 });
  assert.equal(s.window, '5d');
  assert.equal(s.ca.state, 'valid');
  assert.deepEqual([s.crl.state, s.crl.crlNumber], ['valid', 2]);
  assert.deepEqual(s.attention, []);
});

test('ca status: a CA within the window fails --fail-if-any with no certificate at all; bad input is one line', async (t) => {
  const tca = await makeCa(t, { passphrase: null, days: 20 });
  const r = await runCli(['ca', 'status', '--dir', tca.dir, '--fail-if-any', '--json']);
  assertOneLineError(r, /needs attention within 30d/);
  const s = JSON.parse(r.stdout) as { ca: { state: string }; attention: string[] };
  assert.equal(s.ca.state, 'expiring');
  assert.equal(s.attention.length, 1);
  assertOneLineError(await runCli(['ca', 'status', '--dir', tca.dir, '--expiring', 'soon']), /--expiring needs a duration/);
  assertOneLineError(await runCli(['ca', 'status', '--dir', join(tca.dir, 'nope')]), /does not exist/);
});

test('ca status --help and cert list --help show examples and exit codes', async () => {
  for (const args of [['ca', 'status', '--help'], ['cert', 'list', '--help']]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--fail-if-any/);
    assert.match(r.stdout, /Examples:/);
    assert.match(r.stdout, /Exit codes:\n\s+0 .*\n\s+1 .*--fail-if-any/);
  }
});
