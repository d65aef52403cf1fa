// CLI: `certgate ca rekey` — re-encrypt ca.key under a new passphrase (or today's scheme); the key itself stays.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { addDirOption, caDir, EXIT_CODES_HELP } from '../pki-options.ts';
import { addPassphraseOptions, readCaPassphrase, unlockCaForSigning } from '../secrets.ts';
import { reencryptCaKey } from '../../pki/ca-rekey.ts';
import { caPaths } from '../../pki/ca-dir.ts';

const HELP = `
Re-encrypts DIR/ca.key: the same key (every certificate stays valid), under a new passphrase, with certgate's
current scheme (PKCS#8, scrypt + AES-256-CBC). Use it to change the passphrase, to encrypt a key that was created
with --no-passphrase, or to upgrade a key written by an older certgate or by openssl. The current passphrase comes
from --passphrase-file/-env (or a prompt); the new one from --new-passphrase-file/-env (or a prompt, asked twice).
The new file is checked before it replaces the old one, atomically, mode 0600.

Examples:
  certgate ca rekey --dir pki --passphrase-file old-pass.txt --new-passphrase-file new-pass.txt
  certgate ca rekey --dir lab --new-passphrase-env LAB_CA_PASS          (encrypt a --no-passphrase key)
${EXIT_CODES_HELP}`;

export function register(program: Command, ctx: CliContext): void {
  const cmd = group(program, 'ca')
    .command('rekey')
    .description('re-encrypt the CA key under a new passphrase (the key and its certificates stay the same)');
  addDirOption(cmd);
  addPassphraseOptions(cmd, { what: 'the current CA key passphrase' });
  addPassphraseOptions(cmd, { prefix: 'new-', what: 'the new CA key passphrase' });
  cmd.addHelpText('after', HELP).action(async (opts: Record<string, unknown> & { dir?: string }) => {
    const dir = caDir(opts, ctx);
    const ca = await unlockCaForSigning(dir, opts, ctx);
    const passphrase = await readCaPassphrase(opts, ctx, { confirm: true, prefix: 'new-', label: 'new CA key passphrase' });
    reencryptCaKey(ca, passphrase as string);
    ctx.out(`re-encrypted ${caPaths(dir).key} (scrypt + AES-256-CBC); the CA certificate and every issued certificate are unchanged`);
  });
}
