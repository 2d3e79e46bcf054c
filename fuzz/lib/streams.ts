/**
 * Generators of WebSocket byte streams for the parser and connection targets:
 * random bytes, valid frame sequences of either role (built with the library's own
 * `encodeFrame`), and those sequences mutated the way a broken or hostile peer would
 * (bit flips, inserted and deleted bytes, truncation, length fields pushed to their
 * limits, RSV bits, opcodes, the MASK bit, frames dropped, repeated or swapped).
 *
 * Every arbitrary here yields concrete bytes, so a failing input is stored as the bytes
 * themselves and replays whatever the generators become.
 */
import fc from 'fast-check';
import { FIN, Opcode, encodeFrame } from '../../src/protocol/index.js';
import { Prng } from './prng.js';
import { splitAt, splitBytewise } from './defect.js';

export type Role = 'server' | 'client';

/** One frame to encode. `rsv` is the three RSV bits as 0b(RSV1)(RSV2)(RSV3). */
export interface FrameSpec {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Uint8Array;
  /** Masking key; used when the sender is a client (the receiver a server). */
  mask: Uint8Array;
}

/** A valid-looking stream and where each frame starts in it. */
export interface EncodedStream {
  bytes: Uint8Array;
  frameStarts: number[];
}

/**
 * Lengths worth writing into a length field: the boundaries of the three length forms
 * (RFC 6455 §5.2), of common `maxPayload` settings, of 32-bit and 53-bit integers, and
 * the 64-bit extremes, including lengths with the most significant bit set.
 */
export const EXTREME_LENGTHS: readonly bigint[] = [
  0n, 1n, 2n, 124n, 125n, 126n, 127n, 128n, 999n, 1000n, 1001n,
  65535n, 65536n, 65537n, 65599n, 65600n,
  1048575n, 1048576n, 1048577n,
  2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n,
  2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n,
  2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n,
];

/** `maxPayload` values the targets run with (0: no limit). */
export const MAX_PAYLOADS: readonly number[] = [0, 1, 125, 126, 1000, 65536, 1024 * 1024];

/** `fragmentOverhead` values the targets run with (undefined: the default). */
export const FRAGMENT_OVERHEADS: readonly (number | undefined)[] = [undefined, 0, 1, 64, 1000];

/** A 32-bit seed for `Prng`. */
const arbSeed: fc.Arbitrary<number> = fc.nat();

/**
 * Payload size for a size class 0–99 (smaller classes give smaller sizes, so shrinking
 * goes towards empty payloads), with the boundaries of the length forms and of common
 * limits over-represented.
 */
function payloadSize(sizeClass: number, rng: Prng): number {
  if (sizeClass < 70) return Math.floor((sizeClass * 41) / 70); // 0–40
  if (sizeClass < 85) return 120 + Math.floor(((sizeClass - 70) * 11) / 15); // 120–130
  if (sizeClass < 95) return 131 + rng.below(470); // up to 600
  if (sizeClass < 99) return rng.pick([999, 1000, 1001]);
  return rng.pick([65535, 65536, 65537]);
}

/** Byte sequences that are not valid UTF-8, or only the start of a valid sequence. */
const BAD_UTF8: readonly number[][] = [
  [0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xc2], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xe2, 0x82],
  [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xef, 0xbf], [0xf0, 0x8f, 0xbf, 0xbf], [0xf0, 0x9f, 0x98],
  [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xf8], [0xfe], [0xff], [0xce],
];

/** Close codes: allowed on the wire, then reserved, unassigned and out of range. */
const GOOD_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const BAD_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535];

function textPayload(rng: Prng, size: number): Uint8Array {
  const text = size > 1000 ? 'x'.repeat(size) : rng.text(size);
  const bytes = Buffer.from(text);
  if (!rng.chance(1, 10)) return new Uint8Array(bytes);
  // Invalid UTF-8 somewhere: fail-fast validation must catch it wherever it falls.
  const at = rng.below(bytes.length + 1);
  return new Uint8Array(Buffer.concat([bytes.subarray(0, at), Buffer.from(rng.pick(BAD_UTF8)), bytes.subarray(at)]));
}

