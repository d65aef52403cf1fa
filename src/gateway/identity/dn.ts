// Distinguished names: render a DER Name byte-for-byte as nginx's $ssl_client_s_dn does, and parse/compare RFC 4514 text.
import { children, encodingOf, oidToString, readTlv, valueOf, TAG } from './der.ts';

/** One attribute of a Name, in DER order. `rdn` numbers the RDN (SET) it belongs to. */
export interface DnAttribute {
  oid: string;
  /** OpenSSL's short name ("CN", "OU", "emailAddress"), or the dotted OID when OpenSSL would not know it. */
  name: string;
  /** The decoded text value; "#<hex of the DER>" for values that are not strings (as OpenSSL dumps them). */
  value: string;
  /** True when `value` is such a "#hex" dump rather than text. */
  dumped: boolean;
  /** The bytes OpenSSL prints for the value before escaping (UTF-8; a UTF8String's own bytes, even if invalid). */
  printed: Buffer;
  rdn: number;
}

// OID -> OpenSSL short name (OBJ_nid2sn) for attributes seen in DNs. Anything else prints as a dotted OID.
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.4': 'SN', '2.5.4.5': 'serialNumber', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST',
  '2.5.4.9': 'street', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.12': 'title', '2.5.4.13': 'description',
  '2.5.4.14': 'searchGuide', '2.5.4.15': 'businessCategory', '2.5.4.16': 'postalAddress', '2.5.4.17': 'postalCode',
  '2.5.4.18': 'postOfficeBox', '2.5.4.19': 'physicalDeliveryOfficeName', '2.5.4.20': 'telephoneNumber',
  '2.5.4.41': 'name', '2.5.4.42': 'GN', '2.5.4.43': 'initials', '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier', '2.5.4.46': 'dnQualifier', '2.5.4.65': 'pseudonym', '2.5.4.72': 'role',
  '2.5.4.97': 'organizationIdentifier', '1.2.840.113549.1.9.1': 'emailAddress',
  '1.2.840.113549.1.9.2': 'unstructuredName', '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC', '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST', '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

// Lower-case spellings accepted in config DNs, to the OID (short names, long names, common aliases).
const NAME_TO_OID: Record<string, string> = {
  commonname: '2.5.4.3', surname: '2.5.4.4', countryname: '2.5.4.6', localityname: '2.5.4.7',
  stateorprovincename: '2.5.4.8', streetaddress: '2.5.4.9', organizationname: '2.5.4.10',
  organizationalunitname: '2.5.4.11', givenname: '2.5.4.42', email: '1.2.840.113549.1.9.1',
  e: '1.2.840.113549.1.9.1', userid: '0.9.2342.19200300.100.1.1', domaincomponent: '0.9.2342.19200300.100.1.25',
};
for (const [oid, sn] of Object.entries(SHORT_NAMES)) NAME_TO_OID[sn.toLowerCase()] = oid;

// Bytes per character of the string types OpenSSL prints as text (tag2nbyte in OpenSSL's a_strex.c); others are dumped.
const CHAR_WIDTH: Record<number, number> = { 12: 0, 18: 1, 19: 1, 20: 1, 22: 1, 23: 1, 24: 1, 26: 1, 28: 4, 30: 2 };

/** UTF-8 bytes of a code point the way OpenSSL's UTF8_putc writes them (no surrogate checks). */
function utf8Putc(c: number, out: number[]): void {
  if (c < 0x80) out.push(c);
  else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
  else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  else out.push(0xf0 | ((c >> 18) & 0x07), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
}

/** Text and printed bytes of a string value, by its ASN.1 type (T61 read as Latin-1, as OpenSSL does). */
function decodeString(tag: number, bytes: Buffer): { text: string; printed: Buffer } {
  const width = CHAR_WIDTH[tag];
  if (width === 0) return { text: bytes.toString('utf8'), printed: bytes };
  const printed: number[] = [];
  let text = '';
  for (let i = 0; i + width <= bytes.length; i += width) {
    const c = width === 1 ? bytes[i] : width === 2 ? bytes.readUInt16BE(i) : bytes.readUInt32BE(i);
    utf8Putc(c, printed);
    text += width === 2 ? String.fromCharCode(c) : c <= 0x10ffff ? String.fromCodePoint(c) : '\ufffd';
  }
  return { text, printed: Buffer.from(printed) };
}

/** Every attribute of a DER-encoded Name, in encoding order. */
export function nameAttributes(nameDer: Uint8Array): DnAttribute[] {
  const name = readTlv(nameDer, 0);
  if (name.tag !== TAG.SEQUENCE) throw new Error('malformed DER: Name is not a SEQUENCE');
  const out: DnAttribute[] = [];
  children(nameDer, name).forEach((set, rdn) => {
    for (const atv of children(nameDer, set)) {
      const [type, value] = children(nameDer, atv);
      const oid = oidToString(valueOf(nameDer, type));
      const known = SHORT_NAMES[oid];
      if (known !== undefined && value.tag in CHAR_WIDTH) {
        const { text, printed } = decodeString(value.tag, valueOf(nameDer, value));
        out.push({ oid, name: known, value: text, dumped: false, printed, rdn });
      } else {
        // OpenSSL dumps unknown attribute types and non-string values as # and the hex of their DER
        const dump = '#' + encodingOf(nameDer, value).toString('hex').toUpperCase();
        out.push({ oid, name: known ?? oid, value: dump, dumped: true, printed: Buffer.from(dump), rdn });
      }
    }
  });
  return out;
}

const UTF8 = new TextEncoder();

// Characters OpenSSL backslash-escapes with ASN1_STRFLGS_ESC_2253 anywhere in a value.
const BS_ESCAPE = new Set([0x22, 0x2b, 0x2c, 0x3b, 0x3c, 0x3e, 0x5c]);

const hex2 = (b: number): string => (b < 16 ? '0' : '') + b.toString(16).toUpperCase();

/** One value escaped as OpenSSL's do_buf/do_esc_char do with XN_FLAG_RFC2253 (ESC_2253 | ESC_CTRL | ESC_MSB). */
function escapeValue(a: DnAttribute): string {
  if (a.dumped) return a.value;
  const bytes = a.printed;
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    const last = i === bytes.length - 1;
    const first = i === 0 && !last; // OpenSSL lets the "last" flag replace "first" for a one-character value
    if (c > 0x7f) out += '\\' + hex2(c);
    else if (BS_ESCAPE.has(c) || (c === 0x20 && (first || last)) || (c === 0x23 && first)) out += '\\' + String.fromCharCode(c);
    else if (c < 0x20 || c === 0x7f) out += '\\' + hex2(c);
    else out += String.fromCharCode(c);
  }
  return out;
}

