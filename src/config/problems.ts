// A batch of config problems, each at file:line:column, raised as one ConfigError whose first problem decides the code.
import { ConfigError } from '../core/errors.ts';
import type { ErrorCode, SourcePosition } from '../core/errors.ts';

/** One thing wrong with the config, where it is and what to do about it. */
export interface ConfigProblem {
  code: ErrorCode;
  message: string;
  /** What to write instead ("did you mean ...?", the allowed keys). */
  hint?: string;
  position?: SourcePosition;
}

/** More than this many problems usually means one early mistake confused the rest; show the first ones. */
export const MAX_PROBLEMS = 10;

export function formatProblem(p: ConfigProblem): string {
  const where = p.position ? `${p.position.file}:${p.position.line}:${p.position.column}: ` : '';
  return where + p.message + (p.hint ? ` (${p.hint})` : '');
}

/** In reading order: top to bottom, left to right; problems without a position last. */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const key = (p: ConfigProblem) => (p.position ? p.position.line * 1e6 + p.position.column : Infinity);
  return problems.map((p, i) => ({ p, i })).sort((a, b) => key(a.p) - key(b.p) || a.i - b.i).map((x) => x.p);
}

/**
 * Every problem found in one config file. `problems` holds them all (capped at MAX_PROBLEMS); the error's own code,
 * message and position are the first one's, so callers matching on `code` see the first problem in the file.
 */
export class ConfigProblemsError extends ConfigError {
  readonly problems: ConfigProblem[];
  /** How many problems were found in all, including those left out of `problems`. */
  readonly total: number;

  constructor(problems: ConfigProblem[]) {
    const sorted = sortProblems(problems);
    const first = sorted[0];
    super(first.code, first.message, first.position, first.hint ? { hint: first.hint } : {});
    this.problems = sorted.slice(0, MAX_PROBLEMS);
    this.total = sorted.length;
  }

  /** One line per problem, gcc style, so editors and terminals can jump to each. */
  override userLine(): string {
    const lines = this.problems.map(formatProblem);
    if (this.total > this.problems.length) lines.push(`(${this.total - this.problems.length} more problems not shown; fix these first)`);
    return lines.join('\n');
  }
}
