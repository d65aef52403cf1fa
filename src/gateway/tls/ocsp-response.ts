// OCSP for stapling, without I/O: the responder URL of a served certificate, the request to send, and the checks a
// response must pass before it may be stapled (RFC 6960 §3.2, the same ones nginx's ssl_stapling_verify makes).
// pkijs is loaded only once a served certificate names a responder: most gateways never need it (a few MiB saved)
import { createHash } from 'node:crypto';
import type * as Pkijs from 'pkijs';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AuthorityInfoAccessSyntax, id_pe_authorityInfoAccess } from '@peculiar/asn1-x509';
import { pemDecodeAll } from '../../core/pem.ts';
import { certificateFields } from '../identity/der.ts';
import { formatDn } from '../identity/dn.ts';

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
  /** DER of the served certificate and of its issuer (parsed by pkijs when a request is built or a response checked). */
  leaf: Uint8Array;
  issuer: Uint8Array;
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

type PkijsModule = typeof Pkijs;

function parseCertificate(pk: PkijsModule, der: Uint8Array): Pkijs.Certificate {
  return pk.Certificate.fromBER(toArrayBuffer(der));
}

function derOf(cert: Pkijs.Certificate): Uint8Array {
  return new Uint8Array(cert.toSchema(true).toBER(false));
}

function sameDer(a: Pkijs.Certificate, b: Pkijs.Certificate): boolean {
  return Buffer.from(derOf(a)).equals(Buffer.from(derOf(b)));
}

/** The leaf's OCSP responder URLs (Authority Information Access, accessMethod id-ad-ocsp, a URI). */
function ocspUrls(aia: Buffer | undefined): string[] {
  if (!aia) return [];
  return AsnConvert.parse(aia, AuthorityInfoAccessSyntax)
    .filter((d) => d.accessMethod === OID_AD_OCSP && d.accessLocation.uniformResourceIdentifier !== undefined)
    .map((d) => d.accessLocation.uniformResourceIdentifier!);
}

/**
 * The stapling target of a certificate file's text (leaf first, then its chain), or why there is none. The issuer
 * must be in the file: it is what responses are verified against, and a responder's answer is worthless without it.
 */
