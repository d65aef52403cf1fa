// Test helper: long-lived CA, intermediate and leaf certificate files made by the openssl CLI in a temp dir, for
// config checks (preflight, `certgate check`) that need real files but no CA database. Keys never leave the dir.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { runProcess } from './cli.ts';
import * as x509 from '../../src/core/x509.ts';
import { buildCrl } from '../../src/pki/crl.ts';
import { toCryptoKey } from '../../src/pki/keys.ts';

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
  /** `extra`: more extension lines, e.g. "authorityInfoAccess=OCSP;URI:http://127.0.0.1:9". */
  async leaf(name: string, issuer: string, eku: 'serverAuth' | 'clientAuth', san: string, extra = ''): Promise<void> {
    writeFileSync(join(this.dir, `${name}.ext`), `basicConstraints=critical,CA:false\nextendedKeyUsage=${eku}\nsubjectAltName=${san}\n${extra ? `${extra}\n` : ''}`);
    await this.newKeyAndCsr(name);
    await this.openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-days', '400', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  }

  /**
   * `file`: a PEM CRL signed by CA `caName` (made by certgate's own CRL builder, so dates can lie in the past), revoking
   * the given serials (hex). Defaults: valid from an hour ago for a day.
   */
  async crl(caName: string, file: string, options: { revoke?: string[]; thisUpdate?: Date; nextUpdate?: Date } = {}): Promise<void> {
    const thisUpdate = options.thisUpdate ?? new Date(Date.now() - 3_600_000);
    const pem = await buildCrl({
      issuerCert: new x509.X509Certificate(readFileSync(join(this.dir, `${caName}.crt`), 'utf8')),
      signingKey: toCryptoKey(createPrivateKey(readFileSync(join(this.dir, `${caName}.key`))), 'ec-p256'),
      entries: (options.revoke ?? []).map((serial) => ({ serial, revokedAt: thisUpdate, reason: 'keyCompromise' })),
      crlNumber: 1n,
      thisUpdate,
      nextUpdate: options.nextUpdate ?? new Date(thisUpdate.getTime() + 86_400_000),
    });
    writeFileSync(join(this.dir, file), pem);
  }
}