/**
 * RFC 2253/4514 text of a DER Name exactly as nginx prints $ssl_client_s_dn / $ssl_client_i_dn
 * (OpenSSL X509_NAME_print_ex with XN_FLAG_RFC2253): most specific RDN first, "," between RDNs, "+" inside a
 * multi-valued RDN, bytes above 0x7F as \XX, unknown attribute types as OID=#<DER hex>.
 */
export function formatDn(nameDer: Uint8Array): string {
  const attrs = nameAttributes(nameDer);
  let out = '';
  for (let i = attrs.length - 1; i >= 0; i--) {
    const a = attrs[i];
    if (i < attrs.length - 1) out += attrs[i + 1].rdn === a.rdn ? '+' : ',';
    out += `${a.name}=${escapeValue(a)}`;
  }
  return out;
}

/** A DN reduced to comparable form: RDNs most specific first, each a sorted list of "oid=value". */
export type DnKey = string;

interface KeyPart {
  oid: string;
  value: string;
  dumped: boolean;
}

function keyOf(rdns: KeyPart[][]): DnKey {
  // a dumped value is compared by its DER bytes (hex case ignored); text values exactly
  const part = (a: KeyPart): string => `${a.oid}=${a.dumped ? a.value.toLowerCase() : '"' + a.value}`;
  return JSON.stringify(rdns.map((rdn) => rdn.map(part).sort()));
}

/** Comparison key of a DER Name (same key as parseDnKey of its RFC 4514 text). */
export function dnKeyFromDer(nameDer: Uint8Array): DnKey {
  const rdns: KeyPart[][] = [];
  for (const a of nameAttributes(nameDer)) (rdns[a.rdn] ??= []).push(a);
  return keyOf(rdns.reverse());
}

/**
 * Parses RFC 4514 text (as nginx prints it, or as a person writes it in certgate.yaml) into a comparison key.
 * Attribute names are case-insensitive and may be short names, long names or dotted OIDs; spaces around "," "+"
 * and "=" are ignored; escapes (\, \+ \C3\A9 ...) are decoded. Returns undefined when the text is not a DN.
 */
export function parseDnKey(text: string): DnKey | undefined {
  const rdns: KeyPart[][] = [[]];
  let i = 0;
  const n = text.length;
  const skipSpaces = (): void => {
    while (i < n && text[i] === ' ') i++;
  };
  while (true) {
    skipSpaces();
    const eq = text.indexOf('=', i);
    if (eq < 0) return undefined;
    const typeText = text.slice(i, eq).trim().toLowerCase().replace(/^oid\./, '');
    const oid = /^\d+(\.\d+)+$/.test(typeText) ? typeText : NAME_TO_OID[typeText];
    if (oid === undefined) return undefined;
    i = eq + 1;
    skipSpaces();
    const hashFirst = text[i] === '#'; // RFC 4514: an unescaped leading "#" introduces the hex of the DER value
    const bytes: number[] = [];
    let trailingSpaces = 0; // unescaped spaces at the end are not part of the value
    for (; i < n && text[i] !== ',' && text[i] !== '+'; i++) {
      const ch = text[i];
      if (ch === '\\') {
        const hex = text.slice(i + 1, i + 3);
        if (/^[0-9a-fA-F]{2}$/.test(hex)) {
          bytes.push(parseInt(hex, 16));
          i += 2;
        } else if (i + 1 < n) {
          bytes.push(...UTF8.encode(text[++i]));
        } else return undefined;
        trailingSpaces = 0;
      } else {
        const cp = text.codePointAt(i) as number;
        if (cp > 0xffff) i++;
        bytes.push(...UTF8.encode(String.fromCodePoint(cp)));
        trailingSpaces = ch === ' ' ? trailingSpaces + 1 : 0;
      }
    }
    const value = Buffer.from(bytes.slice(0, bytes.length - trailingSpaces)).toString('utf8');
    // OpenSSL prints a lone "#" value unescaped, so a "#" not followed by hex pairs is read as text
    const dumped = hashFirst && /^#([0-9a-fA-F]{2})+$/.test(value);
    rdns[rdns.length - 1].push({ oid, value, dumped });
    if (i >= n) break;
    if (text[i] === ',') rdns.push([]);
    i++;
  }
  return keyOf(rdns);
}
