// CLI: `certgate cert sign CSR.pem` — certify a key someone else generated, after checking the request.
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import { assertNewFilePath, writeFileAtomic } from '../../core/fs-atomic.ts';
import { CaStore } from '../../pki/store.ts';
import { signCsr } from '../../pki/csr.ts';
import type { CliContext } from '../context.ts';
import { group } from '../program.ts';
import { addDirOption, addProfileOptions, addSanOptions, caDir, leafProfile, parseDays, sanOptions, EXIT_CODES_HELP } from '../pki-options.ts';
import type { LeafFlags } from '../pki-options.ts';
import { addPassphraseOptions, unlockCaForSigning } from '../secrets.ts';

interface Options extends LeafFlags {
  name?: string;
  out?: string;
}

const HELP = `
Examples:
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout app.key -subj /CN=app.example.com \\
      -addext subjectAltName=DNS:app.example.com -out app.csr
  certgate cert sign app.csr --server --out app.crt --passphrase-file ca-pass.txt
  certgate cert sign alice.csr --client --name alice --days 90 --out -        (PEM on stdout)

The CSR's self-signature is verified. Only its public key, its subject and the SANs the profile carries are used
(server: DNS, IP; client: DNS, email, URI); other requested extensions are ignored, and CA:true requests, bad
signatures, unsupported keys (anything but EC P-256/P-384 and RSA 2048/3072/4096) and subjects with more than one
CN are refused. The subject comes from the requester and is printed: check its O/OU before handing the certificate
over, since gateway rules may grant access on them. NAME defaults to the subject's CN. The certificate is always kept in DIR/issued/NAME-SERIAL.crt; --out also writes it to FILE.
${EXIT_CODES_HELP}`;

export function register(program: Command, ctx: CliContext): void {
  const cmd = group(program, 'cert')
    .command('sign')
    .argument('<CSR>', 'the certificate signing request, PEM or DER')
    .description('sign a certificate signing request (CSR) as a client or server certificate');
  addProfileOptions(cmd);
  addSanOptions(cmd);
  cmd
    .option('--name <name>', 'the certificate\'s handle in this CA (default: the CSR\'s CN)')
    .option('--days <n>', 'validity in days (default 365)', parseDays)
    .option('--out <file>', 'also write the certificate to FILE ("-" for stdout)');
  addDirOption(cmd);
  addPassphraseOptions(cmd);
  cmd.addHelpText('after', HELP).action(async (csr: string, opts: Options) => run(csr, opts, ctx));
}

async function run(csrArg: string, opts: Options, ctx: CliContext): Promise<void> {
  const profile = leafProfile(opts);
  const csrPath = resolve(ctx.cwd, csrArg);
  if (!existsSync(csrPath)) throw new UserError('CG_FILE_NOT_FOUND', `CSR ${csrArg} does not exist`);
  const out = opts.out === undefined || opts.out === '-' ? opts.out : resolve(ctx.cwd, opts.out);
  // before anything is signed or recorded: a refused --out must leave the store as it was
  if (out && out !== '-') assertNewFilePath(out, `--out ${opts.out}`);
  const data = readFileSync(csrPath);
  const dir = caDir(opts, ctx);
  const ca = await unlockCaForSigning(dir, opts, ctx);
  const store = CaStore.open(dir);
  let result;
  try {
    result = await signCsr(ca, store, { data, source: csrArg, profile, name: opts.name, sans: sanOptions(opts), days: opts.days });
  } finally {
    store.close();
  }
  for (const s of result.droppedSans) ctx.err(`certgate: note: ${s} from the CSR is not carried by ${profile} certificates and was left out`);
  const r = result.record;
  if (out === '-') {
    ctx.out(result.certPem.trimEnd());
    // the subject comes from the requester: show what was vouched for (its O/OU may grant access)
    ctx.err(`certgate: note: signed subject: ${r.subject}${r.sans.length ? `; names: ${r.sans.join(', ')}` : ''}`);
  } else {
    if (out) writeFileAtomic(out, result.certPem, { mode: 0o644, exclusive: true });
    ctx.out(`signed ${profile} certificate "${r.name}" serial ${r.serial} (until ${r.notAfter})`);
    ctx.out(`  subject: ${r.subject}`);
    // SANs from the CSR can grant access too (gateway `san:` rules): show them as well
    if (r.sans.length > 0) ctx.out(`  names: ${r.sans.join(', ')}`);
    ctx.out(`  certificate: ${out ?? result.certPath}`);
  }
}
