// `certgate client-config`: the printed curl line really authenticates to an mTLS server; git lines configure git; browser steps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { runCli, runProcess } from '../helpers/cli.ts';
import { makeCa, issueCert } from '../helpers/pki.ts';
import type { TestCa } from '../helpers/pki.ts';
import { CaStore } from '../../src/pki/store.ts';
import { commitIssued, signLeaf } from '../../src/pki/issue.ts';
import { childValidity } from '../../src/pki/ca.ts';
import { leafSubject } from '../../src/pki/profiles.ts';
import { createPublicKey } from 'node:crypto';

const cleanups: (() => void | Promise<void>)[] = [];
const suite = { after: (fn: () => void | Promise<void>) => cleanups.push(fn) };
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

let work = '';
let ca: TestCa;
let url = '';

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'cg-clientcfg-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const root = await makeCa(suite, { name: 'Client Config Root' });
  ca = await makeCa(suite, { name: 'Client Config Intermediate', parent: root, days: 20 });
  await issueCert(ca, 'alice');
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  // A real mTLS server trusting this CA's chain; it answers with the client certificate's CN.
  const https: Server = createServer(
    { cert: server.certPem, key: server.keyPem, ca: readFileSync(ca.chainPath, 'utf8'), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.end(`hello ${peer.subject?.CN}`);
    },
  );
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => https.close(() => resolve())));
  url = `https://127.0.0.1:${(https.address() as AddressInfo).port}/`;
});

async function sh(line: string, env: NodeJS.ProcessEnv = {}) {
  return runProcess('sh', ['-c', line], { cwd: work, env, timeoutMs: 20_000 });
}

test('--curl prints a command that authenticates to a real mTLS server; without the cert it is refused (twin)', async () => {
  const res = await runCli(['client-config', 'alice', '--dir', ca.dir, '--curl', '--url', url]);
  assert.equal(res.code, 0, res.stderr);
  const line = res.stdout.trim();
  assert.match(line, /^curl --cert \S+\/issued\/alice-[0-9A-F]+\.crt --key \S+\.key --cacert \S+\/chain\.pem https:/);
  const ok = await sh(`${line} --silent --show-error --max-time 10`);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'hello alice');
  const noCert = await sh(`${line.replace(/--cert \S+ --key \S+ /, '')} --silent --max-time 10`);
  assert.notEqual(noCert.code, 0);
});

test('--git prints git config lines that git then applies to URLs under that prefix', async () => {
  const res = await runCli(['client-config', 'alice', '--dir', ca.dir, '--git', '--url', url]);
  assert.equal(res.code, 0, res.stderr);
  const lines = res.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  const home = join(work, 'home');
  const env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), GIT_CONFIG_NOSYSTEM: '1' };
  await sh(`mkdir -p ${home}`);
  for (const line of lines) {
    assert.match(line, /^git config --global http\.https:/);
    const r = await sh(line, env);
    assert.equal(r.code, 0, r.stderr);
  }
  const get = async (key: string) => (await sh(`git config --global --get-urlmatch http.${key} ${url}team/repo.git`, env)).stdout.trim();
  assert.match(await get('sslCert'), /\/issued\/alice-[0-9A-F]+\.crt$/);
  assert.match(await get('sslKey'), /\/issued\/alice-[0-9A-F]+\.key$/);
  assert.equal(await get('sslCAInfo'), ca.chainPath);
  // twin: another host gets none of it
  const other = await sh('git config --global --get-urlmatch http.sslCert https://other.example/', env);
  assert.equal(other.stdout.trim(), '');
});

test('--browser prints cert export commands and import steps; --for narrows to one platform', async () => {
  const all = await runCli(['client-config', 'alice', '--dir', ca.dir, '--browser']);
  assert.equal(all.code, 0, all.stderr);
  for (const p of ['firefox', 'chrome', 'macos', 'windows']) assert.match(all.stdout, new RegExp(`cert export [0-9A-F]+ .*--for ${p}`));
  const one = await runCli(['client-config', 'alice', '--dir', ca.dir, '--browser', '--for', 'firefox']);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /Your Certificates/);
  assert.doesNotMatch(one.stdout, /--for macos/);
});

test('a NAME with two live certificates (after a renewal) means the newest one, for client-config and cert export', async () => {
  const first = await issueCert(ca, 'rotating');
  // a second live certificate for the same key and NAME, as `cert renew` makes
  const cert = await signLeaf(ca.ca, {
    subject: leafSubject('rotating'), publicKey: createPublicKey(first.keyPem), keyType: 'ec-p256', profile: 'client', sans: [],
    validity: childValidity(ca.ca.cert, new Date(), 5),
  });
  const store = CaStore.open(ca.dir);
  let second = '';
  try {
    second = commitIssued(ca.ca, store, {
      cert, name: 'rotating', profile: 'client', sans: [], now: new Date(Date.now() + 1000), operation: 'cert.renew',
      existingKeyPath: first.record.keyPath, allowLiveName: true,
    }).record.serial;
  } finally {
    store.close();
  }
  const res = await runCli(['client-config', 'rotating', '--dir', ca.dir, '--curl']);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`issued/rotating-${second}\\.crt`));
  const exp = await runCli(['cert', 'export', 'rotating', '--dir', ca.dir, '--p12', join(work, 'rotating.p12')]);
  assert.equal(exp.code, 0, exp.stderr);
});

test('refusals exit 1 with one line', async () => {
  const rows = [
    { args: ['client-config', 'alice', '--dir', ca.dir], pattern: /needs --curl, --git or --browser/ },
    { args: ['client-config', 'nobody', '--dir', ca.dir, '--curl'], pattern: /no certificate .*"nobody"/ },
    { args: ['client-config', 'alice', '--dir', join(work, 'missing'), '--curl'], pattern: /does not exist/ },
  ];
  for (const row of rows) {
    const res = await runCli(row.args);
    assert.equal(res.code, 1, res.stderr);
    assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    assert.match(res.stderr, row.pattern);
  }
});
