// Path normalization table: decoding, dot-segments, slashes, and every ambiguous form refused with bad_path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath, normalizeRoutePath, routeKey } from '../../../src/gateway/policy/path.ts';

// [raw path, normalized path | null for bad_path]
const ROWS: Array<[string, string | null]> = [
  ['/', '/'],
  ['/a/b', '/a/b'],
  ['/a/b/', '/a/b/'],
  ['//', '/'],
  ['//a///b//', '/a/b/'],
  ['/a/./b', '/a/b'],
  ['/a/.', '/a/'],
  ['/./', '/'],
  ['/a/b/..', '/a/'],
  ['/a/b/../c', '/a/c'],
  ['/a/b/../../c', '/c'],
  ['/a/b/../../..', null],
  ['/..', null],
  ['/../a', null],
  ['/a/%2e%2e/b', '/b'],
  ['/a/%2E%2e/', '/'],
  ['/a/.%2e/b', '/b'],
  ['/%2e%2e/etc/passwd', null],
  ['/a/%2e/b', '/a/b'],
  ['/a..b/..c/...', '/a..b/..c/...'],
  ['/%41%42c', '/ABc'],
  ['/%7e/%7E', '/~/~'],
  ['/%5f%2d%2E%30', '/_-.0'],
  ['/a%3Fb', '/a%3Fb'],
  ['/a%3fb', '/a%3Fb'],
  ['/a%23b', '/a%23b'],
  ['/a%25', '/a%25'],
  ['/a%252e%252e/x', '/a%252e%252e/x'], // double-encoded: decoded once only,
  ['/a%20b', '/a%20b'],
  ['/caf%C3%A9', '/caf%C3%A9'],
  ['/caf%c3%a9', '/caf%C3%A9'],
  ['/%E2%82%AC', '/%E2%82%AC'],
  ['/%C0%AE%C0%AE/', null], // overlong UTF-8 for ".."
  ['/%ff', null],
  ['/café', null], // raw non-ASCII must arrive %-encoded
  ['/a b', null],
  ['/a\tb', null],
  ['/a%2fb', null],
  ['/a%2Fb', null],
  ['/a%5cb', null],
  ['/a%5C..%5Cb', null],
  ['/a\\b', null],
  ['/..\\a', null],
  ['/a%00b', null],
  ['/a\u0000b', null],
  ['/a%zz', null],
  ['/a%2', null],
  ['/a%', null],
  ['/a%%41', null],
  ['a/b', null],
  ['', null],
  ['*', null],
  ['/admin;x', '/admin;x'],
  ['/admin;jsessionid=1/x', '/admin;jsessionid=1/x'],
  ['/public/..;/admin', null],
  ['/public/.;/admin', null],
  ['/public/%2e%2e;x/admin', null],
  ['/a/..%3B/b', '/a/..%3B/b'],
  ['/ADMIN', '/ADMIN'],
  ["/a!$&'()*+,=:@b", "/a!$&'()*+,=:@b"],
];

test('normalizePath table', () => {
  for (const [raw, expected] of ROWS) {
    const r = normalizePath(raw);
    if (expected === null) {
      assert.equal(r.ok, false, `${JSON.stringify(raw)} should be refused, got ${r.ok ? r.path : ''}`);
      if (!r.ok) {
        assert.equal(r.reason, 'bad_path');
        assert.ok(r.detail.length > 0);
      }
    } else {
      assert.deepEqual(r, { ok: true, path: expected }, JSON.stringify(raw));
    }
  }
});

test('normalization is idempotent', () => {
  for (const [, expected] of ROWS) {
    if (expected === null) continue;
    assert.deepEqual(normalizePath(expected), { ok: true, path: expected }, expected);
  }
});

test('routeKey drops path parameters so they cannot dodge a route', () => {
  const rows: Array<[string, string]> = [
    ['/admin', '/admin'],
    ['/admin;x', '/admin'],
    ['/admin;x/secret', '/admin/secret'],
    ['/;x/admin', '/admin'],
    ['/admin/;x', '/admin/'],
    ['/;x', '/'],
    ['/a;b;c/d', '/a/d'],
    ['/a%3Bb', '/a%3Bb'],
  ];
  for (const [input, expected] of rows) assert.equal(routeKey(input), expected, input);
});

test('route paths from config are normalized the way browsers encode', () => {
  assert.deepEqual(normalizeRoutePath('/café'), { ok: true, path: '/caf%C3%A9' });
  assert.deepEqual(normalizeRoutePath('/api//v1/'), { ok: true, path: '/api/v1/' });
  assert.equal(normalizeRoutePath('/a%2fb').ok, false);
});
