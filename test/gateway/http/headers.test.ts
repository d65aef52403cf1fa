// Header hygiene tables: identity headers and hop-by-hop fields never reach the upstream; response filtering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanRequestHeaders, filterResponseHeaders, locationRewriter, toWireValue, SINGLE_VALUE_FIELDS } from '../../../src/gateway/http/headers.ts';
import { buildSecurityHeaders } from '../../../src/gateway/http/security-headers.ts';

function names(flat: readonly string[]): string[] {
  return flat.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
}

test('identity headers are dropped in any case and any count', () => {
  const raw = [
    'Host', 'a.example', 'X-Client-Verify', 'SUCCESS', 'x-client-verify', 'SUCCESS', 'X-CLIENT-SUBJECT', 'CN=admin',
    'x-Client-Issuer', 'CN=x', 'X-Client-Serial', '01', 'X-Client-Fingerprint', 'ab', 'X-Client-Cert', 'pem', 'Accept', '*/*',
  ];
  const scan = scanRequestHeaders(raw);
  assert.deepEqual(scan.forward, ['Accept', '*/*']);
  assert.equal(scan.host, 'a.example');
  assert.equal(scan.hostCount, 1);
});

test('hop-by-hop fields and the fields Connection names are removed', () => {
  const raw = ['Host', 'h', 'Connection', 'keep-alive, X-Secret', 'Keep-Alive', 'timeout=5', 'X-Secret', 's', 'TE', 'trailers',
    'Trailer', 'x', 'Proxy-Authorization', 'Basic x', 'Proxy-Connection', 'keep-alive', 'Upgrade', 'h2c', 'X-Keep', '1',
    'X-Real-IP', '6.6.6.6', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'evil', 'Expect', '100-continue'];
  const scan = scanRequestHeaders(raw);
  assert.deepEqual(scan.forward, ['X-Keep', '1']);
  assert.equal(scan.upgrade, 'h2c');
});

test('bodies, X-Forwarded-For, repeated Host and HTTP/2 cookies', () => {
  const table: Array<{ raw: string[]; hasBody: boolean; xff?: string; hostCount: number; cookie?: string; host?: string }> = [
    { raw: ['Host', 'h', 'Content-Length', '0'], hasBody: false, hostCount: 1 },
    { raw: ['Host', 'h', 'Content-Length', '5'], hasBody: true, hostCount: 1 },
    { raw: ['Host', 'h', 'Transfer-Encoding', 'chunked'], hasBody: true, hostCount: 1 },
    { raw: ['Host', 'h', 'X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2'], hasBody: false, xff: '1.1.1.1, 2.2.2.2', hostCount: 1 },
    { raw: ['Host', 'h', 'Host', 'i'], hasBody: false, hostCount: 2, host: 'h' },
    { raw: [':method', 'GET', ':authority', 'a.example', ':path', '/', 'cookie', 'a=1', 'cookie', 'b=2'], hasBody: false, hostCount: 0, cookie: 'a=1; b=2', host: 'a.example' },
  ];
  for (const row of table) {
    const scan = scanRequestHeaders(row.raw);
    assert.equal(scan.hasBody, row.hasBody, JSON.stringify(row.raw));
    assert.equal(scan.xff, row.xff);
    assert.equal(scan.hostCount, row.hostCount);
    if (row.host) assert.equal(scan.host, row.host);
    if (row.cookie) assert.deepEqual(scan.forward.slice(-2), ['cookie', row.cookie]);
    assert.ok(!names(scan.forward).some((n) => n.startsWith(':') || n === 'host' || n === 'x-forwarded-for'));
  }
});

test('response filtering drops hop-by-hop and owned headers, appends the security set, rewrites Location', () => {
  const security = buildSecurityHeaders(true, true);
  const raw = ['Content-Type', 'text/plain', 'Connection', 'keep-alive, X-Drop', 'Keep-Alive', 'timeout=5', 'X-Drop', '1',
    'Transfer-Encoding', 'chunked', 'X-Frame-Options', 'ALLOWALL', 'Location', 'http://127.0.0.1:3000/next?a=1'].map((s) => Buffer.from(s));
  const out = filterResponseHeaders(raw, {
    owned: security.owned,
    extra: security.flat,
    rewriteLocation: locationRewriter('http://127.0.0.1:3000', 'https://app.example:8443', 'app.example:8443'),
  }).headers;
  assert.deepEqual(out.slice(0, 4), ['Content-Type', 'text/plain', 'Location', 'https://app.example:8443/next?a=1']);
  assert.deepEqual(names(out.slice(4)), ['strict-transport-security', 'x-content-type-options', 'referrer-policy', 'x-frame-options']);
  assert.equal(out[out.indexOf('x-frame-options') + 1], 'DENY');
});

