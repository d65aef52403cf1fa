// CLI: `certgate ca import` — adopt a CA made by hand with openssl, so issue/sign/revoke/crl work on it.
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import { importCa } from '../../pki/ca-setup.ts';
import { normalizeBaseUrl } from '../../pki/ca-url.ts';
import { caPaths } from '../../pki/ca-dir.ts';
import { isEncryptedKeyPem } from '../../pki/keys.ts';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { addDirOption, caDir, EXIT_CODES_HELP } from '../pki-options.ts';
import { addPassphraseOptions, readCaPassphrase } from '../secrets.ts';

interface Options {
  dir?: string;
  cert?: string;
  key?: string;
  chain?: string;
  url?: string;
  [flag: string]: unknown;
}

const HELP = `
Examples:
  certgate ca import --dir pki --cert ca.crt --key ca.key --passphrase-file ca-pass.txt
  certgate ca import --dir pki-issuing --cert intermediate.crt --key intermediate.key --chain root.crt \\
      --passphrase-env CA_PASS

An encrypted --key is decrypted with the passphrase given, and DIR/ca.key is written with that same passphrase
(encrypted PKCS#8, mode 0600). An unencrypted --key needs a passphrase to encrypt it, or --no-passphrase.
--key must not be readable by group or others (chmod 600 it first). --chain lists the CA's parents, issuer first.
Certificates the CA issued before the import are not known to certgate; revoking their serials is still allowed.
${EXIT_CODES_HELP}`;

export function register(program: Command, ctx: CliContext): void {
  const cmd = group(program, 'ca')
    .command('import')
    .description('adopt an existing CA (certificate + key, e.g. made with openssl)')
    .option('--cert <file>', 'the CA certificate, PEM (required)')
    .option('--key <file>', 'the CA private key, PEM, encrypted or not (required)')
    .option('--chain <file>', 'the CA\'s parent certificates, issuer first, PEM')
    .option('--url <url>', 'base URL `certgate ca serve` publishes this CA under, e.g. http://pki.example.com/issuing/ (certificates it signs point at its CRL there)');
  addDirOption(cmd);
  addPassphraseOptions(cmd, { allowNone: true });
  cmd.addHelpText('after', HELP).action(async (opts: Options) => run(opts, ctx));
}

async function run(opts: Options, ctx: CliContext): Promise<void> {
  if (!opts.cert || !opts.key) throw new UserError('CG_USAGE', 'ca import needs --cert FILE and --key FILE');
  if (opts.url !== undefined) normalizeBaseUrl(opts.url); // a typo fails before any prompt
  const certPath = resolve(ctx.cwd, opts.cert);
  const keyPath = resolve(ctx.cwd, opts.key);
  for (const [flag, path] of [['--cert', certPath], ['--key', keyPath], ['--chain', opts.chain && resolve(ctx.cwd, opts.chain)]]) {
    if (path && !existsSync(path)) throw new UserError('CG_FILE_NOT_FOUND', `${flag} ${path} does not exist`);
  }
  const encrypted = isEncryptedKeyPem(readFileSync(keyPath, 'utf8'));
  if (encrypted && opts.passphrase === false) {
    throw new UserError('CG_USAGE', `${opts.key} is encrypted: give its passphrase with --passphrase-file or --passphrase-env, not --no-passphrase`);
  }
  const passphrase = await readCaPassphrase(opts, ctx, {
    confirm: !encrypted, allowNone: !encrypted, label: encrypted ? `passphrase for ${opts.key}` : 'new CA key passphrase',
  });
  const dir = caDir(opts, ctx);
  const { ca, warnings } = await importCa({
    dir, certPath, keyPath, chainPath: opts.chain === undefined ? undefined : resolve(ctx.cwd, opts.chain), passphrase, baseUrl: opts.url,
  });
  for (const w of warnings) ctx.err(`certgate: warning: ${w}`);
  if (passphrase === null) ctx.err(`certgate: warning: ${caPaths(dir).key} is NOT encrypted: anyone who can read it can issue certificates`);
  ctx.out(`imported CA "${ca.cert.subject}" (${ca.keyAlgorithm}, until ${ca.cert.notAfter.toISOString()}) into ${dir}`);
  ctx.out(`next: certgate cert issue NAME --client --dir ${dir}`);
}
