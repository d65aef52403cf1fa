// Certificate serial numbers: random positive 64+-bit generation and one canonical hex form for storage and lookup. Pure.
import { randomBytes } from 'node:crypto';

/**
 * Canonical serial: uppercase hex of the DER INTEGER content, no colons. Leading zero bytes are dropped except the one
 * "00" DER needs when the top bit is set (so openssl's `serial=80..` and `00:80:..` both map to "0080...").
 * Returns undefined when `text` is not hex.
 */
export function normalizeSerial(text: string): string | undefined {
  const hex = text.trim().replace(/^0x/i, '').replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]+$/.test(hex)) return undefined;
  let stripped = hex.replace(/^0+/, '');
  if (stripped === '') return '00';
  if (stripped.length % 2 === 1) stripped = '0' + stripped;
  return /^[89A-F]/.test(stripped) ? '00' + stripped : stripped;
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
