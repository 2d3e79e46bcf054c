/**
 * A clock read at most once per turn of the event loop, for checks that run on every
 * message. Reading the system clock costs 20 ns on some machines and over 200 ns on
 * virtual machines without a fast clock source, which would be most of the cost of a
 * small message; a turn's messages share one reading instead. Time stands still within
 * a turn, which is precise enough for limits counted in messages per second.
 */

let cached = -1;
const forget = (): void => {
  cached = -1;
};

/** Monotonic ms (as `performance.now()`), read once per event-loop turn. */
export function turnClock(): number {
  if (cached < 0) {
    cached = performance.now();
    // Runs at the end of this turn (the check phase), after the I/O callbacks that
    // share this reading.
    setImmediate(forget);
  }
  return cached;
}
