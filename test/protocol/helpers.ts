/**
 * Test helpers for the protocol core, in the vocabulary of RFC 6455.
 *
 * Frames are built here byte by byte, independently of `src/protocol/frame.ts`, so
 * that the encoder and the parser are each checked against a second implementation.
 * Client frames are masked with the key of the RFC 6455 §5.7 examples unless told
 * otherwise, so every expected byte is deterministic.
 */
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { expect } from 'vitest';
import {
  Connection,
  FrameParser,
  Opcode,
  ReadyState,
  type ConnectionEvent,
  type ConnectionOptions,
  type ParserOptions,
  type WebSocketError,
} from '../../src/protocol/index.js';

/** The masking key of the RFC 6455 §5.7 examples. */
export const MASK_KEY: Uint8Array = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

/** A `generateMask` that always returns `MASK_KEY`. */
export const fixedMask = (): Uint8Array => MASK_KEY;

/** RSV bits as the 3-bit number Autobahn uses: 0b100 is RSV1, 0b010 RSV2, 0b001 RSV3. */
export const Rsv = { RSV1: 0b100, RSV2: 0b010, RSV3: 0b001 } as const;

/** Parses hex written as `"81 05 48 65"` or `"81054865"`. */
export function hex(text: string): Buffer {
  const digits = text.replace(/\s+/g, '');
  if (digits.length % 2 !== 0 || /[^0-9a-f]/i.test(digits)) throw new Error(`not hex: ${text}`);
  return Buffer.from(digits, 'hex');
}

/** Formats bytes as spaced hex (`"81 05 48"`), for readable assertion diffs. */
export function toHex(bytes: Uint8Array | string): string {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return (buffer.toString('hex').match(/../g) ?? []).join(' ');
}

export interface FrameOptions {
  /** FIN bit; default true. */
  fin?: boolean;
  /** RSV bits as a 3-bit number (see `Rsv`); default 0. */
  rsv?: number;
  /** Masking key, or null for an unmasked frame. */
  mask?: Uint8Array | null;
  /**
   * The payload length to declare when it should differ from the payload given (a
   * header announcing 2^32 bytes, say). Encoded in the shortest form unless `lengthForm`.
   */
  length?: number | bigint;
  /** Force the 7-bit, 16-bit or 64-bit length form (non-minimal encodings). */
  lengthForm?: 7 | 16 | 64;
}

function bytesOf(payload: Uint8Array | string): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
}

/**
 * Builds one frame (RFC 6455 §5.2) byte by byte: FIN, RSV, opcode, MASK, the payload
 * length in 7, 7+16 or 7+64 bits, the masking key and the (masked) payload.
 */
export function frame(opcode: number, payload: Uint8Array | string = '', options: FrameOptions = {}): Buffer {
  const { fin = true, rsv = 0, mask = null } = options;
  const data = bytesOf(payload);
  const length = BigInt(options.length ?? data.length);
  const form = options.lengthForm ?? (length <= 125n ? 7 : length <= 0xffffn ? 16 : 64);
  const header: number[] = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const maskBit = mask === null ? 0 : 0x80;
  if (form === 7) {
    header.push(maskBit | Number(length));
  } else if (form === 16) {
    header.push(maskBit | 126, Number(length >> 8n) & 0xff, Number(length) & 0xff);
  } else {
    header.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) header.push(Number((length >> shift) & 0xffn));
  }
  if (mask !== null) header.push(...mask);
  const masked = Buffer.from(data);
  if (mask !== null) for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i % 4]!;
  return Buffer.concat([Buffer.from(header), masked]);
}

/** A frame as a client sends it: masked (with `MASK_KEY` unless `mask` is given). */
export function clientFrame(opcode: number, payload: Uint8Array | string = '', options: FrameOptions = {}): Buffer {
  return frame(opcode, payload, { ...options, mask: options.mask ?? MASK_KEY });
}

/** A frame as a server sends it: unmasked. */
export function serverFrame(opcode: number, payload: Uint8Array | string = '', options: FrameOptions = {}): Buffer {
  return frame(opcode, payload, { ...options, mask: null });
}

/** A close frame payload (RFC 6455 §5.5.1): 2-byte code, then the reason. */
export function closePayload(code: number, reason: Uint8Array | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, bytesOf(reason)]);
}

