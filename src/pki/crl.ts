// Builds and parses X.509 v2 CRLs (RFC 5280 §5): a pure builder (issuer + key + entries → PEM) and the reason mapping.
import { KeyObject, sign } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import * as x509 from '../core/x509.ts';
import { PkiError } from '../core/errors.ts';
import { pemEncode } from '../core/pem.ts';
import { crlEntrySerial, serialContent } from './serial.ts';

/** RFC 5280 CRLReason names and codes (§5.3.1). Code 7 is unused by the RFC. */
export const CRL_REASON_CODES = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type CrlReason = keyof typeof CRL_REASON_CODES;

/** The reasons `cert revoke --reason` accepts: the ones an operator of a small CA actually means. */
export const REVOKE_REASONS = ['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation', 'affiliationChanged'] as const;
export type RevokeReason = (typeof REVOKE_REASONS)[number];

/** Default CRL lifetime: nextUpdate = thisUpdate + 7 days. */
export const DEFAULT_CRL_DAYS = 7;

const OID_CRL_NUMBER = '2.5.29.20';
const DAY_MS = 86_400_000;

/** Maps a user-typed reason (any case) to its RFC 5280 name; CG_USAGE otherwise. */
export function parseRevokeReason(text: string): RevokeReason {
  const found = REVOKE_REASONS.find((r) => r.toLowerCase() === text.trim().toLowerCase());
  if (!found) throw new PkiError('CG_USAGE', `unknown revocation reason "${text}"`, { hint: `use one of ${REVOKE_REASONS.join(', ')}` });
  return found;
}

/** RFC 5280 name for a reason code read from a CRL; undefined when the entry has no reason extension. */
export function reasonName(code: number | undefined): CrlReason | undefined {
  if (code === undefined) return undefined;
  const entry = Object.entries(CRL_REASON_CODES).find(([, c]) => c === code);
  return entry ? (entry[0] as CrlReason) : undefined;
}

export interface CrlEntryInput {
  /** Serial in any form normalizeSerial accepts (a negative one as "-7EDC…"). */
  serial: string;
  revokedAt: Date;
  /** RFC 5280 reason name; null/"unspecified" omits the reasonCode extension (RFC 5280 §5.3.1 says SHOULD NOT use 0). */
  reason: string | null;
}

export interface CrlBuildInput {
  issuerCert: x509.X509Certificate;
  /** The CA's private key as a WebCrypto key (EC P-256/P-384 or RSA). */
  signingKey: CryptoKey;
  entries: CrlEntryInput[];
  /** Strictly increasing per CA (RFC 5280 §5.2.3). */
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
}

/** nextUpdate for a CRL valid `days` days from `thisUpdate`; CG_USAGE for a non-positive or silly value. */
export function crlNextUpdate(thisUpdate: Date, days: number): Date {
  if (!Number.isInteger(days) || days < 1 || days > 366) {
    throw new PkiError('CG_USAGE', `--days must be a whole number of days between 1 and 366, got ${days}`);
  }
  return new Date(thisUpdate.getTime() + days * DAY_MS);
}

/** DER INTEGER for a non-negative bigint (CRLNumber may reach 20 octets, more than a JS number holds). */
export function derInteger(value: bigint): Uint8Array<ArrayBuffer> {
  if (value < 0n) throw new RangeError('CRL number must not be negative');
  let hex = value.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  if (/^[89a-f]/.test(hex)) hex = '00' + hex;
  const body = Buffer.from(hex, 'hex');
  if (body.length > 127) throw new RangeError('CRL number too large');
  return new Uint8Array([0x02, body.length, ...body]);
}

/** The signature algorithm for the CA key: ECDSA with the curve's matching hash, RSA PKCS#1 v1.5 with SHA-256. */
export function signingAlgorithmFor(key: CryptoKey): Algorithm | EcdsaParams {
  const alg = key.algorithm as { name: string; namedCurve?: string; hash?: { name: string } };
  if (alg.name === 'ECDSA') {
    const hash = alg.namedCurve === 'P-384' ? 'SHA-384' : alg.namedCurve === 'P-521' ? 'SHA-512' : 'SHA-256';
    return { name: 'ECDSA', hash } as EcdsaParams;
  }
  if (alg.name === 'RSASSA-PKCS1-v1_5') return { name: alg.name, hash: alg.hash?.name ?? 'SHA-256' } as Algorithm;
  throw new PkiError('CG_PKI_KEY_TYPE', `cannot sign a CRL with a ${alg.name} key`);
}

/** The authorityKeyIdentifier the CRL carries: the CA's own subjectKeyIdentifier, so verifiers pick the right key. */
async function authorityKeyIdentifier(issuer: x509.X509Certificate): Promise<x509.Extension> {
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return new x509.AuthorityKeyIdentifierExtension(ski.keyId);
  // A CA without an SKI (hand-made, imported): derive it the way RFC 5280 §4.2.1.2 method 1 and OpenSSL do.
  return x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey);
}

/** The hash `signingAlgorithmFor` picks, as node:crypto names it. */
function nodeHash(alg: Algorithm | EcdsaParams): string {
  const hash = (alg as { hash?: string | { name: string } }).hash;
  return (typeof hash === 'string' ? hash : (hash?.name ?? 'SHA-256')).replace('-', '').toLowerCase();
}

