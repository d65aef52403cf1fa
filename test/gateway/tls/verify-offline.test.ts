// Offline chain verification (for explain), each case checked against what a real Node TLS handshake reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { runProcess } from '../../helpers/cli.ts';
import { opensslCrl, opensslIntermediateCa, opensslLeaf, opensslRevoke, opensslRootCa, opensslSelfSigned, type OsslCa, type OsslCert } from '../../helpers/openssl-certs.ts';
import { loadTrust, type Trust } from '../../../src/gateway/tls/trust.ts';
import { verifyChainOffline } from '../../../src/gateway/tls/verify-offline.ts';
import { reasonFromTlsError } from '../../../src/gateway/policy/reasons.ts';

const dir = mkdtempSync(join(tmpdir(), 'certgate-verify-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const x509 = (pem: string): X509Certificate => new X509Certificate(pem);

/** What Node's TLS server says about `client` (sent with `extra` intermediates) given `ca` and optional CRLs. */
async function tlsVerdict(server: OsslCert, ca: string, client: OsslCert, extra = '', crl?: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.createServer({ cert: server.certPem, key: server.keyPem, ca, crl, requestCert: true, rejectUnauthorized: false }, (sock) => {
      const present = Object.keys(sock.getPeerCertificate()).length > 0;
      resolve(sock.authorized ? 'ok' : reasonFromTlsError(sock.authorizationError ? String(sock.authorizationError) : null, present));
      sock.end();
      s.close();
    });
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: (s.address() as { port: number }).port, host: '127.0.0.1', rejectUnauthorized: false, cert: client.certPem + extra, key: client.keyPem });
      c.on('data', () => {});
      c.on('error', () => {});
      c.on('close', () => c.destroy());
    });
  });
}

test('offline verification agrees with the TLS handshake, case by case', async (t) => {
  const root = await opensslRootCa(dir, 'root');
  const inter = await opensslIntermediateCa(root, dir, 'inter');
  const server = await opensslLeaf(root, { subj: '/CN=localhost', name: 'server', eku: 'serverAuth' });
  const twin = await opensslRootCa(join(dir, 'twin'), 'root'); // same DN as root, another key
  const leaf = (name: string, extra: Partial<Parameters<typeof opensslLeaf>[1]> = {}, ca: OsslCa = inter) =>
    opensslLeaf(ca, { subj: `/O=Acme/CN=${name}`, name, ...extra });
  const alice = await leaf('alice');
  const direct = await leaf('direct', {}, root);
  const noEku = await leaf('noeku', { eku: 'none' });
  const serverOnly = await leaf('serveronly', { eku: 'serverAuth' });
  const expired = await leaf('expired', { startdate: '20200101000000Z', enddate: '20200102000000Z' });
  const future = await leaf('future', { startdate: '20990101000000Z', enddate: '20991231000000Z' });
  const lookalike = await opensslSelfSigned(dir, 'lookalike', '/O=Acme/CN=alice');
  const forged = await opensslLeaf(twin, { subj: '/O=Acme/CN=alice', name: 'forged' });
  const bundle = root.certPem + inter.certPem;
  const trust = loadTrust({ ca: writeTmp('bundle.pem', bundle) });
  const rootOnly = loadTrust({ ca: writeTmp('root.pem', root.certPem) });
  const now = new Date();

  const cases: Array<{ name: string; cert: OsslCert; trust: Trust; ca: string; extra?: string; depth?: number; expect: string }> = [
    { name: 'good leaf, CA bundle has the intermediate', cert: alice, trust, ca: bundle, expect: 'ok' },
    { name: 'good leaf sent with its intermediate, bundle has the root only', cert: alice, trust: rootOnly, ca: root.certPem, extra: inter.certPem, expect: 'ok' },
    { name: 'leaf without its intermediate, bundle has the root only', cert: alice, trust: rootOnly, ca: root.certPem, expect: 'unknown_ca' },
    { name: 'leaf directly from the root', cert: direct, trust, ca: bundle, expect: 'ok' },
    { name: 'no EKU at all', cert: noEku, trust, ca: bundle, expect: 'ok' },
    { name: 'EKU serverAuth only', cert: serverOnly, trust, ca: bundle, expect: 'bad_purpose' },
    { name: 'expired', cert: expired, trust, ca: bundle, expect: 'expired' },
    { name: 'not yet valid', cert: future, trust, ca: bundle, expect: 'not_yet_valid' },
    { name: 'self-signed look-alike of an allowed DN', cert: lookalike, trust, ca: bundle, expect: 'unknown_ca' },
    { name: 'signed by a root with the same DN but another key', cert: forged, trust, ca: bundle, expect: 'unknown_ca' },
  ];
  for (const c of cases) {
    const offline = verifyChainOffline(x509(c.cert.certPem), c.trust, now, c.depth ?? 2, { intermediates: c.extra ? [x509(c.extra)] : [] });
    const got = offline.ok ? 'ok' : offline.reason;
    assert.equal(got, c.expect, `${c.name}: offline ${offline.ok ? '' : offline.detail}`);
    const viaTls = await tlsVerdict(server, c.ca, c.cert, c.extra);
    assert.equal(viaTls, c.expect, `${c.name}: tls`);
  }
  t.diagnostic('offline and TLS verdicts agree');

  // depth: leaf + intermediate are 2 certificates below the root
  assert.equal(verifyChainOffline(x509(alice.certPem), trust, now, 2).ok, true);
  const deep = verifyChainOffline(x509(alice.certPem), trust, now, 1);
  assert.equal(deep.ok ? 'ok' : deep.reason, 'chain_too_deep');
  assert.equal(verifyChainOffline(x509(direct.certPem), trust, now, 1).ok, true);
  // the detail names the certificate at fault
  const exp = verifyChainOffline(x509(expired.certPem), trust, now, 2);
  assert.ok(!exp.ok && /"CN=expired,O=Acme" expired at 2020-01-02T00:00:00.000Z/.test(exp.detail));
  const ok = verifyChainOffline(x509(alice.certPem), trust, now, 2);
  assert.ok(ok.ok);
  assert.deepEqual(ok.chain.map((c) => c.subject.split('\n').pop()), ['CN=alice', 'CN=inter', 'CN=root']);

  function writeTmp(name: string, text: string): string {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  }
});

