// Whether a fetched CRL body may replace the last good one: parse, signature by a CA of the bundle, issuer, CRL number, thisUpdate. Pure.
import type { X509Certificate } from 'node:crypto';
import { crlBlocks, parseCrl, verifyCrlSignature, type ParsedCrl } from './crl-file.ts';
import { certNames, keyUsageAllows } from './trust.ts';
import type { DnKey } from '../identity/dn.ts';

/** Why a fetched CRL was refused (the `reason` of the `crl.refused` log line and metric label). */
export type CrlRefusal =
  | 'unparsable' | 'delta' | 'unknown_issuer' | 'bad_signature' | 'not_crl_signer' | 'issuer_changed'
  | 'number_backwards' | 'future_this_update';

/** What is remembered of the last accepted CRL of a URL: its issuers and each one's CRL number (absent: none). */
export interface AcceptedState {
  /** Issuer comparison key to CRL number as decimal text ("" for a CRL without a cRLNumber extension). */
  numbers: Record<DnKey, string>;
}

export type AcceptResult =
  | { ok: true; state: AcceptedState; crls: ParsedCrl[] }
  | { ok: false; reason: CrlRefusal; detail: string };

/** thisUpdate may be at most this far ahead of the local clock (clock skew between CA and gateway). */
export const MAX_FUTURE_MS = 5 * 60_000;

/**
 * Checks a fetched CRL body (PEM with one or more CRLs, or one DER CRL) against the trusted CAs and what was accepted
 * before from the same URL. `previous` null: nothing accepted yet (any CRL number goes); `allowReset`: an operator
 * accepted a CRL number reset (certgate crl accept-reset), so numbers may go down once.
 */
export function acceptCrl(
  body: Buffer, source: string, cas: readonly X509Certificate[], previous: AcceptedState | null, now: Date, allowReset = false,
): AcceptResult {
  const refuse = (reason: CrlRefusal, detail: string): AcceptResult => ({ ok: false, reason, detail });
  let blocks: Buffer[];
  try {
    blocks = crlBlocks(body);
  } catch {
    return refuse('unparsable', 'the body is not PEM or DER');
  }
  if (blocks.length === 0 || body.length === 0) return refuse('unparsable', 'no "X509 CRL" PEM block and not a DER CRL');
  const crls: ParsedCrl[] = [];
  const numbers: Record<DnKey, string> = {};
  for (const der of blocks) {
    let crl: ParsedCrl;
    try {
      crl = parseCrl(der, source);
    } catch (err) {
      return refuse('unparsable', `does not parse as a CRL (${(err as Error).message})`);
    }
    if (crl.delta) return refuse('delta', 'a delta CRL; certgate needs full CRLs');
    const issuers = cas.filter((ca) => certNames(ca).subjectKey === crl.issuerKey);
    if (issuers.length === 0) return refuse('unknown_issuer', `issued by "${crl.issuer}", which is not a CA of clientAuth.ca`);
    const signer = issuers.find((ca) => verifyCrlSignature(crl, ca.publicKey));
    if (!signer) return refuse('bad_signature', `the signature does not verify with the key of "${crl.issuer}"`);
    if (!keyUsageAllows(signer, 6)) return refuse('not_crl_signer', `"${crl.issuer}" may not sign CRLs (keyUsage lacks cRLSign)`);
    if (crl.thisUpdate.getTime() > now.getTime() + MAX_FUTURE_MS) {
      return refuse('future_this_update', `thisUpdate ${crl.thisUpdate.toISOString()} is more than 5 minutes ahead of this machine's clock`);
    }
    const before = previous?.numbers[crl.issuerKey];
    if (before !== undefined && before !== '' && !allowReset) {
      if (crl.crlNumber === undefined) return refuse('number_backwards', `"${crl.issuer}" served CRL number ${before} before, and this CRL has none`);
      if (crl.crlNumber < BigInt(before)) {
        return refuse('number_backwards', `CRL number ${crl.crlNumber} of "${crl.issuer}" is lower than ${before}, accepted before (after a CA restore: certgate crl accept-reset)`);
      }
    }
    crls.push(crl);
    numbers[crl.issuerKey] = crl.crlNumber === undefined ? '' : crl.crlNumber.toString();
  }
  if (previous) {
    const gone = Object.keys(previous.numbers).filter((k) => !(k in numbers));
    if (gone.length > 0 && !allowReset) return refuse('issuer_changed', `no longer carries a CRL of an issuer it served before (${gone.length} missing)`);
  }
  return { ok: true, state: { numbers }, crls };
}

/** The highest CRL number of an accepted body (for metrics and logs); undefined when none carries one. */
export function highestNumber(state: AcceptedState): bigint | undefined {
  let top: bigint | undefined;
  for (const v of Object.values(state.numbers)) if (v !== '' && (top === undefined || BigInt(v) > top)) top = BigInt(v);
  return top;
}
