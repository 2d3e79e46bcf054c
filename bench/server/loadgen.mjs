// Load generator written directly on node:net: performs the upgrade itself and sends
// pre-built masked frames, so that its own cost per message is as small as possible
// and the same for every server. Runs as its own process.
//
//   node loadgen.mjs echo   --port P --connections 100 --inflight 16 --size 32 --seconds 5
//   node loadgen.mjs handshakes --port P --seconds 5 --concurrency 50
//
// Prints one JSON line with the results.
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';

const args = parseArgs(process.argv.slice(2));
const mode = args._[0] ?? 'echo';
const port = Number(args.port);
const host = args.host ?? '127.0.0.1';
const seconds = Number(args.seconds ?? 5);
const warmup = Number(args.warmup ?? 1);

function parseArgs(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) out[argv[i].slice(2)] = argv[++i];
    else out._.push(argv[i]);
  }
  return out;
}

const request = (key) =>
  `GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** A masked client frame carrying `payload` (binary when isBinary). */
function maskedFrame(payload, isBinary) {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.alloc(headerLength + 4 + length);
  frame[0] = 0x80 | (isBinary ? 2 : 1);
  if (length < 126) frame[1] = 0x80 | length;
  else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  const mask = randomBytes(4);
  mask.copy(frame, headerLength);
  for (let i = 0; i < length; i++) frame[headerLength + 4 + i] = payload[i] ^ mask[i & 3];
  return frame;
}

/** Opens a WebSocket connection by hand; resolves with the socket and bytes after the head. */
function open() {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      if (!head.subarray(0, 12).toString().includes('101')) {
        reject(new Error(`upgrade refused: ${head.subarray(0, end).toString()}`));
        socket.destroy();
        return;
      }
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(request(randomBytes(16).toString('base64')));
  });
}

/**
 * Counts complete server frames (unmasked) in a byte stream. Keeps only the state needed:
 * bytes still to skip of the current frame, and a small header carry.
 */
class FrameCounter {
  skip = 0;
  carry = null;
  count(chunk) {
    let frames = 0;
    if (this.carry !== null) {
      chunk = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        this.skip -= take;
        i += take;
        if (this.skip === 0) frames++;
        continue;
      }
      if (n - i < 2) {
        this.carry = chunk.subarray(i);
        break;
      }
      const len7 = chunk[i + 1] & 0x7f;
      let header = 2;
      let length = len7;
      if (len7 === 126) {
        if (n - i < 4) { this.carry = chunk.subarray(i); break; }
        length = chunk.readUInt16BE(i + 2);
        header = 4;
      } else if (len7 === 127) {
        if (n - i < 10) { this.carry = chunk.subarray(i); break; }
        length = Number(chunk.readBigUInt64BE(i + 2));
        header = 10;
      }
      if (chunk[i + 1] & 0x80) header += 4; // a masked frame (the raw echo returns ours)
      if (n - i < header) { this.carry = chunk.subarray(i); break; }
      i += header;
      if (length === 0) frames++;
      else this.skip = length;
    }
    return frames;
  }
}

async function echo() {
  const connections = Number(args.connections ?? 100);
  const inflight = Number(args.inflight ?? 16);
  const size = Number(args.size ?? 32);
  const isBinary = args.binary === '1' || size > 1024;
  const payload = Buffer.alloc(size, 'x');
  const frame = maskedFrame(payload, isBinary);
  // Up to `inflight` frames back to back, to answer several echoes with one write.
  const burst = Buffer.concat(Array.from({ length: inflight }, () => frame));
  let measuring = false;
  let received = 0;
  let receivedBytes = 0;
  const latencies = [];
  const sockets = [];
  for (let c = 0; c < connections; c++) {
    const { socket, rest } = await open();
    sockets.push(socket);
    const counter = new FrameCounter();
    const sentAt = []; // FIFO of send times, for latency
    let head = 0;
    const onChunk = (chunk) => {
      const done = counter.count(chunk);
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
      if (done * frame.length <= burst.length) socket.write(burst.subarray(0, done * frame.length));
      else for (let k = 0; k < done; k++) socket.write(frame);
    };
    socket.on('data', onChunk);
    socket.on('error', () => {});
    if (rest.length > 0) onChunk(rest);
    const now = performance.now();
    for (let k = 0; k < inflight; k++) sentAt.push(now);
    socket.write(burst);
  }
  await sleep(warmup * 1000);
  measuring = true;
  const start = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  for (const s of sockets) s.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] : 0);
  return {
    mode: 'echo',
    connections,
    inflight,
    size,
    messagesPerSecond: received / elapsed,
    megabytesPerSecond: receivedBytes / elapsed / 1e6,
    p50: pct(0.5),
    p99: pct(0.99),
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
  const start = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  stop = true;
  const elapsed = (performance.now() - start) / 1000;
  await Promise.all(workers);
  return { mode: 'handshakes', concurrency, handshakesPerSecond: done / elapsed, failed };
}

async function idle() {
  const connections = Number(args.connections ?? 10000);
  const sockets = [];
  const batch = 200;
  for (let c = 0; c < connections; c += batch) {
    const opened = await Promise.all(Array.from({ length: Math.min(batch, connections - c) }, open));
    for (const o of opened) {
      o.socket.on('error', () => {});
      sockets.push(o.socket);
    }
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const result = mode === 'echo' ? await echo() : mode === 'handshakes' ? await handshakes() : await idle();
if (result) process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0);
