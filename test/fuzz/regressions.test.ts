/**
 * Regressions found by the fuzz campaign (`fuzz/seeds/`), as plain tests named after the
 * behaviour they pin down.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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

describe('limits: memory stays within maxPayload', () => {
  /**
   * Bytes of live array buffers after full garbage collections (exposed at run time:
   * vitest does not pass --expose-gc). V8 frees array buffers on a concurrent sweeper,
   * so collect until the figure stops falling, with turns of the event loop between.
   */
  async function liveArrayBuffers(): Promise<number> {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let last = Infinity;
    for (let round = 0; round < 20; round++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 5));
      const now = process.memoryUsage().arrayBuffers;
      if (now >= last) return now;
      last = now;
    }
    return last;
  }

  it('a fragmented message does not pin the large chunks its small fragments arrived in', async () => {
    const maxPayload = 64 * 1024;
    const conn = new Connection({ role: 'server', maxPayload }, {
      onMessage: () => undefined,
      onPing: () => undefined,
      onPong: () => undefined,
      onClosing: () => undefined,
      onError: (error) => {
        throw error;
      },
      write: () => undefined,
      end: () => undefined,
    });
    // Each ~11 KiB chunk: pings (answered with pongs from Node's buffer pool), then one
    // 1-byte continuation of a binary message that stays open.
    const pings = Buffer.concat(Array.from({ length: 100 }, () => maskedFrame(0x89, Buffer.alloc(100))));
    const count = 600;
    const before = await liveArrayBuffers();
    conn.receive(maskedFrame(0x02, Buffer.of(0)));
    for (let i = 0; i < count; i++) conn.receive(Buffer.concat([pings, maskedFrame(0x00, Buffer.of(i & 0xff))]));
    const retained = (await liveArrayBuffers()) - before;
    // 601 message bytes (39 KiB of maxPayload with the fragment overhead) are held, and
    // at most maxPayload of chunks around them. Before the fix each pinned its 11 KiB
    // chunk (6 MiB); copies from Node's buffer pool would each pin an 8 KiB slab (5 MiB).
    expect(retained).toBeLessThan(4 * maxPayload);
    expect(conn.readyState).toBe(1);
  });
});
