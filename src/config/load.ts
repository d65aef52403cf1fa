// Loads certgate.yaml: YAML (with positions) -> schema -> cross-field checks -> normalized GatewayConfig.
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSea } from 'node:sea';
import { LineCounter, parseDocument } from 'yaml';
import { Config } from './schema.ts';
import type { GatewayConfig } from './schema.ts';
import { findComplexKeys, findDuplicateKeys, positionAt } from './positions.ts';
import type { SourceMap } from './positions.ts';
import { issuesToProblems } from './issues.ts';
import { checkSemantics } from './semantics.ts';
import { normalizeConfig } from './normalize.ts';
import { ConfigProblemsError } from './problems.ts';
import type { ConfigProblem } from './problems.ts';
import { UserError } from '../core/errors.ts';

/**
 * Where examples/minimal.yaml is on this machine: in the checkout, or in the installed package (package.json "files"
 * ships examples/), so the hints below name a file that exists wherever certgate runs from. The standalone executable
 * (docs/deploy.md) is one file with nothing beside it: there the answer is undefined and the hints name `certgate init`.
 */
export function minimalExamplePath(): string | undefined {
  if (isSea()) return undefined;
  return fileURLToPath(new URL('../../examples/minimal.yaml', import.meta.url));
}

/** yaml's messages, reworded where they talk about the library instead of the file. */
function yamlMessage(code: string, message: string): string {
  if (code === 'MULTIPLE_DOCS') return 'the config must be one YAML document, but "---" starts a second one';
  if (code === 'TAB_AS_INDENT') return 'tabs are not allowed for indentation in YAML; indent with spaces';
  if (code === 'TAG_RESOLVE_FAILED') return `${message.replace(/^Unresolved tag/, 'unknown YAML tag')}; the config uses no tags`;
  if (code === 'BAD_ALIAS' || code === 'ALIAS_PROPS') return message;
  return message.charAt(0).toLowerCase() + message.slice(1);
}

/** Parses the YAML, reporting syntax errors, unknown tags and duplicate keys with their positions. */
function parseYaml(text: string, file: string): { src: SourceMap; data: unknown } {
  const lineCounter = new LineCounter();
  // uniqueKeys off: duplicates are found below, with both positions in the message
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, merge: false });
  const src: SourceMap = { file, doc, lineCounter };
  const problems: ConfigProblem[] = [...doc.errors, ...doc.warnings].map((e) => ({
    code: 'CG_CONFIG_SYNTAX',
    message: `YAML syntax: ${yamlMessage(e.code, e.message)}`,
    position: positionAt(src, e.pos[0]),
  }));
  for (const d of findDuplicateKeys(src)) {
    problems.push({
      code: 'CG_CONFIG_SYNTAX',
      message: `duplicate key "${d.key}"; it first appears at line ${d.first.line}, column ${d.first.column}`,
      hint: 'YAML would silently keep only the last one; remove or merge one of them',
      position: d.again,
    });
  }
  for (const position of findComplexKeys(src)) {
    problems.push({ code: 'CG_CONFIG_SYNTAX', message: 'a key must be a plain name, not a list or mapping', position });
  }
  if (problems.length) throw new ConfigProblemsError(problems);
  if (doc.contents === null) {
    throw new ConfigProblemsError([{
      code: 'CG_CONFIG_INVALID',
      message: 'the config is empty',
      hint: `it needs at least servers: [{listen: ..., routes: [...]}]; ${minimalExamplePath() ? `see ${minimalExamplePath()}` : 'certgate init writes a working one'}`,
      position: { file, line: 1, column: 1 },
    }]);
  }
  try {
    return { src, data: doc.toJS() };
  } catch (err) {
    // unresolved aliases (`*name` without `&name`) and alias bombs surface only here
    const message = err instanceof Error ? err.message : String(err);
    throw new ConfigProblemsError([{ code: 'CG_CONFIG_SYNTAX', message: `YAML: ${message}`, position: { file, line: 1, column: 1 } }]);
  }
}

/**
 * Parses and validates config text. `fileName` is only used in messages; relative file paths in the config
 * are resolved against `baseDir`. Throws ConfigProblemsError (a ConfigError) listing every problem found.
 */
export function parseConfigText(text: string, fileName: string, baseDir: string): GatewayConfig {
  const { src, data } = parseYaml(text, fileName);
  const parsed = Config.safeParse(data);
  if (!parsed.success) throw new ConfigProblemsError(issuesToProblems(parsed.error.issues, src, data));
  const problems = checkSemantics(parsed.data, src);
  if (problems.length) throw new ConfigProblemsError(problems);
  return normalizeConfig(parsed.data, resolve(baseDir));
}

/** Reads and validates a config file; paths inside it are relative to its directory. `displayName` names it in messages. */
export function loadConfigFile(path: string, displayName: string = path): GatewayConfig {
  let text: string;
  try {
    if (statSync(path).isDirectory()) {
      throw new UserError('CG_FILE_UNREADABLE', `config ${displayName} is a directory`, { hint: 'pass the YAML file itself, e.g. -c certgate.yaml' });
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UserError('CG_FILE_NOT_FOUND', `config file ${displayName} not found`, {
        hint: `pass -c FILE, set CERTGATE_CONFIG${minimalExamplePath() ? `, write one with \`certgate init\`, or start from ${minimalExamplePath()}` : ', or write one with `certgate init`'}`,
      });
    }
    throw new UserError('CG_FILE_UNREADABLE', `cannot read config file ${displayName}: ${(err as Error).message}`, { cause: err });
  }
  return parseConfigText(text, displayName, dirname(resolve(path)));
}

/** The config file a command reads: `-c FILE`, else $CERTGATE_CONFIG, else ./certgate.yaml (relative to `cwd`). */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string {
  const chosen = flag || env.CERTGATE_CONFIG || 'certgate.yaml';
  return isAbsolute(chosen) ? chosen : resolve(cwd, chosen);
}
