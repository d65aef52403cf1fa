// Certificate profiles (RFC 5280): which SANs each profile takes, and the extensions of CA, client and server certs.
import { isIP } from 'node:net';
import * as x509 from '../core/x509.ts';
import { PkiError } from '../core/errors.ts';
import type { KeyType } from './keys.ts';
import { distributionUrls } from './ca-url.ts';

export type LeafProfile = 'client' | 'server';
export type SanKind = 'dns' | 'ip' | 'email' | 'uri';

/** SANs as given on the command line (or taken from a CSR). */
export interface SanInput {
  dns?: string[];
  ip?: string[];
  email?: string[];
  uri?: string[];
}

/** Which SAN kinds each profile carries: clients identify people/services, servers need names TLS clients check. */
export const PROFILE_SANS: Record<LeafProfile, readonly SanKind[]> = {
  client: ['dns', 'email', 'uri'],
  server: ['dns', 'ip'],
};

const FLAG: Record<SanKind, string> = { dns: '--dns', ip: '--ip', email: '--email', uri: '--uri' };
const PREFIX: Record<SanKind, string> = { dns: 'DNS', ip: 'IP', email: 'email', uri: 'URI' };
const JSON_TYPE: Record<SanKind, x509.GeneralNameType> = { dns: 'dns', ip: 'ip', email: 'email', uri: 'url' };

const DNS_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DNS_NAME = new RegExp(`^(?:\\*\\.)?${DNS_LABEL}(?:\\.${DNS_LABEL})*$`);

/** Validates and normalizes one SAN value; CG_PKI_PROFILE names the flag. Pure. */
export function normalizeSan(kind: SanKind, value: string): string {
  const v = value.trim();
  if (kind === 'dns') {
    const lower = v.toLowerCase().replace(/\.$/, '');
    if (lower.length > 253 || !DNS_NAME.test(lower)) throw bad(kind, value, 'not a DNS name');
    return lower;
  }
  if (kind === 'ip') {
    if (isIP(v) === 0) throw bad(kind, value, 'not an IPv4 or IPv6 address');
    return v.toLowerCase();
  }
  if (kind === 'email') {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v) && !/^[^@\s]+@[^@\s.]+$/.test(v)) throw bad(kind, value, 'not an email address');
    return v;
  }
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw bad(kind, value, 'not an absolute URI (e.g. spiffe://example.org/svc)');
  }
  if (!url.protocol) throw bad(kind, value, 'has no scheme');
  return v;
}

function bad(kind: SanKind, value: string, why: string): PkiError {
  return new PkiError('CG_PKI_PROFILE', `${FLAG[kind]} "${value}" is ${why}`);
}

/**
 * Checks SANs against the profile and returns them as record strings ("DNS:x", "IP:x", "email:x", "URI:x"),
 * de-duplicated in input order. A server certificate needs at least one DNS or IP SAN. Pure.
 */
export function profileSans(profile: LeafProfile, sans: SanInput): string[] {
  const out: string[] = [];
  for (const kind of ['dns', 'ip', 'email', 'uri'] as const) {
    const values = sans[kind] ?? [];
    if (values.length > 0 && !PROFILE_SANS[profile].includes(kind)) {
      throw new PkiError('CG_PKI_PROFILE', `${profile} certificates do not take ${FLAG[kind]}`, {
        hint: `${profile} certificates take ${PROFILE_SANS[profile].map((k) => FLAG[k]).join(', ')}`,
      });
    }
    for (const v of values) {
      const s = `${PREFIX[kind]}:${normalizeSan(kind, v)}`;
      if (!out.includes(s)) out.push(s);
    }
  }
  if (profile === 'server' && !out.some((s) => s.startsWith('DNS:') || s.startsWith('IP:'))) {
    throw new PkiError('CG_PKI_PROFILE', 'a server certificate needs at least one --dns or --ip name', {
      hint: 'e.g. --dns app.example.com --ip 127.0.0.1',
    });
  }
  return out;
}

