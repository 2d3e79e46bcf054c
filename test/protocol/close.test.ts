import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CloseCode,
  ErrorCode,
  InvalidDataError,
  MAX_CLOSE_REASON_BYTES,
  ProtocolError,
  decodeClosePayload,
  encodeClosePayload,
  isAllowedOnWire,
} from '../../src/protocol/index.js';
import { CLOSE_CODE_TABLE, closePayload, hex, toHex } from './helpers.js';

describe('RFC 6455 §7.4 close codes', () => {
  it('registered codes have their numbers', () => {
    expect(CloseCode).toEqual({
      Normal: 1000,
      GoingAway: 1001,
      ProtocolError: 1002,
      UnsupportedData: 1003,
      Reserved: 1004,
      NoStatus: 1005,
      Abnormal: 1006,
      InvalidPayload: 1007,
      PolicyViolation: 1008,
      MessageTooBig: 1009,
      MandatoryExtension: 1010,
      InternalError: 1011,
      ServiceRestart: 1012,
      TryAgainLater: 1013,
      BadGateway: 1014,
      TlsHandshake: 1015,
    });
  });

  it.each(CLOSE_CODE_TABLE)('isAllowedOnWire(%i) is %s', (code, allowed) => {
    expect(isAllowedOnWire(code)).toBe(allowed);
  });

  it('allows exactly 1000–1003, 1007–1014 and 3000–4999 among all 16-bit codes', () => {
    const allowed: number[] = [];
    for (let code = 0; code <= 0xffff; code++) if (isAllowedOnWire(code)) allowed.push(code);
    const expected = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014];
    for (let code = 3000; code <= 4999; code++) expected.push(code);
    expect(allowed).toEqual(expected);
  });

  it.each([1000.5, Number.NaN, Infinity, -1000])('isAllowedOnWire(%s) is false for a non-code', (code) => {
    expect(isAllowedOnWire(code)).toBe(false);
  });
});

describe('RFC 6455 §5.5.1 close frame payload: encoding', () => {
  it('no code gives an empty payload', () => {
    expect(encodeClosePayload().length).toBe(0);
  });

  it('a code is 2 bytes in network order, followed by the UTF-8 reason', () => {
    expect(toHex(encodeClosePayload(1000))).toBe('03 e8');
    expect(toHex(encodeClosePayload(4999, 'bye'))).toBe('13 87 62 79 65');
    expect(toHex(encodeClosePayload(1001, 'é'))).toBe('03 e9 c3 a9');
    expect(toHex(encodeClosePayload(3000, Buffer.from('ok')))).toBe('0b b8 6f 6b');
  });

  it('a reason without a code goes with 1000, as the WHATWG close() sends it', () => {
    expect(toHex(encodeClosePayload(undefined, 'ok'))).toBe('03 e8 6f 6b');
    expect(encodeClosePayload(undefined, '')).toHaveLength(0);
  });

  it.each<[string, () => unknown]>([
    ['a code given as a string', () => encodeClosePayload('1000' as unknown as number)],
    ['a reason given as a number', () => encodeClosePayload(1000, 42 as unknown as string)],
    ['a Buffer reason that is not UTF-8 (the peer would fail it, 1007)', () => encodeClosePayload(1000, Buffer.from([0xff]))],
  ])('%s is refused with TypeError', (_name, encode) => {
    expect(encode).toThrow(TypeError);
  });

  it.each(CLOSE_CODE_TABLE.filter(([, allowed]) => !allowed))('code %i is refused with RangeError', (code) => {
    expect(() => encodeClosePayload(code)).toThrow(RangeError);
  });

  it.each([
    ['123 ASCII bytes', 'a'.repeat(123), true],
    ['124 ASCII bytes', 'a'.repeat(124), false],
    ['61 two-byte characters and 1 ASCII (123 bytes)', 'é'.repeat(61) + 'a', true],
    ['62 two-byte characters (124 bytes)', 'é'.repeat(62), false],
    ['a 124-byte Buffer', Buffer.alloc(124, 0x61), false],
    ['a 123-byte Buffer', Buffer.alloc(123, 0x61), true],
  ])('a reason of %s is %s', (_label, reason, fits) => {
    expect(MAX_CLOSE_REASON_BYTES).toBe(123);
    if (fits) expect(encodeClosePayload(1000, reason).length).toBe(125);
    else expect(() => encodeClosePayload(1000, reason)).toThrow(RangeError);
  });
});

