/**
 * permessage-deflate codec (RFC 7692 §7.2) over node:zlib: compresses and inflates
 * whole messages for one connection, keeping or dropping the LZ77 context as agreed.
 *
 * Speed. `ws` makes two thread-pool round trips per echoed message (inflate, then
 * deflate), each waiting in its concurrency limiter; that dominates its cost for
 * small messages. Here a message of up to `syncLimit` bytes (64 KiB by default) is
 * run through zlib on the calling thread: the persistent zlib handle is driven with
 * `handle.writeSync`, the internal call `zlib.inflateRawSync` itself uses. Node's own
 * `_processChunk(chunk, flushFlag)` cannot be used for this: it closes the handle
 * after one call, as the one-shot *Sync functions want (Node 20 and 24 alike), which
 * would lose the context. Measured on 1 KiB JSON messages with context takeover:
 * ~20–25 µs per deflate (zlib level 6; ~10–15 µs at level 1) and ~4 µs per inflate on
 * the calling thread, against ~170 µs of latency for a stream `write` + `flush`
 * through the thread pool, and ~50–140 µs for `deflateRawSync`, which builds a new
 * zlib state each time. Being internal, the synchronous driver is checked once per
 * process with a round trip; where it is missing or misbehaves every message takes
 * the public asynchronous path (stream `write` + `flush`), as do messages above
 * `syncLimit`, so that one large message does not block the event loop for long.
 * Inflating is bounded by its output too: deflate expands at most 1032 times, so when
 * `maxPayload` allows more than `syncInflateOutput` (1 MiB) only inputs that cannot
 * inflate beyond it run on the calling thread (1016 bytes and less); a 64 KiB input of
 * deflated zeros would otherwise take tens of milliseconds to inflate to 63 MiB there.
 * Asynchronous jobs share a process-wide limiter (default 10 at once).
 *
 * Order. Calls on one codec complete in the order made: the Connection pauses its
 * parser while an inflate is asynchronous and queues later sends behind a pending
 * compression.
 *
 * Memory. zlib state is created on the first compressed message, not at the
 * handshake, and released by `close`. A direction without context takeover keeps no
 * zlib state per connection at all: whole messages are compressed or inflated by one
 * process-wide zlib object per configuration, reset after each message. With context
 * takeover, deflate contexts (~256 KiB each) are kept for at most `maxDeflateContexts`
 * connections per process, the least recently active giving theirs up (`EnginePool`
 * in zlib-driver.ts); inflate contexts (~40 KiB) cannot be given up. `maxPayload`
 * caps the inflated size while inflating: zlib is never given room for more than
 * `maxPayload + 1` bytes, so a decompression bomb stops at the limit (1009).
 */
import { DeflateRaw, InflateRaw, constants, deflateRawSync, type ZlibOptions } from 'node:zlib';
import type { DeflateParams } from './deflate.js';
import { DEFAULT_CONCURRENCY_LIMIT, DEFAULT_MAX_DEFLATE_CONTEXTS, DEFAULT_THRESHOLD } from './deflate.js';
import { ErrorCode, InternalError, InvalidDataError, MessageTooBigError, type WebSocketError } from './errors.js';
import { FIN, Opcode, RSV1, headerSize, writeHeader } from './frame.js';
import { Engine, Sink, enginePool, isSyncZlibAvailable, limiterFor, sharedEngine, type EngineOwner, type EnginePool, type Limiter } from './zlib-driver.js';

const { Z_SYNC_FLUSH, Z_DEFAULT_STRATEGY, Z_RLE } = constants;

/** RFC 7692 §7.2.1: the 4 octets removed from, and §7.2.2 appended to, each message. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/**
 * RFC 7692 §7.2.3.6: an empty message is the empty stored block minus the tail. Also
 * sent when zlib has nothing to add after an earlier flush (a final empty fragment).
 */
const EMPTY_BLOCK = Buffer.from([0x00]);
const EMPTY = Buffer.alloc(0);

/** Default largest message processed on the calling thread, in bytes. */
export const DEFAULT_SYNC_LIMIT = 64 * 1024;
/** Most output an inflate may make on the calling thread by default (see the header). */
const DEFAULT_SYNC_INFLATE_OUTPUT = 1024 * 1024;
/** Deflate's largest expansion: 258 bytes from a 2-bit code, less block overhead (zlib's technical notes). */
const MAX_DEFLATE_RATIO = 1032;

