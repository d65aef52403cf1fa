// OCSP stapling for the served certificates: fetch each one's response from its responder, verify it, keep it in
// memory and in `<cert>.ocsp` beside the certificate, refresh it before it ends, and hand it to the TLS server.
import { http } from '../../core/node-http.ts';
import { readFileSync, unlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { writeFileAtomic } from '../../core/fs-atomic.ts';
import type { Logger } from '../../observability/logger.ts';
import type { GatewayMetrics } from '../../observability/metrics.ts';
import { buildOcspRequest, ocspTarget, refreshDelay, retryDelay, verifyOcspResponse } from './ocsp-response.ts';
import type { OcspTarget, OcspVerdict } from './ocsp-response.ts';

/** A certificate file served with `ocspStapling: auto`, as read when the config was compiled. */
export interface StapleSource {
  certFile: string;
  certPem: string;
}

export interface OcspStaplerDeps {
  logger: Logger;
  metrics: GatewayMetrics;
  /** Longest wait for a responder's answer. Default 10 s. */
  fetchTimeoutMs?: number;
}

/** Largest OCSP response accepted from a responder (a real one is 1–4 KiB). */
const MAX_RESPONSE_BYTES = 64 * 1024;

type Status = 'good' | 'revoked' | 'unknown' | 'none';

interface Entry {
  certFile: string;
  target: OcspTarget;
  /** The verified `good` response stapled now, and until when it may be. */
  staple: { der: Buffer; validUntil: number } | null;
  status: Status;
  timer: NodeJS.Timeout | undefined;
  abort: AbortController | undefined;
  failures: number;
  /** Cleared after the first failed write of `<cert>.ocsp`: from then on memory only (logged once). */
  cacheWritable: boolean;
  closed: boolean;
}

/** verifyOcspResponse, with anything pkijs throws on a hostile response turned into a refusal. */
async function verify(der: Buffer, target: OcspTarget): Promise<OcspVerdict> {
  try {
    return await verifyOcspResponse(der, target, new Date());
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: (err as Error).message };
  }
}

class FetchError extends Error {
  readonly reason: 'unreachable' | 'timeout' | 'http_status' | 'too_large';
  constructor(reason: FetchError['reason'], message: string) {
    super(message);
    this.reason = reason;
  }
}

