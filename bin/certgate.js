#!/usr/bin/env node
// Launcher: runs the TypeScript sources in a checkout, the compiled dist/ in an installed package.
import { existsSync } from 'node:fs';

const src = new URL('../src/cli/main.ts', import.meta.url);
const dist = new URL('../dist/cli/main.js', import.meta.url);
await import(existsSync(src) ? src.href : dist.href);
