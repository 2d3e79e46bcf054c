/**
 * How a fuzz target reports a defect: it throws `Defect`. Anything a target lets escape
 * (a `Defect`, or an exception of the code under test) fails the campaign and is kept
 * as a seed.
 */

/** A broken invariant: the code under test did something no input may make it do. */
export class Defect extends Error {
  override name = 'Defect';
}

/** Throws a `Defect` with `message`. */
export function defect(message: string, options?: { cause?: unknown }): never {
  throw new Defect(message, options);
}

/** Throws a `Defect` unless `condition` holds; `message` is only built on failure. */
export function invariant(condition: unknown, message: () => string): asserts condition {
  if (!condition) throw new Defect(message());
}

/** Short hex of bytes for messages: at most `max` bytes shown. */
export function hexOf(bytes: Uint8Array, max = 48): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const shown = buffer.subarray(0, max).toString('hex');
  return bytes.length > max ? `${shown}… (${bytes.length} bytes)` : shown;
}

/** Whether two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/**
 * Splits `bytes` at the given cut points (sorted, repeats and points outside the bytes
 * dropped). Points are absolute, so that shrinking the bytes keeps the chunking. Each
 * piece is a fresh copy: the parser unmasks received chunks in place, and the fuzz
 * input must stay unchanged for shrinking and replay.
 */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const length = bytes.length;
  const points = [...new Set(cuts)].filter((point) => point > 0 && point < length).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const point of [...points, length]) {
    pieces.push(Buffer.from(bytes.subarray(start, point)));
    start = point;
  }
  return pieces;
}

/** Splits `bytes` into pieces of one byte each (fresh copies). */
export function splitBytewise(bytes: Uint8Array): Buffer[] {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) pieces.push(Buffer.of(bytes[i]!));
  return pieces;
}

/**
 * Runs `fn` and returns its duration in ms. When it took longer than `limitMs` it is
 * run twice more and the fastest of the three counts, so that a garbage-collection
 * pause or a busy machine does not pass for super-linear time.
 */
export function timed(fn: () => void, limitMs: number): number {
  let best = measure(fn);
  for (let retry = 0; retry < 2 && best > limitMs; retry++) best = Math.min(best, measure(fn));
  return best;
}

function measure(fn: () => void): number {
  const start = performance.now();
  try {
    fn();
  } catch {
    // The caller checks outcomes separately; only time matters here.
  }
  return performance.now() - start;
}
