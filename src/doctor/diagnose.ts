// Turns probe facts into checks (ok / warn / fail, one line each, with a fix): the judgement, pure and table-tested.
import { EKU_CLIENT_AUTH, daysLeft, dnText } from './certs.ts';
import type { CertFacts } from './certs.ts';
import type { ProbeFacts, TlsFailure } from './probe.ts';
import type { DoctorTarget } from './target.ts';

export type CheckLevel = 'ok' | 'warn' | 'fail' | 'skip';

/** Stable check ids, in report order (part of the `--json` contract). */
export const CHECK_IDS = ['connect', 'tls', 'server-chain', 'server-name', 'server-expiry', 'ocsp', 'cert-request', 'client-cert', 'client-auth', 'http'] as const;
export type CheckId = (typeof CHECK_IDS)[number];

export interface Check {
  id: CheckId;
  level: CheckLevel;
  summary: string;
  /** What to do about a warn or fail. */
  fix?: string;
  /** Supporting lines (the chain, the CA names). */
  details?: string[];
}

export interface DiagnoseInput {
  target: DoctorTarget;
  facts: ProbeFacts;
  /** Our certificates, leaf first; empty when none was given. */
  clientChain: CertFacts[];
  /** How the CA for the server was given: `--ca ca.pem` or `the system store`. */
  caLabel: string;
  now: Date;
  /** Warn when a certificate expires within this many days. */
  warnDays?: number;
}

/** Alerts a server sends when it does not accept the client certificate (or its absence). */
const CLIENT_CERT_ALERTS = new Set([
  'certificate_required', 'handshake_failure', 'bad_certificate', 'unknown_ca', 'certificate_expired', 'certificate_revoked',
  'certificate_unknown', 'unsupported_certificate', 'access_denied', 'decrypt_error',
]);

/** certgate refusal reasons (src/gateway/policy/reasons.ts CERT_REASONS) that are about the client certificate. */
const CERTGATE_CERT_REASONS = new Set([
  'no_certificate', 'expired', 'not_yet_valid', 'revoked', 'unknown_ca', 'bad_purpose', 'chain_too_deep', 'invalid_certificate',
  'crl_stale', 'crl_unavailable',
]);

const VERIFY_WORDS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the chain ends at a root CA that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the CA that issued it is not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'the CA that issued it is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the CA that issued it is not trusted',
  CERT_HAS_EXPIRED: 'a certificate in the chain has expired',
  CERT_NOT_YET_VALID: 'a certificate in the chain is not valid yet',
  CERT_SIGNATURE_FAILURE: 'a signature in the chain does not verify',
  INVALID_CA: 'a CA certificate in the chain is not a valid CA',
};

const ALERT_WORDS: Record<string, string> = {
  certificate_required: 'alert certificate_required (116)',
  handshake_failure: 'alert handshake_failure (40)',
  bad_certificate: 'alert bad_certificate (42)',
  unknown_ca: 'alert unknown_ca (48)',
  certificate_expired: 'alert certificate_expired (45)',
  certificate_revoked: 'alert certificate_revoked (44)',
  certificate_unknown: 'alert certificate_unknown (46)',
  unsupported_certificate: 'alert unsupported_certificate (43)',
  access_denied: 'alert access_denied (49)',
  decrypt_error: 'alert decrypt_error (51)',
  protocol_version: 'alert protocol_version (70)',
};

function describeFailure(f: TlsFailure): string {
  if (f.alert) return ALERT_WORDS[f.alert] ?? `alert ${f.alert}`;
  if (f.code === 'ECONNRESET' || f.code === 'EPIPE') return 'closed without a TLS alert';
  return f.message.split('\n')[0];
}
const day = (iso: string) => iso.slice(0, 10);

function validity(c: CertFacts, now: Date): 'expired' | 'not_yet_valid' | 'valid' {
  if (Date.parse(c.notAfter) <= now.getTime()) return 'expired';
  if (Date.parse(c.notBefore) > now.getTime()) return 'not_yet_valid';
  return 'valid';
}