/** Receives the result of a compression or decompression. `data` is owned by the callee. */
export type CodecCallback = (error: WebSocketError | null, data: Buffer) => void;

/**
 * What a Connection needs from permessage-deflate. Callbacks may run synchronously
 * (within the call) or later; calls on one codec complete in the order made.
 */
export interface MessageCodec {
  /** Messages smaller than this many bytes are sent uncompressed. */
  readonly threshold: number;
  /**
   * Compresses a message, or one fragment of it: `isFinal` ends the message, whose
   * output then loses the `00 00 FF FF` tail (RFC 7692 §7.2.1).
   */
  compress(data: Uint8Array, isFinal: boolean, callback: CodecCallback): void;
  /**
   * Inflates a whole compressed message (RFC 7692 §7.2.2). Fails with
   * `MessageTooBigError` (1009) beyond `maxPayload` bytes (0: no limit) and with
   * `InvalidDataError` (1007) when the data is not valid DEFLATE.
   */
  decompress(data: Buffer, maxPayload: number, callback: CodecCallback): void;
  /** The frame of a prepared broadcast message for this connection (see `BroadcastMessage`). */
  preparedFrame(message: BroadcastMessage): Uint8Array;
  /** Releases the zlib state. Pending callbacks are dropped. */
  close(): void;
}

/** Options of a codec. */
export interface CodecOptions {
  /** Which end this is: it compresses with its own window and inflates the peer's. */
  role: 'server' | 'client';
  /** Messages below this size are sent uncompressed. Default 1024. */
  threshold?: number;
  /** zlib level, -1 (default, 6) to 9. */
  level?: number;
  /** zlib memLevel, 1 to 9. Default 8. */
  memLevel?: number;
  /** Asynchronous zlib jobs at once in the process. Default 10. */
  concurrencyLimit?: number;
  /** Deflate contexts kept between messages in the process (see `EnginePool`). Default 1024. */
  maxDeflateContexts?: number;
  /**
   * Largest input, in bytes, processed on the calling thread; larger inputs go to the
   * thread pool. 0 sends everything to the thread pool. Default 64 KiB.
   */
  syncLimit?: number;
  /**
   * Largest output an inflate may make on the calling thread: with a `maxPayload` above
   * it, inputs that could inflate past it (deflate expands at most 1032 times) go to the
   * thread pool. Default 1 MiB.
   */
  syncInflateOutput?: number;
}

/** zlib options for compressing with at most `bits` of window. */
function deflateOptions(bits: number, level: number, memLevel: number): ZlibOptions {
  // zlib has no 256-byte window for raw deflate: Node turns 8 into 9. (zlib's matches
  // reach back at most window - 262 bytes, 250 at 9 bits, so that output happens to
  // fit 8 bits; this end does not rely on that internal.) RFC 7692 §7.1.2 only bounds
  // how far back the sender refers: with Z_RLE every match has distance 1, so the
  // output is valid for a window of 8 bits, or any other, by construction.
  return bits === 8 ? { windowBits: 9, level, memLevel, strategy: Z_RLE } : { windowBits: bits, level, memLevel, strategy: Z_DEFAULT_STRATEGY };
}

/** zlib options for inflating a peer's window of `bits`. */
function inflateOptions(bits: number): ZlibOptions {
  // A larger window than the peer's is always safe; at least 9, for peers that
  // compress an agreed 8 with zlib's 9.
  return { windowBits: Math.max(9, bits) };
}

/** What every connection with the same parameters and options shares. */
interface CodecConfig {
  threshold: number;
  /** This end's window bits (as agreed). */
  ownBits: number;
  syncLimit: number;
  syncInflateOutput: number;
  limiter: Limiter;
  deflateOptions: ZlibOptions;
  /** Compresses each message from an empty window (no context takeover on this side). */
  compressFresh: boolean;
  /** The peer compresses each message from an empty window. */
  inflateFresh: boolean;
  /** Whole messages without context takeover, process-wide. */
  sharedDeflateKey: string;
  sharedInflateKey: string;
  inflateOptions: ZlibOptions;
  /** Deflate engines kept between messages (context takeover). */
  pool: EnginePool;
}

/** Configurations by key: a server's thousands of connections share a handful. */
const configs = new Map<string, CodecConfig>();

