// Client-certificate trust material: the CA bundle and its CRLs, checked once per load, then a set lookup per request.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { ConfigError } from '../../core/errors.ts';
import { splitCertificates } from '../../core/pem.ts';
import { certificateFields, readTlv, valueOf } from '../identity/der.ts';
import { dnKeyFromDer, formatDn, type DnKey } from '../identity/dn.ts';
import { formatSerial } from '../identity/identity.ts';
import { serialKey } from '../../core/serial-number.ts';
import type { ClientAuthConfig } from '../../config/schema.ts';
import { crlBlocks, parseCrl, verifyCrlSignature, type ParsedCrl } from './crl-file.ts';

/** What `check` and start-up report about one loaded CRL. */
export interface CrlInfo {
  file: string;
  issuer: string;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  revokedCount: number;
}

export interface Revocation {
  /** Serial of the revoked certificate as OpenSSL prints it (uppercase hex, "-" if negative) and the CRL's reason name, if any. */
  serial: string;
  reason: string | null;
  /** DN of the CA that revoked it. */
  issuer: string;
}

export interface Trust {
  /** Each trusted CA certificate as PEM, for the TLS `ca` option. */
  caPems: string[];
  cas: X509Certificate[];
  crls: CrlInfo[];
  /** Increases with every load: per-connection caches compare it (or the object) to know the CRLs changed. */
  generation: number;
  /** True when any CRL is configured: then every CA needs one (OpenSSL's CRL_CHECK_ALL semantics). */
  hasCrls: boolean;
  /** Subjects of CAs in the bundle that have no CRL although CRLs are configured. */
  missingCrl: string[];
  /** CRLs past their nextUpdate now (one line each, naming file and issuer). Recomputed on every read. */
  readonly stale: string[];
  staleAt(now: Date): string[];
  /** The revocation entry for one certificate, looked up by its issuer name and serial. */
  revoked(cert: X509Certificate): Revocation | null;
  /** The first revoked certificate of the chain, completed with CAs from the bundle. */
  revokedChain(chain: X509Certificate[]): Revocation | null;
  /** With CRLs configured: the subject of the first CA in the chain that has no CRL (clients must be refused). */
  uncoveredCa(chain: X509Certificate[]): string | null;
  /** Stale CRLs (as in `stale`) of the CAs that issued this chain. */
  staleFor(chain: X509Certificate[], now: Date): string[];
  /** `chain` followed by its issuers from the bundle, up to a self-signed CA. */
  completeChain(chain: X509Certificate[]): X509Certificate[];
  /**
   * Facts about client certificates worked out under this trust (connection-identity.ts's per-certificate cache).
   * Owned by this object: a re-read builds a new Trust, and the cache goes with the old one.
   */
  peers: Map<string, unknown>;
}

// A process-wide counter, not a cache: each Trust takes the next number, so logs and the metric can tell generations
// apart. Nothing is keyed by it.
let generations = 0;

interface CertNames {
  subjectKey: DnKey;
  issuerKey: DnKey;
  /** Comparison key: hex of the DER INTEGER content (core serialKey), what CRL entries are matched on. */
  serialKey: string;
  /** As OpenSSL prints it, for messages. */
  serial: string;
  keyUsage: Buffer | undefined;
}

const names = new WeakMap<X509Certificate, CertNames>();
/** Names and serial of a certificate, parsed once per certificate object. */
export function certNames(cert: X509Certificate): CertNames {
  let n = names.get(cert);
  if (!n) {
    const f = certificateFields(cert.raw);
    const ku = f.extensions.get('2.5.29.15');
    n = {
      subjectKey: dnKeyFromDer(f.subject),
      issuerKey: dnKeyFromDer(f.issuer),
      serialKey: serialKey(f.serial),
      serial: formatSerial(f.serial),
      keyUsage: ku ? valueOf(ku.value, readTlv(ku.value, 0)) : undefined,
    };
    names.set(cert, n);
  }
  return n;
}

/** True when keyUsage is absent or asserts bit `bit` (0 = digitalSignature ... 5 = keyCertSign, 6 = cRLSign). */
export function keyUsageAllows(cert: X509Certificate, bit: number): boolean {
  const ku = certNames(cert).keyUsage; // BIT STRING value: unused-bits octet, then the bits
  if (!ku) return true;
  const byte = ku[1 + (bit >> 3)] ?? 0;
  return (byte & (0x80 >> (bit & 7))) !== 0;
}

