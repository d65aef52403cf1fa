// "Did you mean": edit distance and the closeness limits, as a table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closest, editDistance } from '../../src/config/suggest.ts';

test('editDistance', () => {
  const rows: Array<[string, string, number]> = [
    ['', '', 0], ['abc', '', 3], ['listen', 'listen', 0], ['lisen', 'listen', 1], ['lsiten', 'listen', 1],
    ['upstraem', 'upstream', 1], ['kitten', 'sitting', 3],
  ];
  for (const [a, b, d] of rows) assert.equal(editDistance(a, b), d, `${a} ~ ${b}`);
});

test('closest', () => {
  const keys = ['listen', 'tls', 'http2', 'clientAuth', 'securityHeaders', 'errorPage', 'routes', 'sites'];
  const rows: Array<[string, string[], string | undefined]> = [
    ['lisen', keys, 'listen'],
    ['client_auth', keys, 'clientAuth'],
    ['ClientAuth', keys, 'clientAuth'],
    ['securityheader', keys, 'securityHeaders'],
    ['route', keys, 'routes'],
    ['tsl', keys, 'tls'],
    ['banana', keys, undefined],
    ['x', ['o', 'ou'], undefined],
    ['cm', ['cn', 'o', 'ou'], 'cn'],
    ['verfy', ['require', 'verify', 'off'], 'verify'],
  ];
  for (const [word, candidates, expected] of rows) assert.equal(closest(word, candidates), expected, word);
});
