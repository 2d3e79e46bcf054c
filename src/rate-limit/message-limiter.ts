/**
 * Per-connection rate limits on received messages and bytes (`rateLimit` server
 * option): one token bucket for the message count and one for payload bytes. The check
 * runs when a whole message has arrived and before the `message` event, so a message
 * over the limit never reaches the application.
 *
 * Over the limit, `'drop'` discards the message and tells the client once per run of
 * dropped messages (never once per message: a flood must not be answered by a flood);
 * `'close'` fails the connection with 1008.
 */
import { kFail, kMidMessage, type SendData } from '../node/websocket.js';
import { turnClock } from './clock.js';

/** What happens to a message over the limit. */
export type RateLimitAction = 'drop' | 'close';

/** The `rateLimit` server option. */
export interface RateLimitOptions<Socket = any> {
  /** Messages allowed per `per` ms (also the largest burst). Default: no message limit. */
  messages?: number;
  /** Payload bytes allowed per `per` ms (also the largest burst). Default: no byte limit. */
  bytes?: number;
  /** The period in ms. Default 1 000. */
  per?: number;
  /**
   * `'drop'` (default): the message is discarded and the client told (see `onLimit`);
   * `'close'`: the connection is failed with 1008 "rate limit exceeded".
   */
  action?: RateLimitAction;
  /**
   * With `'drop'`: called for the first message dropped after one that was accepted,
   * instead of sending the default error message. Send what your protocol expects
   * (or nothing). Later drops in the same run are only counted.
   */
  onLimit?: (ws: Socket, info: RateLimitInfo) => void;
}

/** Why a message was dropped. */
export interface RateLimitInfo {
  /** The limit that was exceeded. */
  limit: 'messages' | 'bytes';
  /** Payload bytes of the dropped message. */
  size: number;
  isBinary: boolean;
  /** Milliseconds until a message of this size would be accepted (Infinity if never: it exceeds `bytes`). */
  retryAfter: number;
}

/** Validated `rateLimit` options shared by every connection of a server. */
export interface RateLimitConfig {
  readonly messages: number;
  readonly bytes: number;
  readonly per: number;
  readonly action: RateLimitAction;
  readonly onLimit: ((ws: any, info: RateLimitInfo) => void) | undefined;
  /** Monotonic clock in ms. Default: `turnClock`, read once per event-loop turn. */
  readonly now: () => number;
}

/** The close reason of the `'close'` action. */
export const RATE_LIMIT_CLOSE_REASON = 'rate limit exceeded';

export const DEFAULT_RATE_LIMIT_PERIOD = 1_000;

/** Counters the limiter reports drops to (the server's metrics). */
export interface RateLimitCounters {
  messagesDroppedRateLimit: number;
}

/** What the limiter needs of a connection. */
export interface LimitedConnection {
  readonly readyState: number;
  send(data: SendData): unknown;
  /** Fails the connection with a close code (no close handshake wait, further input ignored). */
  [kFail](code: number, reason: string): void;
  /** Whether what is sent now would continue a fragmented message. */
  readonly [kMidMessage]?: boolean;
}

/**
 * Checks and normalizes the `rateLimit` option.
 *
 * @returns null when no limit is configured.
 * @throws {RangeError} for a limit or period that is not a positive number.
 * @throws {TypeError} for an unknown action or a non-function `onLimit`.
 */
export function normalizeRateLimit(options: RateLimitOptions | undefined | null, now: () => number = turnClock): RateLimitConfig | null {
  if (options === undefined || options === null) return null;
  const { messages, bytes } = options;
  const per = options.per ?? DEFAULT_RATE_LIMIT_PERIOD;
  const action = options.action ?? 'drop';
  if (messages === undefined && bytes === undefined) {
    throw new TypeError('rateLimit needs "messages", "bytes" or both');
  }
  for (const [name, value] of [['messages', messages], ['bytes', bytes], ['per', per]] as const) {
    if (value !== undefined && !(typeof value === 'number' && value > 0 && Number.isFinite(value))) {
      throw new RangeError(`rateLimit.${name} must be a positive number, got ${String(value)}`);
    }
  }
  if (action !== 'drop' && action !== 'close') {
    throw new TypeError(`rateLimit.action must be "drop" or "close", got ${String(action)}`);
  }
  if (options.onLimit !== undefined && typeof options.onLimit !== 'function') {
    throw new TypeError('rateLimit.onLimit must be a function');
  }
  return { messages: messages ?? 0, bytes: bytes ?? 0, per, action, onLimit: options.onLimit, now };
}

