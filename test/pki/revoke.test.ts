// revoke + CRL publishing on real CA directories: openssl verify -crl_check_all refuses the revoked cert and accepts
// its twin (root-only and root+intermediate), CRL numbers increase, parent CRL coverage, foreign serials.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, importCa } from '../../src/pki/ca-setup.ts';
import { loadCa, unlockCa } from '../../src/pki/ca.ts';
import type { UnlockedCa } from '../../src/pki/ca.ts';
import { issueCertificate } from '../../src/pki/issue.ts';
import { CaStore } from '../../src/pki/store.ts';
import { revokeCertificate } from '../../src/pki/revoke.ts';
import { publishCrl } from '../../src/pki/crl-publish.ts';
import { parseCrl } from '../../src/pki/crl.ts';
import { runProcess } from '../helpers/cli.ts';

interface Ca {
  ca: UnlockedCa;
  store: CaStore;
}

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cg-revoke-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function newCa(t: { after: (fn: () => void) => void }, dir: string, name: string, parent?: UnlockedCa): Promise<Ca> {
  await createCa({ dir, name, passphrase: null, parent });
  const ca = await unlockCa(loadCa(dir), null);
  const store = CaStore.open(dir);
  t.after(() => store.close());
  return { ca, store };
}

async function verify(caFile: string, crlFile: string, cert: string, untrusted?: string) {
  const args = ['verify', '-crl_check_all', '-CAfile', caFile, '-CRLfile', crlFile, ...(untrusted ? ['-untrusted', untrusted] : []), cert];
  const r = await runProcess('openssl', args, { timeoutMs: 20_000 });
  return { ok: r.code === 0, out: r.stdout + r.stderr };
}

test('root-only CA: revoke refuses the cert, accepts its twin, CRL number increases', async (t) => {
  const dir = join(tmp(t), 'root');
  const { ca, store } = await newCa(t, dir, 'Revoke Root');
  const first = parseCrl(readFileSync(join(dir, 'crl.pem'), 'utf8'));
  assert.equal(first.crlNumber, 1n, 'ca create writes an empty first CRL');
  assert.equal(first.entries.length, 0);
  const a = await issueCertificate(ca, store, { name: 'alice', profile: 'client' });
  const b = await issueCertificate(ca, store, { name: 'bob', profile: 'client' });
  const c = await issueCertificate(ca, store, { name: 'carol', profile: 'server', sans: { dns: ['carol.example'] } });

  const r1 = await revokeCertificate(ca, store, { ref: 'alice', reason: 'keyCompromise', cwd: dir });
  assert.equal(r1.record.status, 'revoked');
  assert.equal(r1.record.revocationReason, 'keyCompromise');
  assert.equal(r1.crl.written, true);
  const crlFile = join(dir, 'crl-bundle.pem');
  const refused = await verify(join(dir, 'ca.crt'), crlFile, a.certPath);
  assert.equal(refused.ok, false);
  assert.match(refused.out, /certificate revoked/);
  assert.equal((await verify(join(dir, 'ca.crt'), crlFile, b.certPath)).ok, true);

  const text = await runProcess('openssl', ['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text'], { timeoutMs: 20_000 });
  assert.match(text.stdout, new RegExp(`Serial Number: ${a.record.serial}[\\s\\S]*?Key Compromise`));

  const r2 = await revokeCertificate(ca, store, { ref: b.record.serial.toLowerCase(), reason: 'unspecified', cwd: dir });
  assert.ok(r2.crl.crlNumber > r1.crl.crlNumber, 'CRL number increases');
  const parsed = parseCrl(readFileSync(join(dir, 'crl.pem'), 'utf8'));
  assert.equal(parsed.crlNumber, r2.crl.crlNumber);
  assert.deepEqual(parsed.entries.map((e) => [e.serial, e.reason]).sort(), [[a.record.serial, 'keyCompromise'], [b.record.serial, undefined]].sort());
  assert.equal((await verify(join(dir, 'ca.crt'), crlFile, b.certPath)).ok, false);
  assert.equal((await verify(join(dir, 'ca.crt'), crlFile, c.certPath)).ok, true);

  await assert.rejects(revokeCertificate(ca, store, { ref: 'alice', reason: 'superseded', cwd: dir }), { code: 'CG_PKI_ALREADY_REVOKED' });
  await assert.rejects(revokeCertificate(ca, store, { ref: a.record.serial, reason: 'superseded', cwd: dir }), { code: 'CG_PKI_ALREADY_REVOKED' });
  await assert.rejects(revokeCertificate(ca, store, { ref: '0ABCDEF1234', reason: 'superseded', cwd: dir }), { code: 'CG_PKI_SERIAL_NOT_FOUND' });
  await assert.rejects(revokeCertificate(ca, store, { ref: 'nobody', reason: 'superseded', cwd: dir }), { code: 'CG_PKI_SERIAL_NOT_FOUND' });
  const ops = store.auditLog().map((e) => e.operation);
  assert.equal(ops.filter((o) => o === 'cert.revoke').length, 2);
  assert.equal(ops.filter((o) => o === 'crl.publish').length, 3, 'ca create published the first CRL');
});

