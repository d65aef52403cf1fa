// CLI: `certgate cert issue` — a new key and a client or server certificate, optionally packed as a .p12.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import { CaStore } from '../../pki/store.ts';
import { issueCertificate } from '../../pki/issue.ts';
import { parseKeyType, KEY_TYPES } from '../../pki/keys.ts';
import { checkP12Options, writeP12 } from '../../pki/distribution.ts';
import { parsePlatform, PLATFORMS } from '../../pki/platforms.ts';
import type { Platform } from '../../pki/platforms.ts';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import {
  addDirOption, addProfileOptions, addSanOptions, caDir, collect, leafProfile, parseDays, sanOptions, EXIT_CODES_HELP,
} from '../pki-options.ts';
import type { LeafFlags } from '../pki-options.ts';
import { addPassphraseOptions, readPassword, unlockCaForSigning } from '../secrets.ts';

interface Options extends LeafFlags {
  o?: string;
  ou?: string[];
  key: string;
  p12?: string;
  passwordFile?: string;
  legacy?: boolean;
  for?: string;
  json?: boolean;
}

const HELP = `
Examples:
  certgate cert issue alice --client --email alice@example.com --passphrase-file ca-pass.txt
  certgate cert issue app --server --dns app.example.com --ip 10.0.0.5 --days 90 --passphrase-env CA_PASS
  certgate cert issue bob --client --o Acme --ou ops --p12 bob.p12 --for ios

Writes DIR/issued/NAME-SERIAL.crt and NAME-SERIAL.key (mode 0600). NAME becomes the CN and must not name another
valid certificate in this CA (renew or revoke that one first). Validity defaults to 365 days and never runs past the
CA's own. With --p12 the key, certificate and CA chain are also packed into a PKCS#12 file (mode 0600); without
--password-file a strong password is generated and shown once on the terminal.
${EXIT_CODES_HELP}`;

export function register(program: Command, ctx: CliContext): void {
  const cmd = group(program, 'cert')
    .command('issue')
    .argument('<NAME>', 'the certificate\'s name: its CN and its handle in this CA')
    .description('generate a key and issue a client or server certificate for it');
  addProfileOptions(cmd);
  addSanOptions(cmd);
  cmd
    .option('--o <organization>', 'subject O')
    .option('--ou <unit>', 'subject OU (repeatable)', collect)
    .option('--days <n>', 'validity in days (default 365)', parseDays)
    .option('--key <type>', `key type: ${KEY_TYPES.join(', ')}`, 'ec-p256')
    .option('--p12 <file>', 'also write a PKCS#12 (.p12) bundle to FILE')
    .option('--password-file <file>', 'the .p12 password, first line of FILE (default: generated and shown once)')
    .option('--legacy', 'legacy .p12 encoding (3DES, SHA-1 MAC) for old macOS/iOS/Android/Windows')
    .option('--for <platform>', `pick the .p12 encoding for a platform and print import steps: ${PLATFORMS.join(', ')}`)
    .option('--json', 'print the result as JSON');
  addDirOption(cmd);
  addPassphraseOptions(cmd);
  cmd.addHelpText('after', HELP).action(async (name: string, opts: Options) => run(name, opts, ctx));
}

async function run(name: string, opts: Options, ctx: CliContext): Promise<void> {
  const profile = leafProfile(opts);
  const keyType = parseKeyType(opts.key);
  if (!opts.p12 && (opts.passwordFile || opts.legacy || opts.for)) {
    throw new UserError('CG_USAGE', '--password-file, --legacy and --for only apply with --p12 FILE');
  }
  const platform: Platform | undefined = opts.for === undefined ? undefined : parsePlatform(opts.for);
  const p12Out = opts.p12 === undefined ? undefined : resolve(ctx.cwd, opts.p12);
  const password = await readPassword(opts, ctx); // once: it may be a pipe
  // refuse a bad --p12 target or password file before anything is signed
  if (p12Out) checkP12Options({ out: p12Out, password });
  const dir = caDir(opts, ctx);
  const ca = await unlockCaForSigning(dir, opts, ctx);
  const store = CaStore.open(dir);
  let result;
  try {
    result = await issueCertificate(ca, store, {
      name, profile, keyType, sans: sanOptions(opts), o: opts.o, ous: opts.ou, days: opts.days,
    });
  } finally {
    store.close();
  }
  const r = result.record;
  if (opts.json) {
    ctx.out(JSON.stringify({ serial: r.serial, name: r.name, profile: r.profile, subject: r.subject, sans: r.sans,
      notBefore: r.notBefore, notAfter: r.notAfter, fingerprint: r.fingerprint, cert: result.certPath, key: result.keyPath,
      p12: p12Out ?? null }, null, 2));
  } else {
    ctx.out(`issued ${profile} certificate "${r.name}" serial ${r.serial} (until ${r.notAfter})`);
    ctx.out(`  certificate: ${result.certPath}`);
    ctx.out(`  key:         ${result.keyPath}`);
  }
  if (p12Out) {
    await writeP12({
      ca, certPem: result.certPem, keyPem: readFileSync(result.keyPath!, 'utf8'), name: r.name, out: p12Out, password,
      legacy: opts.legacy, platform,
    }, opts.json ? { out: (s) => ctx.err(s), err: (s) => ctx.err(s) } : ctx);
  }
}
