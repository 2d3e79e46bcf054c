/**
 * Incremental frame parser (RFC 6455 §5): bytes in any chunking, messages out.
 *
 * Named states in one loop, each returning early when too few bytes are buffered.
 * Chunks are kept in a list and consumed as views; a payload that arrives whole in one
 * chunk is unmasked in place and handed out without a copy, one that spans chunks is
 * joined into a buffer of its own (binary ones unmasked on the way). Everything the
 * first two bytes of a frame say is validated before anything else is read, and
 * `maxPayload` is enforced from the length field, before any payload is buffered.
 * After a close frame or a failure the parser discards all further input.
 */
import { decodeClosePayload } from './close.js';
import {
  ErrorCode,
  MessageTooBigError,
  InvalidDataError,
  ProtocolError,
  type WebSocketError,
  InternalError,
} from './errors.js';
import { FIN, LENGTH_16, LENGTH_64, MASK, MAX_CONTROL_PAYLOAD, Opcode, RSV1, RSV2, RSV3 } from './frame.js';
import { copyMasked, maskTextWithKey, maskWithKey, readMaskKey } from './mask.js';
import { isUtf8 } from 'node:buffer';
import { Utf8Validator } from './utf8.js';

/** Default largest message, in bytes (after decompression): 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * @internal `maxPayload` as given, or its default.
 * @throws {TypeError} unless it is a number; {RangeError} unless it is a non-negative one.
 */
export function maxPayloadOf(value: number | undefined): number {
  return limitOf('maxPayload', value, DEFAULT_MAX_PAYLOAD);
}

/**
 * @internal `fragmentOverhead` as given, or its default.
 * @throws {TypeError} unless it is a number; {RangeError} unless it is a non-negative one.
 */
export function fragmentOverheadOf(value: number | undefined): number {
  return limitOf('fragmentOverhead', value, DEFAULT_FRAGMENT_OVERHEAD);
}

function limitOf(name: string, value: number | undefined, fallback: number): number {
  const limit = value ?? fallback;
  // A string such as '1000' would compare as a number but add as a string.
  if (typeof limit !== 'number') throw new TypeError(`${name} must be a number, got ${typeof limit}`);
  if (!(limit >= 0)) throw new RangeError(`${name} must be a non-negative number, got ${limit}`);
  return limit;
}

/**
 * Default bytes a fragment after a message's first counts against `maxPayload`, apart
 * from its payload: a message may have at most `maxPayload / fragmentOverhead`
 * fragments after its first (16 384 under the default 1 MiB). A peer sending a message
 * as millions of tiny fragments costs the receiver far more than the payload bytes (one
 * header each, one piece each); the bound makes such floods fail early, while the
 * payload itself is held to `maxPayload` exactly: a message of `maxPayload` bytes in
 * 64-byte fragments fits (Autobahn 9.3/9.4).
 */
export const DEFAULT_FRAGMENT_OVERHEAD = 64;

/** What the parser reports. Methods are called synchronously from `receive`. */
export interface ParserHandler {
  /**
   * A complete data message. Text has been validated as UTF-8 unless `isCompressed`
   * (then the bytes are still deflated and validation is the inflater's caller's job).
   * `data` may be a view into a received chunk.
   */
  onMessage(data: Buffer, isBinary: boolean, isCompressed: boolean): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** A valid close frame; `code` is 1005 when it had no payload. Input after it is discarded. */
  onClose(code: number, reason: string, payload: Buffer): void;
  /** The peer broke the protocol; `error.closeCode` says how to fail. Input after it is discarded. */
  onError(error: WebSocketError): void;
}

export interface ParserOptions {
  /** `server` requires masked frames, `client` rejects them (RFC 6455 §5.1). */
  role: 'server' | 'client';
  /** Largest message in bytes; 0 means no limit. Default 1 MiB. */
  maxPayload?: number;
  /** What a fragment after the first counts against maxPayload; see DEFAULT_FRAGMENT_OVERHEAD. */
  fragmentOverhead?: number;
  /** Whether RSV1 may be set on the first frame of a data message (permessage-deflate). */
  allowRsv1?: boolean;
}

