/**
 * Regressions found by the fuzz campaign (`fuzz/seeds/`), as plain tests named after the
 * behaviour they pin down.
 */
import { describe, expect, it } from 'vitest';
import { Connection, FrameParser, type ParserHandler } from '../../src/protocol/index.js';

/** Masks `payload` with `key` into a frame with the given first byte (client to server). */
function maskedFrame(firstByte: number, payload: Buffer, key = Buffer.of(0x37, 0xfa, 0x21, 0x3d)): Buffer {
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] = masked[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.of(firstByte, 0x80 | payload.length), key, masked]);
}

describe('RFC 6455 §5.5.2: control frames', () => {
  it('a ping payload split across chunks stays intact while the next frames arrive', () => {
    const pings: Buffer[] = [];
    const handler: ParserHandler = {
      onMessage: () => undefined,
      onPing: (payload) => pings.push(payload),
      onPong: () => undefined,
      onClose: () => undefined,
      onError: (error) => {
        throw error;
      },
    };
    const parser = new FrameParser({ role: 'server' }, handler);
    const stream = Buffer.concat([maskedFrame(0x89, Buffer.from('abc')), maskedFrame(0x81, Buffer.from('next frame'))]);
    // One byte at a time: the payload and the next header both cross chunk boundaries.
    for (const byte of stream) parser.receive(Buffer.of(byte));
    expect(pings.map((p) => p.toString())).toEqual(['abc']);
  });
});

describe('RFC 6455 §7.1.7: failing the connection', () => {
  it('fail() with a code that may not be sent throws and leaves the connection open and reading', () => {
    const conn = new Connection({ role: 'server' });
    expect(() => conn.fail(1015, 'TLS')).toThrow(RangeError);
    conn.receive(maskedFrame(0x81, Buffer.from('still here')));
    expect(conn.readyState).toBe(1);
    expect(conn.takeEvents()).toEqual([{ type: 'message', data: Buffer.from('still here'), isBinary: false }]);
    expect(conn.takeOutput()).toEqual(Buffer.alloc(0));
  });
});

describe('RFC 6455 §5.5: a close reason fits 123 bytes', () => {
  it('fail() cuts a long reason on a character boundary and keeps every whole character', () => {
    const conn = new Connection({ role: 'server' });
    // 1 + 62 × 2 = 125 bytes: the first 123 bytes end exactly after a whole "é".
    conn.fail(1008, `x${'é'.repeat(62)}`);
    const frame = conn.takeOutput();
    const reason = frame.subarray(4);
    expect(frame.subarray(0, 2)).toEqual(Buffer.of(0x88, 125));
    expect(reason.toString()).toBe(`x${'é'.repeat(61)}`);
  });

  it('fail() drops a character that the 123-byte cut would split', () => {
    const conn = new Connection({ role: 'server' });
    conn.fail(1008, 'é'.repeat(62)); // 124 bytes: byte 123 is the first of the last "é"
    expect(conn.takeOutput().subarray(4).toString()).toBe('é'.repeat(61));
  });
});
