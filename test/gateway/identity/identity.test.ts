// Client identity: DN, serial, fingerprint, SANs and escaped PEM, checked against real nginx variables and openssl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { runProcess } from '../../helpers/cli.ts';
import { escapeUriComponent, formatIp, formatSerial, identityFromCertificate, serialKeyOf } from '../../../src/gateway/identity/identity.ts';

async function openssl(args: string[], cwd?: string): Promise<string> {
  const r = await runProcess('openssl', args, { cwd, timeoutMs: 20_000 });
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const dir = mkdtempSync(join(tmpdir(), 'certgate-identity-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** CA (UTF-8 DN) -> client leaf with SANs and a multi-valued RDN; plus a server cert for nginx. */
async function makeCerts(): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-utf8', '-subj', '/C=FR/O=Société Générale, Test/CN=Test CA é'], dir);
  await openssl(['req', '-new', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-utf8', '-multivalue-rdn',
    '-subj', '/C=US/O=Acme/OU=ops/OU=dev+UID=x1/CN=alice smith\\+co/emailAddress=alice@example.com'], dir);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage = clientAuth\nsubjectAltName = DNS:alice.example.com, email:alice@example.com, URI:spiffe://example.com/alice, IP:10.1.2.3, IP:2001:db8:0:0:0:0:0:1\n');
  await openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '0x00a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3',
    '-days', '1', '-extfile', 'client.ext', '-out', 'client.crt'], dir);
  await openssl(['req', '-x509', ...ec, '-keyout', 'server.key', '-out', 'server.crt', '-days', '1', '-subj', '/CN=localhost'], dir);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

test('pure helpers', () => {
  const serials: Array<[number[], string]> = [
    [[0x00, 0x8f, 0x3a], '8F3A'], [[0x05], '05'], [[0x00], '00'], [[], '00'], [[0x10, 0x00], '1000'],
    [[0xff], '-01'], [[0xff, 0x00], '-0100'], [[0x80], '-80'],
  ];
  for (const [bytes, hex] of serials) assert.equal(formatSerial(Uint8Array.from(bytes)), hex, hex);
  // comparison keys are the DER INTEGER content: the sign is part of the number, leading zeros and case are not
  const keys: Array<[string, string | undefined]> = [
    ['00:8f:3a', '008F3A'], ['8F3A', '008F3A'], ['F3A', '0F3A'], ['0x4f', '4F'], ['-80', '80'], ['80', '0080'],
    ['-7EDC1234', '8123EDCC'], ['-7edc:12:34', '8123EDCC'], ['-01', 'FF'], ['-0100', 'FF00'], ['0', '00'], ['-0', '00'],
    ['xyz', undefined], ['', undefined], ['--7E', undefined], ['7E-', undefined],
  ];
  for (const [text, key] of keys) assert.equal(serialKeyOf(text), key, text);
  // what formatSerial prints (nginx's spelling) reads back as the same INTEGER
  for (const [bytes] of serials.filter(([b]) => b.length > 0)) {
    assert.equal(serialKeyOf(formatSerial(Uint8Array.from(bytes))), Buffer.from(bytes).toString('hex').toUpperCase(), bytes.join(','));
  }
  const ips: Array<[number[], string]> = [
    [[10, 1, 2, 3], '10.1.2.3'],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], '2001:db8::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [new Array(16).fill(0), '::'],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], '2001:db8:0:1::1'],
    [[0x20, 0x01, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0], '2001::1:0:0:1:0'],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 0], '2001:db8:1:2:3:4:5:0'],
  ];
  for (const [bytes, text] of ips) assert.equal(formatIp(Uint8Array.from(bytes)), text, text);
});

test('escapeUriComponent escapes exactly what nginx NGX_ESCAPE_URI_COMPONENT does', () => {
  // the uri_component bitmap of nginx src/core/ngx_string.c ngx_escape_uri(): bit set = escaped
  const bitmap = [0xffffffff, 0xfc009fff, 0x78000001, 0xb8000001];
  for (let b = 0; b < 128; b++) {
    const escaped = ((bitmap[b >> 5] >>> (b & 31)) & 1) === 1;
    const ch = String.fromCharCode(b);
    assert.equal(escapeUriComponent(ch), escaped ? '%' + b.toString(16).toUpperCase().padStart(2, '0') : ch, `byte ${b}`);
  }
  assert.equal(escapeUriComponent('é'), '%C3%A9'); // bytes 0x80-0xFF are all escaped
  assert.equal(escapeUriComponent('-----BEGIN CERTIFICATE-----\nAB+/=\n'), '-----BEGIN%20CERTIFICATE-----%0AAB%2B%2F%3D%0A');
});

