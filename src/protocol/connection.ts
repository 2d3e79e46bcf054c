/**
 * The WebSocket state machine for one endpoint (RFC 6455 §4–§7), without I/O.
 *
 * Feed it received bytes with `receive`; it reports messages, pings, pongs and
 * failures to its handler, answers pings, runs the close handshake both ways, and hands
 * every byte to send to `handler.write` in order. `handler.end` says when the transport
 * should be closed (RFC 6455 §7.1.1: the server closes TCP first). When the transport
 * is gone the caller reports it with `transportClosed()`, which yields the final
 * `{ code, reason, wasClean }`.
 *
 * Without a handler, events and output are queued for `takeEvents` and `takeOutput`,
 * which is how the tests (and anyone driving the core by hand) use it.
 */
import { CloseCode, MAX_CLOSE_REASON_BYTES, encodeClosePayload } from './close.js';
import type { BroadcastMessage, MessageCodec } from './deflate-codec.js';
import { InvalidDataError, InvalidStateError, type WebSocketError } from './errors.js';
import { FIN, Opcode, RSV1, checkControlPayload, encodeFrame, randomMask, type MaskGenerator } from './frame.js';
import { FrameParser, fragmentOverheadOf, maxPayloadOf, type ParserHandler } from './parser.js';
import { isValidUtf8 } from './utf8.js';

/** Connection states, with the numbers of the WHATWG `readyState`. */
export const ReadyState = {
  CONNECTING: 0,
  OPEN: 1,
  CLOSING: 2,
  CLOSED: 3,
} as const;
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];

/** How a connection ended. 1005 and 1006 are synthesised locally and never sent. */
export interface CloseInfo {
  /** The code of the peer's close frame, 1005 if it had none, 1006 if none was received. */
  code: number;
  reason: string;
  /** True when both close frames were exchanged before the transport closed. */
  wasClean: boolean;
}

/** Receives what a connection produces. Called synchronously. */
export interface ConnectionHandler {
  onMessage(data: Buffer, isBinary: boolean): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** The peer's close frame arrived (`code` 1005 when it had no code). */
  onClosing(code: number, reason: string): void;
  /** The peer broke the protocol; a close frame with `error.closeCode` has been queued. */
  onError(error: WebSocketError): void;
  /** Bytes to send, in order. The buffer may be reused by the caller only after it was written. */
  write(data: Uint8Array): void;
  /** Close the transport after the bytes already written (a TCP FIN). */
  end(): void;
  /**
   * Stop reading from the transport for now: a received message is being inflated
   * asynchronously and input is only buffered meanwhile. Optional.
   */
  pauseReading?(): void;
  /** Reading may go on after `pauseReading`. Optional. */
  resumeReading?(): void;
  /**
   * Called before an automatic pong is written; returning true holds it back because
   * the transport is backed up (the peer is not reading what is sent). The connection
   * then keeps only the most recent ping's payload, and the caller calls
   * `writeDeferredPong()` once the transport takes data again. Optional: without it
   * every ping is answered at once.
   */
  deferPong?(): boolean;
}

/** One event of a queued connection (see `takeEvents`). */
export type ConnectionEvent =
  | { type: 'message'; data: Buffer; isBinary: boolean }
  | { type: 'ping'; data: Buffer }
  | { type: 'pong'; data: Buffer }
  | { type: 'closing'; code: number; reason: string }
  | { type: 'error'; error: WebSocketError }
  | { type: 'end' };

export interface ConnectionOptions {
  /** `server` expects masked frames and sends unmasked ones; `client` the reverse. */
  role: 'server' | 'client';
  /** Largest message in bytes; 0 means no limit. Default 1 MiB. */
  maxPayload?: number;
  /** What each fragment after a message's first counts against maxPayload, apart from the payload (see DEFAULT_FRAGMENT_OVERHEAD). Default 64. */
  fragmentOverhead?: number;
  /** Source of masking keys for client frames; default the CSPRNG. */
  generateMask?: MaskGenerator;
  /** Answer pings with pongs automatically. Default true. */
  autoPong?: boolean;
  /**
   * permessage-deflate, once negotiated (RFC 7692): RSV1 is accepted, compressed
   * messages are inflated, and sent messages are compressed. See deflate-codec.ts.
   */
  compression?: MessageCodec;
}

