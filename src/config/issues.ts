// Turns zod issues into config problems that name the YAML node, the expected shape in words, and a likely fix.
import type { z } from 'zod';
import { Config } from './schema.ts';
import { child, core, defOf, enumValues, expectedWords, hintOf, keysOf, objectOf, schemaAt } from './schema-walk.ts';
import type { AnySchema } from './schema-walk.ts';
import { closest } from './suggest.ts';
import { holderPosition, keyPosition, valuePosition } from './positions.ts';
import type { ConfigPath, SourceMap } from './positions.ts';
import type { ConfigProblem } from './problems.ts';

type Issue = z.core.$ZodIssue;

/** `servers[0].clientAuth.mode` */
export function pathText(path: ConfigPath): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${String(seg)}` : String(seg);
  return out;
}

function valueAt(data: unknown, path: ConfigPath): { present: boolean; value: unknown } {
  let cur: unknown = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, seg)) return { present: false, value: undefined };
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return { present: true, value: cur };
}

/** The value as a person would name it: `"abc"`, `the number 5`, `a list`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (typeof v === 'string') return v === '' ? 'an empty text ""' : JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v);
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : `a list (${v.length} item${v.length === 1 ? '' : 's'})`;
  if (v instanceof Uint8Array) return 'binary data';
  if (typeof v === 'object') return Object.keys(v).length === 0 ? 'an empty mapping' : 'a mapping';
  return typeof v;
}

function unionOptions(schema: AnySchema): AnySchema[] {
  const def = defOf(core(schema));
  return def.type === 'union' ? (def.options ?? []) : [];
}

function acceptsText(schema: AnySchema): boolean {
  return [schema, ...unionOptions(schema)].some((x) => defOf(core(x)).type === 'string');
}

const YAML11_BOOLEANS = /^(yes|no|on|off|y|n|true|false)$/i;

function suggestionFor(schema: AnySchema | undefined, value: unknown): string | undefined {
  if (!schema) return undefined;
  // a union (string or mapping) asks each of its members: the URL member knows how to fix a bare host:port
  for (const candidate of [schema, ...unionOptions(schema)]) {
    const suggested = hintOf(candidate)?.suggest?.(value);
    if (suggested) return suggested;
  }
  const values = enumValues(schema);
  if (values && typeof value === 'string') {
    const near = closest(value, values);
    if (near) return `did you mean "${near}"?`;
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && defOf(core(schema)).type === 'array') {
    return 'a list is needed here: start each entry with "- " (or write [...])';
  }
  if ((typeof value === 'number' || typeof value === 'boolean') && acceptsText(schema)) return `put it in quotes: "${String(value)}"`;
  const words = expectedWords(schema);
  if (words === 'true or false' && typeof value === 'string' && YAML11_BOOLEANS.test(value)) {
    return 'write true or false: YAML 1.2 reads yes, no, on and off as text';
  }
  return undefined;
}

/** Where a key that is unknown here is known one level down: `cert` at server level belongs under `tls:`. */
function belongsUnder(objectSchema: AnySchema, key: string): string | undefined {
  for (const name of keysOf(objectSchema)) {
    const sub = child(objectSchema, name);
    if (sub && objectOf(sub) && keysOf(sub).includes(key)) return name;
    const elem = sub && child(sub, 0);
    if (elem && objectOf(elem) && keysOf(elem).includes(key)) return name;
  }
  return undefined;
}

function unknownKeyProblems(issue: Issue & { code: 'unrecognized_keys' }, src: SourceMap): ConfigProblem[] {
  const objectSchema = schemaAt(Config, issue.path);
  const allowed = objectSchema ? keysOf(objectSchema) : [];
  const where = issue.path.length ? pathText(issue.path) : 'the top level';
  return issue.keys.map((key) => {
    const near = closest(key, allowed);
    const under = !near && objectSchema ? belongsUnder(objectSchema, key) : undefined;
    const advice = near ? `did you mean "${near}"? ` : under ? `"${key}" belongs inside "${under}:"; ` : '';
    return {
      code: 'CG_CONFIG_UNKNOWN_KEY',
      message: `unknown key "${key}" in ${where}`,
      hint: `${advice}allowed here: ${allowed.join(', ')}`,
      position: keyPosition(src, issue.path, key),
    };
  });
}

const isTypeMismatch = (branch: readonly Issue[]) => branch.length > 0 && branch.every((i) => i.code === 'invalid_type' && i.path.length === 0);

/**
 * The issues of the one union member whose type fits the value ({X-Test: 5} is a mapping, so the record member's
 * complaint is the useful one), re-rooted at the union's path; undefined when no single member fits.
 */
function fittingBranch(issue: Issue & { code: 'invalid_union' }): Issue[] | undefined {
  const fitting = issue.errors.filter((branch) => !isTypeMismatch(branch));
  if (fitting.length !== 1) return undefined;
  return fitting[0].map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] }) as Issue);
}

/** One zod issue as zero or more problems (an unrecognized_keys issue lists several keys). */
export function issueToProblems(issue: Issue, src: SourceMap, data: unknown): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') return unknownKeyProblems(issue, src);
  if (issue.code === 'invalid_union') {
    const inner = fittingBranch(issue);
    if (inner) return inner.flatMap((i) => issueToProblems(i, src, data));
  }
  const path = issue.path;
  const name = path.length ? pathText(path) : 'top level';
  const schema = schemaAt(Config, path);
  const { present, value } = valueAt(data, path);
  const words = schema ? expectedWords(schema) : undefined;

  if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && !present && path.length > 0) {
    const parent = path.slice(0, -1);
    const key = String(path[path.length - 1]);
    return [{
      code: 'CG_CONFIG_INVALID',
      message: `missing required key "${key}" in ${parent.length ? pathText(parent) : 'the top level'}`,
      hint: words ? `${key}: ${words}` : undefined,
      position: holderPosition(src, parent) ?? { file: src.file, line: 1, column: 1 },
    }];
  }

  const position = valuePosition(src, path) ?? { file: src.file, line: 1, column: 1 };
  const got = describeValue(value);
  let expected: string;
  switch (issue.code) {
    case 'invalid_format':
    case 'custom':
      // refine/regex messages in schema.ts are written as the expected shape ("a duration like ...")
      expected = issue.message;
      break;
    case 'too_small':
    case 'too_big':
      expected = words ?? issue.message;
      if (issue.origin === 'array' && issue.code === 'too_small') expected = `${expected} (at least ${String(issue.minimum)})`;
      break;
    case 'invalid_key': {
      // the path ends with the offending key itself: point at the key, not at its value
      const parent = path.slice(0, -1);
      const key = String(path[path.length - 1]);
      const expectedKey = issue.issues[0]?.message ?? 'a valid key';
      return [{ code: 'CG_CONFIG_INVALID', message: `${pathText(parent)}: "${key}" is not ${expectedKey}`, position: keyPosition(src, parent, key) ?? position }];
    }
    default:
      expected = words ?? issue.message;
  }
  const hint = suggestionFor(schema, value);
  return [{ code: 'CG_CONFIG_INVALID', message: `${name}: expected ${expected}, got ${got}`, hint, position }];
}

/** The keys an unknown key was probably meant to be, as "path|key", so "missing listen" after "lisen" is not said twice. */
function typoTargets(issues: readonly Issue[]): Set<string> {
  const targets = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const allowed = keysOf(schemaAt(Config, issue.path) ?? Config);
    for (const key of issue.keys) {
      const near = closest(key, allowed);
      if (near) targets.add(`${pathText(issue.path)}|${near}`);
    }
  }
  return targets;
}

export function issuesToProblems(issues: readonly Issue[], src: SourceMap, data: unknown): ConfigProblem[] {
  const typos = typoTargets(issues);
  const explained = (issue: Issue) =>
    issue.code === 'invalid_type' && issue.path.length > 0 && !valueAt(data, issue.path).present &&
    typos.has(`${pathText(issue.path.slice(0, -1))}|${String(issue.path[issue.path.length - 1])}`);
  return issues.filter((issue) => !explained(issue)).flatMap((issue) => issueToProblems(issue, src, data));
}
