// `certgate cert sign` through the real CLI with CSRs from the real `openssl req`: signed, or refused in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { makeCa, tempDir, assertOneLineError } from '../helpers/pki.ts';
import { pemDecodeAll, pemEncode } from '../../src/core/pem.ts';

async function csr(dir: string, name: string, keyArgs: string[], subj: string, addext: string[] = []): Promise<string> {
  const out = join(dir, `${name}.csr`);
  const args = ['req', '-new', '-nodes', ...keyArgs, '-keyout', join(dir, `${name}.key`), '-subj', subj, '-out', out];
  for (const e of addext) args.push('-addext', e);
  const r = await runProcess('openssl', args, { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  return out;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

test('an openssl req CSR is signed (--out file and --out -) and verifies for its purpose', async (t) => {
  const ca = await makeCa(t);
  const work = tempDir(t);
  const server = await csr(work, 'app', EC, '/CN=app.example', ['subjectAltName=DNS:app.example']);
  const out = join(work, 'app.crt');
  const r = await runCli(['cert', 'sign', server, '--server', '--dir', ca.dir, '--days', '5', '--out', out, '--passphrase-file', ca.passphraseFile!]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /signed server certificate "app.example"/);
  const v = await runProcess('openssl', ['verify', '-CAfile', ca.certPath, '-purpose', 'sslserver', out]);
  assert.equal(v.code, 0, v.stderr);
  const client = await csr(work, 'alice', ['-newkey', 'rsa:2048'], '/CN=alice', ['subjectAltName=email:alice@example.com,IP:10.1.1.1']);
  const r2 = await runCli(['cert', 'sign', client, '--client', '--dir', ca.dir, '--days', '5', '--out', '-', '--passphrase-file', ca.passphraseFile!]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stderr, /IP:10.1.1.1 from the CSR is not carried by client certificates/);
  assert.match(r2.stdout, /^-----BEGIN CERTIFICATE-----/);
  const pem = join(work, 'alice.crt');
  writeFileSync(pem, r2.stdout);
  const v2 = await runProcess('openssl', ['verify', '-CAfile', ca.certPath, '-purpose', 'sslclient', pem]);
  assert.equal(v2.code, 0, v2.stderr);
  // --out never overwrites
  assertOneLineError(await runCli(['cert', 'sign', server, '--server', '--dir', ca.dir, '--out', out, '--passphrase-file', ca.passphraseFile!]),
    /already exists/);
});

test('a CSR with a bad signature, CA:true, or an unsupported key is refused with a clear one-line message', async (t) => {
  const ca = await makeCa(t);
  const work = tempDir(t);
  const good = await csr(work, 'bob', EC, '/CN=bob');
  const der = pemDecodeAll(readFileSync(good, 'utf8'))[0].der;
  der[der.indexOf(Buffer.from('bob')) + 2] = 'x'.charCodeAt(0);
  const tampered = join(work, 'tampered.csr');
  writeFileSync(tampered, pemEncode('CERTIFICATE REQUEST', der));
  const caReq = await csr(work, 'subca', EC, '/CN=sub CA', ['basicConstraints=critical,CA:TRUE']);
  const ed = await csr(work, 'ed', ['-newkey', 'ed25519'], '/CN=ed');
  const small = await csr(work, 'small', ['-newkey', 'rsa:1024'], '/CN=small');
  const garbage = join(work, 'garbage.csr');
  writeFileSync(garbage, 'this is not a CSR\n');
  const cases: [string, RegExp][] = [
    [tampered, /bad self-signature/],
    [caReq, /asks for a CA certificate/],
    [ed, /unsupported key \(ed25519\)/],
    [small, /unsupported key \(rsa 1024-bit\)/],
    [garbage, /neither PEM nor DER/],
    [join(work, 'missing.csr'), /does not exist/],
  ];
  const results = await Promise.all(cases.map(([file]) =>
    runCli(['cert', 'sign', file, '--client', '--dir', ca.dir, '--days', '5', '--passphrase-file', ca.passphraseFile!])));
  results.forEach((r, i) => assertOneLineError(r, cases[i][1]));
  assert.equal(existsSync(join(work, 'bob.crt')), false);
});
