// A neutral frame builder and a seeded PRNG: both parsers are fed the same bytes,
// produced by code that belongs to neither of them.

/** xorshift32: deterministic, so every child process builds identical inputs. */
export function prng(seed = 0x9e3779b9) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** A masking key with no zero byte (so no implementation can skip the XOR). */
export function makeMask(next) {
  const key = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) key[i] = 1 + (next() % 255);
  return key;
}

/** Printable ASCII, like JSON text. */
export function asciiPayload(next, length) {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = 0x20 + (next() % 95);
  return out;
}

export function binaryPayload(next, length) {
  const out = Buffer.allocUnsafe(length);
  let i = 0;
  for (; i + 4 <= length; i += 4) out.writeUInt32LE(next(), i);
  for (; i < length; i++) out[i] = next() & 0xff;
  return out;
}

export function wireSize(length, masked) {
  return (length <= 125 ? 2 : length <= 0xffff ? 4 : 10) + (masked ? 4 : 0) + length;
}

/** Writes one final frame at `offset` of `target`; returns the offset after it. */
export function writeFrame(target, offset, opcode, payload, mask) {
  const length = payload.length;
  target[offset++] = 0x80 | opcode;
  const maskBit = mask ? 0x80 : 0;
  if (length <= 125) {
    target[offset++] = maskBit | length;
  } else if (length <= 0xffff) {
    target[offset++] = maskBit | 126;
    target.writeUInt16BE(length, offset);
    offset += 2;
  } else {
    target[offset++] = maskBit | 127;
    target.writeUInt32BE(Math.floor(length / 2 ** 32), offset);
    target.writeUInt32BE(length >>> 0, offset + 4);
    offset += 8;
  }
  if (mask) {
    mask.copy(target, offset);
    offset += 4;
    for (let i = 0; i < length; i++) target[offset + i] = payload[i] ^ mask[i & 3];
  } else {
    payload.copy(target, offset);
  }
  return offset + length;
}

/** Splits `buffer` into views of at most `size` bytes, as a socket delivers them. */
export function chunk(buffer, size) {
  const chunks = [];
  for (let i = 0; i < buffer.length; i += size) chunks.push(buffer.subarray(i, Math.min(i + size, buffer.length)));
  return chunks;
}

/** Decodes one frame from the start of `bytes` (a check of encoder output, not a parser). */
export function decodeFrame(bytes) {
  const opcode = bytes[0] & 0x0f;
  const fin = (bytes[0] & 0x80) !== 0;
  const masked = (bytes[1] & 0x80) !== 0;
  let length = bytes[1] & 0x7f;
  let offset = 2;
  if (length === 126) {
    length = bytes.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    length = bytes.readUInt32BE(2) * 2 ** 32 + bytes.readUInt32BE(6);
    offset = 10;
  }
  let payload;
  if (masked) {
    const mask = bytes.subarray(offset, offset + 4);
    offset += 4;
    payload = Buffer.from(bytes.subarray(offset, offset + length));
    for (let i = 0; i < length; i++) payload[i] ^= mask[i & 3];
  } else {
    payload = bytes.subarray(offset, offset + length);
  }
  return { fin, opcode, masked, payload, size: offset + length };
}