/**
 * The options of `ConnectionOptions` that do not change from one connection to the
 * next, resolved once. A server gives the same instance to every connection it accepts,
 * so an idle connection carries one reference instead of a copy of each setting.
 */
export class ConnectionSettings {
  readonly isServer: boolean;
  readonly maxPayload: number;
  readonly fragmentOverhead: number;
  readonly generateMask: MaskGenerator;
  readonly autoPong: boolean;

  /**
   * @throws {TypeError} when `role` is neither 'server' nor 'client'.
   * @throws {TypeError} when `maxPayload` or `fragmentOverhead` is not a number.
   * @throws {RangeError} when `maxPayload` or `fragmentOverhead` is negative or NaN.
   */
  constructor(options: Omit<ConnectionOptions, 'compression'>) {
    if (options.role !== 'server' && options.role !== 'client') throw new TypeError(`role must be 'server' or 'client', got ${String(options.role)}`);
    this.isServer = options.role === 'server';
    // Checked here, not at the first received bytes (where the parser is made).
    this.maxPayload = maxPayloadOf(options.maxPayload);
    this.fragmentOverhead = fragmentOverheadOf(options.fragmentOverhead);
    this.generateMask = options.generateMask ?? randomMask;
    this.autoPong = options.autoPong ?? true;
    Object.freeze(this);
  }
}

// Bits of Connection's #flags.
const CLOSE_SENT = 1;
/** The close frame has been handed to the handler (it may wait behind a compression after CLOSE_SENT). */
const CLOSE_WRITTEN = 2;
const FAILED = 4;
const ENDED = 8;

/** Outgoing work waiting behind an asynchronous compression, in order. */
type SendJob =
  | { kind: 'data'; firstByte: number; data: string | Uint8Array; isFinal: boolean; size: number }
  | { kind: 'raw'; bytes: Uint8Array }
  | { kind: 'prepared'; message: BroadcastMessage }
  | { kind: 'close'; payload: Buffer }
  | { kind: 'callback'; callback: (error?: Error) => void };

const EMPTY = Buffer.alloc(0);

/** Bytes a framed send adds to `queuedBytes` while it waits behind a compression (data jobs count from the start, until written). */
function waitingSize(job: SendJob): number {
  return job.kind === 'raw' ? job.bytes.length : job.kind === 'prepared' ? job.message.frame.length : 0;
}

/**
 * Queues events and output when a connection is driven by hand.
 */
class QueueHandler implements ConnectionHandler {
  events: ConnectionEvent[] = [];
  output: Uint8Array[] = [];
  ended = false;
  onMessage(data: Buffer, isBinary: boolean): void {
    this.events.push({ type: 'message', data, isBinary });
  }
  onPing(data: Buffer): void {
    this.events.push({ type: 'ping', data });
  }
  onPong(data: Buffer): void {
    this.events.push({ type: 'pong', data });
  }
  onClosing(code: number, reason: string): void {
    this.events.push({ type: 'closing', code, reason });
  }
  onError(error: WebSocketError): void {
    this.events.push({ type: 'error', error });
  }
  write(data: Uint8Array): void {
    this.output.push(data);
  }
  end(): void {
    this.ended = true;
    this.events.push({ type: 'end' });
  }
}

/**
 * The send state of a connection that negotiated permessage-deflate: a compression may
 * complete later (on the thread pool), and the sends after it wait in order. A
 * connection without compression has none of it (memory per idle connection).
 */
class DeflateSends {
  /** Sends waiting behind an asynchronous compression; null when nothing waits. */
  queue: SendJob[] | null = null;
  /** Bytes of data waiting in `queue` or being compressed. */
  queuedBytes = 0;
  /** Bumped when queued sends are discarded, so that late compressions are dropped. */
  epoch = 0;
  /** Whether the outgoing fragmented message is being compressed. */
  compressingMessage = false;

  constructor(readonly codec: MessageCodec) {}
}