const selfSigned = new WeakMap<X509Certificate, boolean>();
/** Issued by itself and signed by its own key (a root), cached per certificate object. */
export function isSelfSigned(cert: X509Certificate): boolean {
  let v = selfSigned.get(cert);
  if (v === undefined) {
    const n = certNames(cert);
    v = n.subjectKey === n.issuerKey && cert.checkIssued(cert) && cert.verify(cert.publicKey);
    selfSigned.set(cert, v);
  }
  return v;
}

function readConfigFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError('CG_CONFIG_FILE', `cannot read ${what} ${path} (${code})`, undefined, { cause: err });
  }
}

/** Builds trust from the CA bundle text and CRL file contents. Throws ConfigError(CG_CONFIG_TLS) on bad material. */
export function buildTrust(caPem: string, caFile: string, crlFiles: Array<{ file: string; data: Buffer }>): Trust {
  const caPems = splitCertificates(caPem);
  if (caPems.length === 0) throw new ConfigError('CG_CONFIG_TLS', `clientAuth.ca ${caFile} holds no PEM certificate`);
  const cas = caPems.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch (err) {
      throw new ConfigError('CG_CONFIG_TLS', `certificate #${i + 1} in clientAuth.ca ${caFile} does not parse`, undefined, { cause: err });
    }
  });
  // revoked serials per issuing CA name; the newest CRL per name decides staleness
  const bySubject = new Map<DnKey, { revoked: Map<string, string | null>; newest: ParsedCrl }>();
  const crls: CrlInfo[] = [];
  for (const { file, data } of crlFiles) {
    const blocks = crlBlocks(data);
    if (blocks.length === 0) throw new ConfigError('CG_CONFIG_TLS', `CRL file ${file} holds no "X509 CRL" PEM block`);
    for (const der of blocks) {
      let crl: ParsedCrl;
      try {
        crl = parseCrl(der, file);
      } catch (err) {
        throw new ConfigError('CG_CONFIG_TLS', `CRL file ${file} does not parse as a CRL (PEM or DER)`, undefined, { cause: err });
      }
      if (crl.delta) throw new ConfigError('CG_CONFIG_TLS', `CRL file ${file} is a delta CRL; give the full CRL instead`);
      const issuers = cas.filter((ca) => certNames(ca).subjectKey === crl.issuerKey);
      if (issuers.length === 0) {
        throw new ConfigError('CG_CONFIG_TLS', `CRL file ${file} is issued by "${crl.issuer}", which is not a CA in clientAuth.ca ${caFile}`);
      }
      const signer = issuers.find((ca) => verifyCrlSignature(crl, ca.publicKey));
      if (!signer) throw new ConfigError('CG_CONFIG_TLS', `the signature of CRL file ${file} does not verify with the key of "${crl.issuer}"`);
      if (!keyUsageAllows(signer, 6)) throw new ConfigError('CG_CONFIG_TLS', `"${crl.issuer}" may not sign CRLs (its keyUsage lacks cRLSign), so CRL file ${file} cannot be used`);
      crls.push({ file, issuer: crl.issuer, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, revokedCount: crl.revoked.size });
      const entry = bySubject.get(crl.issuerKey);
      if (!entry) bySubject.set(crl.issuerKey, { revoked: new Map(crl.revoked), newest: crl });
      else {
        for (const [serial, reason] of crl.revoked) entry.revoked.set(serial, reason);
        if (crl.thisUpdate > entry.newest.thisUpdate) entry.newest = crl;
      }
    }
  }
  const hasCrls = crls.length > 0;
  const missingCrl = hasCrls ? [...new Set(cas.filter((ca) => !bySubject.has(certNames(ca).subjectKey)).map((ca) => formatDn(certificateFields(ca.raw).subject)))] : [];
  const staleLine = (crl: ParsedCrl): string => `CRL ${crl.file} of "${crl.issuer}" is out of date since ${crl.nextUpdate?.toISOString()}`;
  const isStale = (crl: ParsedCrl, now: Date): boolean => crl.nextUpdate !== undefined && crl.nextUpdate.getTime() < now.getTime();

  const completeChain = (chain: X509Certificate[]): X509Certificate[] => {
    const out = [...chain];
    for (let step = 0; step < 16 && out.length > 0; step++) {
      const last = out[out.length - 1];
      if (isSelfSigned(last)) break;
      const issuer = cas.find((ca) => certNames(ca).subjectKey === certNames(last).issuerKey && last.checkIssued(ca) && !out.includes(ca));
      if (!issuer) break;
      out.push(issuer);
    }
    return out;
  };
  const revoked = (cert: X509Certificate): Revocation | null => {
    const n = certNames(cert);
    const entry = bySubject.get(n.issuerKey);
    if (!entry || !entry.revoked.has(n.serialKey)) return null;
    return { serial: n.serial, reason: entry.revoked.get(n.serialKey) ?? null, issuer: entry.newest.issuer };
  };
  // CAs that issued a certificate of the chain (a self-signed root issues nothing but itself)
  const issuersOf = (chain: X509Certificate[]): CertNames[] =>
    completeChain(chain).filter((c, i, all) => !(i === all.length - 1 && i > 0 && isSelfSigned(c))).map(certNames);

  return {
    caPems,
    cas,
    crls,
    generation: ++generations,
    peers: new Map(),
    hasCrls,
    missingCrl,
    get stale() {
      return this.staleAt(new Date());
    },
    staleAt(now) {
      return [...bySubject.values()].filter((e) => isStale(e.newest, now)).map((e) => staleLine(e.newest));
    },
    revoked,
    revokedChain(chain) {
      if (!hasCrls) return null;
      for (const cert of completeChain(chain)) {
        const hit = revoked(cert);
        if (hit) return hit;
      }
      return null;
    },
    uncoveredCa(chain) {
      if (!hasCrls) return null;
      const missing = issuersOf(chain).find((n) => !bySubject.has(n.issuerKey));
      if (!missing) return null;
      const ca = cas.find((c) => certNames(c).subjectKey === missing.issuerKey);
      return ca ? formatDn(certificateFields(ca.raw).subject) : 'an unknown issuer';
    },
    staleFor(chain, now) {
      const out = new Set<string>();
      for (const n of issuersOf(chain)) {
        const e = bySubject.get(n.issuerKey);
        if (e && isStale(e.newest, now)) out.add(staleLine(e.newest));
      }
      return [...out];
    },
    completeChain,
  };
}

