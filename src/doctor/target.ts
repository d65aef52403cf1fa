// Parses the doctor's target (an https:// URL or HOST:PORT) into host, port, path, SNI name and whether to speak HTTP.
import { isIP } from 'node:net';
import { UserError } from '../core/errors.ts';

/** Where doctor connects and what it asks for there. */
export interface DoctorTarget {
  host: string;
  port: number;
  /** Path of the HTTP probe (`/` unless the URL names one). */
  path: string;
  /** The name sent as SNI and checked against the server certificate (--servername, else a non-IP host). */
  servername: string | undefined;
  /** The name the server certificate must carry: --servername, else the host (an IP checks the IP SANs). */
  verifyName: string;
  /** 'always' for a URL; 'alpn' for HOST:PORT: probe HTTP only when the server agrees on http/1.1 by ALPN. */
  http: 'always' | 'alpn';
}

/** Reads `https://host[:port][/path]` or `host:port` (`[v6]:port`). Throws CG_USAGE with the accepted forms. */
export function parseTarget(text: string, servername?: string): DoctorTarget {
  const usage = (why: string) => new UserError('CG_USAGE', `${JSON.stringify(text)} ${why}`, {
    hint: 'give https://HOST[:PORT][/PATH] or HOST:PORT',
  });
  let host: string;
  let port: number;
  let path = '/';
  let http: DoctorTarget['http'] = 'alpn';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw usage('is not a valid URL');
    }
    if (url.protocol !== 'https:') throw usage(`uses ${url.protocol.slice(0, -1)}://, but doctor checks TLS servers`);
    host = url.hostname.replace(/^\[|\]$/g, '');
    port = url.port === '' ? 443 : Number(url.port);
    path = url.pathname + url.search;
    http = 'always';
  } else {
    const m = /^(?:\[([0-9a-f:.]+)\]|([^\s:/[\]]+)):(\d{1,5})$/i.exec(text);
    if (!m) throw usage('is neither a URL nor HOST:PORT');
    host = m[1] ?? m[2];
    port = Number(m[3]);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw usage('has a port outside 1-65535');
  if (servername !== undefined && (servername === '' || isIP(servername) !== 0)) {
    throw new UserError('CG_USAGE', `--servername ${JSON.stringify(servername)} must be a DNS name`, { hint: 'leave it out to check the host as given' });
  }
  const sni = servername ?? (isIP(host) === 0 ? host : undefined);
  return { host, port, path, servername: sni, verifyName: servername ?? host, http };
}
