// Generates schema/certgate.schema.json and the field table in docs/config.md from src/config/schema.ts.
// Run: node scripts/gen-config-docs.ts   (test/config/generated.test.ts fails when either output is stale)
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { z } from 'zod';
import { Config, Duration, ListenAddress, LongDuration } from '../src/config/schema.ts';

export const SCHEMA_URL = new URL('../schema/certgate.schema.json', import.meta.url);
export const DOC_URL = new URL('../docs/config.md', import.meta.url);
export const BEGIN = '<!-- BEGIN GENERATED FIELDS: node scripts/gen-config-docs.ts -->';
export const END = '<!-- END GENERATED FIELDS -->';

type Json = { [k: string]: unknown };

export function jsonSchema(): Json {
  const schema = z.toJSONSchema(Config, { io: 'input', unrepresentable: 'any' }) as Json;
  // a title lets editors (yaml-language-server, VS Code) label the schema
  return { $schema: schema.$schema, title: 'certgate.yaml', ...schema };
}

export function renderSchemaJson(): string {
  return JSON.stringify(jsonSchema(), null, 2) + '\n';
}

const DURATION_PATTERN = (z.toJSONSchema(Duration) as Json).pattern;
const LONG_DURATION_PATTERN = (z.toJSONSchema(LongDuration) as Json).pattern;
const LISTEN_PATTERN = (z.toJSONSchema(ListenAddress) as Json).pattern;

function typeOf(node: Json): string {
  if (Array.isArray(node.enum)) return node.enum.map((v) => `\`${String(v)}\``).join(' | ');
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (Array.isArray(node.anyOf)) return (node.anyOf as Json[]).map(typeOf).join(' or ');
  switch (node.type) {
    case 'string':
      if (node.pattern === DURATION_PATTERN) return 'duration';
      if (node.pattern === LONG_DURATION_PATTERN) return 'duration (days allowed)';
      if (node.pattern === LISTEN_PATTERN) return 'host:port';
      return 'string';
    case 'integer':
    case 'number': {
      const range = node.minimum !== undefined && node.maximum !== undefined ? ` ${String(node.minimum)}–${String(node.maximum)}` : '';
      return `${node.type}${range}`;
    }
    case 'boolean':
      return 'boolean';
    case 'array':
      return `list of ${typeOf((node.items ?? {}) as Json).replace(/^mapping$/, 'mappings')}`;
    case 'object':
      return node.properties ? 'mapping' : `mapping of name → ${typeOf((node.additionalProperties ?? {}) as Json)}`;
    default:
      return 'any';
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Mapping children of a node: itself when it has properties, the items of a list, the mapping member of a union. */
function mappingsIn(node: Json): { node: Json; suffix: string }[] {
  if (node.properties) return [{ node, suffix: '' }];
  if (node.type === 'array' && node.items) return mappingsIn(node.items as Json).map((m) => ({ ...m, suffix: '[]' + m.suffix }));
  if (Array.isArray(node.anyOf)) return (node.anyOf as Json[]).flatMap(mappingsIn);
  return [];
}

/** One table row per field, depth first; a mapping seen before (a Rule under allow and deny) is referred to, not repeated. */
export function fieldRows(): string[] {
  const rows: string[] = [];
  const seen = new Map<string, string>();
  const walk = (node: Json, prefix: string) => {
    const props = (node.properties ?? {}) as Record<string, Json>;
    const required = new Set((node.required ?? []) as string[]);
    for (const [key, child] of Object.entries(props)) {
      const path = prefix ? `${prefix}.${key}` : key;
      const dflt = child.default !== undefined ? `\`${JSON.stringify(child.default)}\`` : required.has(key) ? '**required**' : '';
      const subs = mappingsIn(child);
      let description = (child.description as string | undefined) ?? (subs[0]?.node.description as string | undefined) ?? '';
      for (const sub of subs) {
        const id = JSON.stringify(sub.node);
        const first = seen.get(id);
        if (first) description += ` Same keys as \`${first}\`.`;
      }
      rows.push(`| \`${path}\` | ${cell(typeOf(child))} | ${cell(dflt)} | ${cell(description.trim())} |`);
      for (const sub of subs) {
        const id = JSON.stringify(sub.node);
        if (seen.has(id)) continue;
        seen.set(id, path + sub.suffix);
        walk(sub.node, path + sub.suffix);
      }
    }
  };
  walk(jsonSchema(), '');
  return rows;
}

export function renderFieldTable(): string {
  return ['| Key | Type | Default | Meaning |', '| --- | --- | --- | --- |', ...fieldRows()].join('\n');
}

/** docs/config.md with the generated table put between the markers. */
export function renderDoc(current: string): string {
  const start = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/config.md lacks the markers ${BEGIN} ... ${END}`);
  return current.slice(0, start + BEGIN.length) + '\n' + renderFieldTable() + '\n' + current.slice(end);
}

if (import.meta.main) {
  mkdirSync(new URL('.', SCHEMA_URL), { recursive: true });
  writeFileSync(SCHEMA_URL, renderSchemaJson());
  writeFileSync(DOC_URL, renderDoc(readFileSync(DOC_URL, 'utf8')));
}
