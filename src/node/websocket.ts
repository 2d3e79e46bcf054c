/**
 * One WebSocket connection over a Node.js socket, for both roles: the server creates
 * them for accepted upgrades, and `new WebSocket(url)` connects as a client.
 *
 * The API is `ws`'s (EventEmitter events `open`, `message (data, isBinary)`, `ping`,
 * `pong`, `close (code, reason)`, `error`, plus `drain`) and the WHATWG one
 * (`addEventListener`, `onmessage`, `readyState`, `binaryType`, `bufferedAmount`).
 *
 * Write path: frames queued during one tick are written together at the end of it, as
 * one buffer when they are small, so a burst of sends costs one syscall.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import {
  Connection,
  ReadyState,
  type CloseInfo,
  type ConnectionHandler,
} from '../protocol/connection.js';
import { CloseCode } from '../protocol/close.js';
import { InvalidStateError, type WebSocketError } from '../protocol/errors.js';
import type { MaskGenerator } from '../protocol/frame.js';
import {
  kForOnEventAttribute,
  kListener,
  wrapListener,
  type EventListenerLike,
  type WrappedListener,
} from './events.js';
import { connectClient } from './client.js';
import { ExpiryTimer, TOKEN_EXPIRED_REASON } from '../auth/expiry.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import type { MessageLimiter } from '../rate-limit/message-limiter.js';

/** What `message` listeners receive for binary data, per `binaryType`. */
export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';

/** Anything `send` accepts. */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView | SharedArrayBuffer;

export interface SendOptions {
  /** Send as a binary message. Default: true for anything but a string. */
  binary?: boolean;
  /** Last fragment of the message. Default true; false sends a fragment and keeps the message open. */
  fin?: boolean;
  /** Compress the message when permessage-deflate is negotiated. Default true. */
  compress?: boolean;
}

/** Options shared by server-side and client-side connections. */
export interface WebSocketOptions {
  /** Largest message accepted, in bytes (after decompression); 0 for no limit. Default 1 MiB. */
  maxPayload?: number;
  /** Milliseconds to wait for the close handshake before destroying the socket. Default 10 000. */
  closeTimeout?: number;
  /** Answer pings automatically. Default true. */
  autoPong?: boolean;
  /** Bytes charged against maxPayload per fragment after the first. Default 64. */
  fragmentOverhead?: number;
  /** Source of client masking keys (tests). Default: the CSPRNG. */
  generateMask?: MaskGenerator;
}

export const DEFAULT_CLOSE_TIMEOUT = 10_000;

/** Internal: attaches an upgraded socket. Not part of the public API. */
export const kAttach = Symbol('volley.attach');
/** Internal: the client handshake failed or was aborted. */
export const kAbortHandshake = Symbol('volley.abortHandshake');
/** Internal: called once when the connection closes, before the `close` event (the server's bookkeeping). */
export const kOnClose = Symbol('volley.onClose');
/** Internal: fails the connection with a close code (the server's policy enforcement). */
export const kFail = Symbol('volley.fail');
/** Internal: the client handshake is under way (url, protocol list). */
export const kSetConnecting = Symbol('volley.setConnecting');

export interface AttachOptions extends WebSocketOptions {
  role: 'server' | 'client';
  protocol?: string;
  extensions?: string;
  /** The server's counters (server role), or null. */
  metrics?: MetricsRecorder | null;
  /** The connection's message rate limits (server role), or null. */
  rateLimiter?: MessageLimiter | null;
}

const readyStateNames = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'] as const;
const EMPTY = Buffer.alloc(0);

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
export class WebSocket<Data = unknown> extends EventEmitter implements ConnectionHandler {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;

  /** Per-connection application data: what the server's `authenticate` returned. */
  data!: Data;
  /** @internal */
  [kOnClose]: ((ws: WebSocket<any>, code: number) => void) | null = null;

  #binaryType: BinaryType = 'nodebuffer';
  #readyState: number = ReadyState.CONNECTING;
  #protocol = '';
  #extensions = '';
  #url = '';
  #isServer = false;
  #socket: Socket | null = null;
  #connection: Connection | null = null;
  #closeTimeout = DEFAULT_CLOSE_TIMEOUT;
  #closeTimer: NodeJS.Timeout | null = null;
  #closeInfo: CloseInfo | null = null;
  #metrics: MetricsRecorder | null = null;
  #rateLimiter: MessageLimiter | null = null;
  #tokenExpiry: ExpiryTimer | null = null;

