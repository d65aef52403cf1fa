// `certgate cert show` through the real CLI: by name, serial and file, with and without a CA; pinned JSON keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { runCli, runProcess } from '../helpers/cli.ts';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import { SHOW_KEYS } from '../../src/pki/cert-info.ts';
import { revokeCertificate } from '../../src/pki/revoke.ts';
import { CaStore } from '../../src/pki/store.ts';

test('cert show: readable and JSON views agree with openssl, status in this CA', async (t) => {
  const tca = await makeCa(t, { passphrase: null, days: 60 });
  const web = await issueCert(tca, 'web', { profile: 'server', dns: ['web.example'], ip: ['127.0.0.1'], days: 20 });
  const alice = await issueCert(tca, 'alice', { email: ['alice@example.com'] });

  const text = await runCli(['cert', 'show', 'web', '--dir', tca.dir]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^Name:\s+web \(server\)$/m);
  assert.match(text.stdout, /^Status:\s+valid$/m);
  assert.match(text.stdout, /^SANs:\s+DNS:web\.example, IP:127\.0\.0\.1$/m);
  assert.match(text.stdout, /^Extended key usage:\s+serverAuth$/m);
  const fp = await runProcess('openssl', ['x509', '-in', web.certPath, '-noout', '-fingerprint', '-sha256'], { timeoutMs: 20_000 });
  assert.ok(text.stdout.includes(/Fingerprint=(\S+)/.exec(fp.stdout)![1]), 'same fingerprint as openssl');

  const json = await runCli(['cert', 'show', alice.record.serial, '--dir', tca.dir, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const j = JSON.parse(json.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(j), [...SHOW_KEYS]);
  assert.equal(j.name, 'alice');
  assert.equal(j.status, 'valid');
  assert.equal(j.inCa, true);
  assert.deepEqual(j.sans, ['email:alice@example.com']);
  assert.deepEqual(j.extendedKeyUsage, ['clientAuth']);
  assert.equal(j.fingerprint, alice.record.fingerprint);

  // a FILE needs no CA; with --dir it gets the status
  const bare = JSON.parse((await runCli(['cert', 'show', alice.certPath, '--json'], { cwd: tempDir(t) })).stdout) as Record<string, unknown>;
  assert.equal(bare.inCa, null);
  assert.equal(bare.status, null);
  assert.equal(bare.serial, alice.record.serial);
  const store = CaStore.open(tca.dir);
  try {
    await revokeCertificate(tca.ca, store, { ref: 'alice', reason: 'keyCompromise', cwd: tca.dir });
  } finally {
    store.close();
  }
  const withCa = await runCli(['cert', 'show', alice.certPath, '--dir', tca.dir]);
  assert.match(withCa.stdout, /^Status:\s+REVOKED at .* \(keyCompromise\)$/m);

  // a certificate from another CA: shown, not recorded
  const other = await makeCa(t, { passphrase: null, name: 'Other CA' });
  const stranger = await issueCert(other, 'alice');
  const s = JSON.parse((await runCli(['cert', 'show', stranger.certPath, '--dir', tca.dir, '--json'])).stdout) as Record<string, unknown>;
  assert.equal(s.inCa, false);
  // a bundle: the first certificate, with a note on stderr
  const bundle = join(tempDir(t), 'bundle.pem');
  writeFileSync(bundle, web.certPem + tca.ca.certPem);
  const b = await runCli(['cert', 'show', bundle]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /holds 2 certificates/);
  assert.match(b.stdout, /^Subject:\s+CN=web/m);
});

test('cert show: unknown, ambiguous and missing inputs are one-line exit-1 errors', async (t) => {
  const tca = await makeCa(t, { passphrase: null, days: 60 });
  const first = await issueCert(tca, 'twice');
  const store = CaStore.open(tca.dir);
  try {
    await revokeCertificate(tca.ca, store, { ref: 'twice', reason: 'superseded', cwd: tca.dir });
  } finally {
    store.close();
  }
  await issueCert(tca, 'twice');
  const cases: [string[], RegExp][] = [
    [['cert', 'show', 'nobody', '--dir', tca.dir], /no certificate with serial number or name "nobody"/],
    [['cert', 'show', 'twice', '--dir', tca.dir], /names 2 certificates/],
    [['cert', 'show', './missing.crt', '--dir', tca.dir], /does not exist/],
    [['cert', 'show', first.keyPath!, '--dir', tca.dir], /no CERTIFICATE block/],
  ];
  for (const [args, msg] of cases) {
    const r = await runCli(args, { cwd: tca.dir });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, msg);
  }
  const bySerial = await runCli(['cert', 'show', first.record.serial, '--dir', tca.dir, '--json']);
  assert.equal(JSON.parse(bySerial.stdout).status, 'revoked');
});
