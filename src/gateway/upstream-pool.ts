// One undici Pool per upstream (origin + TLS settings + connect timeout), kept alive across requests and reloads.
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { GatewayError } from '../core/errors.ts';
import type { UpstreamConfig, UpstreamTlsConfig } from '../config/schema.ts';

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
  pool: Pool;
}

export interface UpstreamTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new GatewayError('CG_GATEWAY_UPSTREAM', `cannot read upstream ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
}

function tlsOptionsOf(tls: UpstreamTlsConfig | undefined, hostname: string): UpstreamTlsOptions {
  const isIp = /^[\d.]+$|:/.test(hostname);
  return {
    ca: tls?.ca ? readPem(tls.ca, 'CA bundle') : undefined,
    cert: tls?.cert ? readPem(tls.cert, 'client certificate') : undefined,
    key: tls?.key ? readPem(tls.key, 'client key') : undefined,
    // SNI must not be an IP address (RFC 6066); verification still checks the IP SAN
    servername: tls?.servername ?? (isIp ? undefined : hostname),
    rejectUnauthorized: !(tls?.insecureSkipVerify ?? false),
  };
}

/** The pools of every upstream in use. Reloads reuse pools whose key did not change. */
export class UpstreamPools {
  #pools = new Map<string, Upstream>();

  /** Returns the pool for `upstream`, creating it on first use. */
  get(upstream: UpstreamConfig, connectTimeoutMs: number): Upstream {
    const url = typeof upstream === 'string' ? upstream : upstream.url;
    const tls = typeof upstream === 'string' ? undefined : upstream.tls;
    const key = `${url}|${connectTimeoutMs}|${tls ? JSON.stringify(tls) : ''}`;
    const existing = this.#pools.get(key);
    if (existing) return existing;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (err) {
      throw new GatewayError('CG_GATEWAY_UPSTREAM', `upstream ${url} is not a URL`, { cause: err });
    }
    const isTls = parsed.protocol === 'https:';
    const hostname = parsed.hostname.replace(/^\[|\]$/g, '');
    const tlsOptions = isTls ? tlsOptionsOf(tls, hostname) : undefined;
    const pool = new Pool(parsed.origin, {
      connections: null,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      // route timeouts are passed per request; these are upper bounds
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: { timeout: connectTimeoutMs, ...(tlsOptions ?? {}) },
    });
    const entry: Upstream = {
      key,
      origin: parsed.origin,
      tls: isTls,
      hostname,
      port: Number(parsed.port || (isTls ? 443 : 80)),
      tlsOptions,
      connectTimeoutMs,
      pool,
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