test('repeated single-value response fields: the first copy is kept, except Content-Length with different values', () => {
  const none = { owned: new Set<string>(), extra: [], rewriteLocation: undefined };
  // every field Node's http2 refuses to send twice, in any case
  for (const name of SINGLE_VALUE_FIELDS) {
    if (name === 'proxy-authorization') continue; // hop-by-hop: dropped altogether
    const upper = name.toUpperCase();
    const r = filterResponseHeaders([name, 'one', 'X-Other', 'x', upper, 'two', name, 'three'], none);
    assert.deepEqual(r.headers, [name, 'one', 'X-Other', 'x'], name);
    assert.deepEqual(r.dropped, [name, name], name);
    assert.equal(r.conflict !== undefined, name === 'content-length', name);
  }
  const table: Array<{ raw: string[]; headers: string[]; dropped?: string[]; conflict?: boolean }> = [
    { raw: ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Vary', 'A', 'Vary', 'B'], headers: ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Vary', 'A', 'Vary', 'B'] },
    { raw: ['Content-Length', '5', 'content-length', ' 5'], headers: ['Content-Length', '5'], dropped: ['content-length'] },
    { raw: ['Content-Length', '5', 'Content-Length', '6'], headers: ['Content-Length', '5'], dropped: ['content-length'], conflict: true },
    // a value that spells a field name is not mistaken for one
    { raw: ['ETag', 'content-type', 'Content-Type', 'text/plain'], headers: ['ETag', 'content-type', 'Content-Type', 'text/plain'] },
    // the gateway's own fields are replaced, not counted as the upstream's first copy
    { raw: ['X-Content-Type-Options', 'a', 'X-Content-Type-Options', 'b'], headers: ['x-content-type-options', 'nosniff'] },
  ];
  for (const row of table) {
    const owned = row.raw[0] === 'X-Content-Type-Options';
    const r = filterResponseHeaders(row.raw, owned ? { owned: new Set(['x-content-type-options']), extra: ['x-content-type-options', 'nosniff'], rewriteLocation: undefined } : none);
    assert.deepEqual(r.headers, row.headers, row.raw.join(','));
    assert.deepEqual(r.dropped, row.dropped, row.raw.join(','));
    assert.equal(r.conflict !== undefined, row.conflict ?? false, row.raw.join(','));
  }
});

test('locationRewriter leaves foreign and look-alike origins alone', () => {
  const rw = locationRewriter('http://127.0.0.1:3000', 'https://app.example', 'app.example');
  const table: Array<[string, string]> = [
    ['http://127.0.0.1:3000', 'https://app.example/'],
    ['http://127.0.0.1:3000/a', 'https://app.example/a'],
    ['HTTP://127.0.0.1:3000/a', 'https://app.example/a'],
    ['http://127.0.0.1:30000/a', 'http://127.0.0.1:30000/a'],
    ['http://app.example/x', 'https://app.example/x'],
    ['http://app.example.evil/x', 'http://app.example.evil/x'],
    ['https://other.example/x', 'https://other.example/x'],
    ['/relative', '/relative'],
  ];
  for (const [input, expected] of table) assert.equal(rw(input), expected, input);
});

test('locationRewriter maps paths back through a base path and a stripped prefix', () => {
  const rw = locationRewriter('http://127.0.0.1:3000', 'https://app.example', 'app.example', { base: '/app', prefix: '/api', strip: true }, 'backend.internal');
  const table: Array<[string, string]> = [
    ['http://127.0.0.1:3000/app/x?y=1#f', 'https://app.example/api/x?y=1#f'],
    ['http://127.0.0.1:3000/app', 'https://app.example/api'],
    ['http://127.0.0.1:3000/app/', 'https://app.example/api/'],
    ['http://127.0.0.1:3000?q', 'http://127.0.0.1:3000?q'],
    ['http://127.0.0.1:3000/elsewhere', 'http://127.0.0.1:3000/elsewhere'],
    ['http://127.0.0.1:3000/apps/x', 'http://127.0.0.1:3000/apps/x'],
    ['https://backend.internal/app/login', 'https://app.example/api/login'],
    ['http://backend.internal/app/login', 'https://app.example/api/login'],
    ['http://app.example/app/x', 'https://app.example/api/x'],
    ['/app/login?next=/app/x', '/api/login?next=/app/x'],
    ['/elsewhere', '/elsewhere'],
    ['//evil.example/app/x', '//evil.example/app/x'],
    ['https://other.example/app/x', 'https://other.example/app/x'],
  ];
  for (const [input, expected] of table) assert.equal(rw(input), expected, input);
  const kept = locationRewriter('http://127.0.0.1:3000', 'https://app.example', 'app.example', { base: '/app', prefix: '/api', strip: false });
  assert.equal(kept('http://127.0.0.1:3000/app/api/x'), 'https://app.example/api/x');
  assert.equal(kept('/app/api/x'), '/api/x');
});

test('security header settings: defaults, overrides, removal, no HSTS on plain listeners', () => {
  assert.deepEqual(buildSecurityHeaders(false, true).flat, []);
  assert.ok(!buildSecurityHeaders(true, false).flat.includes('strict-transport-security'));
  const custom = buildSecurityHeaders({ 'X-Frame-Options': 'SAMEORIGIN', 'referrer-policy': false, 'Content-Security-Policy': "default-src 'self'" }, true);
  assert.equal(custom.flat[custom.flat.indexOf('x-frame-options') + 1], 'SAMEORIGIN');
  assert.ok(!custom.flat.includes('referrer-policy'));
  assert.ok(custom.owned.has('referrer-policy'));
  assert.ok(custom.flat.includes('content-security-policy'));
});

test('UTF-8 DN values travel as their UTF-8 bytes', () => {
  assert.equal(toWireValue('CN=plain'), 'CN=plain');
  assert.equal(Buffer.from(toWireValue('CN=Jürgen'), 'latin1').toString('utf8'), 'CN=Jürgen');
  assert.equal(Buffer.from(toWireValue('CN=Jürgen 日本'), 'latin1').toString('utf8'), 'CN=Jürgen 日本');
});

test('control characters in certificate names cannot split a header', () => {
  assert.equal(toWireValue('CN=a\r\nX-Evil: 1'), 'CN=a\\0D\\0AX-Evil: 1');
  assert.equal(toWireValue('CN=tab\tok'), 'CN=tab\tok');
});
