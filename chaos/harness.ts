/**
 * Chaos: thousands of connection lives against one server, each cut at a random byte
 * offset, then the server's bookkeeping is checked.
 *
 * The server runs with the features that keep per-connection state: an `authenticate`
 * hook (sometimes asynchronous, sometimes refusing), permessage-deflate, topics, and a
 * heartbeat with short intervals. Each life is a raw TCP client that writes a script of
 * bytes (an upgrade request, masked frames, some compressed, a close frame) and cuts
 * its connection, by destroying the socket, resetting it, or half-closing it, at a
 * random point in one of these phases:
 *
 * - `handshake`: inside the upgrade request, or after it once the answer (a 101, or a
 *   refusal of `authenticate`) is read;
 * - `authenticate`: after the request, while the asynchronous `authenticate` runs;
 * - `header`: inside a frame header;
 * - `payload`: inside a frame payload;
 * - `inflate`: inside a compressed frame, or just after a large one, while the server
 *   inflates it on the thread pool;
 * - `closing`: during the close handshake, started by either side;
 * - `complete`: never; the life ends with a clean close handshake.
 *
 * The last lives (as many as run at once) overlap a graceful `wss.close()`.
 *
 * Afterwards the report says whether these hold: no uncaught exception and no unhandled
 * rejection; `close` fired exactly once for every server-side connection; the server's
 * `clients` and every topic's subscriber count back to 0; and, once the server is
 * closed, `process.getActiveResourcesInfo()` back to what it was before (no timer,
 * socket or listener left behind).
 *
 * The plan of every life (phase, offset, how it is cut) comes from a seeded generator,
 * so a run is reproducible up to the timing of the operating system.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { constants, deflateRawSync } from 'node:zlib';
import { Prng } from '../fuzz/lib/prng.js';
import { UpgradeError, WebSocketServer, type WebSocket } from '../src/index.js';

export const PHASES = ['handshake', 'authenticate', 'header', 'payload', 'inflate', 'closing', 'complete'] as const;
export type Phase = (typeof PHASES)[number];
type Cut = 'destroy' | 'reset' | 'half-close';

export interface ChaosOptions {
  /** Connection lives. Default 10 000. */
  lives?: number;
  /** Lives running at once. Default 64. */
  concurrency?: number;
  /** Seed of the plan. Default 1. */
  seed?: number;
  /** Stop starting lives after this many seconds (the report says how many ran). Default 600. */
  seconds?: number;
  /** Called with a line of progress now and then. */
  log?: (line: string) => void;
}

export interface ChaosReport {
  lives: number;
  seconds: number;
  byPhase: Record<Phase, number>;
  byCut: Record<Cut, number>;
  /** Upgrades accepted by the server (`connection` events). */
  connections: number;
  /** Upgrades refused by `authenticate`. */
  refused: number;
  /** Server-side connections whose `close` fired other than exactly once. */
  closeCountErrors: string[];
  uncaughtExceptions: string[];
  unhandledRejections: string[];
  /** `wss.clients.size` once every life ended. */
  clientsLeft: number;
  /** Topics with subscribers once every life ended. */
  topicsLeft: Record<string, number>;
  /** Active resources before the server was created and after it was closed. */
  resourcesBefore: Record<string, number>;
  resourcesAfter: Record<string, number>;
  /** Whether every invariant holds. */
  ok: boolean;
  /** The invariants that failed, in words. */
  failures: string[];
}

const TOPICS = ['lobby', 'news', 'room:1', 'room:2'];

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A masked client frame. */
function clientFrame(opcode: number, payload: Uint8Array, options: { fin?: boolean; rsv1?: boolean } = {}): { bytes: Buffer; headerLength: number } {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + extended + 4);
  header[0] = ((options.fin ?? true) ? 0x80 : 0) | (options.rsv1 ? 0x40 : 0) | opcode;
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
  for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i & 3]!;
  return { bytes: Buffer.concat([header, masked]), headerLength: header.length };
}

