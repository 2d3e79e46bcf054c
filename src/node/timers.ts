/** The longest delay setTimeout and setInterval take: 2^31 - 1 ms, about 24.8 days. Beyond it they fire after 1 ms. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * A timeout option: `fallback` when not given, else a number of ms >= 0 (Infinity
 * allowed). A string, NaN or a negative number throws where the option is given, not
 * later as a timer firing at once or never.
 *
 * @throws {TypeError} for a value that is not a number.
 * @throws {RangeError} for NaN or a negative number.
 */
export function timeoutOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number of ms, got ${typeof value}`);
  if (!(value >= 0)) throw new RangeError(`${name} must be a number of ms >= 0, got ${value}`);
  return value;
}
