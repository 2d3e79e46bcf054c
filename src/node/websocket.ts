/**
 * One WebSocket connection over a Node.js socket, for both roles: the server creates
 * them for accepted upgrades, and `new WebSocket(url)` connects as a client.
 *
 * The API is `ws`'s (EventEmitter events `open`, `message (data, isBinary)`, `ping`,
 * `pong`, `close (code, reason)`, `error`, plus `drain`) and the WHATWG one
 * (`addEventListener`, `onmessage`, `readyState`, `binaryType`, `bufferedAmount`), and
 * `dropped` when a message is not sent because of `maxBackpressure`.
 *
 * Write path: frames queued during one tick are written together at the end of it, as
 * one buffer when they are small, so a burst of sends costs one syscall. Frames that lie
 * side by side in memory (prepared messages published in a burst) are written as one
 * view of that memory, without a copy.
 *
 * Slow consumers: at most `maxBackpressure` bytes are buffered per connection; over
 * that, `send` drops the message (or, with the `'close'` policy, also closes the
 * connection with 1013) and says so in its `SendStatus`.
 */
import type { Socket } from 'node:net';
import type { ClientOptions, UpgradeClientRequest, UpgradeResponse } from './client.js';
import {
  Connection,
  ConnectionSettings,
  ReadyState,
  type ConnectionHandler,
} from '../protocol/connection.js';
import { CloseCode, encodeClosePayload } from '../protocol/close.js';
import type { MessageCodec } from '../protocol/deflate-codec.js';
import { InvalidStateError, WebSocketError } from '../protocol/errors.js';
import { checkControlPayload, type MaskGenerator } from '../protocol/frame.js';
import {
  Emitter,
  callApplication,
  checkListenerArguments,
  kDetachSignal,
  kForOnEventAttribute,
  kListener,
  onAbort,
  removeWrapped,
  throwUncaught,
  wrapListener,
  type EventListenerLike,
  type WrappedListener,
} from './events.js';
import { connectClient } from './client.js';
import { MAX_TIMER_DELAY, timeoutOption } from './timers.js';
import {
  ACTIVITY_ANY,
  ACTIVITY_MESSAGE,
  NO_LATENCY,
  NO_PING,
  kActivity,
  kLatency,
  kMessageSweep,
  kPingSweep,
  kPolicyClose,
  type Heartbeat,
} from '../heartbeat/heartbeat.js';
import { PreparedMessage, type PrepareData } from '../pubsub/prepared.js';
import { kTopics, type PublishOptions, type TopicRegistry } from '../pubsub/topics.js';
import {
  DEFAULT_MAX_BACKPRESSURE,
  SendStatus,
  checkBackpressureOptions,
  type BackpressurePolicy,
  type PublishResult,
} from './send-status.js';
import { ExpiryTimer, TOKEN_EXPIRED_REASON } from '../auth/expiry.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import type { MessageLimiter } from '../rate-limit/message-limiter.js';
import type { ServerOptions, VerifyClientCallback, VerifyClientInfo, WebSocketServer } from './server.js';
import type { AddEventListenerOptions, CloseEvent, ErrorEvent, Event, EventHandler, MessageEvent, MessageEventData, WebSocketEventMap } from './events.js';
import type { PerMessageDeflateOptions } from '../protocol/deflate.js';
import type { createWebSocketStream } from './stream.js';

/** What `message` listeners receive for binary data, per `binaryType`. */
export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';

/**
 * Called once a send is written (`error` undefined or null) or could not be (the error),
 * typed as `@types/ws` types it.
 */
export type SendCallback = (error?: Error) => void;
/** How callbacks are called here: with null on success, as node:stream calls them. */
type Callback = (error?: Error | null) => void;

/**
 * Anything `send` accepts: text, binary data, a number (sent as its text, as in ws), or
 * an array of Buffers or Uint8Arrays (sent as one binary message: what a 'fragments'
 * `binaryType` gives).
 */
export type SendData = string | number | Buffer | ArrayBuffer | ArrayBufferView | SharedArrayBuffer | readonly Uint8Array[];

export interface SendOptions {
  /** Send as a binary message. Default: true for anything but a string. */
  binary?: boolean;
  /** Last fragment of the message. Default true; false sends a fragment and keeps the message open. */
  fin?: boolean;
  /** Compress the message when permessage-deflate is negotiated. Default true. */
  compress?: boolean;
  /**
   * Accepted for code from `ws` and ignored: a client masks every frame and a server
   * none, as RFC 6455 §5.1 requires.
   */
  mask?: boolean;
}

/** Options shared by server-side and client-side connections. */
export interface WebSocketOptions {
  /** Largest message accepted, in bytes (after decompression); 0 for no limit. Default 1 MiB. */
  maxPayload?: number;
  /** Milliseconds to wait for the close handshake before destroying the socket. Default 10 000. */
  closeTimeout?: number;
  /** Answer pings automatically. Default true. */
  autoPong?: boolean;
  /** What each fragment after a message's first counts against maxPayload, apart from the payload (at most maxPayload / fragmentOverhead of them). Default 64; 0 for no bound. */
  fragmentOverhead?: number;
  /**
   * Source of client masking keys. As in `ws`, a function that fills the 4-byte buffer
   * it is given (a fixed key, to skip the cost of masking); or one that returns the key.
   * Default: the CSPRNG.
   */
  generateMask?: MaskGenerator | ((mask: Buffer) => void);
  /**
   * Most bytes buffered for sending (queued and in the socket) before messages are
   * dropped or the connection closed, per `backpressurePolicy`. 0 for no limit.
   * Default 1 MiB on the server; no limit on clients (like browsers and `ws`).
   */
  maxBackpressure?: number;
  /**
   * What happens to a message sent while more than `maxBackpressure` bytes are
   * buffered: `'drop'` (default) discards it, `'close'` discards it and closes the
   * connection with 1013 (Try Again Later).
   */
  backpressurePolicy?: BackpressurePolicy;
  /** @deprecated Accepted for code written for `ws`, and ignored: text is always validated as UTF-8 (RFC 6455 §8.1). */
  skipUTF8Validation?: boolean;
  /**
   * @deprecated Accepted for code written for `ws`, and ignored: the messages of one read
   * are emitted one after another, as with `ws`'s default (`true`).
   */
  allowSynchronousEvents?: boolean;
}

export const DEFAULT_CLOSE_TIMEOUT = 10_000;

/** Internal: attaches an upgraded socket. Not part of the public API. */
export const kAttach = Symbol('volley.attach');
/** Internal: the client handshake failed or was aborted. */
export const kAbortHandshake = Symbol('volley.abortHandshake');
/** Internal: fails the connection with a close code (the server's policy enforcement). */
export const kFail = Symbol('volley.fail');
/** Internal: the client handshake is under way (url, protocol list). */
export const kSetConnecting = Symbol('volley.setConnecting');
/** Internal: whether what is sent now would continue a fragmented message. */
export const kMidMessage = Symbol('volley.midMessage');

/** What the connections of a server share beside its options: its bookkeeping. */
export interface ServerHooks {
  /** The server's counters, or null. */
  metrics: MetricsRecorder | null;
  /** Called once when a connection closes, before its `close` event. */
  onClose: (ws: WebSocket<any>, code: number) => void;
  /** The server's topics. */
  registry: TopicRegistry;
  /** The server's heartbeat. */
  heartbeat: Heartbeat;
}

/**
 * @internal What the connections of one server share (a client connection has its
 * own), resolved once: an idle connection holds one reference instead of a copy of
 * each setting.
 */
export class SharedSettings {
  /** The protocol core's settings (role, limits): `connection.isServer` tells the role. */
  readonly connection: ConnectionSettings;
  readonly closeTimeout: number;
  readonly maxBackpressure: number;
  readonly closeWhenFull: boolean;
  readonly metrics: MetricsRecorder | null;
  readonly onClose: ((ws: WebSocket<any>, code: number) => void) | null;
  readonly registry: TopicRegistry | null;
  /** The heartbeat that pings these connections, which matches their pongs (a client's is set once it is open). */
  heartbeat: Heartbeat | null;

  /**
   * Reads the connection options of `options` by name, so that nothing else a server's
   * or a client's options hold can reach the connections; `server` is given for the
   * server role only.
   */
  constructor(role: 'server' | 'client', options: WebSocketOptions, server: ServerHooks | null = null) {
    this.connection = new ConnectionSettings({
      role,
      maxPayload: options.maxPayload,
      fragmentOverhead: options.fragmentOverhead,
      generateMask: options.generateMask === undefined ? undefined : maskSource(options.generateMask),
      autoPong: options.autoPong,
    });
    this.closeTimeout = timeoutOption('closeTimeout', options.closeTimeout, DEFAULT_CLOSE_TIMEOUT);
    // A server protects itself from its slow peers; a client's sending is its own business.
    this.maxBackpressure = options.maxBackpressure ?? (role === 'server' ? DEFAULT_MAX_BACKPRESSURE : 0);
    this.closeWhenFull = options.backpressurePolicy === 'close';
    this.metrics = server?.metrics ?? null;
    this.onClose = server?.onClose ?? null;
    this.registry = server?.registry ?? null;
    this.heartbeat = server?.heartbeat ?? null;
  }
}

