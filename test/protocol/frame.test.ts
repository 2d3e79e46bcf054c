import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COPY_THRESHOLD,
  FIN,
  MASK,
  Opcode,
  RSV1,
  RSV2,
  RSV3,
  encodeFrame,
  headerSize,
  isControl,
  randomMask,
  writeHeader,
} from '../../src/protocol/index.js';
import { MASK_KEY, clientFrame, closePayload, cutAt, decodeFrames, expectSame, filler, frame, hex, recordingParser, serverFrame, toHex } from './helpers.js';

/** encodeFrame's result as one buffer, whichever form it took. */
function encoded(firstByte: number, payload: Uint8Array | string, mask: Uint8Array | null): Buffer {
  const result = encodeFrame(firstByte, payload, mask);
  return Array.isArray(result) ? Buffer.concat(result) : result;
}

describe('RFC 6455 §5.7 examples, as bytes', () => {
  it('the test helpers build the example frames byte for byte', () => {
    expect(toHex(serverFrame(Opcode.Text, 'Hello'))).toBe('81 05 48 65 6c 6c 6f');
    expect(toHex(clientFrame(Opcode.Text, 'Hello'))).toBe('81 85 37 fa 21 3d 7f 9f 4d 51 58');
    expect(toHex(serverFrame(Opcode.Text, 'Hel', { fin: false }))).toBe('01 03 48 65 6c');
    expect(toHex(serverFrame(Opcode.Continuation, 'lo'))).toBe('80 02 6c 6f');
    expect(toHex(serverFrame(Opcode.Ping, 'Hello'))).toBe('89 05 48 65 6c 6c 6f');
    expect(toHex(clientFrame(Opcode.Pong, 'Hello'))).toBe('8a 85 37 fa 21 3d 7f 9f 4d 51 58');
    expect(toHex(serverFrame(Opcode.Binary, Buffer.alloc(256)).subarray(0, 4))).toBe('82 7e 01 00');
    expect(toHex(serverFrame(Opcode.Binary, Buffer.alloc(65536)).subarray(0, 10))).toBe('82 7f 00 00 00 00 00 01 00 00');
  });

  it('a single-frame unmasked text message "Hello" is 81 05 48 65 6c 6c 6f', () => {
    expect(toHex(encoded(FIN | Opcode.Text, 'Hello', null))).toBe('81 05 48 65 6c 6c 6f');
    expect(toHex(encoded(FIN | Opcode.Text, Buffer.from('Hello'), null))).toBe('81 05 48 65 6c 6c 6f');
  });

  it('a single-frame masked text message "Hello" is 81 85 37 fa 21 3d 7f 9f 4d 51 58', () => {
    expect(toHex(encoded(FIN | Opcode.Text, 'Hello', MASK_KEY))).toBe('81 85 37 fa 21 3d 7f 9f 4d 51 58');
    expect(toHex(encoded(FIN | Opcode.Text, Buffer.from('Hello'), MASK_KEY))).toBe('81 85 37 fa 21 3d 7f 9f 4d 51 58');
  });

  it('a fragmented unmasked text message is 01 03 48 65 6c ("Hel") then 80 02 6c 6f ("lo")', () => {
    expect(toHex(encoded(Opcode.Text, 'Hel', null))).toBe('01 03 48 65 6c');
    expect(toHex(encoded(FIN | Opcode.Continuation, 'lo', null))).toBe('80 02 6c 6f');
  });

  it('an unmasked ping "Hello" is 89 05 ... and the masked pong answering it is 8a 85 37 fa 21 3d ...', () => {
    expect(toHex(encoded(FIN | Opcode.Ping, 'Hello', null))).toBe('89 05 48 65 6c 6c 6f');
    expect(toHex(encoded(FIN | Opcode.Pong, Buffer.from('Hello'), MASK_KEY))).toBe('8a 85 37 fa 21 3d 7f 9f 4d 51 58');
  });

  it('256 bytes of binary data in a single unmasked frame start 82 7e 01 00', () => {
    const payload = filler(256, 1);
    const bytes = encoded(FIN | Opcode.Binary, payload, null);
    expect(toHex(bytes.subarray(0, 4))).toBe('82 7e 01 00');
    expect(bytes.subarray(4).equals(payload)).toBe(true);
  });

  it('64 KiB of binary data in a single unmasked frame start 82 7f 00 00 00 00 00 01 00 00, payload not copied', () => {
    const payload = filler(65536, 2);
    const result = encodeFrame(FIN | Opcode.Binary, payload, null);
    expect(Array.isArray(result)).toBe(true);
    const [head, body] = result as [Buffer, Uint8Array];
    expect(toHex(head)).toBe('82 7f 00 00 00 00 00 01 00 00');
    expect(body).toBe(payload);
  });
});

