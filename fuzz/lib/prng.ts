/**
 * Bulk content from a seed. fast-check builds byte arrays and strings one element at a
 * time (about 0.5 µs a byte), which would cap a campaign at a few thousand inputs a
 * second; generators here draw a length and a 32-bit seed from fast-check instead and
 * expand them with xorshift32. Shrinking still works where it matters: a shorter length
 * with the same seed gives a prefix of the same bytes.
 */

/** A small deterministic generator (xorshift32). Never yields a zero state. */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = (seed ^ 0x9e3779b9) >>> 0 || 0x6d2b79f5;
  }

  /** The next 32-bit unsigned value. */
  next(): number {
    let x = this.#state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.#state = x;
    return x;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : this.next() % n;
  }

  /** True with probability `numerator / denominator`. */
  chance(numerator: number, denominator: number): boolean {
    return this.below(denominator) < numerator;
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  /** `length` random bytes. */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    let i = 0;
    for (; i + 4 <= length; i += 4) {
      const v = this.next();
      out[i] = v;
      out[i + 1] = v >>> 8;
      out[i + 2] = v >>> 16;
      out[i + 3] = v >>> 24;
    }
    for (; i < length; i++) out[i] = this.next();
    return out;
  }

  /**
   * A string of `length` code points: mostly ASCII, with 2-, 3- and 4-byte UTF-8
   * characters, including the boundaries of each range (U+007F, U+0080, U+07FF,
   * U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF) and U+FEFF.
   */
  text(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) {
      const r = this.below(100);
      let code: number;
      if (r < 70) code = 0x20 + this.below(0x5f);
      else if (r < 75) code = this.below(0x80);
      else if (r < 83) code = 0x80 + this.below(0x780);
      else if (r < 90) {
        code = 0x800 + this.below(0xf800 - 0x800);
        if (code >= 0xd800 && code <= 0xdfff) code += 0x800;
      } else if (r < 96) code = 0x10000 + this.below(0x100000);
      else code = this.pick([0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfeff, 0xffff, 0x10000, 0x10ffff]);
      out += String.fromCodePoint(code);
    }
    return out;
  }
}
