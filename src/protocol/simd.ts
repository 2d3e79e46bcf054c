/**
 * A WebAssembly SIMD masking kernel, assembled here from its instruction listing (no
 * binary blob, no build step, no dependency), with the caller falling back to plain
 * JavaScript where WebAssembly or its SIMD instructions are unavailable.
 *
 * WebAssembly code reads and writes only its own memory, so data is copied in, XORed
 * 16 bytes per instruction and copied back out. Copies between buffers run at memory
 * speed (20–40 GB/s), the JavaScript word loop at 4–5 GB/s: for inputs above about a
 * kilobyte the round trip wins (about 2× at 64 KiB, measured in bench/mask.mjs).
 */

/** Bytes masked per round trip: the window stays in the L1/L2 cache between the copies. */
export const SIMD_WINDOW = 64 * 1024;

/**
 * Copies within one buffer where the destination lies a few bytes (1 to about 63, modulo
 * 4 KiB) after the source run 15–20× slower on some CPU and C library combinations
 * (REP MOVSB and 4K aliasing, e.g. AMD Zen with glibc 2.36). The address of a Buffer is
 * not known, so each round trip uses the next of these window offsets: a bad distance
 * cannot repeat on every call for the same buffer.
 */
const SLOTS = 32;
const SLOT_STRIDE = 128;

/** The parts of the WebAssembly API used here (this project compiles without the DOM types). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

/** The kernel: XORs `length` bytes at `pointer` of its memory with a repeating 32-bit key. */
export interface SimdKernel {
  /** The kernel's memory: a fixed-size ArrayBuffer (it never grows). */
  readonly memory: { readonly buffer: ArrayBuffer };
  /** `key` is the little-endian word whose low byte meets the byte at `pointer`. */
  mask(pointer: number, length: number, key: number): void;
}

// Opcodes (WebAssembly core spec §5.4, SIMD proposal).
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I32_CONST = 0x41;
const I32_AND = 0x71;
const I32_ADD = 0x6a;
const I32_XOR = 0x73;
const I32_ROTR = 0x78;
const I32_GE_U = 0x4f;
const I32_LOAD8_U = 0x2d;
const I32_STORE8 = 0x3a;
const BLOCK = 0x02;
const LOOP = 0x03;
const BR = 0x0c;
const BR_IF = 0x0d;
const END = 0x0b;
const VOID = 0x40;
const SIMD = 0xfd;
const V128_LOAD = 0x00;
const V128_STORE = 0x0b;
const I32X4_SPLAT = 0x11;
const V128_XOR = 0x51;
const I32 = 0x7f;
const V128 = 0x7b;

/** Unsigned LEB128. */
function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
const name = (text: string): number[] => [...uleb(text.length), ...Array.from(text, (c) => c.charCodeAt(0))];
/** Memory immediate: alignment exponent 0 (any address), then the offset. */
const memarg = (offset: number): number[] => [0, ...uleb(offset)];

// mask(pointer, length, key): parameters are locals 0-2; locals 3 (end) and 4 (the key
// in all four lanes).
const P = 0;
const N = 1;
const KEY = 2;
const END_AT = 3;
const K = 4;

/** `while (pointer < end) { body; pointer += step }`, as block/loop/br_if. */
function whileBelowEnd(body: number[], step: number): number[] {
  return [
    BLOCK, VOID, LOOP, VOID,
    LOCAL_GET, P, LOCAL_GET, END_AT, I32_GE_U, BR_IF, 1,
    ...body,
    LOCAL_GET, P, I32_CONST, ...sleb(step), I32_ADD, LOCAL_SET, P,
    BR, 0,
    END, END,
  ];
}

/** memory[pointer + offset .. +16] ^= k */
const xor16 = (offset: number): number[] => [
  LOCAL_GET, P, LOCAL_GET, P, SIMD, V128_LOAD, ...memarg(offset), LOCAL_GET, K, SIMD, V128_XOR, SIMD, V128_STORE, ...memarg(offset),
];

// prettier-ignore
const maskBody: number[] = [
  ...vector([[1, I32], [1, V128]]),
  LOCAL_GET, KEY, SIMD, I32X4_SPLAT, LOCAL_SET, K,
  // 64 bytes per iteration while at least 64 remain (the key's phase is unchanged
  // by any multiple of 4 bytes).
  LOCAL_GET, P, LOCAL_GET, N, I32_CONST, ...sleb(-64), I32_AND, I32_ADD, LOCAL_SET, END_AT,
  ...whileBelowEnd([...xor16(0), ...xor16(16), ...xor16(32), ...xor16(48)], 64),
  // Then 16 at a time.
  LOCAL_GET, N, I32_CONST, ...sleb(63), I32_AND, LOCAL_SET, N,
  LOCAL_GET, P, LOCAL_GET, N, I32_CONST, ...sleb(-16), I32_AND, I32_ADD, LOCAL_SET, END_AT,
  ...whileBelowEnd(xor16(0), 16),
  // The last 0-15 bytes one by one, the key rotated a byte further each time.
  LOCAL_GET, P, LOCAL_GET, N, I32_CONST, ...sleb(15), I32_AND, I32_ADD, LOCAL_SET, END_AT,
  ...whileBelowEnd([
    LOCAL_GET, P, LOCAL_GET, P, I32_LOAD8_U, ...memarg(0), LOCAL_GET, KEY, I32_XOR, I32_STORE8, ...memarg(0),
    LOCAL_GET, KEY, I32_CONST, ...sleb(8), I32_ROTR, LOCAL_SET, KEY,
  ], 1),
  END,
];

/** The module: one function `mask (i32, i32, i32) -> ()` and its memory, both exported. */
function assemble(): Uint8Array {
  const pages = Math.ceil((SIMD_WINDOW + SLOTS * SLOT_STRIDE + 64) / 65536);
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vector([[0x60, 3, I32, I32, I32, 0]])), // type 0: (i32, i32, i32) -> ()
    ...section(3, vector([[0]])), // function 0 has type 0
    ...section(5, vector([[0x00, ...uleb(pages)]])), // memory 0: `pages` pages, no maximum
    ...section(7, vector([[...name('mask'), 0x00, 0], [...name('memory'), 0x02, 0]])),
    ...section(10, vector([[...uleb(maskBody.length), ...maskBody]])),
  ]);
}

/** The bytes of the module, for tests and for anyone who wants to disassemble them. */
export const simdModuleBytes: Uint8Array = assemble();

/** Instantiates the kernel, or returns null where WebAssembly SIMD is not available. */
export function createSimdKernel(): SimdKernel | null {
  const wasm = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  try {
    if (typeof wasm !== 'object' || !wasm.validate(simdModuleBytes)) return null;
    const instance = new wasm.Instance(new wasm.Module(simdModuleBytes));
    const exports = instance.exports as unknown as { mask: SimdKernel['mask']; memory: SimdKernel['memory'] };
    return { memory: exports.memory, mask: exports.mask };
  } catch {
    return null;
  }
}

/** Where the next round trip puts its window in the kernel's memory (see SLOTS). */
let slot = 0;
export function nextWindowOffset(): number {
  slot = (slot + 1) & (SLOTS - 1);
  return 64 + slot * SLOT_STRIDE;
}