/** A message compressed as RFC 7692 §7.2.1 sends it (from an empty window). */
function compress(data: Uint8Array): Buffer {
  const out = deflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

interface Piece {
  bytes: Buffer;
  kind: 'frame' | 'compressed' | 'close';
  headerLength: number;
}

interface LifePlan {
  id: number;
  phase: Phase;
  cut: Cut;
  auth: 'sync' | 'async' | 'refuse-sync' | 'refuse-async';
  authDelay: number;
  deflate: boolean;
  /** Topics to subscribe to, sent in the request. */
  topics: string[];
  pieces: Piece[];
  /** Index of the piece the cut falls in (frame phases), and the offset inside it. */
  target: number;
  offset: number;
  /** Milliseconds to wait before cutting (authenticate, closing). */
  wait: number;
  /** For `closing`: whether the server starts the close handshake. */
  serverCloses: boolean;
}

function planLife(rng: Prng, id: number): LifePlan {
  const phase = PHASES[rng.below(PHASES.length)]!;
  const cut: Cut = rng.chance(2, 5) ? 'destroy' : rng.chance(1, 3) ? 'reset' : 'half-close';
  let auth: LifePlan['auth'] = rng.pick(['sync', 'async', 'async', 'sync', 'refuse-sync', 'refuse-async'] as const);
  if (phase === 'authenticate') auth = rng.chance(4, 5) ? 'async' : 'refuse-async';
  else if (phase !== 'handshake' && auth.startsWith('refuse')) auth = 'async'; // frames need an open connection
  const deflate = phase === 'inflate' || rng.chance(1, 2);
  const topics = TOPICS.filter(() => rng.chance(1, 3));
  const serverCloses = rng.chance(1, 2);
  const pieces: Piece[] = [];
  const frames = 1 + rng.below(4);
  for (let i = 0; i < frames; i++) {
    const r = rng.below(5);
    if (r === 0) {
      // A fragmented message with a ping between its fragments.
      const a = clientFrame(0x1, Buffer.from(`part one of ${id} `), { fin: false });
      const ping = clientFrame(0x9, Buffer.from(`ping ${i}`));
      const b = clientFrame(0x0, Buffer.from('part two'));
      pieces.push({ bytes: a.bytes, kind: 'frame', headerLength: a.headerLength }, { bytes: ping.bytes, kind: 'frame', headerLength: ping.headerLength }, { bytes: b.bytes, kind: 'frame', headerLength: b.headerLength });
    } else if (r === 1 && deflate) {
      const size = rng.pick([10, 2000, 70_000]);
      const message = size > 10_000 ? randomBytes(size) : Buffer.from(`compressed ${id} `.repeat(size / 10));
      const f = clientFrame(0x2, compress(message), { rsv1: true });
      pieces.push({ bytes: f.bytes, kind: 'compressed', headerLength: f.headerLength });
    } else {
      const size = rng.pick([5, 125, 126, 1000, 65_536, 100_000]);
      const f = clientFrame(rng.chance(1, 2) ? 0x1 : 0x2, Buffer.alloc(size, 0x61));
      pieces.push({ bytes: f.bytes, kind: 'frame', headerLength: f.headerLength });
    }
  }
  if (phase === 'inflate' && !pieces.some((p) => p.kind === 'compressed')) {
    const f = clientFrame(0x2, compress(randomBytes(rng.chance(1, 2) ? 70_000 : 3000)), { rsv1: true });
    pieces.push({ bytes: f.bytes, kind: 'compressed', headerLength: f.headerLength });
  }
  if (phase === 'closing' && serverCloses) {
    const f = clientFrame(0x1, Buffer.from('bye'));
    pieces.push({ bytes: f.bytes, kind: 'frame', headerLength: f.headerLength });
  } else {
    const close = Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65]); // 1000 "bye"
    const f = clientFrame(0x8, close);
    pieces.push({ bytes: f.bytes, kind: 'close', headerLength: f.headerLength });
  }
  let target = 0;
  let offset = 0;
  const choose = (kinds: Array<Piece['kind']>): number => {
    const candidates = pieces.map((p, i) => (kinds.includes(p.kind) ? i : -1)).filter((i) => i >= 0);
    return candidates.length === 0 ? 0 : rng.pick(candidates);
  };
  if (phase === 'header') {
    target = choose(['frame', 'compressed', 'close']);
    offset = rng.below(pieces[target]!.headerLength);
  } else if (phase === 'payload') {
    target = choose(['frame', 'compressed']);
    const piece = pieces[target]!;
    offset = piece.headerLength + rng.below(Math.max(1, piece.bytes.length - piece.headerLength));
  } else if (phase === 'inflate') {
    target = choose(['compressed']);
    const piece = pieces[target]!;
    // Inside the compressed frame, or just after a whole one (while it is inflated).
    offset = rng.chance(1, 2) ? piece.bytes.length : piece.headerLength + rng.below(Math.max(1, piece.bytes.length - piece.headerLength));
  }
  return {
    id,
    phase,
    cut,
    auth,
    authDelay: 2 + rng.below(20),
    deflate,
    topics,
    pieces,
    target,
    offset,
    wait: rng.below(4),
    serverCloses,
  };
}

