// ASN.1 schemas for PBES2 password-based encryption (RFC 8018 A.2/A.4, RFC 7914 7.1), shared by PKCS#8 and PKCS#12.
import { AsnProp, AsnPropTypes, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';

export type PropOptions = Parameters<typeof AsnProp>[0];

/**
 * Native type stripping has no decorator syntax, so the asn1-schema decorators are applied as plain calls.
 * They only record field layouts in asn1-schema's schema storage: no I/O, nothing observable at import.
 */
export function fields(target: abstract new (...args: never[]) => unknown, spec: Record<string, PropOptions>): void {
  for (const [name, options] of Object.entries(spec)) AsnProp(options)(target.prototype as object, name);
}

/** Object identifiers of PBES2 and the KDFs, PRFs and ciphers certgate writes inside it. */
export const PBES2_OID = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  scrypt: '1.3.6.1.4.1.11591.4.11',
  hmacWithSHA256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
} as const;

/** PBKDF2-params (RFC 8018 A.2); only the `specified` salt form is written, keyLength is left out as OpenSSL does for AES. */
export class Pbkdf2Params {
  salt = new OctetString();
  iterationCount = 0;
  keyLength?: number;
  prf = new AlgorithmIdentifier();
  constructor(params: Partial<Pbkdf2Params> = {}) {
    Object.assign(this, params);
  }
}
fields(Pbkdf2Params, {
  salt: { type: OctetString },
  iterationCount: { type: AsnPropTypes.Integer },
  keyLength: { type: AsnPropTypes.Integer, optional: true },
  prf: { type: AlgorithmIdentifier },
});

/**
 * scrypt-params ::= SEQUENCE { salt, costParameter (N), blockSize (r), parallelizationParameter (p), keyLength OPTIONAL }
 * (RFC 7914 7.1); keyLength is left out, as OpenSSL does for AES.
 */
export class ScryptParams {
  salt = new OctetString();
  costParameter = 0;
  blockSize = 0;
  parallelizationParameter = 0;
  keyLength?: number;
  constructor(params: Partial<ScryptParams> = {}) {
    Object.assign(this, params);
  }
}
fields(ScryptParams, {
  salt: { type: OctetString },
  costParameter: { type: AsnPropTypes.Integer },
  blockSize: { type: AsnPropTypes.Integer },
  parallelizationParameter: { type: AsnPropTypes.Integer },
  keyLength: { type: AsnPropTypes.Integer, optional: true },
});

/** PBES2-params ::= SEQUENCE { keyDerivationFunc, encryptionScheme } (RFC 8018 A.4). */
export class Pbes2Params {
  keyDerivationFunc = new AlgorithmIdentifier();
  encryptionScheme = new AlgorithmIdentifier();
  constructor(params: Partial<Pbes2Params> = {}) {
    Object.assign(this, params);
  }
}
fields(Pbes2Params, { keyDerivationFunc: { type: AlgorithmIdentifier }, encryptionScheme: { type: AlgorithmIdentifier } });