/**
 * One WebSocket endpoint's protocol state.
 *
 * @example
 * const conn = new Connection({ role: 'server' });
 * conn.receive(bytesFromPeer);
 * for (const event of conn.takeEvents()) ...;
 * socket.write(conn.takeOutput());
 */
export class Connection implements ParserHandler {
  // An idle connection is mostly this object: its fields are kept few (settings shared,
  // booleans in one bit set, the parser made when the first bytes arrive, the state of
  // compressed sends only with compression).
  readonly #handler: ConnectionHandler;
  readonly #settings: ConnectionSettings;
  /** Null unless permessage-deflate was negotiated. */
  readonly #deflate: DeflateSends | null;
  #parser: FrameParser | null = null;

  #state: ReadyState = ReadyState.OPEN;
  /** CLOSE_SENT, CLOSE_WRITTEN, FAILED, ENDED. */
  #flags = 0;
  #closeReceived: { code: number; reason: string } | null = null;
  #closeInfo: CloseInfo | null = null;
  /** Opcode of an outgoing fragmented message, 0 when none is open. */
  #sendingOpcode = 0;
  /** Payload of the most recent ping, whose pong waits for the transport to drain; null when none waits. */
  #deferredPong: Buffer | null = null;

  /**
   * @param options the role and limits, or settings shared with other connections
   *   (then `compression` is given on its own)
   * @param handler receives events and output; without one they are queued (see `takeEvents`)
   */
  constructor(options: ConnectionOptions | ConnectionSettings, handler?: ConnectionHandler, compression?: MessageCodec | null) {
    this.#handler = handler ?? new QueueHandler();
    if (options instanceof ConnectionSettings) {
      this.#settings = options;
      compression ??= null;
    } else {
      this.#settings = new ConnectionSettings(options);
      compression = options.compression ?? null;
    }
    this.#deflate = compression === null ? null : new DeflateSends(compression);
  }

