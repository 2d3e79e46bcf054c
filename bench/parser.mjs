// Parse throughput, server role (masked input): Volley's FrameParser against ws's
// Receiver, fed identical bytes. Both unmask in place, so every pass starts from a
// fresh copy of the input (copied outside the timed region).
import { loadProtocol } from './lib/build.mjs';
import { prng, makeMask, asciiPayload, binaryPayload, wireSize, writeFrame, chunk } from './lib/frames.mjs';
import { measure, subjectCli } from './lib/harness.mjs';
import { loadWs } from './lib/ws.mjs';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The same limit for both parsers (ws's WebSocketServer default is 100 MiB). */
const MAX_PAYLOAD = 64 * MiB;
/** What a socket typically delivers per 'data' event. */
const CHUNK = 64 * KiB;

const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_PING = 0x9;

/**
 * Scenarios. `stream` inputs are one buffer of back-to-back frames fed in 64 KiB chunks
 * (frames straddle chunk boundaries); `ladder` inputs are fed one frame per call, as
 * ws's own bench/parser.benchmark.js does.
 */
const scenarios = [
  { id: 'text-32', label: '32 B text ×1,000,000, 64 KiB chunks', metric: 'frames', kind: 'stream', opcode: OP_TEXT, size: 32, count: 1_000_000, passes: 5, minMs: 0 },
  { id: 'binary-64k', label: '64 KiB binary, 1 GiB in 64 KiB chunks', metric: 'bytes', kind: 'stream', opcode: OP_BINARY, size: 64 * KiB, count: 256, passes: 64, minMs: 0 },
  { id: 'frame-16m', label: 'one 16 MiB binary frame, 64 KiB chunks', metric: 'bytes', kind: 'stream', opcode: OP_BINARY, size: 16 * MiB, count: 1, passes: 16, minMs: 300 },
  { id: 'ping-5', label: '5 B ping, one frame per write', metric: 'frames', kind: 'ladder', opcode: OP_PING, size: 5 },
  { id: 'text-20', label: '20 B text, one frame per write', metric: 'frames', kind: 'ladder', opcode: OP_TEXT, size: 20 },
  { id: 'binary-125', label: '125 B binary, one frame per write', metric: 'frames', kind: 'ladder', opcode: OP_BINARY, size: 125 },
  { id: 'binary-65535', label: '64 KiB (65,535 B) binary, one frame per write', metric: 'bytes', kind: 'ladder', opcode: OP_BINARY, size: 65535 },
  { id: 'binary-200k', label: '200 KiB binary, one frame per write', metric: 'bytes', kind: 'ladder', opcode: OP_BINARY, size: 200 * KiB },
  { id: 'binary-1m', label: '1 MiB binary, one frame per write', metric: 'bytes', kind: 'ladder', opcode: OP_BINARY, size: MiB },
];

/** Builds the input: the frames, masked with a different random key each. */
function buildInput(scenario) {
  const next = prng(0x5eed ^ scenario.size);
  const count = scenario.count ?? Math.max(32, Math.min(200_000, Math.floor((32 * MiB) / wireSize(scenario.size, true))));
  const frameSize = wireSize(scenario.size, true);
  const pristine = Buffer.allocUnsafe(count * frameSize);
  let offset = 0;
  let sum = 0;
  // Distinct payloads (up to 64) so neither parser sees one pattern repeated.
  const payloads = [];
  for (let i = 0; i < Math.min(count, 64); i++) {
    payloads.push(scenario.opcode === OP_BINARY ? binaryPayload(next, scenario.size) : asciiPayload(next, scenario.size));
  }
  for (let i = 0; i < count; i++) {
    const payload = payloads[i % payloads.length];
    sum = (sum + payload[0]) | 0;
    offset = writeFrame(pristine, offset, scenario.opcode, payload, makeMask(next));
  }
  const work = Buffer.allocUnsafe(pristine.length);
  pristine.copy(work);
  const pieces = [];
  if (scenario.kind === 'stream') pieces.push(...chunk(work, CHUNK));
  else for (let i = 0; i < count; i++) pieces.push(work.subarray(i * frameSize, (i + 1) * frameSize));
  return { pristine, work, pieces, frames: count, payloadBytes: count * scenario.size, sum };
}

/** The consumer both parsers report to: count messages, add up lengths, read a byte. */
function makeConsumer() {
  return { frames: 0, bytes: 0, sum: 0, failure: null };
}

async function makeFeeder(contender, consumer) {
  if (contender === 'volley') {
    const { FrameParser } = await loadProtocol();
    const take = (data) => {
      consumer.frames++;
      consumer.bytes += data.length;
      consumer.sum = (consumer.sum + data[0]) | 0;
    };
    const parser = new FrameParser(
      { role: 'server', maxPayload: MAX_PAYLOAD },
      {
        onMessage: take,
        onPing: take,
        onPong: take,
        onClose: () => (consumer.failure = new Error('unexpected close frame')),
        onError: (error) => (consumer.failure = error),
      },
    );
    return { impl: 'Volley FrameParser (maskInPlace, buffer.isUtf8)', feed: (piece) => parser.receive(piece) };
  }
  const { Receiver, impl } = loadWs(contender === 'ws' ? 'native' : 'js');
  // ws's defaults: UTF-8 validated, events synchronous, no extensions. Fed through
  // Writable#write, as ws's WebSocket does from the socket's 'data' event.
  const receiver = new Receiver({ isServer: true, maxPayload: MAX_PAYLOAD, binaryType: 'nodebuffer', extensions: {} });
  const take = (data) => {
    consumer.frames++;
    consumer.bytes += data.length;
    consumer.sum = (consumer.sum + data[0]) | 0;
  };
  receiver.on('message', take);
  receiver.on('ping', take);
  receiver.on('pong', take);
  receiver.on('conclude', () => (consumer.failure = new Error('unexpected close frame')));
  receiver.on('error', (error) => (consumer.failure = error));
  return { impl: `ws Receiver (${impl})`, feed: (piece) => receiver.write(piece) };
}

async function sample(scenario, contender, { quick }) {
  const input = buildInput(scenario);
  const consumer = makeConsumer();
  const { impl, feed } = await makeFeeder(contender, consumer);
  const pieces = input.pieces;
  const stats = measure(
    {
      prepare() {
        input.pristine.copy(input.work);
        consumer.frames = 0;
        consumer.bytes = 0;
        consumer.sum = 0;
      },
      pass() {
        for (let i = 0; i < pieces.length; i++) feed(pieces[i]);
      },
      check() {
        if (consumer.failure) throw consumer.failure;
        if (consumer.frames !== input.frames || consumer.bytes !== input.payloadBytes || consumer.sum !== input.sum) {
          throw new Error(`wrong result: ${consumer.frames} frames, ${consumer.bytes} bytes, sum ${consumer.sum}; expected ${input.frames}, ${input.payloadBytes}, ${input.sum}`);
        }
      },
      warmupPasses: scenario.passes ? Math.max(2, scenario.passes >> 3) : 3,
      minPasses: scenario.passes ?? 5,
      minMs: scenario.minMs ?? 600,
    },
    quick,
  );
  return { ...stats, framesPerPass: input.frames, bytesPerPass: input.pristine.length, payloadBytesPerPass: input.payloadBytes, impl };
}

export const subject = {
  name: 'parser',
  title: 'Parsing: server role, masked frames (FrameParser vs ws Receiver)',
  note: 'Median over runs (± half the range); MB = 10^6 bytes of wire input (headers included).',
  unit: 'MB/s',
  file: new URL(import.meta.url).pathname,
  contenders: [
    { id: 'volley', label: 'Volley' },
    { id: 'ws', label: 'ws + bufferutil' },
    { id: 'ws-js', label: 'ws (JS)', env: { WS_NO_BUFFER_UTIL: '1' } },
  ],
  scenarios,
  sample,
};

await subjectCli(subject, import.meta.url);
