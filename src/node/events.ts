/**
 * The WHATWG event surface of a WebSocket (`addEventListener`, `onmessage`, ...), on
 * top of its Node.js EventEmitter events, the way browsers' WebSocket behaves; the
 * light EventEmitter base that WebSocket extends; `listenTo`, for listeners added and
 * removed as a set; and `throwUncaught` and `callApplication`, for exceptions of
 * application code.
 */
import { EventEmitter } from 'node:events';
import type { WebSocket } from './websocket.js';

/**
 * The table of an EventEmitter's listeners (`_events`): no inherited keys, like
 * EventEmitter's own `{ __proto__: null }`, but created by a constructor, so that V8
 * keeps it in fast mode (a hash table of 216 bytes per connection in a heap snapshot
 * against 32 bytes).
 */
function Listeners(): void {}
Listeners.prototype = Object.create(null);

/**
 * An EventEmitter whose constructor makes only what EventEmitter's methods read: the
 * listener table (a `Listeners`), its count and `_maxListeners`. Node's constructor
 * first makes a `{ __proto__: null }` table, which V8 holds as a hash table, and sets
 * the capture-rejections flag on the instance; here the table is small from the start
 * and the flag is read from `EventEmitter.prototype` (so `EventEmitter.captureRejections`
 * applies as it does to any emitter). Its prototype is EventEmitter's: every method,
 * and `instanceof EventEmitter`, are EventEmitter's own.
 */
export const Emitter = function Emitter(this: { _events: object; _eventsCount: number; _maxListeners: number | undefined }): void {
  this._events = new (Listeners as unknown as new () => object)();
  this._eventsCount = 0;
  this._maxListeners = undefined;
} as unknown as typeof EventEmitter;
Emitter.prototype = EventEmitter.prototype;
// Static members (`defaultMaxListeners`, `once`, ...) as on EventEmitter.
Object.setPrototypeOf(Emitter, EventEmitter);

type Disposer = Record<symbol, () => void>;
const addAbortListener = (EventEmitter as unknown as { addAbortListener?: (signal: AbortSignal, listener: () => void) => Disposer }).addAbortListener;
// Node.js 20 has no global Symbol.dispose; its disposables use this one.
const DISPOSE: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('nodejs.dispose');

/**
 * Calls `listener` once when `signal` aborts, as the DOM's abort algorithms run: an
 * `abort` listener of the application's that calls `stopImmediatePropagation()` does
 * not keep it from running (Node.js's `addAbortListener`, from 20.5). Returns what
 * stops listening.
 */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  if (addAbortListener !== undefined) {
    const disposable = addAbortListener(signal, listener);
    return () => disposable[DISPOSE]!();
  }
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/** Base event passed to `addEventListener` listeners. */
export class Event {
  readonly type: string;
  /** The WebSocket the event is for (null until dispatched). */
  target: WebSocket<any> = null as unknown as WebSocket<any>;
  constructor(type: string) {
    this.type = type;
  }
}

/**
 * What a `message` event carries: a string for text; for binary, per `binaryType`, a
 * Buffer ('nodebuffer'), an ArrayBuffer, an array of Buffers ('fragments') or a Blob.
 */
export type MessageEventData = string | Buffer | ArrayBuffer | Buffer[] | Blob;

/** A `message` event: `data` is a string for text, else per `binaryType`. */
export class MessageEvent extends Event {
  readonly data: MessageEventData;
  constructor(type: string, init: { data?: MessageEventData } = {}) {
    super(type);
    this.data = init.data ?? (null as unknown as MessageEventData);
  }
}

/** A `close` event. */
export class CloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
  }
}

/** An `error` event. */
export class ErrorEvent extends Event {
  /** The Error (typed `any` as in `@types/ws`). */
  readonly error: any;
  readonly message: string;
  constructor(type: string, init: { error?: unknown; message?: string } = {}) {
    super(type);
    this.error = init.error ?? null;
    this.message = init.message ?? '';
  }
}

/** An `on<event>` handler: a function called with the WebSocket as `this`. */
export type EventHandler<E> = (this: WebSocket<any>, event: E) => void;

/** A listener for `addEventListener`: an `EventHandler` or an object with `handleEvent`. */
export type EventListenerLike<E> = EventHandler<E> | { handleEvent(event: E): void };

/** The options of `addEventListener` that apply (`capture` and `passive` mean nothing here). */
export interface AddEventListenerOptions {
  /** Remove the listener after its first call. */
  once?: boolean;
  /** Remove the listener when this signal aborts. */
  signal?: AbortSignal;
  capture?: boolean;
  passive?: boolean;
}