export function ocspTarget(certPem: string): OcspTarget | NoTarget {
  const ders = pemDecodeAll(certPem).filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
  let fields: Array<ReturnType<typeof certificateFields>>;
  let urls: string[];
  try {
    fields = ders.map((d) => certificateFields(d));
    urls = fields.length > 0 ? ocspUrls(fields[0].extensions.get(id_pe_authorityInfoAccess)?.value) : [];
  } catch (err) {
    return { skip: 'unparsable', detail: (err as Error).message };
  }
  if (fields.length === 0) return { skip: 'unparsable', detail: 'no certificate in the file' };
  const leaf = fields[0];
  if (urls.length === 0) return { skip: 'no_responder', detail: 'the certificate names no OCSP responder (Authority Information Access)' };
  const url = urls.find((u) => /^http:\/\//i.test(u));
  if (url === undefined) return { skip: 'unsupported_url', detail: `only http:// responders are fetched, the certificate names ${urls.join(', ')}` };
  const issuerAt = fields.findIndex((c, i) => i > 0 && Buffer.from(c.subject).equals(Buffer.from(leaf.issuer)));
  if (issuerAt < 0) return { skip: 'no_issuer', detail: 'the file does not contain the issuing CA certificate after the server certificate; append it' };
  return {
    leaf: ders[0],
    issuer: ders[issuerAt],
    url,
    fingerprint: createHash('sha256').update(ders[0]).digest('hex'),
    subject: formatDn(leaf.subject),
    serial: Buffer.from(leaf.serial).toString('hex').toUpperCase(),
  };
}

/**
 * The DER OCSP request for a target: one CertID with SHA-1 hashes (what every responder answers, RFC 5019), no
 * nonce (a stapled response is shared by every client and cached, so a nonce would prove nothing), unsigned.
 */
export async function buildOcspRequest(target: OcspTarget): Promise<Uint8Array> {
  const pk = await import('pkijs');
  const request = new pk.OCSPRequest();
  await request.createForCertificate(parseCertificate(pk, target.leaf), { hashAlgorithm: 'SHA-1', issuerCertificate: parseCertificate(pk, target.issuer) });
  return new Uint8Array(request.toSchema(true).toBER(false));
}

function hasOcspSigningEku(pk: PkijsModule, cert: Pkijs.Certificate): boolean {
  const ext = cert.extensions?.find((e) => e.extnID === OID_EKU);
  if (!ext) return false;
  return ext.parsedValue instanceof pk.ExtKeyUsage && ext.parsedValue.keyPurposes.includes(OID_KP_OCSP_SIGNING);
}

async function matchesResponderId(pk: PkijsModule, cert: Pkijs.Certificate, responderID: unknown): Promise<boolean> {
  if (responderID instanceof pk.RelativeDistinguishedNames) return cert.subject.isEqual(responderID);
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
async function authorized(pk: PkijsModule, signer: Pkijs.Certificate, issuer: Pkijs.Certificate, now: Date): Promise<boolean> {
  if (sameDer(signer, issuer)) return true;
  if (!signer.issuer.isEqual(issuer.subject) || !hasOcspSigningEku(pk, signer)) return false;
  if (signer.notBefore.value.getTime() > now.getTime() + CLOCK_SKEW_MS || signer.notAfter.value.getTime() < now.getTime()) return false;
  try {
    return await signer.verify(issuer);
  } catch {
    return false;
  }
}

function statusOf(single: Pkijs.SingleResponse): { status: 'good' | 'revoked' | 'unknown'; revokedAt?: Date } {
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
  const pk = await import('pkijs');
  const leaf = parseCertificate(pk, target.leaf);
  const issuer = parseCertificate(pk, target.issuer);
  let basic: Pkijs.BasicOCSPResponse;
  try {
    const response = pk.OCSPResponse.fromBER(toArrayBuffer(der));
    const code = response.responseStatus.valueBlock.valueDec;
    if (code !== 0) {
      const names: Record<number, string> = { 1: 'malformedRequest', 2: 'internalError', 3: 'tryLater', 5: 'sigRequired', 6: 'unauthorized' };
      return refuse('not_successful', `the responder answered ${names[code] ?? `status ${code}`}`);
    }
    if (!response.responseBytes || response.responseBytes.responseType !== OID_OCSP_BASIC) return refuse('not_basic', 'not a basic OCSP response');
    basic = pk.BasicOCSPResponse.fromBER(toArrayBuffer(response.responseBytes.response.valueBlock.valueHexView));
  } catch (err) {
    return refuse('malformed', `not a DER OCSP response (${(err as Error).message})`);
  }

  let single: Pkijs.SingleResponse | undefined;
  for (const candidate of basic.tbsResponseData.responses) {
    const algorithm = pk.getCrypto(true).getAlgorithmByOID(candidate.certID.hashAlgorithm.algorithmId, false);
    if (!algorithm || !('name' in algorithm)) continue;
    const ours = await pk.CertID.create(leaf, { hashAlgorithm: algorithm.name, issuerCertificate: issuer });
    if (ours.isEqual(candidate.certID)) {
      single = candidate;
      break;
    }
  }
  if (!single) return refuse('cert_id_mismatch', 'the response is not about this certificate (no matching CertID)');

  const candidates = [issuer, ...(basic.certs ?? [])];
  let named = false;
  let signer: Pkijs.Certificate | undefined;
  for (const cert of candidates) {
    if (!(await matchesResponderId(pk, cert, basic.tbsResponseData.responderID))) continue;
    named = true;
    if (await authorized(pk, cert, issuer, now)) {
      signer = cert;
      break;
    }
  }
  if (!named) return refuse('unknown_signer', 'the responder that signed it is neither the issuer nor a certificate sent with the response');
  if (!signer) return refuse('unauthorized_signer', 'signed by a responder the issuer did not delegate OCSP signing to');
  let signatureOk = false;
  try {
    signatureOk = await pk.getCrypto(true).verifyWithPublicKey(basic.tbsResponseData.tbsView as Uint8Array<ArrayBuffer>, basic.signature, signer.subjectPublicKeyInfo, basic.signatureAlgorithm);
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