function closePayload(rng: Prng): Uint8Array {
  const r = rng.below(100);
  if (r < 10) return new Uint8Array(0);
  if (r < 15) return rng.bytes(1);
  const code = r < 70 ? rng.pick(GOOD_CLOSE_CODES) : r < 85 ? rng.pick(BAD_CLOSE_CODES) : rng.below(65536);
  let reason: Uint8Array;
  const kind = rng.below(10);
  if (kind < 6) reason = Buffer.from(rng.text(rng.below(30)));
  else if (kind < 8) reason = Buffer.from(rng.pick(BAD_UTF8));
  else reason = new Uint8Array(123).fill(0x61);
  const payload = new Uint8Array(2 + reason.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(reason, 2);
  return payload.subarray(0, 125);
}

function controlFrame(rng: Prng, sizeClass: number): Omit<FrameSpec, 'mask'> {
  const length = sizeClass < 60 ? Math.floor(sizeClass / 7) : sizeClass < 90 ? rng.below(126) : rng.pick([0, 124, 125]);
  return { fin: true, rsv: 0, opcode: rng.chance(1, 2) ? Opcode.Ping : Opcode.Pong, payload: rng.bytes(length) };
}

/**
 * The frames of one message, from a selector (0–99: which kind; smaller is simpler, so
 * shrinking goes towards a text message), a size class (0–99, see `payloadSize`) and a
 * seed for the rest: a data message
 * (text, binary or invalid text, possibly fragmented with control frames between the
 * fragments, possibly marked compressed), a lone ping or pong, or a close frame.
 */
export function buildMessage(selector: number, sizeClass: number, seed: number, allowRsv1: boolean): Array<Omit<FrameSpec, 'mask'>> {
  const rng = new Prng(seed);
  if (selector >= 85) return [{ fin: true, rsv: 0, opcode: Opcode.Close, payload: closePayload(rng) }];
  if (selector >= 65) return [controlFrame(rng, sizeClass)];
  const isBinary = selector >= 30;
  const size = payloadSize(sizeClass, rng);
  const payload = isBinary ? (size > 1000 ? new Uint8Array(size).fill(rng.below(256)) : rng.bytes(size)) : textPayload(rng, size);
  const cuts = rng.chance(1, 2) ? [] : Array.from({ length: 1 + rng.below(4) }, () => rng.below(payload.length + 1));
  const points = [...new Set(cuts)].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, payload.length]) {
    pieces.push(payload.subarray(start, point));
    start = point;
  }
  const compressed = allowRsv1 && rng.chance(1, 3);
  const frames: Array<Omit<FrameSpec, 'mask'>> = [];
  pieces.forEach((piece, index) => {
    if (index > 0 && rng.chance(1, 4)) frames.push(controlFrame(rng, rng.below(100)));
    frames.push({
      fin: index === pieces.length - 1,
      rsv: index === 0 && compressed ? 0b100 : 0,
      opcode: index === 0 ? (isBinary ? Opcode.Binary : Opcode.Text) : Opcode.Continuation,
      payload: piece,
    });
  });
  return frames;
}

/** Frames of a conversation: valid, except close codes and UTF-8, which vary on purpose. */
export function arbFrames(allowRsv1 = false): fc.Arbitrary<FrameSpec[]> {
  return fc
    .tuple(fc.array(fc.tuple(fc.nat(99), fc.nat(99), arbSeed), { maxLength: 6 }), arbSeed)
    .map(([messages, maskSeed]) => {
      const rng = new Prng(maskSeed);
      return messages
        .flatMap(([selector, sizeClass, seed]) => buildMessage(selector, sizeClass, seed, allowRsv1))
        .map((frame) => ({ ...frame, mask: rng.chance(1, 5) ? new Uint8Array(4) : rng.bytes(4) }));
    });
}

/**
 * Encodes frames as `sender` would send them: a client masks, a server does not.
 * Uses the library's `encodeFrame`, so the encoder is exercised too.
 */
export function encodeFrames(frames: readonly FrameSpec[], sender: Role): EncodedStream {
  const parts: Uint8Array[] = [];
  const frameStarts: number[] = [];
  let offset = 0;
  for (const frame of frames) {
    frameStarts.push(offset);
    const firstByte = (frame.fin ? FIN : 0) | (frame.rsv << 4) | frame.opcode;
    const encoded = encodeFrame(firstByte, frame.payload, sender === 'client' ? frame.mask : null);
    for (const part of Array.isArray(encoded) ? encoded : [encoded]) {
      parts.push(part);
      offset += part.length;
    }
  }
  return { bytes: Buffer.concat(parts), frameStarts };
}

