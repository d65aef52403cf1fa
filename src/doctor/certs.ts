// Plain facts about one certificate (names, validity, usages) as doctor reports them, from its DER.
import { X509Certificate } from 'node:crypto';
import * as x509 from '../core/x509.ts';

export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/** One certificate as the report shows it. Dates are ISO 8601 UTC. */
export interface CertFacts {
  subject: string;
  issuer: string;
  /** subjectAltName entries as OpenSSL prints them: `DNS:example.com`, `IP Address:127.0.0.1`. */
  sans: string[];
  notBefore: string;
  notAfter: string;
  serialNumber: string;
  fingerprint256: string;
  /** Extended key usage OIDs, or null when the certificate has no EKU extension (any use). */
  eku: string[] | null;
  ca: boolean;
  /** The issuer name's DER (hex), to match against the CA names a server lists. */
  issuerDer: string;
}

/** A one-line distinguished name, most specific last: `O=Acme, CN=Acme Root`. */
export function dnText(der: Uint8Array): string {
  try {
    return new x509.Name(new Uint8Array(der)).toString().split(/(?<!\\), /).reverse().join(', ');
  } catch {
    return `(unreadable name, ${der.length} bytes)`;
  }
}

const oneLine = (multiline: string) => multiline.split('\n').filter(Boolean).join(', ');

export function certFacts(der: Uint8Array): CertFacts {
  const cert = new X509Certificate(der);
  const peculiar = new x509.X509Certificate(new Uint8Array(der));
  const eku = cert.keyUsage; // Node names the extended key usage list `keyUsage`
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    sans: cert.subjectAltName ? cert.subjectAltName.split(', ') : [],
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    eku: eku === undefined ? null : eku,
    ca: cert.ca,
    issuerDer: Buffer.from(peculiar.issuerName.toArrayBuffer()).toString('hex'),
  };
}

/** Whole days from `now` to the certificate's notAfter (negative once expired). */
export function daysLeft(c: CertFacts, now: Date): number {
  return Math.floor((Date.parse(c.notAfter) - now.getTime()) / 86_400_000);
}
