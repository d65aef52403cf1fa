// `certgate ca import` through the real CLI: adopt a CA made with the openssl blog recipe, then issue from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { tempDir, assertOneLineError } from '../helpers/pki.ts';

async function ossl(args: string[], cwd: string): Promise<void> {
  const r = await runProcess('openssl', args, { cwd, timeoutMs: 20_000 });
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

/** The recipe from the blog posts: root key + self-signed root, intermediate key + CSR signed with v3_ca-like extensions. */
async function opensslHierarchy(dir: string): Promise<void> {
  writeFileSync(join(dir, 'pass'), 'blog-secret\n', { mode: 0o600 });
  await ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-aes256', '-pass', 'file:pass', '-out', 'root.key'], dir);
  await ossl(['req', '-x509', '-new', '-key', 'root.key', '-passin', 'file:pass', '-sha256', '-days', '30', '-subj', '/O=Blog/CN=Blog Root',
    '-out', 'root.crt'], dir);
  await ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'int.key'], dir);
  await ossl(['req', '-new', '-key', 'int.key', '-subj', '/O=Blog/CN=Blog Issuing', '-out', 'int.csr'], dir);
  writeFileSync(join(dir, 'v3.ext'), 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' +
    'subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  await ossl(['x509', '-req', '-in', 'int.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-passin', 'file:pass', '-set_serial', '0x1001',
    '-days', '20', '-extfile', 'v3.ext', '-out', 'int.crt'], dir);
  chmodSync(join(dir, 'int.key'), 0o600);
}

test('import an encrypted openssl root, issue from it, verify with the original ca.crt', async (t) => {
  const src = tempDir(t);
  await opensslHierarchy(src);
  const dir = join(src, 'pki');
  const r = await runCli(['ca', 'import', '--dir', dir, '--cert', 'root.crt', '--key', 'root.key', '--passphrase-file', 'pass'], { cwd: src });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /imported CA "CN=Blog Root, O=Blog"|imported CA "O=Blog, CN=Blog Root"/);
  assert.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
  assert.match(readFileSync(join(dir, 'ca.key'), 'utf8'), /ENCRYPTED PRIVATE KEY/);
  const issue = await runCli(['cert', 'issue', 'svc', '--server', '--dns', 'svc.local', '--days', '5', '--dir', dir, '--passphrase-file', 'pass'],
    { cwd: src });
  assert.equal(issue.code, 0, issue.stderr);
  const cert = /certificate: (\S+)/.exec(issue.stdout)![1];
  const v = await runProcess('openssl', ['verify', '-CAfile', join(src, 'root.crt'), '-purpose', 'sslserver', cert]);
  assert.equal(v.code, 0, v.stderr);
});

test('import an openssl intermediate with --chain; an unencrypted key needs a passphrase or --no-passphrase', async (t) => {
  const src = tempDir(t);
  await opensslHierarchy(src);
  const noSecret = await runCli(['ca', 'import', '--dir', 'a', '--cert', 'int.crt', '--key', 'int.key', '--chain', 'root.crt'], { cwd: src });
  assertOneLineError(noSecret, /--passphrase-file.*--no-passphrase/);
  const r = await runCli(['ca', 'import', '--dir', 'int', '--cert', 'int.crt', '--key', 'int.key', '--chain', 'root.crt', '--no-passphrase'],
    { cwd: src });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /NOT encrypted/);
  assert.equal(readFileSync(join(src, 'int', 'chain.pem'), 'utf8').match(/BEGIN CERTIFICATE/g)?.length, 2);
  const issue = await runCli(['cert', 'issue', 'alice', '--client', '--days', '5', '--dir', 'int'], { cwd: src });
  assert.equal(issue.code, 0, issue.stderr);
  const cert = /certificate: (\S+)/.exec(issue.stdout)![1];
  const v = await runProcess('openssl', ['verify', '-CAfile', join(src, 'root.crt'), '-untrusted', join(src, 'int.crt'), '-purpose', 'sslclient', cert]);
  assert.equal(v.code, 0, v.stderr);
});

test('import refusals are one line: wrong passphrase, --no-passphrase on an encrypted key, loose key, non-CA, wrong chain', async (t) => {
  const src = tempDir(t);
  await opensslHierarchy(src);
  writeFileSync(join(src, 'wrong'), 'nope\n', { mode: 0o600 });
  writeFileSync(join(src, 'loose.key'), readFileSync(join(src, 'int.key')), { mode: 0o644 });
  chmodSync(join(src, 'loose.key'), 0o644);
  await ossl(['req', '-x509', '-new', '-key', 'int.key', '-subj', '/CN=leafish', '-days', '5', '-addext', 'basicConstraints=CA:FALSE',
    '-out', 'leaf.crt'], src);
  const cases: [string[], RegExp][] = [
    [['--cert', 'root.crt', '--key', 'root.key', '--passphrase-file', 'wrong'], /wrong passphrase/],
    [['--cert', 'root.crt', '--key', 'root.key', '--no-passphrase'], /is encrypted/],
    [['--cert', 'int.crt', '--key', 'loose.key', '--no-passphrase'], /readable by group or others/],
    [['--cert', 'leaf.crt', '--key', 'int.key', '--no-passphrase'], /not a CA certificate/],
    [['--cert', 'int.crt', '--key', 'int.key', '--chain', 'int.crt', '--no-passphrase'], /did not sign/],
    [['--cert', 'root.crt', '--key', 'int.key', '--no-passphrase'], /does not belong/],
    [['--cert', 'nothere.crt', '--key', 'int.key', '--no-passphrase'], /does not exist/],
  ];
  const results = await Promise.all(cases.map(([args], i) => runCli(['ca', 'import', '--dir', `d${i}`, ...args], { cwd: src })));
  results.forEach((r, i) => assertOneLineError(r, cases[i][1]));
});
