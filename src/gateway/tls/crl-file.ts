// CRL files: parse PEM or DER (the schema of @peculiar/asn1-x509, without @peculiar/x509's certificate machinery, which
// the gateway does not need at start), and verify a CRL's signature synchronously with node:crypto.
import { constants, verify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList, CRLReason, CRLReasons, id_ce_cRLNumber, id_ce_cRLReasons, id_ce_deltaCRLIndicator } from '@peculiar/asn1-x509';
import { isPem, pemDecodeAll } from '../../core/pem.ts';
import { children, encodingOf, oidToString, readTlv, valueOf, TAG, type Tlv } from '../identity/der.ts';
import { dnKeyFromDer, formatDn, type DnKey } from '../identity/dn.ts';
import { serialKey } from '../../core/serial-number.ts';

export interface ParsedCrl {
  file: string;
  /** Issuer DN (RFC 4514, nginx style) and its comparison key. */
  issuer: string;
  issuerKey: DnKey;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  /** Serial key (hex of the DER INTEGER content, see core serialKey) to reason name ("keyCompromise") or null. */
  revoked: Map<string, string | null>;
  /** The cRLNumber extension (RFC 5280 5.2.3), when present. */
  crlNumber: bigint | undefined;
  /** True for a delta CRL (deltaCRLIndicator), which certgate does not support. */
  delta: boolean;
  /** What the signature covers and the signature itself. */
  tbs: Buffer;
  signatureAlgorithm: Buffer;
  signature: Buffer;
}

/** Splits a CRL file into DER blocks: every "X509 CRL" PEM block, or the whole file as DER. */
export function crlBlocks(data: Buffer): Buffer[] {
  if (!isPem(data)) return [data];
  return pemDecodeAll(data.toString('latin1')).filter((b) => b.label === 'X509 CRL').map((b) => b.der);
}

/** Serial keys of revokedCertificates, in order: after the issuer, the first SEQUENCE (thisUpdate and nextUpdate are times). */
function revokedSerialKeys(der: Buffer, afterIssuer: Tlv[]): string[] {
  const list = afterIssuer.find((p) => p.tag === TAG.SEQUENCE);
  if (!list) return [];
  return children(der, list).map((entry) => {
    const [serial] = children(der, entry);
    if (!serial || serial.tag !== TAG.INTEGER) throw new Error('not a CRL: an entry has no serial number');
    return serialKey(valueOf(der, serial));
  });
}

/** The value of a cRLNumber extension: a non-negative DER INTEGER. */
function crlNumberOf(value: ArrayBuffer | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  const der = Buffer.from(value);
  try {
    const tlv = readTlv(der, 0);
    if (tlv.tag !== TAG.INTEGER) return undefined;
    const bytes = valueOf(der, tlv);
    if (bytes.length === 0 || (bytes[0] & 0x80) !== 0) return undefined;
    return BigInt('0x' + bytes.toString('hex'));
  } catch {
    return undefined;
  }
}

