// Benchmark harness: every sample runs in a fresh child process (one contender, one
// scenario), contenders are interleaved round by round in a rotating order, and the
// median over rounds is reported with the ratio of Volley to each other contender.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { cpus, totalmem, loadavg, platform, arch, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { buildProtocol } from './build.mjs';

const benchDir = dirname(dirname(fileURLToPath(import.meta.url)));
const rootDir = dirname(benchDir);
export const resultsDir = join(benchDir, 'results');
const require = createRequire(import.meta.url);

/** Wall-clock bound on one child process, so a regression cannot hang the run. */
const CHILD_TIMEOUT_MS = 180_000;

// ---------------------------------------------------------------------------------
// Child side: one scenario, one contender, one sample.

/**
 * Runs `pass` repeatedly: warm-up passes first (not timed), then timed passes until both
 * `minPasses` and `minMs` are reached. `prepare` runs before every pass, untimed (it
 * restores inputs that parsers unmask in place); `check` runs after every pass, untimed,
 * and throws if the pass produced the wrong result. Every loop is bounded by
 * `maxPasses` and `maxMs`.
 *
 * Each pass is timed twice: wall-clock time, and the CPU time the process used
 * (`process.cpuUsage`, user + system), which does not grow while other processes hold
 * the CPU. Both are reported as the fastest and the median pass.
 */
export function measure({ prepare = () => {}, pass, check = () => {}, warmupMs = 300, warmupPasses = 2, minMs = 600, minPasses = 5, maxPasses = 1_000_000, maxMs = 60_000 }, quick = false) {
  if (quick) {
    warmupMs /= 3;
    minMs /= 4;
    minPasses = Math.max(1, Math.ceil(minPasses / 4));
    warmupPasses = Math.max(1, Math.ceil(warmupPasses / 2));
  }
  const fixed = Number(process.env.VOLLEY_BENCH_PASSES ?? 0);
  if (fixed > 0) {
    // Instruction counting (bench/instructions.mjs): exactly `fixed` passes, no clocks.
    for (let p = 0; p < fixed; p++) {
      prepare();
      pass();
      check();
    }
    return { warmupPasses: 0, passes: fixed, wall: { totalNs: 1, minNs: 1, medianNs: 1 }, cpu: { totalNs: 1, minNs: 1, medianNs: 1 } };
  }
  const wallStart = performance.now();
  let warm = 0;
  while ((warm < warmupPasses || performance.now() - wallStart < warmupMs) && warm < maxPasses && performance.now() - wallStart < maxMs / 4) {
    prepare();
    pass();
    check();
    warm++;
  }
  const timedStart = performance.now();
  let wallTotal = 0;
  const wallNs = [];
  const cpuNs = [];
  const minNs = minMs * 1e6;
  while ((wallNs.length < minPasses || wallTotal < minNs) && wallNs.length < maxPasses && performance.now() - timedStart < maxMs) {
    prepare();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    pass();
    const dt = Number(process.hrtime.bigint() - t0);
    const cpu = process.cpuUsage(cpu0);
    check();
    wallTotal += dt;
    wallNs.push(dt);
    cpuNs.push((cpu.user + cpu.system) * 1000);
  }
  return {
    warmupPasses: warm,
    passes: wallNs.length,
    wall: { totalNs: wallTotal, minNs: Math.min(...wallNs), medianNs: median(wallNs) },
    cpu: { totalNs: cpuNs.reduce((a, b) => a + b, 0), minNs: Math.min(...cpuNs), medianNs: median(cpuNs) },
  };
}

async function childMain(subject, argv) {
  const [scenarioId, contenderId] = argv.filter((a) => !a.startsWith('--'));
  const quick = argv.includes('--quick');
  const scenario = subject.scenarios.find((s) => s.id === scenarioId);
  if (!scenario) throw new Error(`unknown scenario ${scenarioId}`);
  if (!subject.contenders.some((c) => c.id === contenderId)) throw new Error(`unknown contender ${contenderId}`);
  const result = await subject.sample(scenario, contenderId, { quick });
  process.stdout.write(JSON.stringify({ ok: true, ...result }) + '\n');
}

// ---------------------------------------------------------------------------------
// Parent side.

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function runChild(file, scenario, contender, quick, nodeOptions = []) {
  const env = { ...process.env };
  delete env.WS_NO_BUFFER_UTIL;
  Object.assign(env, contender.env ?? {});
  const args = [...nodeOptions, file, '--child', scenario.id, contender.id];
  if (quick) args.push('--quick');
  const child = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, maxBuffer: 16 << 20 });
  const line = child.stdout?.trim().split('\n').pop();
  if (child.status === 0 && line) {
    try {
      return JSON.parse(line);
    } catch {
      // fall through to the error below
    }
  }
  const why = child.error ? child.error.message : `exit ${child.status ?? child.signal}`;
  return { ok: false, error: `${why}: ${(child.stderr || '').trim().split('\n').slice(-3).join(' | ')}` };
}