  // Write batching (see _flush).
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #callbacks: Array<(error?: Error | null) => void> | null = null;
  #needDrain = false;
  #endRequested = false;

  /**
   * Connects to `url` as a client (`ws:` or `wss:`). The server side gets its instances
   * from `WebSocketServer`.
   *
   * @param url `ws://` or `wss://` URL (`http(s)://` accepted too)
   * @param protocols subprotocols to offer, most preferred first
   * @param options client options (see `ClientOptions`)
   */
  constructor(url?: string | URL | null, protocols?: string | string[] | Record<string, any>, options?: Record<string, any>) {
    super();
    if (url !== null && url !== undefined) {
      if (protocols !== undefined && !Array.isArray(protocols) && typeof protocols === 'object') {
        options = protocols;
        protocols = undefined;
      }
      connectClient(this, url, protocols as string | string[] | undefined, options ?? {});
    }
  }

  // ---- State -------------------------------------------------------------------

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): number {
    return this.#readyState;
  }
  /** The subprotocol the server selected, or ''. */
  get protocol(): string {
    return this.#protocol;
  }
  /** The negotiated extensions, as in `Sec-WebSocket-Extensions`, or ''. */
  get extensions(): string {
    return this.#extensions;
  }
  /** The URL connected to (client), or '' on the server side. */
  get url(): string {
    return this.#url;
  }
  /** Whether this is the server side of the connection. */
  get isServer(): boolean {
    return this.#isServer;
  }
  /** The underlying socket (null before the client connects or after a failed handshake). */
  get socket(): Socket | null {
    return this.#socket;
  }
  /**
   * How binary messages reach `message` listeners: `nodebuffer` (Buffer, default),
   * `arraybuffer`, `fragments` (an array of Buffers) or `blob`.
   */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  set binaryType(type: BinaryType) {
    if (type === 'nodebuffer' || type === 'arraybuffer' || type === 'fragments' || type === 'blob') this.#binaryType = type;
  }
  /** Bytes queued for sending and not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.#queuedBytes + (this.#socket?.writableLength ?? 0);
  }
  /** Whether the close handshake completed (meaningful once CLOSED). */
  get wasClean(): boolean {
    return this.#closeInfo?.wasClean ?? false;
  }

  // ---- Sending -----------------------------------------------------------------

  /**
   * Sends a message: a string as text, anything else (Buffer, ArrayBuffer, TypedArray,
   * DataView) as binary unless `options.binary` says otherwise.
   *
   * Returns false when the connection's send buffer is full (`bufferedAmount` at or
   * above the socket's high-water mark): stop sending until `drain`. Sending while
   * CONNECTING throws; while CLOSING or CLOSED the data is discarded and `cb` (if any)
   * gets an error, as in `ws`.
   *
   * @throws {InvalidStateError} while CONNECTING.
   */
  send(data: SendData, options?: SendOptions | ((error?: Error | null) => void), cb?: (error?: Error | null) => void): boolean {
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    const connection = this.#connection;
    if (this.#readyState !== ReadyState.OPEN || connection === null) {
      this.#notOpen(cb);
      return false;
    }
    let isBinary: boolean;
    let payload: string | Uint8Array;
    if (typeof data === 'string') {
      payload = data;
      isBinary = options?.binary ?? false;
    } else {
      payload = toBytes(data);
      isBinary = options?.binary ?? true;
    }
    const isFinal = options?.fin ?? true;
    if (isBinary) {
      connection.sendData(true, payload, isFinal, false);
    } else {
      connection.sendData(false, payload, isFinal, false);
    }
    if (this.#metrics !== null && isFinal) this.#metrics.messagesSent++;
    if (cb !== undefined) this.#addCallback(cb);
    return this.#underHighWaterMark();
  }

  /**
   * Sends a ping. `data` (at most 125 bytes) is echoed in the peer's pong.
   *
   * @throws {RangeError} if `data` is longer than 125 bytes.
   * @throws {InvalidStateError} while CONNECTING.
   */
  ping(data?: SendData, mask?: unknown, cb?: (error?: Error | null) => void): void {
    if (typeof data === 'function') {
      cb = data as any;
      data = undefined;
    } else if (typeof mask === 'function') cb = mask as any;
    const connection = this.#connection;
    if (this.#readyState !== ReadyState.OPEN || connection === null) {
      this.#notOpen(cb);
      return;
    }
    connection.sendPing(data === undefined ? EMPTY : typeof data === 'string' ? data : toBytes(data));
    if (cb !== undefined) this.#addCallback(cb);
  }

  /**
   * Sends an unsolicited pong (a one-way heartbeat).
   *
   * @throws {RangeError} if `data` is longer than 125 bytes.
   * @throws {InvalidStateError} while CONNECTING.
   */
  pong(data?: SendData, mask?: unknown, cb?: (error?: Error | null) => void): void {
    if (typeof data === 'function') {
      cb = data as any;
      data = undefined;
    } else if (typeof mask === 'function') cb = mask as any;
    const connection = this.#connection;
    if (this.#readyState !== ReadyState.OPEN || connection === null) {
      this.#notOpen(cb);
      return;
    }
    connection.sendPong(data === undefined ? EMPTY : typeof data === 'string' ? data : toBytes(data));
    if (cb !== undefined) this.#addCallback(cb);
  }

  #notOpen(cb: ((error?: Error | null) => void) | undefined): void {
    if (this.#readyState === ReadyState.CONNECTING) {
      throw new InvalidStateError('WebSocket is not open: readyState 0 (CONNECTING)');
    }
    if (cb !== undefined) {
      const error = new InvalidStateError(`WebSocket is not open: readyState ${this.#readyState} (${readyStateNames[this.#readyState]})`);
      process.nextTick(cb, error);
    }
  }

  #addCallback(cb: (error?: Error | null) => void): void {
    if (this.#queue.length === 0) {
      // Nothing queued: the frame already went out (or nothing was sent); call back
      // once what is in the socket is written.
      this.#socket!.write(EMPTY, cb);
      return;
    }
    (this.#callbacks ??= []).push(cb);
  }

  #underHighWaterMark(): boolean {
    const socket = this.#socket!;
    if (this.#queuedBytes + socket.writableLength < socket.writableHighWaterMark) return true;
    this.#needDrain = true;
    return false;
  }

  // ---- Closing -----------------------------------------------------------------

  /**
   * Starts the closing handshake. Without a code the close frame is empty (the peer
   * sees 1005). Closing while CONNECTING aborts the handshake.
   *
   * @param code 1000–1003, 1007–1014 or 3000–4999
   * @param reason at most 123 bytes of UTF-8
   * @throws {RangeError} for a code that may not be sent or a reason over 123 bytes.
   */
  close(code?: number, reason?: string | Buffer): void {
    if (this.#readyState === ReadyState.CLOSED) return;
    if (this.#readyState === ReadyState.CONNECTING) {
      this[kAbortHandshake](new Error('WebSocket was closed before the connection was established'));
      return;
    }
    const connection = this.#connection!;
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
    this.#readyState = ReadyState.CLOSING;
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
      this.#tokenExpiry?.clear();
      return;
    }
    const timer = (this.#tokenExpiry ??= new ExpiryTimer(() => {
      if (this.#readyState === ReadyState.OPEN) this.close(CloseCode.PolicyViolation, TOKEN_EXPIRED_REASON);
    }));
    if (this.#readyState === ReadyState.CLOSED) timer.clear();
    else timer.set(expiresAt);
  }

  /** When the connection's credentials expire (ms since the epoch), or null. See `reauthenticate`. */
  get tokenExpiresAt(): number | null {
    return this.#tokenExpiry?.expiresAt ?? null;
  }

  /** @internal Fails the connection: close frame with `code`, no further input read (server: TCP closed at once). */
  [kFail](code: number, reason: string): void {
    const connection = this.#connection;
    if (connection === null || this.#readyState === ReadyState.CLOSED) return;
    connection.fail(code, reason);
    this.#afterStateChange();
  }

  /** Stops reading from the socket (backpressure towards the peer). */
  pause(): void {
    if (this.#readyState !== ReadyState.CONNECTING) this.#socket?.pause();
  }

  /** Resumes reading after `pause`. */
  resume(): void {
    if (this.#readyState !== ReadyState.CONNECTING) this.#socket?.resume();
  }

  /** Mirrors the protocol state and arms the close timer when a close is under way. */
  #afterStateChange(): void {
    const connection = this.#connection!;
    const state = connection.readyState;
    if (state === ReadyState.CLOSING && this.#readyState === ReadyState.OPEN) this.#readyState = ReadyState.CLOSING;
    if (connection.closeExpected() && this.#closeTimer === null && this.#socket !== null) {
      const socket = this.#socket;
      this.#closeTimer = setTimeout(() => socket.destroy(), this.#closeTimeout);
      this.#closeTimer.unref?.();
    }
  }

  // ---- Attaching a socket ------------------------------------------------------

  /** @internal Takes over an upgraded socket; `head` holds bytes read past the handshake. */
  [kAttach](socket: Socket, head: Buffer | null, options: AttachOptions): void {
    this.#isServer = options.role === 'server';
    this.#protocol = options.protocol ?? '';
    this.#extensions = options.extensions ?? '';
    this.#closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.#metrics = options.metrics ?? null;
    this.#rateLimiter = options.rateLimiter ?? null;
    this.#connection = new Connection(
      {
        role: options.role,
        maxPayload: options.maxPayload,
        fragmentOverhead: options.fragmentOverhead,
        generateMask: options.generateMask,
        autoPong: options.autoPong,
      },
      this,
    );
    this.#socket = socket;
    this.#readyState = ReadyState.OPEN;
    socket.setTimeout(0);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('close', () => this.#onSocketClose());
    socket.on('error', noop); // 'close' follows; transport errors end in 1006
    if (head !== null && head.length > 0) socket.unshift(head);
    // The socket may have been paused while the handshake completed.
    socket.resume();
  }

  /** @internal Client side: the handshake is under way. */
  [kSetConnecting](url: string, socket: Socket | null): void {
    this.#url = url;
    this.#socket = socket;
  }

  /** @internal Client side: the handshake failed. Emits `error` then `close` (1006). */
  [kAbortHandshake](error: Error): void {
    if (this.#readyState === ReadyState.CLOSED) return;
    this.#readyState = ReadyState.CLOSED;
    const socket = this.#socket;
    this.#socket = null;
    socket?.destroy();
    this.#closeInfo = { code: CloseCode.Abnormal, reason: '', wasClean: false };
    this.#emitError(error);
    this.emit('close', CloseCode.Abnormal, EMPTY);
  }

  #onData(chunk: Buffer): void {
    if (this.#metrics !== null) this.#metrics.bytesReceived += chunk.length;
    this.#connection!.receive(chunk);
  }

  #onEnd(): void {
    // The peer will send nothing more. Finish our side once queued output is written.
    const connection = this.#connection!;
    if (connection.readyState === ReadyState.OPEN) this.#readyState = ReadyState.CLOSING;
    this.end();
  }

  #onSocketClose(): void {
    if (this.#closeTimer !== null) {
      clearTimeout(this.#closeTimer);
      this.#closeTimer = null;
    }
    this.#tokenExpiry?.clear();
    const info = this.#connection!.transportClosed();
    this.#closeInfo = info;
    this.#readyState = ReadyState.CLOSED;
    this.#queue = [];
    this.#queuedBytes = 0;
    const callbacks = this.#callbacks;
    if (callbacks !== null) {
      this.#callbacks = null;
      const error = new InvalidStateError('WebSocket closed before the data was written');
      for (const cb of callbacks) cb(error);
    }
    this[kOnClose]?.(this, info.code);
    this.emit('close', info.code, info.reason === '' ? EMPTY : Buffer.from(info.reason));
  }

  #emitError(error: Error): void {
    // Unlike ws, an error with no listener does not crash the process: the connection
    // is already failing and `close` will report it.
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  // ---- ConnectionHandler: events from the protocol core ---------------------------

  /** @internal */
  onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#metrics !== null) this.#metrics.messagesReceived++;
    // Counted before the application sees it; one null check when there is no limit.
    if (this.#rateLimiter !== null && !this.#rateLimiter.admit(this, data.length, isBinary)) return;
    this.emit('message', isBinary ? this.#convertBinary(data) : data, isBinary);
  }

  /** @internal */
  onPing(payload: Buffer): void {
    this.emit('ping', payload);
  }

  /** @internal */
  onPong(payload: Buffer): void {
    this.emit('pong', payload);
  }

  /** @internal */
  onClosing(_code: number, _reason: string): void {
    this.#readyState = ReadyState.CLOSING;
    this.#afterStateChange();
  }

  /** @internal */
  onError(error: WebSocketError): void {
    this.#readyState = ReadyState.CLOSING;
    this.#afterStateChange();
    this.#emitError(error);
  }

  /** @internal */
  write(data: Uint8Array): void {
    if (this.#metrics !== null) this.#metrics.bytesSent += data.length;
    if (this.#queue.length === 0) scheduleFlush(this);
    this.#queue.push(data);
    this.#queuedBytes += data.length;
  }

  /** @internal */
  end(): void {
    this.#endRequested = true;
    if (this.#queue.length === 0) this.#socket?.end();
    // else: _flush ends the socket after writing the queue.
  }

  /** @internal Writes everything queued this tick, merging small frames. */
  _flush(): void {
    const queue = this.#queue;
    const count = queue.length;
    const socket = this.#socket;
    if (count === 0 || socket === null || socket.destroyed) {
      this.#queue = [];
      this.#queuedBytes = 0;
      return;
    }
    let done: ((error?: Error | null) => void) | undefined;
    const callbacks = this.#callbacks;
    if (callbacks !== null) {
      this.#callbacks = null;
      done = (error) => {
        for (const cb of callbacks) cb(error);
      };
    }
    let flowing: boolean;
    if (count === 1) {
      flowing = socket.write(queue[0]!, done);
    } else if (this.#queuedBytes <= MERGE_LIMIT) {
      const merged = Buffer.allocUnsafe(this.#queuedBytes);
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
    this.#queue = [];
    this.#queuedBytes = 0;
    if (this.#endRequested) socket.end();
    if (this.#needDrain) {
      if (flowing) {
        this.#needDrain = false;
        process.nextTick(() => this.emit('drain'));
      } else {
        socket.once('drain', () => {
          this.#needDrain = false;
          if (this.#queue.length === 0) this.emit('drain');
        });
      }
    }
  }

  #convertBinary(data: Buffer): unknown {
    switch (this.#binaryType) {
      case 'nodebuffer':
        return data;
      case 'arraybuffer':
        return toArrayBuffer(data);
      case 'fragments':
        return [data];
      case 'blob':
        return new Blob([data]);
    }
  }

  // ---- WHATWG event surface ------------------------------------------------------

  /** Adds a WHATWG-style listener (`open`, `message`, `close`, `error`). */
  addEventListener(type: string, listener: EventListenerLike<any>, options: { once?: boolean } = {}): void {
    if (listener === null || listener === undefined) return;
    for (const existing of this.listeners(type) as WrappedListener[]) {
      if (existing[kListener] === listener && !existing[kForOnEventAttribute]) return;
    }
    const wrapped = wrapListener(this, type, listener, textOrBinary(this));
    if (options.once) this.once(type, wrapped);
    else this.on(type, wrapped);
  }

  /** Removes a listener added with `addEventListener`. */
  removeEventListener(type: string, listener: EventListenerLike<any>): void {
    for (const existing of this.listeners(type) as WrappedListener[]) {
      if (existing[kListener] === listener && !existing[kForOnEventAttribute]) {
        this.removeListener(type, existing);
        return;
      }
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
        this.removeListener(type, existing);
        break;
      }
    }
    if (typeof handler !== 'function') return;
    const wrapped = wrapListener(this, type, handler as EventListenerLike<any>, textOrBinary(this));
    wrapped[kForOnEventAttribute] = true;
    this.on(type, wrapped);
  }

  get onopen(): ((event: any) => void) | null {
    return this.#getOnAttribute('open') as any;
  }
  set onopen(handler: ((event: any) => void) | null) {
    this.#setOnAttribute('open', handler);
  }
  get onmessage(): ((event: any) => void) | null {
    return this.#getOnAttribute('message') as any;
  }
  set onmessage(handler: ((event: any) => void) | null) {
    this.#setOnAttribute('message', handler);
  }
  get onclose(): ((event: any) => void) | null {
    return this.#getOnAttribute('close') as any;
  }
  set onclose(handler: ((event: any) => void) | null) {
    this.#setOnAttribute('close', handler);
  }
  get onerror(): ((event: any) => void) | null {
    return this.#getOnAttribute('error') as any;
  }
  set onerror(handler: ((event: any) => void) | null) {
    this.#setOnAttribute('error', handler);
  }
}

for (const [name, value] of [
  ['CONNECTING', 0],
  ['OPEN', 1],
  ['CLOSING', 2],
  ['CLOSED', 3],
] as const) {
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true, value });
}

/** WHATWG message data: text as a string, binary as `binaryType` says ('nodebuffer' stays a Buffer). */
function textOrBinary(ws: WebSocket<any>): (data: any, isBinary: boolean) => unknown {
  return (data, isBinary) => (isBinary ? data : (data as Buffer).toString());
}

function noop(): void {}

/** Views any binary input as a Uint8Array without copying. */
export function toBytes(data: Exclude<SendData, string>): Uint8Array {
  if (data instanceof Uint8Array) return data;
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
