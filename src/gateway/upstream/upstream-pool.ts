// One undici Pool per upstream (origin + TLS settings + connect timeout + limits), kept alive across requests and
// reloads, behind a gate that caps requests in flight and bounds the queue of those waiting.
import { readFileSync } from 'node:fs';
import { checkServerIdentity, createSecureContext } from 'node:tls';
import { createHash } from 'node:crypto';
import type { PeerCertificate, DetailedPeerCertificate } from 'node:tls';
import { Pool, buildConnector } from './undici-parts.ts';
import { GatewayError } from '../../core/errors.ts';
import { parseDuration } from '../../core/duration.ts';
import { tagTlsAlerts } from './upstream-errors.ts';
import type { UpstreamConfig, UpstreamTlsConfig } from '../../config/schema.ts';
import type { GatewayMetrics } from '../../observability/metrics.ts';

export interface Upstream {
  /** Stable key: origin + TLS settings + connect timeout. */
  key: string;
  /** "http://127.0.0.1:3000" (no trailing slash), as the config names it. */
  origin: string;
  tls: boolean;
  /** Host and port for WebSocket tunnels, which bypass undici. */
  hostname: string;
  port: number;
  /** TLS options for a raw tls.connect (WebSocket tunnels); undefined for http:// upstreams. */
  tlsOptions: UpstreamTlsOptions | undefined;
  connectTimeoutMs: number;
  /** A constant per upstream, passed as each request's servername so undici keeps its connections (see `get`). */
  sniKey: string;
  pool: Pool;
  /** Admission to the pool: at most `limits.connections` requests in flight, a bounded queue behind them. */
  gate: UpstreamGate;
}

/** Why a request never reached the upstream: the queue was full, or it waited too long. */
export type GateRefusal = 'upstream_queue_full' | 'upstream_queue_timeout';

interface Waiter {
  run: () => void;
  refuse: (why: GateRefusal) => void;
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
}

/** A handle on a request admitted or queued by the gate; `release` once it no longer holds (or waits for) a slot. */
export interface GatePass {
  release(): void;
}

/** The pass of a request admitted at once: releasing it gives the slot back, once. */
class HeldPass implements GatePass {
  #gate: UpstreamGate | null;

  constructor(gate: UpstreamGate) {
    this.#gate = gate;
  }

  release(): void {
    const gate = this.#gate;
    if (gate === null) return;
    this.#gate = null;
    gate.leave();
  }
}

/**
 * Caps the requests in flight to one upstream (with pipelining 1 each holds one connection) and queues the rest for
 * at most `waitMs`. Without it, one client could make the gateway open a connection per HTTP/2 stream.
 */
export class UpstreamGate {
  readonly max: number;
  readonly queueMax: number;
  readonly waitMs: number;
  active = 0;
  queued = 0;
  readonly #queue: Waiter[] = [];
  #head = 0;
  readonly #changed: () => void;

  constructor(max: number, queueMax: number, waitMs: number, changed: () => void = () => undefined) {
    this.max = max;
    this.queueMax = queueMax;
    this.waitMs = waitMs;
    this.#changed = changed;
  }

  /**
   * Runs `run` now or when a slot frees up, or calls `refuse`. Exactly one of the two is called, at most once. `run`
   * gets the pass before anything else happens, so a failure inside it (even a synchronous one) can give the slot back.
   */
  enter(run: (pass: GatePass) => void, refuse: (why: GateRefusal) => void): GatePass {
    // the common case, a free slot: one small object, no waiter, no closures
    if (this.active < this.max) {
      this.active++;
      this.#changed();
      const pass = new HeldPass(this);
      run(pass);
      return pass;
    }
    const w: Waiter = { run: () => undefined, refuse, timer: undefined, settled: false };
    let holding = false;
    const pass: GatePass = {
      release: () => {
        if (holding) {
          holding = false;
          this.active--;
          this.#next();
          this.#changed();
        } else if (!w.settled) {
          // left while queued: give up the place
          w.settled = true;
          clearTimeout(w.timer);
          this.queued--;
          this.#changed();
        }
      },
    };
    w.run = () => {
      holding = true;
      run(pass);
    };
    if (this.active < this.max) {
      w.settled = true;
      this.active++;
      this.#changed();
      w.run();
      return pass;
    }
    if (this.queued >= this.queueMax) {
      w.settled = true;
      refuse('upstream_queue_full');
      return pass;
    }
    this.queued++;
    this.#queue.push(w);
    w.timer = setTimeout(() => {
      if (w.settled) return;
      w.settled = true;
      this.queued--;
      this.#changed();
      w.refuse('upstream_queue_timeout');
    }, this.waitMs);
    this.#changed();
    return pass;
  }

