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
 * run up to four times more and the fastest run counts; if that is still over the
 * limit, it is scaled down by how much slower a fixed calibration loop runs at that
 * moment than the fastest it ever ran, so that a garbage-collection pause or a machine
 * busy with other work does not pass for super-linear time.
 */
export function timed(fn: () => void, limitMs: number): number {
  let best = measure(fn);
  for (let retry = 0; retry < 4 && best > limitMs; retry++) best = Math.min(best, measure(fn));
  if (best > limitMs) best /= slowdown();
  return best;
}

let fastestCalibration = Infinity;

/** How many times slower than its best the calibration loop runs now (at least 1). */
function slowdown(): number {
  let now = Infinity;
  for (let i = 0; i < 3; i++) now = Math.min(now, measure(calibrate));
  fastestCalibration = Math.min(fastestCalibration, now, ...Array.from({ length: 3 }, () => measure(calibrate)));
  return Math.max(1, now / fastestCalibration);
}

let sink = 0;

/** A fixed amount of work of the kind the parsers do: a scan over a string. */
function calibrate(): void {
  let sum = 0;
  for (let i = 0; i < 200_000; i++) sum = (sum + CALIBRATION_TEXT.charCodeAt(i & 1023)) | 0;
  sink ^= sum;
}

const CALIBRATION_TEXT = 'permessage-deflate; client_max_window_bits=15, '.repeat(22).slice(0, 1024);

function measure(fn: () => void): number {
  const start = performance.now();
  try {
    fn();
  } catch {
    // The caller checks outcomes separately; only time matters here.
  }
  return performance.now() - start;
}

// A first baseline, refined whenever `slowdown` runs.
for (let i = 0; i < 3; i++) fastestCalibration = Math.min(fastestCalibration, measure(calibrate));
