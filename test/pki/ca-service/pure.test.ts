// Table tests of the pure parts of `ca serve`: base URLs, the route table, wait, conditional GET, the refresh schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basePathOf, distributionUrls, normalizeBaseUrl } from '../../../src/pki/ca-url.ts';
import { buildRouteTable, routeOf, waitSeconds } from '../../../src/pki/ca-service/routes.ts';
import { ifNoneMatchHits, notModified } from '../../../src/pki/ca-service/conditional.ts';
import { delayUntil, refreshAt, retryDelay, MIN_DELAY_MS, MAX_RETRY_MS } from '../../../src/pki/ca-service/schedule.ts';

test('normalizeBaseUrl: http(s) only, trailing slash added, no query/fragment/user/dot segments', () => {
  const good: Array<[string, string]> = [
    ['http://pki.example.com/issuing/', 'http://pki.example.com/issuing/'],
    ['http://pki.example.com/issuing', 'http://pki.example.com/issuing/'],
    ['  https://PKI.example.com:8443/a/b  ', 'https://pki.example.com:8443/a/b/'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/'],
    ['http://[::1]:8080/x/', 'http://[::1]:8080/x/'],
  ];
  for (const [input, expected] of good) assert.equal(normalizeBaseUrl(input), expected, input);
  const bad = ['pki.example.com/issuing/', 'ftp://pki.example.com/', 'ldap://pki/x', 'http://u:p@pki/x/', 'http://pki/x/?a=1',
    'http://pki/x/#f', 'http://pki/x/?', 'http://pki/a/../b/', 'http://pki/a/%2e%2e/b/', 'file:///etc/', ''];
  for (const input of bad) {
    assert.throws(() => normalizeBaseUrl(input), (e: { code?: string }) => e.code === 'CG_PKI_BAD_URL', input);
  }
  assert.equal(basePathOf('http://pki.example.com/issuing/'), '/issuing/');
  assert.deepEqual(distributionUrls('http://pki.example.com/issuing/'), {
    crl: 'http://pki.example.com/issuing/crl.crl', caIssuers: 'http://pki.example.com/issuing/ca.crt',
  });
});

test('route table: each CA under its base path, exact matches only, service paths, conflicts', () => {
  const table = buildRouteTable([
    { name: 'root', dir: '/r', basePath: '/root/' },
    { name: 'issuing', dir: '/i', basePath: '/issuing/' },
  ], true);
  const rows: Array<[string, unknown]> = [
    ['/root/crl.pem', { kind: 'file', ca: 0, file: 'crl.pem' }],
    ['/issuing/crl.crl?wait=25', { kind: 'file', ca: 1, file: 'crl.crl' }],
    ['/issuing/crl-bundle.pem', { kind: 'file', ca: 1, file: 'crl-bundle.pem' }],
    ['/issuing/ca.crt', { kind: 'file', ca: 1, file: 'ca.crt' }],
    ['/issuing/chain.pem', { kind: 'file', ca: 1, file: 'chain.pem' }],
    ['/healthz', { kind: 'health' }],
    ['/metrics?x', { kind: 'metrics' }],
    ['/crl.pem', undefined],
    ['/issuing/', undefined],
    ['/issuing/../root/crl.pem', undefined],
    ['/issuing/%2e%2e/root/crl.pem', undefined],
    ['//issuing/crl.pem', undefined],
    ['/issuing//crl.pem', undefined],
    ['/issuing/crl.pem;x', undefined],
    ['/issuing\\crl.pem', undefined],
    ['/issuing/ca.key', undefined],
    ['/issuing/certgate.db', undefined],
    ['/ISSUING/crl.pem', undefined],
  ];
  for (const [target, expected] of rows) assert.deepEqual(routeOf(table, target), expected, target);

  const lone = buildRouteTable([{ name: 'only', dir: '/o', basePath: undefined }], true);
  assert.deepEqual(routeOf(lone, '/crl.pem'), { kind: 'file', ca: 0, file: 'crl.pem' });
  const sideOnly = buildRouteTable([{ name: 'only', dir: '/o', basePath: undefined }], false);
  assert.equal(routeOf(sideOnly, '/metrics'), undefined);

  const conflict = (e: { code?: string }) => e.code === 'CG_CA_SERVE_CONFLICT';
  assert.throws(() => buildRouteTable([{ name: 'a', dir: '/a', basePath: '/x/' }, { name: 'b', dir: '/b', basePath: '/x/' }], true), conflict);
  assert.throws(() => buildRouteTable([{ name: 'a', dir: '/a', basePath: '/x/' }, { name: 'b', dir: '/b', basePath: undefined }], true), conflict);
  assert.throws(() => buildRouteTable([{ name: 'a', dir: '/a', basePath: '/metrics/' }], true), conflict);
  assert.doesNotThrow(() => buildRouteTable([{ name: 'a', dir: '/a', basePath: '/metrics/' }], false));
});

test('wait: whole seconds, capped, anything else means no wait', () => {
  const rows: Array<[string, number]> = [
    ['/crl.pem', 0], ['/crl.pem?wait=25', 25], ['/crl.pem?wait=600', 60], ['/crl.pem?wait=0', 0], ['/crl.pem?wait=-1', 0],
    ['/crl.pem?wait=1.5', 0], ['/crl.pem?wait=abc', 0], ['/crl.pem?wait=', 0], ['/crl.pem?x=1&wait=3', 3], ['/crl.pem?wait=9999999', 0],
  ];
  for (const [target, expected] of rows) assert.equal(waitSeconds(target, 60), expected, target);
});

test('conditional GET: If-None-Match (weak comparison, lists, *) wins over If-Modified-Since', () => {
  const etag = '"7-0123456789abcdef"';
  const lm = new Date('2026-01-01T00:00:00Z');
  const rows: Array<[Record<string, string>, boolean]> = [
    [{}, false],
    [{ 'if-none-match': etag }, true],
    [{ 'if-none-match': `W/${etag}` }, true],
    [{ 'if-none-match': `"x", ${etag}` }, true],
    [{ 'if-none-match': '*' }, true],
    [{ 'if-none-match': '"6-0123456789abcdef"' }, false],
    [{ 'if-none-match': '"6-x"', 'if-modified-since': lm.toUTCString() }, false],
    [{ 'if-modified-since': lm.toUTCString() }, true],
    [{ 'if-modified-since': new Date(lm.getTime() - 1000).toUTCString() }, false],
    [{ 'if-modified-since': 'garbage' }, false],
  ];
  for (const [headers, expected] of rows) assert.equal(notModified(headers, etag, lm), expected, JSON.stringify(headers));
  assert.equal(ifNoneMatchHits(undefined, etag), false);
});

test('schedule: half the lifetime, at least 1 s, retries between 1 s and 60 s', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  assert.equal(refreshAt(t0, new Date(t0.getTime() + 7 * 86_400_000)).toISOString(), '2026-01-04T12:00:00.000Z');
  assert.equal(refreshAt(t0, new Date(t0.getTime() + 10_000)).getTime(), t0.getTime() + 5000);
  assert.equal(refreshAt(t0, undefined).getTime(), t0.getTime() + 86_400_000);
  assert.equal(refreshAt(t0, new Date(t0.getTime() + 7 * 86_400_000), 10_000).getTime(), t0.getTime() + 5000, 'the service cadence caps');
  assert.equal(refreshAt(t0, new Date(t0.getTime() + 10_000), 86_400_000).getTime(), t0.getTime() + 5000);
  assert.equal(delayUntil(new Date(t0.getTime() - 5000), t0), MIN_DELAY_MS);
  assert.equal(delayUntil(new Date(t0.getTime() + 5000), t0), 5000);
  assert.equal(retryDelay(new Date(t0.getTime() + 86_400_000), t0), MAX_RETRY_MS);
  assert.equal(retryDelay(new Date(t0.getTime() + 20_000), t0), 2000);
  assert.equal(retryDelay(new Date(t0.getTime() - 1000), t0), MIN_DELAY_MS);
});
