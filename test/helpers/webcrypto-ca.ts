// Test helper: throwaway CAs and leaves made with @peculiar/x509 + WebCrypto directly, for the pure PKI builders'
// tests (no certgate store involved). Keys stay in memory; callers write PEMs into their own mkdtemp dir.
import * as x509 from '../../src/core/x509.ts';
import { randomBytes, webcrypto } from 'node:crypto';

export interface TestCa {
  cert: x509.X509Certificate;
  certPem: string;
  keys: CryptoKeyPair;
}

export type TestKeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048';

const DAY = 86_400_000;

export async function generateKeys(type: TestKeyType = 'ec-p256'): Promise<CryptoKeyPair> {
  if (type === 'rsa-2048') {
    return webcrypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    ) as Promise<CryptoKeyPair>;
  }
  const namedCurve = type === 'ec-p384' ? 'P-384' : 'P-256';
  return webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve }, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

function signingAlgorithm(keys: CryptoKeyPair): Algorithm | EcdsaParams {
  const alg = keys.privateKey.algorithm as { name: string; namedCurve?: string };
  if (alg.name === 'ECDSA') return { name: 'ECDSA', hash: alg.namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256' } as EcdsaParams;
  return { name: 'RSASSA-PKCS1-v1_5' };
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x7f) | 0x10;
  return b.toString('hex');
}

/** A root CA, or an intermediate when `parent` is given. */
export async function makeCa(name: string, parent?: TestCa, keyType: TestKeyType = 'ec-p256'): Promise<TestCa> {
  const keys = await generateKeys(keyType);
  const now = Date.now();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, parent ? 0 : undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (parent) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(parent.keys.publicKey));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${name}, O=certgate tests`,
    issuer: parent ? parent.cert.subjectName : `CN=${name}, O=certgate tests`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 30 * DAY),
    publicKey: keys.publicKey,
    signingKey: (parent ?? { keys }).keys.privateKey,
    signingAlgorithm: signingAlgorithm(parent?.keys ?? keys),
    extensions,
  });
  return { cert, certPem: cert.toString('pem') + '\n', keys };
}

export interface LeafOptions {
  cn: string;
  eku?: 'clientAuth' | 'serverAuth';
  sans?: x509.JsonGeneralNames;
  days?: number;
  keyType?: TestKeyType;
}

/** A leaf signed by `ca`; returns the cert and its PEM. */
export async function makeLeaf(ca: TestCa, opts: LeafOptions): Promise<{ cert: x509.X509Certificate; certPem: string }> {
  const keys = await generateKeys(opts.keyType ?? 'ec-p256');
  const now = Date.now();
  const eku = opts.eku === 'serverAuth' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([eku]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  if (opts.sans?.length) extensions.push(new x509.SubjectAlternativeNameExtension(opts.sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${opts.cn}, O=certgate tests`,
    issuer: ca.cert.subjectName,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (opts.days ?? 10) * DAY),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: signingAlgorithm(ca.keys),
    extensions,
  });
  return { cert, certPem: cert.toString('pem') + '\n' };
}
