import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_FRAGMENT_OVERHEAD, DEFAULT_MAX_PAYLOAD, ErrorCode, FrameParser, Opcode } from '../../src/protocol/index.js';
import {
  MASK_KEY,
  Rsv,
  arbSteps,
  chops,
  clientFrame,
  closePayload,
  cutAt,
  eventsOf,
  expectClosing,
  expectEvents,
  expectFrameSent,
  expectNothingSent,
  expectSame,
  feed,
  filler,
  hex,
  recordingParser,
  serializeAsClient,
  server,
  serverFrame,
  summarize,
  type EventSummary,
} from './helpers.js';

const HELLO = Buffer.from('Hello');
const ZERO_MASK = new Uint8Array(4);

describe('RFC 6455 §5.7 examples, parsed', () => {
  it('client role receives a single-frame unmasked text message 81 05 48 65 6c 6c 6f → "Hello"', () => {
    const { parser, events } = recordingParser({ role: 'client' });
    parser.receive(hex('81 05 48 65 6c 6c 6f'));
    expectSame(events, [['message', HELLO, false, false]]);
  });

  it('server role receives a single-frame masked text message 81 85 37 fa 21 3d 7f 9f 4d 51 58 → "Hello"', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    parser.receive(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'));
    expectSame(events, [['message', HELLO, false, false]]);
  });

  it('client role assembles a fragmented unmasked text message 01 03 48 65 6c + 80 02 6c 6f → "Hello"', () => {
    const { parser, events } = recordingParser({ role: 'client' });
    parser.receive(hex('01 03 48 65 6c'));
    expectSame(events, []);
    parser.receive(hex('80 02 6c 6f'));
    expectSame(events, [['message', HELLO, false, false]]);
  });

  it('client role receives an unmasked ping 89 05 "Hello"; server role receives the masked pong 8a 85 ...', () => {
    const client = recordingParser({ role: 'client' });
    client.parser.receive(hex('89 05 48 65 6c 6c 6f'));
    expectSame(client.events, [['ping', HELLO]]);
    const server = recordingParser({ role: 'server' });
    server.parser.receive(hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'));
    expectSame(server.events, [['pong', HELLO]]);
  });

  it('client role receives 256 bytes of binary data in one frame: 82 7e 01 00 + payload', () => {
    const payload = filler(256, 1);
    const { parser, events } = recordingParser({ role: 'client' });
    parser.receive(Buffer.concat([hex('82 7e 01 00'), payload]));
    expectSame(events, [['message', payload, true, false]]);
  });

  it('client role receives 64 KiB of binary data in one frame: 82 7f 00 00 00 00 00 01 00 00 + payload', () => {
    const payload = filler(65536, 2);
    const { parser, events } = recordingParser({ role: 'client' });
    parser.receive(Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), payload]));
    expectSame(events, [['message', payload, true, false]]);
  });
});

describe('RFC 6455 §5.2 payload length', () => {
  it.each([0, 1, 125, 126, 127, 128, 65535, 65536, 65537])('a %i-byte message is delivered whole, fed whole and in small chunks', (length) => {
    const payload = filler(length, length + 3);
    for (const chunkSize of [undefined, 1, 3, 1000]) {
      if (chunkSize === 1 && length > 1000) continue; // octet-wise feeding of 64 KiB is covered in Autobahn 1.1.8
      const { parser, events } = recordingParser({ role: 'server' });
      const bytes = clientFrame(Opcode.Binary, payload);
      for (const piece of chunkSize === undefined ? [bytes] : chops(bytes, chunkSize)) parser.receive(piece);
      expectSame(events, [['message', payload, true, false]]);
      expect(parser.bufferedAmount).toBe(0);
    }
  });

  it('non-minimal length encodings are accepted (5 bytes in the 16-bit and 64-bit forms)', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    parser.receive(clientFrame(Opcode.Text, 'Hello', { lengthForm: 16 }));
    parser.receive(clientFrame(Opcode.Text, 'Hello', { lengthForm: 64 }));
    expectSame(events, [
      ['message', HELLO, false, false],
      ['message', HELLO, false, false],
    ]);
  });

  it('a header announcing 2^32 bytes is accepted without a limit, and payload is consumed as it arrives', () => {
    const { parser, events } = recordingParser({ role: 'server', maxPayload: 0 });
    parser.receive(clientFrame(Opcode.Binary, '', { length: 2 ** 32, mask: ZERO_MASK }));
    expectSame(events, []);
    expect(parser.isDone).toBe(false);
    expect(parser.bufferedAmount).toBe(0);
    parser.receive(Buffer.alloc(65536));
    expectSame(events, []);
    expect(parser.bufferedAmount).toBe(0);
  });

  it('a header announcing 2^32 bytes fails with 1009 from the header alone under the default maxPayload', () => {
    const { parser, events, errors } = recordingParser({ role: 'server' });
    // Only the 10 header bytes, not even the masking key.
    parser.receive(clientFrame(Opcode.Binary, '', { length: 2 ** 32 }).subarray(0, 10));
    expectSame(events, [['error', 1009, ErrorCode.MessageTooBig]]);
    expect(errors[0]!.message).toBe(`payload of ${2 ** 32} bytes exceeds maxPayload ${DEFAULT_MAX_PAYLOAD}`);
  });

  it.each([
    ['80 00 00 00 00 00 00 00', 1002, ErrorCode.InvalidLength],
    ['ff ff ff ff ff ff ff ff', 1002, ErrorCode.InvalidLength],
    ['00 20 00 00 00 00 00 00', 1009, ErrorCode.MessageTooBig], // 2^53
    ['7f ff ff ff ff ff ff ff', 1009, ErrorCode.MessageTooBig], // 2^63 - 1
  ])('a 64-bit length of %s fails with %i even without a size limit', (length, closeCode, code) => {
    const { parser, events } = recordingParser({ role: 'server', maxPayload: 0 });
    parser.receive(Buffer.concat([hex('82 ff'), hex(length)]));
    expectSame(events, [['error', closeCode, code]]);
    expect(parser.isDone).toBe(true);
  });

  it('a 64-bit length of 2^53 - 1 is accepted without a size limit', () => {
    const { parser, events } = recordingParser({ role: 'server', maxPayload: 0 });
    parser.receive(hex('82 ff 00 1f ff ff ff ff ff ff 00 00 00 00 01 02'));
    expectSame(events, []);
    expect(parser.isDone).toBe(false);
  });
});