  #createParser(): FrameParser {
    const settings = this.#settings;
    const parser = new FrameParser(
      {
        role: settings.isServer ? 'server' : 'client',
        maxPayload: settings.maxPayload,
        fragmentOverhead: settings.fragmentOverhead,
        // RFC 7692 §6: RSV1 marks a compressed message once the extension is negotiated.
        allowRsv1: this.#deflate !== null,
      },
      this,
    );
    // A connection that failed or closed before its first bytes reads nothing more.
    if ((this.#flags & FAILED) !== 0 || this.#state === ReadyState.CLOSED) parser.stop();
    this.#parser = parser;
    return parser;
  }

  /** CONNECTING, OPEN, CLOSING or CLOSED (the WHATWG numbers). */
  get readyState(): ReadyState {
    return this.#state;
  }

  /** How the connection ended, once CLOSED; null before. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /** The parser, for extensions that need to pause it or allow RSV bits. */
  get parser(): FrameParser {
    return this.#parser ?? this.#createParser();
  }

  /** Whether a close frame has been sent, or queued behind a compression to be sent next. */
  get closeSent(): boolean {
    return (this.#flags & CLOSE_SENT) !== 0;
  }

  /** The peer's close frame, once received. */
  get closeReceived(): { code: number; reason: string } | null {
    return this.#closeReceived;
  }

  /**
   * Whether the caller should expect the transport to close soon and arm a timer for
   * it: a close frame has been sent or received (or the peer failed), so the connection
   * is waiting for the peer's close frame or for the TCP connection to end.
   */
  closeExpected(): boolean {
    return this.#state === ReadyState.CLOSING;
  }

  /** Feeds bytes received from the peer. Never throws for anything the peer sends. */
  receive(chunk: Buffer | Uint8Array): void {
    if (this.#state === ReadyState.CLOSED) return;
    (this.#parser ?? this.#createParser()).receive(chunk);
  }

  /**
   * Sends a text message. A string is encoded as UTF-8 straight into the frame; a
   * Buffer is sent as is and must be valid UTF-8. Compressed when permessage-deflate
   * was negotiated and the message reaches its threshold.
   *
   * @throws {InvalidStateError} if the connection is not OPEN.
   */
  sendText(data: string | Uint8Array, isFinal = true): void {
    this.#sendData(Opcode.Text, data, isFinal, false, true);
  }

  /**
   * Sends a binary message (or a fragment of one when `isFinal` is false), compressed
   * as `sendText` is.
   *
   * @throws {InvalidStateError} if the connection is not OPEN.
   */
  sendBinary(data: Uint8Array, isFinal = true): void {
    this.#sendData(Opcode.Binary, data, isFinal, false, true);
  }

  /**
   * Sends a message or fragment, compressing it when permessage-deflate was
   * negotiated, `compress` is true and the message reaches the threshold. Whether a
   * fragmented message is compressed is decided at its first fragment (RFC 7692 §6.1:
   * RSV1 is set on the first frame only).
   *
   * @throws {InvalidStateError} if the connection is not OPEN.
   */
  sendMessage(isBinary: boolean, data: string | Uint8Array, isFinal = true, compress = true): void {
    this.#sendData(isBinary ? Opcode.Binary : Opcode.Text, data, isFinal, false, compress);
  }

  /**
   * Sends a data frame with full control: `isCompressed` sets RSV1 on the first frame
   * of the message (permessage-deflate has already compressed `data`).
   *
   * @throws {InvalidStateError} if the connection is not OPEN.
   */
  sendData(isBinary: boolean, data: string | Uint8Array, isFinal: boolean, isCompressed: boolean): void {
    this.#sendData(isBinary ? Opcode.Binary : Opcode.Text, data, isFinal, isCompressed, false);
  }

  /**
   * Writes already-encoded frames as they are (a prepared broadcast message).
   * Only valid for the server role, whose frames are not masked.
   *
   * @throws {InvalidStateError} if the connection is not OPEN, is a client, or a message is half sent.
   */
  sendEncoded(frames: Uint8Array): void {
    if (!this.#settings.isServer) throw new InvalidStateError('encoded frames are sent as they are, unmasked: only a server can send them');
    if (this.#state !== ReadyState.OPEN) throw this.#notOpen('send');
    if (this.#sendingOpcode !== 0) throw new InvalidStateError('cannot send a prepared message while a fragmented message is being sent');
    this.#send({ kind: 'raw', bytes: frames });
  }

  /**
   * Sends a message prepared once for many peers (broadcast, see `BroadcastMessage`):
   * compressed when this connection negotiated permessage-deflate. Server role only.
   *
   * @throws {InvalidStateError} if the connection is not OPEN, is a client, or a
   *   fragmented message is half sent.
   */
  sendPrepared(message: BroadcastMessage): void {
    if (!this.#settings.isServer) throw new InvalidStateError('prepared messages are unmasked frames: only a server can send them');
    if (this.#state !== ReadyState.OPEN) throw this.#notOpen('send');
    if (this.#sendingOpcode !== 0) throw new InvalidStateError('cannot send a prepared message while a fragmented message is being sent');
    this.#send({ kind: 'prepared', message });
  }

  /**
   * Calls `callback` once every message sent so far has been handed to
   * `handler.write`: at once, unless sends wait behind an asynchronous compression.
   * If a compression fails or the transport closes first, those messages are dropped
   * and `callback` gets an `InvalidStateError` saying so (a failure of the connection
   * otherwise, `fail()` or the peer's protocol error, still sends them first).
   */
  whenSent(callback: (error?: Error) => void): void {
    const queue = this.#deflate === null ? null : this.#deflate.queue;
    if (queue === null) callback();
    else queue.push({ kind: 'callback', callback });
  }

  /** Bytes of messages being compressed on the thread pool or waiting behind one, not yet written. */
  get queuedBytes(): number {
    return this.#deflate === null ? 0 : this.#deflate.queuedBytes;
  }

  #sendData(opcode: number, data: string | Uint8Array, isFinal: boolean, isCompressed: boolean, compress: boolean): void {
    if (this.#state !== ReadyState.OPEN) throw this.#notOpen('send');
    const sends = this.#deflate;
    let frameOpcode = opcode;
    let deflate: boolean;
    if (this.#sendingOpcode !== 0) {
      if (this.#sendingOpcode !== opcode) {
        throw new InvalidStateError('a fragmented message of the other type is being sent: finish it first');
      }
      frameOpcode = Opcode.Continuation;
      isCompressed = false; // RFC 7692 §6.1: RSV1 only on the first frame
      deflate = sends !== null && sends.compressingMessage;
    } else {
      deflate = compress && sends !== null && reaches(data, sends.codec.threshold);
    }
    const firstByte = (isFinal ? FIN : 0) | (isCompressed || (deflate && frameOpcode !== Opcode.Continuation) ? RSV1 : 0) | frameOpcode;
    if (!deflate && (sends === null || sends.queue === null)) {
      this.#writeFrame(firstByte, data);
    } else {
      // To compress, or to wait behind a compression (size counts UTF-16 units of a string).
      this.#send(deflate ? { kind: 'data', firstByte, data, isFinal, size: data.length } : { kind: 'raw', bytes: this.#encode(firstByte, data) });
    }
    // Once the frame is made: a client's mask source that throws (generateMask) leaves
    // the message where it stood.
    this.#sendingOpcode = isFinal ? 0 : opcode;
    if (sends !== null) sends.compressingMessage = deflate && !isFinal;
  }

  /** Sends now, or behind the sends already waiting. */
  #send(job: SendJob): void {
    const sends = this.#deflate;
    if (sends === null) {
      this.#run(job); // without compression every send completes at once
      return;
    }
    if (job.kind === 'data') sends.queuedBytes += job.size; // until written
    if (sends.queue !== null) {
      sends.queuedBytes += waitingSize(job); // frames held behind a compression count too
      sends.queue.push(job);
    } else if (!this.#run(job)) {
      sends.queue = []; // the job continues asynchronously: later sends wait for it
    }
  }

  /** Runs the waiting sends in order until one goes asynchronous. */
  #resumeSends(): void {
    const sends = this.#deflate!;
    const queue = sends.queue!;
    while (queue.length > 0) {
      const job = queue.shift()!;
      sends.queuedBytes -= waitingSize(job);
      if (!this.#run(job)) return;
    }
    sends.queue = null;
  }

  /** Runs one send. Returns false when it continues asynchronously (then resumes the queue). */
  #run(job: SendJob): boolean {
    switch (job.kind) {
      case 'raw':
        this.#handler.write(job.bytes);
        return true;
      case 'prepared':
        this.#handler.write(this.#deflate === null ? job.message.frame : this.#deflate.codec.preparedFrame(job.message));
        return true;
      case 'close':
        this.#writeClose(job.payload);
        return true;
      case 'callback':
        job.callback();
        return true;
      case 'data':
        return this.#compressAndWrite(job);
    }
  }

  #compressAndWrite(job: SendJob & { kind: 'data' }): boolean {
    const sends = this.#deflate!;
    const epoch = sends.epoch;
    let isAsync = false;
    let isDone = false;
    const bytes = typeof job.data === 'string' ? Buffer.from(job.data) : job.data;
    sends.codec.compress(bytes, job.isFinal, (error, payload) => {
      isDone = true;
      if (epoch !== sends.epoch) return; // discarded by a failure or the end of the transport
      if (error !== null) {
        // The sends behind this one can never go: drop them, then fail. A close frame
        // among them (not written: it waited behind this one) goes too; the failure
        // sends its own.
        this.#discardSends('compression failed');
        this.#flags &= ~CLOSE_SENT;
        this.onError(error);
        return;
      }
      sends.queuedBytes -= job.size;
      try {
        this.#writeFrame(job.firstByte, payload);
      } finally {
        // A client's mask source that throws (uncaught, from zlib's callback) must not
        // leave the sends behind this one waiting for ever.
        if (isAsync) this.#resumeSends();
      }
    });
    isAsync = !isDone;
    return isDone;
  }

  /** Drops every send still waiting: the connection failed or the transport is gone. */
  #discardSends(why: string): void {
    const sends = this.#deflate;
    if (sends === null) return;
    const queue = sends.queue;
    sends.epoch++;
    sends.queue = null;
    sends.queuedBytes = 0;
    if (queue === null) return;
    // Waiters still hear back, with the reason their messages were not sent.
    let error: InvalidStateError | undefined;
    for (const job of queue) if (job.kind === 'callback') job.callback((error ??= new InvalidStateError(`the message was not sent: ${why}`)));
  }

  /**
   * Sends a ping. Payloads longer than 125 bytes throw.
   *
   * @throws {RangeError} if the payload is longer than 125 bytes.
   * @throws {InvalidStateError} if the connection is not OPEN.
   */
  sendPing(data: string | Uint8Array = EMPTY): void {
    if (this.#state !== ReadyState.OPEN) throw this.#notOpen('ping');
    this.#sendControl(Opcode.Ping, data);
  }

  /**
   * Sends an unsolicited pong (a unidirectional heartbeat, RFC 6455 §5.5.3).
   *
   * @throws {RangeError} if the payload is longer than 125 bytes.
   * @throws {InvalidStateError} if the connection is not OPEN.
   */
  sendPong(data: string | Uint8Array = EMPTY): void {
    if (this.#state !== ReadyState.OPEN) throw this.#notOpen('pong');
    this.#sendControl(Opcode.Pong, data);
  }

  #sendControl(opcode: number, data: string | Uint8Array): void {
    checkControlPayload(data);
    const sends = this.#deflate;
    // In the order of the calls, as ws sends them: behind a message still being
    // compressed (a pong answering a ping is written at once, see onPing).
    if (sends === null || sends.queue === null) this.#writeFrame(FIN | opcode, data);
    else this.#send({ kind: 'raw', bytes: this.#encode(FIN | opcode, data) });
  }

  #writeFrame(firstByte: number, payload: string | Uint8Array): void {
    const frame = encodeFrame(firstByte, payload, this.#settings.isServer ? null : this.#settings.generateMask());
    if (Array.isArray(frame)) {
      this.#handler.write(frame[0]);
      this.#handler.write(frame[1]);
    } else {
      this.#handler.write(frame);
    }
  }

  /** One frame as a single buffer, for sends that wait in the queue. */
  #encode(firstByte: number, payload: string | Uint8Array): Uint8Array {
    const frame = encodeFrame(firstByte, payload, this.#settings.isServer ? null : this.#settings.generateMask());
    return Array.isArray(frame) ? Buffer.concat([frame[0], frame[1]]) : frame;
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2). Does nothing if a close frame was
   * already sent. With no code, the close frame is empty and the peer sees 1005; a
   * reason without a code is sent with 1000, as the WHATWG `close()` does.
   *
   * @throws {RangeError} if `code` may not be sent or `reason` exceeds 123 bytes.
   */
  close(code?: number, reason: string | Buffer = ''): void {
    const payload = encodeClosePayload(code, reason); // validate even when already closing
    if ((this.#flags & CLOSE_SENT) !== 0 || this.#state === ReadyState.CLOSED) return;
    this.#sendClose(payload);
  }

  /**
   * Fails the connection from this side (RFC 6455 §7.1.7), for example for a policy
   * violation the parser cannot see: nothing more is read; a close frame with `code`
   * follows what was already sent (messages still being compressed included), and the
   * transport is closed (by the server once the close frame is written, by the client
   * when the peer closes it). Does nothing once the peer's close frame was received and
   * answered: the closing handshake is complete, and the close stays clean.
   *
   * @throws {RangeError} if `code` may not be sent; the connection is then left unchanged.
   */
  fail(code: number, reason = ''): void {
    if (this.#state === ReadyState.CLOSED) return;
    // Validate before changing anything, so that a bad code cannot leave the parser stopped.
    const payload = encodeClosePayload(code, truncateReason(reason));
    // Both close frames exchanged (ours may wait behind a compression): nothing to fail.
    if (this.#closeReceived !== null && (this.#flags & CLOSE_SENT) !== 0) return;
    this.#flags |= FAILED;
    this.#parser?.stop();
    // Messages sent before the failure still go (as with close()): only input stops.
    // A close frame already on its way (close() was called) is the one sent.
    if ((this.#flags & CLOSE_SENT) === 0) this.#sendClose(payload);
    this.#state = ReadyState.CLOSING;
    // The server closes TCP once its close frame is written (#writeClose), at once if
    // it was written before.
    if (this.#settings.isServer && (this.#flags & CLOSE_WRITTEN) !== 0) this.#end();
  }

  #sendClose(payload: Buffer): void {
    this.#flags |= CLOSE_SENT;
    // A held pong stays: pings are answered until the peer's close frame (writeDeferredPong).
    this.#sendingOpcode = 0;
    this.#state = ReadyState.CLOSING;
    // Messages sent before close() still go first (they may wait for a compression).
    this.#send({ kind: 'close', payload });
  }

  #writeClose(payload: Buffer): void {
    this.#flags |= CLOSE_WRITTEN;
    this.#writeFrame(FIN | Opcode.Close, payload);
    // Both close frames exchanged, or the connection failed. RFC 6455 §7.1.1: the
    // server closes TCP first; the client waits for it (the caller's close timer bounds
    // the wait).
    if ((this.#closeReceived !== null || (this.#flags & FAILED) !== 0) && this.#settings.isServer) this.#end();
  }

  #end(): void {
    if ((this.#flags & ENDED) !== 0) return;
    this.#flags |= ENDED;
    this.#handler.end();
  }

  /**
   * Reports that the transport has closed (or ended). Returns how the connection
   * ended; the state becomes CLOSED and every later call is ignored.
   */
  transportClosed(): CloseInfo {
    if (this.#closeInfo !== null) return this.#closeInfo;
    this.#state = ReadyState.CLOSED;
    this.#parser?.stop();
    this.#deferredPong = null;
    this.#discardSends('the connection closed first');
    this.#deflate?.codec.close();
    const received = this.#closeReceived;
    // RFC 6455 §7.1.5: with no close frame received, the close code is 1006. Clean
    // only if our close frame was written (not still waiting behind a compression).
    this.#closeInfo =
      received === null
        ? { code: CloseCode.Abnormal, reason: '', wasClean: false }
        : { code: received.code, reason: received.reason, wasClean: (this.#flags & (CLOSE_WRITTEN | FAILED)) === CLOSE_WRITTEN };
    return this.#closeInfo;
  }

  /** Events queued since the last call (only without a handler). */
  takeEvents(): ConnectionEvent[] {
    const queue = this.#requireQueue();
    const events = queue.events;
    queue.events = [];
    return events;
  }

  /** Bytes queued for sending since the last call (only without a handler). */
  takeOutput(): Buffer {
    const queue = this.#requireQueue();
    const output = Buffer.concat(queue.output);
    queue.output = [];
    return output;
  }

  /** Whether the transport should be closed (only without a handler). */
  get transportEnded(): boolean {
    return this.#requireQueue().ended;
  }

  #requireQueue(): QueueHandler {
    if (!(this.#handler instanceof QueueHandler)) throw new InvalidStateError('events go to the handler given to the constructor');
    return this.#handler;
  }

  #notOpen(what: string): InvalidStateError {
    const state = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'][this.#state];
    return new InvalidStateError(`cannot ${what}: the connection is ${state}`);
  }

  // ParserHandler: events from the frame parser.

  /** @internal */
  onMessage(data: Buffer, isBinary: boolean, isCompressed: boolean): void {
    if (isCompressed) this.#inflate(data, isBinary);
    else this.#handler.onMessage(data, isBinary);
  }

  /**
   * Inflates a compressed message and delivers it. While inflating asynchronously the
   * parser holds every later frame, so messages (and control frames) keep their order.
   */
  #inflate(data: Buffer, isBinary: boolean): void {
    let isAsync = false;
    let isDone = false;
    // The parser accepts RSV1 only when a codec was given.
    this.#deflate!.codec.decompress(data, this.#settings.maxPayload, (error, message) => {
      isDone = true;
      if (isAsync) this.#handler.resumeReading?.();
      if ((this.#flags & FAILED) !== 0 || this.#state === ReadyState.CLOSED) return;
      if (error !== null) {
        this.onError(error);
      } else if (!isBinary && !isValidUtf8(message)) {
        // RFC 6455 §8.1 applies to the inflated text (RFC 7692 §6.2).
        this.onError(new InvalidDataError('text message is not valid UTF-8'));
      } else if (!isAsync) {
        this.#handler.onMessage(message, isBinary);
      } else {
        try {
          this.#handler.onMessage(message, isBinary);
          this.#parser!.resume(); // delivers what arrived meanwhile
        } catch (error) {
          // A listener threw, for this message or for one delivered on resuming. As for
          // messages delivered straight from the parser, it is the application's to see,
          // as an uncaught exception, and the connection goes on; but not through zlib's
          // stream, which called back here.
          queueMicrotask(() => {
            throw error;
          });
          queueMicrotask(() => this.#parser!.resume());
        }
      }
    });
    if (!isDone) {
      isAsync = true;
      this.#parser!.pause();
      this.#handler.pauseReading?.();
    }
  }

  /** @internal */
  onPing(payload: Buffer): void {
    // RFC 6455 §5.5.2: answer with a pong carrying the same payload, unless a close
    // frame was already received (the parser stops at one, so it was not).
    if (this.#settings.autoPong && this.#state !== ReadyState.CLOSED) {
      if (this.#handler.deferPong?.() === true) {
        // RFC 6455 §5.5.3: an endpoint MAY send a pong for only the most recently
        // processed ping. A peer that pings without reading would otherwise make us
        // queue one pong per ping without bound: keep only the latest payload (a copy
        // of its own, not a view pinning the received chunk).
        this.#deferredPong = copyUnpooled(payload);
      } else {
        this.#deferredPong = null; // this pong answers the most recent ping
        this.#writeFrame(FIN | Opcode.Pong, payload);
      }
    }
    this.#handler.onPing(payload);
  }

  /**
   * Writes the pong held back by `handler.deferPong` (for the most recent ping), if
   * one still waits: as an immediate pong would be, also after this end sent its close
   * frame (RFC 6455 §5.5.2 answers pings until the peer's close frame arrives), but
   * not once the peer's close frame arrived or this end failed the connection.
   */
  writeDeferredPong(): void {
    const payload = this.#deferredPong;
    if (payload === null) return;
    this.#deferredPong = null;
    if (this.#closeReceived !== null || (this.#flags & (FAILED | ENDED)) !== 0 || this.#state === ReadyState.CLOSED) return;
    this.#writeFrame(FIN | Opcode.Pong, payload);
  }

  /** Whether a pong waits for `writeDeferredPong`. */
  get hasDeferredPong(): boolean {
    return this.#deferredPong !== null;
  }

  /** @internal */
  onPong(payload: Buffer): void {
    this.#handler.onPong(payload);
  }

  /** @internal */
  onClose(code: number, reason: string, payload: Buffer): void {
    this.#closeReceived = { code, reason };
    this.#handler.onClosing(code, reason);
    if ((this.#flags & CLOSE_SENT) === 0) {
      // RFC 6455 §5.5.1: answer with a close frame; echo the peer's payload as received.
      this.#sendClose(payload);
    } else {
      this.#state = ReadyState.CLOSING;
      // A close frame still waiting behind a compression ends the transport once written.
      if (this.#settings.isServer && (this.#flags & CLOSE_WRITTEN) !== 0) this.#end();
    }
  }

  /** @internal */
  onError(error: WebSocketError): void {
    // RFC 6455 §7.1.7: fail the connection, sending a close frame with the code first.
    this.fail(error.closeCode ?? CloseCode.ProtocolError, error.message);
    this.#handler.onError(error);
  }
}

/** Whether `data` is at least `threshold` bytes long in UTF-8, measuring a string only when needed. */
function reaches(data: string | Uint8Array, threshold: number): boolean {
  if (typeof data !== 'string' || data.length >= threshold) return data.length >= threshold;
  return data.length * 3 >= threshold && Buffer.byteLength(data) >= threshold;
}

/** A copy of `bytes` in memory of its own (not a slice of Node's shared pool). */
function copyUnpooled(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

/** Cuts a reason to 123 bytes without splitting a UTF-8 sequence. */
function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  const bytes = Buffer.from(reason);
  // bytes[end] is the first byte left out: while it continues a sequence, that sequence
  // would be cut, so leave out its first bytes too. A cut between sequences keeps all.
  let end = MAX_CLOSE_REASON_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
