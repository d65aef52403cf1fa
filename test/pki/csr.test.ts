// CSR signing against CSRs made by the real `openssl req`: signed when sound, refused when tampered, CA:true or odd keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { signCsr, parseCsr, filterCsrSans } from '../../src/pki/csr.ts';
import { pemDecodeAll, pemEncode } from '../../src/core/pem.ts';
import { CaStore } from '../../src/pki/store.ts';
import { runProcess } from '../helpers/cli.ts';
import { makeCa, tempDir } from '../helpers/pki.ts';

async function opensslCsr(dir: string, name: string, keyArgs: string[], subj: string, addext: string[] = []): Promise<string> {
  const out = join(dir, `${name}.csr`);
  const args = ['req', '-new', '-nodes', ...keyArgs, '-keyout', join(dir, `${name}.key`), '-subj', subj, '-out', out];
  for (const e of addext) args.push('-addext', e);
  const r = await runProcess('openssl', args, { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  return readFileSync(out, 'utf8');
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

test('an openssl req CSR is signed as a server cert: subject and DNS/IP SANs kept, email dropped, key unchanged', async (t) => {
  const root = await makeCa(t);
  const dir = tempDir(t);
  const pem = await opensslCsr(dir, 'web', EC, '/O=Acme/CN=web.example', ['subjectAltName=DNS:web.example,IP:127.0.0.1,email:x@y.z']);
  const store = CaStore.open(root.dir);
  t.after(() => store.close());
  const r = await signCsr(root.ca, store, { data: pem, source: 'web.csr', profile: 'server', days: 5, sans: { dns: ['alt.example'] } });
  assert.deepEqual(r.droppedSans, ['email:x@y.z']);
  assert.equal(r.keyPath, null);
  assert.equal(r.record.name, 'web.example');
  assert.deepEqual(r.record.sans, ['DNS:web.example', 'DNS:alt.example', 'IP:127.0.0.1']);
  const v = await runProcess('openssl', ['verify', '-CAfile', root.certPath, '-purpose', 'sslserver', r.certPath]);
  assert.equal(v.code, 0, v.stderr);
  const text = (await runProcess('openssl', ['x509', '-in', r.certPath, '-noout', '-subject', '-ext', 'subjectAltName'])).stdout;
  assert.match(text, /subject=O = Acme, CN = web.example/);
  assert.doesNotMatch(text, /email/);
  const a = (await runProcess('openssl', ['x509', '-in', r.certPath, '-noout', '-pubkey'])).stdout;
  const b = (await runProcess('openssl', ['pkey', '-in', join(dir, 'web.key'), '-pubout'])).stdout;
  assert.equal(a, b);
});

test('an RSA CSR is signed as a client cert with --name', async (t) => {
  const root = await makeCa(t, { passphrase: null });
  const dir = tempDir(t);
  const pem = await opensslCsr(dir, 'bob', ['-newkey', 'rsa:2048'], '/CN=Bob Smith', ['subjectAltName=email:bob@example.com']);
  const store = CaStore.open(root.dir);
  t.after(() => store.close());
  const r = await signCsr(root.ca, store, { data: Buffer.from(pem), source: 'bob.csr', profile: 'client', name: 'bob', days: 5 });
  assert.equal(r.record.name, 'bob');
  assert.equal(r.record.subject, 'CN=Bob Smith');
  const v = await runProcess('openssl', ['verify', '-CAfile', root.certPath, '-purpose', 'sslclient', r.certPath]);
  assert.equal(v.code, 0, v.stderr);
  // a second live certificate under the same name is refused
  await assert.rejects(signCsr(root.ca, store, { data: pem, source: 'bob.csr', profile: 'client', name: 'bob', days: 5 }),
    { code: 'CG_PKI_DUPLICATE_NAME' });
});

test('refused: bad self-signature, CA:true request, unsupported keys, garbage, server CSR without names', async (t) => {
  const root = await makeCa(t, { passphrase: null });
  const dir = tempDir(t);
  const good = await opensslCsr(dir, 'alice', EC, '/CN=alice');
  const der = pemDecodeAll(good)[0].der;
  const at = der.indexOf(Buffer.from('alice'));
  der[at + 4] = 'f'.charCodeAt(0); // subject now says "alicf": the signature no longer matches
  const tampered = pemEncode('CERTIFICATE REQUEST', der);
  await assert.rejects(parseCsr(tampered, 't.csr'), (e: Error & { code?: string }) => e.code === 'CG_PKI_BAD_CSR' && /self-signature/.test(e.message));
  const ca = await opensslCsr(dir, 'ca', EC, '/CN=sub CA', ['basicConstraints=critical,CA:TRUE']);
  await assert.rejects(parseCsr(ca, 'ca.csr'), (e: Error & { code?: string }) => e.code === 'CG_PKI_BAD_CSR' && /CA:true/.test(e.message));
  const ed = await opensslCsr(dir, 'ed', ['-newkey', 'ed25519'], '/CN=ed');
  await assert.rejects(parseCsr(ed, 'ed.csr'), (e: Error & { code?: string }) => e.code === 'CG_PKI_BAD_CSR' && /unsupported key \(ed25519\)/.test(e.message));
  const small = await opensslCsr(dir, 'small', ['-newkey', 'rsa:1024'], '/CN=small');
  await assert.rejects(parseCsr(small, 'small.csr'), (e: Error & { code?: string }) => e.code === 'CG_PKI_BAD_CSR' && /1024/.test(e.message));
  await assert.rejects(parseCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', 'g.csr'), { code: 'CG_PKI_BAD_CSR' });
  await assert.rejects(parseCsr('hello', 'g.csr'), { code: 'CG_PKI_BAD_CSR' });
  const store = CaStore.open(root.dir);
  t.after(() => store.close());
  await assert.rejects(signCsr(root.ca, store, { data: good, source: 'alice.csr', profile: 'server', days: 1 }), { code: 'CG_PKI_PROFILE' });
  const nocn = await opensslCsr(dir, 'nocn', EC, '/O=Acme');
  await assert.rejects(signCsr(root.ca, store, { data: nocn, source: 'nocn.csr', profile: 'client', days: 1 }), { code: 'CG_PKI_BAD_CSR' });
  assert.equal(store.list().length, 0);
});

test('filterCsrSans keeps what each profile carries', () => {
  const sans = ['DNS:a', 'IP:1.2.3.4', 'email:x@y.z', 'URI:urn:x'];
  assert.deepEqual(filterCsrSans('server', sans), { kept: { dns: ['a'], ip: ['1.2.3.4'], email: [], uri: [] }, dropped: ['email:x@y.z', 'URI:urn:x'] });
  assert.deepEqual(filterCsrSans('client', sans), { kept: { dns: ['a'], ip: [], email: ['x@y.z'], uri: ['urn:x'] }, dropped: ['IP:1.2.3.4'] });
});