/** The names a certificate answers to: its SANs, else its subject. */
const namesOf = (c: CertFacts) => (c.sans.length > 0 ? c.sans.join(', ') : c.subject);

function serverChecks(i: DiagnoseInput, out: Check[]): void {
  const hs = i.facts.handshake!;
  const leaf = hs.serverChain[0];
  const warnDays = i.warnDays ?? 14;
  out.push({
    id: 'tls', level: 'ok',
    summary: `${hs.protocol ?? 'TLS'} with ${hs.cipher ?? 'an unknown cipher'}${hs.alpn ? `, ALPN ${hs.alpn}` : ''}`,
  });
  const chainLines = hs.serverChain.map((c, n) => `${n === 0 ? 'server' : `chain ${n}`}: ${c.subject} (issued by ${c.issuer}, until ${day(c.notAfter)})`);
  if (hs.verified) {
    out.push({ id: 'server-chain', level: 'ok', summary: `the server's chain verifies with ${i.caLabel}`, details: chainLines });
  } else {
    const err = hs.verifyError ?? 'UNKNOWN';
    const top = hs.serverChain[hs.serverChain.length - 1];
    out.push({
      id: 'server-chain', level: 'fail',
      summary: `the server's chain does not verify with ${i.caLabel}: ${VERIFY_WORDS[err] ?? err} (${err})`,
      fix: top ? `pass the CA that issued it with --ca FILE (the chain the server sent ends at "${top.issuer}")` : 'the server sent no certificate',
      details: chainLines,
    });
  }
  if (!leaf) {
    out.push({ id: 'server-name', level: 'fail', summary: 'the server sent no certificate' });
  } else if (hs.nameError === null) {
    out.push({ id: 'server-name', level: 'ok', summary: `the certificate is valid for ${i.target.verifyName} (${namesOf(leaf)})` });
  } else {
    out.push({
      id: 'server-name', level: 'fail',
      summary: `the certificate is for ${namesOf(leaf)}, not ${i.target.verifyName}`,
      fix: `connect with a name the certificate lists, or give --servername NAME; else the server needs a certificate with ${i.target.verifyName} in its SANs`,
    });
  }
  const expired = hs.serverChain.filter((c) => validity(c, i.now) !== 'valid');
  const soonest = [...hs.serverChain].sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter))[0];
  if (expired.length > 0) {
    const c = expired[0];
    const state = validity(c, i.now) === 'expired' ? `expired on ${day(c.notAfter)}` : `is not valid before ${day(c.notBefore)}`;
    out.push({ id: 'server-expiry', level: 'fail', summary: `the server's certificate ${c.subject} ${state}`, fix: 'the server needs a current certificate (or check this machine\'s clock)' });
  } else if (soonest && daysLeft(soonest, i.now) < warnDays) {
    out.push({ id: 'server-expiry', level: 'warn', summary: `${soonest.subject} expires on ${day(soonest.notAfter)} (in ${daysLeft(soonest, i.now)} days)`, fix: 'renew it soon' });
  } else if (soonest) {
    out.push({ id: 'server-expiry', level: 'ok', summary: `every certificate the server sent is valid; the first to expire is ${soonest.subject} on ${day(soonest.notAfter)}` });
  }
  const ocsp = hs.ocsp;
  out.push(ocsp === 'good' ? { id: 'ocsp', level: 'ok', summary: 'stapled OCSP response: good' }
    : ocsp === 'none' ? { id: 'ocsp', level: 'ok', summary: 'no OCSP response stapled' }
      : ocsp === 'revoked' ? { id: 'ocsp', level: 'fail', summary: 'stapled OCSP response: the server certificate is REVOKED', fix: 'the server needs a new certificate' }
        : { id: 'ocsp', level: 'warn', summary: `stapled OCSP response: ${ocsp.replace('_', ' ')}`, fix: 'check the server\'s OCSP stapling and its responder' });
}

