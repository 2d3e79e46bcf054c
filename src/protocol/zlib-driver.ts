/**
 * Driving node:zlib for permessage-deflate: on the calling thread through the zlib
 * handle's internal `writeSync` (checked once per process), or through the public
 * stream API on the thread pool; plus the process-wide resources the codecs share
 * (the thread-pool limiter, zlib objects for messages without context takeover, and
 * the cap on deflate contexts kept between messages). See deflate-codec.ts for why.
 */
import { DeflateRaw, InflateRaw, constants } from 'node:zlib';
import { MessageTooBigError } from './errors.js';

const { Z_SYNC_FLUSH } = constants;
const EMPTY = Buffer.alloc(0);

/** The parts of Node's zlib handle used by the synchronous driver (internal API). */
interface NativeZlib {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
}
export type ZlibStream = DeflateRaw | InflateRaw;
type ZlibInternals = { _handle?: NativeZlib | null; _writeState?: Uint32Array };

const SCRATCH_SIZE = 64 * 1024;
/** Output of synchronous runs lands here first, then is copied out at its exact size. */
let scratch: Buffer | null = null;

/**
 * Collects zlib output: first into the shared scratch buffer, then into growing
 * buffers. Never offers zlib room for more than `limit + 1` bytes in total, so
 * exceeding the limit is seen without producing the rest.
 */
export class Sink {
  buffer: Buffer;
  offset = 0;
  total = 0;
  #chunks: Buffer[] | null = null;

  constructor(readonly limit: number) {
    this.buffer = scratch ??= Buffer.allocUnsafe(SCRATCH_SIZE);
  }

