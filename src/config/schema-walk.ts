// Reads the zod schema tree (field at a path, allowed keys, defaults, plain-words shape) for messages and docs. Pure.
import { globalRegistry } from 'zod';
import type { z } from 'zod';
import { shapeHints } from './schema.ts';
import type { ShapeHint } from './schema.ts';

export type AnySchema = z.core.$ZodType;

/** The parts of zod's internal definitions this module reads. */
interface Def {
  type: string;
  innerType?: AnySchema;
  in?: AnySchema;
  shape?: Record<string, AnySchema>;
  element?: AnySchema;
  options?: AnySchema[];
  valueType?: AnySchema;
  entries?: Record<string, string | number>;
  values?: unknown[];
  defaultValue?: unknown;
}

export function defOf(s: AnySchema): Def {
  return s._zod.def as unknown as Def;
}

const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'nonoptional', 'readonly', 'catch']);

/** The schema and every schema it wraps (optional, default, pipe input...), outermost first. */
export function unwrapChain(s: AnySchema): AnySchema[] {
  const chain = [s];
  let cur = s;
  for (let i = 0; i < 16; i++) {
    const def = defOf(cur);
    const next = WRAPPERS.has(def.type) ? def.innerType : def.type === 'pipe' ? def.in : undefined;
    if (!next) break;
    chain.push(next);
    cur = next;
  }
  return chain;
}

/** The innermost schema: the one that says what kind of value this is. */
export function core(s: AnySchema): AnySchema {
  const chain = unwrapChain(s);
  return chain[chain.length - 1];
}

export function isOptional(s: AnySchema): boolean {
  return unwrapChain(s).some((x) => ['optional', 'default', 'prefault'].includes(defOf(x).type));
}

/** The default value, when the field has one. */
export function defaultOf(s: AnySchema): { value: unknown } | undefined {
  for (const x of unwrapChain(s)) {
    const def = defOf(x);
    if (def.type === 'default' || def.type === 'prefault') return { value: def.defaultValue };
  }
  return undefined;
}

export function hintOf(s: AnySchema): ShapeHint | undefined {
  for (const x of unwrapChain(s)) {
    const hint = shapeHints.get(x);
    if (hint) return hint;
  }
  return undefined;
}

export function descriptionOf(s: AnySchema): string | undefined {
  for (const x of unwrapChain(s)) {
    const d = globalRegistry.get(x)?.description;
    if (d) return d;
  }
  return undefined;
}

/** The object schema a value at this place can be (itself, or the object member of a union). */
export function objectOf(s: AnySchema): AnySchema | undefined {
  const c = core(s);
  const def = defOf(c);
  if (def.type === 'object') return c;
  if (def.type === 'union') for (const o of def.options ?? []) if (defOf(core(o)).type === 'object') return core(o);
  return undefined;
}

export function keysOf(s: AnySchema): string[] {
  const o = objectOf(s);
  return o ? Object.keys(defOf(o).shape ?? {}) : [];
}

/** The schema of one step down: an object's field, an array's element, a record's value, through unions. */
export function child(s: AnySchema, seg: PropertyKey): AnySchema | undefined {
  const c = core(s);
  const def = defOf(c);
  if (def.type === 'object' && typeof seg === 'string') return def.shape?.[seg];
  if (def.type === 'array' && typeof seg === 'number') return def.element;
  if (def.type === 'record') return def.valueType;
  if (def.type === 'union') {
    for (const o of def.options ?? []) {
      const found = child(o, seg);
      if (found) return found;
    }
  }
  return undefined;
}

export function schemaAt(root: AnySchema, path: ReadonlyArray<PropertyKey>): AnySchema | undefined {
  let s: AnySchema | undefined = root;
  for (const seg of path) {
    if (!s) return undefined;
    s = child(s, seg);
  }
  return s;
}

const quoteList = (xs: unknown[]) => xs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ');

/** The expected shape in words: the field's own ShapeHint, else derived from its kind. */
export function expectedWords(s: AnySchema): string {
  const hint = hintOf(s);
  if (hint) return hint.expected;
  const c = core(s);
  const def = defOf(c);
  switch (def.type) {
    case 'string':
      return 'text';
    case 'number':
    case 'int':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${quoteList(Object.values(def.entries ?? {}))}`;
    case 'literal':
      return quoteList(def.values ?? []);
    case 'object':
      return `a mapping with the keys ${keysOf(c).join(', ')}`;
    case 'array':
      return def.element ? `a list of ${expectedWords(def.element).replace(/^an? /, '')}` : 'a list';
    case 'record':
      return 'a mapping';
    case 'union':
      return (def.options ?? []).map(expectedWords).join(' or ');
    default:
      return def.type;
  }
}

/** Allowed values of an enum field, if it is one. */
export function enumValues(s: AnySchema): string[] | undefined {
  const def = defOf(core(s));
  return def.type === 'enum' ? Object.values(def.entries ?? {}).map(String) : undefined;
}
