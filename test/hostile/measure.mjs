#!/usr/bin/env node
/**
 * Memory of the server when each bound is hit: `npm run build && node test/hostile/measure.mjs [names...]`.
 *
 * For each scenario a fresh server (the built library, dist/) runs in this process with
 * the bound in question, and an attacker runs in a child process (so that its sockets
 * and buffers do not count here). This process samples its own memory every 10 ms
 * during the attack and prints, against a baseline taken after a garbage collection
 * just before, the growth of RSS and of the V8 heap plus Buffer memory
 * (`heapUsed + external`): at the bound (the attacker says when it is hit or held, and
 * garbage is collected first), at its peak (garbage included), and once the attack is
 * over and garbage is collected. The outcome column is what the attacker saw (close
 * codes, statuses).
 *
 * Not part of `npm test`: the connection floods open 10 000 sockets, and the figures
 * are for the README and the release notes, not assertions.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { constants, deflateRawSync } from 'node:zlib';

const self = fileURLToPath(import.meta.url);
const KiB = 1024;
const MiB = 1024 * KiB;

// ---- Bytes by hand (the attacker) ---------------------------------------------------

function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv1 = false } = {}) {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + extended + 4);
  header[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (extended === 0) header[1] = 0x80 | length;
  else if (extended === 2) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  const mask = randomBytes(4);
  mask.copy(header, 2 + extended);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i & 3];
  return Buffer.concat([header, masked]);
}

function request(extra = []) {
  return [
    'GET / HTTP/1.1',
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...extra,
    '',
    '',
  ].join('\r\n');
}

/** A raw client: resolves once connected; collects what it receives. */
function open(port, options = {}) {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', ...options });
    const client = { socket, received: Buffer.alloc(0), closed: false, error: null };
    socket.on('data', (chunk) => {
      if (client.received.length < 64 * KiB) client.received = Buffer.concat([client.received, chunk]);
    });
    socket.on('error', (error) => (client.error = error.code));
    socket.on('close', () => (client.closed = true));
    socket.once('connect', () => resolve(client));
    socket.once('error', () => resolve(client));
  });
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(predicate, ms) {
  const deadline = Date.now() + ms;
  while (!predicate() && Date.now() < deadline) await wait(5);
  return predicate();
}

/** The status of an HTTP response, or the close code of the first close frame after a 101. */
function outcomeOf(client) {
  const bytes = client.received;
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd === -1) return client.closed ? `closed${client.error ? ` (${client.error})` : ''}` : 'nothing';
  const status = Number(bytes.toString('latin1', 9, 12));
  if (status !== 101) return String(status);
  for (let offset = headEnd + 4; offset + 2 <= bytes.length; ) {
    const opcode = bytes[offset] & 0x0f;
    let length = bytes[offset + 1] & 0x7f;
    let start = offset + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(offset + 2);
      start += 2;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(offset + 2));
      start += 8;
    }
    if (opcode === 0x8) return `close ${bytes.readUInt16BE(start)}`;
    offset = start + length;
  }
  return client.closed ? '101, then closed without a close frame' : '101';
}

function tally(outcomes) {
  const counts = new Map();
  for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  return [...counts].map(([outcome, n]) => (outcomes.length === 1 ? outcome : `${n}× ${outcome}`)).join(', ');
}

/** Opens `count` connections in bursts of `burst`. */
async function many(port, count, burst, each) {
  const clients = [];
  for (let done = 0; done < count; done += burst) {
    const opened = await Promise.all(Array.from({ length: Math.min(burst, count - done) }, () => open(port)));
    for (const client of opened) each?.(client);
    clients.push(...opened);
  }
  return clients;
}

// ---- Scenarios: the server's options, and the attack ---------------------------------

