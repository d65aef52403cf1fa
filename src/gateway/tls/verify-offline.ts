// Verifies a client certificate without a handshake (for `certgate explain`), with the reason codes the server uses.
import type { X509Certificate } from 'node:crypto';
import { certificateFields, children, oidToString, readTlv, valueOf } from '../identity/der.ts';
import { formatDn } from '../identity/dn.ts';
import type { ReasonCode } from '../policy/reasons.ts';
import { certNames, isSelfSigned, keyUsageAllows, type Trust } from './trust.ts';

export type OfflineVerification =
  | { ok: true; chain: X509Certificate[]; warnings: string[] }
  | { ok: false; reason: ReasonCode; detail: string; chain: X509Certificate[]; warnings: string[] };

export interface OfflineOptions {
  /** Certificates the client would send after its leaf (intermediates); untrusted, only used to build the chain. */
  intermediates?: X509Certificate[];
  /** clientAuth.staleCrl: `refuse` turns an out-of-date CRL into crl_stale; `enforce` (default) only warns. */
  staleCrl?: 'enforce' | 'refuse';
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const KU_DIGITAL_SIGNATURE = 0;
const KU_KEY_AGREEMENT = 4;
const KU_KEY_CERT_SIGN = 5;

function subjectOf(cert: X509Certificate): string {
  return formatDn(certificateFields(cert.raw).subject);
}

/** The extended key usage OIDs, or undefined when the extension is absent. */
function extKeyUsage(cert: X509Certificate): string[] | undefined {
  const ext = certificateFields(cert.raw).extensions.get('2.5.29.37');
  if (!ext) return undefined;
  return children(ext.value, readTlv(ext.value, 0)).map((oid) => oidToString(valueOf(ext.value, oid)));
}

type Step = { chain: X509Certificate[] } | { reason: ReasonCode; detail: string; chain: X509Certificate[] };

/** Builds leaf -> ... -> trusted self-signed root, checking each signature (OpenSSL needs a root: no partial chains). */
function buildChain(leaf: X509Certificate, trust: Trust, intermediates: X509Certificate[]): Step {
  const chain = [leaf];
  const pool = [...trust.cas, ...intermediates]; // trusted first, so a look-alike never shadows the real CA
  for (let step = 0; step < 16; step++) {
    const cur = chain[chain.length - 1];
    if (isSelfSigned(cur)) {
      if (trust.cas.some((ca) => ca.raw.equals(cur.raw))) return { chain };
      const detail = chain.length === 1
        ? `"${subjectOf(cur)}" is self-signed, not issued by a trusted CA`
        : `the chain ends at "${subjectOf(cur)}", a root that is not in the trusted CA bundle`;
      return { reason: 'unknown_ca', detail, chain };
    }
    const names = certNames(cur);
    const candidates = pool.filter((c) => c !== cur && certNames(c).subjectKey === names.issuerKey && cur.checkIssued(c));
    if (candidates.length === 0) {
      const issuer = formatDn(certificateFields(cur.raw).issuer);
      return { reason: 'unknown_ca', detail: `the issuer "${issuer}" of "${subjectOf(cur)}" is not in the trusted CA bundle`, chain };
    }
    const signer = candidates.find((c) => cur.verify(c.publicKey));
    if (!signer) {
      return { reason: 'invalid_certificate', detail: `the signature of "${subjectOf(cur)}" does not verify with the key of its issuer`, chain };
    }
    if (chain.some((c) => c.raw.equals(signer.raw))) return { reason: 'unknown_ca', detail: 'the chain loops', chain };
    chain.push(signer);
  }
  return { reason: 'chain_too_deep', detail: 'no trusted root within 16 certificates', chain };
}

/**
 * Verifies `leaf` against `trust` at `now`, as the gateway would: chain to a trusted root (signatures), depth
 * (certificates below the root, leaf included, at most `verifyDepth`), CA flags, purpose (EKU clientAuth or no
 * EKU), validity of every certificate, CRL coverage and revocation of every certificate, CRL staleness.
 * The first failure decides, in that order.
 */
export function verifyChainOffline(
  leaf: X509Certificate,
  trust: Trust,
  now: Date,
  verifyDepth: number,
  options: OfflineOptions = {},
): OfflineVerification {
  const warnings: string[] = [];
  const built = buildChain(leaf, trust, options.intermediates ?? []);
  const chain = built.chain;
  const fail = (reason: ReasonCode, detail: string): OfflineVerification => ({ ok: false, reason, detail, chain, warnings });
  if ('reason' in built) return fail(built.reason, built.detail);
  const below = chain.length - 1; // the root is the trust anchor
  if (below > verifyDepth) {
    return fail('chain_too_deep', `${below} certificates below the root; clientAuth.verifyDepth allows ${verifyDepth}`);
  }
  for (const ca of chain.slice(1)) {
    if (!ca.ca) return fail('invalid_certificate', `"${subjectOf(ca)}" signs certificates but is not a CA (basicConstraints)`);
    if (!keyUsageAllows(ca, KU_KEY_CERT_SIGN)) return fail('invalid_certificate', `"${subjectOf(ca)}" may not sign certificates (keyUsage lacks keyCertSign)`);
  }
  // the purpose check covers the leaf and the intermediates (a trusted root's own EKU is not checked, as in OpenSSL)
  for (const cert of chain.slice(0, Math.max(1, chain.length - 1))) {
    const eku = extKeyUsage(cert);
    if (eku && !eku.includes(CLIENT_AUTH)) {
      return fail('bad_purpose', `"${subjectOf(cert)}" has extendedKeyUsage without clientAuth`);
    }
  }
  if (!keyUsageAllows(leaf, KU_DIGITAL_SIGNATURE) && !keyUsageAllows(leaf, KU_KEY_AGREEMENT)) {
    return fail('bad_purpose', `"${subjectOf(leaf)}" has keyUsage without digitalSignature`);
  }
  for (const cert of chain) {
    if (now.getTime() < cert.validFromDate.getTime()) {
      return fail('not_yet_valid', `"${subjectOf(cert)}" is valid from ${cert.validFromDate.toISOString()}`);
    }
    if (now.getTime() > cert.validToDate.getTime()) {
      return fail('expired', `"${subjectOf(cert)}" expired at ${cert.validToDate.toISOString()}`);
    }
  }
  if (trust.hasCrls) {
    const uncovered = trust.uncoveredCa(chain);
    if (uncovered) return fail('crl_unavailable', `no CRL is configured for the CA "${uncovered}"; with CRLs set, every CA needs one`);
    const hit = trust.revokedChain(chain);
    if (hit) {
      const why = hit.reason ? ` (${hit.reason})` : '';
      return fail('revoked', `serial ${hit.serial} is revoked by "${hit.issuer}"${why}`);
    }
    const stale = trust.staleFor(chain, now);
    if (stale.length > 0) {
      if (options.staleCrl === 'refuse') return fail('crl_stale', `${stale.join('; ')} (clientAuth.staleCrl: refuse)`);
      warnings.push(...stale.map((s) => `${s}; its revocations are still enforced`));
    }
  }
  return { ok: true, chain, warnings };
}
