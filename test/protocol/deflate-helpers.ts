/**
 * Helpers for the permessage-deflate tests: agreed parameters, promise wrappers around
 * the codec's callbacks (which may run at once or on the thread pool), bounded waits,
 * and sample data.
 */
import { inflateRawSync, constants } from 'node:zlib';
import type { DeflateParams } from '../../src/protocol/deflate.js';
import { PerMessageDeflate, type BroadcastMessage, type CodecOptions } from '../../src/protocol/deflate-codec.js';
import { FIN, Opcode, encodeFrame } from '../../src/protocol/frame.js';
import type { WebSocketError } from '../../src/protocol/errors.js';

/** One scaled bound for every wait (websockets' `MS`). */
export const WAIT_MS = 10_000;

/** Agreed parameters: RFC 7692 defaults (context takeover, 15-bit windows) with overrides. */
export function params(overrides: Partial<DeflateParams> = {}): DeflateParams {
  return { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15, ...overrides };
}

/** A server-side and a client-side codec for the same agreed parameters. */
export function codecPair(agreed: DeflateParams = params(), options: Omit<CodecOptions, 'role'> = {}): { server: PerMessageDeflate; client: PerMessageDeflate } {
  return { server: new PerMessageDeflate(agreed, { ...options, role: 'server' }), client: new PerMessageDeflate(agreed, { ...options, role: 'client' }) };
}

/** Compresses through the codec, whether it answers at once or later. */
export function compress(codec: PerMessageDeflate, data: Uint8Array | string, isFinal = true): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    codec.compress(typeof data === 'string' ? Buffer.from(data) : data, isFinal, (error, output) => (error === null ? resolve(output) : reject(error)));
  });
}

/** Inflates through the codec; resolves with the error instead of rejecting, to inspect it. */
export function decompress(codec: PerMessageDeflate, data: Uint8Array, maxPayload = 0): Promise<{ error: WebSocketError | null; data: Buffer }> {
  return new Promise((resolve) => {
    codec.decompress(Buffer.from(data), maxPayload, (error, output) => resolve({ error, data: output }));
  });
}

/** Inflates and expects success. */
export async function inflate(codec: PerMessageDeflate, data: Uint8Array, maxPayload = 0): Promise<Buffer> {
  const result = await decompress(codec, data, maxPayload);
  if (result.error !== null) throw result.error;
  return result.data;
}

/** Waits (bounded) until `condition` holds, checking after each turn of the event loop. */
export async function waitFor(condition: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function randomBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** ASCII JSON-like text of exactly `length` bytes, compressible as real messages are. */
export function jsonText(length: number, seed = 1): string {
  let text = '';
  for (let i = 0; text.length < length; i++) {
    text += JSON.stringify({ id: seed * 100_000 + i, name: `item-${(i * 7 + seed) % 101}`, price: ((i + seed) * 1.37).toFixed(2), ok: (i + seed) % 3 === 0 }) + ',';
  }
  return text.slice(0, length);
}

/**
 * Inflates a whole message (tail appended) with a window of exactly `bits`, as a
 * strict peer would. Output comes in 64-byte pieces, so that back-references are
 * served from zlib's window of 2^bits bytes, not from the output buffer: zlib then
 * rejects any reference further back than 2^bits + 64 ("invalid distance too far back").
 */
export function strictInflate(payload: Uint8Array, bits: number): Buffer {
  return inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { windowBits: bits, finishFlush: constants.Z_SYNC_FLUSH, chunkSize: 64 });
}

/** A message prepared for broadcast, as the node layer's `prepare()` makes one. */
export function broadcastMessage(data: string | Uint8Array, isBinary = typeof data !== 'string', shouldCompress = true): BroadcastMessage {
  const payload = Buffer.from(data);
  const encoded = encodeFrame(FIN | (isBinary ? Opcode.Binary : Opcode.Text), payload, null);
  const frame = Array.isArray(encoded) ? Buffer.concat(encoded) : encoded;
  return { frame, payload, isBinary, shouldCompress, compressedFrames: null };
}