describe('maxPayload: enforced from the length field, before buffering', () => {
  it.each([
    ['7-bit', 100],
    ['16-bit', 1000],
    ['64-bit', 70000],
  ])('a %s length of maxPayload passes and maxPayload + 1 fails with 1009 from the header alone', (_form, limit) => {
    const fits = recordingParser({ role: 'server', maxPayload: limit });
    fits.parser.receive(clientFrame(Opcode.Binary, filler(limit, 5)));
    expectSame(fits.events, [['message', filler(limit, 5), true, false]]);

    const tooBig = recordingParser({ role: 'server', maxPayload: limit });
    const header = clientFrame(Opcode.Binary, '', { length: limit + 1 });
    tooBig.parser.receive(header.subarray(0, header.length - 4)); // length field only, no masking key
    expect(tooBig.events).toEqual([['error', 1009, ErrorCode.MessageTooBig]]);
    expect(tooBig.errors[0]!.message).toBe(`payload of ${limit + 1} bytes exceeds maxPayload ${limit}`);
  });

  it('a compressed message may take a little more than maxPayload on the wire (maxPayload bounds it inflated); beyond deflate\'s bound it fails from the header', () => {
    // 10,000 incompressible bytes take up to 10,000 + 2 + 0 + 64 compressed.
    const fits = recordingParser({ role: 'server', maxPayload: 10_000, allowRsv1: true });
    fits.parser.receive(clientFrame(Opcode.Binary, filler(10_066, 3), { rsv: Rsv.RSV1 }));
    expect(fits.events).toHaveLength(1);
    expect(fits.events[0]![0]).toBe('message');

    const tooBig = recordingParser({ role: 'server', maxPayload: 10_000, allowRsv1: true });
    tooBig.parser.receive(clientFrame(Opcode.Binary, '', { rsv: Rsv.RSV1, length: 10_067 }).subarray(0, 4));
    expect(tooBig.events).toEqual([['error', 1009, ErrorCode.MessageTooBig]]);
    expect(tooBig.errors[0]!.message).toBe('compressed payload of 10067 bytes exceeds maxPayload 10000');

    const plain = recordingParser({ role: 'server', maxPayload: 10_000, allowRsv1: true });
    plain.parser.receive(clientFrame(Opcode.Binary, '', { length: 10_001 }).subarray(0, 4));
    expect(plain.errors[0]!.message).toBe('payload of 10001 bytes exceeds maxPayload 10000');
  });

  it('counts the whole message across fragments (no overhead)', () => {
    const fits = recordingParser({ role: 'server', maxPayload: 100, fragmentOverhead: 0 });
    fits.parser.receive(clientFrame(Opcode.Text, 'a'.repeat(50), { fin: false }));
    fits.parser.receive(clientFrame(Opcode.Continuation, 'b'.repeat(50)));
    expectSame(fits.events, [['message', Buffer.from('a'.repeat(50) + 'b'.repeat(50)), false, false]]);

    const tooBig = recordingParser({ role: 'server', maxPayload: 100, fragmentOverhead: 0 });
    tooBig.parser.receive(clientFrame(Opcode.Text, 'a'.repeat(50), { fin: false }));
    tooBig.parser.receive(clientFrame(Opcode.Continuation, '', { length: 51 }).subarray(0, 2));
    expect(tooBig.events).toEqual([['error', 1009, ErrorCode.MessageTooBig]]);
    expect(tooBig.errors[0]!.message).toBe('payload of 101 bytes exceeds maxPayload 100');
  });

  it('resets the count for each message', () => {
    const { parser, events } = recordingParser({ role: 'server', maxPayload: 100 });
    for (let i = 0; i < 5; i++) parser.receive(clientFrame(Opcode.Binary, filler(100, i)));
    expect(events.map((event) => event[0])).toEqual(['message', 'message', 'message', 'message', 'message']);
  });

  it('does not count control frames interleaved in a message', () => {
    const { parser, events } = recordingParser({ role: 'server', maxPayload: 100, fragmentOverhead: 0 });
    parser.receive(clientFrame(Opcode.Binary, filler(60, 1), { fin: false }));
    parser.receive(clientFrame(Opcode.Ping, filler(125, 2)));
    parser.receive(clientFrame(Opcode.Continuation, filler(40, 3)));
    expect(events.map((event) => event[0])).toEqual(['ping', 'message']);
  });

  it(`counts ${DEFAULT_FRAGMENT_OVERHEAD} bytes per fragment after the first by default, apart from the payload`, () => {
    expect(DEFAULT_FRAGMENT_OVERHEAD).toBe(64);
    // 3 fragments of 10 bytes: 2 after the first, 2 × 64 = 128 bytes against maxPayload.
    const fits = recordingParser({ role: 'server', maxPayload: 128 });
    fits.parser.receive(clientFrame(Opcode.Binary, filler(10, 1), { fin: false }));
    fits.parser.receive(clientFrame(Opcode.Continuation, filler(10, 2), { fin: false }));
    fits.parser.receive(clientFrame(Opcode.Continuation, filler(10, 3)));
    expect(fits.events.map((event) => event[0])).toEqual(['message']);

    const tooBig = recordingParser({ role: 'server', maxPayload: 127 });
    tooBig.parser.receive(clientFrame(Opcode.Binary, filler(10, 1), { fin: false }));
    tooBig.parser.receive(clientFrame(Opcode.Continuation, filler(10, 2), { fin: false }));
    expect(tooBig.events).toEqual([]);
    tooBig.parser.receive(clientFrame(Opcode.Continuation, filler(10, 3)));
    expect(tooBig.events).toEqual([['error', 1009, ErrorCode.MessageTooBig]]);
    expect(tooBig.errors[0]!.message).toBe('message of 30 bytes in 3 fragments exceeds maxPayload 127 with 64 bytes counted per fragment after the first');
  });

  it('holds the payload of a fragmented message to maxPayload exactly, as ws does', () => {
    // 1000 bytes in fragments of 100 (a stream writing its chunks), then an empty final one.
    const frames = (total: number) => [
      ...Array.from({ length: total / 100 }, (_, i) => clientFrame(i === 0 ? Opcode.Binary : Opcode.Continuation, filler(100, i), { fin: false })),
      clientFrame(Opcode.Continuation, ''),
    ];
    const fits = recordingParser({ role: 'server', maxPayload: 1000, fragmentOverhead: 64 });
    for (const frame of frames(1000)) fits.parser.receive(frame);
    expect(fits.events.map((event) => [event[0], (event[1] as Buffer).length])).toEqual([['message', 1000]]);

    const over = recordingParser({ role: 'server', maxPayload: 999, fragmentOverhead: 64 });
    for (const frame of frames(1000)) over.parser.receive(frame);
    expect(over.events).toEqual([['error', 1009, ErrorCode.MessageTooBig]]);
    expect(over.errors[0]!.message).toBe('payload of 1000 bytes exceeds maxPayload 999');
  });

  it('honours the fragmentOverhead option', () => {
    const { parser, events } = recordingParser({ role: 'server', maxPayload: 30, fragmentOverhead: 10 });
    parser.receive(clientFrame(Opcode.Binary, filler(10, 1), { fin: false }));
    parser.receive(clientFrame(Opcode.Continuation, filler(10, 2)));
    expect(events.map((event) => event[0])).toEqual(['message']);
    // Empty fragments count too: three after the first fit 30, a fourth does not.
    parser.receive(clientFrame(Opcode.Binary, '', { fin: false }));
    for (let i = 0; i < 3; i++) parser.receive(clientFrame(Opcode.Continuation, '', { fin: false }));
    expect(events.length).toBe(1);
    parser.receive(clientFrame(Opcode.Continuation, ''));
    expect(events.at(-1)).toEqual(['error', 1009, ErrorCode.MessageTooBig]);
  });

  it('fragmentOverhead 0 leaves the number of fragments unbounded', () => {
    const { parser, events } = recordingParser({ role: 'server', maxPayload: 10, fragmentOverhead: 0 });
    parser.receive(clientFrame(Opcode.Text, '', { fin: false }));
    for (let i = 0; i < 50_000; i++) parser.receive(clientFrame(Opcode.Continuation, '', { fin: false }));
    parser.receive(clientFrame(Opcode.Continuation, 'abc'));
    expect(events.map((event) => [event[0], String(event[1])])).toEqual([['message', 'abc']]);
  });

  /** A message of `count` masked fragments of `size` bytes each, as one buffer (all-zero key). */
  function fragmentedMessage(count: number, size: number): Buffer {
    const frameSize = 2 + (size > 125 ? 2 : 0) + 4 + size;
    const bytes = Buffer.alloc(count * frameSize);
    for (let i = 0; i < count; i++) {
      const at = i * frameSize;
      bytes[at] = (i === count - 1 ? 0x80 : 0) | (i === 0 ? Opcode.Binary : Opcode.Continuation);
      bytes[at + 1] = 0x80 | size;
      bytes.fill(i & 0xff, at + 6, at + 6 + size); // payload after the zero masking key
    }
    return bytes;
  }

  it('4 MiB in 64-byte fragments (Autobahn 9.3.1) passes with maxPayload 4 MiB exactly', () => {
    const count = (4 * 1024 * 1024) / 64;
    const bytes = fragmentedMessage(count, 64);
    for (const maxPayload of [16 * 1024 * 1024, 4 * 1024 * 1024]) {
      const { parser, events } = recordingParser({ role: 'server', maxPayload });
      parser.receive(Buffer.from(bytes));
      expect(events.length).toBe(1);
      const [kind, data] = events[0]!;
      expect(kind).toBe('message');
      expect((data as Buffer).length).toBe(4 * 1024 * 1024);
      expect((data as Buffer)[64 * 1000]).toBe(1000 & 0xff);
    }
    const { parser, events } = recordingParser({ role: 'server', maxPayload: 4 * 1024 * 1024 - 1 });
    parser.receive(Buffer.from(bytes));
    expectSame(events, [['error', 1009, ErrorCode.MessageTooBig]]);
  });

  it('a flood of 1-byte fragments hits 1009 after 16 385 fragments (16 KiB of payload) under the default 1 MiB', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    const first = clientFrame(Opcode.Binary, 'x', { fin: false });
    const next = clientFrame(Opcode.Continuation, 'x', { fin: false });
    parser.receive(Buffer.from(first));
    let accepted = 1;
    while (events.length === 0 && accepted < 100_000) {
      parser.receive(Buffer.from(next));
      if (events.length === 0) accepted++;
    }
    // 1 MiB / 64 = 16 384 fragments after the first.
    expect(accepted).toBe(16385);
    expectSame(events, [['error', 1009, ErrorCode.MessageTooBig]]);
  });

  it('maxPayload 0 means no limit; a negative or NaN maxPayload is refused', () => {
    const { parser, events } = recordingParser({ role: 'server', maxPayload: 0 });
    parser.receive(clientFrame(Opcode.Binary, '', { length: DEFAULT_MAX_PAYLOAD * 4 }));
    expectSame(events, []);
    expect(() => recordingParser({ role: 'server', maxPayload: -1 })).toThrow(RangeError);
    expect(() => recordingParser({ role: 'server', maxPayload: Number.NaN })).toThrow(RangeError);
    expect(() => recordingParser({ role: 'server', maxPayload: '64' as never })).toThrow(TypeError);
    expect(() => recordingParser({ role: 'server', fragmentOverhead: -1 })).toThrow(RangeError);
    expect(() => recordingParser({ role: 'server', fragmentOverhead: '64' as never })).toThrow(TypeError);
  });
});

