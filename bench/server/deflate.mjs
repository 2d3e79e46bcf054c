// permessage-deflate end to end: Volley against ws, both with compression negotiated
// (each library's defaults: context takeover both ways, 15-bit windows, threshold 1024).
//
//   npm run build && node bench/server/deflate.mjs [--rounds 5] [--seconds 5]
//       [--connections 50] [--inflight 8] [--size 1024] [--idle 5000] [--skip-idle]
//       [--level n]   (the same zlib level for both; default: each library's, zlib's 6)
//
// 1. Correctness: each server echoes for 2 s to a load generator that inflates every
//    echo (keeping the server's context) and compares it with what it sent.
// 2. Echo throughput: 1 KiB compressible JSON messages (64 different ones), sent
//    pre-compressed by the load generator (loadgen.mjs --deflate 1), echoed compressed.
//    Each round starts a fresh server process per contender, in rotating order;
//    reported: median msgs/s per contender and the median of the per-round ratios.
// 3. Memory per idle compressed connection: the server's RSS (after a forced GC)
//    before and after `--idle` connections negotiated permessage-deflate, divided by
//    the number of connections (and the JS heap's growth, for a view without the
//    allocator's slack); once right after the handshake ("negotiated") and once after
//    one compressed message each way ("after 1 message", when zlib state exists).
//    Interleaved as above; medians.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const args = parseArgs(process.argv.slice(2));
const rounds = Number(args.rounds ?? 5);
const seconds = Number(args.seconds ?? 5);
const connections = Number(args.connections ?? 50);
const inflight = Number(args.inflight ?? 8);
const size = Number(args.size ?? 1024);
const idleConnections = Number(args.idle ?? 5000);
const contenders = ['volley-deflate', 'ws-deflate'];
/** Every wait is bounded: a stuck child fails the run instead of hanging it. */
const CHILD_TIMEOUT_MS = 120_000;

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[argv[i].slice(2)] = '1';
    else out[argv[i].slice(2)] = argv[++i];
  }
  return out;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${CHILD_TIMEOUT_MS} ms`)), CHILD_TIMEOUT_MS);
    }),
  ]);
}

/** Starts an echo server process; resolves with its port, a line reader and the process. */
async function startServer(kind) {
  const env = args.level === undefined ? process.env : { ...process.env, DEFLATE_LEVEL: args.level };
  const child = spawn(process.execPath, ['--expose-gc', join(here, 'servers.mjs'), kind, '0'], { stdio: ['pipe', 'pipe', 'inherit'], env });
  const lines = createInterface({ input: child.stdout });
  const queue = [];
  let waiter = null;
  lines.on('line', (line) => {
    if (waiter !== null) {
      const resolve = waiter;
      waiter = null;
      resolve(line);
    } else queue.push(line);
  });
  const nextLine = () => withTimeout(new Promise((resolve) => (queue.length > 0 ? resolve(queue.shift()) : (waiter = resolve))), `${kind} server`);
  const ready = await nextLine();
  const port = Number(ready.replace('ready ', ''));
  const memory = async () => {
    child.stdin.write('memory\n');
    return JSON.parse((await nextLine()).replace('memory ', ''));
  };
  const stop = () =>
    new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  return { port, memory, stop };
}

/** Runs the load generator to completion and returns its JSON result. */
function runLoadgen(loadArgs) {
  const result = spawnSync(process.execPath, [join(here, 'loadgen.mjs'), ...loadArgs], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS });
  if (result.status !== 0) throw new Error(`loadgen failed (${result.status}): ${result.stderr || result.stdout}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1));
}

