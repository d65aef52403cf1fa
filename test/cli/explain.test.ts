// The real `certgate explain` CLI: human output, --json, exit codes and one-line errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { opensslLeaf, opensslRootCa } from '../helpers/openssl-certs.ts';

const dir = mkdtempSync(join(tmpdir(), 'certgate-cli-explain-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const YAML = `servers:
  - listen: 127.0.0.1:8443
    tls: {cert: server.crt, key: server.key}
    clientAuth: {ca: ca/ca.crt}
    sites:
      - hosts: [localhost]
        routes:
          - {path: /, upstream: "http://127.0.0.1:3000", public: true}
          - {path: /admin, upstream: "http://127.0.0.1:3001", allow: [{cn: alice}]}
`;

test('certgate explain', async () => {
  const ca = await opensslRootCa(dir, 'ca');
  const alice = await opensslLeaf(ca, { subj: '/O=Acme/CN=alice', name: 'alice' });
  const bob = await opensslLeaf(ca, { subj: '/O=Acme/CN=bob', name: 'bob' });
  writeFileSync(join(dir, 'certgate.yaml'), YAML);
  const run = (...args: string[]) => runCli(['explain', ...args], { cwd: dir, timeoutMs: 30_000 });

  const ok = await run('--url', 'https://localhost:8443/x/../admin/panel?tab=1', '--cert', alice.certPath);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^Server {6}servers\[0\] listening on 127\.0\.0\.1:8443 \(https, client certificates: verify\)$/m);
  assert.match(ok.stdout, /^Path {8}\/admin\/panel \(sent as \/x\/\.\.\/admin\/panel\)$/m);
  assert.match(ok.stdout, /^Route {7}servers\[0\]\.sites\[0\]\.routes\[1\] \(path \/admin\) -> http:\/\/127\.0\.0\.1:3001$/m);
  assert.match(ok.stdout, /^Certificate .*CN=alice,O=Acme \(serial [0-9A-F]+\) verifies$/m);
  assert.match(ok.stdout, /^Rule {8}servers\[0\]\.sites\[0\]\.routes\[1\]\.allow\[0\]: cn=alice$/m);
  assert.match(ok.stdout, /^Result {6}allowed: proxied to http:\/\/127\.0\.0\.1:3001\/admin\/panel\?tab=1/m);

  const denied = await run('--url', 'https://localhost:8443/admin', '--cert', bob.certPath, '--json');
  assert.equal(denied.code, 0, denied.stderr);
  const j = JSON.parse(denied.stdout);
  assert.deepEqual(j.outcome, {
    action: 'refuse', status: 403, reason: 'not_allowed', location: null,
    message: 'Your certificate is valid but not allowed on this page. Ask your administrator for access.',
  });
  assert.equal(j.certificate.subject, 'CN=bob,O=Acme');
  assert.equal(j.certificate.verified, true);
  assert.equal(j.server.listen, '127.0.0.1:8443');

  const none = await run('--url', 'https://localhost:8443/admin', '--no-cert', '--json');
  assert.equal(JSON.parse(none.stdout).outcome.reason, 'no_certificate');

  // unusable input: exit 1, one line on stderr, no stack
  for (const args of [
    ['--url', 'https://localhost:9443/'],
    ['--url', 'https://localhost:8443/', '--cert', 'missing.crt'],
    ['--url', 'https://localhost:8443/', '--cert', 'certgate.yaml'],
    ['--url', 'https://localhost:8443/', '-c', 'nope.yaml'],
  ]) {
    const r = await run(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^certgate: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  const missingUrl = await run();
  assert.equal(missingUrl.code, 1);
  assert.match(missingUrl.stderr, /--url/);

  const help = await run('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:/);
  assert.match(help.stdout, /Exit codes:/);
});
