// Adversarial review of the CA: a CSR asking for extensions gets only the profile's; NAMEs with "../" or shell
// metacharacters stay file names inside DIR/issued; a --dir that is a symlink; CRLF passphrase files; concurrent
// revoke + issue keep the store and the CRL honest; key files stay 0600 under a permissive umask. Real openssl CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, existsSync, realpathSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { runCli, runProcess, CLI_ENTRY } from '../helpers/cli.ts';
import { makeCa, tempDir } from '../helpers/pki.ts';
import { CaStore } from '../../src/pki/store.ts';

async function openssl(args: string[]): Promise<string> {
  const r = await runProcess('openssl', args, { timeoutMs: 20_000 });
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('a CSR asking for CA powers, any EKU, name constraints or key usages gets exactly the profile', async (t) => {
  const ca = await makeCa(t);
  const work = tempDir(t);
  const csrPath = join(work, 'greedy.csr');
  await openssl(['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', join(work, 'greedy.key'),
    '-subj', '/CN=greedy', '-out', csrPath,
    '-addext', 'basicConstraints=critical,CA:FALSE,pathlen:5',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-addext', 'extendedKeyUsage=anyExtendedKeyUsage,serverAuth,codeSigning,OCSPSigning,clientAuth',
    '-addext', 'nameConstraints=critical,permitted;DNS:.example.com',
    '-addext', 'subjectAltName=DNS:evil.example,email:greedy@example.com,URI:spiffe://x/y',
    '-addext', 'certificatePolicies=1.2.3.4',
    '-addext', 'authorityInfoAccess=OCSP;URI:http://evil.example/ocsp',
    '-addext', 'crlDistributionPoints=URI:http://evil.example/crl',
    '-addext', 'noCheck=ignored']);
  for (const profile of ['--client', '--server'] as const) {
    const out = join(work, `greedy${profile}.crt`);
    const extra = profile === '--server' ? ['--dns', 'ok.example'] : [];
    const r = await runCli(['cert', 'sign', csrPath, profile, '--dir', ca.dir, '--name', `greedy${profile}`, '--days', '2', '--out', out,
      '--passphrase-file', ca.passphraseFile!, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    const text = await openssl(['x509', '-in', out, '-noout', '-text']);
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE\s/);
    assert.doesNotMatch(text, /pathlen|Certificate Sign|CRL Sign|Any Extended Key Usage|Code Signing|OCSP Signing|Name Constraints|Policies|Authority Information Access|CRL Distribution|OCSP No Check/i);
    const eku = /Extended Key Usage:\s*\n\s*(.*)\n/.exec(text)?.[1].trim();
    assert.equal(eku, profile === '--client' ? 'TLS Web Client Authentication' : 'TLS Web Server Authentication');
    const v = await runProcess('openssl', ['verify', '-CAfile', ca.certPath, '-purpose', profile === '--client' ? 'sslserver' : 'sslclient', out]);
    assert.notEqual(v.code, 0, `${profile} certificate also verifies for the other purpose`);
    // the new cert can never sign: openssl refuses a chain through it
    assert.doesNotMatch(text, /CA:TRUE/);
  }
});

test('NAMEs with "../", "/" or shell metacharacters stay plain file names inside DIR/issued', async (t) => {
  const ca = await makeCa(t);
  const names = ['../../escape', '/etc/passwd', '..', '.', '$(touch pwned)', '`id`;rm -rf x', 'a\\..\\..\\b', '-rf', '~root', 'a b|c&d>e'];
  const cwd = tempDir(t);
  for (const name of names) {
    // a NAME starting with "-" needs "--" first, like any option-looking argument
    const r = await runCli(['cert', 'issue', '--client', '--dir', ca.dir, '--days', '2', '--passphrase-file', ca.passphraseFile!, '--', name], { cwd });
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
  }
  // CSR CNs are names too
  const work = tempDir(t);
  await openssl(['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', join(work, 'k'),
    '-subj', '/CN=..\\/..\\/csr-escape', '-out', join(work, 'c.csr')]);
  const r = await runCli(['cert', 'sign', join(work, 'c.csr'), '--client', '--dir', ca.dir, '--days', '2', '--passphrase-file', ca.passphraseFile!], { cwd });
  assert.equal(r.code, 0, r.stderr);

  const issued = join(ca.dir, 'issued');
  const files = readdirSync(issued);
  assert.equal(files.filter((f) => f.endsWith('.crt')).length, names.length + 1);
  for (const f of files) {
    assert.match(f, /^[A-Za-z0-9_@][A-Za-z0-9._@-]*-[0-9A-F]+\.(crt|key)$/, f);
    assert.equal(dirname(resolve(issued, f)), issued);
  }
  assert.deepEqual(readdirSync(cwd), [], 'nothing written in the working directory');
  assert.ok(!existsSync(join(dirname(ca.dir), 'escape')) && !existsSync(join(dirname(dirname(ca.dir)), 'escape')));
  const store = CaStore.open(ca.dir);
  try {
    for (const rec of store.list({})) {
      if (rec.keyPath) assert.equal(dirname(resolve(ca.dir, rec.keyPath)), issued, rec.keyPath);
    }
    // the NAME itself is kept as given (it is the CN), only the file name is made safe
    assert.ok(store.findByName('../../escape').length === 1);
  } finally {
    store.close();
  }
});

test('a --dir that is a symlink works through the link and the real path alike', async (t) => {
  const base = tempDir(t);
  const real = join(base, 'real-pki');
  const link = join(base, 'link-pki');
  const pass = join(base, 'pass');
  writeFileSync(pass, 'link-secret\n', { mode: 0o600 });
  const mk = await runCli(['ca', 'create', '--dir', real, '--name', 'Link CA', '--days', '30', '--passphrase-file', pass]);
  assert.equal(mk.code, 0, mk.stderr);
  symlinkSync(real, link);
  for (const [dir, name] of [[link, 'via-link'], [real, 'via-real']]) {
    const r = await runCli(['cert', 'issue', name, '--client', '--dir', dir, '--days', '2', '--passphrase-file', pass]);
    assert.equal(r.code, 0, r.stderr);
  }
  const list = await runCli(['cert', 'list', '--dir', link, '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual((JSON.parse(list.stdout) as Array<{ name: string }>).map((c) => c.name).sort(), ['via-link', 'via-real']);
  const rev = await runCli(['cert', 'revoke', 'via-real', '--dir', link, '--passphrase-file', pass]);
  assert.equal(rev.code, 0, rev.stderr);
  const crl = await openssl(['crl', '-in', join(real, 'crl.pem'), '-noout', '-text']);
  assert.match(crl, /Revoked Certificates:/);
  assert.equal(realpathSync(link), realpathSync(real));
  // a dangling --dir symlink is a one-line user error, not a stack trace
  const dangling = join(base, 'dangling');
  symlinkSync(join(base, 'nowhere'), dangling);
  const bad = await runCli(['cert', 'issue', 'x', '--client', '--dir', dangling, '--passphrase-file', pass]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
});

test('passphrase files with CRLF, LF or no line end unlock the same key', async (t) => {
  const base = tempDir(t);
  const dir = join(base, 'pki');
  const files = { crlf: 'pw with spaces \r\n', lf: 'pw with spaces \n', none: 'pw with spaces ', crlfMore: 'pw with spaces \r\nsecond\r\n' };
  for (const [k, v] of Object.entries(files)) writeFileSync(join(base, k), v, { mode: 0o600 });
  const mk = await runCli(['ca', 'create', '--dir', dir, '--name', 'CRLF CA', '--days', '30', '--passphrase-file', join(base, 'crlf')]);
  assert.equal(mk.code, 0, mk.stderr);
  for (const k of Object.keys(files)) {
    const r = await runCli(['cert', 'issue', `c-${k}`, '--client', '--dir', dir, '--days', '2', '--passphrase-file', join(base, k)]);
    assert.equal(r.code, 0, `${k}: ${r.stderr}`);
  }
  // and openssl agrees on what the passphrase is
  await openssl(['pkey', '-in', join(dir, 'ca.key'), '-passin', `file:${join(base, 'lf')}`, '-noout']);
  writeFileSync(join(base, 'wrong'), 'pw with spaces\n', { mode: 0o600 });
  const wrong = await runCli(['cert', 'issue', 'c-wrong', '--client', '--dir', dir, '--days', '2', '--passphrase-file', join(base, 'wrong')]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /wrong passphrase/);
});

test('concurrent revokes and issues: every revoked serial is in the newest CRL, every issue is recorded', async (t) => {
  const ca = await makeCa(t, { passphrase: null });
  const victims: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await runCli(['cert', 'issue', `victim-${i}`, '--client', '--dir', ca.dir, '--days', '2']);
    assert.equal(r.code, 0, r.stderr);
    victims.push(`victim-${i}`);
  }
  const runs = [
    ...victims.map((v) => runCli(['cert', 'revoke', v, '--dir', ca.dir, '--reason', 'keyCompromise'])),
    ...[0, 1, 2, 3].map((i) => runCli(['cert', 'issue', `fresh-${i}`, '--client', '--dir', ca.dir, '--days', '2'])),
    runCli(['cert', 'revoke', 'victim-0', '--dir', ca.dir]), // a second revoke of the same cert: exactly one wins
  ];
  const results = await Promise.all(runs);
  // the two revokes of victim-0 (first and last) race: exactly one wins, whichever it is; every other run succeeds
  for (const r of results.slice(1, 8)) assert.equal(r.code, 0, r.stderr);
  const victim0 = [results[0], results[8]];
  assert.equal(victim0.filter((r) => r.code === 0).length, 1, 'exactly one revoke of victim-0 succeeds');
  assert.match(victim0.find((r) => r.code !== 0)!.stderr, /already revoked/);
  const store = CaStore.open(ca.dir);
  let revokedSerials: string[];
  try {
    const all = store.list({});
    assert.equal(all.length, 8);
    revokedSerials = all.filter((r) => r.status === 'revoked').map((r) => r.serial).sort();
    assert.equal(revokedSerials.length, 4);
    assert.equal(new Set(all.map((r) => r.serial)).size, 8);
    assert.equal(store.integrityCheck(), 'ok');
  } finally {
    store.close();
  }
  const crl = await openssl(['crl', '-in', join(ca.dir, 'crl.pem'), '-noout', '-text']);
  const listed = [...crl.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1].replace(/^0+/, '')).sort();
  assert.deepEqual(listed, revokedSerials.map((s) => s.replace(/^0+/, '')));
});

test('key files are written 0600 (and directories 0700) even under umask 000', async (t) => {
  const base = tempDir(t);
  const dir = join(base, 'pki');
  const pw = join(base, 'pw');
  writeFileSync(pw, 'p12 password\n', { mode: 0o600 });
  const sh = (args: string[]) => runProcess('sh', ['-c', 'umask 000; exec "$0" "$@"', process.execPath, CLI_ENTRY, ...args]);
  for (const args of [
    ['ca', 'create', '--dir', dir, '--name', 'Umask CA', '--days', '30', '--no-passphrase'],
    ['cert', 'issue', 'alice', '--client', '--dir', dir, '--days', '2', '--p12', join(base, 'alice.p12'), '--password-file', pw],
    ['cert', 'export', 'alice', '--dir', dir, '--p12', join(base, 'again.p12'), '--password-file', pw],
  ]) {
    const r = await sh(args);
    assert.equal(r.code, 0, `${args.slice(0, 2).join(' ')}: ${r.stderr}`);
  }
  const mode = (p: string) => statSync(p).mode & 0o777;
  assert.equal(mode(join(dir, 'ca.key')), 0o600);
  assert.equal(mode(join(base, 'alice.p12')), 0o600);
  assert.equal(mode(join(base, 'again.p12')), 0o600);
  const keys = readdirSync(join(dir, 'issued')).filter((f) => f.endsWith('.key'));
  assert.equal(keys.length, 1);
  for (const k of keys) assert.equal(mode(join(dir, 'issued', k)), 0o600, k);
  assert.equal(mode(join(dir, 'issued')), 0o700);
  assert.equal(mode(dir) & 0o077, 0, `DIR mode ${mode(dir).toString(8)}`);
  // nothing else in DIR is writable by others
  for (const f of readdirSync(dir)) assert.equal(mode(join(dir, f)) & 0o022, 0, `${f} is group/world writable`);
  assert.ok(readFileSync(join(dir, 'ca.crt'), 'utf8').includes('BEGIN CERTIFICATE'));
});