/** The hex DER names the server lists, or null when unknown. */
function listedCas(f: ProbeFacts): string[] | null {
  return f.tls12?.outcome === 'asked' ? f.tls12.caNames.map((n) => n.toString('hex')) : null;
}

/** True/false when the server's CA list decides it, null when there is no list (unknown, or "any"). */
function issuerListed(i: DiagnoseInput): boolean | null {
  const listed = listedCas(i.facts);
  if (listed === null || listed.length === 0 || i.clientChain.length === 0) return null;
  return i.clientChain.some((c) => listed.includes(c.issuerDer));
}

function certRequestCheck(i: DiagnoseInput): Check {
  const t = i.facts.tls12;
  if (!t) return { id: 'cert-request', level: 'skip', summary: 'not probed' };
  switch (t.outcome) {
    case 'asked': {
      const names = t.caNames.map((n) => dnText(n));
      return {
        id: 'cert-request', level: 'ok',
        summary: names.length === 1 ? 'the server asks for a client certificate issued by the CA below (seen in TLS 1.2)'
          : names.length > 1 ? `the server asks for a client certificate issued by one of the ${names.length} CAs below (seen in TLS 1.2)`
          : 'the server asks for a client certificate and names no CAs (seen in TLS 1.2)',
        details: names.map((n) => `accepted CA: ${n}`),
      };
    }
    case 'not_asked':
      return { id: 'cert-request', level: 'ok', summary: 'the server does not ask for a client certificate (seen in TLS 1.2)' };
    case 'tls12_refused':
      return { id: 'cert-request', level: 'skip', summary: 'whether the server asks for a client certificate, and from which CAs, cannot be known (TLS 1.3 only)' };
    default:
      return { id: 'cert-request', level: 'warn', summary: `the TLS 1.2 probe for client-certificate CAs failed: ${t.message}` };
  }
}

function clientCertCheck(i: DiagnoseInput): Check {
  const leaf = i.clientChain[0];
  if (!leaf) return { id: 'client-cert', level: 'skip', summary: 'no client certificate given' };
  const state = validity(leaf, i.now);
  if (state === 'expired') {
    return { id: 'client-cert', level: 'fail', summary: `your certificate ${leaf.subject} expired on ${day(leaf.notAfter)}`, fix: 'get a new certificate (with certgate: certgate cert renew NAME)' };
  }
  if (state === 'not_yet_valid') {
    return { id: 'client-cert', level: 'fail', summary: `your certificate ${leaf.subject} is not valid before ${leaf.notBefore}`, fix: 'wait, or check this machine\'s clock' };
  }
  const staleCa = i.clientChain.slice(1).find((c) => validity(c, i.now) !== 'valid');
  if (staleCa) {
    return {
      id: 'client-cert', level: 'fail', summary: `the CA certificate ${staleCa.subject} in your chain is outside its dates (${day(staleCa.notBefore)} to ${day(staleCa.notAfter)})`,
      fix: 'send the current chain your CA publishes along with your certificate',
    };
  }
  if (leaf.eku !== null && !leaf.eku.includes(EKU_CLIENT_AUTH)) {
    return { id: 'client-cert', level: 'fail', summary: `your certificate ${leaf.subject} is not for client authentication (no clientAuth extended key usage)`, fix: 'use a certificate issued with the client profile (EKU clientAuth)' };
  }
  if (issuerListed(i) === false) {
    return {
      id: 'client-cert', level: 'fail',
      summary: `your certificate is issued by ${leaf.issuer}, which is not among the CAs the server accepts`,
      fix: 'use a certificate from one of the accepted CAs listed above, or ask the server\'s administrator to trust your CA',
    };
  }
  const left = daysLeft(leaf, i.now);
  if (left < (i.warnDays ?? 14)) {
    return { id: 'client-cert', level: 'warn', summary: `your certificate ${leaf.subject} expires on ${day(leaf.notAfter)} (in ${left} days)`, fix: 'renew it soon' };
  }
  return { id: 'client-cert', level: 'ok', summary: `your certificate ${leaf.subject}, issued by ${leaf.issuer}, valid until ${day(leaf.notAfter)}` };
}

