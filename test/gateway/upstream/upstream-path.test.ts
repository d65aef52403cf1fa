// Upstream path mapping (base path, stripPrefix) and its inverse for Location headers, as tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { upstreamPath, publicPath, joinPath, stripPrefix } from '../../../src/gateway/upstream/upstream-path.ts';
import type { PathMapping } from '../../../src/gateway/upstream/upstream-path.ts';

const m = (base: string, prefix: string, strip: boolean): PathMapping => ({ base, prefix, strip });

test('joinPath puts exactly one "/" at the join', () => {
  const rows: Array<[string, string, string]> = [
    ['/', '/x', '/x'], ['/app', '/x', '/app/x'], ['/app/', '/x', '/app/x'], ['/app//', '//x', '/app/x'],
    ['/app', 'x', '/app/x'], ['/app', '', '/app'], ['/app/', '', '/app/'], ['', '', '/'], ['/', '', '/'],
    ['', '/x', '/x'], ['/app', '/', '/app/'], ['/a/b', '/c/d/', '/a/b/c/d/'],
  ];
  for (const [a, b, expected] of rows) assert.equal(joinPath(a, b), expected, `${a} + ${b}`);
});

test('stripPrefix removes a whole-segment route prefix', () => {
  const rows: Array<[string, string, string]> = [
    ['/api/x', '/api', '/x'], ['/api', '/api', ''], ['/api/', '/api', '/'], ['/api/x', '/', '/api/x'],
    ['/apix', '/api', '/apix'], ['/api/x/y', '/api/x', '/y'], ['/api/x', '/api/', '/x'],
  ];
  for (const [p, r, expected] of rows) assert.equal(stripPrefix(p, r), expected, `${p} - ${r}`);
});

test('upstreamPath: join(B, stripPrefix ? P without R : P)', () => {
  const rows: Array<[PathMapping, string, string]> = [
    // the examples (the query is appended unchanged by the caller)
    [m('/app', '/api', true), '/api/x', '/app/x'],
    [m('/app', '/api', false), '/api/x', '/app/api/x'],
    // no base path
    [m('/', '/api', false), '/api/x', '/api/x'],
    [m('/', '/api', true), '/api/x', '/x'],
    [m('/', '/api', true), '/api', '/'],
    [m('/', '/api', true), '/api/', '/'],
    [m('/', '/', true), '/x', '/x'],
    // base path with a trailing slash
    [m('/app/', '/api', true), '/api/x', '/app/x'],
    [m('/app/', '/api', true), '/api', '/app/'],
    [m('/app', '/api', true), '/api', '/app'],
    [m('/app', '/api', true), '/api/', '/app/'],
    [m('/app', '/', false), '/', '/app/'],
    [m('/app', '/', true), '/x/y', '/app/x/y'],
    // deeper prefixes and bases
    [m('/v1/svc', '/api/v1', true), '/api/v1/users/7', '/v1/svc/users/7'],
    [m('/v1/svc', '/api/v1', false), '/api/v1/users/7', '/v1/svc/api/v1/users/7'],
    // encoded characters pass through as the normalizer left them
    [m('/app', '/api', true), '/api/a%2Fb', '/app/a%2Fb'],
  ];
  for (const [mapping, p, expected] of rows) assert.equal(upstreamPath(mapping, p), expected, `${JSON.stringify(mapping)} ${p}`);
});

test('publicPath maps a path the upstream named back, or refuses a path outside the base', () => {
  const rows: Array<[PathMapping, string, string | undefined]> = [
    [m('/app', '/api', true), '/app/x', '/api/x'],
    [m('/app', '/api', true), '/app', '/api'],
    [m('/app', '/api', true), '/app/', '/api/'],
    [m('/app', '/api', false), '/app/api/x', '/api/x'],
    [m('/', '/api', true), '/x', '/api/x'],
    [m('/', '/api', false), '/api/x', '/api/x'],
    [m('/app', '/api', true), '/other/x', undefined],
    [m('/app', '/api', true), '/apps/x', undefined],
    [m('/app/', '/', true), '/app/x', '/x'],
  ];
  for (const [mapping, p, expected] of rows) assert.equal(publicPath(mapping, p), expected, `${JSON.stringify(mapping)} ${p}`);
  // round trip
  for (const mapping of [m('/app', '/api', true), m('/app', '/api', false), m('/', '/api', true), m('/a/b/', '/c', true)]) {
    // (with base "/" and strip, "/api" and "/api/" both become "/": only paths below the prefix round-trip)
    for (const p of ['/api/x', '/api/x/y/', '/c/z']) {
      if (!p.startsWith(mapping.prefix)) continue;
      assert.equal(publicPath(mapping, upstreamPath(mapping, p)), p, `${JSON.stringify(mapping)} ${p}`);
    }
  }
});
