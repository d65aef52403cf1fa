// Reads certgate's version from package.json (works from src/ and from dist/).
import { readFileSync } from 'node:fs';

export function certgateVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
