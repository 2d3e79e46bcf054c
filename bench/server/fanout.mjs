// Fan-out: one publisher sends small messages to the server, which sends each to every
// subscriber. Volley's `wss.publish` against `ws` with the usual loop over `wss.clients`
// calling `send`, and a raw node:net server writing the same frame to every subscriber
// socket (no WebSocket library: the ceiling of one write per message per subscriber).
//
//   node bench/server/fanout.mjs [--subscribers 1000] [--seconds 10] [--rounds 3]
//        [--size 64] [--window 128] [--contenders volley,ws,raw] [--warmup 2]
//
// Each sample is two fresh processes: the server, and a load generator holding the
// subscribers and the publisher (node:net, doing its own upgrade and counting frames
// without parsing payloads). Contenders are interleaved round by round in a rotating
// order; the table gives medians, the ratio to ws, and the server's peak RSS.
//
// Pacing: the publisher keeps at most `window` messages per subscriber in flight
// (published × subscribers − delivered ≤ window × subscribers), so the server is always
// busy but nothing buffers without bound. After the timed part the publisher stops and
// the run waits for the last deliveries: `lost` counts deliveries that never arrived
// (Volley drops messages for subscribers more than maxBackpressure behind; a server
// still busy 2 s after the end shows its backlog there too).
//
// Volley is bundled from src/ first (bench/.build/volley.mjs), so a run measures the
// current source; no build needed.
//
// Internal roles: `fanout.mjs server <volley|ws|raw>` and `fanout.mjs load --port P ...`.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildVolley } from '../lib/build.mjs';
import { lineReader, median, parseArgs, sleep } from './common.mjs';
import { FrameCounter, maskedFrame } from './wire.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const args = parseArgs(process.argv.slice(2));
const TOPIC = 'fanout';


// ---- Server role -----------------------------------------------------------------------

async function server(kind) {
  let listening;
  if (kind === 'volley') {
    const { WebSocketServer } = await import(pathToFileURL(process.env.VOLLEY_MODULE).href);
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    let dropped = 0;
    wss.on('connection', (ws, req) => {
      if (req.url === '/pub') {
        ws.on('message', (data, isBinary) => {
          dropped += wss.publish(TOPIC, data, { binary: isBinary }).dropped;
        });
      } else {
        ws.subscribe(TOPIC);
      }
    });
    await new Promise((resolve) => wss.on('listening', resolve));
    listening = wss.address();
    globalThis.report = () => ({ dropped });
  } else if (kind === 'ws') {
    const { WebSocketServer } = require('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    wss.on('connection', (ws, req) => {
      if (req.url !== '/pub') return;
      // The loop of ws's README ("broadcast to every other client").
      ws.on('message', (data, isBinary) => {
        for (const client of wss.clients) {
          if (client !== ws && client.readyState === 1) client.send(data, { binary: isBinary });
        }
      });
    });
    await new Promise((resolve) => wss.on('listening', resolve));
    listening = wss.address();
  } else if (kind === 'raw') {
    listening = await rawServer();
  } else {
    throw new Error(`unknown server kind ${kind}`);
  }
  let peak = process.memoryUsage().rss;
  setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50).unref();
  console.log(`ready ${listening.port}`);
  process.stdin.on('data', (chunk) => {
    for (const command of chunk.toString().split('\n')) onCommand(command.trim());
  });
  const onCommand = (command) => {
    if (command === 'rss') {
      peak = Math.max(peak, process.memoryUsage().rss);
      console.log(`stats ${JSON.stringify({ peakRss: peak, rss: process.memoryUsage().rss, ...globalThis.report?.() })}`);
    }
  };
  process.on('SIGTERM', () => process.exit(0)); // exit normally so that --cpu-prof writes its profile
  process.on('SIGINT', () => process.exit(0));
}

/**
 * Not a WebSocket library: a fixed 101, a minimal parser for the publisher's small
 * masked frames, and for each message one unmasked frame written to every subscriber.
 */
async function rawServer() {
  const subscribers = new Set();
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    let head = Buffer.alloc(0);
    const onHead = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onHead);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n');
      if (head.subarray(0, 16).toString().startsWith('GET /pub ')) {
        let pending = head.subarray(end + 4);
        socket.on('data', (data) => {
          pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
          let i = 0;
          while (pending.length - i >= 6) {
            const length = pending[i + 1] & 0x7f; // small frames only (< 126 bytes)
            if (pending.length - i < 6 + length) break;
            const frame = Buffer.allocUnsafe(2 + length);
            frame[0] = pending[i];
            frame[1] = length;
            for (let k = 0; k < length; k++) frame[2 + k] = pending[i + 6 + k] ^ pending[i + 2 + (k & 3)];
            for (const subscriber of subscribers) subscriber.write(frame);
            i += 6 + length;
          }
          pending = pending.subarray(i);
        });
      } else {
        subscribers.add(socket);
        socket.on('close', () => subscribers.delete(socket));
      }
    };
    socket.on('data', onHead);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address();
}