test('root + intermediate: the bundle covers both CAs, and a revoked intermediate fails every leaf under it', async (t) => {
  const base = tmp(t);
  const root = await newCa(t, join(base, 'root'), 'Chain Root');
  const inter = await newCa(t, join(base, 'inter'), 'Chain Inter', root.ca);
  const leaf = await issueCertificate(inter.ca, inter.store, { name: 'dora', profile: 'client' });
  const twin = await issueCertificate(inter.ca, inter.store, { name: 'dora-twin', profile: 'client' });
  const interCrt = join(base, 'inter', 'ca.crt');
  const rootCrt = join(base, 'root', 'ca.crt');

  // ca create wrote both CAs' first CRLs; without the root's, the intermediate refuses to build a bundle that
  // would fail every client under crl_check_all
  for (const f of ['crl.pem', 'crl-bundle.pem']) unlinkSync(join(base, 'root', f));
  unlinkSync(join(base, 'inter', 'crl.pem'));
  await assert.rejects(revokeCertificate(inter.ca, inter.store, { ref: 'dora', reason: 'keyCompromise', cwd: base }), (err: Error & { code?: string; hint?: string }) => {
    assert.equal(err.code, 'CG_PKI_PARENT_CRL');
    assert.match(err.hint ?? '', /certgate crl --dir .*root/);
    return true;
  });
  assert.equal(inter.store.getBySerial(leaf.record.serial)?.status, 'valid', 'nothing changed');
  assert.equal(existsSync(join(base, 'inter', 'crl.pem')), false);

  await publishCrl(root.ca, root.store, {});
  await revokeCertificate(inter.ca, inter.store, { ref: 'dora', reason: 'keyCompromise', cwd: base });
  const bundle = join(base, 'inter', 'crl-bundle.pem');
  assert.equal((readFileSync(bundle, 'utf8').match(/BEGIN X509 CRL/g) ?? []).length, 2);
  const refused = await verify(rootCrt, bundle, leaf.certPath, interCrt);
  assert.equal(refused.ok, false);
  assert.match(refused.out, /certificate revoked/);
  assert.equal((await verify(rootCrt, bundle, twin.certPath, interCrt)).ok, true, 'unrevoked twin accepted');
  // crl.pem alone does not cover the root: exactly why the bundle exists
  assert.equal((await verify(rootCrt, join(base, 'inter', 'crl.pem'), twin.certPath, interCrt)).ok, false);

  // the root revokes the intermediate; after regenerating the intermediate's bundle, its leaves fail too
  await revokeCertificate(root.ca, root.store, { ref: 'Chain Inter', reason: 'cessationOfOperation', cwd: base });
  await publishCrl(inter.ca, inter.store, {});
  const dead = await verify(rootCrt, bundle, twin.certPath, interCrt);
  assert.equal(dead.ok, false);
  assert.match(dead.out, /certificate revoked/);
});