  /** A held slot is given back (HeldPass.release). */
  leave(): void {
    this.active--;
    this.#next();
    this.#changed();
  }

  #next(): void {
    while (this.active < this.max && this.#head < this.#queue.length) {
      const w = this.#queue[this.#head++];
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      if (w.settled) continue;
      w.settled = true;
      clearTimeout(w.timer);
      this.queued--;
      this.active++;
      w.run();
    }
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
  }
}

export interface UpstreamTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  /** The client certificate and key as one PKCS#12, with its password. */
  pfx?: Buffer;
  passphrase?: string;
  servername?: string;
  rejectUnauthorized: boolean;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** Node's name check, plus `tls.verifyDepth` when set (Node has no verify-depth option of its own). */
  checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined;
}

/** Certificates below the trust anchor in a verified peer chain (leaf included), as Node hands it over. */
export function depthBelowRoot(cert: DetailedPeerCertificate): number {
  let depth = 0;
  let c: DetailedPeerCertificate | undefined = cert;
  // bounded: a chain never holds more than OpenSSL's own limit (100)
  for (let i = 0; i < 100 && c !== undefined; i++) {
    const issuer: DetailedPeerCertificate | undefined = c.issuerCertificate;
    if (issuer === undefined || issuer === c || issuer.fingerprint256 === c.fingerprint256) return depth;
    depth++;
    c = issuer;
  }
  return depth;
}

