// A real browser behind certgate: a .p12 from `certgate cert export` imported into headless Chromium's NSS database
// (with NSS pk12util) opens the protected app; a browser without the certificate gets the 403 page with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeCa, issueCert, tempDir } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import { runCli, runProcess } from '../helpers/cli.ts';

// Chromium reads enterprise policies only from here; AutoSelectCertificateForUrls is how a headless browser
// (no certificate picker) is told to present a client certificate to one origin.
const POLICY_DIR = '/etc/chromium/policies/managed';

async function dumpDom(home: string, url: string): Promise<string> {
  const r = await runProcess('chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${join(home, 'profile')}`, '--dump-dom', url,
  ], { env: { HOME: home }, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `chromium failed: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

test('Chromium with an imported .p12 gets through; without it the reason page', { timeout: 180_000 }, async (t) => {
  assert.equal(process.getuid?.(), 0, `this test writes a Chromium policy file under ${POLICY_DIR} and must run as root (CI does)`);
  const work = tempDir(t, 'cg-browser-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  await issueCert(ca, 'alice');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, work, `servers:
  - listen: 127.0.0.1:0
    tls: { cert: ${server.certPath}, key: ${server.keyPath} }
    clientAuth: { ca: ${ca.chainPath}, mode: verify }
    routes:
      - { path: /, upstream: "${upstream.url}" }
`);

  // the user's path: export a .p12 for Chrome, import it with NSS tools into the profile's NSS db
  const pw = join(work, 'p12-password.txt');
  writeFileSync(pw, 'browser-test-pw\n', { mode: 0o600 });
  const p12 = join(work, 'alice.p12');
  const exp = await runCli(['cert', 'export', 'alice', '--dir', ca.dir, '--p12', p12, '--password-file', pw, '--for', 'chrome']);
  assert.equal(exp.code, 0, exp.stderr);
  const home = join(work, 'home');
  const nssdb = join(home, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  assert.equal((await runProcess('certutil', ['-N', '-d', `sql:${nssdb}`, '--empty-password'])).code, 0);
  const imp = await runProcess('pk12util', ['-i', p12, '-d', `sql:${nssdb}`, '-w', pw]);
  assert.equal(imp.code, 0, imp.stdout + imp.stderr);
  // trust the CA for the gateway's server certificate (no --ignore-certificate-errors: the real verification path)
  assert.equal((await runProcess('certutil', ['-A', '-d', `sql:${nssdb}`, '-n', 'certgate test CA', '-t', 'C,,', '-i', ca.certPath])).code, 0);

  const origin = `https://localhost:${gw.port}`;
  mkdirSync(POLICY_DIR, { recursive: true });
  const policy = join(POLICY_DIR, `certgate-test-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(policy, JSON.stringify({ AutoSelectCertificateForUrls: [JSON.stringify({ pattern: origin, filter: {} })] }));
  t.after(() => rmSync(policy, { force: true }));

  const allowed = await dumpDom(home, `${origin}/hello?from=chromium`);
  assert.match(allowed, /"x-client-verify":\s*"SUCCESS"/);
  assert.match(allowed, /"x-client-subject":\s*"CN=alice"/);
  assert.ok(upstream.seen.some((r) => r.url === '/hello?from=chromium'), 'the upstream saw the request');

  // twin: the same origin and policy, a browser profile whose NSS database holds only the CA => no certificate to send
  const bare = join(work, 'home-bare');
  mkdirSync(join(bare, '.pki', 'nssdb'), { recursive: true });
  assert.equal((await runProcess('certutil', ['-N', '-d', `sql:${join(bare, '.pki', 'nssdb')}`, '--empty-password'])).code, 0);
  assert.equal((await runProcess('certutil', ['-A', '-d', `sql:${join(bare, '.pki', 'nssdb')}`, '-n', 'certgate test CA', '-t', 'C,,', '-i', ca.certPath])).code, 0);
  const refused = await dumpDom(bare, `${origin}/hello`);
  assert.match(refused, /403/);
  assert.match(refused, /no_certificate/);
  assert.doesNotMatch(refused, /x-client-subject/);
});
