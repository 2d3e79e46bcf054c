/**
 * The permessage-deflate codec (RFC 7692 §7.2) without sockets: the examples of
 * §7.2.3, the tail, fragments, context takeover kept or dropped, window bits, the
 * synchronous and thread-pool paths, maxPayload while inflating, bad data, the
 * process-wide limiter and deflate context pool, and prepared broadcast frames.
 */
import { deflateRawSync, constants } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PerMessageDeflate } from '../../src/protocol/deflate-codec.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { Engine, EnginePool, Limiter, isSyncZlibAvailable } from '../../src/protocol/zlib-driver.js';
import { DeflateRaw } from 'node:zlib';
import { hex, toHex } from './helpers.js';
import { broadcastMessage, codecPair, compress, decompress, inflate, jsonText, params, randomBytes, strictInflate, waitFor } from './deflate-helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Both paths: on the calling thread (default) and through the thread pool (syncLimit 0). */
const PATHS = [
  ['on the calling thread', {}],
  ['on the thread pool', { syncLimit: 0 }],
] as const;

describe('the synchronous zlib driver', () => {
  it('is available on the supported Node versions (20 and 24 in CI)', () => {
    // If this fails, every message takes the thread pool: correct, but slow.
    expect(isSyncZlibAvailable()).toBe(true);
  });
});