/** A server-role connection with deterministic masking and the given options. */
export function server(options: Partial<ConnectionOptions> = {}): Connection {
  return new Connection({ role: 'server', generateMask: fixedMask, ...options });
}

/** A client-role connection whose frames are masked with `MASK_KEY`. */
export function client(options: Partial<ConnectionOptions> = {}): Connection {
  return new Connection({ role: 'client', generateMask: fixedMask, ...options });
}

/** Splits `bytes` into pieces of `size` octets (the last one may be shorter). */
export function chops(bytes: Uint8Array, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) pieces.push(Buffer.from(bytes.subarray(i, i + size)));
  return pieces;
}

/** Splits `bytes` at the given offsets (any order, duplicates and out-of-range ignored). */
export function cutAt(bytes: Uint8Array, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets.filter((o) => o > 0 && o < bytes.length))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    pieces.push(Buffer.from(bytes.subarray(start, point)));
    start = point;
  }
  return pieces;
}

/**
 * Feeds bytes to a connection: whole, in pieces of `chopSize` octets, or as given.
 * Always feeds copies: the parser unmasks received chunks in place.
 */
export function feed(conn: Connection, bytes: Uint8Array | Uint8Array[], chopSize?: number): void {
  const pieces = Array.isArray(bytes) ? bytes : chopSize === undefined ? [bytes] : chops(bytes, chopSize);
  for (const piece of pieces) conn.receive(Buffer.from(piece));
}

/** A readable, comparable form of one event. Payloads are copied at the time of the call. */
export type EventSummary =
  | ['text', string]
  | ['binary', Buffer]
  | ['ping', Buffer]
  | ['pong', Buffer]
  | ['closing', number, string]
  | ['error', number | undefined, string]
  | ['end'];

/** Summarises connection events as tuples, for `toEqual`. */
export function summarize(events: readonly ConnectionEvent[]): EventSummary[] {
  return events.map((event): EventSummary => {
    switch (event.type) {
      case 'message':
        return event.isBinary ? ['binary', Buffer.from(event.data)] : ['text', event.data.toString('utf8')];
      case 'ping':
        return ['ping', Buffer.from(event.data)];
      case 'pong':
        return ['pong', Buffer.from(event.data)];
      case 'closing':
        return ['closing', event.code, event.reason];
      case 'error':
        return ['error', event.error.closeCode, event.error.code];
      case 'end':
        return ['end'];
    }
  });
}

/** Takes and summarises the events queued since the last call. */
export function eventsOf(conn: Connection): EventSummary[] {
  return summarize(conn.takeEvents());
}

/** One frame decoded from bytes a connection sent. */
export interface SentFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  mask: Buffer | null;
  payload: Buffer;
}

/**
 * Decodes a sequence of complete frames (an independent decoder, for output checks).
 * Throws if the bytes end inside a frame.
 */
export function decodeFrames(bytes: Uint8Array): SentFrame[] {
  const buffer = Buffer.from(bytes);
  const frames: SentFrame[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    if (buffer.length - offset < 2) throw new Error(`truncated frame header at ${offset}`);
    const b0 = buffer[offset]!;
    const b1 = buffer[offset + 1]!;
    offset += 2;
    let length = b1 & 0x7f;
    if (length === 126) {
      length = buffer.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      length = Number(buffer.readBigUInt64BE(offset));
      offset += 8;
    }
    let mask: Buffer | null = null;
    if ((b1 & 0x80) !== 0) {
      mask = Buffer.from(buffer.subarray(offset, offset + 4));
      offset += 4;
    }
    if (buffer.length - offset < length) throw new Error(`truncated frame payload at ${offset}`);
    const payload = Buffer.from(buffer.subarray(offset, offset + length));
    if (mask !== null) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    offset += length;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, mask, payload });
  }
  return frames;
}

/** Decodes everything a connection queued for sending since the last call. */
export function framesSent(conn: Connection): SentFrame[] {
  return decodeFrames(conn.takeOutput());
}

/** The close code in a close frame payload, or undefined for an empty payload. */
export function closeCodeOf(payload: Uint8Array): number | undefined {
  return payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : undefined;
}

