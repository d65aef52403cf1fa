// Baseline target: the plainest Node 24 mTLS reverse proxy (node:https server + undici Pool), no policy, no logging.
// Usage: node bench/bare-node-proxy.ts <config.json>   (config: BareProxyConfig, written by bench/targets.ts)
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';

export interface BareProxyConfig {
  port: number;
  cert: string;
  key: string;
  clientCa: string;
  upstream: string;
  upstreamTls?: { ca: string; cert: string; key: string; servername: string };
}

// RFC 9110 hop-by-hop fields: never forwarded either way.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'http2-settings']);

function forwardable(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

/** Starts the proxy; resolves once it listens on 127.0.0.1:config.port. */
export function startBareProxy(c: BareProxyConfig): Promise<{ server: Server; pool: Pool }> {
  const t = c.upstreamTls;
  const pool = new Pool(c.upstream, {
    connect: t ? { ca: readFileSync(t.ca), cert: readFileSync(t.cert), key: readFileSync(t.key), servername: t.servername } : {},
  });
  const server = createServer(
    {
      cert: readFileSync(c.cert),
      key: readFileSync(c.key),
      ca: readFileSync(c.clientCa),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      keepAliveTimeout: 120_000,
    },
    (req, res) => {
      const headers = forwardable(req.headers);
      const xff = req.headers['x-forwarded-for'];
      headers['x-forwarded-for'] = xff ? `${xff}, ${req.socket.remoteAddress}` : String(req.socket.remoteAddress);
      headers['x-forwarded-proto'] = 'https';
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
      pool
        .request({ path: req.url ?? '/', method: req.method as 'GET', headers, body: hasBody ? req : null })
        .then((up) => {
          res.writeHead(up.statusCode, forwardable(up.headers as IncomingHttpHeaders));
          up.body.pipe(res);
        })
        .catch(() => {
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
          res.end('bad gateway\n');
        });
    },
  );
  server.on('clientError', (_err, socket) => socket.destroy());
  return new Promise((resolve) => server.listen(c.port, '127.0.0.1', () => resolve({ server, pool })));
}

if (import.meta.main) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node bench/bare-node-proxy.ts <config.json>');
  const { server, pool } = await startBareProxy(JSON.parse(readFileSync(file, 'utf8')) as BareProxyConfig);
  process.once('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    void pool.close();
  });
}