describe('RFC 6455 §5.1 / §5.3 masking by role', () => {
  it.each([Opcode.Text, Opcode.Binary, Opcode.Ping, Opcode.Pong, Opcode.Close])('server receives an unmasked frame (opcode %i) → closes with 1002', (opcode) => {
    const conn = server();
    feed(conn, serverFrame(opcode, opcode === Opcode.Close ? closePayload(1000) : 'hi').subarray(0, 2));
    const { error } = expectClosing(conn, 1002);
    expect(error.code).toBe(ErrorCode.ExpectedMask);
  });

  it.each([Opcode.Text, Opcode.Binary, Opcode.Ping, Opcode.Pong, Opcode.Close])('client receives a masked frame (opcode %i) → fails with 1002', (opcode) => {
    const { parser, events } = recordingParser({ role: 'client' });
    parser.receive(clientFrame(opcode, opcode === Opcode.Close ? closePayload(1000) : 'hi').subarray(0, 2));
    expectSame(events, [['error', 1002, ErrorCode.UnexpectedMask]]);
  });

  it('unmasks with the key of each frame and the payload offset across chunks', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    const a = clientFrame(Opcode.Text, 'first message', { mask: Uint8Array.of(1, 2, 3, 4) });
    const b = clientFrame(Opcode.Text, 'second message', { mask: Uint8Array.of(0xff, 0, 0x80, 0x7f) });
    for (const piece of chops(Buffer.concat([a, b]), 3)) parser.receive(piece);
    expectSame(events, [
      ['message', Buffer.from('first message'), false, false],
      ['message', Buffer.from('second message'), false, false],
    ]);
  });
});

