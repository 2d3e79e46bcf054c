/**
 * Frame layout (RFC 6455 §5.2) and frame encoding.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-------+-+-------------+-------------------------------+
 * |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 * |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 * |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 * | |1|2|3|       |K|             |                               |
 * ```
 */
import { randomFillSync } from 'node:crypto';
import { maskInPlace, maskInto } from './mask.js';

/** Frame opcodes (RFC 6455 §5.2, §11.8). */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** First-byte bits. */
export const FIN = 0x80;
export const RSV1 = 0x40;
export const RSV2 = 0x20;
export const RSV3 = 0x10;
/** Second-byte MASK bit. */
export const MASK = 0x80;

/** RFC 6455 §5.5: all control frames MUST have a payload length of 125 bytes or less. */
export const MAX_CONTROL_PAYLOAD = 125;
/** Largest length of the 7-bit form; 126 and 127 announce the 16- and 64-bit forms. */
export const MAX_7BIT_LENGTH = 125;
export const LENGTH_16 = 126;
export const LENGTH_64 = 127;
export const MAX_16BIT_LENGTH = 0xffff;

/** Whether `opcode` is a control frame opcode (close, ping, pong, or reserved 0xB–0xF). */
export function isControl(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** Returns a fresh 4-byte masking key. Injectable for deterministic tests. */
export type MaskGenerator = () => Uint8Array;

const MASK_POOL_SIZE = 8 * 1024;
const maskPool = new Uint8Array(MASK_POOL_SIZE);
let maskPoolOffset = MASK_POOL_SIZE;
/** The key handed out: one buffer for all calls (a view per frame costs more than the frame). */
const maskKey = Buffer.allocUnsafeSlow(4);

/**
 * Default masking keys: RFC 6455 §5.3 wants them unpredictable, so they come from the
 * CSPRNG, fetched 8 KiB at a time (one `randomFillSync` per 2048 frames).
 * The returned key is only valid until the next call: it is overwritten then.
 */
export const randomMask: MaskGenerator = () => {
  let offset = maskPoolOffset;
  if (offset + 4 > MASK_POOL_SIZE) {
    randomFillSync(maskPool);
    offset = 0;
  }
  maskKey[0] = maskPool[offset]!;
  maskKey[1] = maskPool[offset + 1]!;
  maskKey[2] = maskPool[offset + 2]!;
  maskKey[3] = maskPool[offset + 3]!;
  maskPoolOffset = offset + 4;
  return maskKey;
};

/** Header size in bytes for a payload of `length` bytes. */
export function headerSize(length: number, masked: boolean): number {
  const base = length <= MAX_7BIT_LENGTH ? 2 : length <= MAX_16BIT_LENGTH ? 4 : 10;
  return masked ? base + 4 : base;
}

/**
 * Writes a frame header into `target` at `offset` and returns the offset after it
 * (where the masking key, if any, has also been written).
 *
 * @param firstByte FIN | RSV bits | opcode
 * @param length payload length in bytes
 * @param mask masking key, or null for an unmasked frame
 */
export function writeHeader(target: Uint8Array, offset: number, firstByte: number, length: number, mask: Uint8Array | null): number {
  const maskBit = mask === null ? 0 : MASK;
  target[offset++] = firstByte;
  if (length <= MAX_7BIT_LENGTH) {
    target[offset++] = maskBit | length;
  } else if (length <= MAX_16BIT_LENGTH) {
    target[offset++] = maskBit | LENGTH_16;
    target[offset++] = length >>> 8;
    target[offset++] = length & 0xff;
  } else {
    target[offset++] = maskBit | LENGTH_64;
    // Lengths above 2^53 cannot reach here: JavaScript buffers are far smaller.
    const high = Math.floor(length / 0x100000000);
    const low = length >>> 0;
    target[offset++] = high >>> 24;
    target[offset++] = (high >>> 16) & 0xff;
    target[offset++] = (high >>> 8) & 0xff;
    target[offset++] = high & 0xff;
    target[offset++] = low >>> 24;
    target[offset++] = (low >>> 16) & 0xff;
    target[offset++] = (low >>> 8) & 0xff;
    target[offset++] = low & 0xff;
  }
  if (mask !== null) {
    target[offset++] = mask[0]!;
    target[offset++] = mask[1]!;
    target[offset++] = mask[2]!;
    target[offset++] = mask[3]!;
  }
  return offset;
}

/**
 * Payloads up to this size are copied behind their header so that the frame is one
 * buffer (one write, one TCP segment); larger ones are written as header + payload
 * to avoid the copy.
 */
export const COPY_THRESHOLD = 16 * 1024;

/**
 * @internal Checks a control frame's payload (its length in bytes, UTF-8 for a string).
 * @throws {RangeError} if it is more than a control frame carries (125 bytes).
 */
export function checkControlPayload(data: string | Uint8Array): void {
  const length = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (length > MAX_CONTROL_PAYLOAD) throw new RangeError(`control frame payload of ${length} bytes exceeds 125 bytes`);
}

/**
 * Encodes one frame. Returns one buffer (header and payload together) when the payload
 * is small or masked, else `[header, payload]` so a large payload is never copied.
 *
 * @param firstByte FIN | RSV bits | opcode
 * @param payload the payload, or a string encoded as UTF-8 straight into the frame
 * @param mask masking key for client frames, or null for server frames
 */
export function encodeFrame(firstByte: number, payload: Uint8Array | string, mask: Uint8Array | null): Buffer | [Buffer, Uint8Array] {
  if (typeof payload === 'string') return encodeTextFrame(firstByte, payload, mask);
  const length = payload.length;
  const header = headerSize(length, mask !== null);
  if (mask === null && length > COPY_THRESHOLD) {
    const head = Buffer.allocUnsafe(header);
    writeHeader(head, 0, firstByte, length, null);
    return [head, payload];
  }
  // allocUnsafe is safe here: every byte is written below.
  const frame = Buffer.allocUnsafe(header + length);
  const offset = writeHeader(frame, 0, firstByte, length, mask);
  if (mask === null) frame.set(payload, offset);
  else maskInto(payload, mask, frame, offset);
  return frame;
}

function encodeTextFrame(firstByte: number, text: string, mask: Uint8Array | null): Buffer {
  // Short ASCII strings are measured in JS; otherwise byteLength (native) lets the frame
  // be allocated once at its exact size and the string encoded straight into it.
  const length = text.length < 64 && isAscii(text) ? text.length : Buffer.byteLength(text);
  const isAsciiText = length === text.length; // UTF-8 length equals UTF-16 length only for ASCII
  const frame = Buffer.allocUnsafe(headerSize(length, mask !== null) + length);
  const offset = writeHeader(frame, 0, firstByte, length, mask);
  if (isAsciiText && length <= 16) {
    // Tiny ASCII strings: a JS loop beats the call into native code.
    for (let i = 0; i < length; i++) frame[offset + i] = text.charCodeAt(i);
  } else {
    // latin1 is the cheapest native encoder and gives the same bytes for ASCII.
    frame.write(text, offset, isAsciiText ? 'latin1' : 'utf8');
  }
  if (mask !== null) maskInPlace(frame, mask, offset, length, 0);
  return frame;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}
