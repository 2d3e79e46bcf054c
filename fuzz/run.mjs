#!/usr/bin/env node
/**
 * The long fuzz campaign: `npm run fuzz [-- [targets...] [options]]`.
 *
 * Bundles the TypeScript targets with the esbuild that tsup installs (into
 * fuzz/.build/, ignored by git), then runs each target in a worker thread with
 * fast-check, reports inputs per second, and on a failure writes the shrunk input to
 * fuzz/seeds/<target>-<date>.json and exits with status 1. A target that stops making
 * progress (a hang) or runs out of memory is stopped, and the input it was on is saved
 * the same way. See fuzz/README.md.
 *
 * Options (environment variables in brackets):
 *   --runs N          inputs per target [FUZZ_RUNS]; default: each target's share of
 *                     the default campaign (12 million inputs)
 *   --seconds S       time budget per target, 0 for none [FUZZ_SECONDS]; default 0
 *   --seed N          fast-check seed [FUZZ_SEED]; default: random, printed
 *   --jobs N          targets run at once [FUZZ_JOBS]; default 1
 *   --hang-seconds S  no new input for this long counts as a hang; default 60
 *   --replay          check every committed seed in fuzz/seeds/ instead of fuzzing
 *   --list            list the targets
 */
import { readFile, readdir, mkdir, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';
import { Worker } from 'node:worker_threads';

const fuzzDir = dirname(fileURLToPath(import.meta.url));
// One bundle per run, so that runs side by side never load each other's half-written files.
const buildDir = join(fuzzDir, '.build', `run-${process.pid}`);
const seedsDir = join(fuzzDir, 'seeds');

function usage(message) {
  if (message) console.error(`fuzz: ${message}`);
  console.error('usage: npm run fuzz -- [targets...] [--runs N] [--seconds S] [--seed N] [--jobs N] [--hang-seconds S] [--replay] [--list]');
  process.exit(2);
}

function parseArgs(argv) {
  const env = process.env;
  const options = {
    names: [],
    runs: env.FUZZ_RUNS ? Number(env.FUZZ_RUNS) : undefined,
    seconds: Number(env.FUZZ_SECONDS ?? 0),
    seed: env.FUZZ_SEED !== undefined ? Number(env.FUZZ_SEED) : undefined,
    jobs: Number(env.FUZZ_JOBS ?? 1),
    hangSeconds: 60,
    replay: false,
    list: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined || !Number.isFinite(Number(next)) || Number(next) < 0) usage(`${arg} needs a non-negative number`);
      return Number(next);
    };
    if (arg === '--runs') options.runs = value();
    else if (arg === '--seconds') options.seconds = value();
    else if (arg === '--seed') options.seed = value();
    else if (arg === '--jobs') options.jobs = Math.max(1, value());
    else if (arg === '--hang-seconds') options.hangSeconds = Math.max(1, value());
    else if (arg === '--replay') options.replay = true;
    else if (arg === '--list') options.list = true;
    else if (arg === '--help' || arg === '-h') usage();
    else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
    else options.names.push(arg);
  }
  if (options.runs !== undefined && !(options.runs >= 1)) usage('--runs must be at least 1');
  return options;
}

async function bundle() {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    console.error('fuzz: esbuild is missing; run `npm install` first (it comes with tsup)');
    process.exit(2);
  }
  await esbuild.build({
    entryPoints: { worker: join(fuzzDir, 'worker.ts'), targets: join(fuzzDir, 'targets/index.ts') },
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
}

function formatRate(inputs, seconds) {
  return seconds > 0 ? Math.round(inputs / seconds).toLocaleString('en-US') : '-';
}

function stamp() {
  return new Date().toISOString().replace(/:/g, '').replace(/\.\d+Z$/, 'Z');
}

async function saveSeed(target, record) {
  await mkdir(seedsDir, { recursive: true });
  const file = join(seedsDir, `${target}-${stamp()}.json`);
  // The message, without stack frames: they point into a temporary bundle.
  const error = record.error.split('\n').filter((line) => !/^\s+at /.test(line)).join('\n');
  const seed = { target, date: new Date().toISOString(), ...record, error };
  await writeFile(file, `${JSON.stringify(seed, null, 2)}\n`);
  return relative(process.cwd(), file);
}

/** Regenerates input `index` of `seed` in a fresh worker. */
function regenerate(target, seed, index) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(join(buildDir, 'worker.mjs'), { workerData: { mode: 'input', target, seed, index } });
    worker.once('message', (message) => resolve(message.input));
    worker.once('error', reject);
  });
}