/** The WHATWG events and what their listeners get. */
export interface WebSocketEventMap {
  open: Event;
  message: MessageEvent;
  close: CloseEvent;
  error: ErrorEvent;
}

/** Marks listeners added through addEventListener / on<event>, so they can be found again. */
export const kListener = Symbol('volley.listener');
export const kForOnEventAttribute = Symbol('volley.onEventAttribute');
/** Set on a listener once removed: a dispatch already under way skips it (DOM "inner invoke"). */
const kRemoved = Symbol('volley.removed');
/** Removes the listener's `abort` listener from its `signal`, where it has one. */
export const kDetachSignal = Symbol('volley.detachSignal');

export type WrappedListener = ((...args: any[]) => void) & {
  [kListener]?: unknown;
  [kForOnEventAttribute]?: boolean;
  [kRemoved]?: boolean;
  [kDetachSignal]?: (() => void) | undefined;
};

/**
 * Removes a listener added through `addEventListener` or an `on<event>` attribute: from
 * the emitter, from a dispatch under way (EventEmitter calls a copy of its list), and
 * from its `signal`, which would otherwise keep the WebSocket alive.
 */
export function removeWrapped(target: EventEmitter, type: string, wrapped: WrappedListener): void {
  wrapped[kRemoved] = true;
  target.removeListener(type, wrapped);
  const detach = wrapped[kDetachSignal];
  if (detach !== undefined) {
    wrapped[kDetachSignal] = undefined;
    detach();
  }
}

/**
 * Checks `addEventListener`'s arguments as WebIDL converts them, before anything is
 * added: a listener that is neither a function nor an object, or a `signal` that is not
 * an AbortSignal, is a TypeError (not a failure at the first event).
 */
export function checkListenerArguments(listener: unknown, options: unknown): { once: boolean; signal: AbortSignal | undefined } {
  if (typeof listener !== 'function' && (typeof listener !== 'object' || listener === null)) {
    throw new TypeError('The "listener" argument must be a function or an object with a handleEvent method');
  }
  if (typeof options !== 'object' || options === null) return { once: false, signal: undefined };
  const { once, signal } = options as { once?: unknown; signal?: unknown };
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('The "signal" option must be an AbortSignal');
  return { once: Boolean(once), signal };
}

/** Builds the EventEmitter listener that turns Node-style arguments into a WHATWG event. */
export function wrapListener(
  target: any,
  type: string,
  listener: EventListenerLike<any>,
  convertMessage: (data: Buffer, isBinary: boolean) => unknown,
  once = false,
): WrappedListener {
  const call = (event: Event) => {
    if (wrapped[kRemoved] === true) return;
    if (once) removeWrapped(target, type, wrapped);
    event.target = target;
    if (typeof listener === 'function') listener.call(target, event);
    else listener.handleEvent(event);
  };
  let wrapped: WrappedListener;
  switch (type) {
    case 'message':
      wrapped = (data: Buffer, isBinary: boolean) => call(new MessageEvent('message', { data: convertMessage(data, isBinary) as MessageEventData }));
      break;
    case 'close':
      wrapped = (code: number, reason: Buffer, wasClean?: boolean) =>
        call(new CloseEvent('close', { code, reason: reason.toString(), wasClean: wasClean ?? target.wasClean }));
      break;
    case 'error':
      wrapped = (error: Error) => call(new ErrorEvent('error', { error, message: error.message }));
      break;
    default:
      wrapped = () => call(new Event(type));
  }
  wrapped[kListener] = listener;
  return wrapped;
}

/**
 * Adds each of `listeners` (by event name) to `emitter`, and returns the function that
 * removes them all again: what is added and what is removed cannot drift apart.
 */
export function listenTo(emitter: EventEmitter, listeners: Readonly<Record<string, (...args: any[]) => void>>): () => void {
  for (const [event, listener] of Object.entries(listeners)) emitter.on(event, listener);
  return () => {
    for (const [event, listener] of Object.entries(listeners)) emitter.off(event, listener);
  };
}

/**
 * Reports `error`, thrown by application code this library called (a callback, a
 * listener), as an uncaught exception, as a throwing listener's is: on the next tick,
 * so that the caller first finishes what it owes the others.
 */
export function throwUncaught(error: unknown): void {
  process.nextTick(rethrow, error);
}

/**
 * Runs application code (a listener through `emit`, a callback): what it throws is
 * reported by `throwUncaught`, and the caller goes on with its own bookkeeping.
 */
export function callApplication(op: () => void): void {
  try {
    op();
  } catch (error) {
    throwUncaught(error);
  }
}

function rethrow(error: unknown): never {
  throw error;
}