/**
 * The limits of one connection: two token buckets (messages and bytes) kept inline, so
 * that an accepted message costs a clock read that is usually cached, two comparisons
 * and two subtractions. A limit that is not configured is a bucket holding Infinity.
 *
 * @example
 * const limiter = new MessageLimiter(config, metrics);
 * // in the message path:
 * if (!limiter.admit(ws, data.length, isBinary)) return;
 */
export class MessageLimiter {
  readonly #config: RateLimitConfig;
  readonly #counters: RateLimitCounters | null;
  readonly #messageCapacity: number;
  readonly #byteCapacity: number;
  /** Tokens added per ms. */
  readonly #messageRate: number;
  readonly #byteRate: number;
  // Initialized with numbers, not left undefined until the constructor: V8 then keeps
  // these fields as numbers and updates them in place instead of boxing every new value.
  #messageTokens = 0;
  #byteTokens = 0;
  #updatedAt = 0;
  /** Whether the client was told about the current run of drops. */
  #notified = false;

  constructor(config: RateLimitConfig, counters: RateLimitCounters | null = null) {
    this.#config = config;
    this.#counters = counters;
    // A message takes a whole token: under one message per `per`, the bucket still
    // holds one, refilled at the configured rate (0.5 per second: one every 2 s).
    this.#messageCapacity = config.messages > 0 ? Math.max(1, config.messages) : Infinity;
    this.#byteCapacity = config.bytes > 0 ? config.bytes : Infinity;
    this.#messageRate = config.messages > 0 ? config.messages / config.per : 0;
    this.#byteRate = config.bytes > 0 ? config.bytes / config.per : 0;
    this.#messageTokens = this.#messageCapacity;
    this.#byteTokens = this.#byteCapacity;
    this.#updatedAt = config.now();
  }

  /**
   * Counts a received message against the limits.
   *
   * @returns true to deliver it; false when it was dropped (or the connection failed).
   */
  admit(ws: LimitedConnection, size: number, isBinary: boolean): boolean {
    const now = this.#config.now();
    if (now > this.#updatedAt) this.#refill(now);
    // Both limits are checked before either is charged: a message refused for its size
    // must not use up a message token, and the reverse.
    if (this.#messageTokens >= 1 && this.#byteTokens >= size) {
      this.#messageTokens -= 1;
      this.#byteTokens -= size;
      this.#notified = false;
      return true;
    }
    return this.#drop(ws, size, isBinary);
  }

  #refill(now: number): void {
    const elapsed = now - this.#updatedAt;
    this.#updatedAt = now;
    this.#messageTokens = Math.min(this.#messageCapacity, this.#messageTokens + elapsed * this.#messageRate);
    this.#byteTokens = Math.min(this.#byteCapacity, this.#byteTokens + elapsed * this.#byteRate);
  }

  #drop(ws: LimitedConnection, size: number, isBinary: boolean): boolean {
    if (this.#messageTokens === -Infinity) return false; // failed already ('close')
    if (this.#counters !== null) this.#counters.messagesDroppedRateLimit++;
    if (this.#config.action === 'close') {
      this.#messageTokens = -Infinity; // nothing passes any more
      // RFC 6455 §7.4.1: 1008, a message that violates the endpoint's policy.
      ws[kFail](1008, RATE_LIMIT_CLOSE_REASON);
      return false;
    }
    if (this.#notified) return false;
    this.#notified = true;
    // When both buckets are short the message passes once the slower one has refilled:
    // that wait is retryAfter, and its bucket the limit.
    const messageWait = this.#messageTokens < 1 ? Math.ceil((1 - this.#messageTokens) / this.#messageRate) : 0;
    const byteWait =
      size > this.#byteCapacity ? Infinity : this.#byteTokens < size ? Math.ceil((size - this.#byteTokens) / this.#byteRate) : 0;
    const limit: RateLimitInfo['limit'] = byteWait > messageWait ? 'bytes' : 'messages';
    const info: RateLimitInfo = { limit, size, isBinary, retryAfter: Math.max(messageWait, byteWait) };
    if (this.#config.onLimit !== undefined) {
      this.#config.onLimit(ws, info);
    } else if (ws.readyState === 1 && ws[kMidMessage] !== true) {
      // Not while the application sends a fragmented message: the notice would become
      // its next fragment.
      ws.send(defaultLimitMessage(info));
    }
    return false;
  }
}

/**
 * The text message sent to a client whose message was dropped, when no `onLimit` is
 * given: `{"error":"rate_limited","limit":"messages","retryAfter":250}` (`retryAfter`
 * in ms, `null` when the message can never fit the byte limit).
 */
export function defaultLimitMessage(info: RateLimitInfo): string {
  const retryAfter = Number.isFinite(info.retryAfter) ? String(info.retryAfter) : 'null';
  return `{"error":"rate_limited","limit":"${info.limit}","retryAfter":${retryAfter}}`;
}
