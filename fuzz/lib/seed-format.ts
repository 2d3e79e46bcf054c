/**
 * Fuzz inputs as JSON, for the seed files in `fuzz/seeds/`: byte arrays become
 * `{ "$bytes": "<hex>" }`, bigints `{ "$bigint": "<decimal>" }`, `undefined`
 * `{ "$undefined": true }` and non-finite numbers `{ "$number": "NaN" }`. Every other
 * value is plain JSON. A seed holds the concrete input, not the generator's choices, so
 * it replays the same way after the generators change.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Converts a fuzz input to a JSON-compatible value. */
export function toJson(value: unknown): Json {
  if (value === undefined) return { $undefined: true };
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0) ? value : { $number: String(value) };
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.length).toString('hex') };
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [key, item] of Object.entries(value)) out[key] = toJson(item);
    return out;
  }
  throw new TypeError(`cannot store a ${typeof value} in a seed`);
}

/** The inverse of `toJson`. Byte arrays come back as `Uint8Array`. */
export function fromJson(value: Json): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(fromJson);
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const tagged = value[keys[0]!];
    switch (keys[0]) {
      case '$undefined':
        return undefined;
      case '$bytes':
        return new Uint8Array(Buffer.from(tagged as string, 'hex'));
      case '$bigint':
        return BigInt(tagged as string);
      case '$number':
        return Number(tagged as string);
      default:
        break;
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = fromJson(item);
  return out;
}

/** One committed failure: what failed, how to regenerate it, and the input itself. */
export interface SeedFile {
  /** Name of the target in `fuzz/targets/index.ts`. */
  target: string;
  /** When it was found (ISO 8601). */
  date: string;
  /** fast-check seed and counterexample path: `fc.check(..., { seed, path })` replays it. */
  seed: number;
  path: string;
  /** What went wrong, as first reported. */
  error: string;
  /** The shrunk input, in the form of `toJson`. */
  input: Json;
  /** Optional note: the fix, the commit, the issue. */
  note?: string;
}