/** The most likely reason the server refused us, in plain words with a fix. */
export function refusalReason(i: DiagnoseInput, f: TlsFailure | null, certgateReason: string | null): { why: string; fix: string } {
  const leaf = i.clientChain[0];
  const alert = f?.alert ?? null;
  if (alert === 'certificate_revoked' || certgateReason === 'revoked') {
    return { why: 'your certificate has been revoked', fix: 'ask for a new certificate' };
  }
  if (!leaf) {
    return { why: 'no client certificate was sent, and the server requires one', fix: 'pass --cert FILE --key FILE (or --p12 FILE --password-file FILE)' };
  }
  if (validity(leaf, i.now) !== 'valid' || alert === 'certificate_expired' || certgateReason === 'expired' || certgateReason === 'not_yet_valid') {
    return { why: 'your certificate has expired or is not valid yet', fix: 'get a new certificate (with certgate: certgate cert renew NAME)' };
  }
  if ((leaf.eku !== null && !leaf.eku.includes(EKU_CLIENT_AUTH)) || alert === 'unsupported_certificate' || certgateReason === 'bad_purpose') {
    return { why: 'your certificate lacks the clientAuth extended key usage', fix: 'use a certificate issued with the client profile' };
  }
  if (issuerListed(i) === false || alert === 'unknown_ca' || certgateReason === 'unknown_ca') {
    return { why: `your certificate is issued by ${leaf.issuer}, a CA the server does not trust`, fix: 'use a certificate from a CA the server accepts, or ask its administrator to trust yours' };
  }
  if (alert === 'decrypt_error') {
    return { why: 'the server could not verify our signature: the key may not match the certificate', fix: 'pass the key made with that certificate' };
  }
  if (certgateReason) return { why: `certgate refused it (${certgateReason})`, fix: 'see the gateway\'s log for this connection' };
  return { why: 'the server did not say why', fix: 'look in the server\'s log for this connection' };
}

function clientAuthCheck(i: DiagnoseInput, refusal: TlsFailure | null): Check {
  const f = i.facts;
  const http = f.http.outcome === 'answered' ? f.http : null;
  const cgReason = http?.certgateReason && CERTGATE_CERT_REASONS.has(http.certgateReason) ? http.certgateReason : null;
  const nginx = http?.nginxRefusal ?? null;
  if (refusal || cgReason || nginx) {
    const r = refusalReason(i, refusal, cgReason ?? (nginx === 'no_certificate' ? 'no_certificate' : null));
    const how = refusal ? describeFailure(refusal) : cgReason ? `certgate refusal ${cgReason}` : `nginx answered 400: ${nginx === 'no_certificate' ? 'no required SSL certificate was sent' : 'the SSL certificate error'}`;
    return { id: 'client-auth', level: 'fail', summary: `the server refused the connection (${how}): most likely ${r.why}`, fix: r.fix };
  }
  if (!f.sentCertificate) {
    return f.tls12?.outcome === 'asked'
      ? { id: 'client-auth', level: 'ok', summary: 'no client certificate sent; the server asks for one but let us in without it' }
      : { id: 'client-auth', level: 'skip', summary: 'no client certificate sent, and none was required' };
  }
  if (f.tls12?.outcome === 'not_asked') return { id: 'client-auth', level: 'warn', summary: 'the server did not ask for a client certificate, so yours was not used', fix: 'check that this is the server that requires it' };
  return { id: 'client-auth', level: 'ok', summary: 'the server accepted our client certificate' };
}

