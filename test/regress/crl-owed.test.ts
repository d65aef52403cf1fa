// A revocation committed to the store but never written to crl.pem (the run died, or the write failed) is owed, not
// lost: the next command that unlocks the CA key publishes it, a repeated revoke republishes, and the commands that
// only read the store warn with the command to run. The failure is real: crl.pem's path is a directory, so the
// atomic rename fails right after the commit; then the old crl.pem is put back, which is what a SIGKILL between
// the commit and the write leaves behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { issueCert, makeCa, tempDir } from '../helpers/pki.ts';
import type { TestCa, TestCert } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import { h1Request } from '../helpers/tls-clients.ts';
import { parseCrl } from '../../src/pki/crl.ts';
import { CaStore } from '../../src/pki/store.ts';

function listedInCrl(ca: TestCa, cert: TestCert): boolean {
  return parseCrl(readFileSync(join(ca.dir, 'crl.pem'), 'utf8')).entries.some((e) => e.serial === cert.record.serial);
}

function storeStatus(ca: TestCa, cert: TestCert): string | undefined {
  const store = CaStore.open(ca.dir);
  try {
    return store.getBySerial(cert.record.serial)?.status;
  } finally {
    store.close();
  }
}

/** Revokes `cert` through the CLI while crl.pem cannot be replaced, then restores the CRL that was there before. */
async function revokeThatDiesAfterCommit(ca: TestCa, cert: TestCert): Promise<void> {
  const crlPath = join(ca.dir, 'crl.pem');
  const before = readFileSync(crlPath);
  rmSync(crlPath);
  mkdirSync(crlPath);
  writeFileSync(join(crlPath, 'keep'), 'a directory where crl.pem belongs: rename(2) onto it fails\n');
  const r = await runCli(['cert', 'revoke', cert.record.name, '--reason', 'keyCompromise', '--dir', ca.dir, '--passphrase-file', ca.passphraseFile!]);
  assert.notEqual(r.code, 0, 'the CRL write failed');
  assert.equal(storeStatus(ca, cert), 'revoked', 'the revocation was committed before the write');
  rmSync(crlPath, { recursive: true });
  writeFileSync(crlPath, before);
  assert.equal(listedInCrl(ca, cert), false);
}

async function verdict(ca: TestCa, cert: TestCert): Promise<string> {
  const r = await runProcess('openssl', ['verify', '-crl_check', '-CAfile', ca.certPath, '-CRLfile', join(ca.dir, 'crl.pem'), cert.certPath], { timeoutMs: 20_000 });
  return r.code === 0 ? 'ok' : /certificate revoked/.test(r.stdout + r.stderr) ? 'revoked' : r.stdout + r.stderr;
}

test('a revoke that failed after its commit is published by the next revoke; list and show warn meanwhile', async (t) => {
  const ca = await makeCa(t);
  const dir = tempDir(t, 'cg-owed-');
  const bob = await issueCert(ca, 'bob');
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  // crl.pem, not the bundle: the file whose rename fails here (the bundle is written after it)
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: ${join(ca.dir, 'crl.pem')}}
    routes: [{path: /, upstream: "${upstream.url}"}]
`);
  const get = () => h1Request(gw.port, '/', { ca: ca.ca.cert.toString('pem'), cert: bob.certPem, key: bob.keyPem });
  assert.equal((await get()).status, 200);

  await revokeThatDiesAfterCommit(ca, bob);
  gw.gateway.reloadTrust();
  assert.equal((await get()).status, 200, 'the hole: the store says revoked, the CRL in force does not');
  assert.equal(await verdict(ca, bob), 'ok');

  for (const args of [['cert', 'list'], ['cert', 'show', 'bob']]) {
    const r = await runCli([...args, '--dir', ca.dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`warning: .*not published.*run: certgate crl --dir ${ca.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), `${args.join(' ')}: ${r.stderr}`);
  }

  const again = await runCli(['cert', 'revoke', 'bob', '--reason', 'keyCompromise', '--dir', ca.dir, '--passphrase-file', ca.passphraseFile!]);
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stderr, /already revoked/);
  assert.match(again.stderr, /published/);
  assert.equal(listedInCrl(ca, bob), true, 'the repeated revoke republished');
  assert.equal(await verdict(ca, bob), 'revoked');
  gw.gateway.reloadTrust();
  const refused = await get();
  assert.equal(refused.status, 403);
  assert.match(refused.body, /<code>revoked<\/code>/);

  const quiet = await runCli(['cert', 'list', '--dir', ca.dir]);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, '', 'nothing owed any more');
});

test('any command that unlocks the CA key publishes an owed CRL first (cert issue here)', async (t) => {
  const ca = await makeCa(t);
  const carol = await issueCert(ca, 'carol');
  await revokeThatDiesAfterCommit(ca, carol);
  const r = await runCli(['cert', 'issue', 'zed', '--client', '--days', '2', '--dir', ca.dir, '--passphrase-file', ca.passphraseFile!]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /published the CRL an earlier run owed/);
  assert.equal(listedInCrl(ca, carol), true);
  assert.equal(await verdict(ca, carol), 'revoked');
});

test('the failed CRL write is a one-line user error that says the revocation is recorded and what to run', async (t) => {
  const ca = await makeCa(t);
  const dan = await issueCert(ca, 'dan');
  const crlPath = join(ca.dir, 'crl.pem');
  rmSync(crlPath);
  mkdirSync(crlPath);
  const r = await runCli(['cert', 'revoke', 'dan', '--dir', ca.dir, '--passphrase-file', ca.passphraseFile!]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /cannot write .*crl\.pem.*recorded.*owed.*certgate crl --dir/);
  rmSync(crlPath, { recursive: true });
  const crl = await runCli(['crl', '--dir', ca.dir, '--passphrase-file', ca.passphraseFile!]);
  assert.equal(crl.code, 0, crl.stderr);
  assert.equal(listedInCrl(ca, dan), true);
});
