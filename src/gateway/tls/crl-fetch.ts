// CRLs by URL: fetched at start, kept current by long-poll (certgate ca serve) or conditional GET, verified, cached on disk.
import { readFileSync, mkdirSync, unlinkSync, existsSync } from 'node:fs';
import { http } from '../../core/node-http.ts';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { homedir } from 'node:os';
import type { GatewayConfig } from '../../config/schema.ts';
import type { Logger } from '../../observability/logger.ts';
import type { GatewayMetrics } from '../../observability/metrics.ts';
import { writeFileAtomic } from '../../core/fs-atomic.ts';
import { splitCertificates } from '../../core/pem.ts';
import { parseDuration } from '../../core/duration.ts';
import { GatewayError } from '../../core/errors.ts';
import { acceptCrl, highestNumber, type AcceptedState } from './crl-accept.ts';
import { crlSources } from './trust.ts';
import type { ParsedCrl } from './crl-file.ts';

/** The wait asked of a long-polling server: under the common 30 s / 60 s idle timeouts of proxies in between. */
export const LONG_POLL_WAIT_S = 25;
/** Longest CRL body accepted (a CRL with a million entries is about 40 MB; this is for sane deployments). */
const MAX_BODY = 32 * 1024 * 1024;
/** One fetch at start or in `check`: long enough for a slow link, short enough not to stall start-up. */
const FIRST_FETCH_MS = 10_000;

/** Where cached CRLs live: config `stateDir`, else systemd's $STATE_DIRECTORY, $XDG_STATE_HOME/certgate, ~/.local/state/certgate. */
export function resolveStateDir(config: Pick<GatewayConfig, 'stateDir'>, env: NodeJS.ProcessEnv): string {
  if (config.stateDir) return config.stateDir;
  const systemd = env.STATE_DIRECTORY?.split(':')[0];
  if (systemd) return systemd;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'certgate');
  return join(homedir(), '.local', 'state', 'certgate');
}

/** Cache file names of a URL under `stateDir/crl/`: a hash, so any URL makes a safe file name. */
export function cachePaths(stateDir: string, url: string): { dir: string; body: string; meta: string; reset: string } {
  const key = createHash('sha256').update(url).digest('hex').slice(0, 24);
  const dir = join(stateDir, 'crl');
  return { dir, body: join(dir, `${key}.crl`), meta: join(dir, `${key}.json`), reset: join(dir, `${key}.reset`) };
}

/** The cached copy of each CRL URL, read from disk only (for `certgate explain`, which never fetches). */
export function cachedCrlData(stateDir: string): (url: string) => Buffer | undefined {
  return (url) => readOptional(cachePaths(stateDir, url).body);
}

interface Response {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** One GET; rejects on connection errors, timeouts and oversized bodies. `onRequest` hands out the request so close() can abort it. */
function get(url: string, headers: Record<string, string>, timeoutMs: number, onRequest: (req: ClientRequest | null) => void): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = url.startsWith('https:') ? httpsRequest : http.request;
    const req = request(url, { method: 'GET', headers: { 'user-agent': 'certgate', ...headers }, agent: false, timeout: timeoutMs });
    onRequest(req);
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      onRequest(null);
    };
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => {
      done();
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(Object.assign(new Error('CRL body too large'), { code: 'E2BIG' }));
        else chunks.push(c);
      });
      res.on('end', () => {
        done();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (err) => {
        done();
        reject(err);
      });
    });
    req.end();
  });
}

/** Short reason text for a failed request (the `reason` label). */
function failureReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ETIMEDOUT') return 'timeout';
  if (code === 'E2BIG') return 'too_large';
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET' || code === 'EAI_AGAIN') return 'unreachable';
  return 'error';
}

interface Source {
  url: string;
  fallback: string | undefined;
  /** CA bundles of every server naming this URL (a fetched CRL must be signed by one of their CAs). */
  caFiles: Set<string>;
  cas: X509Certificate[];
  refreshMs: number;
  body: Buffer | undefined;
  etag: string | undefined;
  accepted: AcceptedState | null;
  /** Known after the first answer: does the server hold requests (X-Certgate-Wait)? */
  longPoll: boolean | undefined;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  req: ClientRequest | null;
  closed: boolean;
}

export interface CrlFetcherOptions {
  stateDir: string;
  logger: Logger;
  metrics?: GatewayMetrics;
  /** False for `certgate check`: read the cache, never write it. */
  writeCache: boolean;
}

