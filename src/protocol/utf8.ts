/**
 * Streaming, fail-fast UTF-8 validation (RFC 3629, as RFC 6455 §5.6 and §8.1 require).
 *
 * Text arrives in pieces: fragments of a message, and TCP chunks of a frame. A code
 * point may be split across pieces, and RFC 6455 §8.1 wants the connection failed as
 * soon as the data cannot be valid. Each piece is split into the complete code points
 * (checked by Node's native `buffer.isUtf8`) and an incomplete tail of at most 3 bytes,
 * which is checked to be a valid *prefix* at once and carried to the next piece.
 */
import { isUtf8 } from 'node:buffer';

/**
 * Whether `bytes[0..length)` (1 to 3 bytes) can begin a valid UTF-8 sequence that
 * needs more bytes. Follows the well-formed byte sequences table of Unicode §3.9
 * (RFC 3629 §4): the second byte's range depends on the lead byte.
 */
function isValidPrefix(b0: number, b1: number, b2: number, length: number): boolean {
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) need = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    need = 3;
    if (b0 === 0xe0) lo = 0xa0; // no overlong 3-byte forms
    else if (b0 === 0xed) hi = 0x9f; // no UTF-16 surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    need = 4;
    if (b0 === 0xf0) lo = 0x90; // no overlong 4-byte forms
    else if (b0 === 0xf4) hi = 0x8f; // nothing above U+10FFFF
  } else return false;
  if (length >= need) return false; // complete: not a prefix
  if (length >= 2 && (b1 < lo || b1 > hi)) return false;
  if (length >= 3 && (b2 < 0x80 || b2 > 0xbf)) return false;
  return true;
}

/** How many bytes a sequence starting with lead byte `b` has, or 0 if `b` is not a lead byte. */
function sequenceLength(b: number): number {
  if (b < 0x80) return 1;
  if (b < 0xc2) return 0;
  if (b < 0xe0) return 2;
  if (b < 0xf0) return 3;
  if (b < 0xf5) return 4;
  return 0;
}

/** Where a carried code point is completed; shared, since validation is synchronous. */
const SEQUENCE = new Uint8Array(4);

/**
 * Validates UTF-8 fed in pieces. `push` returns false as soon as the bytes seen so far
 * cannot be the start of valid UTF-8; `end` returns whether the whole input was valid.
 * Allocation-free after construction.
 *
 * @example
 * const v = new Utf8Validator();
 * v.push(Buffer.from([0xce])) && v.push(Buffer.from([0xba])) && v.end(); // true: "κ" split in two
 */
export class Utf8Validator {
  /** How many bytes of an incomplete code point are carried from the previous piece (0 to 3). */
  #pending = 0;
  /** Those bytes, packed first-byte-most-significant into one number (no buffer per validator). */
  #carry = 0;

  /** Forgets everything: ready for a new message. */
  reset(): void {
    this.#pending = 0;
  }

  /** Validates the next piece. Returns false as soon as the input is known to be invalid. */
  push(data: Uint8Array, start = 0, end = data.length): boolean {
    if (start >= end) return true;
    let i = start;
    if (this.#pending > 0) {
      // Complete the carried code point with bytes from this piece.
      const carry = SEQUENCE;
      let pending = this.#pending;
      for (let k = 0; k < pending; k++) carry[k] = (this.#carry >>> (8 * (2 - k))) & 0xff;
      const need = sequenceLength(carry[0]!);
      while (pending < need && i < end) carry[pending++] = data[i++]!;
      if (pending < need) {
        this.#pending = pending;
        this.#carry = (carry[0]! << 16) | (carry[1]! << 8) | carry[2]!;
        return isValidPrefix(carry[0]!, carry[1]!, carry[2]!, pending);
      }
      this.#pending = 0;
      if (!isUtf8(carry.subarray(0, need))) return false;
      if (i >= end) return true;
    }
    // Find where the last, possibly incomplete, code point begins (at most 3 bytes back).
    let cut = end;
    for (let back = 1; back <= 3 && end - back >= i; back++) {
      const b = data[end - back]!;
      if ((b & 0xc0) !== 0x80) {
        // A lead (or ASCII, or invalid) byte: is its sequence complete?
        const need = sequenceLength(b);
        if (need > back) cut = end - back;
        break;
      }
    }
    // The piece itself when all of it is checked: a view would cost more than a short check.
    if (cut > i && !isUtf8(i === 0 && cut === data.length ? data : data.subarray(i, cut))) return false;
    const tail = end - cut;
    if (tail > 0) {
      if (!isValidPrefix(data[cut]!, tail > 1 ? data[cut + 1]! : 0, tail > 2 ? data[cut + 2]! : 0, tail)) return false;
      this.#carry = (data[cut]! << 16) | (tail > 1 ? data[cut + 1]! << 8 : 0) | (tail > 2 ? data[cut + 2]! : 0);
      this.#pending = tail;
    }
    return true;
  }

  /** Ends the input: true when everything pushed was valid and no code point is left incomplete. */
  end(): boolean {
    const complete = this.#pending === 0;
    this.#pending = 0;
    return complete;
  }
}

/** Whether `data` is entirely valid UTF-8 (Node's native validator). */
export function isValidUtf8(data: Uint8Array): boolean {
  return isUtf8(data);
}