function configFor(params: DeflateParams, options: CodecOptions): CodecConfig {
  const isServer = options.role === 'server';
  const ownBits = isServer ? params.serverMaxWindowBits : params.clientMaxWindowBits;
  const peerBits = isServer ? params.clientMaxWindowBits : params.serverMaxWindowBits;
  const compressFresh = isServer ? params.serverNoContextTakeover : params.clientNoContextTakeover;
  const inflateFresh = isServer ? params.clientNoContextTakeover : params.serverNoContextTakeover;
  const level = options.level ?? -1;
  const memLevel = options.memLevel ?? 8;
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  const syncLimit = isSyncZlibAvailable() ? (options.syncLimit ?? DEFAULT_SYNC_LIMIT) : -1;
  const syncInflateOutput = options.syncInflateOutput ?? DEFAULT_SYNC_INFLATE_OUTPUT;
  const concurrency = options.concurrencyLimit ?? DEFAULT_CONCURRENCY_LIMIT;
  const maxContexts = options.maxDeflateContexts ?? DEFAULT_MAX_DEFLATE_CONTEXTS;
  const deflateKey = `deflate/${ownBits}/${level}/${memLevel}`;
  const key = `${deflateKey}/${peerBits}/${compressFresh}/${inflateFresh}/${threshold}/${syncLimit}/${syncInflateOutput}/${concurrency}/${maxContexts}`;
  let config = configs.get(key);
  if (config === undefined) {
    const zlibOptions = deflateOptions(ownBits, level, memLevel);
    const inflate = inflateOptions(peerBits);
    config = {
      threshold,
      ownBits,
      syncLimit,
      syncInflateOutput,
      limiter: limiterFor(concurrency),
      deflateOptions: zlibOptions,
      compressFresh,
      inflateFresh,
      sharedDeflateKey: deflateKey,
      sharedInflateKey: `inflate/${inflate.windowBits}`,
      inflateOptions: inflate,
      pool: enginePool(deflateKey, maxContexts, () => new Engine(new DeflateRaw(zlibOptions))),
    };
    configs.set(key, config);
  }
  return config;
}

/**
 * Keeps the calls of one direction (compress or decompress) in order when some finish
 * later: while an asynchronous step runs, later calls wait, and run in order after it.
 */
class InOrder {
  #isHeld = false;
  /** Created on first use: most connections never wait. */
  #waiting: Array<() => void> | null = null;

  /** Whether a call may run now: nothing is running or waiting before it. */
  get isFree(): boolean {
    return !this.#isHeld && (this.#waiting === null || this.#waiting.length === 0);
  }