/**
 * How a sample's passes become one figure. `cpu` (the default): the median pass by CPU
 * time, immune to time slices lost to other processes. `wall`: the fastest pass by
 * wall-clock time (other processes can only slow a pass down).
 */
export const CLOCKS = ['cpu', 'wall'];

function perPass(sample, metric) {
  return metric === 'frames' ? sample.framesPerPass : sample.bytesPerPass;
}

/** Throughput of one sample in the scenario's unit per second, by `clock`. */
function rate(sample, metric, clock) {
  const ns = clock === 'wall' ? sample.wall.minNs : sample.cpu.medianNs;
  return perPass(sample, metric) / (ns / 1e9);
}

/** The other views of the same sample, kept in the JSON. */
function rates(sample, metric) {
  const n = perPass(sample, metric);
  return {
    cpuMedian: n / (sample.cpu.medianNs / 1e9),
    wallFastest: n / (sample.wall.minNs / 1e9),
    wallMedian: n / (sample.wall.medianNs / 1e9),
    wallMean: (n * sample.passes) / (sample.wall.totalNs / 1e9),
  };
}

export function formatRate(value, metric, unit) {
  if (value === undefined || Number.isNaN(value)) return 'n/a';
  if (metric === 'frames') return `${(value / 1e6).toFixed(value >= 1e7 ? 1 : 2)} M/s`;
  if (unit === 'GB/s') return `${(value / 1e9).toFixed(2)} GB/s`;
  const mb = value / 1e6;
  return `${mb >= 1000 ? Math.round(mb) : mb.toFixed(mb >= 100 ? 0 : 1)} MB/s`;
}

/**
 * Runs every selected scenario of `subject`: `runs` rounds, each round one fresh child
 * per contender in a rotating order. Returns the per-scenario samples, medians and ratios.
 */
export function runSubject(subject, { runs = 5, quick = false, clock = 'cpu', nodeOptions = [], only = null, log = (line) => process.stderr.write(line + '\n') } = {}) {
  const file = subject.file;
  const scenarios = only ? subject.scenarios.filter((s) => only.includes(s.id)) : subject.scenarios;
  const primary = subject.contenders[0];
  const out = [];
  for (const scenario of scenarios) {
    const samples = Object.fromEntries(subject.contenders.map((c) => [c.id, []]));
    const errors = [];
    const load = [];
    for (let round = 0; round < runs; round++) {
      load.push(Number(loadavg()[0].toFixed(2)));
      const order = subject.contenders.map((_, i) => subject.contenders[(i + round) % subject.contenders.length]);
      const line = [];
      for (const contender of order) {
        const result = runChild(file, scenario, contender, quick, nodeOptions);
        if (!result.ok) {
          errors.push(`${contender.id}: ${result.error}`);
          line.push(`${contender.id} FAILED`);
          continue;
        }
        const value = rate(result, scenario.metric, clock);
        samples[contender.id].push({ ...result, ok: undefined, value, rates: rates(result, scenario.metric), round: round + 1 });
        line.push(`${contender.id} ${formatRate(value, scenario.metric, subject.unit)}`);
      }
      log(`${subject.name} ${scenario.id} round ${round + 1}/${runs} (load ${load[round]}): ${line.join(', ')}`);
    }
    const medians = {};
    const spread = {};
    for (const c of subject.contenders) {
      const values = samples[c.id].map((s) => s.value);
      if (values.length === 0) continue;
      medians[c.id] = median(values);
      spread[c.id] = (Math.max(...values) - Math.min(...values)) / 2 / medians[c.id];
    }
    const ratios = {};
    const pairedRatios = {};
    for (const c of subject.contenders.slice(1)) {
      if (medians[primary.id] === undefined || medians[c.id] === undefined) continue;
      ratios[c.id] = medians[primary.id] / medians[c.id];
      // The same ratio taken within each round (the contenders ran back to back), then
      // the median over rounds: less sensitive to load that drifts between rounds.
      const n = Math.min(samples[primary.id].length, samples[c.id].length);
      const perRound = [];
      for (let i = 0; i < n; i++) perRound.push(samples[primary.id][i].value / samples[c.id][i].value);
      if (perRound.length) pairedRatios[c.id] = median(perRound);
    }
    out.push({ scenario, samples, medians, spread, ratios, pairedRatios, errors, load });
  }
  return out;
}

