// Encrypted PKCS#8 (RFC 5958) for keys at rest: PBES2 with scrypt + AES-256-CBC, readable by OpenSSL and node:crypto.
import { createCipheriv, randomBytes, scryptSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { EncryptedData, EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { pemEncode } from '../core/pem.ts';
import { PBES2_OID, Pbes2Params, ScryptParams } from './pbes2-asn1.ts';

/**
 * scrypt cost for keys at rest. Why these numbers: OpenSSL (and so `openssl pkey` and Node's createPrivateKey) refuses
 * PKCS#8 scrypt parameters needing more than 32 MiB (128·r·(N+2) + 128·r·p bytes, SCRYPT_MAX_MEM), which caps N·r at
 * 2^14·8 (16 MiB); N=2^15, r=8 is already refused. p=5 then brings the work to OWASP's scrypt floor (the listed
 * equivalent of N=2^17, r=8, p=1) while every guess still needs 16 MiB, which PBKDF2 would not demand of a GPU.
 * OpenSSL's own `-scrypt` default is N=2^14, r=8, p=1, five times cheaper for an attacker.
 */
export const KEY_SCRYPT = { N: 2 ** 14, r: 8, p: 5 } as const;
const SALT_BYTES = 16;
const AES_KEY_BYTES = 32;
const IV_BYTES = 16;
/** Node's own scrypt memory guard, set to the OpenSSL limit the parameters above are chosen to fit. */
const SCRYPT_MAXMEM = 32 * 1024 * 1024;

/**
 * `-----BEGIN ENCRYPTED PRIVATE KEY-----` PEM: EncryptedPrivateKeyInfo whose algorithm is PBES2 (scrypt KEY_SCRYPT,
 * random 16-byte salt; AES-256-CBC, random IV) over the key's unencrypted PKCS#8 DER. The passphrase enters scrypt as
 * UTF-8, as OpenSSL and node:crypto take it, so both decrypt it with the same passphrase.
 */
export function encryptPrivateKeyPkcs8(key: KeyObject, passphrase: string): string {
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const aesKey = scryptSync(Buffer.from(passphrase, 'utf8'), salt, AES_KEY_BYTES, { ...KEY_SCRYPT, maxmem: SCRYPT_MAXMEM });
  const plain = key.export({ type: 'pkcs8', format: 'der' });
  const cipher = createCipheriv('aes-256-cbc', aesKey, iv);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  // the derived key and the plaintext key are secrets: don't leave them in the heap longer than needed
  aesKey.fill(0);
  plain.fill(0);
  const pbes2 = new Pbes2Params({
    keyDerivationFunc: new AlgorithmIdentifier({
      algorithm: PBES2_OID.scrypt,
      parameters: AsnConvert.serialize(
        new ScryptParams({
          salt: new OctetString(salt),
          costParameter: KEY_SCRYPT.N,
          blockSize: KEY_SCRYPT.r,
          parallelizationParameter: KEY_SCRYPT.p,
        }),
      ),
    }),
    encryptionScheme: new AlgorithmIdentifier({ algorithm: PBES2_OID.aes256Cbc, parameters: AsnConvert.serialize(new OctetString(iv)) }),
  });
  const info = new EncryptedPrivateKeyInfo({
    encryptionAlgorithm: new AlgorithmIdentifier({ algorithm: PBES2_OID.pbes2, parameters: AsnConvert.serialize(pbes2) }),
    encryptedData: new EncryptedData(ciphertext),
  });
  return pemEncode('ENCRYPTED PRIVATE KEY', AsnConvert.serialize(info));
}