// Bits of WebSocket's #flags.
/** `send` reported backpressure (or dropped): `drain` is owed. */
const NEED_DRAIN = 1;
/** A listener waits for the socket to drain (see #armDrain). */
const AWAITING_DRAIN = 2;
/** The socket is to be ended once the queue is written. */
const END_REQUESTED = 4;
/** Reading was paused by `pause()` (not only while a message inflates). */
const PAUSED_BY_USER = 8;
/** A pong waits for the socket's `drain` (see deferPong). */
const PONG_AWAITS_DRAIN = 16;
/** The first fragment of the message being sent was dropped: so are the others. */
const DROPPING_FRAGMENTS = 128;
/** Reading is paused while a message inflates off the thread (see pauseReading). */
const PAUSED_FOR_INFLATE = 256;
/** The fragmented message being sent is binary: its later fragments are too, whatever their data. */
const SENDING_BINARY = 512;
/** A `dropped` listener runs: what it sends and is dropped is not emitted again. */
const EMITTING_DROPPED = 1024;
/** The socket closed while a message inflated: 'close' waits for what was received (see #onSocketClose). */
const CLOSE_AFTER_INFLATE = 2048;
/** Two bits: the index of `binaryType` in BINARY_TYPES (0, nodebuffer, by default). */
const BINARY_TYPE_SHIFT = 5;
const BINARY_TYPE_MASK = 3 << BINARY_TYPE_SHIFT;
const BINARY_TYPES: readonly BinaryType[] = ['nodebuffer', 'arraybuffer', 'fragments', 'blob'];
const ARRAYBUFFER = 1 << BINARY_TYPE_SHIFT;
const FRAGMENTS = 2 << BINARY_TYPE_SHIFT;

/** The socket's WebSocket, for the shared socket listeners. */
// Registered (Symbol.for): every copy of this package loaded in the process (its ESM and
// CommonJS builds, say) sees the mark, so two of them cannot take over one socket.
const kWebSocket = Symbol.for('volley.websocket');
/** The WebSocket a socket carries; null while its upgrade is under way (see `markUpgrade`). */
type SocketWithWebSocket = Socket & { [kWebSocket]?: WebSocket<any> | null };

/**
 * @internal Marks `socket` as taken by an upgrade. Returns false when it was already,
 * by an upgrade under way or done (by any server, of any copy of this package).
 */
export function markUpgrade(socket: Socket): boolean {
  if ((socket as SocketWithWebSocket)[kWebSocket] !== undefined) return false;
  (socket as SocketWithWebSocket)[kWebSocket] = null;
  return true;
}

const readyStateNames = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'] as const;
const EMPTY = Buffer.alloc(0);
/** The write queue of a connection that has not written yet: shared, never written to. */
const NO_FRAMES: Uint8Array[] = [];

/** Close code and reason of a connection closed by the `'close'` backpressure policy. */
export const BACKPRESSURE_CLOSE_CODE = CloseCode.TryAgainLater;
export const BACKPRESSURE_CLOSE_REASON = 'send buffer full';

/** Small queued frames are merged into one buffer up to this many bytes. */
const MERGE_LIMIT = 64 * 1024;

// One flush per tick for every connection that queued output during it.
let flushQueue: WebSocket<any>[] = [];
let flushScheduled = false;
function scheduleFlush(ws: WebSocket<any>): void {
  flushQueue.push(ws);
  if (!flushScheduled) {
    flushScheduled = true;
    process.nextTick(flushAll);
  }
}
function flushAll(): void {
  flushScheduled = false;
  const queue = flushQueue;
  flushQueue = [];
  for (let i = 0; i < queue.length; i++) queue[i]!._flush();
  runViews.fill(undefined); // do not keep written memory alive
}

/** The `generateMask` option as the protocol core calls it: `ws`'s form fills the buffer it is given. */
function maskSource(generate: MaskGenerator | ((mask: Buffer) => void)): MaskGenerator {
  // One key buffer: each frame is masked with it as soon as it is encoded.
  const key = Buffer.alloc(4);
  return () => {
    const given = (generate as (mask: Buffer) => unknown)(key);
    return given instanceof Uint8Array ? given : key;
  };
}

/**
 * Calls every send callback with `error`. One that throws (a bug in the application)
 * is reported as an uncaught exception, as a listener's is, once the others have been
 * called: it must not keep them, or the 'close' that follows, from happening.
 */
function callEach(callbacks: readonly Callback[], error: Error | null | undefined): void {
  for (let i = 0; i < callbacks.length; i++) {
    try {
      callbacks[i]!(error);
    } catch (thrown) {
      throwUncaught(thrown);
    }
  }
}

/**
 * What the protocol core (its `ConnectionHandler`) and the write batching call on a
 * WebSocket. A subclass that defines one (a `write(obj)` helper, an `onMessage` hook)
 * would take over framing or dispatch without a word: it is refused instead.
 */
const RESERVED_METHODS = ['onMessage', 'onPing', 'onPong', 'onClosing', 'onError', 'write', 'end', 'pauseReading', 'resumeReading', 'deferPong', '_flush'];
const checkedSubclasses = new WeakSet<object>();

/**
 * @internal Throws a TypeError when `subclass` (of WebSocket) defines a method of
 * RESERVED_METHODS. Once per class.
 */
export function checkSubclass(subclass: abstract new (...args: any[]) => WebSocket<any>): void {
  if (checkedSubclasses.has(subclass)) return;
  for (let proto = subclass.prototype; proto !== null && proto !== WebSocket.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of RESERVED_METHODS) {
      if (Object.hasOwn(proto, name)) {
        throw new TypeError(`${subclass.name || 'the WebSocket subclass'} defines ${name}(), a method Volley calls on every connection: give it another name`);
      }
    }
  }
  checkedSubclasses.add(subclass);
}

/**
 * Views over runs of adjacent frames, built while flushing and reused by every
 * connection flushed in the same pass: after a publish burst, each subscriber's queue
 * holds the same run, and all of them write the same Buffer object.
 */
const runViews: Array<Buffer | undefined> = [undefined, undefined, undefined, undefined];
let nextRunView = 0;
function viewOfRun(buffer: ArrayBufferLike, offset: number, length: number): Buffer {
  for (let i = 0; i < runViews.length; i++) {
    const view = runViews[i];
    if (view !== undefined && view.buffer === buffer && view.byteOffset === offset && view.length === length) return view;
  }
  const view = Buffer.from(buffer, offset, length);
  runViews[nextRunView] = view;
  nextRunView = (nextRunView + 1) % runViews.length;
  return view;
}

/**
 * The events of a WebSocket and their listeners. `message` data is a Buffer with the
 * default `binaryType` (an ArrayBuffer, an array of Buffers or a Blob with the others:
 * annotate the parameter then).
 */
/** The events of a WebSocket, by name: `WS` is the type `this` has in a listener. */
export interface WebSocketEvents<WS = WebSocket<any>> {
  open: (this: WS) => void;
  message: (this: WS, data: Buffer, isBinary: boolean) => void;
  close: (this: WS, code: number, reason: Buffer) => void;
  error: (this: WS, error: Error) => void;
  ping: (this: WS, data: Buffer) => void;
  pong: (this: WS, data: Buffer) => void;
  drain: (this: WS) => void;
  dropped: (this: WS) => void;
  /** Client side: the 101 response. */
  upgrade: (this: WS, response: UpgradeResponse) => void;
  /**
   * Client side: a response that is not a valid 101, as in ws. Its body streams into
   * `response` (at most 64 KiB, within handshakeTimeout); once it has ended, error and
   * close (1006) follow, without the listener aborting anything.
   */
  'unexpected-response': (this: WS, request: UpgradeClientRequest, response: UpgradeResponse) => void;
  /** Client side, with followRedirects: the URL about to be followed, its request (headers may be changed) and the 3xx. */
  redirect: (this: WS, url: string, request: UpgradeClientRequest, response: UpgradeResponse) => void;
}

// Typed listeners (declaration merging with the class below); EventEmitter's untyped
// signatures stay as the last overload (other names, listeners annotated otherwise).
export interface WebSocket<Data = unknown> {
  on<E extends keyof WebSocketEvents>(event: E, listener: WebSocketEvents<this>[E]): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<E extends keyof WebSocketEvents>(event: E, listener: WebSocketEvents<this>[E]): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  off<E extends keyof WebSocketEvents>(event: E, listener: WebSocketEvents<this>[E]): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;
  addListener<E extends keyof WebSocketEvents>(event: E, listener: WebSocketEvents<this>[E]): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  removeListener<E extends keyof WebSocketEvents>(event: E, listener: WebSocketEvents<this>[E]): this;
  removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependListener<E extends keyof WebSocketEvents>(event: E, listener: WebSocketEvents<this>[E]): this;
  prependListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependOnceListener<E extends keyof WebSocketEvents>(event: E, listener: WebSocketEvents<this>[E]): this;
  prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this;
}

/**
 * A WebSocket connection.
 *
 * @typeParam Data the type of `ws.data`, the value the server's `authenticate` hook returned.
 * @example
 * const ws = new WebSocket('ws://127.0.0.1:8080');
 * ws.on('open', () => ws.send('hello'));
 * ws.on('message', (data, isBinary) => console.log(isBinary ? data : data.toString()));
 */
