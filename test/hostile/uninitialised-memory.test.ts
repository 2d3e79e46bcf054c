/**
 * No uninitialised memory ever reaches the wire (the class of `ws`'s `close()`
 * advisory): every `Buffer.allocUnsafe`/`allocUnsafeSlow` made while these tests run
 * returns memory filled with a sentinel byte, and the rest of Node's shared buffer
 * pool is filled with it before each send, so a byte the library allocates and forgets
 * to write goes out as the sentinel. Each test sends with many lengths (the boundaries
 * of the three length forms, of the frame encoder's copy threshold and of the write
 * merging), reads every byte the peer receives, decodes it independently of the
 * library, and checks that each frame is exactly the one expected and that nothing
 * else arrived.
 *
 * Payloads are made of printable ASCII (never the sentinel), so a leaked sentinel byte
 * fails the comparison of a payload; a leaked byte in a header breaks the framing and
 * the count of bytes received.
 */
import { Buffer } from 'node:buffer';
import { constants, inflateRawSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, prepare } from '../../src/index.js';
import {
  Op,
  closeAll,
  closeCodeOf,
  frame,
  nextEvent,
  parseFrame,
  rawUpgrade,
  startRawServer,
  startServer,
  switchingProtocols,
  track,
  until,
  type RawClient,
  type RawFrame,
} from '../node/helpers.js';

const SENTINEL = 0xa5;

const original = { allocUnsafe: Buffer.allocUnsafe, allocUnsafeSlow: Buffer.allocUnsafeSlow };

beforeAll(() => {
  Buffer.allocUnsafe = ((size: number) => original.allocUnsafe(size).fill(SENTINEL)) as typeof Buffer.allocUnsafe;
  Buffer.allocUnsafeSlow = ((size: number) => original.allocUnsafeSlow(size).fill(SENTINEL)) as typeof Buffer.allocUnsafeSlow;
});

afterAll(() => {
  Buffer.allocUnsafe = original.allocUnsafe;
  Buffer.allocUnsafeSlow = original.allocUnsafeSlow;
});

afterEach(closeAll);

/**
 * Fills what is left of Node's current 8 KiB buffer pool with the sentinel: memory
 * that `Buffer.from(string)` and other internal allocations hand out next. Bytes
 * already handed out (before the probe) are left alone.
 */
function poisonPool(): void {
  const probe = original.allocUnsafe(1); // small sizes are slices of the pool
  if (probe.buffer.byteLength === 1) return; // not pooled here
  new Uint8Array(probe.buffer, probe.byteOffset + 1).fill(SENTINEL);
}

/** Printable ASCII of `length` bytes, varied by `seed` (never the sentinel). */
function ascii(length: number, seed = 0): string {
  let text = '';
  for (let i = 0; i < length; i++) text += String.fromCharCode(0x21 + ((i * 7 + seed) % 94));
  return text;
}

/** Lengths at every boundary a sender treats differently. */
const LENGTHS = [
  0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 63, 64, 65, 124, 125, 126, 127, 128, 255, 256, 1023, 1024, 1025, 4095, 4096, 4097, 8191,
  8192, 8193, 16383, 16384, 16385, 65535, 65536, 65537, 70000,
];

interface Expected {
  opcode: number;
  fin?: boolean;
  rsv?: number;
  payload: Buffer;
}