  /** Room for zlib's next write: at least 1 byte. */
  reserve(): number {
    if (this.offset === this.buffer.length) {
      (this.#chunks ??= []).push(this.buffer === scratch ? Buffer.from(this.buffer) : this.buffer);
      // Doubling the output so far, within 8 MiB and what the limit still allows.
      this.buffer = Buffer.allocUnsafe(Math.min(Math.max(SCRATCH_SIZE, this.total), 8 * 1024 * 1024, this.limit + 1 - this.total));
      this.offset = 0;
    }
    return Math.min(this.buffer.length - this.offset, this.limit + 1 - this.total);
  }

  /** Records `n` bytes written by zlib. */
  commit(n: number): void {
    this.offset += n;
    this.total += n;
    if (this.total > this.limit) throw new MessageTooBigError(`message inflates to more than maxPayload ${this.limit} bytes`);
  }

  /** The output, in a buffer the caller owns. */
  take(): Buffer {
    const last = this.buffer === scratch ? Buffer.from(this.buffer.subarray(0, this.offset)) : this.buffer.subarray(0, this.offset);
    if (this.#chunks === null) return last;
    this.#chunks.push(last);
    return Buffer.concat(this.#chunks, this.total);
  }
}

/** One zlib stream, driven synchronously (internal handle) or through its stream API. */
export class Engine {
  readonly stream: ZlibStream;

  constructor(stream: ZlibStream) {
    this.stream = stream;
    // zlib reports failures as 'error' events too; they are read from `errored`.
    stream.on('error', noop);
  }

  get isUsable(): boolean {
    return !this.stream.destroyed;
  }

  /**
   * Runs `input` through zlib on this thread, output into `sink`. Returns true when
   * the compressed stream ended (a block with BFINAL set) before the input did.
   *
   * @throws the zlib error, or `MessageTooBigError` from the sink.
   */
  runSync(input: Uint8Array, flush: number, sink: Sink): boolean {
    const internals = this.stream as unknown as ZlibInternals;
    const handle = internals._handle;
    const state = internals._writeState!;
    if (handle == null) throw new Error('zlib handle is closed');
    let inOff = 0;
    let inLen = input.length;
    for (;;) {
      const room = sink.reserve();
      handle.writeSync(flush, input, inOff, inLen, sink.buffer, sink.offset, room);
      // A zlib error destroys the stream synchronously (Node's onerror handler).
      if (this.stream.destroyed) throw this.stream.errored ?? new Error('zlib failed');
      const availOut = state[0]!;
      const availIn = state[1]!;
      sink.commit(room - availOut);
      inOff += inLen - availIn;
      inLen = availIn;
      // Output room left over: zlib is done with the input, or the stream has ended.
      if (availOut !== 0) return availIn > 0;
    }
  }

  /**
   * Runs `inputs` through the stream API (the thread pool), then a `flush`. Calls back
   * once with the output, or with the first error; `limit` bounds the output.
   */
  runAsync(inputs: readonly Uint8Array[], flush: number, limit: number, callback: (error: Error | null, output: Buffer, ended: boolean) => void): void {
    const stream = this.stream;
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    let expected = stream.bytesWritten;
    const finish = (error: Error | null): void => {
      if (done) return;
      done = true;
      stream.off('data', onData);
      stream.off('error', finish);
      if (error !== null) {
        stream.destroy();
        callback(error, EMPTY, true);
        return;
      }
      // The stream stops reading input once it has ended (BFINAL).
      callback(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total), stream.bytesWritten < expected);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) finish(new MessageTooBigError(`message inflates to more than maxPayload ${limit} bytes`));
      else chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.on('error', finish);
    for (const input of inputs) {
      expected += input.length;
      stream.write(input);
    }
    stream.flush(flush, () => finish(null));
  }

  reset(): void {
    if (this.isUsable) this.stream.reset();
  }

  close(): void {
    this.stream.destroy();
  }
}

function noop(): void {}

let syncAvailable: boolean | undefined;

/**
 * Whether zlib handles can be driven on the calling thread here: the internal API is
 * present and a compression round trip through it gives back the input. Checked once.
 */
export function isSyncZlibAvailable(): boolean {
  if (syncAvailable === undefined) {
    try {
      const sample = Buffer.from('permessage-deflate, permessage-deflate, permessage-deflate');
      const deflate = new Engine(new DeflateRaw());
      const inflate = new Engine(new InflateRaw());
      const hasHandle = (engine: Engine): boolean => {
        const internals = engine.stream as unknown as ZlibInternals;
        return typeof internals._handle?.writeSync === 'function' && internals._writeState instanceof Uint32Array;
      };
      syncAvailable = false;
      if (hasHandle(deflate) && hasHandle(inflate)) {
        const compressed = new Sink(Infinity);
        deflate.runSync(sample, Z_SYNC_FLUSH, compressed);
        const restored = new Sink(Infinity);
        inflate.runSync(compressed.take(), Z_SYNC_FLUSH, restored);
        syncAvailable = restored.take().equals(sample);
      }
      deflate.close();
      inflate.close();
    } catch {
      syncAvailable = false;
    }
  }
  return syncAvailable;
}

// ---- Process-wide resources -------------------------------------------------------

/** Runs at most `limit` asynchronous zlib jobs at once; the rest wait in order. */
export class Limiter {
  #running = 0;
  #isStarting = false;
  readonly #waiting: Array<(release: () => void) => void> = [];

  constructor(readonly limit: number) {}

  /** Runs `job` now or once a slot frees; the job calls `release` (once) when done. */
  run(job: (release: () => void) => void): void {
    this.#waiting.push(job);
    this.#startWaiting();
  }

  /** A loop, not recursion: jobs that release at once must not grow the stack. */
  #startWaiting(): void {
    if (this.#isStarting) return;
    this.#isStarting = true;
    while (this.#running < this.limit && this.#waiting.length > 0) {
      const job = this.#waiting.shift()!;
      this.#running++;
      let isReleased = false;
      job(() => {
        if (isReleased) return;
        isReleased = true;
        this.#running--;
        this.#startWaiting();
      });
    }
    this.#isStarting = false;
  }
}

/**
 * One limiter per configured limit: every endpoint with the default shares one queue
 * for the whole process, since the thread pool (and its memory) is process-wide.
 */
const limiters = new Map<number, Limiter>();
export function limiterFor(limit: number): Limiter {
  let limiter = limiters.get(limit);
  if (limiter === undefined) limiters.set(limit, (limiter = new Limiter(limit)));
  return limiter;
}

/** Process-wide engines for messages without context takeover, one per configuration. */
const sharedEngines = new Map<string, Engine>();
export function sharedEngine(key: string, create: () => ZlibStream): Engine {
  let engine = sharedEngines.get(key);
  if (engine === undefined || !engine.isUsable) sharedEngines.set(key, (engine = new Engine(create())));
  return engine;
}

/** A user of pooled deflate engines: one connection's codec. */
export interface EngineOwner {
  /** Whether its engine holds a message in progress (a fragment, or a job on the thread pool). */
  readonly isCompressing: boolean;
}

/** An engine held between messages, and the pool (configuration) it was made for. */
export interface Held {
  engine: Engine;
  pool: EnginePool;
}

/**
 * Deflate engines kept between messages (context takeover), at most `limit` at once
 * in the process: each holds about 256 KiB of zlib state (15-bit window, memLevel 8),
 * so without a bound idle connections would hold it forever. Pools of different
 * configurations (window size, level, memLevel) with the same limit share it: one
 * server's connections that agreed different windows count against one cap.
 * Past the limit, a connection that needs an engine takes the least recently used
 * one, reset (or, when that one was made for another configuration, closed and
 * replaced): that connection's next message starts from an empty window. The peer
 * cannot tell: a message compressed from an empty window is valid whether or not
 * context takeover was agreed, which only allows referring to earlier messages.
 * Taking an engine costs a reset (about 10 µs); creating one costs 100 µs or more.
 */
export class EnginePool {
  /** Owners and their engines across the pools sharing the limit, least recently used first (Map keeps insertion order). */
  readonly #owners: Map<EngineOwner, Held>;

  constructor(
    readonly limit: number,
    readonly create: () => Engine,
    owners: Map<EngineOwner, Held> = new Map(),
  ) {
    this.#owners = owners;
  }

  /** The owner's engine, now the most recently used; created or taken over if it has none. */
  acquire(owner: EngineOwner): Engine {
    const owners = this.#owners;
    const held = owners.get(owner);
    if (held !== undefined && held.pool === this && held.engine.isUsable) {
      owners.delete(owner);
      owners.set(owner, held);
      return held.engine;
    }
    if (held !== undefined) {
      owners.delete(owner);
      if (held.pool !== this) held.engine.close();
    }
    let engine: Engine | undefined;
    if (owners.size >= this.limit) {
      for (const [oldest, candidate] of owners) {
        if (oldest.isCompressing) continue;
        owners.delete(oldest);
        if (!candidate.engine.isUsable) continue;
        if (candidate.pool === this) {
          candidate.engine.reset();
          engine = candidate.engine;
        } else {
          candidate.engine.close(); // made for another configuration
        }
        break;
      }
    }
    engine ??= this.create();
    owners.set(owner, { engine, pool: this });
    return engine;
  }

  /** Forgets the owner's context: its next message starts from an empty window. */
  reset(owner: EngineOwner): void {
    const held = this.#owners.get(owner);
    if (held?.pool === this) held.engine.reset();
  }

  /** The owner is gone (its connection closed): its engine is freed. */
  release(owner: EngineOwner): void {
    const held = this.#owners.get(owner);
    if (held === undefined || held.pool !== this) return;
    this.#owners.delete(owner);
    held.engine.close();
  }

  /** Engines of this configuration currently held (for tests and metrics). */
  get size(): number {
    let size = 0;
    for (const held of this.#owners.values()) if (held.pool === this) size++;
    return size;
  }
}

const pools = new Map<string, EnginePool>();
/** The owners of every pool with a given limit: the limit holds across configurations. */
const ownersByLimit = new Map<number, Map<EngineOwner, Held>>();

/** The process-wide pool for one deflate configuration (`key`) and limit; pools with the same limit share it. */
export function enginePool(key: string, limit: number, create: () => Engine): EnginePool {
  const poolKey = `${key}/${limit}`;
  let pool = pools.get(poolKey);
  if (pool === undefined) {
    let owners = ownersByLimit.get(limit);
    if (owners === undefined) ownersByLimit.set(limit, (owners = new Map()));
    pools.set(poolKey, (pool = new EnginePool(limit, create, owners)));
  }
  return pool;
}