describe('RFC 6455 §5.2 payload length: 7-bit, 16-bit and 64-bit forms', () => {
  it.each([
    [0, 2, '00'],
    [1, 2, '01'],
    [125, 2, '7d'],
    [126, 4, '7e 00 7e'],
    [127, 4, '7e 00 7f'],
    [128, 4, '7e 00 80'],
    [65535, 4, '7e ff ff'],
    [65536, 10, '7f 00 00 00 00 00 01 00 00'],
    [65537, 10, '7f 00 00 00 00 00 01 00 01'],
  ])('length %i uses a %i-byte header with length bytes %s', (length, size, lengthHex) => {
    expect(headerSize(length, false)).toBe(size);
    expect(headerSize(length, true)).toBe(size + 4);
    const payload = filler(length, length + 1);
    const unmasked = encoded(FIN | Opcode.Binary, payload, null);
    expect(toHex(unmasked.subarray(1, size))).toBe(lengthHex);
    expect(unmasked.equals(serverFrame(Opcode.Binary, payload))).toBe(true);
    const masked = encoded(FIN | Opcode.Binary, payload, MASK_KEY);
    expect(masked[1]! & MASK).toBe(MASK);
    expect(masked.equals(clientFrame(Opcode.Binary, payload))).toBe(true);
  });

  it.each([
    [2 ** 32, '82 7f 00 00 00 01 00 00 00 00'],
    [2 ** 32 + 0x01020304, '82 7f 00 00 00 01 01 02 03 04'],
    [2 ** 53 - 1, '82 7f 00 1f ff ff ff ff ff ff'],
  ])('writeHeader encodes length %i in the 64-bit form (header only)', (length, expected) => {
    const target = Buffer.alloc(14);
    const end = writeHeader(target, 0, FIN | Opcode.Binary, length, null);
    expect(end).toBe(10);
    expect(toHex(target.subarray(0, end))).toBe(expected);
    const maskedEnd = writeHeader(target, 0, FIN | Opcode.Binary, length, MASK_KEY);
    expect(maskedEnd).toBe(14);
    expect(toHex(target.subarray(10, 14))).toBe('37 fa 21 3d');
    expect(target[1]).toBe(MASK | 127);
  });

  it('writeHeader writes at the given offset and returns the offset after the masking key', () => {
    const target = Buffer.alloc(12, 0xee);
    expect(writeHeader(target, 3, FIN | Opcode.Text, 5, MASK_KEY)).toBe(9);
    expect(toHex(target)).toBe('ee ee ee 81 85 37 fa 21 3d ee ee ee');
  });
});