test('an imported CA may revoke serials certgate never saw; a FILE signed by the CA works on any CA', async (t) => {
  const base = tmp(t);
  const made = join(base, 'made');
  // an openssl-made CA and a leaf signed outside certgate
  const o = async (args: string[]) => {
    const r = await runProcess('openssl', args, { cwd: made, timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
  };
  (await import('node:fs')).mkdirSync(made, { mode: 0o700 });
  await o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30',
    '-subj', '/CN=Handmade CA', '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'old.key', '-out', 'old.csr', '-subj', '/CN=old']);
  await o(['x509', '-req', '-in', 'old.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '0x5eed01', '-days', '10', '-out', 'old.crt']);
  await o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'old2.key', '-out', 'old2.csr', '-subj', '/CN=old2']);
  await o(['x509', '-req', '-in', 'old2.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '0x5eed02', '-days', '10', '-out', 'old2.crt']);
  const dir = join(base, 'imported');
  const { ca } = await importCa({ dir, certPath: join(made, 'ca.crt'), keyPath: join(made, 'ca.key'), passphrase: null });
  const store = CaStore.open(dir);
  t.after(() => store.close());

  const byFile = await revokeCertificate(ca, store, { ref: join(made, 'old.crt'), reason: 'superseded', cwd: base });
  assert.equal(byFile.external, true);
  assert.equal(byFile.record.profile, 'external');
  assert.equal(byFile.record.subject, 'CN=old');
  const bySerial = await revokeCertificate(ca, store, { ref: '5e:ed:02', reason: 'keyCompromise', cwd: base });
  assert.equal(bySerial.external, true);
  assert.equal(bySerial.record.serial, '5EED02');
  assert.equal(bySerial.record.pem, null);
  for (const name of ['old.crt', 'old2.crt']) {
    const r = await verify(join(dir, 'ca.crt'), join(dir, 'crl-bundle.pem'), join(made, name));
    assert.equal(r.ok, false, name);
    assert.match(r.out, /certificate revoked/);
  }
  await assert.rejects(revokeCertificate(ca, store, { ref: '5EED02', reason: 'keyCompromise', cwd: base }), { code: 'CG_PKI_ALREADY_REVOKED' });

  // a certificate from another CA is refused, not recorded
  const other = join(base, 'other');
  const otherCa = await newCa(t, other, 'Other CA');
  const foreign = await issueCertificate(otherCa.ca, otherCa.store, { name: 'zed', profile: 'client' });
  await assert.rejects(revokeCertificate(ca, store, { ref: foreign.certPath, reason: 'keyCompromise', cwd: base }), { code: 'CG_PKI_BAD_CERT' });
  // the created CA refuses bare unknown serials but takes a file it signed (here: re-signed via its own store entry)
  writeFileSync(join(base, 'zed.crt'), foreign.certPem);
  const r = await revokeCertificate(otherCa.ca, otherCa.store, { ref: join(base, 'zed.crt'), reason: 'affiliationChanged', cwd: base });
  assert.equal(r.external, false);
  assert.equal(r.record.name, 'zed');
  unlinkSync(join(base, 'zed.crt'));
});

test('concurrent publishers never replace a newer CRL with an older one', async (t) => {
  const dir = join(tmp(t), 'race');
  const { ca, store } = await newCa(t, dir, 'Race Root');
  const certs = [];
  for (let i = 0; i < 4; i++) certs.push(await issueCertificate(ca, store, { name: `n${i}`, profile: 'client' }));
  const stores = certs.map(() => CaStore.open(dir));
  t.after(() => stores.forEach((s) => s.close()));
  const results = await Promise.all(certs.map((c, i) => revokeCertificate(ca, stores[i], { ref: c.record.serial, reason: 'superseded', cwd: dir })));
  const max = results.reduce((m, r) => (r.crl.crlNumber > m ? r.crl.crlNumber : m), 0n);
  const parsed = parseCrl(readFileSync(join(dir, 'crl.pem'), 'utf8'));
  assert.equal(parsed.crlNumber, max);
  assert.equal(parsed.entries.length, 4, 'the newest CRL lists every revocation');
});
