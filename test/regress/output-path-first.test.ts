// An output file the command would refuse (a dangling symlink, a directory, an existing file) is refused before the
// CA store changes: `cert issue --p12`, `cert sign --out`, `crl --out` and `init` leave nothing half done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { assertOneLineError, makeCa, tempDir } from '../helpers/pki.ts';
import type { TestCa } from '../helpers/pki.ts';
import { parseCrl } from '../../src/pki/crl.ts';
import { CaStore } from '../../src/pki/store.ts';

/** What a refused command must not change: the records, the audit log, the CRL number and DIR/issued. */
function snapshot(ca: TestCa): string {
  const store = CaStore.open(ca.dir);
  try {
    const issued = existsSync(join(ca.dir, 'issued')) ? readdirSync(join(ca.dir, 'issued')).sort() : [];
    return JSON.stringify({
      certs: store.list({}).map((r) => r.serial),
      audit: store.auditLog().length,
      crlNumber: store.getMeta('crlNumber'),
      crl: parseCrl(readFileSync(join(ca.dir, 'crl.pem'), 'utf8')).crlNumber?.toString(),
      issued,
    });
  } finally {
    store.close();
  }
}

test('cert issue --p12, cert sign --out and crl --out refuse a dangling symlink or a directory before changing the CA', async (t) => {
  const ca = await makeCa(t);
  const work = tempDir(t, 'cg-outpath-');
  const pass = ['--dir', ca.dir, '--passphrase-file', ca.passphraseFile!];
  const dangling = join(work, 'dangling.p12');
  symlinkSync(join(work, 'nowhere', 'x.p12'), dangling);
  const directory = join(work, 'a-directory');
  mkdirSync(directory);
  const csr = join(work, 'svc.csr');
  const gen = await runProcess('openssl', ['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', join(work, 'svc.key'),
    '-subj', '/CN=svc', '-out', csr], { timeoutMs: 20_000 });
  assert.equal(gen.code, 0, gen.stderr);
  const before = snapshot(ca);
  const cases: Array<[string[], RegExp]> = [
    [['cert', 'issue', 'bob', '--client', '--days', '2', '--p12', dangling, ...pass], /--p12 .*dangling\.p12 already exists \(a symbolic link\)/],
    [['cert', 'issue', 'bob', '--client', '--days', '2', '--p12', directory, ...pass], /already exists \(a directory\)/],
    [['cert', 'issue', 'bob', '--client', '--days', '2', '--p12', join(work, 'missing', 'bob.p12'), ...pass], /directory for --p12 .* does not exist/],
    [['cert', 'sign', csr, '--client', '--days', '2', '--out', dangling, ...pass], /--out .*dangling\.p12 already exists \(a symbolic link\)/],
    [['cert', 'sign', csr, '--client', '--days', '2', '--out', directory, ...pass], /already exists \(a directory\)/],
    [['crl', '--out', directory, ...pass], /--out .*a-directory is a directory/],
    [['crl', '--out', join(work, 'missing', 'ca.crl'), ...pass], /directory for --out .* does not exist/],
  ];
  for (const [args, pattern] of cases) {
    const r = await runCli(args);
    assert.equal(snapshot(ca), before, `${args.join(' ')} changed the CA: ${r.stderr}`);
    assertOneLineError(r, pattern);
  }
  // and the same commands with a usable path still work
  const ok = await runCli(['cert', 'issue', 'bob', '--client', '--days', '2', '--p12', join(work, 'bob.p12'), '--password-file', ca.passphraseFile!, ...pass]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(existsSync(join(work, 'bob.p12')));
});

test('init refuses a dangling certgate.yaml or NAME.p12 symlink before it creates a CA', async (t) => {
  const base = tempDir(t, 'cg-outinit-');
  for (const file of ['certgate.yaml', 'me.p12']) {
    const ws = join(base, file.replace('.', '-'));
    mkdirSync(ws);
    symlinkSync(join(base, 'nowhere'), join(ws, file));
    const r = await runCli(['init', '--dir', ws, '--no-passphrase']);
    assertOneLineError(r, new RegExp(`${file.replace('.', '\\.')} already exists`));
    assert.deepEqual(readdirSync(ws), [file], 'no pki/ and nothing else created');
  }
});
