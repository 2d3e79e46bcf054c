// WebSocket frames as the load generators write and count them, with no parser: masked
// client frames built once, and a counter of whole server frames in a byte stream.
import { randomBytes } from 'node:crypto';

/** A masked client frame carrying `payload` (binary when isBinary; RSV1 when compressed). */
export function maskedFrame(payload, isBinary, isCompressed = false) {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.alloc(headerLength + 4 + length);
  frame[0] = 0x80 | (isCompressed ? 0x40 : 0) | (isBinary ? 2 : 1);
  if (length < 126) frame[1] = 0x80 | length;
  else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  const mask = randomBytes(4);
  mask.copy(frame, headerLength);
  for (let i = 0; i < length; i++) frame[headerLength + 4 + i] = payload[i] ^ mask[i & 3];
  return frame;
}

/**
 * Counts complete frames in a byte stream (unmasked server frames; masked ones too, as
 * the raw echo server returns the generator's own). Keeps only the state needed:
 * bytes still to skip of the current frame, and a small header carry.
 */
export class FrameCounter {
  skip = 0;
  carry = null;
  /** Frames with RSV1 set (compressed messages). */
  compressed = 0;
  /** With validation: called with each complete frame's first byte and payload. */
  onFrame = null;
  /** First byte of the frame being read. */
  first = 0;
  #parts = [];
  count(chunk) {
    let frames = 0;
    if (this.carry !== null) {
      chunk = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        if (this.onFrame !== null) this.#parts.push(Buffer.from(chunk.subarray(i, i + take)));
        this.skip -= take;
        i += take;
        if (this.skip === 0) {
          frames++;
          if (this.onFrame !== null) this.#emit();
        }
        continue;
      }
      if (n - i < 2) {
        this.carry = Buffer.from(chunk.subarray(i));
        break;
      }
      const len7 = chunk[i + 1] & 0x7f;
      let header = 2;
      let length = len7;
      if (len7 === 126) {
        if (n - i < 4) { this.carry = Buffer.from(chunk.subarray(i)); break; }
        length = chunk.readUInt16BE(i + 2);
        header = 4;
      } else if (len7 === 127) {
        if (n - i < 10) { this.carry = Buffer.from(chunk.subarray(i)); break; }
        length = Number(chunk.readBigUInt64BE(i + 2));
        header = 10;
      }
      if (chunk[i + 1] & 0x80) header += 4; // a masked frame (the raw echo returns ours)
      if (n - i < header) { this.carry = Buffer.from(chunk.subarray(i)); break; }
      if (chunk[i] & 0x40) this.compressed++;
      this.first = chunk[i];
      i += header;
      if (length === 0) {
        frames++;
        if (this.onFrame !== null) this.#emit();
      } else this.skip = length;
    }
    return frames;
  }
  #emit() {
    const parts = this.#parts;
    this.#parts = [];
    this.onFrame(this.first, parts.length === 1 ? parts[0] : Buffer.concat(parts));
  }
}
