// `certgate cert renew` through the real CLI: same key, new serial; refusals as one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, runProcess } from '../helpers/cli.ts';
import { makeCa, issueCert, assertOneLineError } from '../helpers/pki.ts';
import { CaStore } from '../../src/pki/store.ts';

test('renew by NAME and by serial: same public key, new serial and validity, old one still valid', async (t) => {
  const ca = await makeCa(t);
  const first = await issueCert(ca, 'dave', { days: 3 });
  const r = await runCli(['cert', 'renew', 'dave', '--dir', ca.dir, '--days', '10', '--passphrase-file', ca.passphraseFile!]);
  assert.equal(r.code, 0, r.stderr);
  const m = /new serial ([0-9A-F]+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.notEqual(m[1], first.record.serial);
  assert.match(r.stdout, new RegExp(`previous: +${first.record.serial} stays valid`));
  const store = CaStore.open(ca.dir);
  t.after(() => store.close());
  const renewed = store.getBySerial(m[1])!;
  assert.equal(store.getBySerial(first.record.serial)?.status, 'valid');
  const newCert = /certificate: (\S+)/.exec(r.stdout)![1];
  const pub = async (f: string) => (await runProcess('openssl', ['x509', '-in', f, '-noout', '-pubkey'])).stdout;
  assert.equal(await pub(newCert), await pub(first.certPath));
  assert.equal(renewed.keyPath, first.record.keyPath);
  const v = await runProcess('openssl', ['verify', '-CAfile', ca.certPath, '-purpose', 'sslclient', newCert]);
  assert.equal(v.code, 0, v.stderr);
  const bySerial = await runCli(['cert', 'renew', first.record.serial.toLowerCase(), '--dir', ca.dir, '--passphrase-file', ca.passphraseFile!]);
  assert.equal(bySerial.code, 0, bySerial.stderr);
});

test('renew refusals: unknown ref, past the CA, wrong passphrase', async (t) => {
  const ca = await makeCa(t, { days: 10 });
  await issueCert(ca, 'erin', { days: 3 });
  const pf = ca.passphraseFile!;
  const cases: [string[], RegExp][] = [
    [['nobody', '--passphrase-file', pf], /no certificate with serial number or name "nobody"/],
    [['erin', '--days', '40', '--passphrase-file', pf], /past the CA's own expiry/],
    [['erin', '--passphrase-env', 'WRONG_PASS'], /wrong passphrase/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(['cert', 'renew', ...args, '--dir', ca.dir], { env: { WRONG_PASS: 'nope' } })));
  results.forEach((r, i) => assertOneLineError(r, cases[i][1]));
});