describe('large frames spanning chunks (unmasked while joined)', () => {
  it.each([
    ['binary', Opcode.Binary, {}],
    ['compressed binary', Opcode.Binary, { rsv: Rsv.RSV1 }],
    ['text', Opcode.Text, {}],
  ] as const)('a 200 KiB %s message split anywhere arrives intact', (_, opcode, options) => {
    const payload = opcode === Opcode.Text ? Buffer.from('κόσμε ascii '.repeat(20_000)).subarray(0, 200_000) : filler(200_000, 11);
    const text = opcode === Opcode.Text ? Buffer.from(payload.toString()) : payload; // whole code points only
    const wire = clientFrame(opcode, text, { ...options, mask: Uint8Array.of(0x9a, 0x0b, 0xc7, 0x31) });
    for (const cuts of [[1], [7], [65_536], [3, 70_001, 70_002, 150_000], [100, 1000, 10_000, 100_000, 199_999]]) {
      const { parser, events } = recordingParser({ role: 'server', allowRsv1: true });
      for (const piece of cutAt(wire, cuts)) parser.receive(piece);
      expectSame(events, [['message', text, opcode === Opcode.Binary, (options as { rsv?: number }).rsv === Rsv.RSV1]]);
    }
  });

  it('a fragmented binary message whose frames span chunks unmasks each frame with its own key', () => {
    const a = filler(5000, 1);
    const b = filler(7000, 2);
    const wire = Buffer.concat([
      clientFrame(Opcode.Binary, a, { fin: false, mask: Uint8Array.of(1, 2, 3, 4) }),
      clientFrame(Opcode.Continuation, b, { mask: Uint8Array.of(9, 8, 7, 6) }),
    ]);
    const { parser, events } = recordingParser({ role: 'server' });
    for (const piece of chops(wire, 999)) parser.receive(piece);
    expectSame(events, [['message', Buffer.concat([a, b]), true, false]]);
  });
});