// Parser states.
const HEADER = 0;
const LENGTH16 = 1;
const LENGTH64 = 2;
const MASK_KEY = 3;
const PAYLOAD = 4;
const DONE = 5; // after a close frame or a failure: discard input

const EMPTY = Buffer.alloc(0);
/** What an idle parser holds instead of an array of its own (never written to). */
const NO_CHUNKS: Buffer[] = [];
/**
 * Node's Buffer class proper (`Buffer` itself is a factory function with the same
 * prototype). `new FastBuffer(arrayBuffer, offset, length)` makes a view without the
 * argument checks and species lookup of `Buffer#subarray`, which cost about as much as
 * parsing a small frame (ws makes its views the same way).
 */
const FastBuffer = (Buffer as unknown as { [Symbol.species]: new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Buffer })[
  Symbol.species
];
/**
 * Bytes of a header or length split across chunks are gathered here. Shared by all
 * parsers (parsing is synchronous and each use ends before any handler runs), so that
 * an idle connection does not carry a buffer of its own.
 */
const SCRATCH = Buffer.alloc(8);
const MAX_SAFE_LENGTH = Number.MAX_SAFE_INTEGER;

/**
 * @internal The most bytes a message of `size` bytes takes compressed, which the parser
 * lets a compressed message have: zlib's deflateBound for raw deflate, and some bytes
 * for the empty blocks that end fragments flushed one by one.
 */
export function compressedBound(size: number): number {
  return size + Math.floor(size / 4096) + Math.floor(size / 16384) + 64;
}

/**
 * Incremental WebSocket frame parser and message assembler.
 *
 * @example
 * const parser = new FrameParser({ role: 'server' }, handler);
 * socket.on('data', (chunk) => parser.receive(chunk));
 */
export class FrameParser {
  readonly #handler: ParserHandler;
  readonly #isServer: boolean;
  readonly #maxPayload: number;
  readonly #fragmentOverhead: number;
  #allowRsv1: boolean;

  // Buffered input: chunks[0] is read from #offset.
  #chunks: Buffer[] = NO_CHUNKS; // an array of its own once input arrives
  #offset = 0;
  #buffered = 0;

  #state = HEADER;
  #paused = false;
  /** True while a handler runs: what it throws is the application's, not a parser bug. */
  #inHandler = false;
  #running = false;

  // The frame being read.
  #fin = false;
  #opcode = 0;
  /** The frame's masking key as one number (see readMaskKey). */
  #maskKey = 0;
  #payloadLength = 0;
  #payloadRead = 0;

  // The message being assembled (data frames only).
  #messageOpcode = 0; // 0: no message open
  #isCompressed = false;
  #messageLength = 0;
  /** Frames of the message after its first. */
  #continuations = 0;
  /** The message's first piece; most messages have only this one (no array per message). */
  #firstPart: Buffer | null = null;
  /** Its further pieces, if any. */
  #moreParts: Buffer[] | null = null;
  /**
   * The parts are still masked, with #maskKey, and are unmasked while being joined: a
   * binary (or compressed) message of one frame that spans chunks. Text is unmasked
   * piece by piece instead, to be validated as it arrives.
   */
  #isMaskDeferred = false;
  /** Bytes of received chunks that views in the parts keep alive beyond their own. */
  #pinnedBytes = 0;
  /**
   * Validates text that arrives in more than one piece; created at the first such
   * message (a text message in one piece is checked by one isUtf8 call).
   */
  #utf8: Utf8Validator | null = null;

