// `certgate crl` through the real CLI: numbers increase, --days sets nextUpdate (and is remembered), --out copies,
// and an intermediate whose parent lacks a CRL gets a one-line error with the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, unlinkSync, existsSync } from 'node:fs';
import { runCli, runProcess } from '../helpers/cli.ts';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import { parseCrl } from '../../src/pki/crl.ts';

const DAY = 86_400_000;

test('certgate crl: fresh numbers, --days, --out, remembered lifetime', async (t) => {
  const root = await makeCa(t, { days: 60 });
  const alice = await issueCert(root, 'alice');
  const pass = ['--passphrase-file', root.passphraseFile!];
  const first = parseCrl(readFileSync(join(root.dir, 'crl.pem'), 'utf8'));

  const out = join(tempDir(t), 'published.crl');
  const r = await runCli(['crl', '--dir', root.dir, '--days', '30', '--out', out, ...pass]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /crl number \d+: 0 revoked/);
  const second = parseCrl(readFileSync(join(root.dir, 'crl.pem'), 'utf8'));
  assert.ok(second.crlNumber! > first.crlNumber!);
  assert.equal(second.nextUpdate!.getTime() - second.thisUpdate.getTime(), 30 * DAY);
  assert.equal(readFileSync(out, 'utf8'), readFileSync(join(root.dir, 'crl.pem'), 'utf8'));
  const check = await runProcess('openssl', ['crl', '-in', out, '-noout', '-CAfile', root.certPath], { timeoutMs: 20_000 });
  assert.equal(check.code, 0, check.stderr);

  // a revoke afterwards keeps the 30-day lifetime chosen above
  assert.equal((await runCli(['cert', 'revoke', 'alice', '--dir', root.dir, ...pass])).code, 0);
  const third = parseCrl(readFileSync(join(root.dir, 'crl.pem'), 'utf8'));
  assert.equal(third.nextUpdate!.getTime() - third.thisUpdate.getTime(), 30 * DAY);
  assert.deepEqual(third.entries.map((e) => e.serial), [alice.record.serial]);

  for (const bad of ['0', 'x', '-3']) {
    const b = await runCli(['crl', '--dir', root.dir, '--days', bad, ...pass]);
    assert.equal(b.code, 1, bad);
    assert.match(b.stderr, /--days/);
  }
});

test('certgate crl on an intermediate: refuses without the parent CRL, then builds a two-CRL bundle', async (t) => {
  const root = await makeCa(t, { days: 60, name: 'Crl Root' });
  const inter = await makeCa(t, { days: 50, parent: root, name: 'Crl Issuing' });
  for (const f of ['crl.pem', 'crl-bundle.pem']) unlinkSync(join(root.dir, f));
  const before = readFileSync(join(inter.dir, 'crl-bundle.pem'), 'utf8');
  const r = await runCli(['crl', '--dir', inter.dir, '--passphrase-file', inter.passphraseFile!]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`certgate crl --dir ${root.dir}`));
  assert.equal(readFileSync(join(inter.dir, 'crl-bundle.pem'), 'utf8'), before, 'nothing rewritten');

  assert.equal((await runCli(['crl', '--dir', root.dir, '--passphrase-file', root.passphraseFile!])).code, 0);
  assert.ok(existsSync(join(root.dir, 'crl-bundle.pem')));
  const ok = await runCli(['crl', '--dir', inter.dir, '--passphrase-file', inter.passphraseFile!]);
  assert.equal(ok.code, 0, ok.stderr);
  const bundle = readFileSync(join(inter.dir, 'crl-bundle.pem'), 'utf8');
  assert.equal((bundle.match(/-----BEGIN X509 CRL-----/g) ?? []).length, 2);
  const leaf = await issueCert(inter, 'leaf');
  const v = await runProcess('openssl', ['verify', '-crl_check_all', '-CAfile', root.certPath, '-CRLfile', join(inter.dir, 'crl-bundle.pem'),
    '-untrusted', join(inter.dir, 'ca.crt'), leaf.certPath], { timeoutMs: 20_000 });
  assert.equal(v.code, 0, v.stdout + v.stderr);
});