describe('RFC 6455 §5.2 reserved opcodes and bits', () => {
  it.each([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf])('server receives reserved opcode 0x%s → closes with 1002 from the first two bytes', (opcode) => {
    const conn = server();
    feed(conn, clientFrame(opcode, 'payload').subarray(0, 2));
    const { error } = expectClosing(conn, 1002);
    expect(error.code).toBe(ErrorCode.InvalidOpcode);
  });

  it.each([
    ['RSV1', Rsv.RSV1],
    ['RSV2', Rsv.RSV2],
    ['RSV3', Rsv.RSV3],
    ['RSV1+RSV2+RSV3', 7],
  ])('server receives a text frame with %s and no extension → closes with 1002', (_label, rsv) => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Text, 'Hello', { rsv }).subarray(0, 2));
    const { error } = expectClosing(conn, 1002);
    expect(error.code).toBe(ErrorCode.UnexpectedRsv);
  });

  it('with allowRsv1, RSV1 on the first frame of a data message marks it compressed (and skips UTF-8 validation)', () => {
    const { parser, events } = recordingParser({ role: 'server', allowRsv1: true });
    parser.receive(clientFrame(Opcode.Text, hex('ff fe'), { rsv: Rsv.RSV1 }));
    parser.receive(clientFrame(Opcode.Binary, 'a', { rsv: Rsv.RSV1, fin: false }));
    parser.receive(clientFrame(Opcode.Continuation, 'b'));
    parser.receive(clientFrame(Opcode.Text, 'plain'));
    expectSame(events, [
      ['message', hex('ff fe'), false, true],
      ['message', Buffer.from('ab'), true, true],
      ['message', Buffer.from('plain'), false, false],
    ]);
  });

  it('allowRsv1 can be switched on after construction (once the extension is negotiated)', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    parser.allowRsv1 = true;
    parser.receive(clientFrame(Opcode.Binary, 'z', { rsv: Rsv.RSV1 }));
    expectSame(events, [['message', Buffer.from('z'), true, true]]);
  });

  it.each([
    ['a continuation frame', [clientFrame(Opcode.Text, 'a', { fin: false, rsv: Rsv.RSV1 }), clientFrame(Opcode.Continuation, 'b', { rsv: Rsv.RSV1 })]],
    ['a continuation frame of an uncompressed message', [clientFrame(Opcode.Text, 'a', { fin: false }), clientFrame(Opcode.Continuation, 'b', { rsv: Rsv.RSV1 })]],
    ['a ping', [clientFrame(Opcode.Ping, 'a', { rsv: Rsv.RSV1 })]],
    ['a pong', [clientFrame(Opcode.Pong, 'a', { rsv: Rsv.RSV1 })]],
    ['a close frame', [clientFrame(Opcode.Close, closePayload(1000), { rsv: Rsv.RSV1 })]],
  ])('with allowRsv1, RSV1 on %s → 1002', (_label, frames) => {
    const { parser, events } = recordingParser({ role: 'server', allowRsv1: true });
    for (const bytes of frames) parser.receive(bytes);
    expectSame(events, [['error', 1002, ErrorCode.UnexpectedRsv]]);
  });

  it.each([Rsv.RSV2, Rsv.RSV3])('with allowRsv1, RSV bits %i are still refused with 1002', (rsv) => {
    const { parser, events } = recordingParser({ role: 'server', allowRsv1: true });
    parser.receive(clientFrame(Opcode.Text, 'a', { rsv }));
    expectSame(events, [['error', 1002, ErrorCode.UnexpectedRsv]]);
  });
});

