// YAML node positions: values, keys, holders of missing keys, empty values, aliases and duplicate keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineCounter, parseDocument } from 'yaml';
import { findDuplicateKeys, holderPosition, keyPosition, valuePosition } from '../../src/config/positions.ts';
import type { SourceMap } from '../../src/config/positions.ts';
import type { SourcePosition } from '../../src/core/errors.ts';

function source(text: string): SourceMap {
  const lineCounter = new LineCounter();
  return { file: 'f.yaml', doc: parseDocument(text, { lineCounter, uniqueKeys: false }), lineCounter };
}
const lc = (p: SourcePosition | undefined) => (p ? `${p.line}:${p.column}` : 'none');

const TEXT = `a:
  b: 1
  list:
    - x: 2
    - {y: 3, z: }
  empty:
anchor: &A {k: v}
alias: *A
`;

test('valuePosition', () => {
  const src = source(TEXT);
  const rows: Array<[Array<string | number>, string]> = [
    [['a', 'b'], '2:6'],
    [['a', 'list', 0, 'x'], '4:10'],
    [['a', 'list', 1], '5:7'],
    [['a', 'list', 1, 'y'], '5:11'],
    [['a', 'list', 1, 'z'], '5:14'], // empty value: its key
    [['a', 'empty'], '6:3'], // empty value: its key
    [['a', 'missing'], '1:1'], // absent: the key of the closest enclosing node
    [['alias', 'k'], '7:16'], // through the alias, at the anchor's value
    [[], '1:1'],
  ];
  for (const [path, expected] of rows) assert.equal(lc(valuePosition(src, path)), expected, path.join('.'));
});

test('keyPosition and holderPosition', () => {
  const src = source(TEXT);
  assert.equal(lc(keyPosition(src, ['a'], 'list')), '3:3');
  assert.equal(lc(keyPosition(src, ['a', 'list', 1], 'z')), '5:14');
  assert.equal(lc(holderPosition(src, ['a', 'list', 0])), '4:7'); // a sequence item: the item itself
  assert.equal(lc(holderPosition(src, ['a'])), '1:1'); // a keyed object: its key
});

test('findDuplicateKeys reports both positions, at any depth', () => {
  const src = source('a: 1\nb:\n  c: 1\n  c: 2\na: 3\n');
  assert.deepEqual(findDuplicateKeys(src).map((d) => [d.key, lc(d.first), lc(d.again)]), [
    ['c', '3:3', '4:3'],
    ['a', '1:1', '5:1'],
  ]);
});