// ---- Load generator role -----------------------------------------------------------------

function open(port, path) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      if (!head.subarray(0, 12).toString().includes('101')) {
        socket.destroy();
        reject(new Error(`upgrade refused: ${head.subarray(0, end)}`));
        return;
      }
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    const key = randomBytes(16).toString('base64');
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

async function load() {
  const port = Number(args.port);
  const subscribers = Number(args.subscribers ?? 1000);
  const size = Number(args.size ?? 64);
  const window = Number(args.window ?? 128);
  const seconds = Number(args.seconds ?? 10);
  const warmup = Number(args.warmup ?? 2);
  if (size >= 126) throw new Error('--size must be below 126 (one-byte length frames)');

  let delivered = 0;
  let published = 0;
  let publishing = false;
  let nextPump = Number.POSITIVE_INFINITY;
  const sockets = [];
  const batch = 250;
  for (let c = 0; c < subscribers; c += batch) {
    const opened = await Promise.all(Array.from({ length: Math.min(batch, subscribers - c) }, () => open(port, '/')));
    for (const { socket, rest } of opened) {
      const counter = new FrameCounter();
      socket.on('data', (chunk) => {
        delivered += counter.count(chunk);
        if (delivered >= nextPump) pump();
      });
      socket.on('error', () => {});
      if (rest.length > 0) delivered += counter.count(rest);
      sockets.push(socket);
    }
  }
  const { socket: publisher } = await open(port, '/pub');
  publisher.on('error', () => {});
  sockets.push(publisher);
  await sleep(200); // let the server finish registering subscribers

  const frame = maskedFrame(Buffer.alloc(size, 'x'), true);
  const burst = Buffer.concat(Array.from({ length: window }, () => frame));
  publishing = true;
  // Top up the window; run again once a quarter of it has been delivered.
  function pump() {
    if (!publishing) return;
    const inFlight = published * subscribers - delivered;
    const room = Math.floor((window * subscribers - inFlight) / subscribers);
    if (room > 0) {
      publisher.write(burst.subarray(0, room * frame.length));
      published += room;
    }
    nextPump = delivered + Math.max(1, Math.floor((window * subscribers) / 4));
  }
  const ticker = setInterval(pump, 5);
  pump();

  await sleep(warmup * 1000);
  process.stdout.write('mark\n');
  const startDelivered = delivered;
  const startPublished = published;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  await sleep(seconds * 1000);
  const elapsed = (performance.now() - start) / 1000;
  const measured = delivered - startDelivered;
  const measuredPublished = published - startPublished;
  const cpu = process.cpuUsage(cpuStart);
  process.stdout.write('end\n');
  publishing = false;
  clearInterval(ticker);
  // Wait for the last deliveries (bounded: 2 s without progress, 20 s in all), to count
  // what never arrived.
  for (let quiet = 0, last = -1, i = 0; quiet < 20 && i < 200 && delivered < published * subscribers; i++) {
    await sleep(100);
    quiet = delivered === last ? quiet + 1 : 0;
    last = delivered;
  }
  for (const socket of sockets) socket.destroy();
  return {
    subscribers,
    size,
    window,
    deliveriesPerSecond: measured / elapsed,
    publishedPerSecond: measuredPublished / elapsed,
    lost: published * subscribers - delivered,
    loadgenCpu: (cpu.user + cpu.system) / 1e6 / elapsed,
  };
}

// ---- Orchestrator --------------------------------------------------------------------------

function startServer(kind, volleyModule) {
  const nodeArgs = [];
  if (args.profile === kind) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', join(here, '..', 'results', 'profiles'));
  const child = spawn(process.execPath, [...nodeArgs, fileURLToPath(import.meta.url), 'server', kind], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, VOLLEY_MODULE: volleyModule },
  });
  return { child, nextLine: lineReader(child, `${kind} server`, 30_000) };
}

function runLoad(port, options, onLine) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), 'load', '--port', String(port), ...Object.entries(options).flatMap(([k, v]) => [`--${k}`, String(v)])],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      for (const line of chunk.toString().split('\n')) if (line === 'mark' || line === 'end') onLine(line);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), (Number(options.seconds) + Number(options.warmup) + 120) * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

