// Reads a stapled OCSP response (RFC 6960) far enough to say good / revoked / unknown, for doctor's report.
// Doctor only reports what the server staples; it does not check the responder's signature (the server's stapling
// code must do that), so the report says "stapled: good", never "verified".
import * as pkijs from 'pkijs';

export type StapledStatus = 'good' | 'revoked' | 'unknown' | 'none' | 'unparsable' | 'not_successful';

/**
 * The certificate status in a stapled response: `none` for no staple (null/empty), `not_successful` when the
 * responder answered with an error status, `unparsable` when the bytes are not an OCSP response.
 */
export function stapledStatus(der: Buffer | null | undefined): StapledStatus {
  if (!der || der.length === 0) return 'none';
  try {
    const response = pkijs.OCSPResponse.fromBER(new Uint8Array(der));
    if (response.responseStatus.valueBlock.valueDec !== 0 || !response.responseBytes) return 'not_successful';
    const basic = pkijs.BasicOCSPResponse.fromBER(new Uint8Array(response.responseBytes.response.valueBlock.valueHexView));
    const first = basic.tbsResponseData.responses[0];
    if (!first) return 'unparsable';
    // CertStatus ::= CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo, unknown [2] IMPLICIT UnknownInfo }
    const tag = (first.certStatus as { idBlock?: { tagNumber?: number } }).idBlock?.tagNumber;
    return tag === 0 ? 'good' : tag === 1 ? 'revoked' : tag === 2 ? 'unknown' : 'unparsable';
  } catch {
    return 'unparsable';
  }
}
