// One CA inside `ca serve`: its unlocked key, what is served now, the timer that re-signs its CRL, the directory watch.
import { resolve } from 'node:path';
import type { Logger } from '../../observability/logger.ts';
import type { UnlockedCa } from '../ca.ts';
import { basePathOf } from '../ca-url.ts';
import { publishCrl } from '../crl-publish.ts';
import { CaStore } from '../store.ts';
import { DirWatcher } from './dir-watcher.ts';
import type { CaServiceMetrics } from './metrics.ts';
import { readPublished } from './published.ts';
import type { PublishedCa } from './published.ts';
import { delayUntil, MAX_TIMER_MS, refreshAt, retryDelay } from './schedule.ts';

/** Why the service signed a CRL (the `cause` label of certgate_ca_crl_published_total). */
export type PublishCause = 'start' | 'schedule' | 'parent';

export interface ServedCaDeps {
  logger: Logger;
  metrics: CaServiceMetrics;
  /** Lifetime of the CRLs the service signs (ms); undefined: the CA's remembered `crl --days`, else 7 days. */
  lifetimeMs?: number;
  /** Poll interval of the directory watch. */
  pollMs: number;
  /** Called after what is served changed (a new CRL, a new certificate file). */
  onChange: (ca: ServedCa) => void;
}

/** A fingerprint of everything served, to tell a real change from a touched file. */
function servedKey(p: PublishedCa): string {
  return [...p.files.values()].map((r) => r.etag).join(' ');
}

/**
 * Owns, for one CA, the refresh timer, the DirWatcher and the current PublishedCa; `close()` (called by the service
 * at its close) clears all three. Publishing is serialized: one CRL signing at a time per CA.
 */
export class ServedCa {
  readonly ca: UnlockedCa;
  readonly name: string;
  readonly basePath: string | undefined;
  /** The parent CA's directory when certgate created this CA as an intermediate. */
  readonly parentDir: string | undefined;
  #current!: PublishedCa;
  #lastError: string | undefined;
  #nextRefresh: Date | undefined;
  #timer: NodeJS.Timeout | undefined;
  #watcher: DirWatcher | undefined;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #deps: ServedCaDeps;

  constructor(ca: UnlockedCa, deps: ServedCaDeps) {
    this.ca = ca;
    this.#deps = deps;
    const store = CaStore.open(ca.dir);
    try {
      this.name = store.getMeta('ca.name') ?? ca.cert.subject;
      const parent = store.getMeta('ca.parentDir');
      this.parentDir = parent ? resolve(ca.dir, parent) : undefined;
    } finally {
      store.close();
    }
    this.basePath = ca.baseUrl ? basePathOf(ca.baseUrl) : undefined;
  }

  get current(): PublishedCa {
    return this.#current;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  get nextRefresh(): Date | undefined {
    return this.#nextRefresh;
  }

  /** Signs a fresh CRL (a start proves the key signs, and puts the CRL on the service's lifetime), reads it back. */
  async begin(): Promise<void> {
    await this.#publishNow('start', true);
    this.#reload();
  }

  /** Starts the directory watch and the refresh timer. */
  start(): void {
    this.#watcher = new DirWatcher(this.ca.dir, () => this.#reload(), this.#deps.pollMs);
    this.#watcher.start();
    this.#schedule();
  }

  /** Signs a new CRL (queued behind any running one); failures are logged, counted and retried, never thrown. */
  publish(cause: PublishCause): Promise<void> {
    const run = this.#queue.then(() => this.#publishNow(cause, false));
    this.#queue = run.catch(() => {});
    return this.#queue;
  }

  async #publishNow(cause: PublishCause, rethrow: boolean): Promise<void> {
    if (this.#closed) return;
    const { logger, metrics, lifetimeMs } = this.#deps;
    const store = CaStore.open(this.ca.dir);
    try {
      const r = await publishCrl(this.ca, store, { lifetimeMs });
      this.#lastError = undefined;
      metrics.published.inc({ ca: this.name, cause });
      for (const w of r.warnings) logger.warn({ event: 'ca.crl.warning', ca: this.name, dir: this.ca.dir }, w);
      logger.info({ event: 'ca.crl.published', ca: this.name, cause, crlNumber: r.crlNumber.toString(), entries: r.entries,
        nextUpdate: r.nextUpdate.toISOString(), written: r.written }, `signed CRL ${r.crlNumber} (${cause})`);
    } catch (err) {
      this.#lastError = (err as Error).message;
      metrics.publishFailures.inc({ ca: this.name });
      logger.error({ event: 'ca.crl.publish_failed', ca: this.name, cause, err }, `cannot sign a CRL: ${(err as Error).message}`);
      if (rethrow) throw err;
    } finally {
      store.close();
    }
    if (!rethrow) {
      this.#reload();
      this.#schedule();
    }
  }

  /** Re-reads the published files; when anything served changed, updates metrics, reschedules and tells the service. */
  #reload(): void {
    if (this.#closed) return;
    let next: PublishedCa;
    try {
      next = readPublished(this.ca.dir);
    } catch (err) {
      // mid-write or removed: keep serving what we have; the next event or poll looks again
      this.#deps.logger.warn({ event: 'ca.crl.read_failed', ca: this.name, err }, `cannot read the published files: ${(err as Error).message}`);
      return;
    }
    const previous = this.#current as PublishedCa | undefined;
    if (previous && servedKey(previous) === servedKey(next)) return;
    this.#current = next;
    const { metrics, logger } = this.#deps;
    metrics.crlNumber.set({ ca: this.name }, Number(next.crlNumber));
    metrics.crlThisUpdate.set({ ca: this.name }, next.thisUpdate.getTime() / 1000);
    if (next.nextUpdate) metrics.crlNextUpdate.set({ ca: this.name }, next.nextUpdate.getTime() / 1000);
    this.#countCertificates();
    if (previous) {
      metrics.changes.inc({ ca: this.name });
      logger.info({ event: 'ca.crl.changed', ca: this.name, crlNumber: next.crlNumber.toString(),
        nextUpdate: next.nextUpdate?.toISOString() }, `now serving CRL ${next.crlNumber}`);
      if (this.#timer) this.#schedule();
      this.#deps.onChange(this);
    }
  }

  #countCertificates(): void {
    const store = CaStore.open(this.ca.dir);
    try {
      const now = Date.now();
      const counts = { valid: 0, revoked: 0, expired: 0 };
      for (const r of store.list()) {
        if (r.status === 'revoked') counts.revoked++;
        else if (Date.parse(r.notAfter) <= now) counts.expired++;
        else counts.valid++;
      }
      for (const [status, n] of Object.entries(counts)) this.#deps.metrics.certificates.set({ ca: this.name, status }, n);
    } finally {
      store.close();
    }
  }

  /** Arms the timer: at half the current CRL's lifetime, or a retry delay after a failure. */
  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    const now = new Date();
    const delay = this.#lastError !== undefined
      ? retryDelay(this.#current?.nextUpdate, now)
      : delayUntil(refreshAt(this.#current.thisUpdate, this.#current.nextUpdate, this.#deps.lifetimeMs), now);
    this.#nextRefresh = new Date(now.getTime() + delay);
    this.#deps.metrics.crlNextRefresh.set({ ca: this.name }, this.#nextRefresh.getTime() / 1000);
    this.#timer = setTimeout(() => {
      // a wait longer than one timer allows is taken in steps
      if (delay >= MAX_TIMER_MS) this.#schedule();
      else void this.publish('schedule');
    }, delay);
  }

  /** Stops the timer and the watch; waits for a signing in progress to finish writing. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#watcher?.close();
    await this.#queue;
  }
}
