// `certgate cert revoke` through the real CLI, judged by the real openssl: revoked refused, twin accepted (root-only
// and root+intermediate), reasons and CRL numbers in `openssl crl -text`, and one-line errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { makeCa, issueCert } from '../helpers/pki.ts';
import type { TestCa } from '../helpers/pki.ts';
import { renewCertificate } from '../../src/pki/issue.ts';
import { CaStore } from '../../src/pki/store.ts';

function pass(tca: TestCa): string[] {
  return ['--passphrase-file', tca.passphraseFile!];
}

async function verify(caFile: string, crlFile: string, cert: string, untrusted?: string) {
  const args = ['verify', '-crl_check_all', '-CAfile', caFile, '-CRLfile', crlFile, ...(untrusted ? ['-untrusted', untrusted] : []), cert];
  const r = await runProcess('openssl', args, { timeoutMs: 20_000 });
  return { ok: r.code === 0, out: r.stdout + r.stderr };
}

async function crlText(dir: string): Promise<string> {
  const r = await runProcess('openssl', ['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text'], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

function crlNumber(text: string): number {
  return Number(/CRL Number: \n\s+(\d+)/.exec(text)![1]);
}

test('root-only CA: revoke via the CLI, openssl refuses the revoked cert and accepts its twin', async (t) => {
  const root = await makeCa(t, { days: 60 });
  const alice = await issueCert(root, 'alice');
  const twin = await issueCert(root, 'alice-twin');
  const bob = await issueCert(root, 'bob');
  const bundle = join(root.dir, 'crl-bundle.pem');
  assert.equal((await verify(root.certPath, bundle, alice.certPath)).ok, true, 'the first CRL from ca create already verifies');
  const before = crlNumber(await crlText(root.dir));

  const r1 = await runCli(['cert', 'revoke', 'alice', '--dir', root.dir, '--reason', 'keyCompromise', ...pass(root)]);
  assert.equal(r1.code, 0, r1.stderr);
  assert.match(r1.stdout, new RegExp(`revoked "alice" \\(${alice.record.serial}\\): keyCompromise`));
  const refused = await verify(root.certPath, bundle, alice.certPath);
  assert.equal(refused.ok, false);
  assert.match(refused.out, /certificate revoked/);
  assert.equal((await verify(root.certPath, bundle, twin.certPath)).ok, true);
  const text1 = await crlText(root.dir);
  assert.match(text1, new RegExp(`Serial Number: ${alice.record.serial}[\\s\\S]*?Key Compromise`));
  const n1 = crlNumber(text1);
  assert.ok(n1 > before);

  const r2 = await runCli(['cert', 'revoke', bob.record.serial.toLowerCase(), '--dir', root.dir, '--reason', 'superseded', ...pass(root)]);
  assert.equal(r2.code, 0, r2.stderr);
  const text2 = await crlText(root.dir);
  assert.ok(crlNumber(text2) > n1, 'CRL number increases across revokes');
  assert.match(text2, new RegExp(`Serial Number: ${bob.record.serial}[\\s\\S]*?Superseded`));
  assert.match(text2, new RegExp(`Serial Number: ${alice.record.serial}`), 'earlier revocations stay listed');
  assert.equal((await verify(root.certPath, bundle, bob.certPath)).ok, false);

  const list = JSON.parse((await runCli(['cert', 'list', '--dir', root.dir, '--json', '--status', 'revoked'])).stdout) as { name: string; revocationReason: string }[];
  assert.deepEqual(list.map((e) => [e.name, e.revocationReason]), [['alice', 'keyCompromise'], ['bob', 'superseded']]);
});

test('root + intermediate: the bundle covers the chain for openssl -crl_check_all', async (t) => {
  const root = await makeCa(t, { days: 60, name: 'CLI Root' });
  const inter = await makeCa(t, { days: 50, parent: root, name: 'CLI Issuing' });
  const carol = await issueCert(inter, 'carol');
  const twin = await issueCert(inter, 'carol-twin');
  const r = await runCli(['cert', 'revoke', 'carol', '--dir', inter.dir, '--reason', 'cessationOfOperation', ...pass(inter)]);
  assert.equal(r.code, 0, r.stderr);
  const bundle = join(inter.dir, 'crl-bundle.pem');
  const interCrt = join(inter.dir, 'ca.crt');
  const refused = await verify(root.certPath, bundle, carol.certPath, interCrt);
  assert.equal(refused.ok, false);
  assert.match(refused.out, /certificate revoked/);
  const accepted = await verify(root.certPath, bundle, twin.certPath, interCrt);
  assert.equal(accepted.ok, true, accepted.out);
  assert.match(await crlText(inter.dir), /Cessation Of Operation/);
});

test('cert revoke errors: unknown serial, twice, ambiguous name, bad reason, wrong passphrase: exit 1, one line', async (t) => {
  const root = await makeCa(t, { days: 60 });
  await issueCert(root, 'dave');
  await issueCert(root, 'erin');
  const store = CaStore.open(root.dir);
  try {
    await renewCertificate(root.ca, store, { ref: 'erin', days: 10 });
  } finally {
    store.close();
  }
  assert.equal((await runCli(['cert', 'revoke', 'dave', '--dir', root.dir, ...pass(root)])).code, 0);
  const badPass = join(root.dir, '..', 'wrong.txt');
  (await import('node:fs')).writeFileSync(badPass, 'nope\n', { mode: 0o600 });
  const cases: [string[], string, RegExp][] = [
    [['cert', 'revoke', '7A7A7A7A7A7A', '--dir', root.dir, ...pass(root)], 'CG_PKI_SERIAL_NOT_FOUND', /no certificate with serial number or name "7A7A7A7A7A7A"/],
    [['cert', 'revoke', 'dave', '--dir', root.dir, ...pass(root)], 'CG_PKI_ALREADY_REVOKED', /already revoked/],
    [['cert', 'revoke', 'erin', '--dir', root.dir, ...pass(root)], 'CG_PKI_AMBIGUOUS', /"erin" names 2 certificates/],
    [['cert', 'revoke', 'erin', '--dir', root.dir, '--reason', 'stolen', ...pass(root)], 'CG_USAGE', /unknown revocation reason "stolen"/],
    [['cert', 'revoke', 'erin', '--dir', root.dir, '--passphrase-file', badPass], 'CG_PKI_BAD_PASSPHRASE', /passphrase/],
    [['cert', 'revoke', 'erin', '--dir', join(root.dir, 'missing')], 'CG_PKI_NO_CA', /does not exist/],
  ];
  for (const [args, code, msg] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 1, `${code}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, msg, code);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack');
  }
});