async function sample(kind, options, volleyModule) {
  const { child, nextLine } = startServer(kind, volleyModule);
  const ready = await nextLine();
  const port = Number(ready.split(' ')[1]);
  try {
    // The server's CPU time is read from /proc, not asked of the server: a server busy in
    // one long synchronous loop could not answer in time.
    let cpuAtMark = 0;
    let serverCpuSeconds = Number.NaN;
    const result = await runLoad(port, options, (line) => {
      if (line === 'mark') cpuAtMark = cpuSeconds(child.pid);
      else serverCpuSeconds = cpuSeconds(child.pid) - cpuAtMark;
    });
    child.stdin.write('rss\n');
    const stats = JSON.parse((await nextLine()).slice('stats '.length));
    // Deliveries per second of server CPU: less sensitive to other load on the machine.
    const deliveriesPerCpuSecond = (result.deliveriesPerSecond * options.seconds) / serverCpuSeconds;
    return { ...result, ...stats, serverCpuSeconds, deliveriesPerCpuSecond };
  } finally {
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
  }
}

/** User + system CPU seconds of a process so far (Linux /proc; NaN elsewhere). */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
  } catch {
    return Number.NaN;
  }
}
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

async function orchestrate() {
  const volleyModule = await buildVolley();
  const contenders = (args.contenders ?? 'volley,ws,raw').split(',');
  const rounds = Number(args.rounds ?? 3);
  const options = {
    subscribers: Number(args.subscribers ?? 1000),
    size: Number(args.size ?? 64),
    window: Number(args.window ?? 128),
    seconds: Number(args.seconds ?? 10),
    warmup: Number(args.warmup ?? 2),
  };
  const samples = Object.fromEntries(contenders.map((c) => [c, []]));
  for (let round = 0; round < rounds; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
    const line = [];
    for (const kind of order) {
      const result = await sample(kind, options, volleyModule);
      samples[kind].push(result);
      line.push(`${kind} ${(result.deliveriesPerSecond / 1e3).toFixed(0)}k/s (rss ${(result.peakRss / 1048576).toFixed(0)} MiB, lost ${result.lost})`);
    }
    process.stderr.write(`round ${round + 1}/${rounds}: ${line.join(', ')}\n`);
  }
  const rows = [
    ['Server', 'deliveries/s (median)', 'range', 'vs ws', 'vs ws (paired)', 'server CPU', 'per server CPU-second', 'vs ws', 'load generator CPU', 'server peak RSS', 'lost'],
    ['---', '---', '---', '---', '---', '---', '---', '---', '---', '---', '---'],
  ];
  const medianOf = (kind) => median(samples[kind].map((s) => s.deliveriesPerSecond));
  for (const kind of contenders) {
    const values = samples[kind].map((s) => s.deliveriesPerSecond);
    const m = median(values);
    let vsWs = '';
    let paired = '';
    let perCpuVsWs = '';
    const perCpu = median(samples[kind].map((s) => s.deliveriesPerCpuSecond));
    if (samples.ws && kind !== 'ws') {
      vsWs = `${(m / medianOf('ws')).toFixed(2)}×`;
      paired = `${median(values.map((v, i) => v / samples.ws[i].deliveriesPerSecond)).toFixed(2)}×`;
      perCpuVsWs = `${(perCpu / median(samples.ws.map((s) => s.deliveriesPerCpuSecond))).toFixed(2)}×`;
    }
    rows.push([
      kind,
      `${(m / 1e3).toFixed(0)}k`,
      `${(Math.min(...values) / 1e3).toFixed(0)}k–${(Math.max(...values) / 1e3).toFixed(0)}k`,
      vsWs,
      paired,
      `${Math.round((median(samples[kind].map((s) => s.serverCpuSeconds)) / options.seconds) * 100)}%`,
      `${(perCpu / 1e3).toFixed(0)}k`,
      perCpuVsWs,
      `${Math.round(median(samples[kind].map((s) => s.loadgenCpu)) * 100)}%`,
      `${(median(samples[kind].map((s) => s.peakRss)) / 1048576).toFixed(0)} MiB`,
      String(Math.max(...samples[kind].map((s) => s.lost))),
    ]);
  }
  const table = rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
  const header = `Fan-out: ${options.subscribers} subscribers, ${options.size}-byte messages, window ${options.window}, ${options.seconds} s × ${rounds} rounds; node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`;
  console.log(`${header}\n\n${table}`);
  const dir = join(here, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `fanout-${options.subscribers}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ options, rounds, samples, node: process.version }, null, 2));
  process.stderr.write(`samples written to ${file}\n`);
}

const role = args._[0];
if (role === 'server') await server(args._[1]);
else if (role === 'load') {
  const result = await load();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else await orchestrate();
