// PEM helpers: split bundles, encode and decode blocks. Pure.

export interface PemBlock {
  label: string;
  der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every PEM block in `text`, in order. Text outside blocks is ignored. */
export function pemDecodeAll(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    blocks.push({ label: m[1], der: Buffer.from(m[2].replace(/\s+/g, ''), 'base64') });
  }
  return blocks;
}

/** PEM-encodes DER with 64-character lines and a trailing newline. */
export function pemEncode(label: string, der: Uint8Array | ArrayBuffer): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Each CERTIFICATE block of a bundle, re-encoded as a normalized PEM string. */
export function splitCertificates(text: string): string[] {
  return pemDecodeAll(text)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => pemEncode('CERTIFICATE', b.der));
}

/** True when `data` looks like PEM rather than DER. */
export function isPem(data: Buffer | string): boolean {
  const text = typeof data === 'string' ? data : data.subarray(0, 4096).toString('latin1');
  return text.includes('-----BEGIN ');
}