/** Parses one DER CRL. Throws (a plain Error with a message) when it is not a CRL. */
export function parseCrl(der: Buffer, file: string): ParsedCrl {
  const top = readTlv(der, 0);
  if (top.end !== der.length) throw new Error('trailing bytes after the CRL');
  const [tbsTlv, algTlv, sigTlv] = children(der, top);
  if (!tbsTlv || !algTlv || !sigTlv || sigTlv.tag !== TAG.BIT_STRING) throw new Error('not a CRL');
  const tbsParts = children(der, tbsTlv);
  const issuerTlv = tbsParts[tbsParts[0]?.tag === TAG.INTEGER ? 2 : 1];
  if (!issuerTlv || issuerTlv.tag !== TAG.SEQUENCE) throw new Error('not a CRL');
  const issuerDer = encodingOf(der, issuerTlv);
  const tbs = AsnConvert.parse(der, CertificateList).tbsCertList;
  const entries = tbs.revokedCertificates ?? [];
  // serials straight from the DER INTEGERs: the library's serialNumber text drops the sign of a negative serial
  const serials = revokedSerialKeys(der, tbsParts.slice(tbsParts.indexOf(issuerTlv) + 1));
  if (serials.length !== entries.length) throw new Error('not a CRL: revoked entries do not parse');
  const revoked = new Map<string, string | null>();
  entries.forEach((entry, i) => {
    const ext = entry.crlEntryExtensions?.find((e) => e.extnID === id_ce_cRLReasons);
    const reason = ext ? AsnConvert.parse(ext.extnValue, CRLReason).reason : undefined;
    if (reason === CRLReasons.removeFromCRL) return; // only meaningful in delta CRLs
    revoked.set(serials[i], reason === undefined ? null : CRLReasons[reason] ?? null);
  });
  return {
    file,
    issuer: formatDn(issuerDer),
    issuerKey: dnKeyFromDer(issuerDer),
    thisUpdate: tbs.thisUpdate.getTime(),
    nextUpdate: tbs.nextUpdate?.getTime(),
    revoked,
    crlNumber: crlNumberOf((tbs.crlExtensions ?? []).find((e) => e.extnID === id_ce_cRLNumber)?.extnValue.buffer),
    delta: (tbs.crlExtensions ?? []).some((e) => e.extnID === id_ce_deltaCRLIndicator),
    tbs: Buffer.from(encodingOf(der, tbsTlv)),
    signatureAlgorithm: Buffer.from(encodingOf(der, algTlv)),
    signature: Buffer.from(valueOf(der, sigTlv).subarray(1)), // skip the unused-bits octet
  };
}

const HASHES: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1', '2.16.840.1.101.3.4.2.4': 'sha224', '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384', '2.16.840.1.101.3.4.2.3': 'sha512',
};

// signatureAlgorithm OID to the digest node:crypto.verify takes (null for EdDSA).
const SIGNATURES: Record<string, string | null> = {
  '1.2.840.113549.1.1.5': 'sha1', '1.2.840.113549.1.1.14': 'sha224', '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384', '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1', '1.2.840.10045.4.3.1': 'sha224', '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null, '1.3.101.113': null,
};

const RSA_PSS = '1.2.840.113549.1.1.10';

/** RSASSA-PSS parameters: [0] hash (default SHA-1), [2] salt length (default 20). MGF1 uses the same hash. */
function pssParams(alg: Buffer): { hash: string; saltLength: number } {
  let hash = 'sha1';
  let saltLength = 20;
  const [, params] = children(alg, readTlv(alg, 0));
  for (const field of params && params.tag === TAG.SEQUENCE ? children(alg, params) : []) {
    const [inner] = children(alg, field);
    if (field.tag === 0xa0) {
      const [oid] = children(alg, inner);
      hash = HASHES[oidToString(valueOf(alg, oid))] ?? 'unsupported';
    } else if (field.tag === 0xa2) {
      saltLength = valueOf(alg, inner).reduce((n, b) => n * 256 + b, 0);
    }
  }
  return { hash, saltLength };
}

/** True when `key` made the CRL's signature. Unsupported algorithms count as not verified. */
export function verifyCrlSignature(crl: ParsedCrl, key: KeyObject): boolean {
  const alg = crl.signatureAlgorithm;
  const [oidTlv] = children(alg, readTlv(alg, 0));
  const oid = oidToString(valueOf(alg, oidTlv));
  try {
    if (oid === RSA_PSS) {
      const { hash, saltLength } = pssParams(alg);
      return verify(hash, crl.tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, crl.signature);
    }
    if (!(oid in SIGNATURES)) return false;
    return verify(SIGNATURES[oid] ?? null, crl.tbs, key, crl.signature);
  } catch {
    return false; // key type and algorithm disagree, or a malformed signature
  }
}