  wait(call: () => void): void {
    (this.#waiting ??= []).push(call);
  }

  /** An asynchronous step starts: calls wait until `release`. */
  hold(): void {
    this.#isHeld = true;
  }

  /** The step is done: runs the waiting calls in order until one holds again. */
  release(): void {
    this.#isHeld = false;
    const waiting = this.#waiting;
    while (!this.#isHeld && waiting !== null && waiting.length > 0) waiting.shift()!();
  }
}

// ---- The codec ------------------------------------------------------------------

/**
 * permessage-deflate for one connection, configured by the agreed parameters.
 *
 * @example
 * const codec = new PerMessageDeflate(negotiated.params, { role: 'server' });
 * const conn = new Connection({ role: 'server', compression: codec });
 */
export class PerMessageDeflate implements MessageCodec, EngineOwner {
  readonly params: DeflateParams;
  readonly #config: CodecConfig;
  /** The engine of a message in progress: a fragmented one, or one on the thread pool. */
  #compressing: Engine | null = null;
  /** Async compressions not yet finished. */
  #jobs = 0;
  #inflate: Engine | null = null;
  #isClosed = false;
  readonly #compressions = new InOrder();
  readonly #decompressions = new InOrder();

  /**
   * @param params The agreed parameters (`negotiate` or `acceptResponse`).
   * @param options The role, and the compression options.
   */
  constructor(params: DeflateParams, options: CodecOptions) {
    this.params = params;
    this.#config = configFor(params, options);
  }

  get threshold(): number {
    return this.#config.threshold;
  }

  /** @internal For the engine pool: whether this codec's engine is in use right now. */
  get isCompressing(): boolean {
    return this.#compressing !== null || this.#jobs > 0;
  }

  compress(data: Uint8Array, isFinal: boolean, callback: CodecCallback): void {
    if (this.#isClosed) return;
    if (this.#compressions.isFree) this.#compress(data, isFinal, callback);
    else this.#compressions.wait(() => this.#compress(data, isFinal, callback));
  }

  #compress(data: Uint8Array, isFinal: boolean, callback: CodecCallback): void {
    if (this.#isClosed) return;
    const config = this.#config;
    // Whole messages without context takeover need no state of their own; everything
    // else uses this connection's engine from the pool (kept while a message is open).
    const isShared = config.compressFresh && isFinal && this.#compressing === null;
    if (data.length <= config.syncLimit) {
      const engine = isShared ? sharedEngine(config.sharedDeflateKey, () => new DeflateRaw(config.deflateOptions)) : (this.#compressing ?? config.pool.acquire(this));
      let output: Buffer;
      try {
        const sink = new Sink(Infinity);
        engine.runSync(data, Z_SYNC_FLUSH, sink);
        output = sink.take();
      } catch (error) {
        engine.close();
        callback(new InternalError('compression failed', { cause: error }), EMPTY);
        return;
      }
      callback(null, this.#endCompress(engine, isShared, output, isFinal));
      return;
    }
    this.#jobs++;
    this.#compressions.hold();
    config.limiter.run((release) => {
      if (this.#isClosed) return release();
      const engine = isShared ? new Engine(new DeflateRaw(config.deflateOptions)) : (this.#compressing ?? config.pool.acquire(this));
      if (!isShared) this.#compressing = engine; // not to be taken from the pool meanwhile
      engine.runAsync([data], Z_SYNC_FLUSH, Infinity, (error, output) => {
        release();
        this.#jobs--;
        if (isShared || error !== null) engine.close();
        if (this.#isClosed) return;
        try {
          if (error !== null) callback(new InternalError('compression failed', { cause: error }), EMPTY);
          else callback(null, this.#endCompress(engine, isShared, output, isFinal));
        } finally {
          this.#compressions.release();
        }
      });
    });
  }

  /** Ends one compressed piece: at the end of a message, strips the tail and drops the context if agreed. */
  #endCompress(engine: Engine, isShared: boolean, output: Buffer, isFinal: boolean): Buffer {
    if (!isFinal) {
      this.#compressing = engine;
      return output;
    }
    this.#compressing = null;
    if (isShared) engine.reset();
    else if (this.#config.compressFresh) this.#config.pool.release(this); // after a fragmented message
    const length = output.length;
    // RFC 7692 §7.2.1: remove the 4 octets 0x00 0x00 0xff 0xff from the tail end; with
    // nothing new since the last flush, send the empty block's remaining 0x00.
    if (length >= 4 && output[length - 4] === 0 && output[length - 3] === 0 && output[length - 2] === 0xff && output[length - 1] === 0xff) {
      return output.subarray(0, length - 4);
    }
    return length === 0 ? EMPTY_BLOCK : output;
  }

  #inflater(): Engine {
    if (this.#inflate === null || !this.#inflate.isUsable) this.#inflate = new Engine(new InflateRaw(this.#config.inflateOptions));
    return this.#inflate;
  }

  decompress(data: Buffer, maxPayload: number, callback: CodecCallback): void {
    if (this.#isClosed) return;
    if (this.#decompressions.isFree) this.#decompress(data, maxPayload, callback);
    else this.#decompressions.wait(() => this.#decompress(data, maxPayload, callback));
  }

  #decompress(data: Buffer, maxPayload: number, callback: CodecCallback): void {
    if (this.#isClosed) return;
    // No valid compressed message is empty (the empty message is 0x00, RFC 7692
    // §7.2.3.6); some peers send one for an empty message anyway. Accept it without
    // feeding zlib a lone tail, which would leave it inside a stored block.
    if (data.length === 0) return callback(null, EMPTY);
    const config = this.#config;
    const limit = maxPayload > 0 ? maxPayload : Infinity;
    const isShared = config.inflateFresh;
    const bound = config.syncInflateOutput;
    if (data.length <= config.syncLimit && (limit <= bound || data.length * MAX_DEFLATE_RATIO <= bound)) {
      const engine = isShared ? sharedEngine(config.sharedInflateKey, () => new InflateRaw(config.inflateOptions)) : this.#inflater();
      let output: Buffer;
      try {
        const sink = new Sink(limit);
        // RFC 7692 §7.2.2: append 0x00 0x00 0xff 0xff to the payload, then inflate.
        const ended = engine.runSync(data, Z_SYNC_FLUSH, sink) || engine.runSync(TAIL, Z_SYNC_FLUSH, sink);
        output = sink.take();
        // After a block with BFINAL the peer starts a new stream with an empty window.
        if (isShared || ended) engine.reset();
      } catch (error) {
        if (isShared) engine.reset();
        else engine.close();
        callback(decompressError(error), EMPTY);
        return;
      }
      callback(null, output);
      return;
    }
    this.#decompressions.hold();
    config.limiter.run((release) => {
      if (this.#isClosed) return release();
      const engine = isShared ? new Engine(new InflateRaw(config.inflateOptions)) : this.#inflater();
      engine.runAsync([data, TAIL], Z_SYNC_FLUSH, limit, (error, output, ended) => {
        release();
        // A stream that ended cannot take more input: the next message gets a new one.
        if (isShared || ended || error !== null) engine.close();
        if (this.#isClosed) return;
        try {
          callback(error === null ? null : decompressError(error), output);
        } finally {
          // Also when a listener down the line threw: later messages still inflate.
          this.#decompressions.release();
        }
      });
    });
  }

  preparedFrame(message: BroadcastMessage): Uint8Array {
    const config = this.#config;
    if (!message.shouldCompress || message.payload.length < config.threshold) return message.frame;
    // The peer's window now holds the prepared message, which this end's deflate
    // context does not know about: start the next message from an empty window.
    if (!config.compressFresh) config.pool.reset(this);
    return compressedFrame(message, config.ownBits, config.deflateOptions);
  }

  close(): void {
    this.#isClosed = true;
    this.#compressing = null;
    this.#config.pool.release(this);
    this.#inflate?.close();
    this.#inflate = null;
  }
}

/** Maps what inflating threw to the close code it fails the connection with. */
function decompressError(error: unknown): WebSocketError {
  if (error instanceof MessageTooBigError) return error;
  // RFC 6455 §7.4.1: 1007, "data within a message that was not consistent with the
  // type of the message": a compressed message that does not inflate is such data.
  const reason = error instanceof Error ? error.message : String(error);
  return new InvalidDataError(`invalid compressed data: ${reason}`, ErrorCode.InvalidCompressedData, { cause: error });
}

// ---- Broadcast ------------------------------------------------------------------

/**
 * A message encoded once for many server-side peers (broadcast): `frame` is the
 * uncompressed server frame, written as is to peers without compression. For peers
 * that negotiated permessage-deflate the payload is compressed once per window size,
 * from an empty window, so the result is valid for every such peer: peers without
 * server context takeover take it as is; for peers with it, the connection starts its
 * next own message from an empty window (`preparedFrame` does so), since the peer's
 * window now holds this message. The node layer's `PreparedMessage` (`prepare()`)
 * implements this.
 */
export interface BroadcastMessage {
  /** The whole uncompressed frame as a server sends it. */
  readonly frame: Uint8Array;
  /** The message's payload. */
  readonly payload: Uint8Array;
  readonly isBinary: boolean;
  /** Whether it may be compressed at all (the sender's `compress` option). */
  readonly shouldCompress: boolean;
  /** Compressed frames by window bits, filled lazily here; null until the first. */
  compressedFrames: Map<number, Buffer> | null;
}

/** The compressed frame of `message` for a window of `bits`, computed once per size. */
function compressedFrame(message: BroadcastMessage, bits: number, options: ZlibOptions): Buffer {
  const frames = (message.compressedFrames ??= new Map());
  let frame = frames.get(bits);
  if (frame === undefined) {
    const opcode = message.isBinary ? Opcode.Binary : Opcode.Text;
    frame = encodeUnmasked(FIN | RSV1 | opcode, compressOnce(message.payload, options));
    frames.set(bits, frame);
  }
  return frame;
}

/** Compresses a whole message from an empty window, tail removed (public one-shot API: a broadcast compresses once). */
function compressOnce(data: Uint8Array, options: ZlibOptions): Buffer {
  const output = deflateRawSync(data, { ...options, finishFlush: Z_SYNC_FLUSH });
  // A fresh stream flushed after its input always ends with the tail.
  return output.subarray(0, output.length - 4);
}

function encodeUnmasked(firstByte: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(headerSize(payload.length, false) + payload.length);
  frame.set(payload, writeHeader(frame, 0, firstByte, payload.length, null));
  return frame;
}