/** One CRL source of `clientAuth.crl`: a file, or a URL (with an optional fallback file for a first start). */
export type CrlSource = { kind: 'file'; file: string } | { kind: 'url'; url: string; fallback: string | undefined };

/** The current accepted body of a CRL URL (crl-fetch.ts), or undefined when there is none yet. */
export type CrlData = (url: string) => Buffer | undefined;

const URL_START = /^https?:\/\//i;

/** `clientAuth.crl` as a list of sources (a string starting with http:// or https:// is a URL). */
export function crlSources(crl: ClientAuthConfig['crl']): CrlSource[] {
  const list = crl === undefined ? [] : Array.isArray(crl) ? crl : [crl];
  return list.map((e) => (typeof e !== 'string' ? { kind: 'url', url: e.url, fallback: e.fallback }
    : URL_START.test(e) ? { kind: 'url', url: e, fallback: undefined } : { kind: 'file', file: e }));
}

/**
 * Loads `clientAuth` material: the CA bundle and every CRL (PEM or DER), each CRL's signature verified against
 * the CA that issued it. A CRL URL contributes the body `crlData` holds for it (fetched and verified by crl-fetch.ts).
 * Throws ConfigError (CG_CONFIG_FILE unreadable, CG_CONFIG_TLS inconsistent, CG_CRL_UNAVAILABLE a URL with no copy).
 * Coverage (`missingCrl`) and staleness (`stale`) are reported, not thrown: start-up and `check` decide.
 */
export function loadTrust(clientAuth: { ca: string; crl?: ClientAuthConfig['crl'] }, crlData?: CrlData): Trust {
  const caPem = readConfigFile(clientAuth.ca, 'clientAuth.ca').toString('utf8');
  const crlFiles = crlSources(clientAuth.crl).map((src) => {
    if (src.kind === 'file') return { file: src.file, data: readConfigFile(src.file, 'clientAuth.crl') };
    const data = crlData?.(src.url);
    if (data === undefined) {
      throw new ConfigError('CG_CRL_UNAVAILABLE', `CRL URL ${src.url} has not been fetched and no cached or fallback copy is available`);
    }
    return { file: src.url, data };
  });
  return buildTrust(caPem, clientAuth.ca, crlFiles);
}