/** Runs one target to completion; resolves with its result line. */
function runTarget(name, runs, options, seed) {
  return new Promise((resolve) => {
    const progress = new SharedArrayBuffer(8);
    const counters = new Int32Array(progress);
    const started = Date.now();
    const worker = new Worker(join(buildDir, 'worker.mjs'), {
      workerData: { mode: 'run', target: name, runs, seconds: options.seconds, seed, progress },
      resourceLimits: { maxOldGenerationSizeMb: 2048 },
    });
    let settled = false;
    let lastCount = 0;
    let lastChange = Date.now();
    let lastReport = Date.now();
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      resolve(result);
    };
    const stopWith = async (reason) => {
      const count = Atomics.load(counters, 0);
      finish(null); // placeholder; replaced below
      settled = true;
      await worker.terminate();
      const seconds = (Date.now() - started) / 1000;
      const index = Math.max(0, count - 1);
      let input = null;
      try {
        input = await regenerate(name, seed, index);
      } catch (error) {
        input = { $error: `could not regenerate input: ${String(error)}` };
      }
      const file = await saveSeed(name, { seed, path: String(index), error: `${reason} (input #${index})`, input });
      resolve({ name, inputs: index, seconds, failed: true, error: reason, file });
    };
    const timer = setInterval(() => {
      const count = Atomics.load(counters, 0);
      const shrinking = Atomics.load(counters, 1) === 1;
      const now = Date.now();
      if (count !== lastCount) {
        lastCount = count;
        lastChange = now;
      } else if (!shrinking && now - lastChange > options.hangSeconds * 1000) {
        void stopWith(`hang: no new input for ${options.hangSeconds} s`);
        return;
      }
      if (now - lastReport >= 30_000) {
        lastReport = now;
        const seconds = (now - started) / 1000;
        console.log(`  ${name}: ${count.toLocaleString('en-US')} inputs in ${seconds.toFixed(0)} s (${formatRate(count, seconds)}/s)${shrinking ? ', shrinking a failure' : ''}`);
      }
    }, 1000);
    worker.once('message', async (message) => {
      clearInterval(timer);
      if (settled) return;
      settled = true;
      await worker.terminate();
      if (!message.failed) {
        resolve({ name, inputs: message.inputs, seconds: message.seconds, failed: false, interrupted: message.interrupted });
        return;
      }
      const file = await saveSeed(name, { seed: message.seed, path: message.path, error: message.error, input: message.input });
      resolve({ name, inputs: message.inputs, seconds: message.seconds, failed: true, error: message.error, file });
    });
    worker.once('error', (error) => {
      if (settled) return;
      const reason = error?.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out of memory' : `worker crashed: ${error?.stack ?? error}`;
      void stopWith(reason);
    });
  });
}

async function replay() {
  let files = [];
  try {
    files = (await readdir(seedsDir)).filter((file) => file.endsWith('.json')).sort();
  } catch {
    // no seeds yet
  }
  const seeds = [];
  for (const file of files) {
    const seed = JSON.parse(await readFile(join(seedsDir, file), 'utf8'));
    seeds.push({ file, target: seed.target, input: seed.input });
  }
  const { results } = await new Promise((resolve, reject) => {
    const worker = new Worker(join(buildDir, 'worker.mjs'), { workerData: { mode: 'replay', files: seeds } });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  let failures = 0;
  for (const result of results) {
    console.log(`${result.ok ? 'ok  ' : 'FAIL'} ${result.file}${result.ok ? '' : `\n${result.error}`}`);
    if (!result.ok) failures++;
  }
  console.log(`${results.length - failures} passed, ${failures} failed`);
  process.exit(failures === 0 ? 0 : 1);
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  await bundle();
  if (options.replay) return replay();
  const { targets } = await import(join(buildDir, 'targets.mjs'));
  if (options.list) {
    for (const target of targets) console.log(`${target.name.padEnd(14)} ${target.description} (default ${target.defaultRuns} million inputs)`);
    return;
  }
  for (const name of options.names) if (!targets.some((t) => t.name === name)) usage(`unknown target ${name}; try --list`);
  const selected = targets.filter((t) => options.names.length === 0 || options.names.includes(t.name));
  const seed = options.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
  const plan = selected.map((t) => ({ name: t.name, runs: options.runs ?? Math.round(t.defaultRuns * 1_000_000) }));
  const total = plan.reduce((sum, p) => sum + p.runs, 0);
  console.log(
    `fuzz: ${plan.map((p) => `${p.name} ${p.runs.toLocaleString('en-US')}`).join(', ')} (${total.toLocaleString('en-US')} inputs)` +
      `, seed ${seed}${options.seconds > 0 ? `, at most ${options.seconds} s per target` : ''}, ${options.jobs} at a time`,
  );

  const started = Date.now();
  const results = [];
  const queue = [...plan];
  await Promise.all(
    Array.from({ length: Math.min(options.jobs, queue.length) }, async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const result = await runTarget(next.name, next.runs, options, seed);
        results.push(result);
        const rate = formatRate(result.inputs, result.seconds);
        console.log(`${result.failed ? 'FAIL' : 'ok  '} ${result.name}: ${result.inputs.toLocaleString('en-US')} inputs in ${result.seconds.toFixed(1)} s (${rate}/s)${result.interrupted ? ', time budget reached' : ''}`);
        if (result.failed) console.log(`     ${result.error.split('\n').slice(0, 6).join('\n     ')}\n     input saved to ${result.file}`);
      }
    }),
  );

  const wall = (Date.now() - started) / 1000;
  const inputs = results.reduce((sum, r) => sum + r.inputs, 0);
  console.log('\ntarget          inputs        seconds   inputs/s  result');
  for (const r of results) {
    console.log(
      `${r.name.padEnd(15)} ${r.inputs.toLocaleString('en-US').padStart(12)} ${r.seconds.toFixed(1).padStart(10)} ${formatRate(r.inputs, r.seconds).padStart(10)}  ${r.failed ? `FAILED (${r.file})` : 'ok'}`,
    );
  }
  console.log(`${'total'.padEnd(15)} ${inputs.toLocaleString('en-US').padStart(12)} ${wall.toFixed(1).padStart(10)} ${formatRate(inputs, wall).padStart(10)}  (wall clock, seed ${seed})`);
  const failures = results.filter((r) => r.failed).length;
  console.log(`${results.length - failures} passed, ${failures} failed`);
  process.exit(failures === 0 ? 0 : 1);
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
