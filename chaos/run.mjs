#!/usr/bin/env node
/**
 * The chaos run: `npm run chaos [-- --lives N --seed N --concurrency N --seconds S]`.
 *
 * Bundles chaos/harness.ts (and the library sources it imports) with the esbuild that
 * tsup installs, into chaos/.build/ (ignored by git), runs it, prints the report and
 * exits with status 1 if an invariant failed. See chaos/harness.ts for what a life is
 * and what is checked. Defaults: 10 000 lives, 64 at a time, seed 1, at most 600 s.
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const chaosDir = dirname(fileURLToPath(import.meta.url));
const buildDir = join(chaosDir, '.build', `run-${process.pid}`);

function parseArgs(argv) {
  const options = { lives: 10_000, seed: 1, concurrency: 64, seconds: 600 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]?.replace(/^--/, '');
    const value = Number(argv[++i]);
    if (!(name in options) || !Number.isFinite(value) || value < 0) {
      console.error('usage: npm run chaos -- [--lives N] [--seed N] [--concurrency N] [--seconds S]');
      process.exit(2);
    }
    options[name] = value;
  }
  return options;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const esbuild = await import('esbuild').catch(() => {
    console.error('chaos: esbuild is missing; run `npm install` first (it comes with tsup)');
    process.exit(2);
  });
  await esbuild.build({
    entryPoints: { harness: join(chaosDir, 'harness.ts') },
    outdir: buildDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  const { runChaos, PHASES } = await import(pathToFileURL(join(buildDir, 'harness.mjs')).href);
  console.log(`chaos: ${options.lives.toLocaleString('en-US')} lives, ${options.concurrency} at a time, seed ${options.seed}, at most ${options.seconds} s`);
  const report = await runChaos({ ...options, log: (line) => console.log(line) });
  const rss = process.memoryUsage().rss;
  console.log(`\n${report.lives.toLocaleString('en-US')} lives in ${report.seconds.toFixed(1)} s (${Math.round(report.lives / report.seconds)}/s), RSS at the end ${(rss / 2 ** 20).toFixed(0)} MiB`);
  console.log(`phases: ${PHASES.map((phase) => `${phase} ${report.byPhase[phase]}`).join(', ')}`);
  console.log(`cuts: ${Object.entries(report.byCut).map(([cut, n]) => `${cut} ${n}`).join(', ')}`);
  console.log(`server: ${report.connections} connections accepted, ${report.refused} upgrades refused by authenticate (and read by the client)`);
  console.log(`left after the lives: ${report.clientsLeft} clients, topics ${JSON.stringify(report.topicsLeft)}`);
  console.log(`active resources: before ${JSON.stringify(report.resourcesBefore)}, after closing ${JSON.stringify(report.resourcesAfter)}`);
  for (const line of [...report.uncaughtExceptions, ...report.unhandledRejections, ...report.closeCountErrors].slice(0, 20)) console.log(`  ${line}`);
  console.log(report.ok ? 'ok: every invariant holds' : `FAILED: ${report.failures.join('; ')}`);
  process.exitCode = report.ok ? 0 : 1;
}

process.on('exit', () => {
  try {
    rmSync(buildDir, { recursive: true, force: true });
  } catch {
    // best effort
  }
});

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
