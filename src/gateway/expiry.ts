// What expires and what is failing in the config in force: the expiry gauges for every certificate in use and every
// CRL in force, the daily `cert.expiring` warning, and the certificate/CRL part of /readyz.
import { X509Certificate, createHash } from 'node:crypto';
import { splitCertificates } from '../core/pem.ts';
import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { certificateFields } from './identity/der.ts';
import { formatDn } from './identity/dn.ts';
import type { ListenerRuntime } from './runtime.ts';

/** Why a certificate is in use: served by a listener, trusted for clients, presented to or trusted for an upstream. */
export type CertRole = 'server' | 'client_ca' | 'upstream_client' | 'upstream_ca';

export interface CertInUse {
  role: CertRole;
  /** RFC 4514, as in X-Client-Subject. */
  subject: string;
  notAfter: Date;
  /** SHA-256 of the DER, to tell certificates with the same subject apart. */
  fingerprint: string;
  /** The listener's address, or the upstream origin. */
  where: string;
}

export interface CrlInForce {
  issuer: string;
  file: string;
  listen: string;
  nextUpdate: Date | undefined;
}

const DAY = 86_400_000;

// Parsed once per PEM text while it stays in use (a reload usually keeps most of them); owned by the ExpiryWatch.
type Parsed = Array<{ subject: string; notAfter: Date; fingerprint: string }>;

/** A cache of parsed PEM texts; `prune` drops those not used since the last prune. */
export class PemCache {
  #parsed = new Map<string, Parsed>();
  #used = new Set<string>();

  get(pem: string): Parsed {
    this.#used.add(pem);
    let parsed = this.#parsed.get(pem);
    if (!parsed) {
      parsed = [];
      for (const block of splitCertificates(pem)) {
        try {
          parsed.push(describe(new X509Certificate(block)));
        } catch {
          // unparseable blocks never got past preflight; nothing to export for them
        }
      }
      this.#parsed.set(pem, parsed);
    }
    return parsed;
  }

