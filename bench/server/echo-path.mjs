// The server's echo path in process, without the network: frames are fed to a
// server-side WebSocket through an in-memory socket, and every message is sent back
// (`ws.on('message', (d, b) => ws.send(d, { binary: b }))`), the work the echo benchmark
// gives the server minus the kernel. Compares variants of the server configuration:
//
//   off      metrics: false
//   metrics  the default: the server's counters on the message path
//   limited  counters and a rate limit that never triggers (its check on every message)
//
// Every sample runs in a fresh child process (so one variant's types never reach another
// variant's JIT), variants are interleaved round by round in an alternating order, and
// the report gives the median CPU ns per message of each and the median of the per-round
// ratios to `off`. CPU time (process.cpuUsage), not wall time: on a shared machine the
// time a process waits for a core is not the cost of its work. Bundles the current
// source with esbuild; no prior build needed.
//
//   node bench/server/echo-path.mjs [--rounds 21] [--ms 500] [--size 32] [--batch 16]
//   node bench/server/echo-path.mjs --instructions [--from 20 --to 120]
//
// --instructions counts instructions instead of time, for a machine too loaded for
// timings: each variant runs under valgrind (cachegrind, no cache simulation) with V8
// single-threaded, once for `from` and once for `to` rounds of 64 reads × `batch`
// messages; the difference divided by the extra messages is the instructions per
// message, start-up and warm-up excluded. Deterministic to a fraction of a percent.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Duplex } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundle } from '../lib/build.mjs';
import { parseArgs } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const VARIANTS = ['off', 'metrics', 'limited'];

const args = parseArgs(process.argv.slice(2));
// Built once by the parent, outside the repository; children get its path.
const bundlePath = args.bundle ?? join(tmpdir(), `volley-echo-path-${process.pid}.mjs`);

/** Bundles what the harness needs from the source, internals included. */
function build() {
  const contents = `export { WebSocket, SharedSettings, kAttach } from './src/node/websocket.ts';
export { MetricsRecorder } from './src/metrics/recorder.ts';
export { MessageLimiter, normalizeRateLimit } from './src/rate-limit/message-limiter.ts';`;
  return bundle({ contents }, bundlePath, { sourcemap: false });
}

/** A socket that takes writes and forgets them. */
class NullSocket extends Duplex {
  written = 0;
  _read() {}
  _write(chunk, _encoding, callback) {
    this.written += chunk.length;
    callback();
  }
  _writev(chunks, callback) {
    for (const { chunk } of chunks) this.written += chunk.length;
    callback();
  }
  setTimeout() {}
  setNoDelay() {}
}

/** `count` masked client text frames of `size` ASCII bytes, back to back. */
function maskedFrames(count, size) {
  const frames = [];
  for (let n = 0; n < count; n++) {
    const payload = Buffer.alloc(size, 'x');
    const header = size < 126 ? 2 : 4;
    const frame = Buffer.alloc(header + 4 + size);
    frame[0] = 0x81;
    if (size < 126) frame[1] = 0x80 | size;
    else {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(size, 2);
    }
    const mask = randomBytes(4);
    mask.copy(frame, header);
    for (let i = 0; i < size; i++) frame[header + 4 + i] = payload[i] ^ mask[i & 3];
    frames.push(frame);
  }
  return Buffer.concat(frames);
}

/** Child: one variant, one sample. Prints ns per message. */
async function child(variant) {
  const { WebSocket, SharedSettings, kAttach, MetricsRecorder, MessageLimiter, normalizeRateLimit } = await import(pathToFileURL(bundlePath).href);
  const size = Number(args.size ?? 32);
  const batch = Number(args.batch ?? 16);
  const ms = Number(args.ms ?? 500);
  const socket = new NullSocket();
  const ws = new WebSocket(null);
  let echoed = 0;
  ws.on('message', (data, isBinary) => {
    echoed++;
    ws.send(data, { binary: isBinary });
  });
  const metrics = variant === 'off' ? null : new MetricsRecorder();
  const rateLimiter = variant === 'limited' ? new MessageLimiter(normalizeRateLimit({ messages: 1e12, bytes: 1e15, per: 1000 }), metrics) : null;
  ws[kAttach](socket, null, new SharedSettings('server', { maxPayload: 64 * 1024 * 1024 }, { metrics, onClose: () => {}, registry: null }), '', '', null, rateLimiter);
  const input = maskedFrames(batch, size);
  // A socket hands over fresh buffers; the parser unmasks in place.
  const copies = Array.from({ length: 64 }, () => Buffer.allocUnsafe(input.length));
  const yieldToFlush = () => new Promise((resolve) => setImmediate(resolve));
  /** 64 reads of `batch` frames, then the end-of-tick flush: one merged write. */
  const round = async () => {
    for (let i = 0; i < 64; i++) {
      const chunk = copies[i];
      input.copy(chunk);
      socket.emit('data', chunk);
    }
    await yieldToFlush();
  };
  const deadline = (limit) => {
    const start = performance.now();
    return () => performance.now() - start < limit;
  };
  if (args.fixed !== undefined) {
    // A fixed amount of work, for instruction counting: no clocks, no time limits.
    for (let i = 0; i < Number(args.fixed); i++) await round();
    if (echoed !== Number(args.fixed) * 64 * batch) throw new Error(`echoed ${echoed}`);
    process.exit(0);
  }
  for (let more = deadline(ms * 0.6); more(); ) await round();
  const before = echoed;
  const cpu0 = process.cpuUsage();
  for (let more = deadline(ms); more(); ) await round();
  const cpu = process.cpuUsage(cpu0);
  const ns = (cpu.user + cpu.system) * 1000;
  const messages = echoed - before;
  if (messages === 0 || ws.readyState !== 1) throw new Error(`variant ${variant} echoed nothing (readyState ${ws.readyState})`);
  if (metrics !== null && metrics.messagesReceived !== echoed) throw new Error('the counters disagree with the handler');
  process.stdout.write(`${JSON.stringify({ variant, nsPerMessage: ns / messages, messages })}\n`);
  process.exit(0);
}