test('revocation, CRL coverage and stale CRLs', async () => {
  const root = await opensslRootCa(dir, 'croot');
  const inter = await opensslIntermediateCa(root, dir, 'cinter');
  const server = await opensslLeaf(root, { subj: '/CN=localhost', name: 'server', eku: 'serverAuth' });
  const alice = await opensslLeaf(inter, { subj: '/CN=alice', name: 'alice' });
  const mallory = await opensslLeaf(inter, { subj: '/CN=mallory', name: 'mallory' });
  await opensslRevoke(inter, mallory);
  const bundlePath = join(dir, 'cbundle.pem');
  writeFileSync(bundlePath, root.certPem + inter.certPem);
  const rootCrl = join(dir, 'croot.crl');
  const interCrl = join(dir, 'cinter.crl');
  const rootCrlText = await opensslCrl(root, rootCrl);
  const interCrlText = await opensslCrl(inter, interCrl);
  const now = new Date();
  const verdict = (cert: OsslCert, trust: Trust, staleCrl?: 'enforce' | 'refuse') => {
    const r = verifyChainOffline(x509(cert.certPem), trust, now, 2, { staleCrl });
    return r.ok ? 'ok' : r.reason;
  };

  const full = loadTrust({ ca: bundlePath, crl: [rootCrl, interCrl] });
  assert.equal(verdict(alice, full), 'ok');
  assert.equal(verdict(mallory, full), 'revoked');
  const r = verifyChainOffline(x509(mallory.certPem), full, now, 2);
  assert.ok(!r.ok && /revoked by "CN=cinter,O=certgate tests" \(keyCompromise\)/.test(r.detail));
  // the TLS layer with the same CRLs agrees
  assert.equal(await tlsVerdict(server, root.certPem + inter.certPem, mallory, '', [rootCrlText, interCrlText]), 'revoked');
  assert.equal(await tlsVerdict(server, root.certPem + inter.certPem, alice, '', [rootCrlText, interCrlText]), 'ok');

  // CRLs set but the intermediate has none: every client of it is refused, naming the CA
  const partial = loadTrust({ ca: bundlePath, crl: [rootCrl] });
  assert.equal(verdict(alice, partial), 'crl_unavailable');
  const p = verifyChainOffline(x509(alice.certPem), partial, now, 2);
  assert.ok(!p.ok && p.detail.includes('"CN=cinter,O=certgate tests"'));
  assert.equal(await tlsVerdict(server, root.certPem + inter.certPem, alice, '', [rootCrlText]), 'crl_unavailable');

  // stale CRL: still enforced, with a warning by default; crl_stale with staleCrl: refuse
  const staleCrl = join(dir, 'cinter-stale.crl');
  const s = await runProcess('openssl', ['ca', '-gencrl', '-config', join(inter.dir, 'openssl.cnf'), '-crl_lastupdate', '20200101000000Z', '-crl_nextupdate', '20200102000000Z', '-out', staleCrl]);
  assert.equal(s.code, 0, s.stderr);
  const stale = loadTrust({ ca: bundlePath, crl: [rootCrl, staleCrl] });
  const enforced = verifyChainOffline(x509(alice.certPem), stale, now, 2);
  assert.ok(enforced.ok);
  assert.match(enforced.warnings.join('\n'), /cinter-stale\.crl .* out of date since 2020-01-02.*still enforced/);
  assert.equal(verdict(mallory, stale), 'revoked', 'a stale CRL keeps its revocations');
  assert.equal(verdict(alice, stale, 'refuse'), 'crl_stale');
  assert.deepEqual(verifyChainOffline(x509(alice.certPem), full, now, 2).warnings, []);

  // the intermediate itself revoked by the root: its clients are refused
  await opensslRevoke(root, { certPath: join(inter.dir, 'ca.crt'), keyPath: '', certPem: '', keyPem: '' });
  await opensslCrl(root, rootCrl);
  assert.equal(verdict(alice, loadTrust({ ca: bundlePath, crl: [rootCrl, interCrl] })), 'revoked');
});