describe('RFC 6455 §5.5 control frames', () => {
  it.each([
    [Opcode.Ping, 125, true],
    [Opcode.Ping, 126, false],
    [Opcode.Pong, 125, true],
    [Opcode.Pong, 126, false],
    [Opcode.Close, 125, true],
    [Opcode.Close, 126, false],
  ])('opcode %i with a %i-byte payload is accepted: %s (else 1002 from the header)', (opcode, length, accepted) => {
    const payload = opcode === Opcode.Close ? closePayload(1000, 'r'.repeat(length - 2)) : filler(length, 1);
    const bytes = clientFrame(opcode, payload);
    const { parser, events } = recordingParser({ role: 'server' });
    if (accepted) {
      parser.receive(bytes);
      expect(events.length).toBe(1);
      expect(events[0]![0]).not.toBe('error');
    } else {
      parser.receive(bytes.subarray(0, 2)); // 7-bit length 126: the 16-bit form
      expectSame(events, [['error', 1002, ErrorCode.ControlFrameTooLong]]);
    }
  });

  it('a control frame announcing a 64-bit length → 1002 from the first two bytes', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    parser.receive(hex('89 ff'));
    expectSame(events, [['error', 1002, ErrorCode.ControlFrameTooLong]]);
  });

  it.each([Opcode.Ping, Opcode.Pong, Opcode.Close])('a fragmented control frame (opcode %i, FIN clear) → 1002', (opcode) => {
    const conn = server();
    feed(conn, clientFrame(opcode, opcode === Opcode.Close ? closePayload(1000) : 'frag', { fin: false }).subarray(0, 2));
    const { error } = expectClosing(conn, 1002);
    expect(error.code).toBe(ErrorCode.FragmentedControlFrame);
  });

  it('control frames interleaved between fragments are delivered and the message still assembles', () => {
    const conn = server();
    feed(conn, [
      clientFrame(Opcode.Text, 'Hel', { fin: false }),
      clientFrame(Opcode.Ping, 'p1'),
      clientFrame(Opcode.Continuation, 'l', { fin: false }),
      clientFrame(Opcode.Pong, 'p2'),
      clientFrame(Opcode.Ping, ''),
      clientFrame(Opcode.Continuation, 'o'),
    ]);
    expectEvents(conn, [
      ['ping', Buffer.from('p1')],
      ['pong', Buffer.from('p2')],
      ['ping', Buffer.alloc(0)],
      ['text', 'Hello'],
    ]);
    expectFrameSent(conn, Buffer.concat([serverFrame(Opcode.Pong, 'p1'), serverFrame(Opcode.Pong, '')]));
  });

  it('a close frame in the middle of a fragmented message ends the connection without delivering the message', () => {
    const conn = server();
    feed(conn, [clientFrame(Opcode.Text, 'Hel', { fin: false }), clientFrame(Opcode.Close, closePayload(1000)), clientFrame(Opcode.Continuation, 'lo')]);
    expectEvents(conn, [['closing', 1000, ''], ['end']]);
  });

  it('a control frame payload split across chunks stays intact after later input (regression: it was a reused scratch buffer)', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    const stream = Buffer.concat([
      clientFrame(Opcode.Ping, 'Hello'),
      clientFrame(Opcode.Pong, 'abcdefgh'),
      clientFrame(Opcode.Binary, filler(70000, 1)), // 64-bit length: read through the same path
      clientFrame(Opcode.Ping, 'xy'),
    ]);
    for (const piece of chops(stream, 1)) parser.receive(piece);
    expectSame(events.map((event) => event.slice(0, 2)), [
      ['ping', Buffer.from('Hello')],
      ['pong', Buffer.from('abcdefgh')],
      ['message', filler(70000, 1)],
      ['ping', Buffer.from('xy')],
    ]);
  });
});

describe('RFC 6455 §5.4 fragmentation', () => {
  it('server receives a continuation frame with no message open → closes with 1002', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Continuation, 'lo').subarray(0, 2));
    const { error } = expectClosing(conn, 1002);
    expect(error.code).toBe(ErrorCode.UnexpectedContinuation);
  });

  it('server receives a continuation frame after a complete message → closes with 1002', () => {
    const conn = server();
    feed(conn, [clientFrame(Opcode.Text, 'Hello'), clientFrame(Opcode.Continuation, 'again')]);
    const { events } = expectClosing(conn, 1002);
    expectSame(events, [['text', 'Hello']]);
  });

  it.each([
    ['text after text', Opcode.Text, Opcode.Text],
    ['binary after text', Opcode.Text, Opcode.Binary],
    ['text after binary', Opcode.Binary, Opcode.Text],
  ])('server receives a new data frame while a fragmented message is open (%s) → closes with 1002', (_label, first, second) => {
    const conn = server();
    feed(conn, [clientFrame(first, 'a', { fin: false }), clientFrame(second, 'b').subarray(0, 2)]);
    const { error, events } = expectClosing(conn, 1002);
    expect(error.code).toBe(ErrorCode.ExpectedContinuation);
    expectSame(events, []);
  });

  it('empty fragments are allowed anywhere in a message', () => {
    const conn = server();
    feed(conn, [
      clientFrame(Opcode.Binary, '', { fin: false }),
      clientFrame(Opcode.Continuation, 'ab', { fin: false }),
      clientFrame(Opcode.Continuation, '', { fin: false }),
      clientFrame(Opcode.Continuation, ''),
    ]);
    expectEvents(conn, [['binary', Buffer.from('ab')]]);
  });
});

