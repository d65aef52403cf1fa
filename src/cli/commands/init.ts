// CLI: `certgate init` — a CA, a gateway certificate, a first client certificate (.p12) and a certgate.yaml, in one go.
import { resolve, relative } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { addPassphraseOptions, readCaPassphrase, readPassword } from '../secrets.ts';
import { collect } from '../pki-options.ts';
import { createWorkspace, defaultCaName, assertFreshWorkspace } from '../workspace.ts';
import { writeP12 } from '../../pki/distribution.ts';

interface InitOptions {
  dir: string;
  host?: string[];
  listen: string;
  upstream: string;
  client: string;
  caName?: string;
  p12: boolean;
  passwordFile?: string;
  [flag: string]: unknown;
}

const HELP = `
Creates, inside DIR (default: the current directory):
  pki/                 a root CA (see \`certgate ca create\`), its CRL bundle and certgate.db
  pki/issued/gateway-* the gateway's server certificate for --host names (default localhost, 127.0.0.1)
  pki/issued/NAME-*    a client certificate for --client NAME (default "me")
  NAME.p12             the same client certificate for a browser or phone (password shown once), in the legacy
                       encoding (3DES, SHA-1 MAC) that macOS, iOS, Android, Windows and NSS all import
  certgate.yaml        listens on --listen, asks for client certificates of this CA, proxies to --upstream
Refuses to overwrite an existing CA or certgate.yaml.

Examples:
  certgate init --upstream http://127.0.0.1:3000 --passphrase-file ca-pass.txt
  certgate init --dir /etc/certgate --host app.example.com --listen 0.0.0.0:443 --client alice
  certgate serve -c certgate.yaml

Exit codes:
  0  done
  1  bad flags, an existing CA or config, or no passphrase source without a terminal`;

/** A host for a URL: IPv6 addresses go in brackets. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('init')
    .description('set up a CA, a gateway certificate, a client certificate and a certgate.yaml')
    .option('--dir <dir>', 'folder to set up', '.')
    .option('--host <name>', 'a name or IP the gateway answers to (repeatable; default localhost and 127.0.0.1)', collect)
    .option('--listen <address>', 'address the gateway listens on', '127.0.0.1:8443')
    .option('--upstream <url>', 'the app to protect', 'http://127.0.0.1:3000')
    .option('--client <name>', 'NAME of the first client certificate', 'me')
    .option('--ca-name <name>', 'the CA\'s common name (default "certgate CA (<hostname>)")')
    .option('--no-p12', 'do not write NAME.p12')
    .option('--password-file <file>', 'the .p12 password, first line of FILE (default: generated and shown once)');
  addPassphraseOptions(cmd, { allowNone: true });
  cmd.addHelpText('after', HELP).action(async (opts: InitOptions) => {
    const dir = resolve(ctx.cwd, opts.dir);
    const p12Out = opts.p12 ? resolve(dir, `${opts.client}.p12`) : undefined;
    // before asking for a passphrase, and before anything is created: every file init writes must be free
    assertFreshWorkspace(dir, p12Out ? [p12Out] : []);
    const passphrase = await readCaPassphrase(opts, ctx, { confirm: true, allowNone: true });
    const password = opts.p12 ? await readPassword(opts, ctx) : undefined; // read once, before anything is created
    const hosts = opts.host ?? ['localhost', '127.0.0.1'];
    const ws = await createWorkspace({
      dir,
      hosts,
      listen: opts.listen,
      upstream: opts.upstream,
      client: opts.client,
      caName: opts.caName ?? defaultCaName(),
      passphrase,
    });
    if (passphrase === null) ctx.err(`certgate: warning: ${ws.pkiDir}/ca.key is NOT encrypted: anyone who can read it can issue certificates`);
    const show = (p: string) => relative(ctx.cwd, p) || '.';
    ctx.out(`created CA in ${show(ws.pkiDir)}, gateway certificate ${show(ws.server.certPath)}, client certificate "${opts.client}"`);
    if (p12Out) {
      // One file for whichever device the user reaches for first. The modern encoding (AES, PBES2) is refused by
      // macOS Keychain, iOS, older Android and older Windows; the legacy one imports everywhere, and with a generated
      // 120-bit password its weaker KDF costs nothing. `cert export --for firefox` writes a modern one when wanted.
      const out = p12Out;
      await writeP12({
        ca: { chainPems: ws.chainPems }, certPem: ws.client.certPem, keyPem: readFileSync(ws.client.keyPath!, 'utf8'),
        name: opts.client, out, password, legacy: true,
      }, ctx);
    }
    const cfg = show(ws.configPath);
    ctx.out(`wrote ${cfg}
next:
  certgate check -c ${cfg}
  certgate serve -c ${cfg}
  curl --cacert ${show(ws.pkiDir)}/ca.crt --cert ${show(ws.client.certPath)} --key ${show(ws.client.keyPath!)} https://${urlHost(hosts[0])}:${opts.listen.split(':').pop()}/
  certgate client-config ${opts.client} --dir ${show(ws.pkiDir)} --browser     # put the certificate in a browser`);
  });
}
