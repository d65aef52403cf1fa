// Describes a certificate for people and scripts: names, SANs, usages, key, validity, fingerprint. Pure (no I/O).
import { createHash, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '../core/x509.ts';
import { PkiError } from '../core/errors.ts';
import { pemDecodeAll } from '../core/pem.ts';
import { certificateSerial } from './serial.ts';
import { displayStatus } from './list.ts';
import type { DisplayStatus } from './list.ts';
import type { CertProfile, CertRecord } from './store.ts';

/** What a certificate says about itself, independent of any CA store. */
export interface CertDescription {
  /** Canonical serial (uppercase hex; a negative one as OpenSSL prints it, "-7EDC…"; see serialFromContent). */
  serial: string;
  /** RFC 4514, as @peculiar/x509 prints it (the same string the store keeps). */
  subject: string;
  issuer: string;
  /** "DNS:x", "IP:x", "email:x", "URI:x" (others: "DirName:", "othername:"). */
  sans: string[];
  /** e.g. "ec-p256", "rsa-2048", "ed25519". */
  keyAlgorithm: string;
  isCa: boolean;
  /** basicConstraints pathLenConstraint, null when absent. */
  pathLength: number | null;
  /** RFC 5280 keyUsage names, in bit order. */
  keyUsage: string[];
  /** EKU names (serverAuth, clientAuth, …) or the dotted OID for others. */
  extendedKeyUsage: string[];
  /** ISO 8601 UTC. */
  notBefore: string;
  notAfter: string;
  /** sha256 of the DER, lowercase hex, no colons. */
  fingerprint: string;
  selfSigned: boolean;
  /** The certificate, PEM. */
  pem: string;
}

const KEY_USAGE_NAMES: [number, string][] = [
  [x509.KeyUsageFlags.digitalSignature, 'digitalSignature'],
  [x509.KeyUsageFlags.nonRepudiation, 'nonRepudiation'],
  [x509.KeyUsageFlags.keyEncipherment, 'keyEncipherment'],
  [x509.KeyUsageFlags.dataEncipherment, 'dataEncipherment'],
  [x509.KeyUsageFlags.keyAgreement, 'keyAgreement'],
  [x509.KeyUsageFlags.keyCertSign, 'keyCertSign'],
  [x509.KeyUsageFlags.cRLSign, 'cRLSign'],
  [x509.KeyUsageFlags.encipherOnly, 'encipherOnly'],
  [x509.KeyUsageFlags.decipherOnly, 'decipherOnly'],
];

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

const SAN_PREFIX: Record<string, string> = { dns: 'DNS', ip: 'IP', email: 'email', url: 'URI', dn: 'DirName', upn: 'UPN', guid: 'GUID', id: 'RID' };

/** Formats a GeneralName the way openssl and the store spell SANs. */
export function formatGeneralName(type: string, value: string): string {
  return `${SAN_PREFIX[type] ?? 'othername'}:${value}`;
}

/** Names the keyUsage bits set in `flags`. */
export function keyUsageNames(flags: number): string[] {
  return KEY_USAGE_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

/** Names an EKU OID; unknown OIDs stay dotted. */
export function ekuName(oid: string): string {
  return EKU_NAMES[oid] ?? oid;
}

/** "ec-p256" etc. from node's key details (the same spelling as `--key`). */
export function keyAlgorithmName(type: string | undefined, details: { namedCurve?: string; modulusLength?: number } = {}): string {
  if (type === 'ec') {
    const curve = details.namedCurve ?? '';
    const map: Record<string, string> = { prime256v1: 'ec-p256', 'P-256': 'ec-p256', secp384r1: 'ec-p384', 'P-384': 'ec-p384', secp521r1: 'ec-p521', 'P-521': 'ec-p521' };
    return map[curve] ?? `ec-${curve || 'unknown'}`;
  }
  if ((type === 'rsa' || type === 'rsa-pss') && details.modulusLength) return `${type}-${details.modulusLength}`;
  return type ?? 'unknown';
}

/** The first certificate in `data` (PEM bundle or DER) as DER; CG_PKI_BAD_CERT when there is none. */
export function firstCertificateDer(data: string | Uint8Array): { der: Buffer; count: number } {
  const text = typeof data === 'string' ? data : Buffer.from(data).subarray(0, 65536).toString('latin1');
  if (text.includes('-----BEGIN ')) {
    const certs = pemDecodeAll(typeof data === 'string' ? data : Buffer.from(data).toString('latin1')).filter((b) => b.label === 'CERTIFICATE' || b.label === 'X509 CERTIFICATE' || b.label === 'TRUSTED CERTIFICATE');
    if (certs.length === 0) throw new PkiError('CG_PKI_BAD_CERT', 'no CERTIFICATE block found', { hint: 'pass a PEM or DER certificate file' });
    return { der: certs[0].der, count: certs.length };
  }
  if (typeof data === 'string') throw new PkiError('CG_PKI_BAD_CERT', 'not a PEM certificate');
  return { der: Buffer.from(data), count: 1 };
}

/** Describes one certificate (PEM or DER; the first one of a bundle). CG_PKI_BAD_CERT when it does not parse. */
export function describeCertificate(data: string | Uint8Array): CertDescription {
  const { der } = firstCertificateDer(data);
  let cert: x509.X509Certificate;
  let node: NodeX509;
  try {
    cert = new x509.X509Certificate(new Uint8Array(der));
    node = new NodeX509(der);
  } catch (err) {
    throw new PkiError('CG_PKI_BAD_CERT', `the certificate does not parse: ${(err as Error).message}`, { cause: err });
  }
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const key = node.publicKey;
  return {
    serial: certificateSerial(cert),
    subject: cert.subject,
    issuer: cert.issuer,
    sans: san ? Array.from(san.names.items, (n) => formatGeneralName(n.type, n.value)) : [],
    keyAlgorithm: keyAlgorithmName(key.asymmetricKeyType, key.asymmetricKeyDetails),
    isCa: bc?.ca ?? false,
    pathLength: bc?.pathLength ?? null,
    keyUsage: ku ? keyUsageNames(ku.usages) : [],
    extendedKeyUsage: eku ? Array.from(eku.usages, (u) => ekuName(String(u))) : [],
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    fingerprint: createHash('sha256').update(der).digest('hex'),
    // same name and a valid self-signature: a root (a cross-signed name twin fails the signature check)
    selfSigned: node.checkIssued(node) && node.verify(key),
    pem: cert.toString('pem') + '\n',
  };
}

/** "ab12cd…" → "AB:12:CD:…", the way `openssl x509 -fingerprint -sha256` prints it, for people comparing by eye. */
export function fingerprintWithColons(hex: string): string {
  return (hex.toUpperCase().match(/.{1,2}/g) ?? []).join(':');
}

/** "in 29 days", "3 hours ago": coarse, for the readable view only. */
export function relativeTime(target: Date, now: Date): string {
  const ms = target.getTime() - now.getTime();
  const abs = Math.abs(ms);
  const units: [number, string][] = [[86_400_000, 'day'], [3_600_000, 'hour'], [60_000, 'minute']];
  let text = 'less than a minute';
  for (const [size, unit] of units) {
    if (abs >= size) {
      const n = Math.floor(abs / size);
      text = `${n} ${unit}${n === 1 ? '' : 's'}`;
      break;
    }
  }
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/**
 * `cert show --json`: every key of a `cert list --json` entry, plus what the certificate itself says. Documented in
 * docs/pki.md; only ever add keys. CA-derived keys are null when no CA was consulted or the CA does not know the cert.
 */
export interface CertShowJson {
  serial: string;
  name: string | null;
  profile: CertProfile | null;
  subject: string;
  sans: string[];
  notBefore: string;
  notAfter: string;
  /** Status in this CA; null without --dir or when the CA has no record of this certificate. */
  status: DisplayStatus | null;
  revokedAt: string | null;
  revocationReason: string | null;
  fingerprint: string;
  keyPath: string | null;
  issuedAt: string | null;
  issuer: string | null;
  keyAlgorithm: string | null;
  isCa: boolean | null;
  pathLength: number | null;
  keyUsage: string[];
  extendedKeyUsage: string[];
  /** notAfter is in the past (from the certificate's own dates, CA or not). */
  expired: boolean;
  /** true: this CA's store knows the serial; false: a CA was consulted and does not; null: none consulted. */
  inCa: boolean | null;
  pem: string | null;
}

/** The keys of CertShowJson in output order (pinned by a test). */
export const SHOW_KEYS = ['serial', 'name', 'profile', 'subject', 'sans', 'notBefore', 'notAfter', 'status', 'revokedAt',
  'revocationReason', 'fingerprint', 'keyPath', 'issuedAt', 'issuer', 'keyAlgorithm', 'isCa', 'pathLength', 'keyUsage',
  'extendedKeyUsage', 'expired', 'inCa', 'pem'] as const;

/**
 * Joins what the certificate says (desc, null for a foreign serial revoked without its PEM) with what the CA recorded
 * (rec). `caConsulted` says whether a CA store was asked at all.
 */
export function toShowJson(desc: CertDescription | null, rec: CertRecord | null, caConsulted: boolean, now: Date): CertShowJson {
  if (!desc && !rec) throw new Error('toShowJson needs a description or a record');
  const notAfter = desc?.notAfter ?? rec!.notAfter;
  return {
    serial: desc?.serial ?? rec!.serial,
    name: rec ? rec.name : null,
    profile: rec ? rec.profile : null,
    subject: desc?.subject ?? rec!.subject,
    sans: desc?.sans ?? rec!.sans,
    notBefore: desc?.notBefore ?? rec!.notBefore,
    notAfter,
    status: rec ? displayStatus(rec, now) : null,
    revokedAt: rec?.revokedAt ?? null,
    revocationReason: rec?.revocationReason ?? null,
    fingerprint: desc?.fingerprint ?? rec!.fingerprint,
    keyPath: rec?.keyPath ?? null,
    issuedAt: rec?.issuedAt ?? null,
    issuer: desc?.issuer ?? null,
    keyAlgorithm: desc?.keyAlgorithm ?? null,
    isCa: desc ? desc.isCa : null,
    pathLength: desc?.pathLength ?? null,
    keyUsage: desc?.keyUsage ?? [],
    extendedKeyUsage: desc?.extendedKeyUsage ?? [],
    expired: notAfter !== '' && Date.parse(notAfter) < now.getTime(),
    inCa: caConsulted ? rec !== null : null,
    pem: desc?.pem ?? rec?.pem ?? null,
  };
}

function statusLine(j: CertShowJson): string {
  if (j.inCa === null) return j.expired ? 'expired (no CA given: revocation not checked)' : 'within its validity (no CA given: revocation not checked)';
  if (!j.inCa) return 'not recorded in this CA';
  if (j.status === 'revoked') return `REVOKED at ${j.revokedAt}${j.revocationReason && j.revocationReason !== 'unspecified' ? ` (${j.revocationReason})` : ''}`;
  return j.status === 'expired' ? 'EXPIRED' : 'valid';
}

/** The readable `cert show` view: one "Label: value" line each, labels aligned, like a short `openssl x509 -text`. */
export function renderCertText(j: CertShowJson, now: Date): string {
  const rows: [string, string][] = [
    ['Serial', j.serial],
    ...(j.name ? [['Name', j.profile ? `${j.name} (${j.profile})` : j.name] as [string, string]] : j.profile ? [['Profile', j.profile] as [string, string]] : []),
    ['Status', statusLine(j)],
    ['Subject', j.subject || '-'],
    ['Issuer', j.issuer ?? '-'],
    ['SANs', j.sans.length ? j.sans.join(', ') : '-'],
    ['Key', j.keyAlgorithm ?? '-'],
    ['CA', j.isCa === null ? '-' : j.isCa ? `yes${j.pathLength !== null ? ` (pathlen ${j.pathLength})` : ''}` : 'no'],
    ['Key usage', j.keyUsage.join(', ') || '-'],
    ['Extended key usage', j.extendedKeyUsage.join(', ') || '-'],
    ['Not before', j.notBefore ? `${j.notBefore} (${relativeTime(new Date(j.notBefore), now)})` : '-'],
    ['Not after', j.notAfter ? `${j.notAfter} (${relativeTime(new Date(j.notAfter), now)})` : '-'],
    ['SHA-256 fingerprint', fingerprintWithColons(j.fingerprint)],
  ];
  if (j.keyPath) rows.push(['Key file', j.keyPath]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${(k + ':').padEnd(width)} ${v}`).join('\n');
}
