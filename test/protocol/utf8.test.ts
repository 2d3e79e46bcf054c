import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Utf8Validator, isValidUtf8 } from '../../src/protocol/index.js';
import { cutAt, hex } from './helpers.js';

/** The reference: WHATWG's fatal UTF-8 decoder, which rejects a sequence at its first bad byte. */
function isValidReference(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Index of the first piece on which a streaming fatal decoder fails, `pieces.length`
 * if it only fails at the end of the input (an incomplete sequence), or -1 if valid.
 */
function referenceFailure(pieces: readonly Uint8Array[]): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < pieces.length; i++) {
    try {
      decoder.decode(pieces[i], { stream: true });
    } catch {
      return i;
    }
  }
  try {
    decoder.decode();
  } catch {
    return pieces.length;
  }
  return -1;
}

/** The same for the validator under test. */
function validatorFailure(pieces: readonly Uint8Array[]): number {
  const validator = new Utf8Validator();
  for (let i = 0; i < pieces.length; i++) if (!validator.push(pieces[i]!)) return i;
  return validator.end() ? -1 : pieces.length;
}

/** Byte sequences that make UTF-8 validation interesting, valid and not. */
const TOKENS = [
  '41', '7f', '00', 'c2 80', 'df bf', 'ce ba', 'e0 a0 80', 'e1 bd b9', 'ed 9f bf', 'ee 80 80', 'ef bf bf', 'ef bf bd',
  'f0 90 80 80', 'f0 a4 ad a2', 'f4 8f bf bf', // valid
  'ed a0 80', 'ed bf bf', // surrogates
  'c0 80', 'c1 bf', 'e0 80 80', 'e0 9f bf', 'f0 80 80 80', 'f0 8f bf bf', // overlongs
  'f4 90 80 80', 'f5 80 80 80', 'f7 bf bf bf', 'f8 88 80 80 80', // above U+10FFFF, 5-byte forms
  '80', 'bf', 'c2', 'e0', 'e0 a0', 'ed', 'f0', 'f0 90', 'f0 90 80', 'f4', 'fe', 'ff', // stray and truncated bytes
].map((token) => hex(token));

/** Bytes biased towards multi-byte sequences and their classic failures. */
const arbUtf8ish: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.array(fc.constantFrom(...TOKENS), { maxLength: 12 }).map((tokens) => Buffer.concat(tokens)),
  fc.string({ unit: 'binary', maxLength: 30 }).map((text) => Buffer.from(text)),
  // Valid text with one byte replaced: the failure lands anywhere.
  fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([text, at, byte]) => {
    const bytes = Buffer.from(text);
    bytes[at % bytes.length] = byte;
    return bytes;
  }),
);

const arbSplit = (bytes: Uint8Array): fc.Arbitrary<Buffer[]> =>
  fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 6 }).map((cuts) => cutAt(bytes, cuts));

