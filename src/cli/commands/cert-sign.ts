// CLI: `certgate cert sign` (not implemented yet).
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

export function register(_program: Command, _ctx: CliContext): void {
  // filled in by the issue that implements this command
}