/** Node's checkServerIdentity, then the chain depth: an error with code CERT_CHAIN_TOO_LONG past `max`. */
function depthChecker(max: number): (hostname: string, cert: PeerCertificate) => Error | undefined {
  return (hostname, cert) => {
    const err = checkServerIdentity(hostname, cert);
    if (err !== undefined) return err;
    const depth = depthBelowRoot(cert as DetailedPeerCertificate);
    if (depth > max) {
      return Object.assign(new Error(`the upstream's chain has ${depth} certificates below its root; tls.verifyDepth allows ${max}`), { code: 'CERT_CHAIN_TOO_LONG' });
    }
    return undefined;
  };
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new GatewayError('CG_GATEWAY_UPSTREAM', `cannot read upstream ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
}

/** The password in a password file: its first line, without the line end. */
function firstLine(data: Buffer): string {
  const text = data.toString('utf8');
  const end = text.search(/\r?\n/);
  return end < 0 ? text : text.slice(0, end);
}

/** A digest of what an upstream's TLS files hold now (pools are keyed by it, so changed files make a new pool). */
function materialDigest(o: UpstreamTlsOptions | undefined): string {
  if (o === undefined) return '';
  const h = createHash('sha256');
  for (const part of [o.ca, o.cert, o.key, o.pfx, o.passphrase]) h.update(part === undefined ? '\0' : `${part.length}:`).update(part ?? '');
  return h.digest('hex').slice(0, 32);
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new GatewayError('CG_GATEWAY_UPSTREAM', `cannot read upstream ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
}

/**
 * Reads an upstream's TLS files (each time the config is compiled, so a reload sees new files); the name sent as SNI
 * and verified is tls.servername, else `hostname`. A p12 is checked here, so a wrong password is a refused config.
 */
export function tlsOptionsOf(tls: UpstreamTlsConfig | undefined, hostname: string): UpstreamTlsOptions {
  const isIp = /^[\d.]+$|:/.test(hostname);
  const pfx = tls?.p12 ? readFile(tls.p12, 'PKCS#12 file') : undefined;
  const passphrase = tls?.passwordFile ? firstLine(readFile(tls.passwordFile, 'p12 password file')) : undefined;
  if (pfx !== undefined) {
    try {
      createSecureContext({ pfx, passphrase });
    } catch (err) {
      const wrong = /mac verify|bad decrypt|invalid password/i.test((err as Error).message);
      throw new GatewayError('CG_GATEWAY_UPSTREAM', wrong
        ? `upstream p12 ${tls!.p12}: the password ${tls!.passwordFile ? `in ${tls!.passwordFile} ` : ''}does not open it`
        : `upstream p12 ${tls!.p12} cannot be used: ${(err as Error).message}`, { cause: err });
    }
  }
  return {
    ca: tls?.ca ? readPem(tls.ca, 'CA bundle') : undefined,
    cert: tls?.cert ? readPem(tls.cert, 'client certificate') : undefined,
    key: tls?.key ? readPem(tls.key, 'client key') : undefined,
    ...(pfx !== undefined ? { pfx, passphrase } : {}),
    // SNI must not be an IP address (RFC 6066); verification still checks the IP SAN
    servername: tls?.servername ?? (isIp ? undefined : hostname),
    rejectUnauthorized: !(tls?.insecureSkipVerify ?? false),
    minVersion: tls?.minVersion ?? 'TLSv1.2',
    ...(tls?.verifyDepth !== undefined ? { checkServerIdentity: depthChecker(tls.verifyDepth) } : {}),
  };
}

/** The pools of every upstream in use. Reloads reuse pools whose key did not change. */
export class UpstreamPools {
  #pools = new Map<string, Upstream>();
  readonly #metrics: GatewayMetrics | undefined;

  constructor(metrics?: GatewayMetrics) {
    this.#metrics = metrics;
    // the gauges read the gates when scraped, so the request path only moves two integers
    metrics?.upstreamGates.add(this.#gauges);
  }

  readonly #gauges = (): Array<{ origin: string; active: number; queued: number }> =>
    [...this.#pools.values()].map((u) => ({ origin: u.origin, active: u.gate.active, queued: u.gate.queued }));

  /** Returns the pool for `upstream`, creating it on first use. */
  get(upstream: UpstreamConfig, connectTimeoutMs: number): Upstream {
    const url = typeof upstream === 'string' ? upstream : upstream.url;
    const tls = typeof upstream === 'string' ? undefined : upstream.tls;
    const limits = (typeof upstream === 'string' ? undefined : upstream.limits) ?? { connections: 512, queue: 2048, queueTimeout: '10s' };
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (err) {
      throw new GatewayError('CG_GATEWAY_UPSTREAM', `upstream ${url} is not a URL`, { cause: err });
    }
    const isTls = parsed.protocol === 'https:';
    const hostname = parsed.hostname.replace(/^\[|\]$/g, '');
    const tlsOptions = isTls ? tlsOptionsOf(tls, hostname) : undefined;
    // keyed by origin: routes that differ only in base path, Host or stripPrefix share one pool; and by what the TLS
    // files hold, so a reload after a client certificate or CA changed builds a new pool (the old one finishes its
    // in-flight requests, then closes)
    const key = `${parsed.origin}|${connectTimeoutMs}|${tls ? JSON.stringify(tls) : ''}|${materialDigest(tlsOptions)}|${limits.connections}/${limits.queue}/${limits.queueTimeout}`;
    const existing = this.#pools.get(key);
    if (existing) return existing;
    // undici takes the TLS server name from each request's Host header (a name the client chose) and reconnects when
    // it changes. The name sent as SNI and verified is the upstream's own: tls.servername, else the URL's host (no SNI
    // for an IP, whose IP SAN is verified). proxy-http.ts passes `sniKey` with every request so undici never sees a
    // change; this connector then connects with the pinned name whatever undici passes.
    const connector = buildConnector({ timeout: connectTimeoutMs, ...(tlsOptions ?? {}) } as Parameters<typeof buildConnector>[0]);
    const pinned = tlsOptions?.servername;
    const pool = new Pool(parsed.origin, {
      // the gate admits at most this many requests; the pool never opens more connections than that
      connections: limits.connections,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      // route timeouts are passed per request; these are upper bounds
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: isTls
        ? (opts, cb) => connector({ ...opts, servername: pinned }, (err, socket) => {
          if (socket) tagTlsAlerts(socket, true);
          cb(err, socket as never);
        })
        : { timeout: connectTimeoutMs },
    });
    const entry: Upstream = {
      key,
      origin: parsed.origin,
      tls: isTls,
      hostname,
      port: Number(parsed.port || (isTls ? 443 : 80)),
      tlsOptions,
      sniKey: tlsOptions?.servername ?? hostname,
      connectTimeoutMs,
      pool,
      gate: new UpstreamGate(limits.connections, limits.queue, parseDuration(limits.queueTimeout) ?? 10_000),
    };
    this.#pools.set(key, entry);
    return entry;
  }

  /** Closes pools whose key is not in `keep` (after a reload); in-flight requests on them finish first. */
  async retain(keep: ReadonlySet<string>): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, entry] of this.#pools) {
      if (keep.has(key)) continue;
      this.#pools.delete(key);
      closing.push(entry.pool.close().catch(() => undefined));
    }
    await Promise.all(closing);
  }

  /** Closes every pool (graceful), then destroys what is left after `timeoutMs`. */
  async closeAll(timeoutMs = 5_000): Promise<void> {
    this.#metrics?.upstreamGates.delete(this.#gauges);
    const entries = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(
      entries.map(async (e) => {
        const timer = setTimeout(() => void e.pool.destroy().catch(() => undefined), timeoutMs);
        try {
          await e.pool.close();
        } catch {
          // already destroyed
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }
}
