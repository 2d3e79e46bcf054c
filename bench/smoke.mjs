// Runs every benchmark script once at the smallest size, to show that each still runs to
// the end: a script that fails exits non-zero here. No figure is checked (these are
// seconds-long runs on whatever else the machine is doing); `.ci/run` calls this so that
// a change to the library cannot quietly break the tools that measure it.
//
//   npm run bench:smoke                 # about two minutes
//
// Scripts that count instructions need valgrind; without it they are skipped (said so).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = dirname(fileURLToPath(import.meta.url));
const rootDir = dirname(benchDir);
const server = (script) => join(benchDir, 'server', script);
const hasValgrind = spawnSync('valgrind', ['--version']).status === 0;

const runs = [
  { what: 'protocol subjects', args: [join(benchDir, 'run.mjs'), 'parser:text-32', 'sender:client-string-20', 'mask:1k', '--runs', '1', '--quick'] },
  {
    what: 'end to end',
    args: [server('e2e.mjs'), '--quick', '--rounds', '1', '--seconds', '0.5', '--warmup', '0.2', '--idle', '200'],
  },
  { what: 'permessage-deflate', args: [server('deflate.mjs'), '--rounds', '1', '--seconds', '0.5', '--idle', '100'] },
  { what: 'fan-out', args: [server('fanout.mjs'), '--rounds', '1', '--seconds', '0.5', '--warmup', '0.2', '--subscribers', '50'] },
  { what: 'variants, echo', args: [server('variants.mjs'), '--rounds', '1', '--seconds', '0.5'], needsDist: true },
  { what: 'variants, handshakes', args: [server('variants.mjs'), '--rounds', '1', '--seconds', '0.5', '--mode', 'handshakes'], needsDist: true },
  { what: 'echo path in process', args: [server('echo-path.mjs'), '--rounds', '1', '--ms', '50'] },
  { what: 'server profile', args: [server('profile.mjs'), 'volley', 'echo', '--connections', '4', '--inflight', '2', '--seconds', '0.5', '--top', '3'] },
  { what: 'protocol profile', args: [join(benchDir, 'profile.mjs'), 'parser', 'text-32', 'volley', '--top', '3'] },
  { what: 'instructions, protocol', args: [join(benchDir, 'instructions.mjs'), 'parser', 'ping-5', '--contenders', 'volley', '--from', '1', '--to', '2'], valgrind: true },
  { what: 'instructions, handshake', args: [server('handshake-path.mjs'), '--contenders', 'volley', '--from', '5', '--to', '10'], valgrind: true },
  { what: 'instructions, echo path', args: [server('echo-path.mjs'), '--instructions', '--from', '1', '--to', '2', '--variants', 'off'], valgrind: true },
];

if (!existsSync(join(rootDir, 'dist', 'index.js'))) {
  const build = spawnSync('npm', ['run', 'build'], { cwd: rootDir, stdio: 'inherit' });
  if (build.status !== 0) process.exit(1);
}

const failed = [];
for (const run of runs) {
  if (run.valgrind && !hasValgrind) {
    process.stdout.write(`skipped ${run.what}: no valgrind\n`);
    continue;
  }
  const started = performance.now();
  const result = spawnSync(process.execPath, run.args, { cwd: rootDir, encoding: 'utf8', timeout: 180_000 });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (result.status === 0) {
    process.stdout.write(`ok ${run.what} (${seconds} s)\n`);
  } else {
    failed.push(run.what);
    const why = result.error ? result.error.message : `exit ${result.status ?? result.signal}`;
    process.stdout.write(`FAILED ${run.what} (${why}, ${seconds} s): node ${run.args.map((a) => a.replace(rootDir + '/', '')).join(' ')}\n`);
    process.stdout.write(`${(result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n')}\n`);
  }
}
process.stdout.write(failed.length === 0 ? 'every benchmark script ran\n' : `${failed.length} benchmark scripts failed: ${failed.join(', ')}\n`);
process.exit(failed.length === 0 ? 0 : 1);
