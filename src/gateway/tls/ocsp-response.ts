// OCSP for stapling, without I/O: the responder URL of a served certificate, the request to send, and the checks a
// response must pass before it may be stapled (RFC 6960 §3.2, the same ones nginx's ssl_stapling_verify makes).
import { createHash } from 'node:crypto';
import * as pkijs from 'pkijs';
import { pemDecodeAll } from '../../core/pem.ts';
import { certificateFields } from '../identity/der.ts';
import { formatDn } from '../identity/dn.ts';

const OID_AIA = '1.3.6.1.5.5.7.1.1';
const OID_AD_OCSP = '1.3.6.1.5.5.7.48.1';
const OID_OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
const OID_EKU = '2.5.29.37';
const OID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';

/** How long a response without nextUpdate ("newer information is always available") is stapled after thisUpdate. */
export const NO_NEXT_UPDATE_VALIDITY_MS = 60 * 60_000;
/** Clock difference tolerated between certgate and the responder, for thisUpdate in the future and nextUpdate past. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** A served certificate that names an OCSP responder, with the issuer its responses are checked against. */
export interface OcspTarget {
  leaf: pkijs.Certificate;
  issuer: pkijs.Certificate;
  /** The first http:// OCSP URL of the leaf's Authority Information Access extension. */
  url: string;
  /** SHA-256 of the leaf's DER, hex: the key the TLS server looks staples up by. */
  fingerprint: string;
  /** RFC 4514, as in the expiry gauge and X-Client-Subject. */
  subject: string;
  /** Serial number in hex, as openssl prints it. */
  serial: string;
}

/** Why a certificate is not stapled at all (nothing to fetch), in words for the log. */
export type NoTarget = { skip: 'no_responder' | 'no_issuer' | 'unsupported_url' | 'unparsable'; detail: string };

/** Why a response was refused. Each is a label of certgate_ocsp_fetch_errors_total and the `reason` of the log line. */
export const OCSP_REFUSALS = ['malformed', 'not_successful', 'not_basic', 'cert_id_mismatch', 'unknown_signer',
  'unauthorized_signer', 'bad_signature', 'not_yet_valid', 'expired'] as const;
export type OcspRefusal = (typeof OCSP_REFUSALS)[number];

export type OcspVerdict =
  | { ok: true; status: 'good' | 'revoked' | 'unknown'; thisUpdate: Date; nextUpdate: Date | undefined; validUntil: Date; revokedAt?: Date }
  | { ok: false; reason: OcspRefusal; detail: string };

function toArrayBuffer(der: Uint8Array): ArrayBuffer {
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}

function parseCertificate(der: Uint8Array): pkijs.Certificate {
  return pkijs.Certificate.fromBER(toArrayBuffer(der));
}

function derOf(cert: pkijs.Certificate): Uint8Array {
  return new Uint8Array(cert.toSchema(true).toBER(false));
}

function sameDer(a: pkijs.Certificate, b: pkijs.Certificate): boolean {
  return Buffer.from(derOf(a)).equals(Buffer.from(derOf(b)));
}

function ocspUrls(leaf: pkijs.Certificate): string[] {
  const ext = leaf.extensions?.find((e) => e.extnID === OID_AIA);
  if (!ext) return [];
  // pkijs parses the extensions it knows (AIA and EKU among them) when it reads the certificate
  const info = ext.parsedValue;
  if (!(info instanceof pkijs.InfoAccess)) return [];
  // GeneralName type 6 is a uniformResourceIdentifier
  return info.accessDescriptions
    .filter((d) => d.accessMethod === OID_AD_OCSP && d.accessLocation.type === 6)
    .map((d) => String(d.accessLocation.value));
}

/**
 * The stapling target of a certificate file's text (leaf first, then its chain), or why there is none. The issuer
 * must be in the file: it is what responses are verified against, and a responder's answer is worthless without it.
 */
