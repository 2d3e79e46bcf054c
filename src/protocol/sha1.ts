/**
 * SHA-1 (FIPS 180-4 §6.1) of one fixed-shape message: a 24-character
 * `Sec-WebSocket-Key` followed by the 36-character GUID, as `Sec-WebSocket-Accept`
 * needs it (RFC 6455 §4.2.2). Nothing else is hashed here.
 *
 * Why not `node:crypto`: in a server answering handshakes, one call into OpenSSL for
 * these 60 bytes costs several times what it costs in a loop (context set-up through
 * OpenSSL's providers, cold caches), and it was the largest single item of a
 * handshake's CPU time. The message here is always 60 bytes: its first block holds the
 * key, the GUID and the padding's first byte; its second block is the padding's zeros
 * and the length, the same for every key, so its message schedule is computed once.
 */

/** RFC 6455 §1.3: the GUID appended to the key before hashing (handshake.ts exports it). */
export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Characters of a key hashed here. */
const ACCEPT_KEY_LENGTH = 24;

/** The first block's message schedule: words 0–5 from the key, 6–14 the GUID, 15 the padding's 0x80. */
const schedule = new Int32Array(80);
/** The second block's schedule: zeros, then the message length in bits (480). The same for every key. */
const padding = new Int32Array(80);
/** The hash state between the two blocks, and after the second. */
const state = new Int32Array(5);
/** The digest's 20 bytes. */
const digest = Buffer.alloc(20);

for (let i = 0; i < 9; i++) schedule[6 + i] = wordAt(GUID, 4 * i);
schedule[15] = 0x80000000 | 0;
padding[15] = (ACCEPT_KEY_LENGTH + GUID.length) * 8;
expand(padding);

/**
 * base64(SHA-1(key + GUID)) for a key of 24 ASCII characters (every valid
 * `Sec-WebSocket-Key` is one: 16 bytes in base64).
 *
 * @returns null for any other key: the caller hashes it with `node:crypto`.
 * @example
 * acceptOfKey('dGhlIHNhbXBsZSBub25jZQ=='); // 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
 */
export function acceptOfKey(key: string): string | null {
  return hashKey(key) ? digest.toString('base64') : null;
}

/** The standard base64 alphabet (RFC 4648 §4); handshake.ts checks keys against it. */
export const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** The same, as character codes. */
const BASE64_CODES = Buffer.from(BASE64_ALPHABET, 'latin1');

/** Characters of an accept value: 20 bytes in padded base64. */
export const ACCEPT_LENGTH = 28;

/**
 * `acceptOfKey`, written as ASCII into `target` at `offset` (ACCEPT_LENGTH bytes)
 * instead of made into a string.
 *
 * @returns false, writing nothing, for a key that is not 24 ASCII characters.
 */
export function writeAcceptOfKey(key: string, target: Uint8Array, offset: number): boolean {
  if (!hashKey(key)) return false;
  let at = offset;
  // Six groups of three bytes make four characters each; the last two bytes, three and "=".
  for (let i = 0; i < 18; i += 3) {
    const bits = (digest[i]! << 16) | (digest[i + 1]! << 8) | digest[i + 2]!;
    target[at++] = BASE64_CODES[bits >>> 18]!;
    target[at++] = BASE64_CODES[(bits >>> 12) & 63]!;
    target[at++] = BASE64_CODES[(bits >>> 6) & 63]!;
    target[at++] = BASE64_CODES[bits & 63]!;
  }
  const bits = (digest[18]! << 8) | digest[19]!;
  target[at++] = BASE64_CODES[bits >>> 10]!;
  target[at++] = BASE64_CODES[(bits >>> 4) & 63]!;
  target[at++] = BASE64_CODES[(bits << 2) & 63]!;
  target[at] = 0x3d; // "="
  return true;
}

/** SHA-1(key + GUID) into `digest`; false for a key that is not 24 ASCII characters. */
function hashKey(key: string): boolean {
  if (key.length !== ACCEPT_KEY_LENGTH) return false;
  let codes = 0;
  for (let i = 0; i < 6; i++) {
    const c0 = key.charCodeAt(4 * i);
    const c1 = key.charCodeAt(4 * i + 1);
    const c2 = key.charCodeAt(4 * i + 2);
    const c3 = key.charCodeAt(4 * i + 3);
    codes |= c0 | c1 | c2 | c3;
    schedule[i] = (c0 << 24) | (c1 << 16) | (c2 << 8) | c3;
  }
  // A character above 0x7f would be more than one byte in UTF-8.
  if (codes > 0x7f) return false;
  expand(schedule);
  compress(schedule, 0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0);
  compress(padding, state[0]!, state[1]!, state[2]!, state[3]!, state[4]!);
  for (let i = 0; i < 5; i++) {
    const word = state[i]!;
    digest[4 * i] = word >>> 24;
    digest[4 * i + 1] = word >>> 16;
    digest[4 * i + 2] = word >>> 8;
    digest[4 * i + 3] = word;
  }
  return true;
}

/** Four ASCII characters as one big-endian word. */
function wordAt(text: string, at: number): number {
  return (text.charCodeAt(at) << 24) | (text.charCodeAt(at + 1) << 16) | (text.charCodeAt(at + 2) << 8) | text.charCodeAt(at + 3);
}

/** Words 16–79 of a message schedule from words 0–15 (FIPS 180-4 §6.1.2 step 1). */
function expand(w: Int32Array): void {
  for (let t = 16; t < 80; t++) {
    const x = w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!;
    w[t] = (x << 1) | (x >>> 31);
  }
}

/**
 * One block (FIPS 180-4 §6.1.2 steps 2–4) from the state h0–h4 into `state`. Every sum
 * is cut to 32 bits as it is made (`| 0`), which keeps V8 in integer arithmetic.
 */
function compress(w: Int32Array, h0: number, h1: number, h2: number, h3: number, h4: number): void {
  let a = h0;
  let b = h1;
  let c = h2;
  let d = h3;
  let e = h4;
  for (let t = 0; t < 20; t++) {
    const temp = ((((a << 5) | (a >>> 27)) + ((b & c) | (~b & d))) | 0) + ((((e + w[t]!) | 0) + 0x5a827999) | 0);
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp | 0;
  }
  for (let t = 20; t < 40; t++) {
    const temp = ((((a << 5) | (a >>> 27)) + (b ^ c ^ d)) | 0) + ((((e + w[t]!) | 0) + 0x6ed9eba1) | 0);
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp | 0;
  }
  for (let t = 40; t < 60; t++) {
    const temp = ((((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d))) | 0) + ((((e + w[t]!) | 0) + (0x8f1bbcdc | 0)) | 0);
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp | 0;
  }
  for (let t = 60; t < 80; t++) {
    const temp = ((((a << 5) | (a >>> 27)) + (b ^ c ^ d)) | 0) + ((((e + w[t]!) | 0) + (0xca62c1d6 | 0)) | 0);
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp | 0;
  }
  state[0] = h0 + a;
  state[1] = h1 + b;
  state[2] = h2 + c;
  state[3] = h3 + d;
  state[4] = h4 + e;
}