test('identity equals openssl output and real nginx $ssl_client_* variables', async (t) => {
  await makeCerts();
  const cert = new X509Certificate(readFileSync(join(dir, 'client.crt')));
  const id = identityFromCertificate(cert);

  // openssl's own view of the same certificate
  const subject = (await openssl(['x509', '-in', 'client.crt', '-noout', '-subject', '-nameopt', 'RFC2253'], dir)).trim().replace(/^subject=/, '');
  const issuer = (await openssl(['x509', '-in', 'client.crt', '-noout', '-issuer', '-nameopt', 'RFC2253'], dir)).trim().replace(/^issuer=/, '');
  const serial = (await openssl(['x509', '-in', 'client.crt', '-noout', '-serial'], dir)).trim().replace(/^serial=/, '');
  const fp = (await openssl(['x509', '-in', 'client.crt', '-noout', '-fingerprint', '-sha256'], dir)).trim().replace(/^.*=/, '');
  assert.equal(id.subject, subject);
  assert.equal(id.issuer, issuer);
  assert.equal(id.serial, serial);
  assert.equal(id.serial, 'A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3');
  assert.equal(id.fingerprint, fp.replace(/:/g, '').toLowerCase());
  assert.deepEqual(id.cn, ['alice smith+co']);
  assert.deepEqual(id.o, ['Acme']);
  assert.deepEqual(id.ou, ['dev', 'ops']);
  assert.deepEqual(id.sans, ['DNS:alice.example.com', 'email:alice@example.com', 'URI:spiffe://example.com/alice', 'IP:10.1.2.3', 'IP:2001:db8::1']);
  assert.equal(id.notAfter.getTime(), cert.validToDate.getTime());
  assert.equal(id.notBefore.getTime(), cert.validFromDate.getTime());
  assert.match(id.escapedPem, /^-----BEGIN%20CERTIFICATE-----%0A[A-Za-z0-9%]+%0A-----END%20CERTIFICATE-----%0A$/);

  // real nginx, printing its variables for the same client certificate
  const port = await freePort();
  mkdirSync(join(dir, 'ngx'));
  writeFileSync(join(dir, 'ngx', 'nginx.conf'), `daemon off;
master_process off;
pid ${dir}/ngx/nginx.pid;
error_log ${dir}/ngx/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/ngx/body; proxy_temp_path ${dir}/ngx/proxy; fastcgi_temp_path ${dir}/ngx/fcgi;
  uwsgi_temp_path ${dir}/ngx/uwsgi; scgi_temp_path ${dir}/ngx/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${dir}/server.crt;
    ssl_certificate_key ${dir}/server.key;
    ssl_verify_client optional_no_ca;
    default_type text/plain;
    location / { return 200 "$ssl_client_s_dn\\n$ssl_client_i_dn\\n$ssl_client_serial\\n$ssl_client_fingerprint\\n$ssl_client_escaped_cert\\n"; }
  }
}
`);
  const nginx = spawn('nginx', ['-p', join(dir, 'ngx'), '-c', join(dir, 'ngx', 'nginx.conf'), '-e', join(dir, 'ngx', 'error.log')], { stdio: 'ignore' });
  t.after(() => nginx.kill('SIGKILL'));
  let body = '';
  for (let attempt = 0; attempt < 50 && body === ''; attempt++) {
    const r = await runProcess('curl', ['-sS', '-k', '--cert', join(dir, 'client.crt'), '--key', join(dir, 'client.key'), `https://127.0.0.1:${port}/`], { timeoutMs: 10_000 });
    if (r.code === 0) body = r.stdout;
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.notEqual(body, '', `nginx did not answer: ${readFileSync(join(dir, 'ngx', 'error.log'), 'utf8')}`);
  const [sDn, iDn, nSerial, sha1, escaped] = body.split('\n');
  assert.equal(id.subject, sDn);
  assert.equal(id.issuer, iDn);
  assert.equal(id.serial, nSerial);
  assert.equal(escaped, id.escapedPem);
  assert.equal(sha1, cert.fingerprint.replace(/:/g, '').toLowerCase()); // nginx's own fingerprint is SHA-1: only a sanity check
});
