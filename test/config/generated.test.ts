// Freshness: the committed JSON Schema and docs/config.md field table are exactly what the generator makes now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DOC_URL, SCHEMA_URL, jsonSchema, renderDoc, renderSchemaJson } from '../../scripts/gen-config-docs.ts';
import { keysOf } from '../../src/config/schema-walk.ts';
import { Config, Server, Route, Rule } from '../../src/config/schema.ts';

const STALE = 'run `node scripts/gen-config-docs.ts` and commit the result';

test('schema/certgate.schema.json is up to date', () => {
  assert.equal(readFileSync(SCHEMA_URL, 'utf8'), renderSchemaJson(), STALE);
});

test('the field table in docs/config.md is up to date', () => {
  const doc = readFileSync(DOC_URL, 'utf8');
  assert.equal(doc, renderDoc(doc), STALE);
});

test('the JSON Schema refuses unknown keys, like the loader', () => {
  const schema = jsonSchema() as { additionalProperties?: boolean; properties: Record<string, unknown> };
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(Object.keys(schema.properties), keysOf(Config));
});

test('every field has a description in the docs table', () => {
  const doc = readFileSync(DOC_URL, 'utf8');
  const rows = doc.split('\n').filter((l) => l.startsWith('| `'));
  for (const row of rows) assert.doesNotMatch(row, /\|\s*\|$/, `undocumented field: ${row}`);
  for (const key of [...keysOf(Server), ...keysOf(Route), ...keysOf(Rule)]) assert.match(doc, new RegExp(`\\.${key}\``), key);
});
