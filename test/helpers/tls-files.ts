// Test helper: long-lived CA, intermediate and leaf certificate files made by the openssl CLI in a temp dir, for
// config checks (preflight, `certgate check`) that need real files but no CA database. Keys never leave the dir.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProcess } from './cli.ts';

export class TlsFiles {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async openssl(...args: string[]): Promise<void> {
    const r = await runProcess('openssl', args, { cwd: this.dir, timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  }

  private async newKeyAndCsr(name: string): Promise<void> {
    await this.openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    chmodSync(join(this.dir, `${name}.key`), 0o600);
  }

  /** `name.crt` / `name.key`: a CA valid for about ten years, self-signed or issued by `issuer`. */
  async ca(name: string, issuer?: string): Promise<void> {
    const ext = 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n';
    if (!issuer) {
      await this.openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`,
        '-days', '3650', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
      chmodSync(join(this.dir, `${name}.key`), 0o600);
      return;
    }
    writeFileSync(join(this.dir, `${name}.ext`), ext + 'authorityKeyIdentifier=keyid\n');
    await this.newKeyAndCsr(name);
    await this.openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-days', '3000', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  }

  /** `name.crt` / `name.key`: a leaf valid for 400 days, with the given extended key usage and subjectAltName. */
  async leaf(name: string, issuer: string, eku: 'serverAuth' | 'clientAuth', san: string): Promise<void> {
    writeFileSync(join(this.dir, `${name}.ext`), `basicConstraints=critical,CA:false\nextendedKeyUsage=${eku}\nsubjectAltName=${san}\n`);
    await this.newKeyAndCsr(name);
    await this.openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-days', '400', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  }
}