export class WebSocket<Data = unknown> extends Emitter implements ConnectionHandler {
  // Defined below the class, read-only as WebIDL constants are (and as in ws).
  declare static readonly CONNECTING: 0;
  declare static readonly OPEN: 1;
  declare static readonly CLOSING: 2;
  declare static readonly CLOSED: 3;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;
  // ws's aliases on the class, for code written as `new WebSocket.Server(options)`
  // (assigned where the package's entry point is evaluated: src/index.ts).
  declare static Server: typeof WebSocketServer;
  declare static WebSocketServer: typeof WebSocketServer;
  declare static WebSocket: typeof WebSocket;
  declare static createWebSocketStream: typeof createWebSocketStream;

  /** Per-connection application data: what the server's `authenticate` returned. */
  data!: Data;
  /** @internal The topics this connection subscribes to. */
  [kTopics]: Set<string> | null = null;
  /** @internal Activity bits for the heartbeat (see src/heartbeat). */
  [kActivity] = 0;
  /** @internal What a heartbeat keeps of this connection (see src/heartbeat). */
  [kPingSweep] = NO_PING;
  [kMessageSweep] = 0;
  [kLatency] = NO_LATENCY;

  #readyState: number = ReadyState.CONNECTING;
  #socket: Socket | null = null;
  #connection: Connection | null = null;
  /** Null until a socket is attached. */
  #settings: SharedSettings | null = null;
  /** What most connections never need (see `Rare`); null until one of its fields is. */
  #rare: Rare | null = null;

  // Write batching (see _flush).
  /** Frames queued this tick; an idle connection holds the shared empty NO_FRAMES. */
  #queue: Uint8Array[] = NO_FRAMES;
  #queuedBytes = 0;
  #callbacks: Array<Callback> | null = null;
  /** NEED_DRAIN, AWAITING_DRAIN, END_REQUESTED, PAUSED_BY_USER, PONG_AWAITS_DRAIN, DROPPING_FRAGMENTS, PAUSED_FOR_INFLATE, binaryType. */
  #flags = 0;
  /**
   * A message was sent with `fin: false` and is not finished. A field of its own: `send`
   * stays small enough for V8 to inline the framing into it.
   */
  #midMessage = false;

