// Bundles the protocol layer from source into bench/.build/ with esbuild (the same
// bundler and target tsup uses for dist/), so the benchmarks need no prior build and
// always measure the current source.
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const benchDir = dirname(dirname(fileURLToPath(import.meta.url)));
const rootDir = dirname(benchDir);
export const buildDir = join(benchDir, '.build');
export const protocolBundle = join(buildDir, 'protocol.mjs');

/** Bundles src/protocol/index.ts into bench/.build/protocol.mjs. */
export async function buildProtocol() {
  const esbuild = await import('esbuild');
  mkdirSync(buildDir, { recursive: true });
  await esbuild.build({
    entryPoints: [join(rootDir, 'src/protocol/index.ts')],
    outfile: protocolBundle,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  return protocolBundle;
}

/** Imports the bundled protocol layer, building it first if it is missing. */
export async function loadProtocol() {
  if (!existsSync(protocolBundle)) await buildProtocol();
  return import(protocolBundle);
}