  prune(): void {
    for (const pem of [...this.#parsed.keys()]) if (!this.#used.has(pem)) this.#parsed.delete(pem);
    this.#used.clear();
  }
}

function describe(cert: X509Certificate): Parsed[number] {
  return {
    subject: formatDn(certificateFields(cert.raw).subject),
    notAfter: new Date(cert.validTo),
    fingerprint: createHash('sha256').update(cert.raw).digest('hex'),
  };
}

/**
 * Every certificate the runtimes in force use: each certificate of a served chain (default and per-site; an expired
 * intermediate breaks clients as surely as an expired leaf), each CA of a client CA bundle, each certificate of an
 * upstream client chain, each CA of an upstream CA bundle (none when the system store is used).
 */
export function certificatesInUse(runtimes: Iterable<ListenerRuntime>, cache = new PemCache()): CertInUse[] {
  const out: CertInUse[] = [];
  const seen = new Set<string>();
  const add = (role: CertRole, where: string, certs: Parsed) => {
    for (const c of certs) {
      const key = `${role}|${c.fingerprint}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ role, where, ...c });
    }
  };
  for (const rt of runtimes) {
    for (const pem of rt.tlsMaterial?.certPems ?? []) add('server', rt.listen, cache.get(pem));
    for (const ca of rt.trust?.cas ?? []) add('client_ca', rt.listen, [describe(ca)]);
    for (const target of rt.targets.values()) {
      const tls = target.upstream.tlsOptions;
      if (tls?.cert) add('upstream_client', target.upstream.origin, cache.get(tls.cert));
      if (tls?.ca) add('upstream_ca', target.upstream.origin, cache.get(tls.ca));
    }
  }
  return out;
}

/** Every CRL in force, one per listener and file. */
export function crlsInForce(runtimes: Iterable<ListenerRuntime>): CrlInForce[] {
  const out: CrlInForce[] = [];
  for (const rt of runtimes) for (const crl of rt.trust?.crls ?? []) out.push({ issuer: crl.issuer, file: crl.file, listen: rt.listen, nextUpdate: crl.nextUpdate });
  return out;
}

/**
 * Why the runtimes in force cannot serve as configured right now (empty: they can): a served certificate past its
 * notAfter, or client certificates refused wholesale because CRLs fail closed (a stale CRL under `staleCrl: refuse`,
 * a CA without a CRL although CRLs are configured).
 */
export function trustProblems(runtimes: Iterable<ListenerRuntime>, now: Date, certs: CertInUse[]): string[] {
  const problems: string[] = [];
  for (const c of certs) {
    if (c.role === 'server' && c.notAfter.getTime() <= now.getTime()) problems.push(`server certificate ${c.subject} of ${c.where} expired at ${c.notAfter.toISOString()}`);
  }
  for (const rt of runtimes) {
    const trust = rt.trust;
    if (!trust) continue;
    if (rt.clientAuth?.staleCrl === 'refuse') for (const line of trust.staleAt(now)) problems.push(`${rt.listen}: ${line} (staleCrl: refuse)`);
    for (const subject of trust.missingCrl) problems.push(`${rt.listen}: the CA "${subject}" has no CRL, so its clients are refused`);
  }
  return problems;
}

export interface ExpiryWatchOptions {
  logger: Logger;
  metrics: GatewayMetrics;
  /** The runtimes in force now (read on every update and every daily check). */
  runtimes: () => Iterable<ListenerRuntime>;
}

/**
 * Keeps the expiry gauges equal to what is in use, and warns once a day about certificates that expire within
 * `expiryWarning`. Created by the gateway on start, updated on every reload and trust re-read, closed on stop.
 */
export class ExpiryWatch {
  readonly #o: ExpiryWatchOptions;
  #warnMs = 30 * DAY;
  #timer: NodeJS.Timeout | undefined;
  readonly #cache = new PemCache();
  /** Fingerprints warned about in the last day: a reload warns about a certificate new to the config, not again. */
  #warned = new Map<string, number>();
  #certs: CertInUse[] = [];

  constructor(options: ExpiryWatchOptions) {
    this.#o = options;
  }

  /** The certificates in use as of the last update. */
  get certificates(): CertInUse[] {
    return this.#certs;
  }

  /** Re-reads what is in use, resets the gauges to it, and warns about what is new and expiring. */
  update(warnMs: number, now = new Date()): void {
    this.#warnMs = warnMs;
    const runtimes = [...this.#o.runtimes()];
    this.#certs = certificatesInUse(runtimes, this.#cache);
    this.#cache.prune();
    const { certExpiry, crlNextUpdate } = this.#o.metrics;
    certExpiry.reset();
    const soonest = new Map<string, { role: CertRole; subject: string; at: number }>();
    for (const c of this.#certs) {
      const key = `${c.role}\u0000${c.subject}`;
      const at = c.notAfter.getTime();
      // two certificates with one subject (a CA during a rollover): the one that expires first is what to alert on
      if (!soonest.has(key) || at < soonest.get(key)!.at) soonest.set(key, { role: c.role, subject: c.subject, at });
    }
    for (const s of soonest.values()) certExpiry.set({ role: s.role, subject: s.subject }, s.at / 1000);
    crlNextUpdate.reset();
    const byIssuer = new Map<string, number>();
    for (const crl of crlsInForce(runtimes)) {
      if (!crl.nextUpdate) continue; // a CRL without nextUpdate never goes stale
      const at = crl.nextUpdate.getTime();
      if (!byIssuer.has(crl.issuer) || at < byIssuer.get(crl.issuer)!) byIssuer.set(crl.issuer, at);
    }
    for (const [issuer, at] of byIssuer) crlNextUpdate.set({ issuer }, at / 1000);
    this.#warn(now, false);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#warn(new Date(), true), DAY);
      this.#timer.unref();
    }
  }

  /** Logs `cert.expiring` for each certificate in use within the window; `daily` repeats those warned before. */
  #warn(now: Date, daily: boolean): void {
    const inUse = new Set(this.#certs.map((c) => c.fingerprint));
    for (const f of [...this.#warned.keys()]) if (!inUse.has(f)) this.#warned.delete(f);
    for (const c of this.#certs) {
      const left = c.notAfter.getTime() - now.getTime();
      if (left > this.#warnMs) continue;
      const last = this.#warned.get(c.fingerprint);
      if (!daily && last !== undefined && now.getTime() - last < DAY) continue;
      this.#warned.set(c.fingerprint, now.getTime());
      const days = Math.floor(left / DAY);
      this.#o.logger.warn({ event: 'cert.expiring', role: c.role, subject: c.subject, fingerprint: c.fingerprint, not_after: c.notAfter.toISOString(), days_left: days, where: c.where },
        left <= 0 ? `the ${c.role} certificate ${c.subject} (${c.where}) has expired` : `the ${c.role} certificate ${c.subject} (${c.where}) expires in ${days} day${days === 1 ? '' : 's'}`);
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
