/**
 * Token lifetime: a connection authenticated with a token that expires is closed with
 * 1008 "token expired" when it does, unless the application re-authenticates it in
 * band (`ws.reauthenticate(newExpiresAt)`).
 *
 * One timer per connection, armed only for connections with an expiry: no sweep runs
 * for the others. The timer is unref'd (it never keeps the process alive) and cleared
 * when the connection closes.
 */
import { MAX_TIMER_DELAY } from '../node/timers.js';

/** The close reason sent when a token expires. */
export const TOKEN_EXPIRED_REASON = 'token expired';

/** The `closeOnTokenExpiry` server option. */
export type TokenExpiryOption<Data> = boolean | ((data: Data) => number | null | undefined);

/**
 * How to read the expiry time (ms since the epoch) of a connection from its `ws.data`.
 *
 * @param option `true`: the JWT `exp` claim (seconds) of `ws.data`; a function: its
 *   result in ms, null or undefined for none; false or undefined: expiry is off.
 * @returns null when expiry is off.
 * @throws {TypeError} for any other value.
 */
export function tokenExpiryReader<Data>(option: TokenExpiryOption<Data> | undefined): ((data: Data) => number | null) | null {
  if (option === undefined || option === false) return null;
  if (option === true) return expiryFromClaims as (data: Data) => number | null;
  if (typeof option === 'function') return (data) => option(data) ?? null;
  throw new TypeError('closeOnTokenExpiry must be a boolean or a function returning ms since the epoch');
}

/** @internal On claims from `jwtAuthenticator`: the `clockTolerance` (s) they were accepted with. */
export const kClockTolerance = Symbol('volley.clockTolerance');

/**
 * The `exp` claim of a JWT payload (seconds since the epoch), in ms, plus the clock
 * tolerance `jwtAuthenticator` accepted it with; null when absent.
 *
 * @throws {TypeError} for an `exp` that is no finite number (RFC 7519 §2: a NumericDate
 *   is a JSON number): a token that should expire must not silently last for ever.
 */
export function expiryFromClaims(data: unknown): number | null {
  if (data === null || typeof data !== 'object') return null;
  const exp = (data as { exp?: unknown }).exp;
  if (exp === undefined || exp === null) return null;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) {
    throw new TypeError(`closeOnTokenExpiry: ws.data.exp must be a number of seconds since the epoch, got ${typeof exp === 'string' ? JSON.stringify(exp) : String(exp)}`);
  }
  const tolerance = (data as { [kClockTolerance]?: number })[kClockTolerance] ?? 0;
  return (exp + tolerance) * 1000;
}

/**
 * A deadline that calls `onExpire` once it passes, re-armable.
 *
 * @example
 * const timer = new ExpiryTimer(() => ws.close(1008, TOKEN_EXPIRED_REASON));
 * timer.set(claims.exp * 1000);
 */
export class ExpiryTimer {
  readonly #onExpire: () => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #expiresAt: number | null = null;

  /**
   * @param onExpire called once the deadline passes (not after `clear`)
   * @param now the wall clock in ms; deadlines are wall-clock times, like `exp`
   */
  constructor(onExpire: () => void, now: () => number = Date.now) {
    this.#onExpire = onExpire;
    this.#now = now;
  }

  /** The deadline in ms since the epoch, or null when none is set. */
  get expiresAt(): number | null {
    return this.#expiresAt;
  }

  /**
   * Sets (or moves) the deadline. A deadline already past fires on the next turn of
   * the event loop.
   *
   * @param expiresAt ms since the epoch
   * @throws {RangeError} for a value that is not a finite number.
   */
  set(expiresAt: number): void {
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
      throw new RangeError(`an expiry time must be a finite number of ms since the epoch, got ${String(expiresAt)}`);
    }
    this.#expiresAt = expiresAt;
    this.#arm();
  }

  /** Removes the deadline. */
  clear(): void {
    this.#expiresAt = null;
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  #arm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    const delay = Math.max(0, this.#expiresAt! - this.#now());
    // Longer waits than setTimeout takes are chained (#fire re-arms before the deadline).
    this.#timer = setTimeout(() => this.#fire(), Math.min(delay, MAX_TIMER_DELAY));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = null;
    if (this.#expiresAt === null) return;
    // Chained for long waits; timers may also fire a little early.
    if (this.#now() < this.#expiresAt) {
      this.#arm();
      return;
    }
    this.#expiresAt = null;
    this.#onExpire();
  }
}
