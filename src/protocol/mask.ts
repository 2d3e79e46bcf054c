/**
 * Masking (RFC 6455 §5.3): payload byte i is XORed with mask byte i % 4.
 *
 * Every byte a server receives passes through here, so this bounds upload throughput.
 * Small inputs take a byte loop (creating typed-array views costs more than it saves);
 * larger ones XOR 32-bit words through a Uint32Array view of the 4-byte-aligned middle
 * of the buffer, with the mask rotated to match the alignment.
 */

/** Below this many bytes the byte loop wins over setting up word views. */
const WORD_THRESHOLD = 64;

/**
 * XORs `length` bytes of `data` starting at `start` in place with `mask`, as if the
 * first byte were at position `maskOffset` of the masked payload.
 * Masking twice with the same arguments restores the input.
 *
 * @param data the bytes to (un)mask, modified in place
 * @param mask the 4-byte masking key
 * @param start first byte of `data` to process
 * @param length how many bytes to process
 * @param maskOffset position of `data[start]` within the masked payload (for payloads that arrive in pieces)
 */
export function maskInPlace(data: Uint8Array, mask: Uint8Array, start = 0, length = data.length - start, maskOffset = 0): void {
  maskWithKey(data, ((mask[0]! << 24) | (mask[1]! << 16) | (mask[2]! << 8) | mask[3]!) >>> 0, start, length, maskOffset);
}

/** Reads a 4-byte masking key as one number (first byte most significant). */
export function readMaskKey(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/**
 * `maskInPlace` with the key as one number (`readMaskKey`), so that a parser can keep
 * the key in a field instead of a 4-byte buffer of its own.
 */
export function maskWithKey(data: Uint8Array, key: number, start: number, length: number, maskOffset: number): void {
  const m0 = key >>> 24;
  const m1 = (key >>> 16) & 0xff;
  const m2 = (key >>> 8) & 0xff;
  const m3 = key & 0xff;
  const end = start + length;
  let i = start;
  let k = maskOffset & 3;
  if (length >= WORD_THRESHOLD) {
    // Advance byte-wise to a 4-byte aligned address, then XOR whole words.
    const misalignment = (data.byteOffset + i) & 3;
    const head = misalignment === 0 ? 0 : 4 - misalignment;
    for (let h = 0; h < head; h++, i++, k = (k + 1) & 3) {
      data[i]! ^= k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3;
    }
    const words = (end - i) >>> 2;
    // The word at address i meets mask bytes k, k+1, k+2, k+3 (little-endian lanes;
    // on a big-endian host the lanes are reversed, see isLittleEndian).
    const b0 = k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3;
    const b1 = k === 0 ? m1 : k === 1 ? m2 : k === 2 ? m3 : m0;
    const b2 = k === 0 ? m2 : k === 1 ? m3 : k === 2 ? m0 : m1;
    const b3 = k === 0 ? m3 : k === 1 ? m0 : k === 2 ? m1 : m2;
    const word = isLittleEndian
      ? (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0
      : ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
    const view = new Uint32Array(data.buffer, data.byteOffset + i, words);
    let w = 0;
    // Unrolled by four: V8 keeps the loop body free of extra bound checks this way.
    const unrolled = words & ~3;
    for (; w < unrolled; w += 4) {
      view[w]! ^= word;
      view[w + 1]! ^= word;
      view[w + 2]! ^= word;
      view[w + 3]! ^= word;
    }
    for (; w < words; w++) view[w]! ^= word;
    i += words << 2;
  }
  for (; i < end; i++, k = (k + 1) & 3) {
    data[i]! ^= k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3;
  }
}

/**
 * Copies `source` into `target` at `targetOffset`, masking it on the way: the fused
 * operation a client uses to frame a payload without touching the caller's buffer.
 */
export function maskInto(source: Uint8Array, mask: Uint8Array, target: Uint8Array, targetOffset: number): void {
  const length = source.length;
  if (length < WORD_THRESHOLD) {
    for (let i = 0; i < length; i++) target[targetOffset + i] = source[i]! ^ mask[i & 3]!;
    return;
  }
  target.set(source, targetOffset);
  maskInPlace(target, mask, targetOffset, length, 0);
}

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