/** Asserts the connection queued exactly `bytes` for sending since the last call. */
export function expectFrameSent(conn: Connection, bytes: Uint8Array): void {
  expect(toHex(conn.takeOutput())).toBe(toHex(bytes));
}

/** Asserts the connection queued nothing for sending since the last call. */
export function expectNothingSent(conn: Connection): void {
  expect(toHex(conn.takeOutput())).toBe('');
}

/**
 * Asserts that the connection is failing with `code` (RFC 6455 §7.1.7): it reported an
 * error with that close code, queued a close frame with that code as its last frame,
 * delivered nothing after the error, and is CLOSING.
 *
 * @returns the events before the error and the frames sent before the close frame.
 */
export function expectClosing(conn: Connection, code: number): { events: EventSummary[]; sent: SentFrame[]; error: WebSocketError } {
  const events = conn.takeEvents();
  const errorIndex = events.findIndex((event) => event.type === 'error');
  expect(summarize(events).filter((event) => event[0] === 'error'), 'one error reported').toEqual([
    ['error', code, expect.any(String)],
  ]);
  expect(summarize(events.slice(errorIndex + 1)), 'nothing delivered after the error').toEqual([]);
  const sent = framesSent(conn);
  const last = sent.at(-1);
  expect(last?.opcode, 'a close frame was queued last').toBe(Opcode.Close);
  expect(closeCodeOf(last!.payload)).toBe(code);
  expect(conn.readyState).toBe(ReadyState.CLOSING);
  const error = (events[errorIndex] as { type: 'error'; error: WebSocketError }).error;
  const before = summarize(events.slice(0, errorIndex)).filter((event) => event[0] !== 'end');
  return { events: before, sent: sent.slice(0, -1), error };
}

/**
 * Completes a clean close initiated by the peer (a client) with 1000 on a server-role
 * connection, and asserts the close was echoed, the transport ended and the
 * connection closed cleanly. Use after a case's messages to check the connection was
 * still healthy.
 */
export function expectCleanCloseFromClient(conn: Connection): void {
  feed(conn, clientFrame(Opcode.Close, closePayload(1000)));
  expect(eventsOf(conn)).toEqual([['closing', 1000, ''], ['end']]);
  expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(1000)));
  expect(conn.transportClosed()).toEqual({ code: 1000, reason: '', wasClean: true });
}

/** What a `FrameParser` reported, as tuples. */
export type ParserEvent =
  | ['message', Buffer, boolean, boolean]
  | ['ping', Buffer]
  | ['pong', Buffer]
  | ['close', number, string, Buffer]
  | ['error', number | undefined, string];

/**
 * A `FrameParser` whose events are recorded in `events` (payloads are kept as given,
 * not copied, so tests can also check that they stay intact).
 */
export function recordingParser(options: ParserOptions): { parser: FrameParser; events: ParserEvent[]; errors: WebSocketError[] } {
  const events: ParserEvent[] = [];
  const errors: WebSocketError[] = [];
  const parser = new FrameParser(options, {
    onMessage: (data, isBinary, isCompressed) => events.push(['message', data, isBinary, isCompressed]),
    onPing: (payload) => events.push(['ping', payload]),
    onPong: (payload) => events.push(['pong', payload]),
    onClose: (code, reason, payload) => events.push(['close', code, reason, payload]),
    onError: (error) => {
      errors.push(error);
      events.push(['error', error.closeCode, error.code]);
    },
  });
  return { parser, events, errors };
}

// ---------------------------------------------------------------------------------------
// fast-check arbitraries shared by the property tests.

/** One thing a client sends: a data message (maybe fragmented, controls in between), a control frame, or a close. */
export type Step =
  | { kind: 'message'; isBinary: boolean; payload: Buffer; cuts: number[]; controls: ControlStep[] }
  | ControlStep
  | { kind: 'close'; code: number | undefined; reason: string };
export type ControlStep = { kind: 'ping' | 'pong'; payload: Buffer };

/** Deterministic filler bytes of a given length (large payloads without generating each byte). */
export function filler(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** Payload lengths: mostly small, sometimes around the 16-bit and 64-bit length forms. */
const arbLength = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 4, arbitrary: fc.integer({ min: 120, max: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 65530, max: 65545 }) },
);

