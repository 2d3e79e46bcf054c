/**
 * A token bucket: holds up to `capacity` tokens, refills continuously at
 * `capacity / per` tokens per millisecond, and lets an action through when the tokens
 * it costs are there. A full bucket allows a burst of `capacity`; the long-run rate is
 * `capacity` per `per` milliseconds.
 *
 * Pure: the caller passes the time, so tests drive it with a fake clock and the node
 * layer reads the clock once per check.
 */

/**
 * @example
 * const bucket = new TokenBucket(100, 10_000, Date.now()); // 100 per 10 s, bursts of 100
 * if (!bucket.take(1, Date.now())) dropMessage();
 */
export class TokenBucket {
  /** Most tokens the bucket holds (the largest burst). */
  readonly capacity: number;
  /** Tokens added per millisecond. */
  readonly #rate: number;
  // Numbers from the start (not undefined until the constructor), so that V8 updates
  // them in place rather than boxing each new value.
  #tokens = 0;
  #updatedAt = 0;

  /**
   * @param capacity tokens when full, a positive number
   * @param per milliseconds to refill an empty bucket, a positive number
   * @param now the current time in ms (any monotonic origin)
   * @throws {RangeError} for a capacity or period that is not a positive finite number.
   */
  constructor(capacity: number, per: number, now: number) {
    if (!(capacity > 0) || !Number.isFinite(capacity)) {
      throw new RangeError(`a token bucket's capacity must be a positive number, got ${capacity}`);
    }
    if (!(per > 0) || !Number.isFinite(per)) {
      throw new RangeError(`a token bucket's period must be a positive number of ms, got ${per}`);
    }
    this.capacity = capacity;
    this.#rate = capacity / per;
    this.#tokens = capacity;
    this.#updatedAt = now;
  }

  /** Tokens available at `now`. */
  available(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  /** Whether `cost` tokens are available at `now`, without taking them. */
  has(cost: number, now: number): boolean {
    this.#refill(now);
    return this.#tokens >= cost;
  }

  /**
   * Takes `cost` tokens if they are all available at `now`.
   *
   * @returns true when taken; false (and nothing taken) when there are too few.
   */
  take(cost: number, now: number): boolean {
    this.#refill(now);
    if (this.#tokens < cost) return false;
    this.#tokens -= cost;
    return true;
  }

  /** Takes `cost` tokens without checking (after `has` said yes for every bucket involved). */
  consume(cost: number): void {
    this.#tokens -= cost;
  }

  /** Whether the bucket is full at `now`: an idle key whose state can be forgotten. */
  isFull(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.capacity;
  }

  /**
   * Milliseconds from `now` until `cost` tokens are available: 0 when they are;
   * Infinity when `cost` exceeds the capacity (it never will be).
   */
  msUntil(cost: number, now: number): number {
    this.#refill(now);
    if (this.#tokens >= cost) return 0;
    if (cost > this.capacity) return Infinity;
    return Math.ceil((cost - this.#tokens) / this.#rate);
  }

  #refill(now: number): void {
    const elapsed = now - this.#updatedAt;
    // A clock that steps backwards adds nothing (and does not move the origin back).
    if (elapsed <= 0) return;
    this.#updatedAt = now;
    const tokens = this.#tokens + elapsed * this.#rate;
    this.#tokens = tokens > this.capacity ? this.capacity : tokens;
  }
}