describe('RFC 6455 §5.5.1 close frame payload: decoding', () => {
  it('an empty payload means no status code: 1005, empty reason', () => {
    expect(decodeClosePayload(new Uint8Array(0))).toEqual({ code: 1005, reason: '' });
  });

  it('a 1-byte payload is a protocol error (1002)', () => {
    const decode = (): unknown => decodeClosePayload(hex('03'));
    expect(decode).toThrow(ProtocolError);
    try {
      decode();
    } catch (error) {
      expect(error).toMatchObject({ closeCode: 1002, code: ErrorCode.InvalidClosePayload });
    }
  });

  it.each(CLOSE_CODE_TABLE)('code %i is accepted: %s (else a protocol error, 1002)', (code, allowed) => {
    const payload = closePayload(code, 'reason');
    if (allowed) {
      expect(decodeClosePayload(payload)).toEqual({ code, reason: 'reason' });
    } else {
      expect(() => decodeClosePayload(payload)).toThrow(expect.objectContaining({ closeCode: 1002, code: ErrorCode.InvalidCloseCode }));
    }
  });

  it.each([
    ['a UTF-16 surrogate', 'ed a0 80'],
    ['an overlong NUL', 'c0 80'],
    ['a truncated sequence', 'ce'],
    ['a byte above F4', 'f5'],
  ])('a reason with %s is invalid data (1007)', (_label, bytes) => {
    const payload = closePayload(1000, hex(bytes));
    expect(() => decodeClosePayload(payload)).toThrow(InvalidDataError);
    expect(() => decodeClosePayload(payload)).toThrow(expect.objectContaining({ closeCode: 1007 }));
  });

  it('decodes a multi-byte reason of the maximum length', () => {
    const reason = '€'.repeat(41); // 123 bytes
    expect(decodeClosePayload(closePayload(4000, reason))).toEqual({ code: 4000, reason });
  });

  it('decodes a payload that is a view into a larger buffer', () => {
    const buffer = Buffer.concat([hex('ff ff'), closePayload(1001, 'away'), hex('ff')]);
    expect(decodeClosePayload(buffer.subarray(2, buffer.length - 1))).toEqual({ code: 1001, reason: 'away' });
  });

  it('encode → decode round trips any sendable code and reason (property)', () => {
    const arbCode = fc.oneof(fc.integer({ min: 1000, max: 1003 }), fc.integer({ min: 1007, max: 1014 }), fc.integer({ min: 3000, max: 4999 }));
    const arbReason = fc.string({ unit: 'binary', maxLength: 60 }).filter((reason) => Buffer.byteLength(reason) <= 123);
    fc.assert(
      fc.property(arbCode, arbReason, (code, reason) => {
        expect(decodeClosePayload(encodeClosePayload(code, reason))).toEqual({ code, reason });
      }),
      { numRuns: 300, seed: 0xc105e },
    );
  });

  it('decode never throws anything but 1002/1007 errors on arbitrary payloads (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 125 }), (payload) => {
        try {
          const { code } = decodeClosePayload(payload);
          expect(payload.length === 0 ? code === 1005 : isAllowedOnWire(code)).toBe(true);
        } catch (error) {
          expect([1002, 1007]).toContain((error as ProtocolError).closeCode);
        }
      }),
      { numRuns: 300, seed: 0xc105f },
    );
  });
});