/** A mutation of an encoded stream. Positions are taken modulo what they index. */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'length'; frame: number; value: bigint; form: 7 | 16 | 64 | 0 }
  | { kind: 'rsv'; frame: number; bits: number }
  | { kind: 'opcode'; frame: number; opcode: number }
  | { kind: 'mask'; frame: number }
  | { kind: 'fin'; frame: number }
  | { kind: 'drop'; frame: number }
  | { kind: 'repeat'; frame: number }
  | { kind: 'swap'; frame: number };

export const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x7e, 0x7f, 0x80, 0xff, 0x81, 0x88, 0xfe) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('length' as const),
      frame: fc.nat(),
      value: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...EXTREME_LENGTHS) }, { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
      form: fc.constantFrom(0 as const, 0 as const, 7 as const, 16 as const, 64 as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rsv' as const), frame: fc.nat(), bits: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('opcode' as const), frame: fc.nat(), opcode: fc.integer({ min: 0, max: 15 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('mask' as const), frame: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fin' as const), frame: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), frame: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('repeat' as const), frame: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('swap' as const), frame: fc.nat() }) },
);

/** The extended-length size (0, 2 or 8 bytes) announced by a frame's second byte. */
function extendedSize(secondByte: number): number {
  const length7 = secondByte & 0x7f;
  return length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
}

/** The byte range [start, end) of frame `index` in `stream` (the next frame's start, or the end). */
function frameRange(stream: EncodedStream, index: number): [number, number] {
  const start = stream.frameStarts[index]!;
  const end = stream.frameStarts[index + 1] ?? stream.bytes.length;
  return [start, end];
}

/**
 * Writes `value` as a frame's payload length in the given form (0: the shortest form
 * that holds it). Values too large for the form are cut to its width, which is itself
 * an interesting input.
 */
function lengthHeader(secondByte: number, value: bigint, form: 0 | 7 | 16 | 64): number[] {
  const maskBit = secondByte & 0x80;
  const chosen = form !== 0 ? form : value <= 125n ? 7 : value <= 0xffffn ? 16 : 64;
  if (chosen === 7) return [maskBit | Number(value & 0x7fn)];
  if (chosen === 16) return [maskBit | 126, Number((value >> 8n) & 0xffn), Number(value & 0xffn)];
  const out = [maskBit | 127];
  for (let shift = 56n; shift >= 0n; shift -= 8n) out.push(Number((value >> shift) & 0xffn));
  return out;
}

/** Applies one mutation; frame-level ones keep `frameStarts` meaningful. */
export function mutate(stream: EncodedStream, mutation: Mutation): EncodedStream {
  const bytes = stream.bytes;
  const n = bytes.length;
  const frames = stream.frameStarts.length;
  const splice = (start: number, count: number, insert: ArrayLike<number>): EncodedStream => {
    const deleteCount = Math.max(0, Math.min(count, n - start));
    const out = new Uint8Array(n - deleteCount + insert.length);
    out.set(bytes.subarray(0, start), 0);
    out.set(insert, start);
    out.set(bytes.subarray(start + deleteCount), start + insert.length);
    const shift = insert.length - deleteCount;
    const frameStarts = stream.frameStarts
      .map((s) => (s > start ? Math.max(start, s + shift) : s))
      .filter((s, i, all) => s < out.length && (i === 0 || s > all[i - 1]!));
    return { bytes: out, frameStarts };
  };
  switch (mutation.kind) {
    case 'flip':
    case 'set': {
      if (n === 0) return stream;
      const out = bytes.slice();
      const at = mutation.at % n;
      out[at] = mutation.kind === 'flip' ? out[at]! ^ (1 << mutation.bit) : mutation.value;
      return { bytes: out, frameStarts: stream.frameStarts };
    }
    case 'insert':
      return splice(mutation.at % (n + 1), 0, mutation.bytes);
    case 'delete': {
      if (n === 0) return stream;
      const at = mutation.at % n;
      return splice(at, Math.min(mutation.count, n - at), []);
    }
    case 'truncate': {
      const at = mutation.at % (n + 1);
      return { bytes: bytes.slice(0, at), frameStarts: stream.frameStarts.filter((s) => s < at) };
    }
    default:
      break;
  }
  if (frames === 0) return stream;
  const index = mutation.frame % frames;
  const [start, end] = frameRange(stream, index);
  if (end - start < 2) return stream;
  switch (mutation.kind) {
    case 'length': {
      const header = lengthHeader(bytes[start + 1]!, mutation.value, mutation.form);
      return splice(start + 1, 1 + extendedSize(bytes[start + 1]!), header);
    }
    case 'rsv':
    case 'opcode':
    case 'fin':
    case 'mask': {
      const out = bytes.slice();
      if (mutation.kind === 'rsv') out[start] = (out[start]! & 0x8f) | (mutation.bits << 4);
      else if (mutation.kind === 'opcode') out[start] = (out[start]! & 0xf0) | mutation.opcode;
      else if (mutation.kind === 'fin') out[start] = out[start]! ^ FIN;
      else out[start + 1] = out[start + 1]! ^ 0x80;
      return { bytes: out, frameStarts: stream.frameStarts };
    }
    case 'drop':
      return splice(start, end - start, []);
    case 'repeat':
      return { bytes: new Uint8Array(Buffer.concat([bytes.subarray(0, end), bytes.subarray(start)])), frameStarts: [...stream.frameStarts.slice(0, index + 1), ...stream.frameStarts.slice(index).map((s) => s + end - start)] };
    case 'swap': {
      if (index + 1 >= frames) return stream;
      const [nextStart, nextEnd] = frameRange(stream, index + 1);
      const out = new Uint8Array(Buffer.concat([bytes.subarray(0, start), bytes.subarray(nextStart, nextEnd), bytes.subarray(start, end), bytes.subarray(nextEnd)]));
      const starts = stream.frameStarts.slice();
      starts[index + 1] = start + (nextEnd - nextStart);
      return { bytes: out, frameStarts: starts };
    }
  }
}

