// Load generator written directly on node:net: performs the upgrade itself and sends
// pre-built masked frames, so that its own cost per message is as small as possible
// and the same for every server. Runs as its own process.
//
//   node loadgen.mjs echo   --port P --connections 100 --inflight 16 --size 32 --seconds 5
//   node loadgen.mjs handshakes --port P --seconds 5 --concurrency 50
//
// With --deflate 1 every connection offers permessage-deflate (as browsers do:
// "permessage-deflate; client_max_window_bits"), requires it in the response, and sends
// 1 KiB JSON messages (64 different ones, --size bytes each), pre-compressed once with
// RSV1 set; echoes must come back compressed (counted), and with --validate 1 each is
// inflated (keeping the server's context) and compared with what was sent.
//
// Prints one JSON line with the results.
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { constants as zlibConstants, createInflateRaw, deflateRawSync } from 'node:zlib';
import { parseArgs, sleep } from './common.mjs';
import { FrameCounter, maskedFrame } from './wire.mjs';

const args = parseArgs(process.argv.slice(2));
const mode = args._[0] ?? 'echo';
const port = Number(args.port);
const host = args.host ?? '127.0.0.1';
const seconds = Number(args.seconds ?? 5);
const warmup = Number(args.warmup ?? 1);


const deflate = args.deflate === '1';
/** --marks 1: print "mark start" and "mark end" when the timed part begins and ends (the caller samples the server's CPU then). */
const marks = args.marks === '1';

