// Instructions per frame (or per byte) of protocol-layer scenarios, counted under
// valgrind: deterministic where timings on a shared machine are not.
//
//   node bench/instructions.mjs parser text-32 [--contenders volley,ws,ws-js] [--from 2 --to 4]
//
// Each contender's sample (`<subject>.mjs --child`) runs twice under cachegrind (no
// cache simulation, V8 single-threaded, fixed seeds), once with `from` and once with
// `to` passes of the scenario's workload (VOLLEY_BENCH_PASSES); the difference divided
// by the extra frames (bytes for MB/s scenarios) excludes start-up, input building and
// the first passes' compilation. Prepare/check work between passes (restoring the
// input the parsers unmask in place) is counted too and is the same for every
// contender; the ratio is a conservative one.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProtocol } from './lib/build.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? fallback : argv.splice(i, 2)[1];
};
const from = Number(option('from', 2));
const to = Number(option('to', 4));
const only = option('contenders', null);
const [subjectName, ...scenarioIds] = argv;
const { subject } = await import(`./${subjectName}.mjs`);
const contenders = subject.contenders.filter((c) => only === null || only.split(',').includes(c.id));
await buildProtocol();

function count(scenario, contender, passes) {
  const env = { ...process.env, VOLLEY_BENCH_PASSES: String(passes) };
  delete env.WS_NO_BUFFER_UTIL;
  Object.assign(env, contender.env ?? {});
  const result = spawnSync(
    'valgrind',
    ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', process.execPath, '--single-threaded', '--random-seed=1', '--hash-seed=1', join(benchDir, `${subjectName}.mjs`), '--child', scenario.id, contender.id],
    { env, encoding: 'utf8', timeout: 1_800_000, maxBuffer: 16 << 20 },
  );
  const match = /I\s+refs:\s+([\d,]+)/.exec(result.stderr ?? '');
  if (result.status !== 0 || match === null) throw new Error(`${scenario.id} ${contender.id}: ${result.error ?? result.stderr.slice(-500)}`);
  const sample = JSON.parse(result.stdout.trim().split('\n').pop());
  return { instructions: Number(match[1].replaceAll(',', '')), sample };
}

const rows = [];
for (const id of scenarioIds.length ? scenarioIds : subject.scenarios.map((s) => s.id)) {
  const scenario = subject.scenarios.find((s) => s.id === id);
  if (!scenario) throw new Error(`unknown scenario ${id}`);
  const per = {};
  for (const contender of contenders) {
    const low = count(scenario, contender, from);
    const high = count(scenario, contender, to);
    const unitsPerPass = scenario.metric === 'frames' ? high.sample.framesPerPass : high.sample.bytesPerPass;
    per[contender.id] = (high.instructions - low.instructions) / ((to - from) * unitsPerPass);
    process.stderr.write(`${id} ${contender.id}: ${per[contender.id].toFixed(2)} instructions per ${scenario.metric === 'frames' ? 'frame' : 'byte'}\n`);
  }
  rows.push({ scenario: id, per });
}
const head = contenders.map((c) => c.label);
const ratios = contenders.filter((c) => c.id !== 'volley');
process.stdout.write(`| Scenario | ${head.join(' | ')} | ${ratios.map((c) => `${c.label} / Volley`).join(' | ')} |\n| --- |${' --- |'.repeat(head.length + ratios.length)}\n`);
for (const { scenario, per } of rows) {
  process.stdout.write(`| ${scenario} | ${contenders.map((c) => per[c.id].toFixed(2)).join(' | ')} | ${ratios.map((c) => `**${(per[c.id] / per.volley).toFixed(2)}×**`).join(' | ')} |\n`);
}