const arbBinary: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 30 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: fc.tuple(arbLength, fc.nat()).map(([length, seed]) => filler(length, seed)) },
);

const arbTextBytes: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map((text) => Buffer.from(text)) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }), arbLength).map(([unit, length]) => {
      const one = Buffer.from(unit);
      return Buffer.concat(Array.from({ length: Math.ceil(length / one.length) }, () => one));
    }),
  },
);

const arbControl: fc.Arbitrary<ControlStep> = fc.record({
  kind: fc.constantFrom('ping' as const, 'pong' as const),
  payload: fc.uint8Array({ maxLength: 125 }).map((bytes) => Buffer.from(bytes)),
});

const arbMessage: fc.Arbitrary<Step> = fc
  .tuple(fc.boolean(), arbBinary, arbTextBytes, fc.array(fc.nat(), { maxLength: 4 }), fc.array(arbControl, { maxLength: 3 }))
  .map(([isBinary, binary, text, rawCuts, controls]) => {
    const payload = isBinary ? binary : text;
    // Cut points anywhere, also inside a UTF-8 sequence; fragments may be empty.
    const cuts = rawCuts.map((cut) => cut % (payload.length + 1)).sort((a, b) => a - b);
    return { kind: 'message' as const, isBinary, payload, cuts, controls: controls.slice(0, cuts.length) };
  });

const arbClose: fc.Arbitrary<Step> = fc.oneof(
  fc.constant({ kind: 'close' as const, code: undefined, reason: '' }),
  fc.record({
    kind: fc.constant('close' as const),
    code: fc.constantFrom(1000, 1001, 1003, 1011, 3000, 4999),
    reason: fc.string({ unit: 'grapheme-ascii', maxLength: 20 }),
  }),
);

/** A valid sequence of steps, maybe ending with a close. */
export const arbSteps: fc.Arbitrary<Step[]> = fc
  .tuple(fc.array(fc.oneof({ weight: 3, arbitrary: arbMessage }, { weight: 1, arbitrary: arbControl }), { maxLength: 6 }), fc.option(arbClose))
  .map(([steps, close]) => (close === null ? steps : [...steps, close]));

/** Masking keys that change with every frame (and include the all-zero key). */
export function countingMask(): () => Uint8Array {
  let n = 0;
  return () => {
    n++;
    return n % 5 === 0 ? new Uint8Array(4) : Uint8Array.of(n & 0xff, (n * 7) & 0xff, (n * 13) & 0xff, 0x80 | (n & 0x7f));
  };
}

/**
 * Serializes steps as a client connection sends them (masked), one buffer per frame,
 * and returns the events a server is expected to report for them.
 */
export function serializeAsClient(steps: readonly Step[]): { frames: Buffer[]; expected: EventSummary[] } {
  const sender = new Connection({ role: 'client', generateMask: countingMask() });
  const frames: Buffer[] = [];
  const expected: EventSummary[] = [];
  const flush = (): void => {
    const out = sender.takeOutput();
    if (out.length > 0) frames.push(out);
  };
  const control = (step: ControlStep): void => {
    if (step.kind === 'ping') sender.sendPing(step.payload);
    else sender.sendPong(step.payload);
    flush();
    expected.push([step.kind, step.payload]);
  };
  for (const step of steps) {
    if (step.kind === 'close') {
      sender.close(step.code, step.reason);
      flush();
      expected.push(['closing', step.code ?? 1005, step.reason], ['end']);
    } else if (step.kind !== 'message') {
      control(step);
    } else {
      const bounds = [0, ...step.cuts, step.payload.length];
      for (let i = 0; i + 1 < bounds.length; i++) {
        const part = step.payload.subarray(bounds[i], bounds[i + 1]);
        const isFinal = i + 2 === bounds.length;
        if (step.isBinary) sender.sendBinary(part, isFinal);
        else sender.sendText(part, isFinal);
        flush();
        const between = step.controls[i];
        if (!isFinal && between !== undefined) control(between);
      }
      expected.push(step.isBinary ? ['binary', step.payload] : ['text', step.payload.toString('utf8')]);
    }
  }
  return { frames, expected };
}

/** Whether the bytes are valid UTF-8 (for invariants on delivered text). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}