describe('RFC 6455 §5.6 / §8.1: streaming UTF-8 validation (RFC 3629)', () => {
  it('accepts "κόσμε" split in two at every byte', () => {
    const bytes = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');
    for (let cut = 0; cut <= bytes.length; cut++) {
      const validator = new Utf8Validator();
      expect(validator.push(bytes.subarray(0, cut)), `cut at ${cut}`).toBe(true);
      expect(validator.push(bytes.subarray(cut)), `cut at ${cut}`).toBe(true);
      expect(validator.end(), `cut at ${cut}`).toBe(true);
    }
  });

  it('accepts 2-, 3- and 4-byte code points split in three at every pair of positions', () => {
    const bytes = Buffer.from('a\u00e9\u20ac\u{1d11e}z');
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        expect(validatorFailure([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]), `cuts ${i} ${j}`).toBe(-1);
      }
    }
  });

  it.each([
    ['UTF-16 surrogate ED A0 80', 'ed a0 80', 1],
    ['last surrogate ED BF BF', 'ed bf bf', 1],
    ['overlong NUL C0 80', 'c0 80', 0],
    ['overlong C1 BF', 'c1 bf', 0],
    ['overlong 3-byte NUL E0 80 80', 'e0 80 80', 1],
    ['overlong 3-byte E0 9F BF', 'e0 9f bf', 1],
    ['overlong 4-byte F0 80 80 80', 'f0 80 80 80', 1],
    ['above U+10FFFF: F4 90 80 80', 'f4 90 80 80', 1],
    ['lead byte F5', 'f5 80 80 80', 0],
    ['5-byte form F8 88 80 80 80', 'f8 88 80 80 80', 0],
    ['impossible byte FE', 'fe', 0],
    ['impossible byte FF', 'ff', 0],
    ['lone continuation byte 80', '80', 0],
    ['2-byte sequence cut by ASCII C2 41', 'c2 41', 1],
    ['3-byte sequence cut by ASCII at its third byte E1 80 41', 'e1 80 41', 2],
    ['4-byte sequence cut at its fourth byte F0 90 80 41', 'f0 90 80 41', 3],
    ['valid text, then a surrogate: 65 64 ED A0 80', '65 64 ed a0 80', 3],
  ])('fails fast on %s: at byte %s, index %i, when fed one byte at a time', (_label, bytes, failsAt) => {
    const pieces = [...hex(bytes)].map((byte) => Uint8Array.of(byte));
    expect(validatorFailure(pieces)).toBe(failsAt);
    expect(referenceFailure(pieces)).toBe(failsAt);
  });

  it.each([
    ['CE', 'ce'],
    ['E1 BD', 'e1 bd'],
    ['F0 90 80', 'f0 90 80'],
    ['41 F4 8F BF', '41 f4 8f bf'],
  ])('a valid prefix %s is accepted by push but rejected by end (incomplete code point)', (_label, bytes) => {
    const validator = new Utf8Validator();
    expect(validator.push(hex(bytes))).toBe(true);
    expect(validator.end()).toBe(false);
  });

  it('end() readies the validator for the next message; reset() drops a pending code point', () => {
    const validator = new Utf8Validator();
    expect(validator.push(hex('ce'))).toBe(true);
    expect(validator.end()).toBe(false);
    expect(validator.push(hex('41'))).toBe(true);
    expect(validator.end()).toBe(true);
    expect(validator.push(hex('e2 82'))).toBe(true);
    validator.reset();
    expect(validator.push(hex('41'))).toBe(true);
    expect(validator.end()).toBe(true);
  });

  it('validates only the given range of a buffer', () => {
    const validator = new Utf8Validator();
    const bytes = hex('ff ce ba ff');
    expect(validator.push(bytes, 1, 3)).toBe(true);
    expect(validator.end()).toBe(true);
    expect(validator.push(bytes, 0, 2)).toBe(false);
  });

  it('an empty push changes nothing', () => {
    const validator = new Utf8Validator();
    expect(validator.push(hex('e2'))).toBe(true);
    expect(validator.push(new Uint8Array(0))).toBe(true);
    expect(validator.push(hex('82 ac'))).toBe(true);
    expect(validator.end()).toBe(true);
  });

  it('isValidUtf8 validates a whole buffer', () => {
    expect(isValidUtf8(hex('ce ba e1 bd b9'))).toBe(true);
    expect(isValidUtf8(hex('ed a0 80'))).toBe(false);
    expect(isValidUtf8(hex('ce'))).toBe(false);
  });

  it('agrees with TextDecoder (fatal) on arbitrary bytes split anywhere (property)', () => {
    fc.assert(
      fc.property(
        arbUtf8ish.chain((bytes) => fc.tuple(fc.constant(bytes), arbSplit(bytes))),
        ([bytes, pieces]) => {
          expect(validatorFailure(pieces) === -1).toBe(isValidReference(bytes));
        },
      ),
      { numRuns: 1500, seed: 0x7f8 },
    );
  });

  it('fails on the same piece as a streaming fatal TextDecoder: as soon as the input cannot be valid (property)', () => {
    fc.assert(
      fc.property(
        arbUtf8ish.chain((bytes) => fc.tuple(fc.constant(bytes), arbSplit(bytes))),
        ([, pieces]) => {
          expect(validatorFailure(pieces)).toBe(referenceFailure(pieces));
        },
      ),
      { numRuns: 1500, seed: 0x7f9 },
    );
  });

  it('fails fast on every piece when fed one byte at a time (property)', () => {
    fc.assert(
      fc.property(arbUtf8ish, (bytes) => {
        const pieces = [...bytes].map((byte) => Uint8Array.of(byte));
        expect(validatorFailure(pieces)).toBe(referenceFailure(pieces));
      }),
      { numRuns: 500, seed: 0x7fa },
    );
  });

  it('accepts any valid text split into any pieces (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }).chain((text) => arbSplit(Buffer.from(text))),
        (pieces) => {
          expect(validatorFailure(pieces)).toBe(-1);
        },
      ),
      { numRuns: 500, seed: 0x7fb },
    );
  });
});
