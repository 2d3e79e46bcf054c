// permessage-deflate end to end: Volley against ws, both with compression negotiated
// (each library's defaults: context takeover both ways, 15-bit windows, threshold 1024).
//
//   node bench/server/deflate.mjs [--rounds 5] [--seconds 5]
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
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { buildVolley } from '../lib/build.mjs';
import { median, openIdle as openIdleConnections, parseArgs, sleep, startServer as startServerProcess } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
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

/** Starts an echo server process of `kind`, on the Volley bundled from source. */
function startServer(kind, volleyModule) {
  const env = { ...process.env, VOLLEY_MODULE: volleyModule };
  if (args.level !== undefined) env.DEFLATE_LEVEL = args.level;
  return startServerProcess(kind, { env, ms: CHILD_TIMEOUT_MS });
}

/** Runs the load generator to completion and returns its JSON result. */
function runLoadgen(loadArgs) {
  const result = spawnSync(process.execPath, [join(here, 'loadgen.mjs'), ...loadArgs], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS });
  if (result.status !== 0) throw new Error(`loadgen failed (${result.status}): ${result.stderr || result.stdout}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1));
}

/** Opens idle connections and keeps them until told; resolves once they are open. */
function openIdle(port, count, deflate, warm) {
  return openIdleConnections(port, count, { loadArgs: ['--deflate', deflate ? '1' : '0', '--warm', warm ? '1' : '0'], ms: CHILD_TIMEOUT_MS });
}

async function main() {
  const volleyModule = await buildVolley();
  const level = args.level === undefined ? "each library's default zlib level" : `zlib level ${args.level} for both`;
  console.log(`node ${process.version}; ${connections} connections × ${inflight} in flight, ${size} B JSON; ${rounds} rounds of ${seconds} s; ${level}`);

  // 1. Correctness.
  for (const kind of contenders) {
    const server = await startServer(kind, volleyModule);
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
      const server = await startServer(kind, volleyModule);
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
  if (args['skip-idle'] !== undefined) return;
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
        const server = await startServer(kind, volleyModule);
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