describe('RFC 6455 §5.6 / §8.1 text must be valid UTF-8', () => {
  it('server receives invalid UTF-8 in a text frame → closes with 1007', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Text, hex('48 65 ed a0 80')));
    const { error } = expectClosing(conn, 1007);
    expect(error.code).toBe(ErrorCode.InvalidUtf8);
  });

  it('a text message ending inside a code point → 1007 when its final frame ends', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Text, hex('48 ce'), { fin: false }));
    expectEvents(conn, []);
    feed(conn, clientFrame(Opcode.Continuation, ''));
    expectClosing(conn, 1007);
  });

  it('short text from a client: one byte that is not UTF-8 anywhere in it → 1007, one 2-byte character anywhere → delivered, for every key', () => {
    // Short text is checked for ASCII while it is unmasked; the keys have the high bit set
    // and clear in each position, so that a check reading the key's bits would be caught.
    const keys = [Uint8Array.of(0x80, 0x7f, 0xff, 0x00), Uint8Array.of(0x00, 0xff, 0x7f, 0x80), MASK_KEY];
    let checked = 0;
    for (const mask of keys) {
      for (const length of [1, 2, 3, 4, 5, 31, 32, 63]) {
        for (let at = 0; at < length; at++) {
          const invalid = Buffer.alloc(length, 'a');
          invalid[at] = 0xff;
          const refused = server();
          feed(refused, clientFrame(Opcode.Text, invalid, { mask }));
          expectClosing(refused, 1007);
          if (at + 1 < length) {
            const valid = Buffer.alloc(length, 'a');
            valid.write('é', at);
            const accepted = server();
            feed(accepted, clientFrame(Opcode.Text, valid, { mask }));
            expectEvents(accepted, [['text', valid.toString()]]);
          }
          checked++;
        }
      }
    }
    expect(checked).toBe(3 * (1 + 2 + 3 + 4 + 5 + 31 + 32 + 63));
  });

  it('binary messages are not validated', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Binary, hex('ed a0 80 ff')));
    expectEvents(conn, [['binary', hex('ed a0 80 ff')]]);
  });

  it('fails fast inside one frame: the chunk that makes it invalid closes before the next chunk arrives', () => {
    const conn = server();
    const payload = hex('ce ba e1 bd b9 cf 83 ce bc ce b5 f4 90 80 80 65 64 69 74 65 64');
    const bytes = clientFrame(Opcode.Text, payload);
    const headerLength = 6;
    feed(conn, bytes.subarray(0, headerLength + 11));
    expectEvents(conn, []);
    expectNothingSent(conn);
    feed(conn, bytes.subarray(headerLength + 11, headerLength + 13)); // f4 90: above U+10FFFF
    expectClosing(conn, 1007);
    feed(conn, bytes.subarray(headerLength + 13));
    expectEvents(conn, []);
    expectNothingSent(conn);
  });

  it('fails fast across fragments: the fragment that makes the message invalid closes before the final one', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Text, hex('ce ba e1 bd'), { fin: false }));
    feed(conn, clientFrame(Opcode.Continuation, hex('b9 ed'), { fin: false }));
    expectEvents(conn, []);
    feed(conn, clientFrame(Opcode.Continuation, hex('a0'), { fin: false })); // ED A0: a surrogate
    expectClosing(conn, 1007);
  });

  it('valid 2-, 3- and 4-byte code points split across two fragments at every position, and the stream cut at every byte, are accepted', () => {
    const text = 'aé€𝄞z';
    const bytes = Buffer.from(text);
    let checked = 0;
    for (let split = 0; split <= bytes.length; split++) {
      const stream = Buffer.concat([
        clientFrame(Opcode.Text, bytes.subarray(0, split), { fin: false }),
        clientFrame(Opcode.Continuation, bytes.subarray(split)),
      ]);
      for (let cut = 0; cut <= stream.length; cut++) {
        const conn = server();
        feed(conn, cutAt(stream, [cut]));
        expectEvents(conn, [['text', text]], `split ${split}, cut ${cut}`);
        checked++;
      }
    }
    expect(checked).toBe((bytes.length + 1) * (bytes.length + 12 + 1));
  });

  it('one code point per fragment, one byte per fragment and one byte per chunk are all accepted', () => {
    const bytes = Buffer.from('κόσμε 😀');
    const frames = [...bytes].map((byte, i) => clientFrame(i === 0 ? Opcode.Text : Opcode.Continuation, Uint8Array.of(byte), { fin: i === bytes.length - 1 }));
    const conn = server();
    feed(conn, chops(Buffer.concat(frames), 1));
    expectEvents(conn, [['text', 'κόσμε 😀']]);
  });
});

describe('after a close frame or a failure, input is discarded', () => {
  it('the parser reports nothing after a close frame and holds no bytes', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    parser.receive(Buffer.concat([clientFrame(Opcode.Close, closePayload(1000)), clientFrame(Opcode.Text, 'late')]));
    expectSame(events, [['close', 1000, '', closePayload(1000)]]);
    expect(parser.isDone).toBe(true);
    expect(parser.bufferedAmount).toBe(0);
    parser.receive(clientFrame(Opcode.Ping, 'later'));
    expect(events.length).toBe(1);
  });

  it('the parser reports nothing after a failure and holds no bytes', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    parser.receive(Buffer.concat([clientFrame(3, 'bad'), clientFrame(Opcode.Text, 'late')]));
    expectSame(events, [['error', 1002, ErrorCode.InvalidOpcode]]);
    expect(parser.isDone).toBe(true);
    expect(parser.bufferedAmount).toBe(0);
    parser.receive(clientFrame(Opcode.Ping, 'later'));
    expect(events.length).toBe(1);
  });

  it('stop() discards buffered input and ignores what follows', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    parser.receive(clientFrame(Opcode.Text, 'Hello').subarray(0, 1));
    expect(parser.bufferedAmount).toBe(1);
    parser.stop();
    expect(parser.isDone).toBe(true);
    expect(parser.bufferedAmount).toBe(0);
    parser.receive(clientFrame(Opcode.Text, 'Hello').subarray(1));
    parser.receive(clientFrame(Opcode.Text, 'Hello'));
    expectSame(events, []);
  });

  it('payload bytes are consumed as they arrive, not held until the frame is complete', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    const bytes = clientFrame(Opcode.Binary, 'Hello');
    parser.receive(bytes.subarray(0, 8)); // header, masking key and 2 payload bytes
    expect(parser.bufferedAmount).toBe(0);
    expectSame(events, []);
    parser.receive(bytes.subarray(8));
    expectSame(events, [['message', HELLO, true, false]]);
  });
});