function httpCheck(i: DiagnoseInput, refusal: TlsFailure | null): Check {
  const h = i.facts.http;
  const what = `GET ${i.target.path}`;
  if (h.outcome === 'skipped') return { id: 'http', level: 'skip', summary: `${what} not sent: ${h.why}` };
  if (h.outcome === 'failed') {
    return refusal
      ? { id: 'http', level: 'fail', summary: `${what} got no answer: the server refused the connection (see client-auth)` }
      : { id: 'http', level: 'fail', summary: `${what} got no answer: ${h.message}`, fix: 'is this an HTTP service? For other protocols give HOST:PORT instead of a URL' };
  }
  const server = h.server ? ` (server: ${h.server})` : '';
  if (h.certgateReason) {
    return {
      id: 'http', level: 'fail', summary: `${what} → ${h.status}: certgate refused it with reason ${h.certgateReason}`,
      fix: h.certgateMessage ?? 'see the gateway\'s log for this request',
    };
  }
  if (h.nginxRefusal) {
    return { id: 'http', level: 'fail', summary: `${what} → 400: nginx refused the client certificate (see client-auth)${server}` };
  }
  if (h.status < 400) return { id: 'http', level: 'ok', summary: `${what} → ${h.status}${server}` };
  if (h.status >= 500) return { id: 'http', level: 'fail', summary: `${what} → ${h.status}${server}`, fix: 'the server or the application behind it failed; see its log' };
  return { id: 'http', level: 'warn', summary: `${what} → ${h.status}${server}`, fix: 'TLS works; this is the application\'s answer to that path (try the URL you need)' };
}

/** Every check, in CHECK_IDS order; later checks are skipped when an earlier step failed. */
export function diagnose(i: DiagnoseInput): Check[] {
  const f = i.facts;
  const out: Check[] = [];
  const skipped = (why: string) => {
    for (const id of CHECK_IDS) if (!out.some((c) => c.id === id)) out.push({ id, level: 'skip', summary: why });
  };
  if (f.connectError) {
    out.push({ id: 'connect', level: 'fail', summary: `cannot connect to ${i.target.host}:${i.target.port}: ${f.connectError}`, fix: 'check the host and port, and that the server runs and is reachable from here' });
    out.push(clientCertCheck(i));
    skipped('not reached');
    return order(out);
  }
  out.push({ id: 'connect', level: 'ok', summary: `connected to ${i.target.host}:${i.target.port}` });
  const early = f.handshakeError;
  // A refusal of the client certificate inside the handshake (TLS 1.2): a client-certificate alert, or a plain
  // close from a server that asks for a certificate (Node's servers drop the connection without an alert).
  const dropped = early !== null && early.alert === null && early.code === 'ECONNRESET' && f.tls12?.outcome === 'asked';
  const clientSide = early && ((early.alert !== null && CLIENT_CERT_ALERTS.has(early.alert)) || dropped) ? early : null;
  if (early && !clientSide) {
    const fix = early.alert === 'protocol_version' ? 'the server speaks no TLS version Node accepts (1.2 or 1.3)'
      : early.alert === 'no_application_protocol' ? 'the server wants an ALPN protocol other than http/1.1 (HTTP/2 only?); doctor speaks HTTP/1.1'
        : early.alert === 'unrecognized_name' ? 'the server knows no site by that name: give the right --servername'
          : 'check that this port speaks TLS';
    out.push({ id: 'tls', level: 'fail', summary: `the TLS handshake failed: ${describeFailure(early)}`, fix });
    out.push(certRequestCheck(i), clientCertCheck(i));
    skipped('no TLS connection');
    return order(out);
  }
  if (clientSide) {
    // a TLS 1.2 server refuses the client certificate inside the handshake, before we see its chain
    out.push({ id: 'tls', level: 'fail', summary: `the TLS handshake failed: ${describeFailure(clientSide)}`, fix: 'the server refused our side: see client-auth below' });
  } else {
    serverChecks(i, out);
  }
  const refusal = clientSide ?? f.laterError;
  out.push(certRequestCheck(i), clientCertCheck(i), clientAuthCheck(i, refusal), httpCheck(i, refusal));
  skipped('no TLS connection');
  return order(out);
}

function order(checks: Check[]): Check[] {
  return CHECK_IDS.map((id) => checks.find((c) => c.id === id)!).filter(Boolean);
}

/** True when no check failed (warnings allowed): doctor's exit 0. */
export const allOk = (checks: readonly Check[]) => checks.every((c) => c.level !== 'fail');