  /**
   * Connects to `url` as a client (`ws:` or `wss:`). The server side gets its instances
   * from `WebSocketServer`.
   *
   * @param url `ws://` or `wss://` URL (`http(s)://` accepted too)
   * @param protocols subprotocols to offer, most preferred first
   * @param options client options (see `ClientOptions`)
   */
  /** A server-side instance: `WebSocketServer` attaches it to its socket (as in ws, for subclasses). */
  constructor(url: null, protocols?: undefined, options?: object);
  constructor(url: string | URL, options?: ClientOptions);
  // Last: what ConstructorParameters<typeof WebSocket> gives, as with @types/ws.
  constructor(url: string | URL, protocols?: string | string[], options?: ClientOptions);
  constructor(url?: string | URL | null, protocols?: string | string[] | ClientOptions, options?: object) {
    super();
    // null: a server-side instance, which the server attaches to its socket. Anything
    // else is a URL to connect to (undefined too: SyntaxError, as in ws).
    if (url !== null) {
      if (new.target !== WebSocket) checkSubclass(new.target);
      if (protocols !== undefined && protocols !== null && !Array.isArray(protocols) && typeof protocols === 'object') {
        if (typeof (protocols as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function') {
          // Any iterable is a sequence of subprotocols, as WebIDL reads it (a Set, say).
          protocols = Array.from(protocols as unknown as Iterable<string>);
        } else {
          options = protocols;
          protocols = undefined;
        }
      }
      checkBackpressureOptions(options ?? {});
      connectClient(this, url, protocols as string | string[] | undefined, options ?? {});
    }
  }

  // ---- State -------------------------------------------------------------------

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): 0 | 1 | 2 | 3 {
    return this.#readyState as 0 | 1 | 2 | 3;
  }
  /** The subprotocol the server selected, or ''. */
  get protocol(): string {
    return this.#rare?.protocol ?? '';
  }
  /** The negotiated extensions, as in `Sec-WebSocket-Extensions`, or ''. */
  get extensions(): string {
    return this.#rare?.extensions ?? '';
  }
  /** The URL connected to (client), or '' on the server side. */
  get url(): string {
    return this.#rare?.url ?? '';
  }
  /** Whether this is the server side of the connection. */
  get isServer(): boolean {
    return this.#settings?.connection.isServer ?? false;
  }
  /** The underlying socket (null before the client connects or after a failed handshake). */
  get socket(): Socket | null {
    return this.#socket;
  }
  /**
   * `socket` under the name ws gives it: code written for ws reads
   * `ws._socket.remoteAddress`.
   */
  get _socket(): Socket | null {
    return this.#socket;
  }
  /**
   * How binary messages reach `message` listeners: `nodebuffer` (Buffer, default),
   * `arraybuffer`, `fragments` (an array of Buffers) or `blob`.
   */
  get binaryType(): BinaryType {
    return BINARY_TYPES[(this.#flags & BINARY_TYPE_MASK) >> BINARY_TYPE_SHIFT]!;
  }
  set binaryType(type: BinaryType) {
    const index = BINARY_TYPES.indexOf(type);
    if (index !== -1) this.#flags = (this.#flags & ~BINARY_TYPE_MASK) | (index << BINARY_TYPE_SHIFT);
  }
  /** Bytes queued for sending and not yet handed to the operating system. */
  get bufferedAmount(): number {
    // While connecting, the socket holds the upgrade request: no application data.
    if (this.#readyState === ReadyState.CONNECTING) return 0;
    return this.#queuedBytes + (this.#socket?.writableLength ?? 0) + (this.#connection?.queuedBytes ?? 0) + (this.#rare === null ? 0 : this.#rare.sentAfterClose + this.#rare.heldBytes);
  }
  /** Whether the close handshake completed (meaningful once CLOSED). */
  get wasClean(): boolean {
    // The connection keeps how it ended; a client whose handshake failed has none.
    return this.#connection?.closeInfo?.wasClean ?? false;
  }
  /** Messages not sent because more than `maxBackpressure` bytes were buffered. */
  get droppedMessages(): number {
    return this.#rare?.dropped ?? 0;
  }
  /**
   * Round-trip time in ms of the last heartbeat ping that was answered, or undefined
   * before the first one (and on connections without a heartbeat).
   */
  get latency(): number | undefined {
    const micros = this[kLatency];
    return micros === NO_LATENCY ? undefined : micros / 1000;
  }

  // ---- Sending -----------------------------------------------------------------

  /**
   * Sends a message: a string as text, anything else (Buffer, ArrayBuffer, TypedArray,
   * DataView) as binary unless `options.binary` says otherwise. A `PreparedMessage`
   * (see `prepare`) is sent as the frame it was prepared into: the same bytes for
   * every connection it goes to (its own type; `options` do not apply).
   *
   * Returns a `SendStatus`:
   * - `SENT` (1): queued, and `bufferedAmount` is below the socket's high-water mark.
   * - `BACKPRESSURE` (0): queued, but the send buffer is full: stop sending until `drain`.
   * - `DROPPED` (2): not queued. Either more than `maxBackpressure` bytes are buffered
   *   (the `dropped` event fires; with the `'drop'` policy `drain` follows once the
   *   buffer has emptied, with `'close'` the connection starts closing with 1013
   *   instead), or the connection is CLOSING or CLOSED. `cb`, if any, gets an error.
   *
   * Only BACKPRESSURE is falsy, so `if (!ws.send(x))` still reads as with `ws`'s
   * boolean. The fragments of a message sent with `fin: false` after its first are
   * never dropped: a message is sent whole or not at all.
   *
   * @throws {InvalidStateError} while CONNECTING, or for a prepared message while a
   *   fragmented message is half sent.
   */
  send(data: SendData | PreparedMessage | Blob, options?: SendOptions | SendCallback, callback?: SendCallback): SendStatus {
    // Called with null on success (as node:stream does), typed as @types/ws types it.
    let cb = callback as Callback | undefined;
    if (typeof options === 'function') {
      cb = options as Callback;
      options = undefined;
    }
    // As in ws (and node:stream's write), a callback that is no function is none.
    if (typeof cb !== 'function') cb = undefined;
    const connection = this.#connection;
    if (this.#readyState !== ReadyState.OPEN || connection === null) {
      // WHATWG (and ws): data sent once closing counts in bufferedAmount, never sent.
      // Data send() does not take throws first, as when open.
      const bytes = byteLengthOf(data);
      this.#notOpen(cb);
      this.#rareFields().sentAfterClose += bytes;
      return SendStatus.DROPPED;
    }
    // Behind a Blob being read: in order, after it.
    const rare = this.#rare;
    if (rare !== null && rare.held !== null) {
      // What would throw sent now throws now: later nothing could catch it.
      const bytes = byteLengthOf(data);
      if (!(data instanceof PreparedMessage)) rare.heldMidMessage = options?.fin === false;
      else if (rare.heldMidMessage) throw midMessageError();
      this.#hold(rare, bytes, () => this.send(data, options, cb));
      return this.#status(rare.heldBytes);
    }
    const settings = this.#settings!;
    const maxBackpressure = settings.maxBackpressure;
    if (maxBackpressure !== 0) {
      // A message goes whole or not at all: its fragments after the first are not
      // checked, and are dropped with the first.
      if (!this.#midMessage) {
        if (this.#queuedBytes + this.#socket!.writableLength + connection.queuedBytes > maxBackpressure) {
          if (options?.fin === false) {
            this.#midMessage = true;
            this.#flags |= DROPPING_FRAGMENTS;
          }
          return this.#drop(cb);
        }
      } else if ((this.#flags & DROPPING_FRAGMENTS) !== 0 && !(data instanceof PreparedMessage)) {
        // (A prepared message, from a publish, is refused below as during any
        // fragmented message, and the dropping goes on.)
        if (options?.fin !== false) {
          this.#midMessage = false;
          this.#flags &= ~DROPPING_FRAGMENTS;
        }
        // Counted, reported and answered (closeWhenFull) with the first fragment.
        if (cb !== undefined) process.nextTick(cb, new WebSocketError('WS_ERR_DROPPED', 'message dropped: its first fragment was dropped'));
        return SendStatus.DROPPED;
      }
    }
    if (data instanceof PreparedMessage) {
      this.#sendPrepared(connection, data);
      if (settings.metrics !== null) settings.metrics.messagesSent++;
      if (cb !== undefined) this.#whenSent(connection, cb);
      return this.#status();
    }
    let isBinary: boolean;
    let payload: string | Uint8Array;
    if (typeof data === 'string') {
      payload = data;
      isBinary = options?.binary ?? false;
    } else if (typeof data === 'number') {
      // As in ws: a number is sent as its text.
      payload = String(data);
      isBinary = options?.binary ?? false;
    } else if (data instanceof Uint8Array) {
      payload = data;
      isBinary = options?.binary ?? true;
    } else if (data instanceof Blob) {
      return this.#sendBlob(data, options, cb);
    } else {
      payload = toBytes(data);
      isBinary = options?.binary ?? true;
    }
    const isFinal = options?.fin ?? true;
    if (this.#midMessage) {
      // As in ws: the first fragment decides the message's type; the later ones are
      // its continuation whatever data they carry.
      isBinary = (this.#flags & SENDING_BINARY) !== 0;
    } else if (!isFinal) {
      this.#flags = isBinary ? this.#flags | SENDING_BINARY : this.#flags & ~SENDING_BINARY;
    }
    connection.sendMessage(isBinary, payload, isFinal, options?.compress ?? true);
    this.#midMessage = !isFinal;
    if (settings.metrics !== null && isFinal) settings.metrics.messagesSent++;
    // A compressed message may still wait for zlib: call back once it is written.
    if (cb !== undefined) this.#whenSent(connection, cb);
    return this.#status();
  }

  /**
   * A Blob is read first (asynchronously); what is sent, pinged or closed meanwhile
   * waits behind it, in order, as in ws. Returns SENT, or BACKPRESSURE when what is
   * buffered (the Blob included) reaches the high-water mark: the message is queued.
   */
  #sendBlob(blob: Blob, options: SendOptions | undefined, cb: Callback | undefined): SendStatus {
    const rare = this.#rareFields();
    rare.held = [];
    rare.heldMidMessage = options?.fin === false;
    rare.heldBytes += blob.size;
    /** Runs `first` (the Blob's own send), then what waited behind the Blob, in order. */
    const release = (first: () => void): void => {
      rare.heldBytes -= blob.size;
      const held = rare.held!;
      // Where the whole queue leaves a fragmented message. Another Blob among the held
      // ops sets the flag to its own `fin`, but the ops queued again behind it decide.
      const midMessage = rare.heldMidMessage;
      rare.held = null;
      // What an operation throws comes from application code (a callback, a 'dropped'
      // listener): uncaught, and the operations after it still run.
      callApplication(first);
      for (let i = 0; i < held.length; i++) {
        // Another Blob among them: the rest waits behind it in turn.
        if (rare.held !== null) {
          (rare.held as Array<() => void>).push(...held.slice(i));
          break;
        }
        callApplication(held[i]!);
      }
      if (rare.held !== null) rare.heldMidMessage = midMessage;
    };
    blob.arrayBuffer().then(
      (bytes) => {
        // Sent as the bytes it holds, with its options (binary unless told otherwise).
        release(() => this.send(Buffer.from(bytes), { ...options, binary: options?.binary ?? true }, cb));
      },
      (error: unknown) => {
        // The Blob could not be read (a file behind it changed): it cannot be sent, and
        // what follows it must not go out without it, so the connection fails.
        release(() => {
          this[kFail](CloseCode.InternalError, 'a Blob could not be read');
          if (cb !== undefined) cb(error instanceof Error ? error : new Error(String(error)));
        });
      },
    );
    return this.#status(rare.heldBytes);
  }

  /** Holds `op` behind the Blob being read; counts its bytes in bufferedAmount meanwhile. */
  #hold(rare: Rare, bytes: number, op: () => void): void {
    rare.heldBytes += bytes;
    rare.held!.push(() => {
      rare.heldBytes -= bytes;
      op();
    });
  }

  /** Calls `cb` once what was sent is written, or with the error if it was dropped. */
  #whenSent(connection: Connection, cb: Callback): void {
    connection.whenSent((error) => {
      if (error === undefined) this.#addCallback(cb);
      else process.nextTick(cb, error);
    });
  }

  /**
   * Sends a message prepared once for many connections (broadcast): the same frame
   * bytes go to every peer, compressed for those that negotiated permessage-deflate.
   * Server side only.
   *
   * @throws {InvalidStateError} while CONNECTING, or on the client side.
   */
  sendPrepared(message: PreparedMessage, cb?: SendCallback): SendStatus {
    return this.send(message, cb);
  }


  #sendPrepared(connection: Connection, message: PreparedMessage): void {
    if (this.#midMessage) {
      throw midMessageError();
    }
    // Server frames are unmasked: the prepared bytes go out as they are (or compressed
    // once for every peer that negotiated permessage-deflate). Client frames must be
    // masked with a fresh key each, so a client sends the payload as usual.
    if (this.#settings!.connection.isServer) connection.sendPrepared(message);
    else connection.sendMessage(message.isBinary, message.payload, true, message.shouldCompress);
  }
  /** Over `maxBackpressure`: the message is not queued. */
  #drop(cb: Callback | undefined): SendStatus {
    this.#rareFields().dropped++;
    const settings = this.#settings!;
    settings.metrics?.observeBackpressureDrop();
    if (cb !== undefined) {
      const error = new WebSocketError(
        'WS_ERR_DROPPED',
        `message dropped: ${this.bufferedAmount} bytes are buffered, more than maxBackpressure ${settings.maxBackpressure}`,
      );
      process.nextTick(cb, error);
    }
    this.#flags |= NEED_DRAIN;
    if (this.#queue.length === 0) this.#armDrain(this.#socket!); // else _flush arms it
    if (settings.closeWhenFull && this.#readyState === ReadyState.OPEN) {
      // The close frame waits behind the buffered data; the close timer bounds the wait.
      // Before 'dropped': a listener that throws must not keep the policy from applying.
      this[kPolicyClose](BACKPRESSURE_CLOSE_CODE, BACKPRESSURE_CLOSE_REASON);
    }
    // A listener that tells this same peer it is too slow is over the budget too: its
    // drop is counted and returned, but emitting it would recurse without end.
    if ((this.#flags & EMITTING_DROPPED) === 0) {
      this.#flags |= EMITTING_DROPPED;
      try {
        this.emit('dropped');
      } finally {
        this.#flags &= ~EMITTING_DROPPED;
      }
    }
    return SendStatus.DROPPED;
  }

  /**
   * Sends a ping. `data` (at most 125 bytes) is echoed in the peer's pong.
   *
   * @throws {RangeError} if `data` is longer than 125 bytes.
   * @throws {InvalidStateError} while CONNECTING.
   */
  ping(cb: SendCallback): void;
  ping(data?: SendData, mask?: unknown, cb?: SendCallback): void;
  ping(data?: SendData | SendCallback, mask?: unknown, cb?: SendCallback): void {
    this.#control(true, data, mask, cb as Callback | undefined);
  }

  /**
   * Sends an unsolicited pong (a one-way heartbeat).
   *
   * @throws {RangeError} if `data` is longer than 125 bytes.
   * @throws {InvalidStateError} while CONNECTING.
   */
  pong(cb: SendCallback): void;
  pong(data?: SendData, mask?: unknown, cb?: SendCallback): void;
  pong(data?: SendData | SendCallback, mask?: unknown, cb?: SendCallback): void {
    this.#control(false, data, mask, cb as Callback | undefined);
  }

  /** `ping` and `pong`: `ws`'s optional arguments (`mask` is ignored; a function first is the callback), then the frame. */
  #control(ping: boolean, data: SendData | SendCallback | undefined, mask: unknown, cb: Callback | undefined): void {
    if (typeof data === 'function') {
      cb = data as any;
      data = undefined;
    } else if (typeof mask === 'function') cb = mask as any;
    if (typeof cb !== 'function') cb = undefined;
    const connection = this.#connection;
    if (this.#readyState !== ReadyState.OPEN || connection === null) {
      // Counted in bufferedAmount, never sent, as for send (and in ws).
      const bytes = data === undefined ? 0 : byteLengthOf(data);
      this.#notOpen(cb);
      if (bytes !== 0) this.#rareFields().sentAfterClose += bytes;
      return;
    }
    const payload = data === undefined ? EMPTY : typeof data === 'string' ? data : typeof data === 'number' ? String(data) : toBytes(data);
    const rare = this.#rare;
    if (rare !== null && rare.held !== null) {
      // Behind a Blob being read, in order; too long a payload throws now, as it would
      // sent now (later it would be thrown where nothing can catch it).
      checkControlPayload(payload);
      this.#hold(rare, 0, () => this.#control(ping, payload, undefined, cb));
      return;
    }
    if (ping) connection.sendPing(payload);
    else connection.sendPong(payload);
    if (cb !== undefined) this.#whenSent(connection, cb);
  }

  #notOpen(cb: Callback | undefined): void {
    if (this.#readyState === ReadyState.CONNECTING) {
      throw new InvalidStateError('WebSocket is not open: readyState 0 (CONNECTING)');
    }
    if (cb !== undefined) {
      const error = new InvalidStateError(`WebSocket is not open: readyState ${this.#readyState} (${readyStateNames[this.#readyState]})`);
      process.nextTick(cb, error);
    }
  }

  #addCallback(cb: Callback): void {
    if (this.#queue.length === 0) {
      // Nothing queued: the frame already went out (or nothing was sent); call back
      // once what is in the socket is written.
      this.#socket!.write(EMPTY, cb);
      return;
    }
    (this.#callbacks ??= []).push(cb);
  }

  /**
   * SENT while what is buffered (queued here, in the socket, behind a compression, and
   * `heldBytes` behind a Blob being read) is below the socket's high-water mark; else
   * BACKPRESSURE, and `drain` is owed (see _flush).
   */
  #status(heldBytes = 0): SendStatus {
    const socket = this.#socket!;
    if (this.#queuedBytes + socket.writableLength + this.#connection!.queuedBytes + heldBytes < socket.writableHighWaterMark) return SendStatus.SENT;
    this.#flags |= NEED_DRAIN;
    return SendStatus.BACKPRESSURE;
  }

  // ---- Topics --------------------------------------------------------------------

  /**
   * Subscribes this connection to `topic` (an exact string: no wildcards). Messages
   * published to the topic arrive in order with everything else sent to it. The
   * subscription ends with the connection. Server-side connections only.
   *
   * @returns false if it was already subscribed (or the connection is closed)
   * @throws {InvalidStateError} on a client connection.
   */
  subscribe(topic: string): boolean {
    return this.#topicRegistry().subscribe(this, topic);
  }

  /** Ends the subscription to `topic`; returns false if there was none. */
  unsubscribe(topic: string): boolean {
    return this.#settings?.registry?.unsubscribe(this, topic) ?? false;
  }

  /** Whether this connection subscribes to `topic`. */
  isSubscribed(topic: string): boolean {
    return this[kTopics]?.has(topic) ?? false;
  }

  /** The topics this connection subscribes to (a copy). */
  get topics(): ReadonlySet<string> {
    return new Set(this[kTopics]);
  }

  /**
   * Sends `data` to every subscriber of `topic` but this connection, framed once (see
   * `WebSocketServer.publish`).
   *
   * @returns per-call counts of recipients: `{ sent, backpressure, dropped }`
   * @throws {InvalidStateError} on a client connection.
   */
  publish(topic: string, data: PrepareData | PreparedMessage, options?: PublishOptions): PublishResult {
    return this.#topicRegistry().publish(topic, data, options, this);
  }

  #topicRegistry(): TopicRegistry {
    const registry = this.#settings?.registry ?? null;
    if (registry === null) throw new InvalidStateError('topics exist on the server side: this connection was not accepted by a WebSocketServer');
    return registry;
  }