const HEADER_FIRST_BYTES = [0x81, 0x82, 0x01, 0x02, 0x80, 0x00, 0x88, 0x89, 0x8a, 0xc1, 0x8b, 0x83, 0x91, 0xa1];
const HEADER_SECOND_BYTES = [0x00, 0x01, 0x05, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0x85, 0xfd, 0xfe, 0xff];

/** Random bytes; some streams are made of frame-header-like pieces so that parsing gets further. */
export const arbRandomBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: fc.tuple(fc.nat(64), arbSeed).map(([length, seed]) => new Prng(seed).bytes(length)) },
  { weight: 1, arbitrary: fc.tuple(fc.nat(400), arbSeed).map(([length, seed]) => new Prng(seed).bytes(length)) },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.nat(8), arbSeed).map(([count, seed]) => {
      const rng = new Prng(seed);
      const parts: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        parts.push(Uint8Array.of(rng.pick(HEADER_FIRST_BYTES), rng.pick(HEADER_SECOND_BYTES)), rng.bytes(rng.below(17)));
      }
      return new Uint8Array(Buffer.concat(parts));
    }),
  },
);

/**
 * The stream a peer of `sender`'s role sends to a receiver: random bytes, a valid
 * conversation, or a valid conversation with one to four mutations.
 */
export function arbStream(sender: Role, allowRsv1 = false): fc.Arbitrary<Uint8Array> {
  const valid = arbFrames(allowRsv1).map((frames) => encodeFrames(frames, sender));
  return fc.oneof(
    { weight: 2, arbitrary: arbRandomBytes },
    { weight: 3, arbitrary: valid.map((stream) => stream.bytes) },
    {
      weight: 6,
      arbitrary: fc
        .tuple(valid, fc.array(arbMutation, { minLength: 1, maxLength: 4 }))
        .map(([stream, mutations]) => mutations.reduce(mutate, stream).bytes),
    },
  );
}

/** How to cut a stream into chunks: cut points, or one byte at a time for short streams. */
export type Chunking = { cuts: number[] } | { bytewise: true };

/** A cut point: mostly within the first bytes, where headers are; sometimes anywhere. */
const arbCut: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.nat(64) },
  { weight: 2, arbitrary: fc.nat(1024) },
  { weight: 1, arbitrary: fc.nat(140_000) },
);

export const arbChunking: fc.Arbitrary<Chunking> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ cuts: fc.array(arbCut, { maxLength: 12 }) }) },
  { weight: 1, arbitrary: fc.constant({ bytewise: true as const }) },
);

/** Role of the peer that sends to a receiver of `role`. */
export function senderOf(role: Role): Role {
  return role === 'server' ? 'client' : 'server';
}

/**
 * Cuts `bytes` into fresh chunks as `chunking` says. Byte-by-byte is used up to 1 KiB;
 * longer streams are cut at the given points only (none for a bytewise chunking).
 */
export function chunk(bytes: Uint8Array, chunking: Chunking): Buffer[] {
  if ('bytewise' in chunking) return bytes.length <= 1024 ? splitBytewise(bytes) : splitAt(bytes, []);
  return splitAt(bytes, chunking.cuts);
}