/** Starts the timed part: returns a function that ends it and gives its length (s) and this process's CPU use (fraction of one core). */
function startTiming() {
  if (marks) process.stdout.write('mark start\n');
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  return () => {
    const cpu = process.cpuUsage(cpu0);
    const elapsed = (performance.now() - start) / 1000;
    if (marks) process.stdout.write('mark end\n');
    return { elapsed, generatorCpu: (cpu.user + cpu.system) / 1e6 / elapsed };
  };
}
const validate = args.validate === '1';
const request = (key) =>
  `GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
  (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' : '') +
  '\r\n';


/**
 * Every socket reads into this one buffer (node:net's `onread`), so that reading costs
 * no allocation per read: the generator stays cheap next to the server it drives. What
 * arrives is handed to the socket's `onBytes` at once and must be copied if kept.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const ignoreBytes = () => {};

/** Upgrade requests with different keys, built once: handshakes cost the generator no key generation. */
const requests = Array.from({ length: 256 }, () => Buffer.from(request(randomBytes(16).toString('base64'))));
let nextRequest = 0;
const HEAD_END = Buffer.from('\r\n\r\n');

/** Opens a WebSocket connection by hand; resolves with the socket and (a copy of) the bytes after the head. */
function open() {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (length, buffer) => socket.onBytes(buffer.subarray(0, length)) },
    });
    let head = null;
    socket.onBytes = (chunk) => {
      head = head === null ? Buffer.from(chunk) : Buffer.concat([head, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end === -1) return;
      socket.onBytes = ignoreBytes;
      // "HTTP/1.1 101": the status code is bytes 9-11.
      if (head[9] !== 0x31 || head[10] !== 0x30 || head[11] !== 0x31) {
        reject(new Error(`upgrade refused: ${head.subarray(0, end).toString()}`));
        socket.destroy();
        return;
      }
      if (deflate && !/^sec-websocket-extensions: *permessage-deflate/im.test(head.subarray(0, end).toString())) {
        reject(new Error('the server did not accept permessage-deflate'));
        socket.destroy();
        return;
      }
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    socket.once('error', reject);
    socket.write(requests[nextRequest++ & 255]);
  });
}

/** `count` different JSON messages of exactly `size` bytes (compressible, as real ones are). */
function jsonMessages(count, size) {
  const messages = [];
  for (let m = 0; m < count; m++) {
    const items = [];
    let text = '';
    for (let k = 0; text.length < size; k++) {
      items.push({ id: m * 1000 + k, name: `item-${(m * 7 + k) % 97}`, price: ((m + 1) * (k + 3) * 0.37).toFixed(2), inStock: (m + k) % 3 !== 0 });
      text = JSON.stringify({ type: 'update', seq: m, user: { id: 1000 + m, name: `user${m}` }, items });
    }
    // Cut inside the last item and close the JSON again, to the exact size.
    const body = JSON.stringify({ type: 'update', seq: m, user: { id: 1000 + m, name: `user${m}` }, items: items.slice(0, -1) });
    messages.push(Buffer.from((body.slice(0, -2) + ']' + ' '.repeat(size)).slice(0, size - 1) + '}'));
  }
  return messages;
}

/** Compresses a message on its own (empty window), tail removed: valid with or without context takeover. */
function compressMessage(message) {
  const output = deflateRawSync(message, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return output.subarray(0, output.length - 4);
}

/** Inflates a connection's echoes in order, keeping the server's context, and compares each with what was sent (exits on a difference). */
function echoValidator(expected) {
  const inflate = createInflateRaw();
  const queue = [];
  inflate.on('data', (data) => queue.push(data));
  let pending = Promise.resolve();
  let index = 0;
  return (first, payload) => {
    if ((first & 0x40) === 0) throw new Error('an echo came back uncompressed');
    pending = pending.then(
      () =>
        new Promise((resolve, reject) => {
          inflate.write(payload);
          inflate.write(Buffer.from([0, 0, 0xff, 0xff]));
          inflate.flush(zlibConstants.Z_SYNC_FLUSH, () => {
            const message = Buffer.concat(queue.splice(0));
            const want = expected[index++ % expected.length];
            if (!message.equals(want)) reject(new Error(`echo ${index} differs from what was sent`));
            else resolve();
          });
        }),
    );
    pending.catch((error) => {
      console.error(error.message);
      process.exit(1);
    });
  };
}

async function echo() {
  const connections = Number(args.connections ?? 100);
  const inflight = Number(args.inflight ?? 16);
  const size = Number(args.size ?? (deflate ? 1024 : 32));
  const isBinary = !deflate && (args.binary === '1' || size > 1024);
  const messages = deflate ? jsonMessages(64, size) : [Buffer.alloc(size, 'x')];
  const frames = messages.map((message) => (deflate ? maskedFrame(compressMessage(message), isBinary, true) : maskedFrame(message, isBinary)));
  // Frames back to back, cycling through the messages: a burst of `inflight` starts a
  // connection, then each received echo is answered with the next frames of the cycle.
  const cycle = Buffer.concat(frames);
  const offsets = [0];
  for (const frame of frames) offsets.push(offsets.at(-1) + frame.length);
  const cycleOf = (start, count) => {
    // Bytes of `count` frames starting at frame index `start` (mod the cycle).
    const out = [];
    while (count > 0) {
      const take = Math.min(count, frames.length - start);
      out.push(cycle.subarray(offsets[start], offsets[start + take]));
      count -= take;
      start = (start + take) % frames.length;
    }
    return out;
  };
  let compressedEchoes = 0;
  let measuring = false;
  let received = 0;
  let receivedBytes = 0;
  const latencies = [];
  const sockets = [];
  for (let c = 0; c < connections; c++) {
    const { socket, rest } = await open();
    sockets.push(socket);
    const counter = new FrameCounter();
    if (validate) counter.onFrame = echoValidator(messages);
    const sentAt = []; // FIFO of send times, for latency
    let head = 0;
    let next = inflight % frames.length; // index of the next frame to send
    const onChunk = (chunk) => {
      const before = counter.compressed;
      const done = counter.count(chunk);
      if (measuring) compressedEchoes += counter.compressed - before;
      if (done === 0) return;
      const now = performance.now();
      if (measuring) {
        received += done;
        receivedBytes += done * size;
        // Sample latency of the first completed message of each chunk.
        latencies.push(now - sentAt[head]);
      }
      head += done;
      if (head > 4096) {
        sentAt.splice(0, head);
        head = 0;
      }
      for (let k = 0; k < done; k++) sentAt.push(now);
      const parts = cycleOf(next, done);
      next = (next + done) % frames.length;
      if (parts.length === 1) socket.write(parts[0]);
      else socket.write(Buffer.concat(parts));
    };
    socket.onBytes = onChunk;
    socket.on('error', () => {});
    if (rest.length > 0) onChunk(rest);
    const now = performance.now();
    for (let k = 0; k < inflight; k++) sentAt.push(now);
    socket.write(Buffer.concat(cycleOf(0, inflight)));
  }
  await sleep(warmup * 1000);
  measuring = true;
  const stopTiming = startTiming();
  await sleep(seconds * 1000);
  measuring = false;
  const { elapsed, generatorCpu } = stopTiming();
  for (const s of sockets) s.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] : 0);
  return {
    mode: 'echo',
    connections,
    inflight,
    size,
    deflate,
    compressedEchoes,
    messagesPerSecond: received / elapsed,
    megabytesPerSecond: receivedBytes / elapsed / 1e6,
    p50: pct(0.5),
    p99: pct(0.99),
    generatorCpu,
  };
}

async function handshakes() {
  const concurrency = Number(args.concurrency ?? 50);
  let done = 0;
  let failed = 0;
  let measuring = false;
  let stop = false;
  const closeFrame = maskedFrame(Buffer.from([0x03, 0xe8]), false);
  closeFrame[0] = 0x88;
  async function worker() {
    while (!stop) {
      try {
        const { socket } = await open();
        if (measuring) done++;
        socket.on('error', () => {});
        socket.destroy();
      } catch {
        failed++;
      }
    }
  }
  const workers = Array.from({ length: concurrency }, worker);
  await sleep(warmup * 1000);
  measuring = true;
  const stopTiming = startTiming();
  await sleep(seconds * 1000);
  measuring = false;
  stop = true;
  const { elapsed, generatorCpu } = stopTiming();
  await Promise.all(workers);
  return { mode: 'handshakes', concurrency, handshakesPerSecond: done / elapsed, failed, generatorCpu };
}

/** Sends one compressed 1 KiB JSON message and waits for its echo. */
function echoOnce(socket, rest) {
  const message = jsonMessages(1, 1024)[0];
  return new Promise((resolve, reject) => {
    const counter = new FrameCounter();
    const timer = setTimeout(() => reject(new Error('no echo within 10 s')), 10_000);
    const onData = (chunk) => {
      if (counter.count(chunk) === 0) return;
      clearTimeout(timer);
      socket.onBytes = ignoreBytes;
      resolve();
    };
    socket.onBytes = onData;
    if (rest.length > 0) onData(rest);
    socket.write(maskedFrame(compressMessage(message), false, true));
  });
}

async function idle() {
  const connections = Number(args.connections ?? 10000);
  const warm = deflate && args.warm === '1';
  const sockets = [];
  const batch = 200;
  for (let c = 0; c < connections; c += batch) {
    const opened = await Promise.all(Array.from({ length: Math.min(batch, connections - c) }, open));
    for (const o of opened) {
      o.socket.on('error', () => {});
      sockets.push(o.socket);
    }
    // --warm 1: one compressed message each way first, so that zlib state exists.
    if (warm) await Promise.all(opened.map((o) => echoOnce(o.socket, o.rest)));
  }
  process.stdout.write(JSON.stringify({ mode: 'idle', opened: sockets.length }) + '\n');
  // Hold them until told to stop (stdin closes or a line arrives).
  await new Promise((resolve) => {
    process.stdin.once('data', resolve);
    process.stdin.once('end', resolve);
  });
  for (const s of sockets) s.destroy();
  return null;
}

const result = mode === 'echo' ? await echo() : mode === 'handshakes' ? await handshakes() : await idle();
if (result) process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0);
