// Regression: `cert sign` copied any CSR subject and printed only the NAME. A requester could send
// "/CN=bob/CN=alice" (or "CN=bob+CN=alice"): the operator read `signed client certificate "bob"`, while the
// certificate also carried CN=alice and passed a gateway rule `cn: alice`. A subject with more than one CN is now
// refused, and the subject that was signed is printed, so claimed O/OU values are visible before anyone trusts them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { makeCa, tempDir, assertOneLineError } from '../helpers/pki.ts';

async function csr(dir: string, name: string, subj: string, extra: string[] = []): Promise<string> {
  const out = join(dir, `${name}.csr`);
  const r = await runProcess('openssl', ['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-keyout', join(dir, `${name}.key`), '-subj', subj, ...extra, '-out', out], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  return out;
}

test('a CSR whose subject names more than one CN is refused', async (t) => {
  const ca = await makeCa(t);
  const work = tempDir(t);
  const cases = [
    await csr(work, 'two', '/CN=bob/CN=alice'),
    await csr(work, 'multi', '/CN=bob+CN=alice', ['-multivalue-rdn']),
    await csr(work, 'three', '/O=Acme/CN=bob/OU=ops/CN=alice/CN=root'),
  ];
  for (const file of cases) {
    for (const name of [[], ['--name', 'bob']]) {
      const r = await runCli(['cert', 'sign', file, '--client', '--dir', ca.dir, '--days', '2', ...name, '--passphrase-file', ca.passphraseFile!]);
      assertOneLineError(r, /more than one CN/);
    }
  }
  const list = await runCli(['cert', 'list', '--dir', ca.dir, '--json']);
  assert.deepEqual(JSON.parse(list.stdout), []);
});

test('cert sign shows the subject it signed (claimed O and OU included)', async (t) => {
  const ca = await makeCa(t);
  const work = tempDir(t);
  const file = await csr(work, 'bob', '/O=Acme/OU=ops/CN=bob');
  const r = await runCli(['cert', 'sign', file, '--client', '--dir', ca.dir, '--days', '2', '--passphrase-file', ca.passphraseFile!]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /subject: CN=bob, ?OU=ops, ?O=Acme|subject: O=Acme, ?OU=ops, ?CN=bob/);
  const piped = await runCli(['cert', 'sign', await csr(work, 'carol', '/OU=ops/CN=carol'), '--client', '--dir', ca.dir, '--days', '2', '--out', '-',
    '--passphrase-file', ca.passphraseFile!]);
  assert.equal(piped.code, 0, piped.stderr);
  assert.match(piped.stdout, /^-----BEGIN CERTIFICATE-----[^]*-----END CERTIFICATE-----\s*$/);
  assert.match(piped.stderr, /subject: .*OU=ops/);
});

test('cert sign shows the SANs it copied from the CSR (they can grant access through san rules)', async (t) => {
  const ca = await makeCa(t);
  const work = tempDir(t);
  const file = await csr(work, 'dave', '/CN=dave', ['-addext', 'subjectAltName=email:ceo@example.com,URI:spiffe://prod/admin']);
  const r = await runCli(['cert', 'sign', file, '--client', '--dir', ca.dir, '--days', '2', '--passphrase-file', ca.passphraseFile!]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /names: email:ceo@example\.com, URI:spiffe:\/\/prod\/admin/);
  const piped = await runCli(['cert', 'sign', await csr(work, 'erin', '/CN=erin', ['-addext', 'subjectAltName=email:erin@example.com']), '--client',
    '--dir', ca.dir, '--days', '2', '--out', '-', '--passphrase-file', ca.passphraseFile!]);
  assert.equal(piped.code, 0, piped.stderr);
  assert.match(piped.stderr, /names: email:erin@example\.com/);
});
