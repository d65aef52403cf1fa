// The demo's stand-in app: a tiny loopback HTTP server that shows what the gateway told it about the client.
import { http } from '../core/node-http.ts';
import type { Server } from 'node:http';

const SHOWN = ['x-client-verify', 'x-client-subject', 'x-client-issuer', 'x-client-serial', 'x-client-fingerprint', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'];

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(url: string, headers: Record<string, string | string[] | undefined>): string {
  const rows = SHOWN.map((h) => `<tr><th>${h}</th><td><code>${escapeHtml(String(headers[h] ?? '—'))}</code></td></tr>`).join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>certgate demo app</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 50rem; margin: 2rem auto">
<h1>Hello from behind certgate</h1>
<p>You asked for <code>${escapeHtml(url)}</code>. certgate checked your client certificate and told this app:</p>
<table>${rows}</table>
<p>This app trusts these headers because only certgate can reach it (it listens on loopback), and certgate deletes
any such header a client sends before setting its own.</p>
</body></html>\n`;
}

/** Starts the demo app on 127.0.0.1 (port 0 = any free one). */
export function startDemoApp(port = 0): Promise<Server> {
  const server = http.createServer((req, res) => {
    const body = req.url?.startsWith('/api/')
      ? JSON.stringify({ path: req.url, client: req.headers['x-client-subject'] ?? null, verify: req.headers['x-client-verify'] ?? null }) + '\n'
      : page(req.url ?? '/', req.headers);
    res.writeHead(200, { 'content-type': req.url?.startsWith('/api/') ? 'application/json' : 'text/html; charset=utf-8' });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