export function ocspTarget(certPem: string): OcspTarget | NoTarget {
  const ders = pemDecodeAll(certPem).filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
  let certs: pkijs.Certificate[];
  try {
    certs = ders.map(parseCertificate);
  } catch (err) {
    return { skip: 'unparsable', detail: (err as Error).message };
  }
  if (certs.length === 0) return { skip: 'unparsable', detail: 'no certificate in the file' };
  const leaf = certs[0];
  const urls = ocspUrls(leaf);
  if (urls.length === 0) return { skip: 'no_responder', detail: 'the certificate names no OCSP responder (Authority Information Access)' };
  const url = urls.find((u) => /^http:\/\//i.test(u));
  if (url === undefined) return { skip: 'unsupported_url', detail: `only http:// responders are fetched, the certificate names ${urls.join(', ')}` };
  const issuer = certs.slice(1).find((c) => c.subject.isEqual(leaf.issuer));
  if (!issuer) return { skip: 'no_issuer', detail: 'the file does not contain the issuing CA certificate after the server certificate; append it' };
  return {
    leaf,
    issuer,
    url,
    fingerprint: createHash('sha256').update(ders[0]).digest('hex'),
    subject: formatDn(certificateFields(ders[0]).subject),
    serial: Buffer.from(leaf.serialNumber.valueBlock.valueHexView).toString('hex').toUpperCase(),
  };
}

/**
 * The DER OCSP request for a target: one CertID with SHA-1 hashes (what every responder answers, RFC 5019), no
 * nonce (a stapled response is shared by every client and cached, so a nonce would prove nothing), unsigned.
 */
export async function buildOcspRequest(target: OcspTarget): Promise<Uint8Array> {
  const request = new pkijs.OCSPRequest();
  await request.createForCertificate(target.leaf, { hashAlgorithm: 'SHA-1', issuerCertificate: target.issuer });
  return new Uint8Array(request.toSchema(true).toBER(false));
}

function hasOcspSigningEku(cert: pkijs.Certificate): boolean {
  const ext = cert.extensions?.find((e) => e.extnID === OID_EKU);
  if (!ext) return false;
  return ext.parsedValue instanceof pkijs.ExtKeyUsage && ext.parsedValue.keyPurposes.includes(OID_KP_OCSP_SIGNING);
}

async function matchesResponderId(cert: pkijs.Certificate, responderID: unknown): Promise<boolean> {
  if (responderID instanceof pkijs.RelativeDistinguishedNames) return cert.subject.isEqual(responderID);
  // byKey (an OCTET STRING, as pkijs leaves it): SHA-1 of the signer's subjectPublicKey BIT STRING value
  const byKey = (responderID as { valueBlock?: { valueHexView?: Uint8Array } }).valueBlock?.valueHexView;
  if (!(byKey instanceof Uint8Array)) return false;
  const key = cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView;
  return createHash('sha1').update(key).digest().equals(Buffer.from(byKey));
}

/**
 * Whether `signer` may answer for certificates of `issuer` at `now`: the issuer itself, or a delegated responder
 * the issuer signed, with extended key usage id-kp-OCSPSigning, valid now (RFC 6960 §4.2.2.2).
 */
async function authorized(signer: pkijs.Certificate, issuer: pkijs.Certificate, now: Date): Promise<boolean> {
  if (sameDer(signer, issuer)) return true;
  if (!signer.issuer.isEqual(issuer.subject) || !hasOcspSigningEku(signer)) return false;
  if (signer.notBefore.value.getTime() > now.getTime() + CLOCK_SKEW_MS || signer.notAfter.value.getTime() < now.getTime()) return false;
  try {
    return await signer.verify(issuer);
  } catch {
    return false;
  }
}

function statusOf(single: pkijs.SingleResponse): { status: 'good' | 'revoked' | 'unknown'; revokedAt?: Date } {
  // CertStatus is a CHOICE pkijs leaves as the raw ASN.1 block: [0] good, [1] revoked (revocationTime first), [2] unknown
  const status = single.certStatus as { idBlock: { tagNumber: number }; valueBlock: { value?: Array<{ toDate?: () => Date }> } };
  switch (status.idBlock.tagNumber) {
    case 0:
      return { status: 'good' };
    case 1: {
      const time = status.valueBlock.value?.[0];
      return { status: 'revoked', revokedAt: typeof time?.toDate === 'function' ? time.toDate() : undefined };
    }
    default:
      return { status: 'unknown' };
  }
}

const refuse = (reason: OcspRefusal, detail: string): OcspVerdict => ({ ok: false, reason, detail });

/**
 * Checks a DER OCSP response for `target` at `now`: a successful basic response, with a SingleResponse for exactly
 * our certificate (CertID by the response's own hash algorithm), signed by the issuer or a delegated responder of
 * it, thisUpdate not ahead of `now` by more than the skew, and still valid. `ok: true` says the response can be
 * trusted; whether it may be stapled is the caller's decision on `status` (only `good` is).
 */
export async function verifyOcspResponse(der: Uint8Array, target: OcspTarget, now: Date): Promise<OcspVerdict> {
  let basic: pkijs.BasicOCSPResponse;
  try {
    const response = pkijs.OCSPResponse.fromBER(toArrayBuffer(der));
    const code = response.responseStatus.valueBlock.valueDec;
    if (code !== 0) {
      const names: Record<number, string> = { 1: 'malformedRequest', 2: 'internalError', 3: 'tryLater', 5: 'sigRequired', 6: 'unauthorized' };
      return refuse('not_successful', `the responder answered ${names[code] ?? `status ${code}`}`);
    }
    if (!response.responseBytes || response.responseBytes.responseType !== OID_OCSP_BASIC) return refuse('not_basic', 'not a basic OCSP response');
    basic = pkijs.BasicOCSPResponse.fromBER(toArrayBuffer(response.responseBytes.response.valueBlock.valueHexView));
  } catch (err) {
    return refuse('malformed', `not a DER OCSP response (${(err as Error).message})`);
  }

  let single: pkijs.SingleResponse | undefined;
  for (const candidate of basic.tbsResponseData.responses) {
    const algorithm = pkijs.getCrypto(true).getAlgorithmByOID(candidate.certID.hashAlgorithm.algorithmId, false);
    if (!algorithm || !('name' in algorithm)) continue;
    const ours = await pkijs.CertID.create(target.leaf, { hashAlgorithm: algorithm.name, issuerCertificate: target.issuer });
    if (ours.isEqual(candidate.certID)) {
      single = candidate;
      break;
    }
  }
  if (!single) return refuse('cert_id_mismatch', 'the response is not about this certificate (no matching CertID)');

  const candidates = [target.issuer, ...(basic.certs ?? [])];
  let named = false;
  let signer: pkijs.Certificate | undefined;
  for (const cert of candidates) {
    if (!(await matchesResponderId(cert, basic.tbsResponseData.responderID))) continue;
    named = true;
    if (await authorized(cert, target.issuer, now)) {
      signer = cert;
      break;
    }
  }
  if (!named) return refuse('unknown_signer', 'the responder that signed it is neither the issuer nor a certificate sent with the response');
  if (!signer) return refuse('unauthorized_signer', 'signed by a responder the issuer did not delegate OCSP signing to');
  let signatureOk = false;
  try {
    signatureOk = await pkijs.getCrypto(true).verifyWithPublicKey(basic.tbsResponseData.tbsView as Uint8Array<ArrayBuffer>, basic.signature, signer.subjectPublicKeyInfo, basic.signatureAlgorithm);
  } catch (err) {
    return refuse('bad_signature', `the signature cannot be checked (${(err as Error).message})`);
  }
  if (!signatureOk) return refuse('bad_signature', 'the signature does not verify with the responder\'s key');

  const thisUpdate = single.thisUpdate;
  const nextUpdate = single.nextUpdate;
  if (thisUpdate.getTime() > now.getTime() + CLOCK_SKEW_MS) return refuse('not_yet_valid', `thisUpdate ${thisUpdate.toISOString()} is in the future`);
  const validUntil = new Date(nextUpdate ? nextUpdate.getTime() : thisUpdate.getTime() + NO_NEXT_UPDATE_VALIDITY_MS);
  if (validUntil.getTime() + (nextUpdate ? CLOCK_SKEW_MS : 0) < now.getTime()) return refuse('expired', `the response was valid until ${validUntil.toISOString()}`);
  return { ok: true, ...statusOf(single), thisUpdate, nextUpdate, validUntil };
}

/** Shortest and longest wait before fetching a fresh response, and the longest back-off after failures. */
export const REFRESH_MIN_MS = 60_000;
export const REFRESH_MAX_MS = 12 * 60 * 60_000;
export const RETRY_MIN_MS = 30_000;
export const RETRY_MAX_MS = 60 * 60_000;

/**
 * When to fetch again after a verified response: halfway through what is left of its validity, between one minute
 * and twelve hours, so a responder outage of up to half the validity window never leaves a client without a staple.
 */
export function refreshDelay(now: number, validUntil: number): number {
  return Math.min(REFRESH_MAX_MS, Math.max(REFRESH_MIN_MS, Math.floor((validUntil - now) / 2)));
}

/** When to try again after `failures` failed fetches in a row (1, 2, ...): doubling from 30 s up to one hour. */
export function retryDelay(failures: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(Math.max(failures - 1, 0), 16));
}
