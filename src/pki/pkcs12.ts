// Builds a password-protected PKCS#12 (.p12/.pfx) from PEMs: modern (PBES2/AES-256, SHA-256 MAC) or legacy (3DES, SHA-1 MAC).
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, DirectoryString } from '@peculiar/asn1-x509';
import { EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { CertBag, PKCS12Attribute, SafeBag, SafeContents, id_certBag, id_pkcs8ShroudedKeyBag, id_x509Certificate } from '@peculiar/asn1-pfx';
import { PkiError } from '../core/errors.ts';
import { pemDecodeAll } from '../core/pem.ts';
import { AuthenticatedSafe, ContentInfo, EncryptedContentInfo, EncryptedData, OID, Pfx } from './pkcs12-asn1.ts';
import { computeMac, encryptLegacy3des, encryptPbes2 } from './pkcs12-crypto.ts';
import type { Encrypted } from './pkcs12-crypto.ts';

export interface Pkcs12Input {
  /** Unencrypted private key PEM (PKCS#8; PKCS#1 and SEC1 are accepted too). */
  keyPem: string;
  /** The certificate of that key. */
  certPem: string;
  /** CA chain, issuer first, root last. Bundles (several blocks in one string) are accepted. */
  chainPems: string[];
  /** Never empty: an empty password is refused (CG_PKI_BAD_PASSWORD). */
  password: string;
  /** Shown by the importing OS/browser as the identity's name. */
  friendlyName: string;
  /** true: pbeWithSHAAnd3-KeyTripleDES-CBC + SHA-1 MAC (macOS, iOS, older Android, Windows); false: PBES2/AES-256 + SHA-256 MAC. */
  legacy: boolean;
}

/** Rejects passwords no importer can take: empty, or containing NUL (which ends the BMPString early in many readers). */
export function assertUsablePassword(password: string): void {
  if (password.length === 0) {
    throw new PkiError('CG_PKI_BAD_PASSWORD', 'the PKCS#12 password is empty', {
      hint: 'give a non-empty password, or leave out --password-file to have certgate generate one',
    });
  }
  if (password.includes('\0')) {
    throw new PkiError('CG_PKI_BAD_PASSWORD', 'the PKCS#12 password contains a NUL character');
  }
}

function parseKey(keyPem: string): KeyObject {
  try {
    return createPrivateKey({ key: keyPem, format: 'pem' });
  } catch (err) {
    throw new PkiError('CG_PKI_BAD_KEY', 'the private key could not be parsed (expected an unencrypted PEM key)', { cause: err });
  }
}

function certDers(pems: string[], what: string): Buffer[] {
  const ders: Buffer[] = [];
  for (const pem of pems) {
    const blocks = pemDecodeAll(pem).filter((b) => b.label === 'CERTIFICATE');
    if (blocks.length === 0) throw new PkiError('CG_PKI_BAD_CERT', `the ${what} holds no PEM certificate`);
    for (const b of blocks) {
      try {
        new X509Certificate(b.der);
      } catch (err) {
        throw new PkiError('CG_PKI_BAD_CERT', `the ${what} holds a certificate that does not parse`, { cause: err });
      }
      ders.push(b.der);
    }
  }
  return ders;
}

function attribute(attrId: string, value: ArrayBuffer): PKCS12Attribute {
  // PKCS12Attribute's constructor drops its argument, so the fields are set one by one.
  const attr = new PKCS12Attribute();
  attr.attrId = attrId;
  attr.attrValues = [value];
  return attr;
}

function bagAttributes(friendlyName: string | null, localKeyId: Buffer): PKCS12Attribute[] {
  const attrs: PKCS12Attribute[] = [];
  if (friendlyName) attrs.push(attribute(OID.friendlyName, AsnConvert.serialize(new DirectoryString({ bmpString: friendlyName }))));
  attrs.push(attribute(OID.localKeyId, AsnConvert.serialize(new OctetString(localKeyId))));
  return attrs;
}

function certBag(der: Buffer, attrs: PKCS12Attribute[] | undefined): SafeBag {
  const bag = new CertBag({ certId: id_x509Certificate, certValue: AsnConvert.serialize(new OctetString(der)) });
  return new SafeBag({ bagId: id_certBag, bagValue: AsnConvert.serialize(bag), bagAttributes: attrs });
}

function toBuffer(ab: ArrayBuffer): Buffer {
  return Buffer.from(new Uint8Array(ab));
}

/** Builds the .p12 bytes. Pure apart from randomness: no files, no logging. */
export async function buildPkcs12(input: Pkcs12Input): Promise<Buffer> {
  assertUsablePassword(input.password);
  const key = parseKey(input.keyPem);
  const [leafDer] = certDers([input.certPem], 'certificate');
  const leaf = new X509Certificate(leafDer);
  if (!leaf.checkPrivateKey(key)) {
    throw new PkiError('CG_PKI_BAD_KEY', 'the private key does not belong to the certificate');
  }
  const chainDers = certDers(input.chainPems, 'CA chain').filter((der) => !der.equals(leafDer));
  const encrypt = (data: Buffer): Encrypted =>
    input.legacy ? encryptLegacy3des(input.password, data) : encryptPbes2(input.password, data);

  // localKeyId = SHA-1 of the certificate, as OpenSSL and Windows write it; it pairs the key bag with its cert bag.
  const localKeyId = createHash('sha1').update(leafDer).digest();
  const attrs = bagAttributes(input.friendlyName, localKeyId);

  // Certificates: one encrypted SafeContents (leaf first, then the chain without attributes), as OpenSSL lays it out.
  const certSafe = new SafeContents([certBag(leafDer, attrs), ...chainDers.map((der) => certBag(der, undefined))]);
  const certEnc = encrypt(toBuffer(AsnConvert.serialize(certSafe)));
  const encryptedData = new EncryptedData({
    encryptedContentInfo: new EncryptedContentInfo({
      contentType: OID.data,
      contentEncryptionAlgorithm: certEnc.algorithm,
      encryptedContent: new OctetString(certEnc.ciphertext),
    }),
  });

  // Key: a PKCS8ShroudedKeyBag inside a plain Data SafeContents (the bag itself is encrypted).
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const keyEnc = encrypt(pkcs8);
  const shrouded = new EncryptedPrivateKeyInfo({ encryptionAlgorithm: keyEnc.algorithm, encryptedData: new OctetString(keyEnc.ciphertext) });
  const keySafe = new SafeContents([
    new SafeBag({ bagId: id_pkcs8ShroudedKeyBag, bagValue: AsnConvert.serialize(shrouded), bagAttributes: attrs }),
  ]);

  const authSafe = new AuthenticatedSafe([
    new ContentInfo({ contentType: OID.encryptedData, content: AsnConvert.serialize(encryptedData) }),
    new ContentInfo({ contentType: OID.data, content: AsnConvert.serialize(new OctetString(AsnConvert.serialize(keySafe))) }),
  ]);
  const authSafeDer = toBuffer(AsnConvert.serialize(authSafe));
  const mac = computeMac(input.legacy ? 'sha1' : 'sha256', input.password, authSafeDer);

  const pfx = new Pfx({ authSafe: new ContentInfo({ contentType: OID.data, content: AsnConvert.serialize(new OctetString(authSafeDer)) }) });
  pfx.macData.mac.digestAlgorithm = new AlgorithmIdentifier({ algorithm: mac.digestOid, parameters: null });
  pfx.macData.mac.digest = new OctetString(mac.digest);
  pfx.macData.macSalt = new OctetString(mac.salt);
  pfx.macData.iterations = mac.iterations;
  return toBuffer(AsnConvert.serialize(pfx));
}