describe('frame encoding: buffers, strings and masking', () => {
  it.each([
    [COPY_THRESHOLD, false],
    [COPY_THRESHOLD + 1, true],
  ])('an unmasked payload of %i bytes is split into header and payload: %s', (length, isSplit) => {
    const payload = filler(length, 3);
    const result = encodeFrame(FIN | Opcode.Binary, payload, null);
    expect(Array.isArray(result)).toBe(isSplit);
    expect(encoded(FIN | Opcode.Binary, payload, null).equals(serverFrame(Opcode.Binary, payload))).toBe(true);
  });

  it('a masked payload is always one buffer, and the caller\'s payload is left untouched', () => {
    for (const length of [0, 5, 63, 64, 65, COPY_THRESHOLD + 1, 70000]) {
      const payload = filler(length, length);
      const copy = Buffer.from(payload);
      const result = encodeFrame(FIN | Opcode.Binary, payload, MASK_KEY);
      expect(Array.isArray(result)).toBe(false);
      expect((result as Buffer).equals(clientFrame(Opcode.Binary, payload))).toBe(true);
      expect(payload.equals(copy)).toBe(true);
    }
  });

  it.each([
    ['empty', ''],
    ['tiny ASCII (JS loop)', 'Hi!'],
    ['16 ASCII characters', 'abcdefghijklmnop'],
    ['17 ASCII characters', 'abcdefghijklmnopq'],
    ['63 ASCII characters', 'x'.repeat(63)],
    ['64 ASCII characters (measured natively)', 'y'.repeat(64)],
    ['200 ASCII characters', 'z'.repeat(200)],
    ['two-byte characters', 'héllo wörld'],
    ['three-byte characters', '€ – ∑'],
    ['astral characters', '𝄞😀'],
    ['mixed, long', 'κόσμε😀'.repeat(40)],
    ['a lone surrogate (encoded as U+FFFD)', 'a\ud800b'],
  ])('a %s string is encoded as UTF-8 straight into the frame', (_label, text) => {
    const bytes = Buffer.from(text, 'utf8');
    expect(toHex(encoded(FIN | Opcode.Text, text, null))).toBe(toHex(serverFrame(Opcode.Text, bytes)));
    expect(toHex(encoded(FIN | Opcode.Text, text, MASK_KEY))).toBe(toHex(clientFrame(Opcode.Text, bytes)));
  });

  it('a string payload gives the same frame as its UTF-8 bytes, for any string (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'grapheme-ascii', maxLength: 200 })),
        fc.boolean(),
        (text, isMasked) => {
          const mask = isMasked ? MASK_KEY : null;
          expect(encoded(FIN | Opcode.Text, text, mask).equals(encoded(FIN | Opcode.Text, Buffer.from(text), mask))).toBe(true);
        },
      ),
      { numRuns: 300, seed: 0x5eed },
    );
  });

  it('FIN, RSV and opcode bits of the first byte are written as given', () => {
    expect(toHex(encoded(RSV1 | Opcode.Text, '', null))).toBe('41 00');
    expect(toHex(encoded(FIN | RSV2 | RSV3 | Opcode.Binary, '', null))).toBe('b2 00');
    expect(toHex(encoded(FIN | Opcode.Close, closePayload(1000), null))).toBe('88 02 03 e8');
  });
});

describe('RFC 6455 §5.2 opcodes', () => {
  it('opcodes have their registered numbers', () => {
    expect(Opcode).toEqual({ Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 });
  });

  it.each(Array.from({ length: 16 }, (_, opcode) => [opcode, opcode >= 8]))('isControl(0x%i) is %s', (opcode, expected) => {
    expect(isControl(opcode as number)).toBe(expected);
  });
});

describe('RFC 6455 §5.3 masking keys', () => {
  it('randomMask returns fresh 4-byte keys, also across its 8 KiB pool refills', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 2100; i++) {
      const key = randomMask();
      expect(key.length).toBe(4);
      keys.add(toHex(key));
    }
    // 2100 draws of 32 random bits: a repeat is possible but vanishingly rare.
    expect(keys.size).toBeGreaterThan(2090);
  });
});

