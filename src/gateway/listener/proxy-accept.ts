// PROXY protocol at accept time: before any TLS or HTTP byte, read the load balancer's header (bounded in time and
// size) and hand back the real client address; refuse a header from anyone else and a missing one from a balancer.
import type { Socket } from 'node:net';
import { parseProxyHeader, looksLikeProxyHeader, V1_MAX, V2_MAX } from '../tcp/proxy-protocol-parse.ts';

export type ProxyOutcome =
  /** `ip`: the client address the header names; undefined when it names none (LOCAL, UNKNOWN): the socket's own applies. */
  | { ok: true; ip: string | undefined; port?: number }
  | { ok: false; reason: 'proxy_header_missing' | 'proxy_header_invalid' | 'proxy_header_untrusted' | 'proxy_header_timeout' | 'closed'; detail: string };

/**
 * Reads the first bytes of `raw`. `expect` true (the peer is a configured load balancer): a complete PROXY header
 * must come within `timeoutMs`. `expect` false: the first bytes must not look like a PROXY header. The bytes after
 * the header are put back (unshift), the socket is left paused, and `done` is called exactly once.
 */
export function readProxyHeader(raw: Socket, expect: boolean, timeoutMs: number, done: (o: ProxyOutcome) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (o: ProxyOutcome, consumed: number) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    raw.off('data', onData);
    raw.off('close', onClose);
    raw.off('end', onClose);
    raw.pause();
    if (o.ok && consumed < buf.length) raw.unshift(buf.subarray(consumed));
    done(o);
  };
  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (!expect) {
      // one byte is enough to tell TLS (0x16) or an HTTP method from a PROXY header; six to be sure it is one
      if (!looksLikeProxyHeader(buf)) finish({ ok: true, ip: undefined }, 0);
      else if (buf.length >= 6) finish({ ok: false, reason: 'proxy_header_untrusted', detail: 'a PROXY header from an address not in proxyProtocol.from' }, 0);
      return;
    }
    const r = parseProxyHeader(buf);
    if (r.status === 'ok') finish({ ok: true, ip: r.source?.ip, port: r.source?.port }, r.length);
    else if (r.status === 'invalid') finish({ ok: false, reason: r.reason === 'no PROXY header' ? 'proxy_header_missing' : 'proxy_header_invalid', detail: r.reason }, 0);
    else if (buf.length > Math.max(V1_MAX, V2_MAX)) finish({ ok: false, reason: 'proxy_header_invalid', detail: 'header too large' }, 0);
  };
  const onClose = () => finish({ ok: false, reason: 'closed', detail: 'closed before the first bytes' }, 0);
  const timer = setTimeout(() => finish(expect
    ? { ok: false, reason: 'proxy_header_timeout', detail: `no complete PROXY header within ${timeoutMs} ms` }
    : { ok: false, reason: 'proxy_header_timeout', detail: `no bytes within ${timeoutMs} ms` }, 0), timeoutMs);
  raw.on('data', onData);
  raw.once('close', onClose);
  raw.once('end', onClose);
}
