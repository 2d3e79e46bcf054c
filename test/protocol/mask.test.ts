import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { copyMasked, maskInPlace, maskInto, maskTextWithKey, readMaskKey, setSimdMasking } from '../../src/protocol/index.js';
import { createSimdKernel, simdModuleBytes } from '../../src/protocol/simd.js';
import { MASK_KEY, filler, toHex } from './helpers.js';

/** RFC 6455 §5.3, literally: octet i of the payload is XORed with octet (i + offset) mod 4 of the key. */
function naiveMask(data: Uint8Array, mask: Uint8Array, start: number, length: number, maskOffset: number): Uint8Array {
  const out = Uint8Array.from(data);
  for (let i = 0; i < length; i++) out[start + i]! ^= mask[(maskOffset + i) % 4]!;
  return out;
}

/** `length` bytes at byte offset `alignment` of a fresh ArrayBuffer, so the word path sees every alignment. */
function bytesAt(alignment: number, contents: Uint8Array): Uint8Array {
  const view = new Uint8Array(new ArrayBuffer(alignment + contents.length + 3), alignment, contents.length);
  view.set(contents);
  return view;
}

describe('RFC 6455 §5.3 client-to-server masking', () => {
  it('masks "Hello" with 37 fa 21 3d into 7f 9f 4d 51 58 (the §5.7 example)', () => {
    const data = Buffer.from('Hello');
    maskInPlace(data, MASK_KEY);
    expect(toHex(data)).toBe('7f 9f 4d 51 58');
  });

  it('unmasks a payload that arrives in pieces when told each piece\'s offset in the payload', () => {
    const masked = Buffer.from('7f9f4d5158', 'hex');
    maskInPlace(masked, MASK_KEY, 0, 2, 0);
    maskInPlace(masked, MASK_KEY, 2, 3, 2);
    expect(masked.toString()).toBe('Hello');
  });

  it('an all-zero key leaves the data unchanged', () => {
    const data = filler(300, 9);
    const copy = Buffer.from(data);
    maskInPlace(data, new Uint8Array(4));
    expect(data.equals(copy)).toBe(true);
  });

  it('agrees with the byte-by-byte definition for every alignment, start, length and mask offset', () => {
    const lengths = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 79, 80, 81, 127, 128, 129, 200, 257];
    const key = Uint8Array.of(0x01, 0x23, 0x45, 0x89);
    let checked = 0;
    for (const alignment of [0, 1, 2, 3]) {
      for (const start of [0, 1, 2, 3, 4, 5, 6, 7]) {
        for (const length of lengths) {
          for (const maskOffset of [0, 1, 2, 3, 4, 5, 1001]) {
            const contents = filler(start + length + 5, alignment * 1000 + start * 100 + length);
            const data = bytesAt(alignment, contents);
            const expected = naiveMask(contents, key, start, length, maskOffset);
            maskInPlace(data, key, start, length, maskOffset);
            if (toHex(data) !== toHex(expected)) {
              expect.fail(`alignment ${alignment} start ${start} length ${length} maskOffset ${maskOffset}`);
            }
            checked++;
          }
        }
      }
    }
    expect(checked).toBe(4 * 8 * lengths.length * 7);
  });

  it('agrees with the byte-by-byte definition on arbitrary input (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.integer({ min: 0, max: 7 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        (contents, alignment, key, rawStart, rawLength, maskOffset) => {
          const start = rawStart % (contents.length + 1);
          const length = rawLength % (contents.length - start + 1);
          const data = bytesAt(alignment, contents);
          maskInPlace(data, key, start, length, maskOffset);
          expect(toHex(data)).toBe(toHex(naiveMask(contents, key, start, length, maskOffset)));
        },
      ),
      { numRuns: 500, seed: 0x3a5c },
    );
  });

  it('masking twice with the same key and offset restores the input (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 3 }), fc.nat(3), (contents, key, alignment, maskOffset) => {
        const data = bytesAt(alignment, contents);
        maskInPlace(data, key, 0, data.length, maskOffset);
        maskInPlace(data, key, 0, data.length, maskOffset);
        expect(toHex(data)).toBe(toHex(contents));
      }),
      { numRuns: 300, seed: 0x1d },
    );
  });

  it('defaults to the whole buffer from the start at mask offset 0', () => {
    const data = filler(100, 4);
    const expected = naiveMask(data, MASK_KEY, 0, 100, 0);
    maskInPlace(data, MASK_KEY);
    expect(toHex(data)).toBe(toHex(expected));
    const tail = filler(100, 5);
    const expectedTail = naiveMask(tail, MASK_KEY, 30, 70, 0);
    maskInPlace(tail, MASK_KEY, 30);
    expect(toHex(tail)).toBe(toHex(expectedTail));
  });
});