describe('pause and resume', () => {
  it('buffers input while paused and delivers it in order on resume', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    parser.receive(clientFrame(Opcode.Text, 'one'));
    parser.pause();
    const more = Buffer.concat([clientFrame(Opcode.Text, 'two'), clientFrame(Opcode.Ping, 'p')]);
    parser.receive(more);
    expect(events.map((event) => `${event[0]}:${event[1]?.toString()}`)).toEqual(['message:one']);
    expect(parser.bufferedAmount).toBe(more.length);
    parser.resume();
    expect(events.map((event) => `${event[0]}:${event[1]?.toString()}`)).toEqual(['message:one', 'message:two', 'ping:p']);
    expect(parser.bufferedAmount).toBe(0);
  });

  it('pausing from inside a message handler stops after that message', () => {
    const seen: string[] = [];
    const parser: FrameParser = new FrameParser(
      { role: 'server' },
      {
        onMessage: (data) => {
          seen.push(data.toString());
          parser.pause();
        },
        onPing: () => seen.push('ping'),
        onPong: () => seen.push('pong'),
        onClose: () => seen.push('close'),
        onError: () => seen.push('error'),
      },
    );
    parser.receive(Buffer.concat([clientFrame(Opcode.Text, 'a'), clientFrame(Opcode.Text, 'b'), clientFrame(Opcode.Ping, '')]));
    expect(seen).toEqual(['a']);
    parser.resume();
    expect(seen).toEqual(['a', 'b']);
    parser.resume();
    expect(seen).toEqual(['a', 'b', 'ping']);
  });
});

describe('any chunking of a valid stream gives the same events (property)', () => {
  it('frames serialized by a client and cut at arbitrary points parse in server role as when fed whole', () => {
    fc.assert(
      fc.property(arbSteps, fc.array(fc.nat(), { maxLength: 25 }), fc.integer({ min: 1, max: 7 }), (steps, cuts, chopSize) => {
        const { frames, expected } = serializeAsClient(steps);
        const stream = Buffer.concat(frames);

        const whole = server({ maxPayload: 0 });
        feed(whole, stream);
        const wholeEvents = eventsOf(whole);
        const wholeOutput = whole.takeOutput();
        expectSame(wholeEvents, expected);

        const pieces = stream.length <= 2000 ? chops(stream, chopSize) : cutAt(stream, cuts.map((cut) => cut % stream.length));
        const chopped = server({ maxPayload: 0 });
        feed(chopped, pieces);
        const choppedEvents: EventSummary[] = eventsOf(chopped);
        expectSame(choppedEvents, wholeEvents);
        expect(chopped.takeOutput().equals(wholeOutput)).toBe(true);

        const frameWise = server({ maxPayload: 0 });
        feed(frameWise, frames);
        expectSame(eventsOf(frameWise), wholeEvents);
      }),
      { numRuns: 200, seed: 0xc4 },
    );
  });

  it('the model detects a difference (the property can fail): a dropped byte changes the events', () => {
    const { frames } = serializeAsClient([{ kind: 'message', isBinary: false, payload: Buffer.from('Hello'), cuts: [], controls: [] }]);
    const conn = server();
    const stream = Buffer.concat(frames);
    feed(conn, [stream.subarray(0, 3), stream.subarray(4)]);
    expect(summarize(conn.takeEvents())).not.toEqual([['text', 'Hello']]);
  });
});

describe('a handler that throws', () => {
  it('the exception leaves receive(); the frames buffered after the event are parsed in a microtask, in order', async () => {
    const events: string[] = [];
    const parser = new FrameParser(
      { role: 'server' },
      {
        onMessage: (data) => {
          events.push(String(data));
          if (String(data) === 'boom') throw new Error('boom');
        },
        onPing: (payload) => events.push(`ping ${payload}`),
        onPong: () => events.push('pong'),
        onClose: (code) => events.push(`close ${code}`),
        onError: (error) => events.push(`error ${error.code}`),
      },
    );
    const bytes = Buffer.concat([clientFrame(Opcode.Text, 'boom'), clientFrame(Opcode.Ping, 'p'), clientFrame(Opcode.Text, 'after')]);
    const cut = bytes.length - 3; // the last frame arrives in two reads
    expect(() => parser.receive(bytes.subarray(0, cut))).toThrow('boom');
    expect(events).toEqual(['boom']);
    await Promise.resolve(); // after the parser's microtask, queued before
    expect(events).toEqual(['boom', 'ping p']);
    parser.receive(bytes.subarray(cut));
    expect(events).toEqual(['boom', 'ping p', 'after']);
  });
});