describe('RFC 7692 §7.2.3: the examples decompress', () => {
  it.each(PATHS)('§7.2.3.1 a message compressed with one block, %s', async (_path, options) => {
    const { server } = codecPair(params(), options);
    expect((await inflate(server, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
  });

  it.each(PATHS)('§7.2.3.2 two messages sharing the LZ77 window, %s', async (_path, options) => {
    const { server } = codecPair(params(), options);
    expect((await inflate(server, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
    expect((await inflate(server, hex('f2 00 11 00 00'))).toString()).toBe('Hello');
  });

  it('§7.2.3.2 without context takeover the second message cannot refer to the first', async () => {
    const { server } = codecPair(params({ clientNoContextTakeover: true }));
    expect((await inflate(server, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
    const second = await decompress(server, hex('f2 00 11 00 00'));
    expect(second.error?.closeCode).toBe(1007);
  });

  it.each(PATHS)('§7.2.3.3 a block with no compression, %s', async (_path, options) => {
    const { server } = codecPair(params(), options);
    expect((await inflate(server, hex('00 05 00 fa ff 48 65 6c 6c 6f 00'))).toString()).toBe('Hello');
  });

  it.each(PATHS)('§7.2.3.4 a block with BFINAL set, then the next message starts anew, %s', async (_path, options) => {
    const { server } = codecPair(params(), options);
    expect((await inflate(server, hex('f3 48 cd c9 c9 07 00 00'))).toString()).toBe('Hello');
    expect((await inflate(server, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
  });

  it.each(PATHS)('§7.2.3.5 two DEFLATE blocks in one message, %s', async (_path, options) => {
    const { server } = codecPair(params(), options);
    expect((await inflate(server, hex('f2 48 05 00 00 00 ff ff ca c9 c9 07 00'))).toString()).toBe('Hello');
  });

  it.each(PATHS)('§7.2.3.6 the empty message, %s', async (_path, options) => {
    const { server } = codecPair(params(), options);
    expect((await inflate(server, hex('00'))).length).toBe(0);
    expect((await inflate(server, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
  });

  it('an empty payload (not valid, but sent by some peers) is an empty message and leaves zlib intact', async () => {
    const { server } = codecPair(params());
    expect((await inflate(server, Buffer.alloc(0))).length).toBe(0);
    expect((await inflate(server, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
  });
});

describe('RFC 7692 §7.2.1: compression', () => {
  it.each(PATHS)('"Hello" compresses to the bytes of §7.2.3.1, tail removed, %s', async (_path, options) => {
    const { client } = codecPair(params({ clientNoContextTakeover: true }), options);
    expect(toHex(await compress(client, 'Hello'))).toBe('f2 48 cd c9 c9 07 00');
    expect(toHex(await compress(client, 'Hello'))).toBe('f2 48 cd c9 c9 07 00');
  });

  it.each(PATHS)('with context takeover the second "Hello" refers to the first (§7.2.3.2), %s', async (_path, options) => {
    const { client, server } = codecPair(params(), options);
    const first = await compress(client, 'Hello');
    const second = await compress(client, 'Hello');
    expect(toHex(first)).toBe('f2 48 cd c9 c9 07 00');
    expect(toHex(second)).toBe('f2 00 11 00 00');
    expect((await inflate(server, first)).toString()).toBe('Hello');
    expect((await inflate(server, second)).toString()).toBe('Hello');
  });

  it.each(PATHS)('the empty message is 0x00 (§7.2.3.6), with or without earlier messages, %s', async (_path, options) => {
    const { client, server } = codecPair(params(), options);
    expect(toHex(await compress(client, ''))).toBe('00');
    await inflate(server, await compress(client, 'Hello'));
    // Nothing new since the last flush: zlib outputs nothing, the empty block's 0x00 is sent.
    expect(toHex(await compress(client, ''))).toBe('00');
    expect((await inflate(server, hex('00'))).length).toBe(0);
    expect((await inflate(server, await compress(client, 'Hello'))).toString()).toBe('Hello');
  });

  it.each(PATHS)('fragments: only the final one loses the tail, and they inflate as one message, %s', async (_path, options) => {
    for (const agreed of [params(), params({ clientNoContextTakeover: true })]) {
      const { client, server } = codecPair(agreed, options);
      const first = await compress(client, 'Hel', false);
      expect(toHex(first.subarray(-4))).toBe('00 00 ff ff');
      const last = await compress(client, 'lo', true);
      expect(toHex(last.subarray(-4))).not.toBe('00 00 ff ff');
      expect((await inflate(server, Buffer.concat([first, last]))).toString()).toBe('Hello');
      // A final empty fragment after a flush is the empty block's 0x00.
      const a = await compress(client, 'Hello', false);
      const b = await compress(client, '', true);
      expect(toHex(b)).toBe('00');
      expect((await inflate(server, Buffer.concat([a, b]))).toString()).toBe('Hello');
      // And the codec goes on with whole messages.
      expect((await inflate(server, await compress(client, 'again'))).toString()).toBe('again');
    }
  });

  it('a message in many fragments, on both paths in turn', async () => {
    const text = jsonText(300 * KiB, 3);
    for (const agreed of [params(), params({ clientNoContextTakeover: true })]) {
      const { client, server } = codecPair(agreed, { syncLimit: 16 * KiB });
      const pieces: Buffer[] = [];
      // Fragments of 1 byte to 100 KiB: some on the calling thread, some on the pool.
      const sizes = [1, 7, 100, 16 * KiB, 16 * KiB + 1, 100 * KiB];
      let offset = 0;
      for (let i = 0; offset < text.length; i++) {
        const size = Math.min(sizes[i % sizes.length]!, text.length - offset);
        pieces.push(await compress(client, text.slice(offset, offset + size), offset + size === text.length));
        offset += size;
      }
      expect(pieces.length).toBeGreaterThan(10);
      expect((await inflate(server, Buffer.concat(pieces))).toString()).toBe(text);
    }
  });

  it.each(PATHS)('round trips of every size, with and without context takeover, %s', async (_path, options) => {
    for (const agreed of [params(), params({ serverNoContextTakeover: true, clientNoContextTakeover: true })]) {
      const { client, server } = codecPair(agreed, options);
      for (const [size, seed] of [[0, 1], [1, 2], [125, 3], [1024, 4], [65535, 5], [65536, 6], [200 * KiB, 7], [MiB, 8]] as const) {
        for (const data of [Buffer.from(jsonText(size, seed)), randomBytes(size, seed)]) {
          const compressed = await compress(client, data);
          const restored = await inflate(server, compressed);
          expect(restored.length).toBe(size);
          expect(restored.equals(data)).toBe(true);
        }
      }
    }
  });

  it('compresses compressible data and keeps incompressible data about its size', async () => {
    const { client } = codecPair(params());
    expect((await compress(client, jsonText(64 * KiB))).length).toBeLessThan(16 * KiB);
    expect((await compress(client, randomBytes(64 * KiB, 9))).length).toBeLessThan(64 * KiB + 64);
  });

  it('the output is not a view of a buffer that later calls overwrite', async () => {
    const { client, server } = codecPair(params({ clientNoContextTakeover: true }));
    const first = await compress(client, jsonText(2000, 1));
    const copy = Buffer.from(first);
    await compress(client, jsonText(2000, 2));
    expect(first.equals(copy)).toBe(true);
    const inflated = await inflate(server, first);
    const inflatedCopy = Buffer.from(inflated);
    await inflate(server, await compress(client, jsonText(2000, 3)));
    expect(inflated.equals(inflatedCopy)).toBe(true);
  });
});

describe('RFC 7692 §7.1.2: window bits', () => {
  // Data that repeats both within and beyond every window from 256 B to 32 KiB.
  const data = Buffer.concat([
    ...[400, 1500, 3000, 6000, 12_000].flatMap((distance) => [randomBytes(distance, distance), randomBytes(distance, distance)]),
    randomBytes(40 * KiB, 11),
    randomBytes(40 * KiB, 11),
    Buffer.from(jsonText(8 * KiB)),
    Buffer.alloc(4 * KiB),
  ]);

  it.each([8, 9, 10, 11, 12, 13, 14, 15])('a client window of %i bits: a strict peer inflates every message', async (bits) => {
    const { client } = codecPair(params({ clientMaxWindowBits: bits }));
    for (let i = 0; i < 3; i++) {
      const compressed = await compress(client, data);
      expect(compressed.length).toBeLessThan(data.length); // it still compresses
      expect(strictInflate(compressed, bits).equals(data)).toBe(true);
    }
  });

  it.each([8, 9, 12, 15])('a server window of %i bits, fragments included', async (bits) => {
    const { server } = codecPair(params({ serverMaxWindowBits: bits }));
    const a = await compress(server, data.subarray(0, 50 * KiB), false);
    const b = await compress(server, data.subarray(50 * KiB), true);
    expect(strictInflate(Buffer.concat([a, b]), bits).equals(data)).toBe(true);
  });

  it('the strict check bites: a 10-bit window fails a peer of 8 bits', () => {
    const wide = deflateRawSync(data, { windowBits: 10, finishFlush: constants.Z_SYNC_FLUSH });
    expect(() => strictInflate(wide.subarray(0, -4), 8)).toThrow(/too far back/);
  });

  it.each(PATHS)('inflates with a window of at least 9 bits: a peer that agreed on 8 may refer up to 512 bytes back across messages, %s', async (_path, options) => {
    // Within one message zlib's inflate reads back references from its output buffer,
    // so only a reference into an earlier message tests the window the inflater keeps.
    const chunk = randomBytes(300, 7);
    const { client: wide } = codecPair(params(), options); // a peer compressing with a wider window than agreed
    const first = await compress(wide, chunk);
    const second = await compress(wide, chunk); // refers 300 bytes back, into the first message
    expect(second.length).toBeLessThan(20);
    const stream = Buffer.concat([first, Buffer.from([0, 0, 0xff, 0xff]), second]);
    expect(strictInflate(stream, 9).equals(Buffer.concat([chunk, chunk]))).toBe(true); // valid for a 9-bit window
    expect(() => strictInflate(stream, 8)).toThrow(/too far back/); // not for an 8-bit one
    const server = new PerMessageDeflate(params({ clientMaxWindowBits: 8 }), { ...options, role: 'server' });
    expect((await inflate(server, first)).equals(chunk)).toBe(true);
    expect((await inflate(server, second)).equals(chunk)).toBe(true);
  });
});

describe('maxPayload applies while inflating', () => {
  /** A stream of `total` zero bytes, built from one compressed 16 MiB piece repeated (valid: each piece ends flushed). */
  function zeros(total: number): Buffer {
    const piece = deflateRawSync(Buffer.alloc(Math.min(total, 16 * MiB)), { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
    return Buffer.concat(Array.from({ length: Math.ceil(total / (16 * MiB)) }, () => piece));
  }

  it.each(PATHS)('exactly maxPayload bytes pass, one more fails with 1009, %s', async (_path, options) => {
    const text = Buffer.from(jsonText(10_000));
    const { client, server } = codecPair(params({ clientNoContextTakeover: true }), options);
    const compressed = await compress(client, text);
    expect((await inflate(server, compressed, 10_000)).length).toBe(10_000);
    const tooBig = await decompress(server, compressed, 9_999);
    expect(tooBig.error?.closeCode).toBe(1009);
    expect(tooBig.error?.code).toBe(ErrorCode.MessageTooBig);
    expect(tooBig.error?.message).toContain('maxPayload 9999');
    // The shared inflater was reset: the next message inflates.
    expect((await inflate(server, compressed, 10_000)).equals(text)).toBe(true);
  });

  it.each(PATHS)('a bomb (~1 MiB that would inflate to 1 GiB) stops at the limit without the output, %s', async (_path, options) => {
    const bomb = zeros(1024 * MiB);
    expect(bomb.length).toBeLessThan(1.1 * MiB);
    const { server } = codecPair(params(), options);
    const before = process.memoryUsage();
    const started = performance.now();
    const result = await decompress(server, bomb, 4 * MiB);
    const after = process.memoryUsage();
    expect(result.error?.closeCode).toBe(1009);
    // Inflating 1 GiB would take seconds; stopping at 4 MiB takes milliseconds.
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * MiB);
    expect(after.rss - before.rss).toBeLessThan(64 * MiB);
  });

  it.each(PATHS)('a few KiB that inflate to 16 MiB fail against the default 1 MiB, %s', async (_path, options) => {
    const bomb = zeros(16 * MiB);
    expect(bomb.length).toBeLessThan(20 * KiB);
    const { server } = codecPair(params({ clientNoContextTakeover: true }), options);
    const result = await decompress(server, bomb, MiB);
    expect(result.error?.closeCode).toBe(1009);
  });

  it('with a maxPayload over 1 MiB, only inputs that cannot inflate past 1 MiB run on the calling thread', () => {
    // 63 KiB of deflated zeros inflate to 64 MiB: tens of milliseconds of zlib.
    const bomb = zeros(64 * MiB);
    expect(bomb.length).toBeLessThanOrEqual(64 * KiB);
    const small = deflateRawSync(Buffer.from('x'.repeat(5000)), { finishFlush: constants.Z_SYNC_FLUSH });
    expect(small.length).toBeLessThan(1016);
    /** Whether the codec called back within the call (the calling thread) or later (the thread pool). */
    const calledBackAtOnce = (data: Buffer, maxPayload: number): boolean => {
      const { server } = codecPair(params());
      let called = false;
      server.decompress(data, maxPayload, () => (called = true));
      server.close(); // a job on the thread pool is dropped
      return called;
    };
    expect(calledBackAtOnce(bomb, 100 * MiB)).toBe(false);
    expect(calledBackAtOnce(bomb, 0)).toBe(false);
    expect(calledBackAtOnce(small, 100 * MiB)).toBe(true);
    // Within a limit of 1 MiB the output is bounded anyway: the calling thread, and 1009.
    expect(calledBackAtOnce(bomb, MiB)).toBe(true);
  });

  it('0 means no limit', async () => {
    const { server } = codecPair(params());
    expect((await inflate(server, zeros(8 * MiB), 0)).length).toBe(8 * MiB);
  });
});

describe('bad compressed data fails with 1007, never a crash', () => {
  const cases: Array<[string, Buffer]> = [
    ['an invalid block type (BTYPE 11)', hex('ff ff ff')],
    ['a stored block whose LEN and NLEN disagree', hex('00 05 00 00 00 48 65 6c 6c 6f')],
    ['a reference before the start of the window', hex('f2 00 11 00 00')],
    ['random bytes', randomBytes(4 * KiB, 99)],
  ];
  for (const [path, options] of PATHS) {
    it.each(cases)(`%s, ${path}`, async (_name, data) => {
      for (const agreed of [params(), params({ clientNoContextTakeover: true })]) {
        const { server } = codecPair(agreed, options);
        const result = await decompress(server, data);
        expect(result.error?.closeCode).toBe(1007);
        expect(result.error?.code).toBe(ErrorCode.InvalidCompressedData);
        expect(result.error?.message).toMatch(/^invalid compressed data: /);
      }
      // Other connections sharing the process-wide inflater are unaffected.
      const { server: other } = codecPair(params({ clientNoContextTakeover: true }), options);
      expect((await inflate(other, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
    });
  }
});

describe('order and the thread-pool limiter', () => {
  it('callbacks of one codec come in the order of the calls, on the thread pool', async () => {
    const { client, server } = codecPair(params(), { syncLimit: 0 });
    const texts = Array.from({ length: 40 }, (_, i) => jsonText(1000 + i * 500, i));
    const compressed = await Promise.all(texts.map((text) => compress(client, text)));
    const order: number[] = [];
    const inflated = await Promise.all(
      compressed.map(async (data, i) => {
        const out = await inflate(server, data);
        order.push(i);
        return out.toString();
      }),
    );
    expect(inflated).toEqual(texts);
    expect(order).toEqual(texts.map((_, i) => i));
  });

  it('runs at most `limit` jobs at once, starts them in order, and releases each slot once', async () => {
    const limiter = new Limiter(3);
    let running = 0;
    let highest = 0;
    const started: number[] = [];
    const done: Array<Promise<void>> = [];
    for (let i = 0; i < 20; i++) {
      done.push(
        new Promise((resolve) =>
          limiter.run((release) => {
            started.push(i);
            running++;
            highest = Math.max(highest, running);
            setTimeout(() => {
              running--;
              release();
              release(); // twice: ignored
              resolve();
            }, 1);
          }),
        ),
      );
    }
    expect(running).toBe(3);
    await Promise.all(done);
    expect(highest).toBe(3);
    expect(started).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('jobs that release at once do not grow the stack', () => {
    const limiter = new Limiter(1);
    let count = 0;
    for (let i = 0; i < 100_000; i++) limiter.run((release) => (count++, release()));
    expect(count).toBe(100_000);
  });

  it('a codec honours concurrencyLimit: many connections on the thread pool all finish', async () => {
    const codecs = Array.from({ length: 30 }, () => codecPair(params(), { syncLimit: 0, concurrencyLimit: 2 }));
    const texts = codecs.map((_, i) => jsonText(20 * KiB, i));
    const results = await Promise.all(codecs.map(async ({ client, server }, i) => (await inflate(server, await compress(client, texts[i]!))).toString()));
    expect(results).toEqual(texts);
  });

  it('close drops pending work: no callback after it', async () => {
    const { client } = codecPair(params(), { syncLimit: 0 });
    let called = false;
    client.compress(Buffer.from(jsonText(10_000)), true, () => (called = true));
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(called).toBe(false);
    client.compress(Buffer.from('after close'), true, () => (called = true));
    expect(called).toBe(false);
  });
});

describe('deflate contexts kept between messages are capped (maxDeflateContexts)', () => {
  it('past the cap, the least recently used connection compresses from an empty window, and its peer still inflates it', async () => {
    const options = { maxDeflateContexts: 1, level: 6 }; // a configuration of its own: a pool of its own
    const a = codecPair(params(), options);
    const b = codecPair(params(), options);
    expect(toHex(await compress(a.client, 'Hello'))).toBe('f2 48 cd c9 c9 07 00');
    expect(toHex(await compress(a.client, 'Hello'))).toBe('f2 00 11 00 00'); // context kept
    await compress(b.client, 'Hello'); // takes a's engine
    const third = await compress(a.client, 'Hello');
    expect(toHex(third)).toBe('f2 48 cd c9 c9 07 00'); // from an empty window
    // a's peer had context takeover all along; a message from an empty window is still valid.
    for (const data of [hex('f2 48 cd c9 c9 07 00'), hex('f2 00 11 00 00'), third]) expect((await inflate(a.server, data)).toString()).toBe('Hello');
  });

  it('the cap is per process, not per window size: connections that agreed different windows share it', async () => {
    const options = { maxDeflateContexts: 1, level: 4 }; // a configuration of its own
    const a = codecPair(params(), options);
    const b = codecPair(params({ clientMaxWindowBits: 10 }), options);
    await compress(a.client, 'Hello');
    expect(toHex(await compress(a.client, 'Hello'))).toBe('f2 00 11 00 00'); // context kept
    await compress(b.client, 'Hello'); // the one context of the process goes to b
    expect(toHex(await compress(a.client, 'Hello'))).toBe('f2 48 cd c9 c9 07 00'); // from an empty window
    expect(toHex(await compress(b.client, 'Hello'))).toBe('f2 48 cd c9 c9 07 00'); // and b's went back to a
    a.client.close();
    b.client.close();
  });

  it('the pool gives an owner its own engine back, takes the oldest idle one at the limit, and frees engines of closed owners', () => {
    let created = 0;
    const pool = new EnginePool(2, () => (created++, new Engine(new DeflateRaw())));
    const owners = [{ isCompressing: false }, { isCompressing: false }, { isCompressing: false }];
    const e0 = pool.acquire(owners[0]!);
    const e1 = pool.acquire(owners[1]!);
    expect(pool.acquire(owners[0]!)).toBe(e0); // owner 0 is now the most recent
    owners[1]!.isCompressing = true; // busy: not taken even though it is the oldest
    expect(pool.acquire(owners[2]!)).toBe(e0);
    expect(pool.size).toBe(2);
    owners[1]!.isCompressing = false;
    expect(pool.acquire(owners[0]!)).toBe(e1);
    expect(created).toBe(2);
    pool.release(owners[0]!);
    expect(e1.isUsable).toBe(false);
    expect(pool.size).toBe(1);
  });
});

describe('prepared messages (broadcast)', () => {
  const text = jsonText(4 * KiB, 5);
  const serverCodec = (overrides = {}): PerMessageDeflate => new PerMessageDeflate(params(overrides), { role: 'server' });

  it('gives the uncompressed frame below the threshold, and when compression is off for the message', () => {
    const small = broadcastMessage('hi');
    expect(toHex(serverCodec().preparedFrame(small))).toBe('81 02 68 69');
    const optedOut = broadcastMessage(text, false, false);
    expect(serverCodec().preparedFrame(optedOut)).toBe(optedOut.frame);
  });

  it('compresses once per window size, with RSV1 on the frame', () => {
    const message = broadcastMessage(text);
    const frame = serverCodec().preparedFrame(message) as Buffer;
    expect(frame[0]).toBe(0x80 | 0x40 | 0x01);
    expect(serverCodec({ serverNoContextTakeover: true }).preparedFrame(message)).toBe(frame); // the same bytes
    const small = serverCodec({ serverMaxWindowBits: 9 }).preparedFrame(message) as Buffer;
    expect(small).not.toBe(frame);
    const payload = small.subarray(small[1] === 126 ? 4 : 2);
    expect(strictInflate(payload, 9).toString()).toBe(text);
  });

  it('is valid for a peer with context takeover: the connection resets its own context around it', async () => {
    const { server, client } = codecPair(params());
    const message = broadcastMessage(text);
    const payloadOf = (frame: Uint8Array): Buffer => Buffer.from(frame.subarray(frame[1] === 126 ? 4 : 2));
    const received: string[] = [];
    received.push((await inflate(client, await compress(server, jsonText(2 * KiB, 1)))).toString());
    received.push((await inflate(client, payloadOf(server.preparedFrame(message)))).toString());
    received.push((await inflate(client, await compress(server, jsonText(2 * KiB, 1)))).toString());
    expect(received).toEqual([jsonText(2 * KiB, 1), text, jsonText(2 * KiB, 1)]);
  });
});

describe('close', () => {
  it('releases the zlib state and ignores later calls', async () => {
    const codec = new PerMessageDeflate(params(), { role: 'server' });
    await compress(codec, jsonText(2000));
    await inflate(codec, hex('f2 48 cd c9 c9 07 00'));
    codec.close();
    codec.close();
    let called = false;
    codec.decompress(hex('f2 48 cd c9 c9 07 00'), 0, () => (called = true));
    await waitFor(() => true, 'a turn');
    expect(called).toBe(false);
  });
});
