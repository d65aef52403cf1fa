// TEMPORARY stand-in for gateway-core's trust.ts (same contract) so the server can be tested; deleted when trust.ts lands.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import * as x509 from '../core/x509.ts';
import { splitCertificates, isPem } from '../core/pem.ts';
import type { ClientAuthConfig } from '../config/schema.ts';

export interface Trust {
  caPems: string[];
  generation: number;
  stale: string[];
  missingCrl: string[];
  revokedChain(chain: X509Certificate[]): { serial: string; reason: string | null } | null;
}
let gen = 0;
export function loadTrust(ca: ClientAuthConfig): Trust {
  const caPems = splitCertificates(readFileSync(ca.ca, 'utf8'));
  const cas = caPems.map((p) => new X509Certificate(p));
  const revoked = new Set<string>();
  const stale: string[] = [];
  const crls = ca.crl === undefined ? [] : Array.isArray(ca.crl) ? ca.crl : [ca.crl];
  for (const f of crls) {
    const data = readFileSync(f);
    const crl = new x509.X509Crl(isPem(data) ? data.toString('utf8') : new Uint8Array(data));
    const issuer = cas.find((c) => new x509.X509Certificate(c.raw.toString('base64')).subject === crl.issuer);
    if (!issuer) throw new Error('crl issuer unknown');
    if (crl.nextUpdate && crl.nextUpdate.getTime() < Date.now()) stale.push(f);
    for (const e of crl.entries) revoked.add(issuer.fingerprint256 + '|' + e.serialNumber.toUpperCase().replace(/^0+/, ''));
  }
  return {
    caPems, generation: ++gen, stale, missingCrl: [],
    revokedChain(chain) {
      for (let i = 0; i < chain.length - 1; i++) {
        const k = chain[i + 1].fingerprint256 + '|' + chain[i].serialNumber.toUpperCase().replace(/^0+/, '');
        if (revoked.has(k)) return { serial: chain[i].serialNumber, reason: null };
      }
      return null;
    },
  };
}
