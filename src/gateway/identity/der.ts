// A minimal DER reader: just enough to walk certificate names, serials and extensions exactly as encoded. Pure.

/** One TLV element inside `buf`: bytes [start, end) with the value at [valueStart, end). */
export interface Tlv {
  /** The identifier octet (class, constructed bit and tag number; only low tag numbers occur in certificates). */
  tag: number;
  start: number;
  valueStart: number;
  end: number;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

function malformed(what: string): Error {
  return new Error(`malformed DER: ${what}`);
}

/** Reads the element starting at `offset`, never past `limit`. Throws on truncated or non-DER lengths. */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw malformed('truncated header');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw malformed('high tag number');
  let length = buf[offset + 1];
  let valueStart = offset + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 4) throw malformed('indefinite or oversized length');
    if (valueStart + n > limit) throw malformed('truncated length');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[valueStart + i];
    valueStart += n;
  }
  const end = valueStart + length;
  if (end > limit) throw malformed('value runs past its container');
  return { tag, start: offset, valueStart, end };
}

/** The elements directly inside a constructed element. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.valueStart; at < parent.end; ) {
    const child = readTlv(buf, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** The value bytes of an element (a view, not a copy). */
export function valueOf(buf: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + tlv.valueStart, tlv.end - tlv.valueStart);
}

/** The whole encoding of an element, header included (a view). */
export function encodingOf(buf: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + tlv.start, tlv.end - tlv.start);
}

/** Dotted-decimal form of an OBJECT IDENTIFIER value. */
export function oidToString(value: Uint8Array): string {
  if (value.length === 0) throw malformed('empty OID');
  const arcs: bigint[] = [];
  let acc = 0n;
  for (const byte of value) {
    acc = (acc << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(acc);
      acc = 0n;
    }
  }
  const first = arcs[0];
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/** The fields of a certificate that identity and offline verification need, located in the DER. */
export interface CertificateFields {
  /** INTEGER value bytes of serialNumber, as encoded (two's complement). */
  serial: Buffer;
  /** Full encodings of the issuer and subject Names. */
  issuer: Buffer;
  subject: Buffer;
  /** Extension OID to its critical flag and extnValue (the OCTET STRING contents). */
  extensions: Map<string, { critical: boolean; value: Buffer }>;
}

/** Locates serial, issuer, subject and extensions in a DER certificate. */
export function certificateFields(der: Uint8Array): CertificateFields {
  const cert = readTlv(der, 0);
  const [tbs] = children(der, cert);
  if (cert.tag !== TAG.SEQUENCE || !tbs || tbs.tag !== TAG.SEQUENCE) throw malformed('not a certificate');
  const parts = children(der, tbs);
  let i = parts[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
  const serialTlv = parts[i++];
  i++; // signature algorithm
  const issuerTlv = parts[i++];
  i++; // validity
  const subjectTlv = parts[i++];
  if (!serialTlv || serialTlv.tag !== TAG.INTEGER || !issuerTlv || !subjectTlv) throw malformed('short TBSCertificate');
  const extensions = new Map<string, { critical: boolean; value: Buffer }>();
  const extWrapper = parts.slice(i).find((p) => p.tag === 0xa3); // [3] EXPLICIT Extensions
  if (extWrapper) {
    const [list] = children(der, extWrapper);
    for (const ext of list ? children(der, list) : []) {
      const f = children(der, ext);
      const critical = f.length === 3 && f[1].tag === TAG.BOOLEAN && der[f[1].valueStart] !== 0;
      const valueTlv = f[f.length - 1];
      if (f[0].tag !== TAG.OID || valueTlv.tag !== TAG.OCTET_STRING) throw malformed('extension');
      extensions.set(oidToString(valueOf(der, f[0])), { critical, value: valueOf(der, valueTlv) });
    }
  }
  return {
    serial: valueOf(der, serialTlv),
    issuer: encodingOf(der, issuerTlv),
    subject: encodingOf(der, subjectTlv),
    extensions,
  };
}
