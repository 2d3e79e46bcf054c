/**
 * The WHATWG event surface of a WebSocket (`addEventListener`, `onmessage`, ...), on
 * top of its Node.js EventEmitter events, the way browsers' WebSocket behaves; the
 * light EventEmitter base that WebSocket extends; `listenTo`, for listeners added and
 * removed as a set; and `throwUncaught`, for exceptions of application code.
 */
import { EventEmitter } from 'node:events';

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

/** Base event passed to `addEventListener` listeners. */
export class Event {
  readonly type: string;
  target: unknown = null;
  constructor(type: string) {
    this.type = type;
  }
}

/** A `message` event: `data` is a string for text, else per `binaryType`. */
export class MessageEvent extends Event {
  readonly data: unknown;
  constructor(type: string, init: { data?: unknown } = {}) {
    super(type);
    this.data = init.data ?? null;
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
  readonly error: unknown;
  readonly message: string;
  constructor(type: string, init: { error?: unknown; message?: string } = {}) {
    super(type);
    this.error = init.error ?? null;
    this.message = init.message ?? '';
  }
}

export type EventListenerLike<E> = ((event: E) => void) | { handleEvent(event: E): void };

export interface WebSocketEventMap {
  open: Event;
  message: MessageEvent;
  close: CloseEvent;
  error: ErrorEvent;
}

/** Marks listeners added through addEventListener / on<event>, so they can be found again. */
export const kListener = Symbol('volley.listener');
export const kForOnEventAttribute = Symbol('volley.onEventAttribute');

export type WrappedListener = ((...args: any[]) => void) & {
  [kListener]?: unknown;
  [kForOnEventAttribute]?: boolean;
};

/** Builds the EventEmitter listener that turns Node-style arguments into a WHATWG event. */
export function wrapListener(
  target: any,
  type: string,
  listener: EventListenerLike<any>,
  convertMessage: (data: Buffer, isBinary: boolean) => unknown,
): WrappedListener {
  const call = (event: Event) => {
    event.target = target;
    if (typeof listener === 'function') listener.call(target, event);
    else listener.handleEvent(event);
  };
  let wrapped: WrappedListener;
  switch (type) {
    case 'message':
      wrapped = (data: Buffer, isBinary: boolean) => call(new MessageEvent('message', { data: convertMessage(data, isBinary) }));
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

function rethrow(error: unknown): never {
  throw error;
}