/**
 * The CRL URLs of a config. `prepare` gets a verified copy of each (fetch, else the disk cache, else the fallback
 * file); `start` keeps them current; `onChange` runs after a new CRL was accepted (the gateway reloads trust).
 */
export class CrlFetcher {
  readonly #o: CrlFetcherOptions;
  readonly #sources = new Map<string, Source>();
  #started = false;
  #closed = false;
  onChange: ((url: string) => void) | undefined;

  constructor(options: CrlFetcherOptions) {
    this.#o = options;
  }

  /** The accepted body of a URL, for trust.ts's loadTrust. */
  readonly data = (url: string): Buffer | undefined => this.#sources.get(url)?.body;

  /** URLs known to the fetcher. */
  urls(): string[] {
    return [...this.#sources.keys()];
  }

  /**
   * Makes sure every CRL URL of `config` has a verified copy. Returns one problem line per URL that has none
   * (`serve` refuses to start, `check` fails, a reload is refused). New URLs start polling if `start` ran.
   */
  async prepare(config: GatewayConfig): Promise<string[]> {
    const wanted = new Map<string, { fallback: string | undefined; caFiles: Set<string>; refreshMs: number }>();
    for (const server of config.servers) {
      const ca = server.clientAuth;
      if (!ca || ca.mode === 'off' || !server.tls) continue;
      for (const src of crlSources(ca.crl)) {
        if (src.kind !== 'url') continue;
        const w = wanted.get(src.url) ?? { fallback: undefined, caFiles: new Set<string>(), refreshMs: Infinity };
        w.fallback ??= src.fallback;
        w.caFiles.add(ca.ca);
        w.refreshMs = Math.min(w.refreshMs, parseDuration(ca.crlRefresh) ?? 30_000);
        wanted.set(src.url, w);
      }
    }
    const problems: string[] = [];
    if (wanted.size > 0 && this.#o.writeCache) {
      try {
        mkdirSync(cachePaths(this.#o.stateDir, '').dir, { recursive: true, mode: 0o700 });
      } catch (err) {
        problems.push(`stateDir ${this.#o.stateDir} cannot be created (${(err as NodeJS.ErrnoException).code}); set stateDir to a writable directory`);
        return problems;
      }
    }
    await Promise.all([...wanted].map(async ([url, w]) => {
      const existing = this.#sources.get(url);
      const cas = readCas(w.caFiles);
      if (existing) {
        existing.fallback = w.fallback;
        existing.caFiles = w.caFiles;
        existing.cas = cas;
        existing.refreshMs = w.refreshMs;
        return;
      }
      const s: Source = {
        url, fallback: w.fallback, caFiles: w.caFiles, cas, refreshMs: w.refreshMs, body: undefined, etag: undefined, accepted: null,
        longPoll: undefined, failures: 0, timer: undefined, req: null, closed: false,
      };
      const why = await this.#first(s);
      if (s.body === undefined) {
        const cache = cachePaths(this.#o.stateDir, url).body;
        problems.push(`CRL URL ${url}: ${why}; there is no cached copy (${cache}) and no fallback file, so revocations cannot be enforced`
          + ' (start the CA service, or give {url: ..., fallback: crl.pem})');
        return;
      }
      this.#sources.set(url, s);
      if (this.#started) this.#schedule(s, 0);
    }));
    return problems;
  }

  /** Stops polling URLs `config` no longer names. */
  retain(config: GatewayConfig): void {
    const keep = new Set<string>();
    for (const server of config.servers) for (const src of crlSources(server.clientAuth?.crl)) if (src.kind === 'url') keep.add(src.url);
    for (const [url, s] of this.#sources) {
      if (keep.has(url)) continue;
      this.#stop(s);
      this.#sources.delete(url);
    }
  }

  /** Starts keeping every prepared URL current. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    for (const s of this.#sources.values()) this.#schedule(s, 0);
  }

  /** Stops every timer and aborts every request in flight. */
  close(): void {
    this.#closed = true;
    for (const s of this.#sources.values()) this.#stop(s);
  }

  #stop(s: Source): void {
    s.closed = true;
    clearTimeout(s.timer);
    s.timer = undefined;
    s.req?.destroy();
    s.req = null;
  }

  /** Cache, then one fetch, then the fallback file. Returns why the fetch failed (for the problem line). */
  async #first(s: Source): Promise<string> {
    const paths = cachePaths(this.#o.stateDir, s.url);
    const { logger } = this.#o;
    const cached = readOptional(paths.body);
    if (cached) {
      const r = acceptCrl(cached, s.url, s.cas, null, new Date());
      if (r.ok) this.#install(s, cached, undefined, r, 'cache');
      else logger.warn({ event: 'crl.cache_refused', url: s.url, reason: r.reason, file: paths.body }, `cached CRL of ${s.url} ignored: ${r.detail}`);
    }
    let why = 'not fetched';
    try {
      const res = await get(s.url, {}, FIRST_FETCH_MS, (req) => (s.req = req));
      if (res.status === 200) {
        if (!this.#consider(s, res)) why = 'the CRL it serves was refused (see crl.refused)';
      } else {
        why = `the server answered ${res.status}`;
        this.#failed(s, `http_${res.status}`, why);
      }
    } catch (err) {
      why = `cannot fetch it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      this.#failed(s, failureReason(err), why);
    }
    if (s.body === undefined && s.fallback) {
      const data = readOptional(s.fallback);
      const r = data ? acceptCrl(data, s.fallback, s.cas, null, new Date()) : null;
      if (data && r?.ok) {
        this.#cache(s, data, undefined, r.state);
        this.#install(s, data, undefined, r, 'fallback');
      }
      else logger.error({ event: 'crl.fallback_refused', url: s.url, file: s.fallback, reason: r && !r.ok ? r.reason : 'unreadable' }, `fallback CRL ${s.fallback} of ${s.url} cannot be used${r && !r.ok ? `: ${r.detail}` : ' (unreadable)'}`);
    }
    return why;
  }

  /** A 200 body: verified, then put in force when it differs. False when it was refused. */
  #consider(s: Source, res: Response): boolean {
    const etag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
    const paths = cachePaths(this.#o.stateDir, s.url);
    let r = acceptCrl(res.body, s.url, s.cas, s.accepted, new Date());
    let reset = false;
    if (!r.ok && (r.reason === 'number_backwards' || r.reason === 'issuer_changed') && existsSync(paths.reset)) {
      r = acceptCrl(res.body, s.url, s.cas, s.accepted, new Date(), true);
      reset = r.ok;
    }
    if (!r.ok) {
      this.#failed(s, r.reason, r.detail, true);
      return false;
    }
    if (reset) this.#o.logger.warn({ event: 'crl.reset_accepted', url: s.url }, `CRL of ${s.url} accepted with a lower CRL number (certgate crl accept-reset)`);
    // the mark is for the next CRL accepted, whether it needed it or not: a later replay must not profit from it
    if (this.#o.writeCache && existsSync(paths.reset)) {
      try {
        unlinkSync(paths.reset);
      } catch {
        // already gone: nothing to undo
      }
    }
    s.failures = 0;
    this.#o.metrics?.crlFetchSuccess.set({ url: s.url }, Date.now() / 1000);
    if (s.body !== undefined && s.body.equals(res.body)) {
      s.etag = etag;
      s.accepted = r.state;
      return true;
    }
    // cached first: worker processes read the cache when the change is announced (#install)
    this.#cache(s, res.body, etag, r.state);
    this.#install(s, res.body, etag, r, 'fetch');
    return true;
  }

  #cache(s: Source, body: Buffer, etag: string | undefined, state: AcceptedState): void {
    if (!this.#o.writeCache) return;
    const paths = cachePaths(this.#o.stateDir, s.url);
    try {
      writeFileAtomic(paths.body, body, { mode: 0o644 });
      writeFileAtomic(paths.meta, JSON.stringify({ url: s.url, etag, numbers: state.numbers, fetchedAt: new Date().toISOString() }) + '\n');
    } catch (err) {
      this.#o.logger.error({ event: 'crl.cache_write_failed', url: s.url, dir: paths.dir, code: (err as NodeJS.ErrnoException).code },
        `cannot write the CRL cache in ${paths.dir}: a restart without the CA service (and worker processes) would use an older copy`);
    }
  }

  #install(s: Source, body: Buffer, etag: string | undefined, accepted: { state: AcceptedState; crls: ParsedCrl[] }, from: 'fetch' | 'cache' | 'fallback'): void {
    const changed = s.body !== undefined;
    s.body = body;
    s.etag = etag;
    s.accepted = accepted.state;
    const number = highestNumber(accepted.state);
    const newest = Math.max(...accepted.crls.map((c) => c.thisUpdate.getTime()));
    if (number !== undefined) this.#o.metrics?.crlNumber.set({ url: s.url }, Number(number));
    this.#o.metrics?.crlThisUpdate.set({ url: s.url }, newest / 1000);
    this.#o.logger.info({ event: changed ? 'crl.updated' : 'crl.loaded', url: s.url, from, crlNumber: number?.toString(), etag },
      `${changed ? 'new CRL in force' : 'CRL loaded'} for ${s.url} (from ${from}${number !== undefined ? `, number ${number}` : ''})`);
    if (changed && !s.closed) this.onChange?.(s.url);
  }

  #failed(s: Source, reason: string, detail: string, refused = false): void {
    s.failures++;
    this.#o.metrics?.crlFetchFailure.set({ url: s.url }, Date.now() / 1000);
    this.#o.metrics?.crlFetchFailures.inc({ url: s.url, reason });
    const fields = { event: refused ? 'crl.refused' : 'crl.fetch_failed', url: s.url, reason, failures: s.failures };
    const keeps = s.body === undefined ? 'no CRL of it is in force yet' : 'the last good CRL stays in force';
    if (refused) this.#o.logger.error(fields, `CRL from ${s.url} refused: ${detail}; ${keeps}`);
    // a CA service that is down fails every few seconds: log the first failures loudly, then quietly
    else this.#o.logger[s.failures <= 3 ? 'warn' : 'debug'](fields, `CRL fetch from ${s.url} failed: ${detail}; ${keeps}`);
  }

  #schedule(s: Source, delayMs: number): void {
    if (s.closed || this.#closed) return;
    clearTimeout(s.timer);
    s.timer = setTimeout(() => void this.#poll(s), delayMs);
    s.timer.unref();
  }

  /** Back-off after a failure: 1 s, 2 s, 4 s ... up to crlRefresh. */
  #backoff(s: Source): number {
    return Math.min(1000 * 2 ** Math.min(s.failures - 1, 16), s.refreshMs);
  }

  async #poll(s: Source): Promise<void> {
    s.timer = undefined;
    const wait = s.longPoll === false ? 0 : LONG_POLL_WAIT_S;
    const url = wait > 0 ? `${s.url}${s.url.includes('?') ? '&' : '?'}wait=${wait}` : s.url;
    const headers: Record<string, string> = s.etag ? { 'if-none-match': s.etag } : {};
    let next: number;
    try {
      const res = await get(url, headers, wait * 1000 + 5_000, (req) => (s.req = req));
      if (s.closed) return;
      const longPoll = wait > 0 && res.headers['x-certgate-wait'] !== undefined;
      if (res.status === 200 || res.status === 304) {
        if (wait > 0) s.longPoll = longPoll;
        const ok = res.status === 304 || this.#consider(s, res);
        if (res.status === 304) {
          s.failures = 0;
          this.#o.metrics?.crlFetchSuccess.set({ url: s.url }, Date.now() / 1000);
        }
        next = !ok ? this.#backoff(s) : longPoll ? 0 : s.refreshMs;
      } else if (res.status === 503) {
        const after = Number(res.headers['retry-after']);
        next = Math.min(Math.max(Number.isFinite(after) ? after * 1000 : 1000, 1000), s.refreshMs);
      } else {
        this.#failed(s, `http_${res.status}`, `the server answered ${res.status}`);
        next = this.#backoff(s);
      }
    } catch (err) {
      if (s.closed) return;
      this.#failed(s, failureReason(err), `${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      next = this.#backoff(s);
    }
    this.#schedule(s, next);
  }
}

function readOptional(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function readCas(files: Set<string>): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const f of files) {
    const text = readOptional(f)?.toString('utf8') ?? '';
    for (const pem of splitCertificates(text)) {
      try {
        out.push(new X509Certificate(pem));
      } catch {
        // preflight reports a bundle that does not parse; here it only means fewer CAs to verify against
      }
    }
  }
  return out;
}

/** Throws CG_CRL_UNAVAILABLE naming every URL without a copy (serve at start). */
export function assertCrlsAvailable(problems: string[]): void {
  if (problems.length === 0) return;
  throw new GatewayError('CG_CRL_UNAVAILABLE', `refusing to start: ${problems.join('; ')}`, { hint: 'certgate check -c CONFIG shows the same; see "CRLs by URL" in docs/gateway.md' });
}
