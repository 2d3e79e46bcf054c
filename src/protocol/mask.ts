/**
 * Masking (RFC 6455 §5.3): payload byte i is XORed with mask byte i % 4.
 *
 * Every byte a server receives passes through here, so this bounds upload throughput.
 * Small inputs take a byte loop (creating typed-array views costs more than it saves);
 * larger ones XOR 32-bit words through a Uint32Array view of the 4-byte-aligned middle
 * of the buffer, with the mask rotated to match the alignment; from SIMD_THRESHOLD on,
 * a WebAssembly SIMD kernel does it 16 bytes at a time (./simd.ts), where available.
 */
import { SIMD_WINDOW, createSimdKernel, nextWindowOffset, type SimdKernel } from './simd.js';

/** Below this many bytes the byte loop wins over setting up word views. */
const WORD_THRESHOLD = 64;

/**
 * From this many bytes on, copying into WebAssembly memory, masking there and copying
 * back beats the word loop (measured with bench/mask.mjs: even at 1 KiB; about 2× at
 * 64 KiB).
 */
const SIMD_THRESHOLD = 1024;

/** The SIMD kernel, created at its first use; null where WebAssembly SIMD is unavailable. */
let kernel: SimdKernel | null | undefined;
/** A view of the kernel's memory (which never grows, so the view stays valid). */
let kernelBytes: Uint8Array;

function simdKernel(): SimdKernel | null {
  if (kernel === undefined) {
    kernel = createSimdKernel();
    if (kernel !== null) kernelBytes = new Uint8Array(kernel.memory.buffer);
  }
  return kernel;
}

/**
 * Forces the portable JavaScript kernel (`false`) or allows the SIMD one (`true`, the
 * default where WebAssembly SIMD exists). For tests and benchmarks.
 */
export function setSimdMasking(enabled: boolean): void {
  kernel = enabled ? createSimdKernel() : null;
  if (kernel !== null) kernelBytes = new Uint8Array(kernel.memory.buffer);
}

/** The key as the little-endian word whose low byte meets a byte at payload position `maskOffset`. */
function keyWordAt(key: number, maskOffset: number): number {
  const shift = (maskOffset & 3) << 3;
  const rotated = shift === 0 ? key | 0 : (key << shift) | (key >>> (32 - shift));
  return byteSwap(rotated);
}

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
  // Kept this small so that V8 inlines it into the parser: the two kernels are calls.
  if (length >= SIMD_THRESHOLD && (kernel ?? simdKernel()) !== null) copyMaskedSimd(kernel!, data, start, length, key, maskOffset, data, start);
  else maskWords(data, key, start, length, maskOffset);
}

/**
 * `maskWithKey` for the payload of a text message: also tells, for short inputs (the
 * byte loop's), whether every byte it produced is below 0x80. ASCII is valid UTF-8, so
 * a short ASCII message needs no call to a validator. False for longer inputs, whose
 * validation is worth its call, and where a byte is not ASCII.
 */
export function maskTextWithKey(data: Uint8Array, key: number, start: number, length: number, maskOffset: number): boolean {
  if (length >= WORD_THRESHOLD) {
    maskWithKey(data, key, start, length, maskOffset);
    return false;
  }
  const key32 = key | 0;
  const end = start + length;
  // As in maskWords' byte loop; the values of the stores carry the shifted key's upper
  // bits, but bit 7 is the stored byte's.
  let high = 0;
  for (let i = start, k = maskOffset & 3; i < end; i++, k++) high |= data[i]! ^= key32 >> ((~k & 3) << 3);
  return (high & 0x80) === 0;
}

/** The JavaScript kernel: bytes up to a 4-byte boundary, 32-bit words, then bytes. */
function maskWords(data: Uint8Array, key: number, start: number, length: number, maskOffset: number): void {
  // As a signed 32-bit number: every shift below stays in V8's small-integer fast path.
  const key32 = key | 0;
  const end = start + length;
  let i = start;
  let k = maskOffset & 3;
  if (length >= WORD_THRESHOLD) {
    // Advance byte-wise to a 4-byte aligned address, then XOR whole words.
    const misalignment = (data.byteOffset + i) & 3;
    const head = misalignment === 0 ? 0 : 4 - misalignment;
    for (let h = 0; h < head; h++, i++, k++) data[i]! ^= key32 >> ((~k & 3) << 3);
    const words = (end - i) >>> 2;
    // The word at address i meets mask bytes k, k+1, k+2, k+3: the key rotated left by
    // k bytes, read as a little-endian word (byte-swapped) or, on a big-endian host
    // (see isLittleEndian), as it is.
    const shift = (k & 3) << 3;
    const rotated = shift === 0 ? key32 : (key32 << shift) | (key32 >>> (32 - shift));
    const word = isLittleEndian ? byteSwap(rotated) : rotated;
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
    i += words * 4; // k stays: a multiple of 4 bytes does not change the phase
  }
  // Byte k of the payload meets key byte k % 4, bits 31-24 for k % 4 = 0: the stored
  // byte keeps the low 8 bits of the shifted key (one shift, no per-byte branches).
  for (; i < end; i++, k++) data[i]! ^= key32 >> ((~k & 3) << 3);
}

/** Reverses the byte order of a 32-bit number. */
function byteSwap(x: number): number {
  return ((x << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) | 0;
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
  copyMasked(source, 0, length, readMaskKey(mask, 0), 0, target, targetOffset);
}

/**
 * Copies `length` bytes of `source` from `start` into `target` at `targetOffset`,
 * (un)masking them on the way with `key` (`readMaskKey`), the first byte being at
 * position `maskOffset` of the masked payload. `source` is left as it was. With the
 * SIMD kernel this is two copies and no extra pass; otherwise a copy and the word loop
 * over the target.
 */
export function copyMasked(source: Uint8Array, start: number, length: number, key: number, maskOffset: number, target: Uint8Array, targetOffset: number): void {
  if (length >= SIMD_THRESHOLD && (kernel ?? simdKernel()) !== null) {
    copyMaskedSimd(kernel!, source, start, length, key, maskOffset, target, targetOffset);
    return;
  }
  target.set(start === 0 && length === source.length ? source : new Uint8Array(source.buffer, source.byteOffset + start, length), targetOffset);
  maskWords(target, key, targetOffset, length, maskOffset);
}

/** Window by window: source → kernel memory, XOR there, kernel memory → target. */
function copyMaskedSimd(simd: SimdKernel, source: Uint8Array, start: number, length: number, key: number, maskOffset: number, target: Uint8Array, targetOffset: number): void {
  // Windows are multiples of 4 bytes long, so every window starts at the same phase.
  const word = keyWordAt(key, maskOffset);
  const memory = simd.memory.buffer;
  const bytes = kernelBytes;
  for (let done = 0; done < length; done += SIMD_WINDOW) {
    const n = Math.min(SIMD_WINDOW, length - done);
    const at = nextWindowOffset();
    bytes.set(new Uint8Array(source.buffer, source.byteOffset + start + done, n), at);
    simd.mask(at, n, word);
    target.set(new Uint8Array(memory, at, n), targetOffset + done);
  }
}

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