/**
 * Puts each entry's exact serial INTEGER into a signed CRL and signs it again. @peculiar/x509's generator writes
 * every serial as a positive INTEGER, so a negative serial (-0x7EDC…) would be listed as a different, positive number
 * that no verifier matches against the certificate.
 */
async function withExactSerials(pem: string, serials: Buffer[], signingKey: CryptoKey): Promise<string> {
  const parsed = AsnConvert.parse(new x509.X509Crl(pem).rawData, CertificateList);
  const listed = parsed.tbsCertList.revokedCertificates ?? [];
  if (listed.length !== serials.length) throw new Error('CRL entries do not line up with the serials given');
  listed.forEach((entry, i) => (entry.userCertificate = Uint8Array.from(serials[i]).buffer));
  const tbs = Buffer.from(AsnConvert.serialize(parsed.tbsCertList));
  const algorithm = signingAlgorithmFor(signingKey);
  const key = KeyObject.from(signingKey);
  // ECDSA-Sig-Value in DER, as X.509 wants it (WebCrypto would give r||s)
  const signature = sign(nodeHash(algorithm), tbs, key.asymmetricKeyType === 'ec' ? { key, dsaEncoding: 'der' } : key);
  const signed = new CertificateList({ tbsCertList: parsed.tbsCertList, signatureAlgorithm: parsed.signatureAlgorithm, signature: Uint8Array.from(signature).buffer });
  return pemEncode('X509 CRL', AsnConvert.serialize(signed));
}

/** Signs a v2 CRL over `entries` and returns it as PEM ("X509 CRL"). Pure apart from the signature. */
export async function buildCrl(input: CrlBuildInput): Promise<string> {
  if (input.nextUpdate.getTime() <= input.thisUpdate.getTime()) throw new RangeError('nextUpdate must be after thisUpdate');
  const serials = input.entries.map((e) => {
    const content = serialContent(e.serial);
    if (content === undefined) throw new PkiError('CG_PKI_SERIAL_NOT_FOUND', `"${e.serial}" is not a hexadecimal serial number`);
    return content;
  });
  const keys = serials.map((c) => c.toString('hex'));
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup !== undefined) throw new PkiError('CG_PKI_STORE', `serial ${input.entries[keys.indexOf(dup)].serial} is listed twice`);
  const anyNegative = serials.some((c) => (c[0] & 0x80) !== 0);
  const entries: x509.X509CrlEntryParams[] = input.entries.map((e, i) => {
    const code = e.reason === null ? 0 : CRL_REASON_CODES[e.reason as CrlReason];
    if (code === undefined) throw new PkiError('CG_USAGE', `unknown revocation reason "${e.reason}"`);
    // with a negative serial among them, distinct placeholders now and the exact INTEGERs in withExactSerials
    const serialNumber = anyNegative ? (i + 1).toString(16).padStart(2, '0') : serials[i].toString('hex');
    // code 0 (unspecified) is left out: the generator only writes the extension for a non-zero reason
    return { serialNumber, revocationDate: e.revokedAt, ...(code ? { reason: code } : {}) };
  });
  const crl = await x509.X509CrlGenerator.create({
    // the issuer's Name object keeps the exact DER of the CA subject, so name matching never depends on re-encoding
    issuer: input.issuerCert.subjectName,
    thisUpdate: input.thisUpdate,
    nextUpdate: input.nextUpdate,
    signingKey: input.signingKey,
    signingAlgorithm: signingAlgorithmFor(input.signingKey),
    extensions: [await authorityKeyIdentifier(input.issuerCert), new x509.Extension(OID_CRL_NUMBER, false, derInteger(input.crlNumber))],
    entries,
  });
  // OpenSSL, nginx and Node read the "X509 CRL" label (RFC 7468 §5); the library writes plain "CRL"
  const pem = pemEncode('X509 CRL', crl.rawData);
  return anyNegative ? withExactSerials(pem, serials, input.signingKey) : pem;
}

/** What certgate reads back from a CRL (for checks, `cert show`, tests). */
export interface CrlSummary {
  issuer: string;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  crlNumber: bigint | undefined;
  entries: { serial: string; revokedAt: Date; reason: CrlReason | undefined }[];
}

/** Parses one CRL (PEM or DER); CG_PKI_BAD_CERT when it does not parse. */
export function parseCrl(data: string | Uint8Array): CrlSummary {
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(typeof data === 'string' ? data : Buffer.from(data));
  } catch (err) {
    throw new PkiError('CG_PKI_BAD_CERT', `not a CRL: ${(err as Error).message}`, { cause: err });
  }
  const numberExt = crl.getExtension(OID_CRL_NUMBER);
  return {
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
    crlNumber: numberExt ? readDerInteger(new Uint8Array(numberExt.value)) : undefined,
    entries: crl.entries.map((e) => ({
      serial: crlEntrySerial(e),
      revokedAt: e.revocationDate,
      reason: reasonName(e.reason),
    })),
  };
}

function readDerInteger(der: Uint8Array): bigint | undefined {
  if (der.length < 3 || der[0] !== 0x02 || der[1] !== der.length - 2) return undefined;
  return BigInt('0x' + Buffer.from(der.subarray(2)).toString('hex'));
}
