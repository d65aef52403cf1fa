// CLI: `certgate doctor` — the `openssl s_client` + `curl -v` session against one TLS server, explained in plain words.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { UserError } from '../../core/errors.ts';
import { loadCredential } from '../../doctor/credentials.ts';
import type { ClientCredential } from '../../doctor/credentials.ts';
import { parseTarget } from '../../doctor/target.ts';
import { runDoctor } from '../../doctor/report.ts';
import { renderJson, renderText } from '../../doctor/render.ts';
import { readSecretLine } from '../secrets.ts';

interface DoctorOptions {
  cert?: string;
  key?: string;
  p12?: string;
  passwordFile?: string;
  ca?: string;
  servername?: string;
  timeout: string;
  json?: boolean;
}

function readInput(ctx: CliContext, flag: string, path: string): Buffer {
  try {
    return readFileSync(resolve(ctx.cwd, path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? 'CG_FILE_NOT_FOUND' : 'CG_FILE_UNREADABLE', `${flag} ${path}: cannot read it (${code ?? 'error'})`);
  }
}

async function credentialFrom(opts: DoctorOptions, ctx: CliContext): Promise<ClientCredential | undefined> {
  const pem = opts.cert !== undefined || opts.key !== undefined;
  if (pem && opts.p12 !== undefined) throw new UserError('CG_USAGE', 'give either --cert and --key, or --p12, not both');
  if (opts.passwordFile !== undefined && opts.p12 === undefined) throw new UserError('CG_USAGE', '--password-file goes with --p12');
  if (pem) {
    if (opts.cert === undefined || opts.key === undefined) throw new UserError('CG_USAGE', `--${opts.cert === undefined ? 'key' : 'cert'} needs --${opts.cert === undefined ? 'cert' : 'key'} too`);
    return loadCredential({
      kind: 'pem', cert: readInput(ctx, '--cert', opts.cert), key: readInput(ctx, '--key', opts.key),
      certLabel: `--cert ${opts.cert}`, keyLabel: `--key ${opts.key}`,
    });
  }
  if (opts.p12 === undefined) return undefined;
  const pfx = readInput(ctx, '--p12', opts.p12);
  // a .p12 made without a password still needs "" here; the password is never taken from argv
  const passphrase = opts.passwordFile === undefined ? '' : await readSecretLine(opts.passwordFile, '--password-file', ctx);
  return loadCredential({ kind: 'pfx', pfx, passphrase, label: `--p12 ${opts.p12}` });
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description('connect to a TLS server as a client would and explain what works and what does not')
    .argument('<target>', 'https://HOST[:PORT][/PATH] (also sends GET PATH) or HOST:PORT (GET / only if the server offers HTTP by ALPN)')
    .option('--cert <file>', 'client certificate (PEM, may hold its chain) to present')
    .option('--key <file>', 'the unencrypted private key of --cert')
    .option('--p12 <file>', 'client certificate and key as a PKCS#12 (.p12/.pfx) file instead of --cert/--key')
    .option('--password-file <file>', 'read the --p12 password from the first line of FILE')
    .option('--ca <file>', 'CA bundle (PEM) to verify the server with (default: the system store)')
    .option('--servername <name>', 'the name to send as SNI and check the server certificate against (default: the host)')
    .option('--timeout <seconds>', 'limit for each network step', '10')
    .option('--json', 'print the report as one JSON object (stable shape, see docs/doctor.md)')
    .addHelpText(
      'after',
      `
Checks, one line each (ok / warn / FAIL, with a fix): TCP connect; TLS protocol and cipher; the server's chain
against --ca (or the system store); its names against the host (or --servername); expiry of every certificate,
ours too; stapled OCSP; whether the server asks for a client certificate and from which CAs (visible in TLS 1.2
only); whether it accepted ours and, if not, the most likely reason; the HTTP status of GET, and a certgate
gateway's refusal reason code.

Examples:
  certgate doctor https://app.example.com --cert alice.crt --key alice.key
  certgate doctor https://127.0.0.1:8443/api --servername app.internal --ca ca.pem --p12 alice.p12 --password-file pw.txt
  certgate doctor db.example.com:15432 --cert app.crt --key app.key --ca ca.pem --json | jq '.checks[] | select(.level == "fail")'

Exit codes:
  0  every check passed (warnings may be printed)
  1  a check failed (CG_DOCTOR_FAILED), or a flag or file is wrong (the key does not match the certificate:
     CG_PKI_BAD_KEY; the .p12 password is wrong: CG_PKI_BAD_PASSWORD)
  2  internal error`,
    )
    .action(async (targetText: string, opts: DoctorOptions) => {
      const seconds = Number(opts.timeout);
      if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 300) {
        throw new UserError('CG_USAGE', `--timeout ${opts.timeout} must be a number of seconds between 0 and 300`);
      }
      const target = parseTarget(targetText, opts.servername);
      const credential = await credentialFrom(opts, ctx);
      const ca = opts.ca === undefined ? undefined : { pem: readInput(ctx, '--ca', opts.ca).toString('utf8'), label: `--ca ${opts.ca}` };
      if (ca && !ca.pem.includes('-----BEGIN CERTIFICATE-----')) {
        throw new UserError('CG_PKI_BAD_CERT', `--ca ${opts.ca} holds no PEM certificate`, { hint: 'pass the CA certificate(s) in PEM form' });
      }
      const report = await runDoctor({ target, ca, credential, timeoutMs: Math.round(seconds * 1000) });
      ctx.out(opts.json ? renderJson(report) : renderText(report));
      if (!report.ok) {
        const failed = report.checks.filter((c) => c.level === 'fail').map((c) => c.id);
        // the details went to stdout above; this one line on stderr carries the exit code
        throw new UserError('CG_DOCTOR_FAILED', `${targetText}: ${failed.length} check${failed.length === 1 ? '' : 's'} failed (${failed.join(', ')})`);
      }
    });
}
