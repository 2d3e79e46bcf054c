// Compares variants of one echo server in the same run, interleaved: each round runs
// every variant once (the order alternating between rounds), each in a fresh server
// process. Two figures per variant, each the median over rounds, and the median of the
// per-round ratios to the first variant:
//
// - server CPU time per echoed message (µs, user + system, from process.cpuUsage, over
//   the generator's timed part, its warm-up left out): the cost of the server's own
//   work, which holds up on a loaded machine;
// - messages per second seen by the load generator: wall clock, noisy when other
//   processes compete for the cores.
//
//   node bench/server/variants.mjs [--rounds 7] [--seconds 3] [--connections 50] [--size 32]
//       [--variants "volley|volley --metrics=off"] [--mode handshakes]
//
// --mode handshakes compares opening handshakes instead (--connections concurrent
// clients): server CPU time per handshake and handshakes per second, reported under the
// same keys as the echo figures ("PerMessage", "MessagesPerSecond").
//
// A variant is a `servers.mjs` command line: kind, then flags. Build first (npm run build).
import { median, parseArgs, runLoadgen, startServer as startServerProcess } from './common.mjs';

const args = parseArgs(process.argv.slice(2));
const rounds = Number(args.rounds ?? 7);
const seconds = Number(args.seconds ?? 3);
const connections = Number(args.connections ?? 50);
const inflight = Number(args.inflight ?? 16);
const size = Number(args.size ?? 32);
const variants = (args.variants ?? 'volley|volley --metrics=off').split('|').map((v) => v.trim().split(/\s+/));
const handshakes = args.mode === 'handshakes';
const unit = handshakes ? 'handshake' : 'msg';

/** Starts `servers.mjs` with `variant`; resolves with its port, `cpu()` (its CPU time and messages echoed so far) and `stop()`. */
async function startServer(variant) {
  const [kind, ...flags] = variant;
  const server = await startServerProcess(kind, { serverArgs: [String(64 * 1024 * 1024), ...flags], ms: 10_000 });
  const cpu = async () => {
    server.child.stdin.write('cpu\n');
    const usage = /^cpu (\d+) (\d+)$/.exec((await server.nextLine()) ?? '');
    if (usage === null) throw new Error(`${kind} server did not say its CPU time`);
    return { micros: Number(usage[1]), messages: Number(usage[2]) };
  };
  return { port: server.port, cpu, stop: server.stop };
}

/**
 * Runs the load generator once against `server`; resolves with its result and the
 * server's CPU time and echoed messages at the start and the end of the timed part
 * (the warm-up left out).
 */
async function runLoad(server) {
  const load = handshakes
    ? ['handshakes', '--port', String(server.port), '--concurrency', String(connections), '--seconds', String(seconds)]
    : ['echo', '--port', String(server.port), '--connections', String(connections), '--inflight', String(inflight), '--size', String(size), '--seconds', String(seconds)];
  let before = null;
  let after = null;
  const result = await runLoadgen(load, {
    ms: (seconds + 30) * 1000,
    onMark: async (mark) => {
      if (mark === 'start') before = await server.cpu();
      else after = await server.cpu();
    },
  });
  if (before === null || after === null) throw new Error('the load generator gave no marks');
  return { result, before, after };
}

const results = variants.map(() => []);
const cpuPerMessage = variants.map(() => []);
for (let round = 0; round < rounds; round++) {
  const order = variants.map((_, i) => i);
  if (round % 2 === 1) order.reverse();
  for (const i of order) {
    const server = await startServer(variants[i]);
    try {
      const { result, before, after } = await runLoad(server);
      if (handshakes) {
        results[i].push(result.handshakesPerSecond);
        cpuPerMessage[i].push((after.micros - before.micros) / Math.max(1, result.handshakesPerSecond * seconds));
      } else {
        results[i].push(result.messagesPerSecond);
        cpuPerMessage[i].push((after.micros - before.micros) / Math.max(1, after.messages - before.messages));
      }
    } finally {
      await server.stop();
    }
  }
  process.stderr.write(
    `round ${round + 1}/${rounds}: ${variants.map((v, i) => `${v.join(' ')} ${Math.round(results[i][round])}/s ${cpuPerMessage[i][round].toFixed(3)} µs cpu/${unit}`).join(', ')}\n`,
  );
}

const base = results[0];
const baseCpu = cpuPerMessage[0];
const report = {
  mode: handshakes ? 'handshakes' : 'echo',
  rounds,
  seconds,
  connections,
  inflight,
  size,
  variants: variants.map((variant, i) => ({
    variant: variant.join(' '),
    medianCpuMicrosPerMessage: Number(median(cpuPerMessage[i]).toFixed(4)),
    // Per-round ratios to the first variant: noise shared by a round cancels out.
    cpuPerMessageRatioToFirst: Number(median(cpuPerMessage[i].map((value, round) => value / baseCpu[round])).toFixed(3)),
    medianMessagesPerSecond: Math.round(median(results[i])),
    throughputRatioToFirst: Number(median(results[i].map((value, round) => value / base[round])).toFixed(3)),
    cpuRuns: cpuPerMessage[i].map((value) => Number(value.toFixed(3))),
    throughputRuns: results[i].map(Math.round),
  })),
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
