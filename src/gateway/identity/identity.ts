// A verified client certificate reduced to the fields authorization and identity headers use, nginx-compatible.
import { createHash, type X509Certificate } from 'node:crypto';
import { pemEncode } from '../../core/pem.ts';
import { opensslSerial, parseSerial, serialKey } from '../../core/serial-number.ts';
import { certificateFields, children, readTlv, valueOf } from './der.ts';
import { formatDn, nameAttributes } from './dn.ts';

/** Who the client is, computed once per connection from a certificate that verified. */
export interface ClientIdentity {
  /** Subject DN in RFC 4514 form, byte-identical to nginx's $ssl_client_s_dn. */
  subject: string;
  /** Issuer DN, as nginx's $ssl_client_i_dn. */
  issuer: string;
  /** Subject commonName, organizationName and organizationalUnitName values (all of them, most specific first). */
  cn: string[];
  o: string[];
  ou: string[];
  /** Subject alternative names: "DNS:x", "IP:x", "email:x", "URI:x" (IPv6 in RFC 5952 short form). */
  sans: string[];
  /** Serial number in uppercase hex, as nginx's $ssl_client_serial ("-" first for a negative serial). */
  serial: string;
  /** SHA-256 of the DER, lowercase hex without colons. */
  fingerprint: string;
  /** URL-escaped PEM, byte-identical to nginx's $ssl_client_escaped_cert. */
  escapedPem: string;
  notBefore: Date;
  notAfter: Date;
}

const SAN_OID = '2.5.29.17';

/** Serial as OpenSSL's i2a_ASN1_INTEGER prints it: uppercase hex bytes of the magnitude, "-" if negative. */
export function formatSerial(integer: Uint8Array): string {
  return opensslSerial(integer);
}

/**
 * The comparison key of a serial typed in a config rule or printed by formatSerial ("-7EDC…", "00:8F:3A", "0x4f"):
 * the hex of its DER INTEGER content (see core serialKey), so +0x80 and -0x80 never meet. undefined when not a serial.
 */
export function serialKeyOf(text: string): string | undefined {
  const content = parseSerial(text);
  return content === undefined ? undefined : serialKey(content);
}

/** RFC 5952 text of a 4- or 16-byte address. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) return '#' + Buffer.from(bytes).toString('hex');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // the longest run (at least two) of zero groups becomes "::", the first one on ties
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j > i ? j : i + 1;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Subject alternative names from the extnValue of a subjectAltName extension. */
export function parseSans(extnValue: Uint8Array): string[] {
  const out: string[] = [];
  for (const name of children(extnValue, readTlv(extnValue, 0))) {
    const value = valueOf(extnValue, name);
    switch (name.tag) {
      case 0x81: out.push('email:' + value.toString('latin1')); break;
      case 0x82: out.push('DNS:' + value.toString('latin1')); break;
      case 0x86: out.push('URI:' + value.toString('latin1')); break;
      case 0x87: out.push('IP:' + formatIp(value)); break;
      default: break; // otherName, directoryName and the rest are not used for authorization
    }
  }
  return out;
}

// nginx's NGX_ESCAPE_URI_COMPONENT keeps only RFC 3986 unreserved characters: ALPHA DIGIT - . _ ~
const UNRESERVED = /[A-Za-z0-9\-._~]/;

const HEX_ESCAPES = Array.from({ length: 128 }, (_, b) => '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase());

/** URL-escapes like nginx's ngx_escape_uri(..., NGX_ESCAPE_URI_COMPONENT): every other byte as %XX, upper hex. */
export function escapeUriComponent(text: string): string {
  // ASCII (every PEM): one regex pass, ~10x faster than the byte loop; this runs once per client connection
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(text)) return text.replace(/[^A-Za-z0-9\-._~]/g, (c) => HEX_ESCAPES[c.charCodeAt(0)]);
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(b);
    out += b < 0x80 && UNRESERVED.test(ch) ? ch : '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }
  return out;
}

/** Computes the identity of a certificate. Call once per connection, and only for a certificate that verified. */
export function identityFromCertificate(cert: X509Certificate): ClientIdentity {
  const der = cert.raw;
  const fields = certificateFields(der);
  const attrs = nameAttributes(fields.subject).reverse(); // most specific first, as the DN prints
  const pick = (oid: string): string[] => attrs.filter((a) => a.oid === oid && !a.dumped).map((a) => a.value);
  const san = fields.extensions.get(SAN_OID);
  return {
    subject: formatDn(fields.subject),
    issuer: formatDn(fields.issuer),
    cn: pick('2.5.4.3'),
    o: pick('2.5.4.10'),
    ou: pick('2.5.4.11'),
    sans: san ? parseSans(san.value) : [],
    serial: formatSerial(fields.serial),
    fingerprint: createHash('sha256').update(der).digest('hex'),
    // PEM_write_bio_X509 output (64-column base64, trailing newline), then nginx's escaping
    escapedPem: escapeUriComponent(pemEncode('CERTIFICATE', der)),
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
  };
}
