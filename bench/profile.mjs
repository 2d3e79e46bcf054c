// Profiles one sample and prints where its timed work goes: self time per function
// under the pass (the measured workload), as a share of all samples taken there.
//
//   node bench/profile.mjs parser binary-1m volley [--top 15] [--keep]
//
// The sample runs as the harness runs it (`<subject>.mjs --child`, with the contender's
// environment) under `node --cpu-prof`; --keep leaves the .cpuprofile for a viewer.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProtocol } from './lib/build.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const topIndex = args.indexOf('--top');
const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 15;
const [subjectName, scenarioId, contenderId] = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--top');
if (!subjectName || !scenarioId || !contenderId) {
  process.stderr.write('usage: node bench/profile.mjs <parser|sender|mask> <scenario> <contender> [--top N] [--keep]\n');
  process.exit(2);
}

const { subject } = await import(`./${subjectName}.mjs`);
const contender = subject.contenders.find((c) => c.id === contenderId);
if (!contender || !subject.scenarios.some((s) => s.id === scenarioId)) {
  process.stderr.write(`unknown scenario or contender; scenarios: ${subject.scenarios.map((s) => s.id).join(', ')}; contenders: ${subject.contenders.map((c) => c.id).join(', ')}\n`);
  process.exit(2);
}
await buildProtocol();
const dir = mkdtempSync(join(tmpdir(), 'volley-prof-'));
const env = { ...process.env };
delete env.WS_NO_BUFFER_UTIL;
Object.assign(env, contender.env ?? {});
const child = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', dir, join(benchDir, `${subjectName}.mjs`), '--child', scenarioId, contenderId], { env, encoding: 'utf8', timeout: 180_000 });
if (child.status !== 0) {
  process.stderr.write(`sample failed: ${child.error?.message ?? child.stderr}\n`);
  process.exit(1);
}
const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.cpuprofile')));
const profile = JSON.parse(readFileSync(file, 'utf8'));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const hits = new Map();
for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
const name = (n) => `${n.callFrame.functionName || '(anonymous)'} (${n.callFrame.url.split('/').pop() || 'native'}:${n.callFrame.lineNumber + 1})`;
let total = 0;
const self = new Map();
for (const [id, count] of hits) {
  let cur = id;
  let inPass = false;
  for (let depth = 0; cur !== undefined && depth < 1000; depth++) {
    if (byId.get(cur).callFrame.functionName === 'pass') {
      inPass = true;
      break;
    }
    cur = parent.get(cur);
  }
  if (!inPass) continue;
  total += count;
  const key = name(byId.get(id));
  self.set(key, (self.get(key) ?? 0) + count);
}
process.stdout.write(`${subjectName} ${scenarioId} ${contenderId}: ${total} samples of 100 µs inside pass()\n\n| self | function |\n| ---: | --- |\n`);
for (const [key, count] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  process.stdout.write(`| ${((100 * count) / total).toFixed(1)} % | \`${key}\` |\n`);
}
if (flag('--keep')) process.stdout.write(`\nProfile: ${file}\n`);
else rmSync(dir, { recursive: true, force: true });
