// Builds the standalone executable dist-sea/certgate (docs/deploy.md): esbuild bundles the CLI into one CommonJS
// file, Node makes it a single-executable-application blob, postject injects that into a copy of Node 24.
// Run: npm run build:sea [-- --out DIR]   (default dist-sea/; test/cli/sea.test.ts builds into a temp dir and runs it)
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The fuse Node's SEA support looks for in the binary (the value from Node's docs; postject flips its last byte). */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Builds `<outDir>/certgate` (and the bundle `certgate.cjs` beside it) and returns its path. */
export async function buildSea(outDir: string, log: (line: string) => void = () => {}): Promise<string> {
  const OUT_DIR = resolve(outDir);
  const EXECUTABLE = join(OUT_DIR, 'certgate');
  const [major] = process.versions.node.split('.').map(Number);
  if (major < 24) throw new Error(`build:sea needs Node 24 (the one it copies into the executable); this is ${process.version}: run it with npm run build:sea`);
  if (process.platform !== 'linux') throw new Error(`build:sea is set up for Linux (postject's ELF injection); this is ${process.platform}`);
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  mkdirSync(OUT_DIR, { recursive: true });
  rmSync(EXECUTABLE, { force: true });

  // 1. One CommonJS file: Node 24 ignores the SEA config's mainFormat, so an ES module main is not an option.
  const bundle = join(OUT_DIR, 'certgate.cjs');
  const result = await build({
    entryPoints: [join(ROOT, 'src', 'cli', 'main.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    legalComments: 'none',
    logLevel: 'silent',
    // the version is compiled in (there is no package.json beside the executable) ...
    define: { CERTGATE_BUNDLED_VERSION: JSON.stringify(version), 'import.meta.url': '__certgate_import_meta_url' },
    // ... and import.meta, which CommonJS lacks, is this file's URL (code that reads files beside it checks isSea() first)
    banner: { js: 'var __certgate_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  });
  for (const w of result.warnings) log(`esbuild warning: ${w.text}`);
  log(`bundled ${bundle}`);

  // 2. The preparation blob.
  const config = join(OUT_DIR, 'sea-config.json');
  const blob = join(OUT_DIR, 'sea-prep.blob');
  writeFileSync(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }, null, 2));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });

  // 3. A copy of this Node with the blob injected.
  copyFileSync(process.execPath, EXECUTABLE);
  chmodSync(EXECUTABLE, 0o755);
  const postjectCli = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  // postject's ELF writer prints "Can't find string offset for section name" for each of Node's note sections: harmless
  // (a known LIEF message), so its output is shown only when it fails
  const injected = spawnSync(process.execPath, [postjectCli, EXECUTABLE, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { encoding: 'utf8' });
  if (injected.status !== 0) throw new Error(`postject failed (${injected.status ?? injected.signal}):\n${injected.stdout}${injected.stderr}`);
  rmSync(blob);
  rmSync(config);
  log(`wrote ${EXECUTABLE} (Node ${process.version}, certgate ${version})`);
  return EXECUTABLE;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  await buildSea(i > 0 ? process.argv[i + 1] : join(ROOT, 'dist-sea'), (line) => process.stdout.write(line + '\n'));
}