  constructor(options: ParserOptions, handler: ParserHandler) {
    this.#handler = handler;
    this.#isServer = options.role === 'server';
    const maxPayload = maxPayloadOf(options.maxPayload);
    this.#maxPayload = maxPayload === 0 ? Infinity : maxPayload;
    this.#fragmentOverhead = fragmentOverheadOf(options.fragmentOverhead);
    this.#allowRsv1 = options.allowRsv1 ?? false;
  }

  /** Whether RSV1 (permessage-deflate) is accepted; set once the extension is negotiated. */
  set allowRsv1(value: boolean) {
    this.#allowRsv1 = value;
  }

  /** True once a close frame was parsed or the peer failed: further input is ignored. */
  get isDone(): boolean {
    return this.#state === DONE;
  }

  /**
   * Bytes received and not yet parsed: held while paused, or an incomplete frame header
   * or control frame. The payload of a data frame is parsed as it arrives and is not
   * counted (a message's pieces are held until it is complete, up to `maxPayload`).
   */
  get bufferedAmount(): number {
    return this.#buffered;
  }

  /**
   * Stops delivering events after the current one; input keeps being buffered.
   * Used while an asynchronous step (inflating a message) must finish first.
   */
  pause(): void {
    this.#paused = true;
  }

  /** Resumes after `pause`, processing what was buffered meanwhile. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#running && this.#state !== DONE) this.#run();
  }

  /** Feeds received bytes. Events are delivered synchronously to the handler. */
  receive(bytes: Buffer | Uint8Array): void {
    if (this.#state === DONE || bytes.length === 0) return;
    // The parser reads with Buffer's methods: a Uint8Array (from a Web stream, say) is
    // viewed as one, without a copy.
    const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.#chunks === NO_CHUNKS) this.#chunks = [chunk];
    else this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (!this.#paused && !this.#running) this.#run();
  }

  /** Discards all buffered input and stops parsing. */
  stop(): void {
    this.#state = DONE;
    this.#chunks = NO_CHUNKS;
    this.#buffered = 0;
    this.#offset = 0;
    this.#firstPart = null;
    this.#moreParts = null;
    this.#isMaskDeferred = false;
    this.#pinnedBytes = 0;
  }

  #run(): void {
    this.#running = true;
    try {
      this.#loop();
    } catch (error) {
      if (this.#inHandler) {
        // Thrown by the application's listener, not by the parser: it is the caller's to
        // see (an uncaught exception, as with any EventEmitter). The parser's state is
        // consistent: the event was consumed before the handler ran. The frames buffered
        // after it are parsed in a microtask, once the exception has been reported: an
        // application that survives it loses nothing, nor waits for the peer's next bytes.
        this.#inHandler = false;
        queueMicrotask(() => {
          if (!this.#paused && !this.#running && this.#state !== DONE) this.#run();
        });
        throw error;
      }
      // A bug, not a peer violation: never let it escape into the I/O layer.
      this.#fail(new InternalError('internal error while parsing', { cause: error }));
    } finally {
      this.#running = false;
    }
  }

  #loop(): void {
    while (!this.#paused) {
      switch (this.#state) {
        case HEADER:
          if (this.#buffered < 2 || !this.#readHeader()) return;
          break;
        case LENGTH16: {
          if (this.#buffered < 2) return;
          const bytes = this.#read(2);
          this.#payloadLength = (bytes[0]! << 8) | bytes[1]!;
          if (!this.#haveLength()) return;
          break;
        }
        case LENGTH64: {
          if (this.#buffered < 8) return;
          const bytes = this.#read(8);
          const high = bytes.readUInt32BE(0);
          // RFC 6455 §5.2: the most significant bit MUST be 0.
          if (high > 0x7fffffff) {
            this.#fail(new ProtocolError('64-bit payload length has the most significant bit set', ErrorCode.InvalidLength));
            return;
          }
          const length = high * 0x100000000 + bytes.readUInt32BE(4);
          if (length > MAX_SAFE_LENGTH) {
            this.#fail(new MessageTooBigError(`payload length ${length} exceeds 2^53-1 bytes`));
            return;
          }
          this.#payloadLength = length;
          if (!this.#haveLength()) return;
          break;
        }
        case MASK_KEY: {
          if (this.#buffered < 4) return;
          this.#maskKey = readMaskKey(this.#read(4), 0);
          this.#state = PAYLOAD;
          break;
        }
        case PAYLOAD:
          if (!this.#readPayload()) return;
          break;
        default:
          return;
      }
    }
  }

  /**
   * Reads and validates the first two bytes; when the whole header is in the first
   * chunk (the usual case) reads the extended length and mask too, without copying.
   */
  #readHeader(): boolean {
    const chunk = this.#chunks[0]!;
    let offset = this.#offset;
    let b0: number;
    let b1: number;
    const available = chunk.length - offset;
    if (available >= 2) {
      b0 = chunk[offset]!;
      b1 = chunk[offset + 1]!;
    } else {
      const bytes = this.#peek(2);
      b0 = bytes[0]!;
      b1 = bytes[1]!;
    }
    const fin = (b0 & FIN) !== 0;
    const opcode = b0 & 0x0f;
    const rsv1 = (b0 & RSV1) !== 0;
    const masked = (b1 & MASK) !== 0;
    const length7 = b1 & 0x7f;

    // RFC 6455 §5.2: RSV bits MUST be 0 unless an extension defining them was negotiated.
    if ((b0 & (RSV2 | RSV3)) !== 0 || (rsv1 && !this.#allowRsv1)) {
      this.#fail(new ProtocolError(`reserved bits set (0x${(b0 & 0x70).toString(16)}) without a negotiated extension`, ErrorCode.UnexpectedRsv));
      return false;
    }
    if (opcode >= Opcode.Close) {
      // RFC 6455 §5.2: opcodes 0xB-0xF are reserved for further control frames.
      if (opcode > Opcode.Pong) {
        this.#fail(new ProtocolError(`reserved opcode 0x${opcode.toString(16)}`, ErrorCode.InvalidOpcode));
        return false;
      }
      // RFC 6455 §5.5: control frames MUST NOT be fragmented.
      if (!fin) {
        this.#fail(new ProtocolError('fragmented control frame', ErrorCode.FragmentedControlFrame));
        return false;
      }
      // RFC 7692 §6.1: RSV1 is only meaningful on the first frame of a data message.
      if (rsv1) {
        this.#fail(new ProtocolError('RSV1 set on a control frame', ErrorCode.UnexpectedRsv));
        return false;
      }
      // RFC 6455 §5.5: control frames MUST have a payload length of 125 bytes or less.
      if (length7 > MAX_CONTROL_PAYLOAD) {
        this.#fail(new ProtocolError('control frame payload longer than 125 bytes', ErrorCode.ControlFrameTooLong));
        return false;
      }
    } else if (opcode === Opcode.Continuation) {
      if (this.#messageOpcode === 0) {
        this.#fail(new ProtocolError('continuation frame without a message to continue', ErrorCode.UnexpectedContinuation));
        return false;
      }
      // RFC 7692 §6.1: RSV1 set on a continuation frame is an error.
      if (rsv1) {
        this.#fail(new ProtocolError('RSV1 set on a continuation frame', ErrorCode.UnexpectedRsv));
        return false;
      }
    } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      // RFC 6455 §5.4: a fragmented message's frames after the first are continuations.
      if (this.#messageOpcode !== 0) {
        this.#fail(new ProtocolError('new data frame while a fragmented message is open', ErrorCode.ExpectedContinuation));
        return false;
      }
    } else {
      // RFC 6455 §5.2: opcodes 0x3-0x7 are reserved for further non-control frames.
      this.#fail(new ProtocolError(`reserved opcode 0x${opcode.toString(16)}`, ErrorCode.InvalidOpcode));
      return false;
    }
    // RFC 6455 §5.1: a server MUST close on an unmasked frame; a client on a masked one.
    if (masked !== this.#isServer) {
      this.#fail(
        this.#isServer
          ? new ProtocolError('received an unmasked frame: client frames must be masked', ErrorCode.ExpectedMask)
          : new ProtocolError('received a masked frame: server frames must not be masked', ErrorCode.UnexpectedMask),
      );
      return false;
    }

    this.#fin = fin;
    this.#opcode = opcode;
    if (opcode !== Opcode.Continuation && opcode < Opcode.Close) this.#isCompressed = rsv1;

    // Fast path: the whole header is in the first chunk.
    const extended = length7 === LENGTH_16 ? 2 : length7 === LENGTH_64 ? 8 : 0;
    const headerLength = 2 + extended + (masked ? 4 : 0);
    if (available >= headerLength && extended !== 8) {
      offset += 2;
      if (extended === 2) {
        this.#payloadLength = (chunk[offset]! << 8) | chunk[offset + 1]!;
        offset += 2;
      } else {
        this.#payloadLength = length7;
      }
      if (masked) this.#maskKey = readMaskKey(chunk, offset);
      this.#skip(headerLength);
      if (!this.#checkLength()) return false;
      this.#payloadRead = 0;
      this.#state = PAYLOAD;
      return true;
    }
    this.#skip(2);
    if (extended === 2) {
      this.#state = LENGTH16;
      return true;
    }
    if (extended === 8) {
      this.#state = LENGTH64;
      return true;
    }
    this.#payloadLength = length7;
    return this.#haveLength();
  }

  /** Called once the payload length is known: checks limits, moves on to mask or payload. */
  #haveLength(): boolean {
    if (!this.#checkLength()) return false;
    this.#payloadRead = 0;
    // Frames are masked exactly when this is a server (checked in #readHeader).
    this.#state = this.#isServer ? MASK_KEY : PAYLOAD;
    return true;
  }

  /** Enforces maxPayload from the length field, before any payload byte is buffered. */
  #checkLength(): boolean {
    if (this.#opcode >= Opcode.Close) return true; // control frames: at most 125 bytes
    const total = this.#messageLength + this.#payloadLength;
    if (total > this.#maxPayload) {
      // maxPayload bounds the message after inflating (checked as it inflates); its
      // compressed form may be a little larger, as incompressible data grows.
      if (!this.#isCompressed || total > compressedBound(this.#maxPayload)) {
        const what = this.#isCompressed ? 'compressed payload' : 'payload';
        this.#fail(new MessageTooBigError(`${what} of ${total} bytes exceeds maxPayload ${this.#maxPayload}`));
        return false;
      }
    }
    if (this.#opcode !== Opcode.Continuation) {
      this.#messageOpcode = this.#opcode;
      return true;
    }
    // Fragments after the first count fragmentOverhead each (see DEFAULT_FRAGMENT_OVERHEAD).
    const continuations = this.#continuations + 1;
    if (continuations * this.#fragmentOverhead > this.#maxPayload) {
      this.#fail(
        new MessageTooBigError(
          `message of ${total} bytes in ${continuations + 1} fragments exceeds maxPayload ${this.#maxPayload} with ${this.#fragmentOverhead} bytes counted per fragment after the first`,
        ),
      );
      return false;
    }
    this.#continuations = continuations;
    return true;
  }

  /** Consumes payload bytes. Returns false when more input is needed or parsing stopped. */
  #readPayload(): boolean {
    const opcode = this.#opcode;
    if (opcode >= Opcode.Close) {
      // Control frames (at most 125 bytes) are taken whole.
      const length = this.#payloadLength;
      if (this.#buffered < length) return false;
      let payload = length === 0 ? EMPTY : this.#read(length);
      // Up to 8 bytes split across chunks come back in the scratch buffer, which the next
      // header read overwrites: copy them, since handlers may keep the payload.
      if (payload.buffer === SCRATCH.buffer) payload = Buffer.from(payload);
      if (this.#isServer && length > 0) maskWithKey(payload, this.#maskKey, 0, length, 0);
      this.#state = HEADER;
      this.#control(opcode, payload);
      return this.#state !== DONE;
    }

    // Data frames are consumed piece by piece as they arrive, so that text can be
    // validated fail-fast (RFC 6455 §8.1) before the frame is complete.
    while (this.#payloadRead < this.#payloadLength) {
      if (this.#buffered === 0) return false;
      const chunk = this.#chunks[0]!;
      const start = this.#offset;
      const take = Math.min(this.#payloadLength - this.#payloadRead, chunk.length - start);
      const isText = this.#messageOpcode === Opcode.Text && !this.#isCompressed;
      // Text unmasked here is also checked for ASCII on the way (see maskTextWithKey).
      let isAscii = false;
      if (this.#isServer) {
        if (isText) {
          isAscii = maskTextWithKey(chunk, this.#maskKey, start, take, this.#payloadRead);
        } else if (this.#fin && this.#opcode !== Opcode.Continuation && (this.#payloadRead > 0 || take < this.#payloadLength)) {
          // A binary frame that is the whole message but spans chunks is unmasked once,
          // while its pieces are joined (one pass over the bytes instead of two).
          this.#isMaskDeferred = true;
        } else {
          maskWithKey(chunk, this.#maskKey, start, take, this.#payloadRead);
        }
      }
      let piece = start === 0 && take === chunk.length ? chunk : new FastBuffer(chunk.buffer, chunk.byteOffset + start, take);
      this.#skip(take);
      this.#payloadRead += take;
      this.#messageLength += take;
      if (isText) {
        // A text message that arrives whole in one piece (the usual case) is checked by
        // one native call, without the carry analysis of a streamed one, or not at all
        // when unmasking found it ASCII. If that fails, the streaming validator runs on
        // the piece too, so that the failure is reported exactly as for any other message.
        const isWhole = this.#fin && take === this.#messageLength && this.#payloadRead === this.#payloadLength;
        if (!(isWhole && (isAscii || isUtf8(piece))) && !(this.#utf8 ??= new Utf8Validator()).push(piece)) {
          this.#fail(new InvalidDataError('text message is not valid UTF-8'));
          return false;
        }
      }
      if (piece !== chunk && (!this.#fin || this.#payloadRead < this.#payloadLength)) {
        // A view kept until a later chunk completes the message pins its whole chunk: a
        // peer sending tiny fragments at the ends of large chunks would make a message
        // hold memory many times maxPayload. Views may pin up to maxPayload bytes
        // beyond the message's own; past that, kept pieces are copied.
        const pinned = chunk.length - take;
        if (this.#pinnedBytes + pinned > this.#maxPayload) piece = copyUnpooled(piece);
        else this.#pinnedBytes += pinned;
      }
      if (this.#firstPart === null) this.#firstPart = piece;
      else (this.#moreParts ??= []).push(piece);
    }
    this.#state = HEADER;
    if (this.#fin) this.#message();
    return this.#state !== DONE;
  }

  /** Delivers the assembled message and resets for the next one. */
  #message(): void {
    const isBinary = this.#messageOpcode === Opcode.Binary;
    const isCompressed = this.#isCompressed;
    if (!isBinary && !isCompressed && this.#utf8 !== null && !this.#utf8.end()) {
      this.#fail(new InvalidDataError('text message ends inside a UTF-8 sequence'));
      return;
    }
    const first = this.#firstPart;
    const more = this.#moreParts;
    let data: Buffer;
    if (first === null) data = EMPTY;
    else if (this.#isMaskDeferred) {
      // One frame: each part's offset in the message is its position in the frame's key.
      const key = this.#maskKey;
      data = Buffer.allocUnsafe(this.#messageLength);
      copyMasked(first, 0, first.length, key, 0, data, 0);
      let offset = first.length;
      for (let i = 0; more !== null && i < more.length; i++) {
        const part = more[i]!;
        copyMasked(part, 0, part.length, key, offset, data, offset);
        offset += part.length;
      }
    } else if (more === null) data = first;
    else {
      // One copy into a buffer of the exact size, the only copy on the read path.
      data = Buffer.allocUnsafe(this.#messageLength);
      data.set(first, 0);
      let offset = first.length;
      for (let i = 0; i < more.length; i++) {
        const part = more[i]!;
        data.set(part, offset);
        offset += part.length;
      }
    }
    this.#firstPart = null;
    this.#moreParts = null;
    this.#isMaskDeferred = false;
    this.#pinnedBytes = 0;
    this.#messageOpcode = 0;
    this.#messageLength = 0;
    this.#continuations = 0;
    this.#isCompressed = false;
    this.#inHandler = true;
    this.#handler.onMessage(data, isBinary, isCompressed);
    this.#inHandler = false;
  }

  #control(opcode: number, payload: Buffer): void {
    if (opcode !== Opcode.Close) {
      this.#inHandler = true;
      if (opcode === Opcode.Ping) this.#handler.onPing(payload);
      else this.#handler.onPong(payload);
      this.#inHandler = false;
      return;
    }
    let close;
    try {
      close = decodeClosePayload(payload);
    } catch (error) {
      this.#fail(error as WebSocketError);
      return;
    }
    // RFC 6455 §5.5.1: after a close frame the endpoint sends and processes no data.
    this.stop();
    this.#inHandler = true;
    this.#handler.onClose(close.code, close.reason, payload);
    this.#inHandler = false;
  }

  #fail(error: WebSocketError): void {
    this.stop();
    this.#inHandler = true;
    this.#handler.onError(error);
    this.#inHandler = false;
  }

  /** Advances past `n` buffered bytes. */
  #skip(n: number): void {
    this.#buffered -= n;
    while (n > 0) {
      const chunk = this.#chunks[0]!;
      const available = chunk.length - this.#offset;
      if (n < available) {
        this.#offset += n;
        return;
      }
      n -= available;
      this.#chunks.shift();
      this.#offset = 0;
    }
  }

  /** Returns the next `n` buffered bytes without consuming them (n ≤ 8). */
  #peek(n: number): Buffer {
    const out = SCRATCH;
    let index = 0;
    let offset = this.#offset;
    for (let c = 0; index < n; c++) {
      const chunk = this.#chunks[c]!;
      while (offset < chunk.length && index < n) out[index++] = chunk[offset++]!;
      offset = 0;
    }
    return out;
  }

  /**
   * Consumes the next `n` bytes: a view when they are in one chunk, else a copy.
   * Views of 8 bytes or less use the scratch buffer and are only valid until the next read.
   */
  #read(n: number): Buffer {
    const chunk = this.#chunks[0]!;
    const start = this.#offset;
    if (chunk.length - start >= n) {
      const view = new FastBuffer(chunk.buffer, chunk.byteOffset + start, n);
      this.#skip(n);
      return view;
    }
    const out = n <= 8 ? SCRATCH : Buffer.allocUnsafe(n);
    let index = 0;
    while (index < n) {
      const head = this.#chunks[0]!;
      const take = Math.min(n - index, head.length - this.#offset);
      head.copy(out, index, this.#offset, this.#offset + take);
      index += take;
      this.#skip(take);
    }
    return n <= 8 ? out.subarray(0, n) : out;
  }
}

/**
 * Copies `bytes` into a buffer of their own. `Buffer.from` would take small copies from
 * Node's shared 8 KiB pool, and a kept 1-byte copy would then pin a whole pool slab.
 */
function copyUnpooled(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}
