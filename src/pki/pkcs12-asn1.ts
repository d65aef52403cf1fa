// ASN.1 schemas PKCS#12 needs beyond @peculiar/asn1-pfx: PBE/PBES2 parameters and the CMS wrappers (RFC 7292, 8018, 5652).
import { AsnArray, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { MacData } from '@peculiar/asn1-pfx';
import { fields, PBES2_OID } from './pbes2-asn1.ts';

// The PBES2 schemas are shared with PKCS#8 key encryption (keys.ts) and live in pbes2-asn1.ts.
export { Pbes2Params, Pbkdf2Params } from './pbes2-asn1.ts';

/** Object identifiers used by the PKCS#12 writer. */
export const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  pbes2: PBES2_OID.pbes2,
  pbkdf2: PBES2_OID.pbkdf2,
  hmacWithSHA256: PBES2_OID.hmacWithSHA256,
  aes256Cbc: PBES2_OID.aes256Cbc,
  pbeWithSHAAnd3KeyTripleDesCbc: '1.2.840.113549.1.12.1.3',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

/** pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER } (RFC 7292 Appendix C). */
export class Pkcs12PbeParams {
  salt = new OctetString();
  iterations = 0;
  constructor(params: Partial<Pkcs12PbeParams> = {}) {
    Object.assign(this, params);
  }
}
fields(Pkcs12PbeParams, { salt: { type: OctetString }, iterations: { type: AsnPropTypes.Integer } });

/** ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT ANY } (RFC 5652 3); `content` is the DER of the inner value. */
export class ContentInfo {
  contentType = '';
  content = new ArrayBuffer(0);
  constructor(params: Partial<ContentInfo> = {}) {
    Object.assign(this, params);
  }
}
fields(ContentInfo, { contentType: { type: AsnPropTypes.ObjectIdentifier }, content: { type: AsnPropTypes.Any, context: 0 } });

/** EncryptedContentInfo (RFC 5652 6.1) with the primitive [0] IMPLICIT OCTET STRING form of encryptedContent. */
export class EncryptedContentInfo {
  contentType = '';
  contentEncryptionAlgorithm = new AlgorithmIdentifier();
  encryptedContent = new OctetString();
  constructor(params: Partial<EncryptedContentInfo> = {}) {
    Object.assign(this, params);
  }
}
fields(EncryptedContentInfo, {
  contentType: { type: AsnPropTypes.ObjectIdentifier },
  contentEncryptionAlgorithm: { type: AlgorithmIdentifier },
  encryptedContent: { type: OctetString, context: 0, implicit: true },
});

/** EncryptedData ::= SEQUENCE { version (0), encryptedContentInfo } (RFC 5652 8). */
export class EncryptedData {
  version = 0;
  encryptedContentInfo = new EncryptedContentInfo();
  constructor(params: Partial<EncryptedData> = {}) {
    Object.assign(this, params);
  }
}
fields(EncryptedData, { version: { type: AsnPropTypes.Integer }, encryptedContentInfo: { type: EncryptedContentInfo } });

/** AuthenticatedSafe ::= SEQUENCE OF ContentInfo (RFC 7292 4.1). */
export class AuthenticatedSafe extends AsnArray<ContentInfo> {}
AsnType({ type: AsnTypeTypes.Sequence, itemType: ContentInfo })(AuthenticatedSafe);

/** PFX ::= SEQUENCE { version v3, authSafe ContentInfo, macData MacData } (RFC 7292 4). */
export class Pfx {
  version = 3;
  authSafe = new ContentInfo();
  macData = new MacData();
  constructor(params: Partial<Pfx> = {}) {
    Object.assign(this, params);
  }
}
fields(Pfx, { version: { type: AsnPropTypes.Integer }, authSafe: { type: ContentInfo }, macData: { type: MacData } });