const scenarios = {
  'maxPayload: a header announcing 1 TiB, then 64 MiB of it': {
    bound: 'maxPayload 1 MiB',
    server: {},
    async attack(port, control) {
      const c = await open(port);
      c.socket.write(request());
      await until(() => c.received.includes('\r\n\r\n'), 3000);
      const header = Buffer.from([0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
      c.socket.write(header);
      for (let i = 0; i < 64 && !c.closed; i++) c.socket.write(Buffer.alloc(MiB));
      await until(() => c.closed, 5000);
      await control('hit');
      return [outcomeOf(c)];
    },
  },
  'maxPayload: 100 connections each holding an unfinished message of 1 MiB - 1': {
    bound: 'maxPayload 1 MiB (per connection)',
    server: {},
    async attack(port, control) {
      const clients = await many(port, 100, 50, (c) => c.socket.write(request()));
      await until(() => clients.every((c) => c.received.includes('\r\n\r\n')), 5000);
      const payload = Buffer.alloc(MiB - 1, 0x61);
      for (const c of clients) c.socket.write(frame(0x2, payload).subarray(0, -1)); // all but the last byte
      await wait(1500);
      await control('hit');
      return clients.map(outcomeOf);
    },
  },
  'fragment flood: 1-byte fragments until refused': {
    bound: 'maxPayload 1 MiB, 64 bytes charged per fragment',
    server: {},
    async attack(port, control) {
      const c = await open(port);
      c.socket.write(request());
      await until(() => c.received.includes('\r\n\r\n'), 3000);
      const batch = Buffer.concat(Array.from({ length: 1000 }, () => frame(0x0, Buffer.from('x'), { fin: false })));
      c.socket.write(frame(0x2, Buffer.from('x'), { fin: false }));
      for (let i = 0; i < 1000 && !c.closed; i++) {
        c.socket.write(batch);
        if (i % 10 === 0) await wait(1);
      }
      await until(() => c.closed, 5000);
      await control('hit');
      return [outcomeOf(c)];
    },
  },
  'decompression bomb: 100 KiB inflating to 100 MiB': {
    bound: 'maxPayload 1 MiB (inflated size)',
    server: { perMessageDeflate: true },
    async attack(port, control) {
      const c = await open(port);
      c.socket.write(request(['Sec-WebSocket-Extensions: permessage-deflate']));
      await until(() => c.received.includes('\r\n\r\n'), 3000);
      const piece = deflateRawSync(Buffer.alloc(16 * MiB), { finishFlush: constants.Z_SYNC_FLUSH });
      const all = Buffer.concat(Array.from({ length: 7 }, () => piece));
      c.socket.write(frame(0x2, all.subarray(0, all.length - 4), { rsv1: true }));
      await until(() => c.closed, 5000);
      await control('hit');
      return [outcomeOf(c)];
    },
  },
  'header flood: 1 000 connections each sending 16 KiB - 1 of an endless head': {
    bound: 'maxHeaderBytes 16 KiB, handshakeTimeout',
    server: { handshakeTimeout: 3000 },
    async attack(port, control) {
      const head = `GET / HTTP/1.1\r\nX-Flood: ${'a'.repeat(16 * KiB - 30)}`;
      const clients = await many(port, 1000, 100, (c) => c.socket.write(head));
      await wait(500);
      await control('hit');
      await until(() => clients.every((c) => c.closed), 8000);
      return clients.map(outcomeOf);
    },
  },
  'header flood: 1 000 heads of 64 KiB': {
    bound: 'maxHeaderBytes 16 KiB',
    server: {},
    async attack(port, control) {
      const head = `GET / HTTP/1.1\r\nX-Flood: ${'a'.repeat(64 * KiB)}\r\n\r\n`;
      const clients = await many(port, 1000, 100, (c) => c.socket.write(head));
      await until(() => clients.every((c) => c.closed), 8000);
      await control('hit');
      return clients.map(outcomeOf);
    },
  },
  'many headers: 1 000 requests of 2 000 header lines': {
    bound: 'maxHeaders 100',
    server: {},
    async attack(port, control) {
      const head = request(Array.from({ length: 2000 }, (_, i) => `a${i}:`));
      const clients = await many(port, 1000, 100, (c) => c.socket.write(head));
      await until(() => clients.every((c) => c.closed), 8000);
      await control('hit');
      return clients.map(outcomeOf);
    },
  },
  'slowloris: 10 000 idle connections, no pending cap': {
    bound: 'handshakeTimeout 10 s only (maxPendingPerIp: 0)',
    server: { maxPendingPerIp: 0, backlog: 4096 },
    async attack(port, control) {
      const clients = await many(port, 10_000, 500);
      await wait(200);
      await control('hit');
      await until(() => clients.every((c) => c.closed), 15_000);
      return clients.map(outcomeOf);
    },
  },
  'slowloris: 10 000 idle connections, maxPendingPerIp 32': {
    bound: 'maxPendingPerIp 32 (answered at accept), handshakeTimeout 10 s',
    server: { maxPendingPerIp: 32, backlog: 4096 },
    async attack(port, control) {
      const clients = await many(port, 10_000, 500);
      await wait(200);
      await control('hit');
      await until(() => clients.every((c) => c.closed), 15_000);
      return clients.map(outcomeOf);
    },
  },
  '10 000 upgrades from one address': {
    bound: 'maxConnectionsPerIp 50, maxPendingPerIp 32',
    server: { maxConnectionsPerIp: 50, maxPendingPerIp: 32, backlog: 4096 },
    async attack(port, control) {
      const clients = await many(port, 10_000, 500, (c) => c.socket.write(request()));
      await until(() => clients.every((c) => c.received.includes('\r\n\r\n') || c.closed), 10_000);
      await control('hit');
      return clients.map(outcomeOf);
    },
  },
  'a subscriber that never reads, 100 MiB published to it': {
    bound: 'maxBackpressure 1 MiB',
    server: {},
    onConnection: (ws) => ws.subscribe('feed'),
    async attack(port, control) {
      const c = await open(port);
      c.socket.write(request());
      await until(() => c.received.includes('\r\n\r\n'), 3000);
      c.socket.pause();
      const result = await control('publish 100');
      await control('hit');
      return [`${outcomeOf(c)}, never read: ${result}`];
    },
  },
  'a peer that pings without reading: 50 MB of pings': {
    bound: 'pongs coalesced while the socket is full',
    server: { maxBackpressure: 0 },
    async attack(port, control) {
      const c = await open(port);
      c.socket.write(request());
      await until(() => c.received.includes('\r\n\r\n'), 3000);
      c.socket.pause();
      await control('fill');
      const ping = frame(0x9, Buffer.alloc(125, 0x70));
      const batch = Buffer.concat(Array.from({ length: 4000 }, () => ping));
      for (let i = 0; i < 100; i++) {
        if (!c.socket.write(batch)) await new Promise((resolve) => c.socket.once('drain', resolve));
      }
      const result = await control('pings 400000');
      await control('hit');
      return [`101, never read: ${result}`];
    },
  },
};

// ---- The attacker process --------------------------------------------------------------

async function attacker(name, port) {
  const scenario = scenarios[name];
  // Requests to the server side (publish, fill): over stdout, answered on stdin.
  let nextReply = null;
  process.stdin.on('data', (chunk) => nextReply?.(String(chunk).trim()));
  const control = (command) =>
    new Promise((resolve) => {
      nextReply = resolve;
      process.stdout.write(`control ${command}\n`);
    });
  const outcomes = await scenario.attack(port, control);
  process.stdout.write(`done ${JSON.stringify(tally(outcomes))}\n`);
  process.exit(0);
}

// ---- The measuring process -------------------------------------------------------------

function memory() {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
}

async function measure(name, library) {
  const scenario = scenarios[name];
  const wss = new library.WebSocketServer({ port: 0, host: '127.0.0.1', heartbeat: false, ...scenario.server });
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    scenario.onConnection?.(ws);
  });
  const port = wss.address().port;
  for (let i = 0; i < 3; i++) globalThis.gc();
  await wait(50);
  const base = memory();
  atBound = null;
  let peak = { rss: base.rss, heap: base.heap };
  const sampler = setInterval(() => {
    const now = memory();
    peak = { rss: Math.max(peak.rss, now.rss), heap: Math.max(peak.heap, now.heap) };
  }, 10);
  const child = spawn(process.execPath, [self, '--attack', name, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const outcome = await new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', async (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith('done ')) resolve(JSON.parse(line.slice(5)));
        else if (line.startsWith('control ')) child.stdin.write(`${await serverSide(wss, line.slice(8))}\n`);
      }
    });
    child.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`attacker exited with ${code}`))));
  });
  clearInterval(sampler);
  const sample = memory();
  peak = { rss: Math.max(peak.rss, sample.rss), heap: Math.max(peak.heap, sample.heap) };
  await wss.close({ timeout: 500 });
  for (let i = 0; i < 3; i++) globalThis.gc();
  await wait(100);
  const after = memory();
  const hit = atBound ?? sample;
  return {
    name,
    bound: scenario.bound,
    outcome,
    hitRss: hit.rss - base.rss,
    hitHeap: hit.heap - base.heap,
    peakRss: peak.rss - base.rss,
    peakHeap: peak.heap - base.heap,
    leftRss: after.rss - base.rss,
    leftHeap: after.heap - base.heap,
  };
}

