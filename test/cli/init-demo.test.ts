// `certgate init` writes a config that `check` accepts and that serves; `certgate demo` runs the whole main job.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, runProcess, CLI_ENTRY } from '../helpers/cli.ts';

function issued(pki: string, name: string, ext: string): string {
  const f = readdirSync(join(pki, 'issued')).find((x) => x.startsWith(`${name}-`) && x.endsWith(ext));
  assert.ok(f, `${name}${ext} missing`);
  return join(pki, 'issued', f);
}

test('init lays out CA, certificates, .p12 and a config that check accepts', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'cg-init-'));
  const r = await runCli(['init', '--dir', 'ws', '--no-passphrase', '--client', 'alice', '--upstream', 'http://127.0.0.1:3999',
    '--host', 'app.example.com', '--host', '127.0.0.1', '--listen', '127.0.0.1:9443'], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /https:\/\/app\.example\.com:9443\//);
  assert.match(r.stderr, /NOT encrypted/);
  assert.match(r.stderr, /password for .*alice\.p12 \(shown once/);
  const ws = join(cwd, 'ws');
  assert.equal(statSync(join(ws, 'alice.p12')).mode & 0o777, 0o600);
  // the first .p12 is the legacy encoding every platform imports (macOS, iOS, Android and Windows refuse the modern one)
  const password = /password for .*alice\.p12 \(shown once[^)]*\): (\S+)/.exec(r.stderr)?.[1];
  assert.ok(password, r.stderr);
  const p12 = await runProcess('openssl', ['pkcs12', '-in', join(ws, 'alice.p12'), '-info', '-noout', '-passin', `pass:${password}`]);
  assert.equal(p12.code, 0, p12.stderr);
  assert.match(p12.stdout + p12.stderr, /MAC: sha1/);
  assert.match(p12.stdout + p12.stderr, /pbeWithSHA1And3-KeyTripleDES-CBC/);
  assert.doesNotMatch(p12.stdout + p12.stderr, /AES|PBES2/);
  const yaml = readFileSync(join(ws, 'certgate.yaml'), 'utf8');
  assert.match(yaml, /upstream: http:\/\/127\.0\.0\.1:3999/);
  const check = await runCli(['check', '-c', join(ws, 'certgate.yaml')], { cwd });
  assert.equal(check.code, 0, check.stdout + check.stderr);
  // the client certificate verifies against the CA for client auth, the gateway's for server auth
  const pki = join(ws, 'pki');
  const v1 = await runProcess('openssl', ['verify', '-CAfile', join(pki, 'ca.crt'), '-purpose', 'sslclient', issued(pki, 'alice', '.crt')]);
  assert.equal(v1.code, 0, v1.stderr);
  const v2 = await runProcess('openssl', ['verify', '-CAfile', join(pki, 'ca.crt'), '-purpose', 'sslserver', issued(pki, 'gateway', '.crt')]);
  assert.equal(v2.code, 0, v2.stderr);
  const san = await runProcess('openssl', ['x509', '-in', issued(pki, 'gateway', '.crt'), '-noout', '-ext', 'subjectAltName']);
  assert.match(san.stdout, /DNS:app\.example\.com, IP Address:127\.0\.0\.1/);
  assert.match(yaml, /listen: 127\.0\.0\.1:9443/);
});

test('init refuses to overwrite an existing workspace and changes nothing', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'cg-init-'));
  assert.equal((await runCli(['init', '--no-passphrase', '--no-p12'], { cwd })).code, 0);
  const before = readFileSync(join(cwd, 'certgate.yaml'), 'utf8');
  const again = await runCli(['init', '--no-passphrase', '--no-p12'], { cwd });
  assert.equal(again.code, 1);
  assert.equal(again.stderr.trim().split('\n').length, 1, again.stderr);
  assert.match(again.stderr, /already exists/);
  assert.equal(readFileSync(join(cwd, 'certgate.yaml'), 'utf8'), before);
});

test('init without a terminal or passphrase option names the flags to use', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'cg-init-'));
  const r = await runCli(['init'], { cwd });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--passphrase-file/);
  assert.match(r.stderr, /--no-passphrase/);
  assert.equal(existsSync(join(cwd, 'pki')), false);
});

test('demo serves: cert => 200 with identity, no cert => 403 page, public => 200, admin => 403', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'cg-demo-'));
  const child = spawn(process.execPath, [CLI_ENTRY, 'demo', '--listen', '127.0.0.1:0'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stdout.resume();
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not start: ${stderr}`)), 60_000);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /serving https:\/\/localhost:(\d+)\//.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', () => reject(new Error(`demo exited: ${stderr}`)));
  });
  const pki = join(cwd, '.certgate-demo', 'pki');
  const ca = join(pki, 'ca.crt');
  const auth = ['--cert', issued(pki, 'demo-user', '.crt'), '--key', issued(pki, 'demo-user', '.key')];
  const url = (p: string) => `https://localhost:${port}${p}`;
  const ok = await runProcess('curl', ['-sS', '--cacert', ca, ...auth, url('/api/hello')]);
  assert.deepEqual(JSON.parse(ok.stdout), { path: '/api/hello', client: 'CN=demo-user', verify: 'SUCCESS' });
  const noCert = await runProcess('curl', ['-sS', '-w', '\n%{http_code}', '--cacert', ca, url('/api/hello')]);
  assert.match(noCert.stdout, /no_certificate[\s\S]*\n403$/);
  const pub = await runProcess('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca, url('/public/')]);
  assert.equal(pub.stdout, '200');
  const admin = await runProcess('curl', ['-sS', '-w', '\n%{http_code}', '--cacert', ca, ...auth, url('/admin/')]);
  assert.match(admin.stdout, /not_allowed[\s\S]*\n403$/);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});
