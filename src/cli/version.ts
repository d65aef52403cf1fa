// certgate's version: compiled into the standalone executable, else read from package.json (src/ and dist/ alike).
import { readFileSync } from 'node:fs';

// Replaced by the version string when scripts/build-sea.ts bundles certgate (esbuild `define`); undeclared otherwise.
declare const CERTGATE_BUNDLED_VERSION: string | undefined;

export function certgateVersion(): string {
  if (typeof CERTGATE_BUNDLED_VERSION === 'string') return CERTGATE_BUNDLED_VERSION;
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
