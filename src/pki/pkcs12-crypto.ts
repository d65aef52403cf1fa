// Password-based encryption and MAC for PKCS#12: the RFC 7292 Appendix B KDF, PBES2 (modern) and SHA-1/3DES (legacy).
import { createCipheriv, createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { OID, Pbes2Params, Pbkdf2Params, Pkcs12PbeParams } from './pkcs12-asn1.ts';

/** Iteration count of every KDF: OpenSSL 3's default, which every importer we target accepts. */
export const PKCS12_ITERATIONS = 2048;
/** MAC salt length: OpenSSL's 8 bytes; macOS Keychain has been seen to reject p12 files with 16-byte MAC salts. */
const MAC_SALT_BYTES = 8;
const PBE_SALT_BYTES = 8;
const PBKDF2_SALT_BYTES = 16;

export type Pkcs12Hash = 'sha1' | 'sha256';

/** RFC 7292 B.1: the password as a BMPString (UTF-16BE) followed by two zero bytes. */
export function bmpPassword(password: string): Buffer {
  const out = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

/**
 * RFC 7292 B.2 key derivation. `id` 1 = cipher key, 2 = IV, 3 = MAC key. SHA-1 and SHA-256 both have 64-byte blocks.
 * Exported for known-answer tests.
 */
export function pkcs12Kdf(hash: Pkcs12Hash, password: Buffer, salt: Buffer, id: 1 | 2 | 3, iterations: number, length: number): Buffer {
  const v = 64;
  const u = hash === 'sha1' ? 20 : 32;
  const fill = (src: Buffer): Buffer => {
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length];
    return out;
  };
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([salt.length ? fill(salt) : Buffer.alloc(0), password.length ? fill(password) : Buffer.alloc(0)]);
  const blocks: Buffer[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let A = createHash(hash).update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash(hash).update(A).digest();
    blocks.push(A);
    const B = Buffer.alloc(v);
    for (let i = 0; i < v; i++) B[i] = A[i % u];
    // I_j = (I_j + B + 1) mod 2^(8v), big-endian, for each v-byte block of I
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k] + B[k] + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}

export interface Encrypted {
  algorithm: AlgorithmIdentifier;
  ciphertext: Buffer;
}

/** PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC; the password enters PBKDF2 as UTF-8 (as OpenSSL 3 does). */
export function encryptPbes2(password: string, plaintext: Buffer): Encrypted {
  const salt = randomBytes(PBKDF2_SALT_BYTES);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, PKCS12_ITERATIONS, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const params = new Pbes2Params({
    keyDerivationFunc: new AlgorithmIdentifier({
      algorithm: OID.pbkdf2,
      parameters: AsnConvert.serialize(
        new Pbkdf2Params({
          salt: new OctetString(salt),
          iterationCount: PKCS12_ITERATIONS,
          prf: new AlgorithmIdentifier({ algorithm: OID.hmacWithSHA256, parameters: null }),
        }),
      ),
    }),
    encryptionScheme: new AlgorithmIdentifier({ algorithm: OID.aes256Cbc, parameters: AsnConvert.serialize(new OctetString(iv)) }),
  });
  return { algorithm: new AlgorithmIdentifier({ algorithm: OID.pbes2, parameters: AsnConvert.serialize(params) }), ciphertext };
}

/** pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 C): key and IV from the B.2 KDF over the BMPString password. */
export function encryptLegacy3des(password: string, plaintext: Buffer): Encrypted {
  const salt = randomBytes(PBE_SALT_BYTES);
  const pw = bmpPassword(password);
  const key = pkcs12Kdf('sha1', pw, salt, 1, PKCS12_ITERATIONS, 24);
  const iv = pkcs12Kdf('sha1', pw, salt, 2, PKCS12_ITERATIONS, 8);
  const cipher = createCipheriv('des-ede3-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const params = new Pkcs12PbeParams({ salt: new OctetString(salt), iterations: PKCS12_ITERATIONS });
  return {
    algorithm: new AlgorithmIdentifier({ algorithm: OID.pbeWithSHAAnd3KeyTripleDesCbc, parameters: AsnConvert.serialize(params) }),
    ciphertext,
  };
}

export interface Pkcs12Mac {
  digestOid: string;
  digest: Buffer;
  salt: Buffer;
  iterations: number;
}

/** The PFX integrity MAC (RFC 7292 5.1 / B.4): HMAC keyed by the B.2 KDF with ID 3 over the AuthenticatedSafe bytes. */
export function computeMac(hash: Pkcs12Hash, password: string, data: Buffer, salt: Buffer = randomBytes(MAC_SALT_BYTES)): Pkcs12Mac {
  const keyLength = hash === 'sha1' ? 20 : 32;
  const key = pkcs12Kdf(hash, bmpPassword(password), salt, 3, PKCS12_ITERATIONS, keyLength);
  const digest = createHmac(hash, key).update(data).digest();
  return { digestOid: hash === 'sha1' ? OID.sha1 : OID.sha256, digest, salt, iterations: PKCS12_ITERATIONS };
}