function post(url: string, body: Uint8Array, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response', 'content-length': body.length },
      timeout: timeoutMs,
      signal,
    }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new FetchError('http_status', `the responder answered HTTP ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          req.destroy(new FetchError('too_large', `the response is larger than ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
    // `timeout` is per idle gap; the deadline bounds the whole exchange against a responder that drips bytes
    const deadline = setTimeout(() => req.destroy(new FetchError('timeout', `no complete answer within ${2 * timeoutMs} ms`)), 2 * timeoutMs);
    deadline.unref();
    req.on('close', () => clearTimeout(deadline));
    req.on('timeout', () => req.destroy(new FetchError('timeout', `no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(err instanceof FetchError ? err : new FetchError('unreachable', `${err.code ?? err.message}`)));
    req.end(body);
  });
}

/**
 * The staples of one gateway. The gateway owns it: `sync` on start and after each reload with the certificates in
 * force, `close` on stop, which clears every timer and aborts fetches in flight.
 */
export class OcspStapler {
  readonly #logger: Logger;
  readonly #metrics: GatewayMetrics;
  readonly #timeoutMs: number;
  /** Keyed by certificate file and the SHA-256 of its text: a changed file is a new entry, an unchanged one is kept. */
  readonly #entries = new Map<string, Entry>();
  /** Sources without a target (no responder, no issuer), by the same key: logged once, not re-parsed on reload. */
  readonly #skipped = new Set<string>();
  readonly #source = () => [...this.#entries.values()].map((e) => ({
    subject: e.target.subject, status: e.status, validUntil: e.staple?.validUntil ?? null,
  }));

  constructor(deps: OcspStaplerDeps) {
    this.#logger = deps.logger;
    this.#metrics = deps.metrics;
    this.#timeoutMs = deps.fetchTimeoutMs ?? 10_000;
    this.#metrics.ocspSources.add(this.#source);
  }

  /** Puts these certificates in force: new ones are loaded from cache or fetched, unchanged ones keep their staple. */
  sync(sources: StapleSource[]): void {
    const wanted = new Map<string, StapleSource>();
    for (const s of sources) wanted.set(`${s.certFile}\u0000${createHash('sha256').update(s.certPem).digest('hex')}`, s);
    for (const [key, entry] of this.#entries) {
      if (wanted.has(key)) continue;
      this.#stop(entry);
      this.#entries.delete(key);
    }
    for (const key of this.#skipped) if (!wanted.has(key)) this.#skipped.delete(key);
    for (const [key, source] of wanted) {
      if (this.#entries.has(key) || this.#skipped.has(key)) continue;
      const target = ocspTarget(source.certPem);
      if ('skip' in target) {
        this.#skipped.add(key);
        // a certificate without a responder is the common case (Let's Encrypt and others dropped OCSP): not a warning
        this.#logger[target.skip === 'no_responder' ? 'debug' : 'warn']({ event: 'ocsp.not_stapled', cert: source.certFile, reason: target.skip }, `no OCSP stapling for ${source.certFile}: ${target.detail}`);
        continue;
      }
      const entry: Entry = { certFile: source.certFile, target, staple: null, status: 'none', timer: undefined, abort: undefined, failures: 0, cacheWritable: true, closed: false };
      this.#entries.set(key, entry);
      void this.#begin(entry);
    }
  }

  /**
   * The response to staple for the certificate a TLS context serves (DER, as Node's `OCSPRequest` event gives it),
   * or null: stapling is not on for it (`stapled` holds the SHA-256 of every leaf served with `auto`), there is no
   * verified `good` response, or the one held has run out.
   */
  responseFor(certDer: Buffer, stapled: ReadonlySet<string>): Buffer | null {
    if (stapled.size === 0) return null;
    const fingerprint = createHash('sha256').update(certDer).digest('hex');
    if (!stapled.has(fingerprint)) return null;
    const now = Date.now();
    for (const entry of this.#entries.values()) {
      if (entry.target.fingerprint === fingerprint && entry.staple && entry.staple.validUntil > now) return entry.staple.der;
    }
    return null;
  }

  /** Stops every refresh and fetch in flight; nothing is stapled afterwards. */
  close(): void {
    for (const entry of this.#entries.values()) this.#stop(entry);
    this.#entries.clear();
    this.#skipped.clear();
    this.#metrics.ocspSources.delete(this.#source);
  }

  #stop(entry: Entry): void {
    entry.closed = true;
    clearTimeout(entry.timer);
    entry.abort?.abort();
  }

  #schedule(entry: Entry, delayMs: number): void {
    if (entry.closed) return;
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => void this.#fetch(entry), delayMs);
    entry.timer.unref();
  }

  #cacheFile(entry: Entry): string {
    return `${entry.certFile}.ocsp`;
  }

  /** A restart staples at once from `<cert>.ocsp` when it still verifies; otherwise (or anyway, later) it fetches. */
  async #begin(entry: Entry): Promise<void> {
    let cached: Buffer | undefined;
    try {
      cached = readFileSync(this.#cacheFile(entry));
    } catch {
      // no cache yet
    }
    if (cached) {
      const verdict = await verify(cached, entry.target);
      if (entry.closed) return;
      if (verdict.ok && verdict.status === 'good') {
        this.#accept(entry, cached, verdict.validUntil.getTime(), verdict.thisUpdate, 'cache');
        return;
      }
      // a renewed certificate finds its predecessor's response there: routine, not a warning
      const renewed = !verdict.ok && verdict.reason === 'cert_id_mismatch';
      this.#logger[renewed ? 'info' : 'warn']({ event: 'ocsp.cache_refused', cert: entry.certFile, reason: verdict.ok ? verdict.status : verdict.reason },
        `the cached OCSP response ${this.#cacheFile(entry)} is not used (${verdict.ok ? `status ${verdict.status}` : verdict.detail}); fetching a new one`);
    }
    await this.#fetch(entry);
  }

  async #fetch(entry: Entry): Promise<void> {
    if (entry.closed) return;
    const { target } = entry;
    const abort = new AbortController();
    entry.abort = abort;
    let der: Buffer;
    try {
      der = await post(target.url, await buildOcspRequest(target), this.#timeoutMs, abort.signal);
    } catch (err) {
      if (entry.closed) return;
      const reason = err instanceof FetchError ? err.reason : 'unreachable';
      this.#fail(entry, reason, (err as Error).message);
      return;
    } finally {
      entry.abort = undefined;
    }
    if (entry.closed) return;
    const verdict = await verify(der, target);
    if (entry.closed) return;
    if (!verdict.ok) {
      this.#fail(entry, verdict.reason, verdict.detail);
      return;
    }
    entry.failures = 0;
    if (verdict.status === 'good') {
      this.#accept(entry, der, verdict.validUntil.getTime(), verdict.thisUpdate, 'responder');
      this.#writeCache(entry, der);
      return;
    }
    // revoked or unknown: never stapled; what was stapled before goes too, in memory and in the cache file
    entry.staple = null;
    entry.status = verdict.status;
    this.#removeCache(entry);
    const fields = { cert: entry.certFile, subject: target.subject, serial: target.serial, status: verdict.status, responder: target.url };
    if (verdict.status === 'revoked') {
      this.#logger.error({ ...fields, event: 'ocsp.revoked', revoked_at: verdict.revokedAt?.toISOString() },
        `the OCSP responder says the server certificate ${target.subject} is REVOKED: nothing is stapled; replace the certificate`);
    } else {
      this.#logger.warn({ ...fields, event: 'ocsp.unknown_status' }, `the OCSP responder does not know the server certificate ${target.subject}: nothing is stapled`);
    }
    this.#schedule(entry, refreshDelay(Date.now(), verdict.validUntil.getTime()));
  }

  #accept(entry: Entry, der: Buffer, validUntil: number, thisUpdate: Date, from: 'cache' | 'responder'): void {
    entry.staple = { der, validUntil };
    entry.status = 'good';
    const delay = refreshDelay(Date.now(), validUntil);
    this.#logger.info({ event: 'ocsp.stapled', cert: entry.certFile, subject: entry.target.subject, serial: entry.target.serial, from,
      this_update: thisUpdate.toISOString(), valid_until: new Date(validUntil).toISOString(), refresh_in_s: Math.round(delay / 1000) },
    `OCSP response for ${entry.target.subject} stapled (status good, from ${from})`);
    this.#schedule(entry, delay);
  }

  #fail(entry: Entry, reason: string, detail: string): void {
    entry.failures++;
    this.#metrics.ocspFetchErrors.inc({ reason });
    const now = Date.now();
    if (entry.staple && entry.staple.validUntil <= now) entry.staple = null;
    if (!entry.staple) entry.status = 'none';
    // retry sooner than the back-off when the staple held would otherwise run out first
    let delay = retryDelay(entry.failures);
    if (entry.staple) delay = Math.min(delay, Math.max(1_000, entry.staple.validUntil - now));
    this.#logger.warn({ event: 'ocsp.fetch_failed', cert: entry.certFile, subject: entry.target.subject, responder: entry.target.url, reason,
      failures: entry.failures, retry_in_s: Math.round(delay / 1000), stapling: entry.staple !== null },
    `OCSP response for ${entry.target.subject} not renewed (${detail}); ${entry.staple ? 'the previous one stays stapled until it ends' : 'handshakes go on without a staple'}`);
    this.#schedule(entry, delay);
  }

  #writeCache(entry: Entry, der: Buffer): void {
    if (!entry.cacheWritable) return;
    try {
      writeFileAtomic(this.#cacheFile(entry), der);
    } catch (err) {
      entry.cacheWritable = false;
      this.#logger.warn({ event: 'ocsp.cache_unwritable', cert: entry.certFile, file: this.#cacheFile(entry), code: (err as NodeJS.ErrnoException).code },
        `cannot write ${this.#cacheFile(entry)}: the OCSP response is kept in memory only, so a restart waits for the responder`);
    }
  }

  #removeCache(entry: Entry): void {
    try {
      unlinkSync(this.#cacheFile(entry));
    } catch {
      // none, or not ours to remove: #begin re-verifies whatever is there and never staples a non-good status
    }
  }
}
