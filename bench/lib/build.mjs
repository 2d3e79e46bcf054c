// Bundles the library from source into bench/.build/ with esbuild (the same bundler and
// target tsup uses for dist/), so the benchmarks need no prior build and always measure
// the current source.
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const benchDir = dirname(dirname(fileURLToPath(import.meta.url)));
export const rootDir = dirname(benchDir);
export const buildDir = join(benchDir, '.build');
export const protocolBundle = join(buildDir, 'protocol.mjs');
export const volleyBundle = join(buildDir, 'volley.mjs');

/**
 * Bundles `entry` (a path from the repository's root, or esbuild `stdin` options for
 * source given inline) into `outfile` as one ESM file for Node.js 20.
 */
export async function bundle(entry, outfile, { sourcemap = true } = {}) {
  const esbuild = await import('esbuild');
  mkdirSync(dirname(outfile), { recursive: true });
  await esbuild.build({
    ...(typeof entry === 'string' ? { entryPoints: [join(rootDir, entry)] } : { stdin: { resolveDir: rootDir, loader: 'ts', ...entry } }),
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: sourcemap ? 'linked' : false,
    logLevel: 'warning',
  });
  return outfile;
}

/** Bundles src/protocol/index.ts into bench/.build/protocol.mjs. */
export function buildProtocol() {
  return bundle('src/protocol/index.ts', protocolBundle);
}

/** Bundles src/index.ts (what dist/index.js is built from) into bench/.build/volley.mjs. */
export function buildVolley(options) {
  return bundle('src/index.ts', volleyBundle, options);
}

/** Imports the bundled protocol layer, building it first if it is missing. */
export async function loadProtocol() {
  if (!existsSync(protocolBundle)) await buildProtocol();
  return import(protocolBundle);
}
