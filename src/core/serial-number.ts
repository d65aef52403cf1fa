// Certificate serial numbers as what they are, DER INTEGERs (negative ones too): a comparison key, OpenSSL's spelling, parsing. Pure.

/**
 * The minimal two's-complement content octets of an INTEGER: redundant leading 0x00 (before a clear top bit) and
 * 0xFF (before a set top bit) dropped, as DER requires and OpenSSL's c2i_ASN1_INTEGER normalizes. Empty means 0.
 */
export function minimalInteger(content: Uint8Array): Buffer {
  if (content.length === 0) return Buffer.from([0]);
  let start = 0;
  while (start + 1 < content.length) {
    const redundantZero = content[start] === 0x00 && (content[start + 1] & 0x80) === 0;
    const redundantOnes = content[start] === 0xff && (content[start + 1] & 0x80) !== 0;
    if (!redundantZero && !redundantOnes) break;
    start++;
  }
  return Buffer.from(content.subarray(start));
}

/**
 * The comparison key of a serial: uppercase hex of its minimal DER INTEGER content. Two serials are the same number
 * exactly when their keys are equal, whatever their sign: +0x80 is "0080", -0x80 is "80", -0x7EDC1234 is "8123EDCC".
 */
export function serialKey(content: Uint8Array): string {
  return minimalInteger(content).toString('hex').toUpperCase();
}

/** True when the INTEGER is negative (its top bit is set). */
export function isNegativeInteger(content: Uint8Array): boolean {
  return content.length > 0 && (content[0] & 0x80) !== 0;
}

function magnitudeHex(content: Uint8Array): string {
  let bytes = Buffer.from(content);
  if (isNegativeInteger(bytes)) {
    // two's complement: invert and add one
    const neg = Buffer.alloc(bytes.length);
    let carry = 1;
    for (let i = bytes.length - 1; i >= 0; i--) {
      const v = (~bytes[i] & 0xff) + carry;
      neg[i] = v & 0xff;
      carry = v >> 8;
    }
    bytes = neg;
  }
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  const hex = bytes.subarray(start).toString('hex').toUpperCase();
  return hex === '' ? '00' : hex;
}

/**
 * A serial as OpenSSL's i2a_ASN1_INTEGER prints it, which is what `openssl x509 -serial`, `openssl verify` and nginx's
 * $ssl_client_serial show: uppercase hex octets of the magnitude, "-" first when negative ("-7EDC1234", "80", "00").
 */
export function opensslSerial(content: Uint8Array): string {
  return (isNegativeInteger(content) ? '-' : '') + magnitudeHex(content);
}

/** Minimal two's-complement DER INTEGER content of a bigint. */
export function integerContent(value: bigint): Buffer {
  if (value >= 0n) {
    let hex = value.toString(16);
    if (hex.length % 2) hex = '0' + hex;
    const bytes = Buffer.from(hex, 'hex');
    return bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  }
  let octets = 1;
  while (-(1n << BigInt(8 * octets - 1)) > value) octets++;
  const twos = (1n << BigInt(8 * octets)) + value;
  return Buffer.from(twos.toString(16).padStart(2 * octets, '0'), 'hex');
}

/**
 * Parses a serial the way people copy it from openssl: an optional "-", an optional "0x", hex digits with optional
 * colons or spaces, any case. The digits are the magnitude, as OpenSSL prints it: "-7EDC" is -0x7EDC, "80" and
 * "00:80" are +0x80. Returns the minimal DER INTEGER content, or undefined when `text` is not a serial.
 */
export function parseSerial(text: string): Buffer | undefined {
  const m = /^(-?)(?:0x)?([0-9a-f][0-9a-f:\s]*)$/i.exec(text.trim());
  if (!m) return undefined;
  const hex = m[2].replace(/[:\s]/g, '');
  const magnitude = BigInt('0x' + hex);
  return integerContent(m[1] === '-' ? -magnitude : magnitude);
}
