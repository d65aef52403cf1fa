// Trust material from openssl-made CAs: CRLs in PEM and DER, signature and coverage checks, staleness, lookups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { runProcess } from '../../helpers/cli.ts';
import { opensslCrl, opensslIntermediateCa, opensslLeaf, opensslRevoke, opensslRootCa, type OsslCa } from '../../helpers/openssl-certs.ts';
import { loadTrust } from '../../../src/gateway/tls/trust.ts';
import { isCertgateError } from '../../../src/core/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'certgate-trust-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function openssl(args: string[]): Promise<void> {
  const r = await runProcess('openssl', args, { timeoutMs: 20_000 });
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CRL whose nextUpdate is already past. */
async function staleCrl(ca: OsslCa, out: string): Promise<void> {
  await openssl(['ca', '-gencrl', '-config', join(ca.dir, 'openssl.cnf'), '-crl_lastupdate', '20200101000000Z', '-crl_nextupdate', '20200102000000Z', '-out', out]);
}

function configError(code: string, pattern: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(isCertgateError(err), String(err));
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
}

const x509 = (pem: string): X509Certificate => new X509Certificate(pem);

test('CA bundle, CRLs in PEM and DER, revocation of leaves and intermediates, coverage, staleness', async () => {
  const root = await opensslRootCa(dir, 'root');
  const inter = await opensslIntermediateCa(root, dir, 'inter');
  const inter2 = await opensslIntermediateCa(root, dir, 'inter2');
  const alice = await opensslLeaf(inter, { subj: '/O=Acme/CN=alice', name: 'alice' });
  const bob = await opensslLeaf(inter, { subj: '/O=Acme/CN=bob', name: 'bob' });
  const carol = await opensslLeaf(inter2, { subj: '/O=Acme/CN=carol', name: 'carol' });
  await opensslRevoke(inter, bob);
  await opensslRevoke(root, { certPath: join(inter2.dir, 'ca.crt'), keyPath: '', certPem: '', keyPem: '' });
  const bundle = join(dir, 'bundle.pem');
  writeFileSync(bundle, root.certPem + inter.certPem + inter2.certPem);

  // no CRL: nothing revoked, nothing missing
  const plain = loadTrust({ ca: bundle });
  assert.equal(plain.caPems.length, 3);
  assert.equal(plain.hasCrls, false);
  assert.deepEqual(plain.missingCrl, []);
  assert.equal(plain.revokedChain([x509(bob.certPem)]), null);
  assert.equal(plain.uncoveredCa([x509(bob.certPem)]), null);

  // root CRL only: the intermediates lack one, and are named
  const rootCrl = join(dir, 'root.crl');
  await opensslCrl(root, rootCrl);
  const partial = loadTrust({ ca: bundle, crl: [rootCrl] });
  assert.deepEqual(partial.missingCrl.sort(), ['CN=inter,O=certgate tests', 'CN=inter2,O=certgate tests']);
  assert.equal(partial.uncoveredCa([x509(alice.certPem)]), 'CN=inter,O=certgate tests');

  // every CA covered; the intermediate's CRL in DER, inter2's in PEM, root's in PEM
  const interPem = join(dir, 'inter.crl.pem');
  const interDer = join(dir, 'inter.crl.der');
  await opensslCrl(inter, interPem);
  await openssl(['crl', '-in', interPem, '-outform', 'DER', '-out', interDer]);
  const inter2Crl = join(dir, 'inter2.crl');
  await opensslCrl(inter2, inter2Crl);
  const full = loadTrust({ ca: bundle, crl: [rootCrl, interDer, inter2Crl] });
  assert.ok(full.generation > partial.generation);
  assert.deepEqual(full.missingCrl, []);
  assert.deepEqual(full.stale, []);
  assert.equal(full.crls.length, 3);
  assert.equal(full.uncoveredCa([x509(alice.certPem)]), null);
  assert.equal(full.revokedChain([x509(alice.certPem)]), null, 'alice is not revoked');
  const bobHit = full.revokedChain([x509(bob.certPem)]);
  const bobSerial = (await runProcess('openssl', ['x509', '-in', bob.certPath, '-noout', '-serial'])).stdout.trim().replace('serial=', '');
  assert.deepEqual(bobHit, { serial: bobSerial.replace(/^0+/, ''), reason: 'keyCompromise', issuer: 'CN=inter,O=certgate tests' });
  // carol is fine herself, but her CA was revoked by the root: found by completing the chain from the bundle
  const carolHit = full.revokedChain([x509(carol.certPem)]);
  assert.equal(carolHit?.issuer, 'CN=root,O=certgate tests');
  assert.equal(full.revoked(x509(carol.certPem)), null);

  // several CRLs in one PEM file work too
  const both = join(dir, 'all.crl');
  writeFileSync(both, readFileSync(rootCrl, 'utf8') + readFileSync(interPem, 'utf8') + readFileSync(inter2Crl, 'utf8'));
  assert.deepEqual(loadTrust({ ca: bundle, crl: both }).missingCrl, []);

  // a CRL past nextUpdate: still enforced, reported as stale
  const staleInter = join(dir, 'inter-stale.crl');
  await staleCrl(inter, staleInter);
  const stale = loadTrust({ ca: bundle, crl: [rootCrl, staleInter, inter2Crl] });
  assert.equal(stale.stale.length, 1);
  assert.match(stale.stale[0], /inter-stale\.crl of "CN=inter,O=certgate tests" is out of date since 2020-01-02/);
  assert.deepEqual(stale.staleAt(new Date('2020-01-01T12:00:00Z')), []);
  assert.equal(stale.revokedChain([x509(bob.certPem)])?.reason, 'keyCompromise');
  assert.equal(stale.staleFor([x509(alice.certPem)], new Date()).length, 1);
  assert.equal(stale.staleFor([x509(carol.certPem)], new Date()).length, 0);
});

test('bad CRLs and bundles are refused with the file named', async () => {
  const root = await opensslRootCa(dir, 'r2');
  // same DN, different key: its CRL must not be accepted for r2
  const impostor = await opensslRootCa(join(dir, 'impostor'), 'r2');
  const other = await opensslRootCa(dir, 'other');
  const impostorCrl = join(dir, 'impostor.crl');
  await opensslCrl(impostor, impostorCrl);
  const otherCrl = join(dir, 'other.crl');
  await opensslCrl(other, otherCrl);
  const garbage = join(dir, 'garbage.crl');
  writeFileSync(garbage, Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]));
  const pemGarbage = join(dir, 'garbage.pem');
  writeFileSync(pemGarbage, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  const empty = join(dir, 'empty.pem');
  writeFileSync(empty, 'nothing here\n');

  assert.throws(() => loadTrust({ ca: root.certPath, crl: impostorCrl }), configError('CG_CONFIG_TLS', /signature of CRL file .*impostor\.crl does not verify/));
  assert.throws(() => loadTrust({ ca: root.certPath, crl: otherCrl }), configError('CG_CONFIG_TLS', /issued by "CN=other,O=certgate tests", which is not a CA in clientAuth\.ca/));
  assert.throws(() => loadTrust({ ca: root.certPath, crl: garbage }), configError('CG_CONFIG_TLS', /garbage\.crl does not parse as a CRL/));
  assert.throws(() => loadTrust({ ca: root.certPath, crl: pemGarbage }), configError('CG_CONFIG_TLS', /holds no "X509 CRL" PEM block/));
  assert.throws(() => loadTrust({ ca: root.certPath, crl: join(dir, 'missing.crl') }), configError('CG_CONFIG_FILE', /cannot read clientAuth\.crl .*missing\.crl \(ENOENT\)/));
  assert.throws(() => loadTrust({ ca: join(dir, 'missing.pem') }), configError('CG_CONFIG_FILE', /clientAuth\.ca/));
  assert.throws(() => loadTrust({ ca: empty }), configError('CG_CONFIG_TLS', /holds no PEM certificate/));
});