  // ---- Closing -----------------------------------------------------------------

  /**
   * Starts the closing handshake. Without a code the close frame is empty (the peer
   * sees 1005), or with a reason has the code 1000 (as the WHATWG `close()`). Closing
   * while CONNECTING aborts the handshake.
   *
   * @param code 1000–1003, 1007–1014 or 3000–4999
   * @param reason at most 123 bytes of UTF-8
   * @throws {RangeError} for a code that may not be sent or a reason over 123 bytes, in
   *   every state (as the WHATWG `close()`): CONNECTING and CLOSED too.
   */
  close(code?: number, reason?: string | Buffer): void {
    const connection = this.#connection;
    if (this.#readyState === ReadyState.CONNECTING || connection === null || this.#readyState === ReadyState.CLOSED) {
      // Nothing to send the close frame on: the arguments are checked all the same.
      if (code !== undefined || reason !== undefined) encodeClosePayload(code, reason ?? '');
      if (this.#readyState === ReadyState.CONNECTING) {
        this[kAbortHandshake](new Error('WebSocket was closed before the connection was established'));
      }
      // CLOSED, or a client whose handshake failed: CLOSING until its 'close', with nothing to close.
      return;
    }
    const rare = this.#rare;
    if (rare !== null && rare.held !== null && this.#readyState === ReadyState.OPEN) {
      // Behind a Blob being read, in order; the arguments are checked now.
      encodeClosePayload(code, reason ?? '');
      this.#hold(rare, 0, () => this.close(code, reason));
      return;
    }
    connection.close(code, reason ?? '');
    this.#afterStateChange();
  }

