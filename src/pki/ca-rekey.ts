// Re-encrypting a CA key at rest: a new passphrase, or the current encryption scheme for a key written by an older
// certgate (PBKDF2 with 2048 iterations) or by openssl. The key itself, and so every certificate, stays the same.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../core/fs-atomic.ts';
import { InternalError } from '../core/errors.ts';
import { caPaths } from './ca-dir.ts';
import { publicKeyOf } from './ca.ts';
import type { UnlockedCa } from './ca.ts';
import { exportPrivateKeyPem, importPrivateKeyPem, keysMatch } from './keys.ts';
import { CaStore } from './store.ts';

/** Rewrites DIR/ca.key (0600, atomically) encrypted under `passphrase`; checks the new file before it replaces the old. */
export function reencryptCaKey(ca: UnlockedCa, passphrase: string): void {
  const p = caPaths(ca.dir);
  const pem = exportPrivateKeyPem(ca.keyObject, passphrase);
  // read back what we are about to write: a file that would not unlock must never replace a working one
  const check = importPrivateKeyPem(pem, passphrase, p.key);
  if (!keysMatch(check, publicKeyOf(ca.cert))) throw new InternalError('CG_INTERNAL', 'the re-encrypted key does not match the CA certificate; ca.key was left as it was');
  const before = readFileSync(p.key, 'utf8').includes('ENCRYPTED') ? 'encrypted' : 'unencrypted';
  writeFileAtomic(p.key, pem, { mode: 0o600 });
  const store = CaStore.open(ca.dir);
  try {
    store.transaction(() => store.audit('ca.rekey', { before, after: 'pbes2-scrypt-aes256' }));
  } finally {
    store.close();
  }
}