function requestFor(plan: LifePlan, port: number): Buffer {
  const lines = [
    'GET /chaos HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    `X-Chaos-Auth: ${plan.auth} ${plan.authDelay}`,
    `X-Chaos-Topics: ${plan.topics.join(',')}`,
  ];
  if (plan.deflate) lines.push('Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover');
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
}

/** The raw client of one life: writes, reads (and discards) everything, and knows when the server closed. */
class LifeSocket {
  readonly socket: Socket;
  received = Buffer.alloc(0);
  headEnd = -1;
  closed = false;
  ended = false;
  #waiters: Array<() => void> = [];

  constructor(port: number) {
    this.socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    this.socket.on('error', () => {});
    this.socket.on('connect', () => this.#wake());
    this.socket.on('data', (chunk: Buffer) => {
      // Only the head and the first frames are kept: enough to see the response and a close frame.
      if (this.received.length < 4096) this.received = Buffer.concat([this.received, chunk]).subarray(0, 8192);
      if (this.headEnd === -1) this.headEnd = this.received.indexOf('\r\n\r\n');
      this.#wake();
    });
    this.socket.on('end', () => {
      this.ended = true;
      this.#wake();
      // The server ended its side: finish ours (a half-closed client keeps reading until here).
      this.socket.end();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits until `predicate` holds, the socket closes, or `ms` pass. */
  async waitFor(predicate: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      if (this.closed || Date.now() >= deadline) return predicate();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  get status(): number {
    if (this.headEnd === -1) return 0;
    return Number(this.received.toString('latin1', 9, 12));
  }

  /** Writes `bytes` in one to three pieces, a tick apart. */
  async write(bytes: Buffer, rng: Prng): Promise<void> {
    const parts = 1 + rng.below(3);
    const size = Math.ceil(bytes.length / parts);
    for (let i = 0; i < bytes.length && !this.closed && !this.socket.writableEnded; i += size) {
      this.socket.write(bytes.subarray(i, i + size));
      if (i + size < bytes.length) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async cut(cut: Cut): Promise<void> {
    if (this.closed) return;
    if (cut === 'destroy') this.socket.destroy();
    else if (cut === 'reset') this.socket.resetAndDestroy();
    else {
      this.socket.end();
      // A half-closed client reads on until the server closes its side too.
      await this.waitFor(() => this.ended, 3000);
      this.socket.destroy();
    }
  }
}

/** Runs one life to its cut (or to its clean end). */
async function live(plan: LifePlan, port: number, rng: Prng): Promise<'refused' | 'upgraded' | 'cut-early'> {
  const life = new LifeSocket(port);
  try {
    await life.waitFor(() => life.socket.readyState === 'open', 3000);
    const request = requestFor(plan, port);
    if (plan.phase === 'handshake') {
      // Inside the request, or (one time in four) after all of it, once the answer is read.
      const isWhole = rng.chance(1, 4);
      await life.write(isWhole ? request : request.subarray(0, rng.below(request.length)), rng);
      if (isWhole) await life.waitFor(() => life.headEnd !== -1, 3000);
      await life.cut(plan.cut);
      return isWhole && life.status !== 101 ? 'refused' : 'cut-early';
    }
    await life.write(request, rng);
    if (plan.phase === 'authenticate') {
      await delay(rng.below(plan.authDelay));
      await life.cut(plan.cut);
      return 'cut-early';
    }
    await life.waitFor(() => life.headEnd !== -1, 3000);
    if (life.status !== 101) {
      await life.cut(plan.cut);
      return 'refused';
    }
    if (plan.phase === 'header' || plan.phase === 'payload' || plan.phase === 'inflate') {
      for (let i = 0; i < plan.target; i++) await life.write(plan.pieces[i]!.bytes, rng);
      await life.write(plan.pieces[plan.target]!.bytes.subarray(0, plan.offset), rng);
      await life.cut(plan.cut);
      return 'upgraded';
    }
    for (const piece of plan.pieces) await life.write(piece.bytes, rng);
    if (plan.phase === 'closing') {
      // Cut while the close handshake runs: before, as, or after the server's close frame arrives.
      if (rng.chance(1, 2)) await life.waitFor(() => life.received.includes(Buffer.from([0x88])), 200);
      await delay(plan.wait);
      await life.cut(plan.cut);
      return 'upgraded';
    }
    // complete: wait for the server to close the connection after the close handshake.
    await life.waitFor(() => life.ended, 3000);
    await life.cut('destroy');
    return 'upgraded';
  } finally {
    life.socket.destroy();
  }
}

function countResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

/** Whether `after` holds no more resources of any kind than `before` (the baseline may lose some of its own). */
function noMoreThan(after: Record<string, number>, before: Record<string, number>): boolean {
  for (const [key, count] of Object.entries(after)) if (count > (before[key] ?? 0)) return false;
  return true;
}

/**
 * Runs the chaos: `lives` connection lives against a fresh server, `concurrency` at a
 * time, then closes the server and checks the invariants.
 */
export async function runChaos(options: ChaosOptions = {}): Promise<ChaosReport> {
  const lives = options.lives ?? 10_000;
  const concurrency = options.concurrency ?? 64;
  const seed = options.seed ?? 1;
  const deadline = Date.now() + (options.seconds ?? 600) * 1000;
  const log = options.log ?? (() => {});

  const uncaughtExceptions: string[] = [];
  const unhandledRejections: string[] = [];
  const onUncaught = (error: Error) => uncaughtExceptions.push(error.stack ?? String(error));
  const onUnhandled = (reason: unknown) => unhandledRejections.push(reason instanceof Error ? (reason.stack ?? reason.message) : String(reason));
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);

  const resourcesBefore = countResources();
  const started = performance.now();
  const closeCounts = new Map<WebSocket<unknown>, number>();
  let connections = 0;

  const wss = new WebSocketServer<{ id: string }>({
    port: 0,
    host: '127.0.0.1',
    perMessageDeflate: { threshold: 64 },
    heartbeat: { interval: 40, timeout: 40 },
    closeTimeout: 300,
    handshakeTimeout: 1000,
    authenticate: (req) => {
      const [mode = 'sync', delayText = '0'] = String(req.headers['x-chaos-auth'] ?? '').split(' ');
      const data = { id: String(req.headers['sec-websocket-key']) };
      if (mode === 'sync') return data;
      if (mode === 'refuse-sync') throw new UpgradeError(401, 'refused by chaos');
      return delay(Number(delayText)).then(() => {
        if (mode === 'refuse-async') throw new UpgradeError(403, 'refused by chaos');
        return data;
      });
    },
  });
  wss.on('error', (error) => uncaughtExceptions.push(`server error event: ${String(error)}`));
  wss.on('connection', (ws, req) => {
    connections++;
    closeCounts.set(ws, 0);
    ws.on('close', () => closeCounts.set(ws, closeCounts.get(ws)! + 1));
    ws.on('error', () => {}); // failures end in close; counted there
    for (const topic of String(req.headers['x-chaos-topics'] ?? '').split(',')) if (topic !== '') ws.subscribe(topic);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = isBinary ? '' : String(data);
      if (text === 'bye') {
        ws.close(1000, 'server says bye');
        return;
      }
      ws.send(data, { binary: isBinary });
      if (ws.topics.size > 0) ws.publish([...ws.topics][0]!, 'published');
    });
  });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const port = (wss.address() as { port: number }).port;

  const byPhase = Object.fromEntries(PHASES.map((phase) => [phase, 0])) as Record<Phase, number>;
  const byCut: Record<Cut, number> = { destroy: 0, reset: 0, 'half-close': 0 };
  let refused = 0;
  let next = 0;
  let finished = 0;
  const planner = new Prng(seed);
  // The last lives run while the server shuts down gracefully: upgrades are answered
  // 503, open connections get a close frame, pending ones are dropped at the deadline.
  let closing: Promise<void> | null = null;
  const worker = async (): Promise<void> => {
    while (next < lives && Date.now() < deadline) {
      if (closing === null && next >= lives - concurrency) closing = wss.close({ timeout: 1000 });
      const plan = planLife(planner, next++);
      byPhase[plan.phase]++;
      byCut[plan.cut]++;
      const t0 = performance.now();
      const outcome = await live(plan, port, new Prng(seed ^ (plan.id * 2654435761)));
      const took = performance.now() - t0;
      if (process.env.CHAOS_DEBUG && took > 300) log(`slow life ${plan.id}: ${plan.phase} ${plan.cut} ${plan.auth} ${outcome} ${took.toFixed(0)} ms`);
      if (outcome === 'refused') refused++;
      if (++finished % 1000 === 0) log(`  ${finished} lives, ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  // Every life has ended on the client side; the server notices within its timeouts.
  const settleUntil = Date.now() + 5000;
  const topicsLeft = (): Record<string, number> => Object.fromEntries(TOPICS.map((t) => [t, wss.subscriberCount(t)]).filter(([, n]) => n !== 0));
  while ((wss.clients.size > 0 || Object.keys(topicsLeft()).length > 0) && Date.now() < settleUntil) await delay(20);
  const clientsLeft = wss.clients.size;
  const topics = topicsLeft();
  await (closing ?? wss.close({ timeout: 1000 }));
  await delay(50); // a late second 'close' would show up here
  const closeCountErrors: string[] = [];
  for (const [ws, count] of closeCounts) if (count !== 1) closeCountErrors.push(`${(ws.data as { id?: string } | undefined)?.id ?? '?'}: close fired ${count} times`);

  const resourcesUntil = Date.now() + 5000;
  let resourcesAfter = countResources();
  while (!noMoreThan(resourcesAfter, resourcesBefore) && Date.now() < resourcesUntil) {
    await delay(20);
    resourcesAfter = countResources();
  }
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUnhandled);

  const failures: string[] = [];
  if (uncaughtExceptions.length > 0) failures.push(`${uncaughtExceptions.length} uncaught exceptions`);
  if (unhandledRejections.length > 0) failures.push(`${unhandledRejections.length} unhandled rejections`);
  if (closeCountErrors.length > 0) failures.push(`${closeCountErrors.length} connections without exactly one close`);
  if (clientsLeft !== 0) failures.push(`${clientsLeft} connections left in clients`);
  if (Object.keys(topics).length > 0) failures.push(`subscribers left: ${JSON.stringify(topics)}`);
  if (!noMoreThan(resourcesAfter, resourcesBefore)) failures.push(`active resources ${JSON.stringify(resourcesAfter)}, before ${JSON.stringify(resourcesBefore)}`);
  return {
    lives: finished,
    seconds: (performance.now() - started) / 1000,
    byPhase,
    byCut,
    connections,
    refused,
    closeCountErrors,
    uncaughtExceptions,
    unhandledRejections,
    clientsLeft,
    topicsLeft: topics,
    resourcesBefore,
    resourcesAfter,
    ok: failures.length === 0,
    failures,
  };
}