/** The q-quantile (0..1) of `values`, interpolated. */
const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low] + (sorted[Math.ceil(at)] - sorted[low]) * (at - low);
};
const median = (values) => quantile(values, 0.5);

/** Instructions (cachegrind `I refs`) of one child run of `fixed` rounds. */
function instructions(variant, fixed) {
  const result = spawnSync(
    'valgrind',
    // Fixed seeds: V8's hash tables and Math.random then behave the same in every run.
    ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', process.execPath, '--single-threaded', '--random-seed=1', '--hash-seed=1', fileURLToPath(import.meta.url), 'child', variant, '--bundle', bundlePath, '--fixed', String(fixed), '--size', args.size ?? '32', '--batch', args.batch ?? '16'],
    { encoding: 'utf8', timeout: 900_000 },
  );
  const match = /I\s+refs:\s+([\d,]+)/.exec(result.stderr ?? '');
  if (result.status !== 0 || match === null) throw new Error(`valgrind run of ${variant} failed: ${result.error ?? result.stderr}`);
  return Number(match[1].replaceAll(',', ''));
}

async function countInstructions() {
  await build();
  const from = Number(args.from ?? 20);
  const to = Number(args.to ?? 120);
  const batch = Number(args.batch ?? 16);
  const variants = (args.variants ?? VARIANTS.join(',')).split(',');
  const repeat = Number(args.repeat ?? 1);
  const samples = Object.fromEntries(variants.map((v) => [v, []]));
  // Repeats interleaved, so that a drift between runs shows as spread, not as a difference.
  for (let r = 0; r < repeat; r++) {
    for (const variant of variants) {
      const low = instructions(variant, from);
      const high = instructions(variant, to);
      samples[variant].push((high - low) / ((to - from) * 64 * batch));
      process.stderr.write(`${variant}: ${samples[variant].at(-1).toFixed(1)} instructions per message\n`);
    }
  }
  rmSync(bundlePath, { force: true });
  const perMessage = Object.fromEntries(variants.map((v) => [v, median(samples[v])]));
  const base = perMessage[variants[0]];
  const report = {
    subject: 'server echo path in process (instructions per message, lower is better)',
    size: Number(args.size ?? 32),
    batch,
    messages: (to - from) * 64 * batch,
    variants: variants.map((variant) => ({
      variant,
      instructionsPerMessage: Number(perMessage[variant].toFixed(1)),
      ratioToFirst: Number((perMessage[variant] / base).toFixed(4)),
      runs: samples[variant].map((value) => Number(value.toFixed(1))),
    })),
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

async function main() {
  await build();
  const rounds = Number(args.rounds ?? 21);
  const variants = (args.variants ?? VARIANTS.join(',')).split(',');
  const samples = Object.fromEntries(variants.map((v) => [v, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const variant of order) {
      const passArgs = ['--ms', args.ms ?? '500', '--size', args.size ?? '32', '--batch', args.batch ?? '16', '--bundle', bundlePath];
      const result = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'child', variant, ...passArgs], { encoding: 'utf8', timeout: 60_000 });
      if (result.status !== 0) throw new Error(`child ${variant} failed: ${result.stderr}`);
      samples[variant].push(JSON.parse(result.stdout.trim()).nsPerMessage);
    }
    process.stderr.write(`round ${round + 1}/${rounds}: ${variants.map((v) => `${v} ${samples[v][round].toFixed(1)} ns/msg`).join(', ')}\n`);
  }
  rmSync(bundlePath, { force: true });
  const base = samples[variants[0]];
  const report = {
    subject: 'server echo path in process (CPU ns per message, lower is better)',
    rounds,
    size: Number(args.size ?? 32),
    batch: Number(args.batch ?? 16),
    variants: variants.map((variant) => ({
      variant,
      medianNsPerMessage: Number(median(samples[variant]).toFixed(1)),
      // Per-round ratio to the first variant (cost; > 1 is slower): shared noise cancels.
      costRatioToFirst: Number(median(samples[variant].map((value, i) => value / base[i])).toFixed(3)),
      // The fastest quarter of samples: closest to the cost of the work itself when other
      // processes slow some samples down.
      p25NsPerMessage: Number(quantile(samples[variant], 0.25).toFixed(1)),
      p25RatioToFirst: Number((quantile(samples[variant], 0.25) / quantile(base, 0.25)).toFixed(3)),
      minNsPerMessage: Number(Math.min(...samples[variant]).toFixed(1)),
      runs: samples[variant].map((value) => Number(value.toFixed(1))),
    })),
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

if (args._[0] === 'child') await child(args._[1]);
else if (args.instructions) await countInstructions();
else await main();