/** Markdown table: one row per scenario, medians (± half the range) and ratios. */
export function formatTable(subject, results) {
  const primary = subject.contenders[0];
  const others = subject.contenders.slice(1).filter((c) => c.ratio !== false);
  const header = ['Scenario', ...subject.contenders.map((c) => c.label), ...others.map((c) => `${primary.label} / ${c.label}`)];
  const rows = [header, header.map(() => '---')];
  for (const r of results) {
    const cells = [r.scenario.label];
    for (const c of subject.contenders) {
      const m = r.medians[c.id];
      cells.push(m === undefined ? 'error' : `${formatRate(m, r.scenario.metric, subject.unit)} ±${Math.round(r.spread[c.id] * 100)}%`);
    }
    for (const c of others) cells.push(r.ratios[c.id] === undefined ? 'n/a' : `**${r.ratios[c.id].toFixed(2)}×**`);
    rows.push(cells);
  }
  return rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
}

export function environment() {
  const pkg = (name) => {
    try {
      return JSON.parse(readFileSync(require.resolve(`${name}/package.json`, { paths: [rootDir] }), 'utf8')).version;
    } catch {
      return null;
    }
  };
  let commit = null;
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: rootDir, encoding: 'utf8' });
  if (git.status === 0) commit = git.stdout.trim();
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${platform()} ${release()} ${arch()}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    ws: pkg('ws'),
    bufferutil: pkg('bufferutil'),
    commit,
  };
}

/** Serialisable form of a subject's results (the samples without bulky fields). */
export function resultsJson(subject, results) {
  return {
    subject: subject.name,
    title: subject.title,
    unit: subject.unit,
    contenders: subject.contenders.map(({ id, label, env }) => ({ id, label, env: env ?? {} })),
    scenarios: results.map((r) => ({
      id: r.scenario.id,
      label: r.scenario.label,
      metric: r.scenario.metric,
      medians: r.medians,
      spread: r.spread,
      ratios: r.ratios,
      pairedRatios: r.pairedRatios,
      errors: r.errors,
      loadPerRound: r.load,
      samples: r.samples,
    })),
  };
}

export function writeResults(name, payload) {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(payload, null, 2) + '\n');
  return relative(process.cwd(), file);
}

export function parseArgs(argv) {
  const options = { runs: 5, quick: false, clock: 'cpu', nodeOptions: [], selectors: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.quick = true;
    else if (arg === '--runs') options.runs = Number(argv[++i]);
    else if (arg.startsWith('--runs=')) options.runs = Number(arg.slice(7));
    else if (arg === '--clock') options.clock = argv[++i];
    else if (arg.startsWith('--clock=')) options.clock = arg.slice(8);
    else if (arg.startsWith('--node-option=')) options.nodeOptions.push(arg.slice('--node-option='.length));
    else if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
    else options.selectors.push(arg);
  }
  if (!Number.isInteger(options.runs) || options.runs < 1 || options.runs > 101) throw new Error('--runs must be an integer from 1 to 101');
  if (!CLOCKS.includes(options.clock)) throw new Error(`--clock must be one of ${CLOCKS.join(', ')}`);
  if (options.quick && !argv.some((a) => a.startsWith('--runs'))) options.runs = 3;
  return options;
}

/** Prints a subject's table and returns its JSON form. */
export function benchSubject(subject, options, only) {
  const results = runSubject(subject, { runs: options.runs, quick: options.quick, clock: options.clock, nodeOptions: options.nodeOptions, only });
  const table = formatTable(subject, results);
  process.stdout.write(`\n## ${subject.title}\n\n${subject.note ? subject.note + '\n\n' : ''}${table}\n\n`);
  for (const r of results) for (const e of r.errors) process.stdout.write(`- ${r.scenario.id}: ${e}\n`);
  return resultsJson(subject, results);
}

/**
 * Entry point of a subject file: `node bench/<subject>.mjs [scenario...]` benchmarks it
 * alone; `node bench/<subject>.mjs --child <scenario> <contender>` takes one sample
 * (what the parent spawns, and what to run under `--cpu-prof`).
 */
export async function subjectCli(subject, metaUrl) {
  if (process.argv[1] !== fileURLToPath(metaUrl)) return;
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    await childMain(subject, argv.slice(1));
    return;
  }
  const options = parseArgs(argv);
  await buildProtocol();
  const only = options.selectors.length ? options.selectors : null;
  const json = benchSubject(subject, options, only);
  const file = writeResults(subject.name, { environment: environment(), runs: options.runs, quick: options.quick, clock: options.clock, nodeOptions: options.nodeOptions, subjects: [json] });
  process.stdout.write(`Results: ${file}\n`);
}