/** Reads frames until `expected` are all in, compares them exactly, and checks nothing more came. */
async function expectFrames(raw: RawClient, expected: Expected[], decode: (frame: RawFrame) => Buffer = (f) => f.payload): Promise<void> {
  for (const [index, want] of expected.entries()) {
    const got = await raw.readFrame();
    const where = `frame #${index} (opcode ${want.opcode}, ${want.payload.length} bytes)`;
    expect(got.masked, where).toBe(false);
    expect([got.opcode, got.fin, got.rsv], where).toEqual([want.opcode, want.fin ?? true, want.rsv ?? 0]);
    const payload = decode(got);
    if (!payload.equals(want.payload)) {
      const at = firstDifference(payload, want.payload);
      throw new Error(`${where}: payload differs at byte ${at} (got 0x${payload[at]?.toString(16)}, expected 0x${want.payload[at]?.toString(16)})`);
    }
  }
  expect(raw.buffer.length, 'bytes after the expected frames').toBe(0);
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** A server and one raw peer upgraded to it, with the server's side of the connection. */
async function serverAndPeer(options: Parameters<typeof startServer>[0] = {}, headers: Record<string, string> = {}) {
  const started = await startServer({ heartbeat: false, ...options });
  const connection = nextEvent<[WebSocket]>(started.wss, 'connection');
  const { raw, response } = await rawUpgrade(started.port, { headers });
  const [ws] = await connection;
  return { ...started, raw, ws, response };
}

describe('every byte a server sends is written by the library', () => {
  it('self-check: allocations in this file are filled with the sentinel', () => {
    expect(Buffer.allocUnsafe(16).every((b) => b === SENTINEL)).toBe(true);
    poisonPool();
    expect(Buffer.from('a').buffer === original.allocUnsafe(1).buffer).toBe(true);
  });

  it('send(string), send(Buffer), send of non-ASCII text: every length, one send per tick', async () => {
    const { raw, ws } = await serverAndPeer();
    const expected: Expected[] = [];
    for (const length of LENGTHS) {
      poisonPool();
      ws.send(ascii(length, 1));
      expected.push({ opcode: Op.Text, payload: Buffer.from(ascii(length, 1)) });
      poisonPool();
      ws.send(Buffer.from(ascii(length, 2)));
      expected.push({ opcode: Op.Binary, payload: Buffer.from(ascii(length, 2)) });
      // 2-, 3- and 4-byte characters and a lone surrogate (sent as U+FFFD).
      const text = `é€😀\uD800${ascii(length, 3)}`;
      poisonPool();
      ws.send(text);
      expected.push({ opcode: Op.Text, payload: Buffer.from(text) });
      await new Promise((resolve) => setImmediate(resolve));
    }
    await expectFrames(raw, expected);
  });

  it('many small sends in one tick (merged into one write), then fragments', async () => {
    const { raw, ws } = await serverAndPeer();
    const expected: Expected[] = [];
    for (let length = 0; length < 300; length += 7) {
      poisonPool();
      ws.send(ascii(length, length));
      expected.push({ opcode: Op.Text, payload: Buffer.from(ascii(length, length)) });
    }
    for (const [i, length] of [0, 1, 125, 126, 65536, 3].entries()) {
      poisonPool();
      ws.send(Buffer.from(ascii(length, i)), { fin: i === 5 });
      expected.push({ opcode: i === 0 ? Op.Binary : Op.Continuation, fin: i === 5, payload: Buffer.from(ascii(length, i)) });
    }
    await expectFrames(raw, expected);
  });

  it('a peer that stops reading: what waits is merged into private buffers, and arrives intact once it reads', async () => {
    const { raw, ws } = await serverAndPeer({ maxBackpressure: 0 });
    raw.socket.pause();
    const expected: Expected[] = [];
    // Fill the kernel buffers so that later small sends wait in the socket (allocUnsafeSlow merges).
    const big = Buffer.from(ascii(1 << 20, 9));
    for (let i = 0; i < 64 && ws.socket!.writableLength === 0; i++) {
      ws.send(big);
      expected.push({ opcode: Op.Binary, payload: big });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(ws.socket!.writableLength).toBeGreaterThan(0);
    for (let tick = 0; tick < 20; tick++) {
      for (let length = tick; length < 200; length += 37) {
        poisonPool();
        ws.send(ascii(length, tick));
        expected.push({ opcode: Op.Text, payload: Buffer.from(ascii(length, tick)) });
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    raw.socket.resume();
    await expectFrames(raw, expected);
  });

  it('prepared messages, publish (slab) and broadcast', async () => {
    const { raw, ws, wss } = await serverAndPeer();
    ws.subscribe('t');
    const expected: Expected[] = [];
    for (const length of LENGTHS) {
      poisonPool();
      ws.send(prepare(ascii(length, 4)));
      expected.push({ opcode: Op.Text, payload: Buffer.from(ascii(length, 4)) });
      poisonPool();
      wss.publish('t', Buffer.from(ascii(length, 5)));
      expected.push({ opcode: Op.Binary, payload: Buffer.from(ascii(length, 5)) });
      poisonPool();
      wss.broadcast(`ü${ascii(length, 6)}`);
      expected.push({ opcode: Op.Text, payload: Buffer.from(`ü${ascii(length, 6)}`) });
    }
    await expectFrames(raw, expected);
  });

  it('compressed messages (permessage-deflate): each inflates to exactly what was sent', async () => {
    const { raw, ws, response } = await serverAndPeer(
      { perMessageDeflate: { threshold: 0, serverNoContextTakeover: true } },
      { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover' },
    );
    expect(response.headers['sec-websocket-extensions']).toContain('permessage-deflate');
    const expected: Expected[] = [];
    for (const length of [...LENGTHS, 200_000]) {
      poisonPool();
      ws.send(ascii(length, 7));
      expected.push({ opcode: Op.Text, rsv: 4, payload: Buffer.from(ascii(length, 7)) });
      poisonPool();
      ws.send(prepare(Buffer.from(ascii(length, 8))));
      expected.push({ opcode: Op.Binary, rsv: 4, payload: Buffer.from(ascii(length, 8)) });
      await until(() => ws.bufferedAmount === 0, 'compressed sends written');
    }
    const tail = Buffer.from([0x00, 0x00, 0xff, 0xff]);
    await expectFrames(raw, expected, (f) => inflateRawSync(Buffer.concat([f.payload, tail]), { finishFlush: constants.Z_SYNC_FLUSH }));
  });

  it('ping and pong payloads of 0 to 125 bytes', async () => {
    const { raw, ws } = await serverAndPeer();
    const expected: Expected[] = [];
    for (let length = 0; length <= 125; length++) {
      poisonPool();
      ws.ping(ascii(length, length));
      expected.push({ opcode: Op.Ping, payload: Buffer.from(ascii(length, length)) });
      poisonPool();
      ws.pong(Buffer.from(ascii(length, length + 1)));
      expected.push({ opcode: Op.Pong, payload: Buffer.from(ascii(length, length + 1)) });
    }
    await expectFrames(raw, expected);
  });

  it('automatic pongs echo each ping exactly', async () => {
    const { raw } = await serverAndPeer();
    const expected: Expected[] = [];
    for (let length = 0; length <= 125; length += 5) {
      raw.write(frame(Op.Ping, ascii(length, 11)));
      expected.push({ opcode: Op.Pong, payload: Buffer.from(ascii(length, 11)) });
    }
    await expectFrames(raw, expected);
  });

  it.each([0, 1, 2, 3, 10, 60, 61, 62, 121, 122, 123])('close(code, reason of %i bytes): string, multi-byte string and Buffer', async (length) => {
    const reasons = [ascii(length, 12), `${'é'.repeat(Math.floor(length / 2))}${length % 2 ? 'x' : ''}`, Buffer.from(ascii(length, 13))];
    for (const reason of reasons) {
      const { raw, ws } = await serverAndPeer();
      poisonPool();
      ws.close(4000 + length, reason);
      const got = await raw.readFrame();
      expect(got.opcode).toBe(Op.Close);
      expect(closeCodeOf(got.payload)).toBe(4000 + length);
      expect(got.payload.subarray(2)).toEqual(Buffer.from(reason));
      expect(raw.buffer.length).toBe(0);
    }
  });

  it('the close frame of a failure, and the echo of a peer close frame', async () => {
    const first = await serverAndPeer();
    poisonPool();
    first.raw.write(frame(Op.Text, Buffer.from([0xff]))); // invalid UTF-8: 1007 with the error's reason
    const failure = await first.raw.readFrame();
    expect(closeCodeOf(failure.payload)).toBe(1007);
    expect(failure.payload.subarray(2).toString()).toBe('text message is not valid UTF-8');
    const second = await serverAndPeer();
    const payload = Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.from(ascii(100, 14))]); // 4000
    second.raw.write(frame(Op.Close, payload));
    const echo = await second.raw.readFrame();
    expect(echo.payload).toEqual(payload);
  });
});

describe('every byte a client sends is written by the library', () => {
  it('masked frames of every length, close with every reason length: the server unmasks exactly what was sent', async () => {
    let received = Buffer.alloc(0);
    const { port } = await startRawServer((socket, _head, key) => {
      socket.write(switchingProtocols(key));
      socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    });
    const ws = track(new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false }), (c) => c.terminate());
    await nextEvent(ws, 'open');
    const expected: Expected[] = [];
    for (const length of LENGTHS) {
      poisonPool();
      ws.send(ascii(length, 15));
      expected.push({ opcode: Op.Text, payload: Buffer.from(ascii(length, 15)) });
      poisonPool();
      ws.send(Buffer.from(ascii(length, 16)));
      expected.push({ opcode: Op.Binary, payload: Buffer.from(ascii(length, 16)) });
    }
    poisonPool();
    ws.ping(ascii(125, 17));
    expected.push({ opcode: Op.Ping, payload: Buffer.from(ascii(125, 17)) });
    poisonPool();
    ws.close(4123, ascii(123, 18));
    expected.push({ opcode: Op.Close, payload: Buffer.concat([Buffer.from([0x10, 0x1b]), Buffer.from(ascii(123, 18))]) });
    const total = expected.length;
    await until(() => countFrames(received) >= total, `${total} frames received`);
    let offset = 0;
    for (const [index, want] of expected.entries()) {
      const parsed = parseFrame(received.subarray(offset))!;
      offset += parsed.size;
      expect(parsed.frame.masked, `frame #${index}`).toBe(true);
      expect(parsed.frame.opcode, `frame #${index}`).toBe(want.opcode);
      expect(parsed.frame.payload.equals(want.payload), `frame #${index} payload`).toBe(true);
    }
    expect(offset).toBe(received.length);
  });
});

function countFrames(bytes: Buffer): number {
  let count = 0;
  let offset = 0;
  for (;;) {
    const parsed = parseFrame(bytes.subarray(offset));
    if (parsed === undefined) return count;
    offset += parsed.size;
    count++;
  }
}
