// Private keys: generate (EC P-256/P-384, RSA 2048/3072/4096), export as (encrypted) PKCS#8 PEM, import, permission checks.
import { generateKeyPair as generateKeyPairCb, createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { statSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { PkiError, UserError } from '../core/errors.ts';
import { encryptPrivateKeyPkcs8 } from './pkcs8-encrypt.ts';

const generateKeyPairAsync = promisify(generateKeyPairCb);

export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = 'ec-p256';

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Parses a --key value; CG_PKI_KEY_TYPE names the accepted values. */
export function parseKeyType(text: string): KeyType {
  const t = text.trim().toLowerCase();
  if ((KEY_TYPES as readonly string[]).includes(t)) return t as KeyType;
  throw new PkiError('CG_PKI_KEY_TYPE', `unsupported key type "${text}"`, { hint: `use one of ${KEY_TYPES.join(', ')}` });
}

export async function generateKeyPair(type: KeyType = DEFAULT_KEY_TYPE): Promise<KeyPair> {
  if (type === 'ec-p256' || type === 'ec-p384') {
    return generateKeyPairAsync('ec', { namedCurve: type === 'ec-p256' ? 'P-256' : 'P-384' });
  }
  const modulusLength = Number(type.slice(4));
  return generateKeyPairAsync('rsa', { modulusLength, publicExponent: 0x10001 });
}

/**
 * The KeyType of a public or private key, or undefined when certgate does not support it
 * (other curves, Ed25519, DSA, RSA below 2048 or of an odd size).
 */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (d.namedCurve === 'prime256v1' || d.namedCurve === 'P-256') return 'ec-p256';
    if (d.namedCurve === 'secp384r1' || d.namedCurve === 'P-384') return 'ec-p384';
    return undefined;
  }
  if (key.asymmetricKeyType === 'rsa') {
    const t = `rsa-${d.modulusLength}`;
    return (KEY_TYPES as readonly string[]).includes(t) ? (t as KeyType) : undefined;
  }
  return undefined;
}

/** Human description of an unsupported key for error messages, e.g. "ed25519" or "rsa 1024-bit". */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return `ec ${d.namedCurve ?? 'unknown curve'}`;
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') return `${key.asymmetricKeyType} ${d.modulusLength}-bit`;
  return String(key.asymmetricKeyType);
}

/** Requires a supported key type; CG_PKI_KEY_TYPE otherwise. */
export function requireKeyType(key: KeyObject, what: string): KeyType {
  const type = keyTypeOf(key);
  if (!type) {
    throw new PkiError('CG_PKI_KEY_TYPE', `${what} uses an unsupported key (${describeKey(key)})`, {
      hint: `certgate accepts ${KEY_TYPES.join(', ')}`,
    });
  }
  return type;
}

/**
 * PKCS#8 PEM. With a passphrase the key is encrypted: PBES2 with scrypt (N=2^14, r=8, p=5) and AES-256-CBC, not
 * node's `export({cipher})`, whose PBKDF2 runs only 2048 iterations. `openssl pkey -in ca.key` asks for it too.
 */
export function exportPrivateKeyPem(key: KeyObject, passphrase: string | null): string {
  if (passphrase === null) return key.export({ type: 'pkcs8', format: 'pem' }) as string;
  if (passphrase === '') throw new UserError('CG_SECRET_SOURCE', 'the passphrase is empty');
  return encryptPrivateKeyPkcs8(key, passphrase);
}

/** True for PEM that needs a passphrase: PKCS#8 "ENCRYPTED PRIVATE KEY" or traditional "Proc-Type: 4,ENCRYPTED". */
export function isEncryptedKeyPem(pem: string): boolean {
  return pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /Proc-Type:\s*4,ENCRYPTED/.test(pem);
}

/**
 * Parses a private key PEM (PKCS#8, encrypted PKCS#8 with any PBES2 KDF OpenSSL reads — scrypt, or PBKDF2 as older
 * certgate and `openssl genpkey -aes256` write it — or openssl's traditional EC/RSA form).
 * CG_PKI_BAD_PASSPHRASE when it is encrypted and the passphrase is missing or wrong; CG_PKI_BAD_KEY when unparsable.
 */
export function importPrivateKeyPem(pem: string, passphrase: string | null, source = 'the key'): KeyObject {
  const encrypted = isEncryptedKeyPem(pem);
  if (encrypted && passphrase === null) {
    throw new PkiError('CG_PKI_BAD_PASSPHRASE', `${source} is encrypted and no passphrase was given`, {
      hint: 'pass --passphrase-file FILE or --passphrase-env NAME',
    });
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new PkiError('CG_PKI_BAD_KEY', `${source} is not a PEM private key`);
  }
  try {
    return createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase: passphrase ?? '' } : { key: pem, format: 'pem' });
  } catch (err) {
    if (encrypted) {
      throw new PkiError('CG_PKI_BAD_PASSPHRASE', `wrong passphrase for ${source}`, { cause: err });
    }
    throw new PkiError('CG_PKI_BAD_KEY', `${source} could not be parsed: ${(err as Error).message}`, { cause: err });
  }
}

/** CG_PKI_KEY_PERMISSIONS when a key file can be read (or written) by group or others. */
export function checkKeyFilePermissions(path: string): void {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    throw new PkiError('CG_PKI_KEY_PERMISSIONS', `${path} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')})`, {
      hint: `run: chmod 600 ${path}`,
    });
  }
}

/** Reads a key file after the permission check. */
export function readKeyFile(path: string, passphrase: string | null): KeyObject {
  checkKeyFilePermissions(path);
  return importPrivateKeyPem(readFileSync(path, 'utf8'), passphrase, path);
}

/** The public half of a private key. */
export function publicOf(privateKey: KeyObject): KeyObject {
  return createPublicKey(privateKey);
}

/** WebCrypto algorithm used to sign with (and import) a key of this type. */
export function signingAlgorithm(type: KeyType): RsaHashedImportParams | EcKeyImportParams & { hash: string } {
  if (type === 'ec-p256') return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  if (type === 'ec-p384') return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
  return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
}

/** Converts a node KeyObject to a WebCrypto CryptoKey for @peculiar/x509 (sign for private, verify for public). */
export function toCryptoKey(key: KeyObject, type: KeyType): CryptoKey {
  const alg = signingAlgorithm(type);
  const usages: KeyUsage[] = key.type === 'private' ? ['sign'] : ['verify'];
  return key.toCryptoKey(alg, true, usages) as CryptoKey;
}

/** True when the private key belongs to the public key (compares SPKI DER). */
export function keysMatch(privateKey: KeyObject, publicKey: KeyObject): boolean {
  const a = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const b = publicKey.export({ type: 'spki', format: 'der' });
  return a.equals(b);
}