/** Memory once the bound was hit and garbage collected (set by the 'hit' command). */
let atBound = null;
/** The connection filled by the 'fill' command, what it had buffered then, and the pings it read since. */
let filled = null;

/** What the attacker asks the server side to do. */
async function serverSide(wss, command) {
  const [verb, amount] = command.split(' ');
  if (verb === 'publish') {
    // 100 MiB in 16 KiB messages, a burst per tick, to a subscriber that does not read.
    const message = Buffer.alloc(16 * KiB, 0x62);
    let dropped = 0;
    let maxBuffered = 0;
    const [ws] = wss.clients;
    for (let sent = 0; sent < Number(amount) * MiB; sent += 64 * message.length) {
      for (let i = 0; i < 64; i++) dropped += wss.publish('feed', message).dropped;
      maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return `dropped ${dropped}, at most ${maxBuffered} bytes buffered`;
  }
  if (verb === 'fill') {
    const [ws] = wss.clients;
    for (let i = 0; i < 256 && !ws.socket.writableNeedDrain; i++) {
      ws.send(Buffer.alloc(MiB));
      await new Promise((resolve) => setImmediate(resolve));
    }
    filled = { ws, buffered: ws.bufferedAmount, pings: 0 };
    ws.on('ping', () => filled.pings++);
    return 'filled';
  }
  if (verb === 'pings') {
    const { ws } = filled;
    await until(() => filled.pings >= Number(amount) || ws.readyState !== 1, 20_000);
    return `${filled.pings} pings read, ${ws.bufferedAmount - filled.buffered} bytes of pongs buffered`;
  }
  if (verb === 'hit') {
    for (let i = 0; i < 3; i++) globalThis.gc();
    atBound = memory();
    return 'measured';
  }
  return 'unknown command';
}

function mib(bytes) {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--attack') return attacker(args[1], Number(args[2]));
  if (typeof globalThis.gc !== 'function') {
    // Re-run with the collector exposed: baselines are taken after a full collection.
    const child = spawn(process.execPath, ['--expose-gc', self, ...args], { stdio: 'inherit' });
    child.on('exit', (code) => process.exit(code ?? 1));
    return;
  }
  const library = await import(new URL('../../dist/index.js', import.meta.url).href).catch(() => {
    console.error('measure: dist/ is missing; run `npm run build` first');
    process.exit(2);
  });
  const names = args.length > 0 ? Object.keys(scenarios).filter((name) => args.some((arg) => name.includes(arg))) : Object.keys(scenarios);
  console.log(`node ${process.version}, ${new Date().toISOString()}`);
  console.log('scenario | bound | outcome | at the bound ΔRSS / Δ(heap+buffers) | peak ΔRSS / Δ(heap+buffers) | after, collected ΔRSS / Δ(heap+buffers)');
  console.log('--- | --- | --- | ---: | ---: | ---:');
  for (const name of names) {
    const r = await measure(name, library);
    console.log(`${r.name} | ${r.bound} | ${r.outcome} | ${mib(r.hitRss)} / ${mib(r.hitHeap)} | ${mib(r.peakRss)} / ${mib(r.peakHeap)} | ${mib(r.leftRss)} / ${mib(r.leftHeap)}`);
  }
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
