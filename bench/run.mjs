// Runs the benchmarks: `npm run bench` for all of them, `npm run bench -- parser` for
// one subject, `npm run bench -- parser:text-32 mask:64k` for single scenarios.
// Options: --runs N (default 5), --quick (3 runs, shorter timings: a smoke test),
// --clock cpu|wall (default cpu: CPU time of each pass; wall: fastest wall-clock pass),
// --node-option=<flag> (repeatable: a Node/V8 flag for every sample's process).
//
// `e2e` is the end-to-end server benchmark (bench/server/e2e.mjs: echo, large messages,
// handshakes, idle memory against ws and a raw node:net server, each in its own
// processes); `npm run bench -- e2e:echo e2e:idle` runs some of its scenarios, --runs
// sets its rounds (default 3 there). It runs after the protocol subjects.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildProtocol } from './lib/build.mjs';
import { benchSubject, environment, parseArgs, writeResults } from './lib/harness.mjs';

const subjects = {
  parser: () => import('./parser.mjs'),
  sender: () => import('./sender.mjs'),
  mask: () => import('./mask.mjs'),
};

/** The goals the protocol layer is held to, checked against the ratios measured. */
const targets = [
  { subject: 'parser', scenarios: ['text-32', 'ping-5', 'text-20', 'binary-125'], against: ['ws', 'ws-js'], min: 1.5, what: 'parsing small frames' },
  { subject: 'parser', scenarios: ['binary-64k', 'frame-16m', 'binary-65535', 'binary-200k', 'binary-1m'], against: ['ws', 'ws-js'], min: 1.0, what: 'parsing large frames' },
  { subject: 'mask', scenarios: ['1k', '64k', '64k-unaligned', '1m', '16m'], against: ['ws-js'], min: 4.0, what: 'masking vs the ws JS fallback' },
];

let options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write('usage: npm run bench -- [parser|sender|mask|e2e|subject:scenario ...] [--runs N] [--clock cpu|wall] [--node-option=<flag>] [--quick]\n');
  process.exit(0);
}

const selected = new Map();
const e2eScenarios = [];
let runE2e = options.selectors.length === 0;
for (const selector of options.selectors.length ? options.selectors : Object.keys(subjects)) {
  const [name, scenario] = selector.split(':');
  if (name === 'e2e') {
    runE2e = true;
    if (scenario) e2eScenarios.push(scenario);
    continue;
  }
  if (!subjects[name]) {
    process.stderr.write(`unknown subject "${name}"; choose from ${Object.keys(subjects).join(', ')}\n`);
    process.exit(2);
  }
  if (!selected.has(name)) selected.set(name, []);
  if (scenario) selected.get(name).push(scenario);
}

/** The end-to-end benchmark, in its own process (it starts servers and load generators). */
function e2e() {
  const args = [fileURLToPath(new URL('./server/e2e.mjs', import.meta.url))];
  if (e2eScenarios.length) args.push('--scenarios', e2eScenarios.join(','));
  if (process.argv.slice(2).some((a) => a.startsWith('--runs'))) args.push('--rounds', String(options.runs));
  if (options.quick) args.push('--quick');
  const child = spawnSync(process.execPath, args, { stdio: 'inherit' });
  return child.status ?? 1;
}

if (selected.size === 0) process.exit(runE2e ? e2e() : 0);

await buildProtocol();
const env = environment();
process.stdout.write(`# Volley protocol benchmarks\n\nNode ${env.node} (V8 ${env.v8}), ${env.cpu} × ${env.cores}, ${env.platform}; ws ${env.ws}, bufferutil ${env.bufferutil}; ${options.runs} runs${options.quick ? ' (quick)' : ''}; clock: ${options.clock}${options.nodeOptions.length ? `; node ${options.nodeOptions.join(' ')}` : ''}; load average at start ${env.loadavg.join(' ')}.\n`);

const results = [];
for (const [name, only] of selected) {
  const { subject } = await subjects[name]();
  for (const id of only) {
    if (!subject.scenarios.some((s) => s.id === id)) {
      process.stderr.write(`unknown scenario "${name}:${id}"; choose from ${subject.scenarios.map((s) => s.id).join(', ')}\n`);
      process.exit(2);
    }
  }
  results.push(benchSubject(subject, options, only.length ? only : null));
}

const lines = [];
for (const target of targets) {
  const result = results.find((r) => r.subject === target.subject);
  if (!result) continue;
  for (const scenario of result.scenarios) {
    if (!target.scenarios.includes(scenario.id)) continue;
    for (const against of target.against) {
      const ratio = scenario.ratios[against];
      if (ratio === undefined) continue;
      const label = result.contenders.find((c) => c.id === against).label;
      lines.push(`| ${target.what} | ${scenario.label} | ${label} | ${ratio.toFixed(2)}× | ≥ ${target.min}× | ${ratio >= target.min ? 'met' : '**missed**'} |`);
    }
  }
}
if (lines.length) {
  process.stdout.write('## Targets\n\n| Goal | Scenario | Against | Volley / other | Target | |\n| --- | --- | --- | --- | --- | --- |\n' + lines.join('\n') + '\n\n');
}
const file = writeResults([...selected.keys()].join('+'), { environment: env, runs: options.runs, quick: options.quick, clock: options.clock, nodeOptions: options.nodeOptions, subjects: results });
process.stdout.write(`Results: ${file}\n`);
if (runE2e) process.exitCode = e2e();