/** Opens idle connections and keeps them until told; resolves once they are open. */
async function openIdle(port, count, deflate, warm) {
  const child = spawn(process.execPath, [join(here, 'loadgen.mjs'), 'idle', '--port', String(port), '--connections', String(count), '--deflate', deflate ? '1' : '0', '--warm', warm ? '1' : '0'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const first = await withTimeout(new Promise((resolve) => lines.once('line', resolve)), 'idle load generator');
  const { opened } = JSON.parse(first);
  if (opened !== count) throw new Error(`opened ${opened} of ${count} connections`);
  return () =>
    new Promise((resolve) => {
      child.once('exit', resolve);
      child.stdin.end('\n');
    });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  if (!existsSync(join(root, 'dist', 'index.js'))) {
    console.error('dist/ is missing: run `npm run build` first');
    process.exit(2);
  }
  const level = args.level === undefined ? "each library's default zlib level" : `zlib level ${args.level} for both`;
  console.log(`node ${process.version}; ${connections} connections × ${inflight} in flight, ${size} B JSON; ${rounds} rounds of ${seconds} s; ${level}`);

  // 1. Correctness.
  for (const kind of contenders) {
    const server = await startServer(kind);
    try {
      const r = runLoadgen(['echo', '--port', String(server.port), '--deflate', '1', '--validate', '1', '--connections', '10', '--inflight', '4', '--size', String(size), '--seconds', '2', '--warmup', '0.5']);
      if (r.compressedEchoes === 0 || r.compressedEchoes < r.messagesPerSecond * 2 * 0.99) throw new Error(`${kind}: echoes were not compressed`);
      console.log(`validated ${kind}: ${Math.round(r.messagesPerSecond * 2)} echoes inflated and compared`);
    } finally {
      await server.stop();
    }
  }

  // 2. Echo throughput, interleaved.
  const rates = Object.fromEntries(contenders.map((c) => [c, []]));
  const ratios = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    const roundRates = {};
    for (const kind of order) {
      const server = await startServer(kind);
      try {
        const r = runLoadgen(['echo', '--port', String(server.port), '--deflate', '1', '--connections', String(connections), '--inflight', String(inflight), '--size', String(size), '--seconds', String(seconds)]);
        roundRates[kind] = r.messagesPerSecond;
        rates[kind].push(r.messagesPerSecond);
      } finally {
        await server.stop();
      }
    }
    ratios.push(roundRates['volley-deflate'] / roundRates['ws-deflate']);
    console.log(`round ${round + 1}: volley ${Math.round(roundRates['volley-deflate'])} msgs/s, ws ${Math.round(roundRates['ws-deflate'])} msgs/s, ratio ${ratios.at(-1).toFixed(2)}`);
  }
  console.log(`\necho, median msgs/s: volley ${Math.round(median(rates['volley-deflate']))}, ws ${Math.round(median(rates['ws-deflate']))}; median ratio ${median(ratios).toFixed(2)}×`);

  // 3. Memory per idle compressed connection.
  if (args['skip-idle'] === '1') return;
  const memoryRounds = Math.max(1, Math.min(rounds, 3));
  const memoryScenarios = [
    { label: 'no compression, for reference', kinds: ['volley', 'ws'], deflate: false, warm: false },
    { label: 'negotiated', kinds: contenders, deflate: true, warm: false },
    { label: 'after 1 message', kinds: contenders, deflate: true, warm: true },
  ];
  for (const { label, kinds, deflate, warm } of memoryScenarios) {
    const rss = Object.fromEntries(kinds.map((c) => [c, []]));
    const heap = Object.fromEntries(kinds.map((c) => [c, []]));
    for (let round = 0; round < memoryRounds; round++) {
      const order = round % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const server = await startServer(kind);
        try {
          await sleep(200);
          const before = await server.memory();
          const close = await openIdle(server.port, idleConnections, deflate, warm);
          await sleep(500);
          const after = await server.memory();
          rss[kind].push((after.rss - before.rss) / idleConnections);
          heap[kind].push((after.heapUsed - before.heapUsed) / idleConnections);
          await close();
        } finally {
          await server.stop();
        }
      }
    }
    const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
    const [v, w] = kinds.map((kind) => median(rss[kind]));
    const [vh, wh] = kinds.map((kind) => median(heap[kind]));
    console.log(
      `memory per idle connection (${label}, ${idleConnections} connections): ` +
        `RSS volley ${kib(v)}, ws ${kib(w)}, ratio ${(v / w).toFixed(2)}×; JS heap volley ${kib(vh)}, ws ${kib(wh)}`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