/** Record strings back to x509 JSON general names. Pure. */
export function sanJson(sans: string[]): x509.JsonGeneralName[] {
  return sans.map((s) => {
    const i = s.indexOf(':');
    const prefix = s.slice(0, i);
    const kind = (Object.keys(PREFIX) as SanKind[]).find((k) => PREFIX[k] === prefix);
    if (!kind) throw new PkiError('CG_PKI_PROFILE', `unknown SAN "${s}"`);
    return { type: JSON_TYPE[kind], value: s.slice(i + 1) };
  });
}

/** Key usage bits of a leaf: digitalSignature, plus keyEncipherment for RSA (RSA key transport in TLS 1.2). Pure. */
export function leafKeyUsage(keyType: KeyType): number {
  const u = x509.KeyUsageFlags.digitalSignature;
  return keyType.startsWith('rsa-') ? u | x509.KeyUsageFlags.keyEncipherment : u;
}

/** Subject of a leaf: O, then each OU, then CN=NAME (encoding order, as openssl prints it). */
export function leafSubject(name: string, o?: string, ous: string[] = []): x509.JsonName {
  const rdns: x509.JsonName = [];
  if (o) rdns.push({ O: [o] });
  for (const ou of ous) rdns.push({ OU: [ou] });
  rdns.push({ CN: [name] });
  return rdns;
}

/** The issuer's key id for AKI: its SKI when present (so chains built by openssl match), else computed. */
export async function authorityKeyId(issuer: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return new x509.AuthorityKeyIdentifierExtension(ski.keyId);
  return x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey);
}

/**
 * CRL Distribution Points (the issuer's DER CRL) and AIA caIssuers (the issuer's certificate) of a certificate signed
 * by a CA published at `issuerBaseUrl`; none without one. Non-critical (RFC 5280 §4.2.1.13, §4.2.2.1). Pure.
 */
export function distributionExtensions(issuerBaseUrl: string | undefined): x509.Extension[] {
  if (!issuerBaseUrl) return [];
  const urls = distributionUrls(issuerBaseUrl);
  return [
    new x509.CRLDistributionPointsExtension([urls.crl], false),
    new x509.AuthorityInfoAccessExtension({ caIssuers: new x509.GeneralName('url', urls.caIssuers) }, false),
  ];
}

/** Extensions of a client or server certificate; `issuerBaseUrl` adds CDP and AIA pointing at the issuer. */
export async function leafExtensions(
  profile: LeafProfile, keyType: KeyType, sans: string[], publicKey: x509.PublicKeyType, issuer: x509.X509Certificate,
  issuerBaseUrl?: string,
): Promise<x509.Extension[]> {
  const eku = profile === 'client' ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth;
  const exts: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(leafKeyUsage(keyType), true),
    new x509.ExtendedKeyUsageExtension([eku], false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await authorityKeyId(issuer),
  ];
  // RFC 5280 4.2.1.6: the SAN is critical when the subject is empty; ours always has a CN, so non-critical.
  if (sans.length > 0) exts.push(new x509.SubjectAlternativeNameExtension(sanJson(sans), false));
  exts.push(...distributionExtensions(issuerBaseUrl));
  return exts;
}

/**
 * Extensions of a CA certificate: CA:true (pathlen for intermediates), keyCertSign+cRLSign, SKI, AKI when signed by
 * a parent, and CDP/AIA pointing at the parent when it has a base URL.
 */
export async function caExtensions(
  publicKey: x509.PublicKeyType, pathLength: number | undefined, issuer: x509.X509Certificate | undefined,
  issuerBaseUrl?: string,
): Promise<x509.Extension[]> {
  const exts: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
  if (issuer) exts.push(await authorityKeyId(issuer), ...distributionExtensions(issuerBaseUrl));
  return exts;
}

/** SAN record strings of an existing certificate ("DNS:x", ...), for the store. */
export function sansOf(cert: x509.X509Certificate | x509.Pkcs10CertificateRequest): string[] {
  const raw = cert.getExtension('2.5.29.17');
  if (!raw) return [];
  const ext = new x509.SubjectAlternativeNameExtension(raw.rawData);
  const out: string[] = [];
  for (const n of ext.names.items) {
    if (n.type === 'dns') out.push(`DNS:${n.value}`);
    else if (n.type === 'ip') out.push(`IP:${n.value}`);
    else if (n.type === 'email') out.push(`email:${n.value}`);
    else if (n.type === 'url') out.push(`URI:${n.value}`);
  }
  return out;
}