describe('maskTextWithKey: unmasking text and telling whether it is ASCII', () => {
  /** The bytes a peer would send for `plain` at `start` of `buffer` (masked in place there). */
  function maskedCopy(plain: Uint8Array, key: Uint8Array, alignment: number, start: number, maskOffset: number): Uint8Array {
    const data = bytesAt(alignment, new Uint8Array(start + plain.length + 3).fill(0xee));
    data.set(plain, start);
    maskInPlace(data, key, start, plain.length, maskOffset);
    return data;
  }
  const ascii = fc.uint8Array({ max: 0x7f, maxLength: 80 });
  const anyBytes = fc.uint8Array({ maxLength: 80 });
  /** ASCII with one byte from 0x80 up at a chosen place: the case a wrong answer would let through. */
  const oneHigh = fc
    .tuple(fc.uint8Array({ max: 0x7f, minLength: 1, maxLength: 80 }), fc.nat(), fc.integer({ min: 0x80, max: 0xff }))
    .map(([bytes, at, high]) => {
      bytes[at % bytes.length] = high;
      return bytes;
    });

  it('unmasks as maskInPlace does, and says ASCII exactly when every byte is below 0x80 and the input is short (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(ascii, anyBytes, oneHigh),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.nat(5),
        fc.nat(7),
        (plain, key, alignment, start, maskOffset) => {
          const data = maskedCopy(plain, key, alignment, start, maskOffset);
          const before = Uint8Array.from(data);
          const isAscii = maskTextWithKey(data, readMaskKey(key, 0), start, plain.length, maskOffset);
          expect(toHex(data)).toBe(toHex(naiveMask(before, key, start, plain.length, maskOffset)));
          expect(toHex(data.subarray(start, start + plain.length))).toBe(toHex(plain));
          expect(isAscii).toBe(plain.length < 64 && plain.every((byte) => byte < 0x80));
        },
      ),
      { numRuns: 1000, seed: 0x7e47 },
    );
  });

  it('finds a byte from 0x80 up at every place of a short input, for every key phase', () => {
    const key = Uint8Array.of(0x80, 0x7f, 0xff, 0x01); // high bits set and clear in the key too
    for (let length = 1; length < 64; length++) {
      for (let at = 0; at < length; at++) {
        for (const maskOffset of [0, 1, 2, 3]) {
          const plain = new Uint8Array(length).fill(0x41);
          plain[at] = 0x80;
          const data = maskedCopy(plain, key, 0, 0, maskOffset);
          if (maskTextWithKey(data, readMaskKey(key, 0), 0, length, maskOffset)) expect.fail(`length ${length}, byte ${at}, offset ${maskOffset}`);
        }
      }
    }
  });
});

describe('maskInto: copy and mask in one pass', () => {
  it.each([0, 1, 5, 63, 64, 65, 100, 1000, 70000])('masks %i bytes into the target at an offset without touching the source', (length) => {
    const source = filler(length, length + 7);
    const copy = Buffer.from(source);
    for (const targetOffset of [0, 1, 2, 3, 10]) {
      const target = Buffer.alloc(targetOffset + length + 2, 0xaa);
      maskInto(source, MASK_KEY, target, targetOffset);
      const expected = Buffer.alloc(targetOffset + length + 2, 0xaa);
      naiveMask(source, MASK_KEY, 0, length, 0).forEach((byte, i) => (expected[targetOffset + i] = byte));
      expect(target.equals(expected)).toBe(true);
    }
    expect(source.equals(copy)).toBe(true);
  });

  it('agrees with maskInPlace on a copy (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.nat(8), (source, key, offset) => {
        const target = new Uint8Array(offset + source.length);
        maskInto(source, key, target, offset);
        const expected = Uint8Array.from(source);
        maskInPlace(expected, key);
        expect(toHex(target.subarray(offset))).toBe(toHex(expected));
      }),
      { numRuns: 300, seed: 0x2b },
    );
  });
});

describe('the WebAssembly SIMD kernel (inputs from 1 KiB) and the JavaScript fallback agree', () => {
  afterAll(() => setSimdMasking(true));

  it('the module assembled from its listing validates and instantiates on this Node.js', () => {
    expect((globalThis as any).WebAssembly.validate(simdModuleBytes)).toBe(true);
    expect(createSimdKernel()).not.toBeNull();
  });

  // Around the SIMD threshold (1024), the 64-byte and 16-byte blocks, the 64 KiB window.
  const lengths = [1023, 1024, 1025, 1027, 1039, 1087, 4096, 65535, 65536, 65537, 65551, 131_075, 200_001];
  for (const simd of [true, false]) {
    it(`${simd ? 'SIMD' : 'JavaScript'}: maskInPlace agrees with the definition at every alignment and mask offset`, () => {
      setSimdMasking(simd);
      const key = Uint8Array.of(0x01, 0x23, 0x45, 0x89);
      for (const length of lengths) {
        for (const alignment of [0, 1, 3]) {
          for (const maskOffset of [0, 1, 2, 3, 6]) {
            const contents = filler(length + 9, length + alignment + maskOffset);
            const data = bytesAt(alignment, contents);
            maskInPlace(data, key, 5, length, maskOffset);
            const expected = naiveMask(contents, key, 5, length, maskOffset);
            if (Buffer.compare(data, expected) !== 0) expect.fail(`length ${length} alignment ${alignment} maskOffset ${maskOffset}`);
          }
        }
      }
    });

    it(`${simd ? 'SIMD' : 'JavaScript'}: copyMasked writes the unmasked bytes into the target and leaves the source alone`, () => {
      setSimdMasking(simd);
      const key = Uint8Array.of(0xfe, 0x01, 0x80, 0x7f);
      for (const length of lengths) {
        for (const maskOffset of [0, 3, 5]) {
          const source = filler(length + 7, length * 3 + maskOffset);
          const before = Buffer.from(source);
          const target = Buffer.alloc(length + 11, 0xaa);
          copyMasked(source, 7, length, readMaskKey(key, 0), maskOffset, target, 2);
          expect(source.equals(before)).toBe(true);
          const expected = Buffer.alloc(length + 11, 0xaa);
          Buffer.from(naiveMask(source, key, 7, length, maskOffset).subarray(7, 7 + length)).copy(expected, 2);
          if (!target.equals(expected)) expect.fail(`length ${length} maskOffset ${maskOffset}`);
        }
      }
    });
  }
});