describe('encode → parse round trip (property)', () => {
  type Spec =
    | { kind: 'data'; isBinary: boolean; payload: Buffer | string; fin: boolean; rsv1: boolean }
    | { kind: 'ping' | 'pong'; payload: Buffer }
    | { kind: 'close'; code: number; reason: string };

  const arbData: fc.Arbitrary<Spec> = fc.oneof(
    fc.record({
      kind: fc.constant('data' as const),
      isBinary: fc.constant(true),
      payload: fc.oneof(
        { weight: 4, arbitrary: fc.uint8Array({ maxLength: 140 }).map((b) => Buffer.from(b)) },
        { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 70000 }), fc.nat()).map(([n, s]) => filler(n, s)) },
      ),
      fin: fc.boolean(),
      rsv1: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('data' as const),
      isBinary: fc.constant(false),
      payload: fc.oneof(
        fc.string({ unit: 'binary', maxLength: 60 }),
        fc.string({ unit: 'binary', maxLength: 60 }).map((s) => Buffer.from(s)),
        fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 4 }).map((s) => s.repeat(20000)),
      ),
      fin: fc.boolean(),
      rsv1: fc.boolean(),
    }),
  );
  const arbControl: fc.Arbitrary<Spec> = fc.oneof(
    fc.record({ kind: fc.constantFrom('ping' as const, 'pong' as const), payload: fc.uint8Array({ maxLength: 125 }).map((b) => Buffer.from(b)) }),
    fc.record({
      kind: fc.constant('close' as const),
      code: fc.oneof(fc.integer({ min: 1000, max: 1003 }), fc.integer({ min: 1007, max: 1014 }), fc.integer({ min: 3000, max: 4999 })),
      reason: fc.string({ unit: 'binary', maxLength: 30 }).filter((s) => Buffer.byteLength(s) <= 123),
    }),
  );

  it('any frame encoded by one role parses in the other role to what was encoded', () => {
    fc.assert(
      fc.property(fc.oneof(arbData, arbControl), fc.constantFrom('client', 'server'), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.nat(), (spec, sender, mask, cut) => {
        const key = sender === 'client' ? mask : null;
        const receiver = sender === 'client' ? 'server' : 'client';
        let bytes: Buffer;
        let expected: unknown[];
        let decoded: { fin: boolean; rsv: number; opcode: number; payload: Buffer };
        if (spec.kind === 'data') {
          const opcode = spec.isBinary ? Opcode.Binary : Opcode.Text;
          const first = (spec.fin ? FIN : 0) | (spec.rsv1 ? RSV1 : 0) | opcode;
          const payloadBytes = Buffer.from(spec.payload);
          bytes = encoded(first, spec.payload, key);
          decoded = { fin: spec.fin, rsv: spec.rsv1 ? 4 : 0, opcode, payload: payloadBytes };
          // A non-final frame is completed by an empty continuation so that the message is delivered.
          if (!spec.fin) bytes = Buffer.concat([bytes, encoded(FIN | Opcode.Continuation, Buffer.alloc(0), key)]);
          expected = [['message', payloadBytes, spec.isBinary, spec.rsv1]];
        } else if (spec.kind === 'close') {
          const payload = closePayload(spec.code, spec.reason);
          bytes = encoded(FIN | Opcode.Close, payload, key);
          decoded = { fin: true, rsv: 0, opcode: Opcode.Close, payload };
          expected = [['close', spec.code, spec.reason, payload]];
        } else {
          const opcode = spec.kind === 'ping' ? Opcode.Ping : Opcode.Pong;
          bytes = encoded(FIN | opcode, spec.payload, key);
          decoded = { fin: true, rsv: 0, opcode, payload: spec.payload };
          expected = [[spec.kind, spec.payload]];
        }
        // The independent decoder reads back the same frame...
        const [first] = decodeFrames(bytes);
        expectSame({ fin: first!.fin, rsv: first!.rsv, opcode: first!.opcode, payload: first!.payload }, decoded);
        expect(first!.mask === null ? null : Uint8Array.from(first!.mask)).toEqual(key === null ? null : Uint8Array.from(key));
        // ...and so does the parser of the other role, fed in two pieces.
        const { parser, events } = recordingParser({ role: receiver, maxPayload: 0, allowRsv1: true });
        for (const piece of cutAt(bytes, [cut % (bytes.length + 1)])) parser.receive(piece);
        expectSame(events, expected);
      }),
      { numRuns: 300, seed: 0x6455 },
    );
  });

  it('the round trip fails when a frame is corrupted (the property can fail)', () => {
    const bytes = encoded(FIN | Opcode.Text, 'Hello', MASK_KEY);
    bytes[6] = bytes[6]! ^ 0x01; // flip a payload bit: "Hello" becomes "Iello"
    const { parser, events } = recordingParser({ role: 'server' });
    parser.receive(bytes);
    expect(events).toEqual([['message', Buffer.from('Iello'), false, false]]);
  });

  it('frames built by hand with a declared length other than the payload are parsed by that length', () => {
    // Sanity check of the helper used by the header-only tests.
    expect(toHex(frame(Opcode.Binary, '', { length: 2 ** 32 }))).toBe('82 7f 00 00 00 01 00 00 00 00');
    expect(toHex(frame(Opcode.Binary, 'ab', { lengthForm: 64 }))).toBe('82 7f 00 00 00 00 00 00 00 02 61 62');
    expect(toHex(frame(Opcode.Binary, 'ab', { lengthForm: 16 }))).toBe('82 7e 00 02 61 62');
    expect(hex('82 7e 00 02 61 62')).toEqual(frame(Opcode.Binary, 'ab', { lengthForm: 16 }));
  });
});
