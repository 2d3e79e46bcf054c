// CPU profile of an echo server under the load generator: where the server's time goes.
//
//   node bench/server/profile.mjs volley echo --connections 100 --inflight 16 --size 32
//   node bench/server/profile.mjs ws echo --connections 4 --inflight 2 --size 1048576 --binary 1
//   node bench/server/profile.mjs volley handshakes --concurrency 50 [--seconds 5] [--top 25] [--keep]
//
// Bundles Volley from src/ (as e2e.mjs does), starts `servers.mjs <kind>` under
// `node --cpu-prof`, runs `loadgen.mjs` with the remaining arguments, stops the server
// and prints the self time of each function as a share of the samples in which the
// server was not idle, and the time in garbage collection.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildVolley } from '../lib/build.mjs';
import { runLoadgen, startServer, stopChild } from './common.mjs';

const argv = process.argv.slice(2);
const take = (name, fallback) => {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const [, value] = argv.splice(i, 2);
  return value;
};
const keep = argv.includes('--keep') && argv.splice(argv.indexOf('--keep'), 1).length > 0;
const top = Number(take('--top', 25));
const seconds = take('--seconds', '5');
const [kind, ...loadArgs] = argv;
if (!kind || loadArgs.length === 0) {
  process.stderr.write('usage: node bench/server/profile.mjs <volley|ws|raw> <echo|handshakes> [loadgen options] [--seconds 5] [--top 25] [--keep]\n');
  process.exit(2);
}

const volleyModule = await buildVolley();

const dir = mkdtempSync(join(tmpdir(), 'volley-server-prof-'));
const server = await startServer(kind, {
  nodeArgs: ['--cpu-prof', '--cpu-prof-interval', '200', '--cpu-prof-dir', dir],
  env: { ...process.env, VOLLEY_MODULE: volleyModule },
  ms: 10_000,
});
let result;
try {
  result = await runLoadgen([...loadArgs, '--port', String(server.port), '--seconds', seconds], { ms: (Number(seconds) + 60) * 1000 });
} finally {
  // SIGINT: the server exits normally, so that --cpu-prof writes its profile.
  await stopChild(server.child, `${kind} server`, 30_000, 'SIGINT');
}
process.stdout.write(`${JSON.stringify(result)}\n`);

const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.cpuprofile')));
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const counts = new Map();
for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
const self = new Map();
let busy = 0;
let idle = 0;
for (const [id, count] of counts) {
  const frame = byId.get(id).callFrame;
  if (frame.functionName === '(idle)') {
    idle += count;
    continue;
  }
  busy += count;
  const key = `${frame.functionName || '(anonymous)'} ${frame.url ? `(${frame.url.split('/').pop()}:${frame.lineNumber + 1})` : ''}`.trim();
  self.set(key, (self.get(key) ?? 0) + count);
}
process.stdout.write(`\n${kind}: ${busy} busy samples, ${idle} idle (${((100 * idle) / (busy + idle)).toFixed(1)} % idle)\n\n| self | function |\n| ---: | --- |\n`);
for (const [key, count] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  process.stdout.write(`| ${((100 * count) / busy).toFixed(1)} % | \`${key}\` |\n`);
}
if (keep) process.stdout.write(`\nProfile: ${file}\n`);
else rmSync(dir, { recursive: true, force: true });