  /** Destroys the connection at once, without a close handshake (`close` reports 1006). */
  terminate(): void {
    if (this.#readyState === ReadyState.CLOSED) return;
    if (this.#readyState === ReadyState.CONNECTING) {
      this[kAbortHandshake](new Error('WebSocket was closed before the connection was established'));
      return;
    }
    if (this.#connection === null) return; // a failed handshake, 'close' under way
    this.#readyState = ReadyState.CLOSING;
    // What was sent in this tick is handed to the socket first, as ws writes each frame
    // at once: `send(error); terminate()` delivers the error when the socket can take it
    // without waiting (what it holds unwritten is discarded with it).
    if (this.#queue.length !== 0) this._flush();
    this.#socket!.destroy();
  }

  /**
   * Sets when the connection's credentials expire: at that time it is closed with 1008
   * "token expired". Call it again with a later time when the client re-authenticates
   * in band (after you verified the new token), or with null to remove the deadline.
   * The server sets the first deadline itself with its `closeOnTokenExpiry` option.
   *
   * @param expiresAt ms since the epoch (a JWT's `exp * 1000`), or null
   * @throws {RangeError} for a number that is not finite.
   * @example
   * const claims = verifyJwt(message.token, jwtOptions); // throws if invalid
   * ws.reauthenticate(claims.exp * 1000);
   */
  reauthenticate(expiresAt: number | null): void {
    if (expiresAt === null) {
      this.#rare?.tokenExpiry?.clear();
      return;
    }
    const rare = this.#rareFields();
    const timer = (rare.tokenExpiry ??= new ExpiryTimer(() => {
      // Failed, not only closed: nothing more from the peer is delivered as coming from
      // a client whose credentials are no longer valid.
      if (this.#readyState === ReadyState.OPEN) this[kFail](CloseCode.PolicyViolation, TOKEN_EXPIRED_REASON);
    }));
    if (this.#readyState === ReadyState.CLOSED) timer.clear();
    else timer.set(expiresAt);
  }

  /** When the connection's credentials expire (ms since the epoch), or null. See `reauthenticate`. */
  get tokenExpiresAt(): number | null {
    return this.#rare?.tokenExpiry?.expiresAt ?? null;
  }

  /** @internal Whether what is sent now would continue a fragmented message (sent with `fin: false`, behind a Blob or not). */
  get [kMidMessage](): boolean {
    const rare = this.#rare;
    return rare !== null && rare.held !== null ? rare.heldMidMessage : this.#midMessage;
  }

  /** @internal Fails the connection: no further input read; a close frame with `code` after what was sent (server: TCP closed once it is written). */
  [kFail](code: number, reason: string): void {
    const connection = this.#connection;
    if (connection === null || this.#readyState === ReadyState.CLOSED) return;
    connection.fail(code, reason);
    this.#rareFields().failCode = code;
    this.#afterStateChange();
  }

  /**
   * @internal Closes the connection for a policy of the server's (idle timeout,
   * backpressure) as `close()` does: the close frame after what is buffered, the peer's
   * answer awaited. A peer that never answers makes `close` report 1006 (RFC 6455
   * §7.1.5), and the metrics count the connection under `code`, as for a failure.
   */
  [kPolicyClose](code: number, reason: string): void {
    if (this.#readyState !== ReadyState.OPEN) return;
    this.close(code, reason);
    this.#rareFields().failCode = code;
  }

  /** Stops reading from the socket (backpressure towards the peer). */
  pause(): void {
    // As in ws: nothing while CONNECTING or once CLOSED.
    if (this.#readyState === ReadyState.CONNECTING || this.#readyState === ReadyState.CLOSED) return;
    this.#flags |= PAUSED_BY_USER;
    this.#socket?.pause();
  }

  /** Resumes reading after `pause`. */
  resume(): void {
    if (this.#readyState === ReadyState.CONNECTING || this.#readyState === ReadyState.CLOSED) return;
    this.#flags &= ~PAUSED_BY_USER;
    // A message inflating off the thread keeps input in the kernel until it is done.
    if ((this.#flags & PAUSED_FOR_INFLATE) === 0) this.#socket?.resume();
  }

  /** Whether `pause` stopped reading (until `resume`). */
  get isPaused(): boolean {
    return (this.#flags & PAUSED_BY_USER) !== 0;
  }

  /** The rarely set fields, made on first use. */
  #rareFields(): Rare {
    return (this.#rare ??= new Rare());
  }

  /** Mirrors the protocol state and arms the close timer when a close is under way. */
  #afterStateChange(): void {
    const connection = this.#connection!;
    const state = connection.readyState;
    if (state === ReadyState.CLOSING && this.#readyState === ReadyState.OPEN) this.#readyState = ReadyState.CLOSING;
    if (connection.closeExpected()) this.#armCloseTimer();
  }

  /** The socket is destroyed if it has not closed within closeTimeout. */
  #armCloseTimer(): void {
    const socket = this.#socket;
    if (socket === null) return;
    const rare = this.#rareFields();
    if (rare.closeTimer !== null) return;
    const timeout = this.#settings!.closeTimeout;
    // Beyond setTimeout's range (Infinity, say) there is no limit rather than 1 ms.
    if (timeout > MAX_TIMER_DELAY) return;
    rare.closeTimer = setTimeout(() => socket.destroy(), timeout);
    // A paused socket is no active handle: then the timer keeps the process until the
    // close comes (as ws's does), or the process would exit with no 'close' emitted.
    if ((this.#flags & PAUSED_BY_USER) === 0) rare.closeTimer.unref?.();
  }

  // ---- Attaching a socket ------------------------------------------------------

  /**
   * @internal Takes over an upgraded socket; `head` holds bytes read past the handshake.
   * `settings` may be shared with other connections; the rest is this connection's.
   */
  [kAttach](
    socket: Socket,
    head: Buffer | null,
    settings: SharedSettings,
    protocol = '',
    extensions = '',
    compression: MessageCodec | null = null,
    rateLimiter: MessageLimiter | null = null,
  ): void {
    this.#settings = settings;
    if (protocol !== '' || extensions !== '' || rateLimiter !== null) {
      const rare = this.#rareFields();
      rare.protocol = protocol;
      rare.extensions = extensions;
      rare.rateLimiter = rateLimiter;
    }
    this.#connection = new Connection(settings.connection, this, compression);
    this.#socket = socket;
    this.#readyState = ReadyState.OPEN;
    socket.setTimeout(0);
    socket.setNoDelay(true);
    // Shared listener functions that find the WebSocket through the socket: no closures
    // per connection (memory per idle connection is a target).
    (socket as SocketWithWebSocket)[kWebSocket] = this;
    socket.on('data', WebSocket.#socketOnData);
    socket.on('end', WebSocket.#socketOnEnd);
    socket.on('close', WebSocket.#socketOnClose);
    socket.on('error', noop); // 'close' follows; transport errors end in 1006
    if (head !== null && head.length > 0) {
      // Paused first: a flowing socket would emit the bytes within unshift, before the
      // caller could add its 'message' listener.
      socket.pause();
      socket.unshift(head);
    }
    // The socket may have been paused while the handshake completed; reading resumes
    // in a later tick.
    socket.resume();
  }

  /**
   * @internal Client side: the handshake is under way, over `socket` (null while an
   * `agent` has not given one). `abort` stops a handshake that does not go through the
   * socket alone (an agent's request); it is called when the handshake is aborted.
   */
  [kSetConnecting](url: string, socket: Socket | null, abort: (() => void) | null = null): void {
    const rare = this.#rareFields();
    rare.url = url;
    rare.abortHandshake = abort;
    this.#socket = socket;
  }

  /** @internal Client side: the handshake failed. Emits `error` then `close` (1006). */
  [kAbortHandshake](error: Error): void {
    if (this.#readyState !== ReadyState.CONNECTING) return;
    // CLOSING until 'close', as in WHATWG ("fail the WebSocket connection") and ws.
    this.#readyState = ReadyState.CLOSING;
    const socket = this.#socket;
    this.#socket = null;
    socket?.destroy();
    const rare = this.#rare;
    if (rare !== null && rare.abortHandshake !== null) {
      const abort = rare.abortHandshake;
      rare.abortHandshake = null;
      abort();
    }
    // In a later tick, as ws does (browsers queue them as tasks): close() and terminate()
    // while CONNECTING must not run the listeners inside the call.
    process.nextTick(() => {
      this.#emitError(error);
      this.#readyState = ReadyState.CLOSED;
      this.#emitClose(CloseCode.Abnormal, EMPTY);
    });
  }

  static #socketOnData(this: Socket, chunk: Buffer): void {
    const ws = (this as SocketWithWebSocket)[kWebSocket]!;
    ws[kActivity] |= ACTIVITY_ANY;
    const metrics = ws.#settings!.metrics;
    if (metrics !== null) metrics.bytesReceived += chunk.length;
    ws.#connection!.receive(chunk);
  }

  static #socketOnEnd(this: Socket): void {
    (this as SocketWithWebSocket)[kWebSocket]!.#onEnd();
  }

  static #socketOnClose(this: Socket): void {
    (this as SocketWithWebSocket)[kWebSocket]!.#onSocketClose();
  }

  #onEnd(): void {
    // The peer will send nothing more. Finish our side once queued output is written.
    const connection = this.#connection!;
    if (connection.readyState === ReadyState.OPEN) this.#readyState = ReadyState.CLOSING;
    this.end();
    // A peer that half-closed without reading what is still queued for it would keep
    // the socket open for ever (the heartbeat watches OPEN connections only). With
    // nothing left to write, our FIN goes out at once and 'close' follows: no timer.
    if (this.#queue.length !== 0 || this.#socket!.writableLength !== 0) this.#armCloseTimer();
  }

  #onSocketClose(): void {
    if ((this.#flags & PAUSED_FOR_INFLATE) !== 0) {
      // What arrived before the transport closed is delivered first, as ws's receiver
      // finishes before its 'close': the message being inflated and the frames held
      // behind it (often the peer's close frame, which came with its FIN).
      this.#flags |= CLOSE_AFTER_INFLATE;
      if (this.#readyState === ReadyState.OPEN) this.#readyState = ReadyState.CLOSING;
      return;
    }
    const rare = this.#rare;
    if (rare !== null) {
      if (rare.closeTimer !== null) {
        clearTimeout(rare.closeTimer);
        rare.closeTimer = null;
      }
      rare.tokenExpiry?.clear();
    }
    const info = this.#connection!.transportClosed();
    this.#readyState = ReadyState.CLOSED;
    this.#queue = NO_FRAMES;
    this.#queuedBytes = 0;
    const callbacks = this.#callbacks;
    if (callbacks !== null) {
      this.#callbacks = null;
      callEach(callbacks, new InvalidStateError('WebSocket closed before the data was written'));
    }
    // The server's accounting: a connection this side failed (1002, 1008, 1009, ...)
    // counts under that code, even though `close` reports 1006 when the peer's close
    // frame never came (RFC 6455 §7.1.5).
    const failCode = rare === null || info.code !== CloseCode.Abnormal ? 0 : rare.failCode;
    const settings = this.#settings!;
    settings.onClose?.(this, failCode === 0 ? info.code : failCode);
    // A client's heartbeat is its own (a server's serves all its connections): it stops
    // here, not from a 'close' listener that one of the application's could precede and
    // throw before.
    if (!settings.connection.isServer) settings.heartbeat?.stop();
    this.#emitClose(info.code, info.reason === '' ? EMPTY : Buffer.from(info.reason));
  }

  #emitError(error: Error): void {
    // Unlike ws, an error with no listener does not crash the process: the connection
    // is already failing and `close` will report it. A listener that throws is the
    // application's (uncaught), and must not keep that `close` from coming.
    if (this.listenerCount('error') > 0) callApplication(() => this.emit('error', error));
  }

  // ---- ConnectionHandler: events from the protocol core ---------------------------

  /** @internal */
  onMessage(data: Buffer, isBinary: boolean): void {
    this[kActivity] = ACTIVITY_ANY | ACTIVITY_MESSAGE;
    const metrics = this.#settings!.metrics;
    if (metrics !== null) metrics.messagesReceived++;
    // Counted before the application sees it; one null check when there is no limit
    // (nor a subprotocol or extension).
    const limiter = this.#rare === null ? null : this.#rare.rateLimiter;
    if (limiter !== null && !limiter.admit(this, data.length, isBinary)) return;
    this.emit('message', isBinary ? this.#convertBinary(data) : data, isBinary);
  }

  /** @internal */
  onPing(payload: Buffer): void {
    this.emit('ping', payload);
  }

  /** @internal */
  onPong(payload: Buffer): void {
    const rtt = this.#settings!.heartbeat?.onPong(this, payload);
    if (rtt !== undefined) this.#settings!.metrics?.observePingRtt(rtt);
    this.emit('pong', payload);
  }

  /** @internal */
  onClosing(_code: number, _reason: string): void {
    this.#readyState = ReadyState.CLOSING;
    // The peer's close frame came in: the close is under way even though the answer
    // (sent right after this call) has not moved the protocol state yet, so the wait
    // for the TCP connection to end is bounded by closeTimeout from now.
    this.#armCloseTimer();
  }

  /** @internal */
  onError(error: WebSocketError): void {
    this.#rareFields().failCode = error.closeCode ?? CloseCode.ProtocolError;
    this.#readyState = ReadyState.CLOSING;
    this.#afterStateChange();
    // The close frame goes to the socket before 'error' is emitted, as in ws: a
    // listener that terminates the connection still lets the peer learn why.
    if (this.#queue.length > 0) this._flush();
    this.#emitError(error);
  }

  /** @internal */
  write(data: Uint8Array): void {
    const metrics = this.#settings!.metrics;
    if (metrics !== null) metrics.bytesSent += data.length;
    if (this.#queue.length === 0) {
      scheduleFlush(this);
      if (this.#queue === NO_FRAMES) this.#queue = [];
    }
    this.#queue.push(data);
    this.#queuedBytes += data.length;
  }

  /** @internal A message is being inflated off the thread: hold further input in the kernel. */
  pauseReading(): void {
    this.#flags |= PAUSED_FOR_INFLATE;
    this.#socket?.pause();
  }

  /**
   * @internal Pongs wait while the socket is full (a peer that pings without reading):
   * the connection keeps the latest and writes it on `drain`.
   */
  deferPong(): boolean {
    const socket = this.#socket;
    if (socket === null || !socket.writableNeedDrain) return false;
    if ((this.#flags & PONG_AWAITS_DRAIN) === 0) {
      this.#flags |= PONG_AWAITS_DRAIN;
      socket.once('drain', () => {
        this.#flags &= ~PONG_AWAITS_DRAIN;
        this.#connection?.writeDeferredPong();
      });
    }
    return true;
  }

  /** @internal */
  resumeReading(): void {
    this.#flags &= ~PAUSED_FOR_INFLATE;
    if ((this.#flags & CLOSE_AFTER_INFLATE) !== 0) {
      // The socket is gone. The inflated message is delivered right after this call,
      // then the frames the parser held (deferred by a microtask when a listener threw);
      // the transport's close is reported after them, unless they began another inflate.
      setImmediate(() => {
        if ((this.#flags & (PAUSED_FOR_INFLATE | CLOSE_AFTER_INFLATE)) !== CLOSE_AFTER_INFLATE) return;
        this.#flags &= ~CLOSE_AFTER_INFLATE;
        this.#onSocketClose();
      });
      return;
    }
    if ((this.#flags & PAUSED_BY_USER) === 0) this.#socket?.resume();
  }

  /** @internal */
  end(): void {
    this.#flags |= END_REQUESTED;
    if (this.#queue.length === 0) this.#socket?.end();
    // else: _flush ends the socket after writing the queue.
  }

  /**
   * @internal Writes everything queued this tick: runs of frames adjacent in memory as
   * one view each, other small frames merged into one buffer.
   *
   * A connection whose socket still holds unwritten data is slow: what it writes now
   * will wait in memory. It gets small data as a private copy rather than as views into
   * shared memory (a publish slab, Node's buffer pool), so that a slow peer holds only
   * the bytes counted against its maxBackpressure, not the 16 KiB block around a
   * 64-byte frame.
   */
  _flush(): void {
    const queue = this.#queue;
    let count = queue.length;
    const socket = this.#socket;
    if (count === 0 || socket === null || socket.destroyed) {
      this.#queue = NO_FRAMES;
      this.#queuedBytes = 0;
      return;
    }
    const isBackedUp = socket.writableLength !== 0;
    if (count > 1 && !isBackedUp) count = coalesce(queue, count);
    const isSmall = this.#queuedBytes <= MERGE_LIMIT;
    let done: Callback | undefined;
    const callbacks = this.#callbacks;
    if (callbacks !== null) {
      this.#callbacks = null;
      done = (error) => callEach(callbacks, error);
    }
    let flowing: boolean;
    if (count === 1 && !(isBackedUp && isSmall && isSlice(queue[0]!))) {
      flowing = socket.write(queue[0]!, done);
    } else if (isSmall && (isBackedUp || count === queue.length)) {
      // allocUnsafe would hand out a slice of Node's shared pool: not for data that waits.
      const merged = isBackedUp ? Buffer.allocUnsafeSlow(this.#queuedBytes) : Buffer.allocUnsafe(this.#queuedBytes);
      let offset = 0;
      for (let i = 0; i < count; i++) {
        const part = queue[i]!;
        merged.set(part, offset);
        offset += part.length;
      }
      flowing = socket.write(merged, done);
    } else {
      socket.cork();
      for (let i = 0; i < count - 1; i++) socket.write(queue[i]!);
      flowing = socket.write(queue[count - 1]!, done);
      socket.uncork();
    }
    // The array is reused: the socket holds its own references to what was written.
    queue.length = 0;
    this.#queuedBytes = 0;
    if ((this.#flags & END_REQUESTED) !== 0) socket.end();
    // Messages still being compressed are buffered too: their frames come through here
    // again once zlib is done, and 'drain' waits for them.
    if ((this.#flags & NEED_DRAIN) !== 0 && this.#connection!.queuedBytes === 0) {
      if (flowing) {
        this.#flags &= ~NEED_DRAIN;
        // As from #armDrain: none once closing (the 'close' policy's 1013 included).
        process.nextTick(() => {
          if (this.#readyState === ReadyState.OPEN) this.emit('drain');
        });
      } else {
        this.#armDrain(socket);
      }
    }
  }

  /** Emits `drain` once the socket has written what it holds. */
  #armDrain(socket: Socket): void {
    // One listener per backpressure episode: flushes while the socket is still full
    // must not stack more (each would emit another 'drain').
    if ((this.#flags & AWAITING_DRAIN) !== 0) return;
    this.#flags |= AWAITING_DRAIN;
    const onDrain = () => {
      this.#flags &= ~AWAITING_DRAIN;
      // Frames queued meanwhile (a held pong written on this same 'drain'), or messages
      // still being compressed: _flush writes them and still owes the 'drain'.
      if (this.#queue.length !== 0 || this.#connection!.queuedBytes !== 0) return;
      this.#flags &= ~NEED_DRAIN;
      if (this.#readyState !== ReadyState.OPEN) return;
      // Called from within the socket's own write bookkeeping (its 'drain' or a write
      // callback): a listener that throws must not cut that short (the callbacks of the
      // writes it completed would never be called). Uncaught all the same.
      callApplication(() => this.emit('drain'));
    };
    // The socket emits 'drain' only after a write found it full; below its high-water
    // mark (a maxBackpressure smaller than that), an empty write's callback tells when
    // everything before it was written.
    if (socket.writableNeedDrain) socket.once('drain', onDrain);
    else socket.write(EMPTY, onDrain);
  }

  #convertBinary(data: Buffer): unknown {
    switch (this.#flags & BINARY_TYPE_MASK) {
      case 0:
        return data;
      case ARRAYBUFFER:
        return toArrayBuffer(data);
      case FRAGMENTS:
        return [data];
      default:
        return new Blob([data]);
    }
  }

  // ---- WHATWG event surface ------------------------------------------------------

  /**
   * Adds a WHATWG-style listener (`open`, `message`, `close`, `error`). Of the options,
   * `once` and `signal` (aborting it removes the listener) apply; a boolean (capture)
   * or null is accepted and means nothing here.
   */
  addEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: EventListenerLike<WebSocketEventMap[K]> | null,
    options?: AddEventListenerOptions | boolean | null,
  ): void;
  addEventListener(type: string, listener: EventListenerLike<any> | null, options?: AddEventListenerOptions | boolean | null): void {
    if (listener === null || listener === undefined) return;
    const { once, signal } = checkListenerArguments(listener, options);
    if (signal?.aborted) return;
    for (const existing of this.listeners(type) as WrappedListener[]) {
      if (existing[kListener] === listener && !existing[kForOnEventAttribute]) return;
    }
    const wrapped = wrapListener(this, type, listener, textOrBinary(this), once);
    this.on(type, wrapped);
    // After close no event fires: a signal would only keep this connection alive.
    if (signal !== undefined && this.#readyState !== ReadyState.CLOSED) {
      const stopListening = onAbort(signal, () => removeWrapped(this, type, wrapped));
      const hooks = (this.#rareFields().signalHooks ??= new Set());
      const detach = (): void => {
        hooks.delete(detach);
        stopListening();
      };
      hooks.add(detach);
      wrapped[kDetachSignal] = detach;
    }
  }

  /** Removes a listener added with `addEventListener`. */
  removeEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: EventListenerLike<WebSocketEventMap[K]> | null,
    options?: { capture?: boolean } | boolean | null,
  ): void;
  // `options` (capture) means nothing here: there is one phase.
  removeEventListener(type: string, listener: EventListenerLike<any> | null, _options?: unknown): void {
    for (const existing of this.listeners(type) as WrappedListener[]) {
      if (existing[kListener] === listener && !existing[kForOnEventAttribute]) {
        removeWrapped(this, type, existing);
        return;
      }
    }
  }

  /** Emits `close` (the last event of a connection), then lets go of `signal` options. */
  #emitClose(code: number, reason: Buffer): void {
    try {
      this.emit('close', code, reason);
    } finally {
      // After `close` no event fires: the `abort` listeners that `signal` options added
      // are removed (however their listeners were removed, or not), so that a long-lived
      // signal does not keep closed connections alive. The listeners themselves stay.
      const hooks = this.#rare?.signalHooks;
      if (hooks != null) for (const detach of [...hooks]) detach();
    }
  }

  #getOnAttribute(type: string): unknown {
    for (const existing of this.listeners(type) as WrappedListener[]) {
      if (existing[kForOnEventAttribute]) return existing[kListener];
    }
    return null;
  }

  #setOnAttribute(type: string, handler: unknown): void {
    for (const existing of this.listeners(type) as WrappedListener[]) {
      if (existing[kForOnEventAttribute]) {
        // Set to null: removed, also from a dispatch under way. Replaced: the dispatch
        // under way still calls the old handler, as ws does (the DOM would call the new
        // one in its place).
        if (typeof handler === 'function') this.removeListener(type, existing);
        else removeWrapped(this, type, existing);
        break;
      }
    }
    if (typeof handler !== 'function') return;
    const wrapped = wrapListener(this, type, handler as EventListenerLike<any>, textOrBinary(this));
    wrapped[kForOnEventAttribute] = true;
    this.on(type, wrapped);
  }

  get onopen(): EventHandler<Event> | null {
    return this.#getOnAttribute('open') as EventHandler<Event> | null;
  }
  set onopen(handler: EventHandler<Event> | null) {
    this.#setOnAttribute('open', handler);
  }
  get onmessage(): EventHandler<MessageEvent> | null {
    return this.#getOnAttribute('message') as EventHandler<MessageEvent> | null;
  }
  set onmessage(handler: EventHandler<MessageEvent> | null) {
    this.#setOnAttribute('message', handler);
  }
  get onclose(): EventHandler<CloseEvent> | null {
    return this.#getOnAttribute('close') as EventHandler<CloseEvent> | null;
  }
  set onclose(handler: EventHandler<CloseEvent> | null) {
    this.#setOnAttribute('close', handler);
  }
  get onerror(): EventHandler<ErrorEvent> | null {
    return this.#getOnAttribute('error') as EventHandler<ErrorEvent> | null;
  }
  set onerror(handler: EventHandler<ErrorEvent> | null) {
    this.#setOnAttribute('error', handler);
  }
}

for (const [name, value] of [
  ['CONNECTING', 0],
  ['OPEN', 1],
  ['CLOSING', 2],
  ['CLOSED', 3],
] as const) {
  // Neither writable nor configurable: the library compares readyState with them.
  Object.defineProperty(WebSocket, name, { enumerable: true, value });
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true, value });
}
/** What a `message` listener gets, by `binaryType` (text is a Buffer): `ws`'s `RawData`. */
export type RawData = Buffer | ArrayBuffer | Buffer[];

/**
 * The types `@types/ws` has under `WebSocket.`, for code that comes from `ws`
 * (`WebSocket.RawData`, `WebSocket.Server`, `WebSocket.ServerOptions`, ...).
 */
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace WebSocket {
  type RawData = OuterRawData;
  /** What `message` events carry, as `@types/ws` names it (and a Blob, with `binaryType` 'blob'). */
  type Data = MessageEventData;
  type Server<D = unknown> = OuterServer<D>;
  type WebSocketServer<D = unknown> = OuterServer<D>;
  type ServerOptions<D = unknown> = OuterServerOptions<D>;
  type ClientOptions = OuterClientOptions;
  type PerMessageDeflateOptions = OuterPerMessageDeflateOptions;
  type Event = OuterEvent;
  type MessageEvent = OuterMessageEvent;
  type CloseEvent = OuterCloseEvent;
  type ErrorEvent = OuterErrorEvent;
  type WebSocketEventMap = OuterWebSocketEventMap;
  /** `addEventListener`'s options, as `@types/ws` names them. */
  type EventListenerOptions = AddEventListenerOptions;
  /** What `wss.address()` returns for a TCP listener. */
  type AddressInfo = { address: string; family: string; port: number };
  /** `verifyClient` in its synchronous form. */
  type VerifyClientCallbackSync = (info: VerifyClientInfo) => boolean;
  /** `verifyClient` in its callback form. */
  type VerifyClientCallbackAsync = (info: VerifyClientInfo, callback: VerifyClientCallback) => void;
}
// Names the namespace's types can refer to (inside it, the inner names shadow these).
type OuterRawData = RawData;
type OuterServer<D> = WebSocketServer<D>;
type OuterServerOptions<D> = ServerOptions<D>;
type OuterClientOptions = ClientOptions;
type OuterPerMessageDeflateOptions = PerMessageDeflateOptions;
type OuterEvent = Event;
type OuterWebSocketEventMap = WebSocketEventMap;
type OuterMessageEvent = MessageEvent;
type OuterCloseEvent = CloseEvent;
type OuterErrorEvent = ErrorEvent;

// The bundler renames a class that refers to itself in its body (`class _WebSocket`);
// `console.log` and `constructor.name` show this one.
Object.defineProperty(WebSocket, 'name', { value: 'WebSocket' });

/** WHATWG message data: text as a string, binary as `binaryType` says ('nodebuffer' stays a Buffer). */
function textOrBinary(ws: WebSocket<any>): (data: any, isBinary: boolean) => unknown {
  return (data, isBinary) => (isBinary ? data : (data as Buffer).toString());
}

function noop(): void {}

/**
 * The fields of a WebSocket that most connections never set: a server connection with
 * no subprotocol, extension or rate limit keeps a null in their place until it closes
 * (memory per idle connection is a target: each field is 8 bytes per connection).
 */
class Rare {
  protocol = '';
  extensions = '';
  /** Client side: the URL connected to. */
  url = '';
  /** Client side, while CONNECTING through an `agent`: stops its request. */
  abortHandshake: (() => void) | null = null;
  closeTimer: NodeJS.Timeout | null = null;
  rateLimiter: MessageLimiter | null = null;
  tokenExpiry: ExpiryTimer | null = null;
  /** Messages dropped for `maxBackpressure` (see send). */
  dropped = 0;
  /** The close code this side failed the connection with, or closed it with for a policy (0: neither). */
  failCode = 0;
  /** Bytes given to `send` while CLOSING or CLOSED: never sent, counted in bufferedAmount. */
  sentAfterClose = 0;
  /** While a Blob is being read: what was sent, pinged or closed after it, in order. */
  held: Array<() => void> | null = null;
  /** Bytes of that Blob and of the messages held behind it (in bufferedAmount). */
  heldBytes = 0;
  /** Whether a fragmented message will be half sent once what is held has gone out. */
  heldMidMessage = false;
  /** Removes the `abort` listener of each `signal` option still attached (see #emitClose). */
  signalHooks: Set<() => void> | null = null;
}

function midMessageError(): InvalidStateError {
  return new InvalidStateError('cannot send a prepared message while a fragmented message is being sent: finish it first');
}

/**
 * The bytes `data` would be sent as, for a message that is not sent (yet).
 * @throws {TypeError} for data that send() does not take, as when it is sent.
 */
function byteLengthOf(data: SendData | PreparedMessage | Blob): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (typeof data === 'number') return String(data).length;
  if (data instanceof PreparedMessage) return data.payload.length;
  if (data instanceof Blob) return data.size;
  if (Array.isArray(data)) {
    checkParts(data);
    return data.reduce((total: number, part: Uint8Array) => total + part.byteLength, 0);
  }
  return toBytes(data).byteLength;
}

function checkParts(parts: readonly unknown[]): void {
  for (const part of parts) if (!(part instanceof Uint8Array)) throw new TypeError('send() takes an array of Buffers or Uint8Arrays only');
}

/** Whether `bytes` is a view into a larger buffer (so that keeping it keeps more). */
function isSlice(bytes: Uint8Array): boolean {
  return bytes.byteLength !== bytes.buffer.byteLength;
}

/**
 * Replaces runs of frames that lie side by side in one ArrayBuffer (prepared messages
 * published in a burst share a slab) by one view each, in place; returns the new count.
 * Nothing is copied, and a run that every subscriber has is the same view for all.
 */
function coalesce(queue: Uint8Array[], count: number): number {
  let out = 0;
  let first = queue[0]!;
  /** `first.buffer`, read once its run may grow. */
  let buffer: ArrayBufferLike | null = null;
  let end = first.byteOffset + first.byteLength;
  let runLength = 1;
  for (let i = 1; i <= count; i++) {
    const part = i < count ? queue[i]! : null;
    // Offsets first: frames that are not side by side (the usual case outside a publish
    // burst: Node's pool aligns its slices to 8 bytes) never read `buffer`, the costly one.
    if (part !== null && part.byteOffset === end && part.buffer === (buffer ??= first.buffer)) {
      end += part.byteLength;
      runLength++;
      continue;
    }
    queue[out++] = runLength === 1 ? first : viewOfRun(buffer!, first.byteOffset, end - first.byteOffset);
    if (part === null) break;
    first = part;
    buffer = null;
    end = part.byteOffset + part.byteLength;
    runLength = 1;
  }
  return out;
}

/** Views any binary input as a Uint8Array without copying. */
export function toBytes(data: Exclude<SendData, string | number>): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data)) {
    checkParts(data);
    return data.length === 1 ? data[0]! : Buffer.concat(data);
  }
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer)) {
    return new Uint8Array(data);
  }
  throw new TypeError('send() takes a string, Buffer, ArrayBuffer, TypedArray or DataView');
}

function toArrayBuffer(data: Buffer): ArrayBuffer {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data.buffer as ArrayBuffer;
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}
