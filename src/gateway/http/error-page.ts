// The one error page for every answer the gateway gives itself: a template with {{status}}, {{reason}}, {{message}}.
import { REASONS } from '../policy/reasons.ts';
import type { ReasonCode } from '../policy/reasons.ts';

export const DEFAULT_ERROR_TEMPLATE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{status}} {{title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}
code{background:#eee;padding:.1rem .3rem;border-radius:3px}</style></head>
<body>
<h1>{{status}} {{title}}</h1>
<p>{{message}}</p>
<p>Reason: <code>{{reason}}</code></p>
</body>
</html>
`;

const TITLES: Record<number, string> = {
  400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 421: 'Misdirected Request',
  431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 502: 'Bad Gateway', 504: 'Gateway Timeout',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface RenderedPage {
  status: number;
  body: Buffer;
  /** Flat header list: content-type, content-length, cache-control, x-certgate-reason. */
  headers: readonly string[];
}

export type ErrorPages = (reason: ReasonCode) => RenderedPage;

/**
 * Pre-renders one page per reason code from `template` (the configured errorPage file's text, or the default).
 * Every placeholder value is HTML-escaped; messages are the fixed reason texts, never request data.
 */
export function createErrorPages(template: string = DEFAULT_ERROR_TEMPLATE): ErrorPages {
  const pages = new Map<ReasonCode, RenderedPage>();
  for (const code of Object.keys(REASONS) as ReasonCode[]) {
    const { status, text } = REASONS[code];
    const values: Record<string, string> = { status: String(status), reason: code, message: text, title: TITLES[status] ?? 'Error' };
    const html = template.replace(/\{\{\s*(status|reason|message|title)\s*\}\}/g, (_, k: string) => escapeHtml(values[k]));
    const body = Buffer.from(html, 'utf8');
    pages.set(code, {
      status,
      body,
      // the reason code also as a header: scripts and `certgate doctor` read it whatever the errorPage template shows
      headers: ['content-type', 'text/html; charset=utf-8', 'content-length', String(body.length), 'cache-control', 'no-store', 'x-certgate-reason', code],
    });
  }
  return (reason) => pages.get(reason) ?? pages.get('internal_error')!;
}
