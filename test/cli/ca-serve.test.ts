// `certgate ca serve` and `ca set-url` through the real CLI: openssl -crl_download finds the CRL through the CDP of
// an issued certificate, a `cert revoke` in another process reaches a long-poll within about a second, start-up errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { startCli } from '../helpers/serve-process.ts';
import { assertOneLineError, makeCa, tempDir } from '../helpers/pki.ts';

async function fetchWithin(url: string, headers: Record<string, string> = {}, timeoutMs = 10_000) {
  const started = Date.now();
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, at: Date.now(), ms: Date.now() - started };
}

test('ca serve: CDP found by openssl -crl_download; a revoke in another process answers a long-poll within ~1 s', async (t) => {
  const root = await makeCa(t, { baseUrl: 'http://127.0.0.1:1/pki/' });
  const pass = ['--passphrase-file', root.passphraseFile!];
  const served = startCli(['ca', 'serve', '--dir', root.dir, '--listen', '127.0.0.1:0', ...pass], root.dir);
  t.after(() => void served.child.kill('SIGKILL'));
  const port = await served.port();
  const base = `http://127.0.0.1:${port}/pki/`;

  // the path stays /pki/, so the running service keeps answering; new certificates point at the real port
  const set = await runCli(['ca', 'set-url', base, '--dir', root.dir]);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, new RegExp(`crl distribution point of new certificates: ${base}crl.crl`, 'i'));
  assert.equal(readFileSync(join(root.dir, 'base-url.txt'), 'utf8').trim(), base);
  const issued = await runCli(['cert', 'issue', 'laptop', '--client', '--days', '5', '--dir', root.dir, ...pass]);
  assert.equal(issued.code, 0, issued.stderr);
  const leaf = /certificate: (\S+\.crt)/.exec(issued.stdout)![1];
  const ext = await runProcess('openssl', ['x509', '-in', leaf, '-noout', '-ext', 'crlDistributionPoints,authorityInfoAccess']);
  assert.match(ext.stdout, new RegExp(`URI:${base}crl\\.crl`));
  assert.match(ext.stdout, new RegExp(`CA Issuers - URI:${base}ca\\.crt`));

  const verify = () => runProcess('openssl', ['verify', '-crl_check', '-crl_download', '-CAfile', root.certPath, leaf], { timeoutMs: 20_000 });
  const good = await verify();
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /: OK/);

  const current = await fetchWithin(`${base}crl-bundle.pem`);
  assert.equal(current.status, 200);
  const etag = current.headers.get('etag')!;
  const held = fetchWithin(`${base}crl-bundle.pem?wait=30`, { 'if-none-match': etag }, 40_000);
  const revoked = await runCli(['cert', 'revoke', 'laptop', '--dir', root.dir, ...pass]);
  const revokeDone = Date.now();
  assert.equal(revoked.code, 0, revoked.stderr);
  const changed = await held;
  assert.equal(changed.status, 200);
  assert.notEqual(changed.headers.get('etag'), etag);
  assert.ok(changed.at - revokeDone < 1200, `long-poll answered ${changed.at - revokeDone} ms after cert revoke returned`);
  assert.equal(changed.body.toString(), readFileSync(join(root.dir, 'crl-bundle.pem'), 'utf8'));

  // the rejected twin: openssl now downloads a CRL that lists the certificate
  const bad = await verify();
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout + bad.stderr, /certificate revoked/);

  const quiet = await fetchWithin(`${base}crl-bundle.pem?wait=1`, { 'if-none-match': changed.headers.get('etag')! });
  assert.equal(quiet.status, 304);
  assert.ok(quiet.ms >= 900, `${quiet.ms} ms`);
  assert.equal((await fetchWithin(`${base}crl.pem`, {}, 5000).catch(() => ({ status: 0 }))).status, 200);
  assert.equal((await fetch(`${base}crl.pem`, { method: 'DELETE' })).status, 405);
  assert.equal((await fetch(`http://127.0.0.1:${port}/pki/ca.key`)).status, 404);

  // nothing secret in the logs; SIGTERM stops it cleanly
  assert.ok(!JSON.stringify(served.lines).includes(root.passphrase!), 'the passphrase is never logged');
  served.child.kill('SIGTERM');
  assert.equal(await served.exited, 0);
});

test('ca serve: start-up refusals are one line with a code; ca set-url and ca create --url check the URL', async (t) => {
  const a = await makeCa(t, { passphrase: null });
  const b = await makeCa(t, { passphrase: null });
  assertOneLineError(await runCli(['ca', 'serve', '--dir', a.dir]), /--listen/);
  assertOneLineError(await runCli(['ca', 'serve', '--dir', a.dir, '--listen', 'nonsense']), /--listen "nonsense" is not host:port/);
  assertOneLineError(await runCli(['ca', 'serve', '--dir', a.dir, '--dir', b.dir, '--listen', '127.0.0.1:0']), /has no base URL.*ca set-url/);
  assertOneLineError(await runCli(['ca', 'serve', '--dir', a.dir, '--listen', '127.0.0.1:0', '--crl-lifetime', '1s']), /--crl-lifetime/);
  const locked = await makeCa(t);
  const wrong = join(tempDir(t), 'wrong.txt');
  await runProcess('sh', ['-c', `printf 'nope\\n' > ${wrong}`]);
  assertOneLineError(await runCli(['ca', 'serve', '--dir', locked.dir, '--listen', '127.0.0.1:0', '--passphrase-file', wrong]), /wrong passphrase/);

  assertOneLineError(await runCli(['ca', 'set-url', 'ftp://pki.example.com/', '--dir', a.dir]), /must be http:\/\/ or https:\/\//);
  assertOneLineError(await runCli(['ca', 'set-url', '--dir', a.dir]), /a URL or --remove/);
  const ok = await runCli(['ca', 'set-url', 'http://pki.example.com/a', '--dir', a.dir]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(readFileSync(join(a.dir, 'base-url.txt'), 'utf8'), 'http://pki.example.com/a/\n');
  const removed = await runCli(['ca', 'set-url', '--remove', '--dir', a.dir]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(existsSync(join(a.dir, 'base-url.txt')), false);

  const dir = join(tempDir(t), 'new');
  assertOneLineError(await runCli(['ca', 'create', '--dir', dir, '--name', 'X', '--no-passphrase', '--url', 'http://pki/x/?q=1']), /query/);
  assert.equal(existsSync(dir), false, 'nothing created for a bad URL');
  const made = await runCli(['ca', 'create', '--dir', dir, '--name', 'X', '--no-passphrase', '--url', 'http://pki.example.test/x']);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /base URL: +http:\/\/pki\.example\.test\/x\//);
  assert.equal(readFileSync(join(dir, 'base-url.txt'), 'utf8'), 'http://pki.example.test/x/\n');
});
