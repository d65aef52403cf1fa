// DN rendering must be byte-identical to OpenSSL's RFC 2253 printer (what nginx puts in $ssl_client_s_dn); parsing
// of hand-written RFC 4514 text must compare equal to the certificate's name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { runProcess } from '../../helpers/cli.ts';
import { certificateFields } from '../../../src/gateway/identity/der.ts';
import { dnKeyFromDer, formatDn, nameAttributes, parseDnKey } from '../../../src/gateway/identity/dn.ts';

async function openssl(args: string[]): Promise<string> {
  const r = await runProcess('openssl', args, { timeoutMs: 20_000 });
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface Sample {
  label: string;
  subj?: string;
  config?: string;
}

const CONFIG_HEAD = 'oid_section = oids\n[oids]\nmyAttr = 1.3.6.1.4.1.55555.1\n[req]\ndistinguished_name = dn\nprompt = no\nutf8 = yes\n';

const SAMPLES: Sample[] = [
  { label: 'simple', subj: '/C=US/O=Acme/OU=ops/CN=alice' },
  {
    label: 'every common attribute, UTF-8, multi-valued RDN, escapes',
    subj: '/C=DE/ST=Bayern/L=München/O=Ex\\, Inc./OU=ops+OU=dev/CN=José Ñ/emailAddress=a@b.c/street=Main 1/serialNumber=42/'
      + 'title=Dr/GN=Jo/SN=Sm/DC=example/UID=u1/postalCode=80331/businessCategory=x/pseudonym=p/description=d/'
      + 'organizationIdentifier=VATDE-1/jurisdictionC=DE/role=r/name=n/initials=I/dnQualifier=q/generationQualifier=III/'
      + 'CN=#hash /CN= lead\\;semi"quote<>\\\\ ',
  },
  { label: 'one-character values', subj: '/CN=#/O= /OU=a\\/b=c' },
  { label: 'multi-valued RDN of different types', subj: '/O=Acme/CN=alice+UID=a1+emailAddress=alice@example.com' },
  { label: 'BMPString and an attribute OpenSSL does not know', config: CONFIG_HEAD + 'string_mask = pkix\n[dn]\nCN = José 😀\nO = München\nmyAttr = odd\n' },
  { label: 'T61String', config: CONFIG_HEAD + 'string_mask = default\n[dn]\nO = München\nCN = plain\n' },
];

const dir = mkdtempSync(join(tmpdir(), 'certgate-dn-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function makeCert(s: Sample, i: number): Promise<{ der: Buffer; subject: string }> {
  const out = join(dir, `c${i}.pem`);
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `k${i}.pem`), '-out', out, '-days', '1'];
  if (s.subj) args.push('-utf8', '-multivalue-rdn', '-subj', s.subj);
  else {
    writeFileSync(join(dir, `n${i}.cnf`), s.config as string);
    args.push('-config', join(dir, `n${i}.cnf`));
  }
  await openssl(args);
  // a separate openssl without that config: it does not know myAttr, like nginx would not
  const printed = await openssl(['x509', '-in', out, '-noout', '-subject', '-nameopt', 'RFC2253']);
  return { der: new X509Certificate(readFileSync(out)).raw, subject: printed.replace(/^subject=/, '').replace(/\n$/, '') };
}

test('formatDn matches `openssl x509 -nameopt RFC2253` byte for byte', async () => {
  for (const [i, s] of SAMPLES.entries()) {
    const { der, subject } = await makeCert(s, i);
    const fields = certificateFields(der);
    assert.equal(formatDn(fields.subject), subject, s.label);
    assert.equal(formatDn(fields.issuer), subject, `${s.label} (self-signed issuer)`);
    // the printed form parses back to the same name
    assert.equal(parseDnKey(subject), dnKeyFromDer(fields.subject), `${s.label} round trip`);
  }
});

test('nameAttributes decodes values to text and keeps DER order', async () => {
  const { der } = await makeCert(SAMPLES[4], 100);
  const attrs = nameAttributes(certificateFields(der).subject);
  assert.deepEqual(attrs.map((a) => [a.name, a.value, a.dumped]), [
    ['CN', 'José 😀', false],
    ['O', 'München', false],
    ['1.3.6.1.4.1.55555.1', '#13036F6464', true],
  ]);
});

test('hand-written RFC 4514 text compares equal to the certificate name', async () => {
  const { der } = await makeCert(SAMPLES[3], 101);
  const key = dnKeyFromDer(certificateFields(der).subject);
  const same = [
    'emailAddress=alice@example.com+UID=a1+CN=alice,O=Acme',
    'CN=alice+UID=a1+emailAddress=alice@example.com, O=Acme',
    'cn = alice + uid=a1 + E=alice@example.com , organizationName=Acme',
    '2.5.4.3=alice+0.9.2342.19200300.100.1.1=a1+1.2.840.113549.1.9.1=alice@example.com,OID.2.5.4.10=Acme',
    'CN=\\61lice+UID=a1+emailAddress=alice@example.com,O=Acme',
  ];
  for (const text of same) assert.equal(parseDnKey(text), key, text);
  const different = [
    'CN=alice,O=Acme',
    'CN=Alice+UID=a1+emailAddress=alice@example.com,O=Acme',
    'O=Acme,CN=alice+UID=a1+emailAddress=alice@example.com',
    'CN=alice+UID=a1+emailAddress=alice@example.com,O=Acme,C=US',
    'CN=alice,UID=a1,emailAddress=alice@example.com,O=Acme',
  ];
  for (const text of different) assert.notEqual(parseDnKey(text), key, text);
});

test('parseDnKey table', () => {
  const rows: Array<[string, string | undefined]> = [
    ['CN=a\\,b', JSON.stringify([['2.5.4.3="a,b']])],
    ['CN=Jos\\C3\\A9', JSON.stringify([['2.5.4.3="José']])],
    ['CN=José', JSON.stringify([['2.5.4.3="José']])],
    ['CN=\\ x\\ ', JSON.stringify([['2.5.4.3=" x ']])],
    ['CN=x  ', JSON.stringify([['2.5.4.3="x']])],
    ['CN=\\#x', JSON.stringify([['2.5.4.3="#x']])],
    ['1.2.3=#0C0141', JSON.stringify([['1.2.3=#0c0141']])],
    ['1.2.3=#zz', JSON.stringify([['1.2.3="#zz']])],
    ['nonsense', undefined],
    ['foo=bar', undefined],
    ['CN=a\\', undefined],
  ];
  for (const [text, expected] of rows) assert.equal(parseDnKey(text), expected, text);
});
