// After `cert renew` two valid certificates share one key. Revoking for keyCompromise must revoke the key: every
// valid certificate with that public key, in one transaction and one CRL, each named on stdout; `--all` revokes
// every valid certificate of a NAME. Real CLI, `openssl verify -crl_check`, and a real gateway on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { issueCert, makeCa, tempDir } from '../helpers/pki.ts';
import type { TestCa } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import { h1Request } from '../helpers/tls-clients.ts';
import { renewCertificate } from '../../src/pki/issue.ts';
import { signCsr } from '../../src/pki/csr.ts';
import { parseCrl } from '../../src/pki/crl.ts';
import { CaStore } from '../../src/pki/store.ts';

interface Held {
  serial: string;
  certPath: string;
  certPem: string;
  keyPem: string;
}

async function openssl(args: string[]): Promise<{ code: number | null; out: string }> {
  const r = await runProcess('openssl', args, { timeoutMs: 20_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

async function verdict(ca: TestCa, cert: Held): Promise<'ok' | 'revoked' | string> {
  const r = await openssl(['verify', '-crl_check', '-CAfile', ca.certPath, '-CRLfile', join(ca.dir, 'crl.pem'), cert.certPath]);
  return r.code === 0 ? 'ok' : /certificate revoked/.test(r.out) ? 'revoked' : r.out;
}

function crlNumber(ca: TestCa): bigint | undefined {
  return parseCrl(readFileSync(join(ca.dir, 'crl.pem'), 'utf8')).crlNumber;
}

/** NAME issued, then renewed (same key, new serial): [old, new]. */
async function issuedAndRenewed(ca: TestCa, name: string): Promise<[Held, Held]> {
  const old = await issueCert(ca, name);
  const store = CaStore.open(ca.dir);
  try {
    const renewed = await renewCertificate(ca.ca, store, { ref: name, days: 5 });
    return [
      { serial: old.record.serial, certPath: old.certPath, certPem: old.certPem, keyPem: old.keyPem },
      { serial: renewed.record.serial, certPath: renewed.certPath, certPem: renewed.certPem, keyPem: old.keyPem },
    ];
  } finally {
    store.close();
  }
}

test('keyCompromise of a renewed NAME revokes every valid certificate with that key, in one CRL', async (t) => {
  const ca = await makeCa(t);
  const dir = tempDir(t, 'cg-keycomp-');
  const [oldDave, newDave] = await issuedAndRenewed(ca, 'dave');
  // the same key certified once more under another NAME (a CSR made from dave's key file)
  const csr = join(dir, 'laptop.csr');
  const keyFile = join(dir, 'dave.key');
  writeFileSync(keyFile, oldDave.keyPem, { mode: 0o600 });
  assert.equal((await openssl(['req', '-new', '-key', keyFile, '-subj', '/CN=dave-laptop', '-out', csr])).code, 0);
  const store = CaStore.open(ca.dir);
  let laptop: Held;
  try {
    const r = await signCsr(ca.ca, store, { data: readFileSync(csr), source: csr, profile: 'client', days: 5 });
    laptop = { serial: r.record.serial, certPath: r.certPath, certPem: r.certPem, keyPem: oldDave.keyPem };
  } finally {
    store.close();
  }
  const erinCert = await issueCert(ca, 'erin');
  const erin: Held = { serial: erinCert.record.serial, certPath: erinCert.certPath, certPem: erinCert.certPem, keyPem: erinCert.keyPem };

  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: ${join(ca.dir, 'crl-bundle.pem')}}
    routes: [{path: /, upstream: "${upstream.url}"}]
`);
  const get = (c: Held) => h1Request(gw.port, '/', { ca: ca.ca.cert.toString('pem'), cert: c.certPem, key: c.keyPem });
  for (const c of [oldDave, newDave, laptop, erin]) assert.equal((await get(c)).status, 200, 'all valid before');

  const before = crlNumber(ca)!;
  const r = await runCli(['cert', 'revoke', 'dave', '--reason', 'keyCompromise', '--dir', ca.dir, '--passphrase-file', ca.passphraseFile!]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('revoked '));
  assert.equal(lines.length, 3, r.stdout);
  assert.ok(lines.some((l) => l.includes(`"dave" (${newDave.serial}): keyCompromise`)), r.stdout);
  assert.ok(lines.some((l) => l.includes(`"dave" (${oldDave.serial}): keyCompromise`)), r.stdout);
  assert.ok(lines.some((l) => l.includes(`"dave-laptop" (${laptop.serial}): keyCompromise [same key as `)), r.stdout);
  assert.equal(crlNumber(ca), before + 1n, 'one CRL for all of them');
  const listed = parseCrl(readFileSync(join(ca.dir, 'crl.pem'), 'utf8')).entries;
  assert.deepEqual(listed.map((e) => e.serial).sort(), [oldDave.serial, newDave.serial, laptop.serial].sort());
  assert.ok(listed.every((e) => e.reason === 'keyCompromise'));

  for (const c of [oldDave, newDave, laptop]) assert.equal(await verdict(ca, c), 'revoked', c.serial);
  assert.equal(await verdict(ca, erin), 'ok');
  gw.gateway.reloadTrust();
  for (const c of [oldDave, newDave, laptop]) {
    const res = await get(c);
    assert.equal(res.status, 403, c.serial);
    assert.match(res.body, /<code>revoked<\/code>/);
  }
  assert.equal((await get(erin)).status, 200);

  const check = CaStore.open(ca.dir);
  try {
    const revokes = check.auditLog().filter((e) => e.operation === 'cert.revoke');
    assert.equal(revokes.length, 3);
    assert.equal(revokes.filter((e) => e.detail.sameKeyAs !== undefined).length, 1, 'the other NAME is recorded as revoked for sharing the key');
  } finally {
    check.close();
  }
});

test('keyCompromise by serial takes the renewed twin along (also after an earlier revoke); --all revokes every valid certificate of a NAME', async (t) => {
  const ca = await makeCa(t);
  const pass = ['--dir', ca.dir, '--passphrase-file', ca.passphraseFile!];
  const [oldFay, newFay] = await issuedAndRenewed(ca, 'fay');
  const r = await runCli(['cert', 'revoke', oldFay.serial, '--reason', 'keyCompromise', ...pass]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^revoked "fay" \\(${oldFay.serial}\\): keyCompromise$`, 'm'));
  assert.match(r.stdout, new RegExp(`^revoked "fay" \\(${newFay.serial}\\): keyCompromise \\[same key as ${oldFay.serial}\\]$`, 'm'));
  assert.equal(await verdict(ca, newFay), 'revoked');

  // revoked earlier as superseded, its key compromised later: the renewed certificate with that key goes now
  const [oldHal, newHal] = await issuedAndRenewed(ca, 'hal');
  assert.equal((await runCli(['cert', 'revoke', oldHal.serial, '--reason', 'superseded', ...pass])).code, 0);
  assert.equal(await verdict(ca, newHal), 'ok');
  const late = await runCli(['cert', 'revoke', oldHal.serial, '--reason', 'keyCompromise', ...pass]);
  assert.equal(late.code, 0, late.stderr);
  assert.match(late.stderr, /already revoked .*superseded.*share its key/);
  assert.match(late.stdout, new RegExp(`^revoked "hal" \\(${newHal.serial}\\): keyCompromise \\[same key as ${oldHal.serial}\\]$`, 'm'));
  assert.equal(await verdict(ca, newHal), 'revoked');

  // any other reason revokes exactly what was named, and a renewed NAME stays ambiguous without --all
  const [oldGus, newGus] = await issuedAndRenewed(ca, 'gus');
  const amb = await runCli(['cert', 'revoke', 'gus', '--reason', 'superseded', ...pass]);
  assert.equal(amb.code, 1);
  assert.match(amb.stderr, /"gus" names 2 certificates.*--all/);
  const all = await runCli(['cert', 'revoke', 'gus', '--all', '--reason', 'superseded', ...pass]);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout.split('\n').filter((l) => l.startsWith('revoked "gus"')).length, 2, all.stdout);
  for (const c of [oldGus, newGus]) assert.equal(await verdict(ca, c), 'revoked', c.serial);
  const again = await runCli(['cert', 'revoke', 'gus', '--all', ...pass]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already revoked/);
  const mixed = await runCli(['cert', 'revoke', '--all', '--serial', newGus.serial, ...pass]);
  assert.equal(mixed.code, 1);
  assert.match(mixed.stderr, /--all takes a NAME/);
});
