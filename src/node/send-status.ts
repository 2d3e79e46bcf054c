/**
 * What `send` reports, with the numbers of uWebSockets.js's `SendStatus`, chosen so
 * that `ws`-style truthiness still reads "not backed up": only BACKPRESSURE is falsy.
 */
export const SendStatus = {
  /** Queued, but the send buffer is at or above the socket's high-water mark: wait for `drain`. */
  BACKPRESSURE: 0,
  /** Written, or queued below the high-water mark. */
  SENT: 1,
  /**
   * Not queued: the connection is not open, or more than `maxBackpressure` bytes are
   * already buffered (policy `'drop'`, or `'close'`, which also starts closing it).
   */
  DROPPED: 2,
} as const;
export type SendStatus = (typeof SendStatus)[keyof typeof SendStatus];

/**
 * What one `publish` or `broadcast` call did, counted over its recipients (one object
 * per call, never one per recipient). Connections that are not open are not counted.
 */
export interface PublishResult {
  /** Recipients that got the message queued below their high-water mark. */
  sent: number;
  /** Recipients that got it queued above their high-water mark (they are slow). */
  backpressure: number;
  /** Recipients over `maxBackpressure` that did not get it. */
  dropped: number;
}

/**
 * What a slow consumer costs: with `'drop'` a message is not queued for a connection
 * that has more than `maxBackpressure` bytes buffered; with `'close'` the connection
 * is also closed with 1013 (Try Again Later).
 */
export type BackpressurePolicy = 'drop' | 'close';

/** Default `maxBackpressure` of server-side connections: 1 MiB buffered per connection. */
export const DEFAULT_MAX_BACKPRESSURE = 1024 * 1024;

/**
 * Checks `maxBackpressure` and `backpressurePolicy` when a server or client is created,
 * rather than when its first connection opens.
 *
 * @throws {RangeError} for a `maxBackpressure` that is not a number of bytes >= 0.
 * @throws {TypeError} for a policy other than 'drop' or 'close'.
 */
export function checkBackpressureOptions(options: { maxBackpressure?: number; backpressurePolicy?: string }): void {
  const max = options.maxBackpressure;
  if (max !== undefined && !(Number.isFinite(max) && max >= 0)) {
    throw new RangeError(`maxBackpressure must be a number of bytes >= 0, got ${max}`);
  }
  const policy = options.backpressurePolicy;
  if (policy !== undefined && policy !== 'drop' && policy !== 'close') {
    throw new TypeError(`backpressurePolicy must be 'drop' or 'close', got ${String(policy)}`);
  }
}
