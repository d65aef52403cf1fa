// Negative certificate serials (old CAs, `openssl x509 -set_serial -N`, certificates of an imported CA): revoked means
// revoked at the gateway, in certgate's CRL and for `openssl verify -crl_check`, because serials are compared as DER
// INTEGERs: -0x7EDC1234AB is neither 0x7EDC1234AB nor 0x8123EDCB55 (its two's-complement bytes read as positive).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/pki.ts';
import { opensslCrl, opensslLeaf, opensslRevoke, opensslRootCa } from '../helpers/openssl-certs.ts';
import type { OsslCa, OsslCert } from '../helpers/openssl-certs.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import { h1Request } from '../helpers/tls-clients.ts';

// -0x7EDC1234AB in five two's-complement octets is 81 23 ED CB 55: the positive twin old code confused it with
const NEG = '-0x7EDC1234AB';
const TWOS = '0x' + ((1n << 40n) - 0x7edc1234abn).toString(16).toUpperCase();
const MAG = '0x7EDC1234AB';

async function opensslOut(args: string[]): Promise<string> {
  const r = await runProcess('openssl', args, { timeoutMs: 20_000 });
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** What `openssl x509 -serial` prints (and nginx's $ssl_client_serial carries). */
async function opensslSerial(cert: OsslCert): Promise<string> {
  return (await opensslOut(['x509', '-in', cert.certPath, '-noout', '-serial'])).trim().replace(/^serial=/, '');
}

/** `openssl verify -crl_check`: 'ok', 'revoked', or the error text. */
async function opensslVerdict(ca: OsslCa, crlPath: string, cert: OsslCert): Promise<string> {
  const r = await runProcess('openssl', ['verify', '-crl_check', '-CAfile', ca.certPath, '-CRLfile', crlPath, cert.certPath], { timeoutMs: 20_000 });
  if (r.code === 0) return 'ok';
  return /certificate revoked/.test(r.stdout + r.stderr) ? 'revoked' : r.stdout + r.stderr;
}

async function gatewayFor(t: Parameters<typeof tempDir>[0], dir: string, ca: OsslCa, crlPath: string, extraRoutes = (_upstream: string) => '') {
  const server = await opensslLeaf(ca, { name: 'gateway', subj: '/CN=localhost', eku: 'serverAuth', san: 'DNS:localhost,IP:127.0.0.1' });
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, crl: ${crlPath}}
    routes:
      - {path: /, upstream: "${upstream.url}"}${extraRoutes(upstream.url)}
`);
  const get = (cert: OsslCert, path = '/') => h1Request(gw.port, path, { ca: ca.certPem, cert: cert.certPem, key: cert.keyPem });
  return { gw, upstream, get };
}

test('a negative-serial certificate revoked with openssl ca is refused by the gateway, its positive look-alikes are not', async (t) => {
  const dir = tempDir(t, 'cg-negser-');
  const ca = await opensslRootCa(dir, 'neg-root');
  const neg = await opensslLeaf(ca, { name: 'neg', subj: '/CN=neg', serial: NEG });
  const twos = await opensslLeaf(ca, { name: 'twos', subj: '/CN=twos', serial: TWOS });
  const mag = await opensslLeaf(ca, { name: 'mag', subj: '/CN=mag', serial: MAG });
  const small = await opensslLeaf(ca, { name: 'small', subj: '/CN=small', serial: '-0x11' });
  const ef = await opensslLeaf(ca, { name: 'ef', subj: '/CN=ef', serial: '0xEF' }); // -0x11 is the one octet EF
  await opensslRevoke(ca, neg);
  const crlPath = join(dir, 'neg-root.crl');
  assert.match(await opensslCrl(ca, crlPath), /BEGIN X509 CRL/);
  assert.match(await opensslOut(['crl', '-in', crlPath, '-noout', '-text']), /Serial Number: -7EDC1234AB/);
  assert.equal(await opensslSerial(neg), '-7EDC1234AB');

  const { gw, upstream, get } = await gatewayFor(t, dir, ca, crlPath);
  const expected: Array<[string, OsslCert, 'ok' | 'revoked']> = [['neg', neg, 'revoked'], ['twos', twos, 'ok'], ['mag', mag, 'ok'], ['small', small, 'ok'], ['ef', ef, 'ok']];
  for (const [name, cert, verdict] of expected) {
    assert.equal(await opensslVerdict(ca, crlPath, cert), verdict, `openssl verify ${name}`);
    const r = await get(cert);
    if (verdict === 'revoked') {
      assert.equal(r.status, 403, `${name}: ${r.status} ${r.body.slice(0, 200)}`);
      assert.match(r.body, /<code>revoked<\/code>/);
    } else {
      assert.equal(r.status, 200, `${name}: ${r.body.slice(0, 300)}`);
      // X-Client-Serial is what nginx's $ssl_client_serial holds: openssl's own spelling, "-" included
      const seen = JSON.parse(r.body) as { headers: Record<string, string> };
      assert.equal(seen.headers['x-client-serial'], await opensslSerial(cert), name);
    }
  }
  assert.equal(upstream.seen.filter((s) => s.headers['x-client-serial'] === '-7EDC1234AB').length, 0, 'the revoked certificate never reached the upstream');
  assert.equal(gw.events('access').find((l) => l.status === 403)?.verify, 'FAILED:revoked');
});

test('allow: [{serial: "-11"}] admits the negative serial, not the positive 0xEF whose one octet is the same', async (t) => {
  const dir = tempDir(t, 'cg-negrule-');
  const ca = await opensslRootCa(dir, 'rule-root');
  const small = await opensslLeaf(ca, { name: 'small', subj: '/CN=small', serial: '-0x11' });
  const ef = await opensslLeaf(ca, { name: 'ef', subj: '/CN=ef', serial: '0xEF' });
  const crlPath = join(dir, 'rule-root.crl');
  await opensslCrl(ca, crlPath);
  const { get } = await gatewayFor(t, dir, ca, crlPath, (upstream) => `
      - {path: /by-serial, upstream: "${upstream}", allow: [{serial: "-11"}]}
      - {path: /by-positive, upstream: "${upstream}", allow: [{serial: "EF"}]}`);
  const status = async (cert: OsslCert, path: string) => {
    const r = await get(cert, path);
    return r.status === 403 && /<code>not_allowed<\/code>/.test(r.body) ? 'not_allowed' : r.status;
  };
  assert.equal(await status(small, '/by-serial'), 200);
  assert.equal(await status(ef, '/by-serial'), 'not_allowed');
  assert.equal(await status(ef, '/by-positive'), 200);
  assert.equal(await status(small, '/by-positive'), 'not_allowed');
});

test('certgate cert revoke on an imported CA lists negative serials as negative INTEGERs, as openssl and the gateway read them', async (t) => {
  const dir = tempDir(t, 'cg-negimp-');
  const ca = await opensslRootCa(dir, 'imported-root');
  const pki = join(dir, 'pki');
  const imp = await runCli(['ca', 'import', '--dir', pki, '--cert', ca.certPath, '--key', ca.keyPath, '--no-passphrase']);
  assert.equal(imp.code, 0, imp.stderr);
  const byFile = await opensslLeaf(ca, { name: 'by-file', subj: '/CN=by-file', serial: NEG });
  const bare = await opensslLeaf(ca, { name: 'bare', subj: '/CN=bare', serial: '-0x42' });
  const flag = await opensslLeaf(ca, { name: 'flag', subj: '/CN=flag', serial: '-0x0100' });
  const dashes = await opensslLeaf(ca, { name: 'dashes', subj: '/CN=dashes', serial: '-0x5A5A' });
  const twos = await opensslLeaf(ca, { name: 'twos', subj: '/CN=twos', serial: TWOS });
  const mag = await opensslLeaf(ca, { name: 'mag', subj: '/CN=mag', serial: MAG });
  const revokes: Array<[string[], string]> = [
    [[byFile.certPath, '--reason', 'keyCompromise'], '-7EDC1234AB'],
    [[await opensslSerial(bare)], '-42'], // "-42" bare: commander alone would call it an unknown option
    [['--serial', '-0100'], '-0100'],
    [['--', '-5a:5a'], '-5A5A'],
  ];
  for (const [args, serial] of revokes) {
    const r = await runCli(['cert', 'revoke', '--dir', pki, ...args]);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^revoked ${serial}\\b`, 'm'), r.stdout);
  }
  const crlText = await opensslOut(['crl', '-in', join(pki, 'crl.pem'), '-noout', '-text']);
  const listed = [...crlText.matchAll(/Serial Number: (\S+)/g)].map((m) => m[1]).sort();
  assert.deepEqual(listed, ['-0100', '-42', '-5A5A', '-7EDC1234AB']);

  const crlPath = join(pki, 'crl-bundle.pem');
  for (const cert of [byFile, bare, flag, dashes]) assert.equal(await opensslVerdict(ca, crlPath, cert), 'revoked', cert.certPath);
  for (const cert of [twos, mag]) assert.equal(await opensslVerdict(ca, crlPath, cert), 'ok', cert.certPath);

  const { get } = await gatewayFor(t, dir, ca, crlPath);
  for (const cert of [byFile, bare, flag, dashes]) {
    const r = await get(cert);
    assert.equal(r.status, 403, cert.certPath);
    assert.match(r.body, /<code>revoked<\/code>/);
  }
  for (const cert of [twos, mag]) assert.equal((await get(cert)).status, 200, cert.certPath);

  // the store shows them as openssl does, finds them by that spelling, and knows they are already revoked
  const list = await runCli(['cert', 'list', '--dir', pki, '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual((JSON.parse(list.stdout) as Array<{ serial: string }>).map((e) => e.serial).sort(), ['-0100', '-42', '-5A5A', '-7EDC1234AB']);
  const show = await runCli(['cert', 'show', '-7edc1234ab', '--dir', pki, '--json']);
  assert.equal(show.code, 0, show.stderr);
  assert.equal((JSON.parse(show.stdout) as { serial: string; status: string }).status, 'revoked');
  const again = await runCli(['cert', 'revoke', byFile.certPath, '--dir', pki]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /-7EDC1234AB was already revoked/);
});
