// CLI: `certgate ca create` — a root CA, or an intermediate signed by another certgate CA.
import type { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import { createCa } from '../../pki/ca-setup.ts';
import { normalizeBaseUrl } from '../../pki/ca-url.ts';
import { caPaths, resolveCaDir } from '../../pki/ca-dir.ts';
import { parseKeyType, KEY_TYPES } from '../../pki/keys.ts';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { addDirOption, caDir, parseDays, EXIT_CODES_HELP } from '../pki-options.ts';
import { addPassphraseOptions, readCaPassphrase, unlockCaForSigning } from '../secrets.ts';

interface Options {
  dir?: string;
  name?: string;
  key: string;
  days?: number;
  intermediate?: boolean;
  parent?: string;
  pathlen?: string;
  url?: string;
  [flag: string]: unknown;
}

const HELP = `
Examples:
  certgate ca create --dir pki --name "Example Root CA" --passphrase-file ca-pass.txt
  certgate ca create --dir pki-issuing --intermediate --parent pki --name "Example Issuing CA" \\
      --passphrase-file issuing-pass.txt --parent-passphrase-file ca-pass.txt
  certgate ca create --dir /tmp/lab --name "Lab CA" --no-passphrase        (unencrypted key: labs only)

Writes DIR/ca.crt, DIR/ca.key (mode 0600; encrypted PKCS#8, scrypt + AES-256-CBC, unless --no-passphrase),
DIR/chain.pem (this CA and its parents) and DIR/certgate.db. An intermediate gets pathlen 0 (it signs only leaves)
unless --pathlen says otherwise, is recorded in the parent's database, and without --days ends when its parent does.
The parent's passphrase comes from --parent-passphrase-file/-env, else the new CA's passphrase is tried, else a prompt.
${EXIT_CODES_HELP}`;

export function register(program: Command, ctx: CliContext): void {
  const cmd = group(program, 'ca')
    .command('create')
    .description('create a root CA, or an intermediate CA signed by another certgate CA')
    .option('--name <name>', 'the CA\'s common name, e.g. "Example CA" (required)')
    .option('--key <type>', `key type: ${KEY_TYPES.join(', ')}`, 'ec-p256')
    .option('--days <n>', 'validity in days (default 3650; an intermediate: up to its parent\'s end)', parseDays)
    .option('--intermediate', 'create an intermediate CA signed by the CA in --parent')
    .option('--parent <dir>', 'the parent CA directory (with --intermediate)')
    .option('--pathlen <n>', 'how many CA levels may follow an intermediate (default 0)')
    .option('--url <url>', 'base URL `certgate ca serve` publishes this CA under, e.g. http://pki.example.com/issuing/ (certificates it signs point at its CRL there)');
  addDirOption(cmd);
  addPassphraseOptions(cmd, { allowNone: true, what: 'the new CA key passphrase' });
  addPassphraseOptions(cmd, { prefix: 'parent-', what: 'the parent CA key passphrase' });
  cmd.addHelpText('after', HELP).action(async (opts: Options) => run(opts, ctx));
}

async function run(opts: Options, ctx: CliContext): Promise<void> {
  if (!opts.name || opts.name.trim() === '') throw new UserError('CG_USAGE', 'ca create needs --name "Your CA name"');
  if (opts.intermediate && !opts.parent) throw new UserError('CG_USAGE', '--intermediate needs --parent PARENTDIR (the signing CA)');
  if (opts.parent && !opts.intermediate) throw new UserError('CG_USAGE', '--parent is only for --intermediate');
  if (opts.pathlen !== undefined && (!opts.intermediate || !/^\d+$/.test(opts.pathlen))) {
    throw new UserError('CG_USAGE', '--pathlen takes a whole number ≥ 0 and only applies with --intermediate');
  }
  const keyType = parseKeyType(opts.key);
  if (opts.url !== undefined) normalizeBaseUrl(opts.url); // a typo fails before any prompt
  const dir = caDir(opts, ctx);
  const passphrase = await readCaPassphrase(opts, ctx, { confirm: true, allowNone: true, label: 'new CA key passphrase' });
  let parent;
  if (opts.intermediate) {
    const parentDir = resolveCaDir(opts.parent, ctx.env, ctx.cwd);
    // without parent flags, try the new CA's passphrase first: many keep one passphrase per hierarchy
    parent = await unlockCaForSigning(parentDir, opts, ctx, { prefix: 'parent-', fallback: passphrase });
  }
  const ca = await createCa({
    dir, name: opts.name, keyType, days: opts.days, passphrase, parent,
    pathLength: opts.pathlen === undefined ? undefined : Number(opts.pathlen), baseUrl: opts.url,
  });
  if (passphrase === null) {
    ctx.err(`certgate: warning: ${caPaths(dir).key} is NOT encrypted: anyone who can read it can issue certificates`);
  }
  const p = caPaths(dir);
  ctx.out(`created ${parent ? 'intermediate' : 'root'} CA "${opts.name.trim()}" (${keyType}, until ${ca.cert.notAfter.toISOString()})`);
  ctx.out(`  certificate: ${p.cert}`);
  ctx.out(`  key:         ${p.key}${passphrase === null ? ' (unencrypted)' : ''}`);
  ctx.out(`  chain:       ${p.chain}`);
  if (ca.baseUrl) ctx.out(`  base URL:    ${ca.baseUrl} (certificates it signs point at ${ca.baseUrl}crl.crl; publish with certgate ca serve)`);
  ctx.out(`next: certgate cert issue NAME --client --dir ${dir}`);
}
