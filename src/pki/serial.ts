// Certificate serial numbers: random positive 128-bit generation and one canonical text form for storage and lookup. Pure.
import { randomBytes } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, RevokedCertificate } from '@peculiar/asn1-x509';
import { isNegativeInteger, minimalInteger, opensslSerial, parseSerial, serialKey } from '../core/serial-number.ts';

/**
 * Canonical text of a serial given as DER INTEGER content octets. A positive serial is the uppercase hex of those
 * octets, no colons: leading zero octets dropped except the "00" DER needs when the top bit is set (openssl's
 * `serial=80..` is "0080..."). A negative serial (older CAs and `openssl x509 -set_serial -N` make them) is written
 * the way OpenSSL prints it, "-" and the magnitude ("-7EDC1234"), so it never reads like a positive one. Either way
 * the text maps one-to-one to the DER content, so comparing canonical texts compares the DER INTEGERs.
 */
export function serialFromContent(content: Uint8Array): string {
  const minimal = minimalInteger(content);
  return isNegativeInteger(minimal) ? opensslSerial(minimal) : serialKey(minimal);
}

/**
 * Canonical serial (see serialFromContent) of a serial as typed: hex, any case, colons, "0x" and a leading "-" for
 * a negative serial allowed. Returns undefined when `text` is not a serial.
 */
export function normalizeSerial(text: string): string | undefined {
  const content = parseSerial(text);
  return content === undefined ? undefined : serialFromContent(content);
}

/** The DER INTEGER content octets a canonical (or typed) serial stands for; undefined when it is not a serial. */
export function serialContent(text: string): Buffer | undefined {
  return parseSerial(text);
}

/**
 * A certificate's canonical serial, read from its DER INTEGER. Never from @peculiar/x509's `serialNumber` string: it
 * drops the sign (-0x7EDC1234 comes out as "8123EDCC", the same text as +0x8123EDCC).
 */
export function certificateSerial(cert: { rawData: ArrayBuffer }): string {
  return serialFromContent(new Uint8Array(AsnConvert.parse(cert.rawData, Certificate).tbsCertificate.serialNumber));
}

/** The canonical serial of one CRL entry (an X509CrlEntry), read from its DER INTEGER, sign included. */
export function crlEntrySerial(entry: { rawData: ArrayBuffer }): string {
  return serialFromContent(new Uint8Array(AsnConvert.parse(entry.rawData, RevokedCertificate).userCertificate));
}

/**
 * A fresh serial: 16 random bytes (128 bits, well above RFC 5280's/CA-B's 64-bit floor), top bit cleared so the
 * INTEGER is positive without padding, first byte non-zero so the length is stable. Never sequential.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x10;
  return bytes.toString('hex').toUpperCase();
}

/** "4F1A2B" → "4F:1A:2B", the way openssl prints serials in -text output. */
export function serialWithColons(serial: string): string {
  return (serial.match(/.{1,2}/g) ?? []).join(':');
}
