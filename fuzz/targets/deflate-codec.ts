/**
 * Target `deflate-codec`: the permessage-deflate codec (`PerMessageDeflate`, server
 * role) inflating what a peer sends (RFC 7692 §7.2.2): sequences of messages on one
 * connection, each valid (compressed from an empty window by zlib, with or without a
 * final block; or by a client codec with context takeover), mutated (bits flipped,
 * bytes set, inserted or deleted, cut), random bytes, or empty; under random agreed
 * parameters and `maxPayload` values, payloads of up to 64 KiB, some of them zeros far
 * beyond `maxPayload` (small bombs).
 *
 * Invariants:
 * - `decompress` never throws and calls back exactly once, at once (messages of this
 *   size are inflated on the calling thread);
 * - the outcome is the inflated message, or `MessageTooBigError` (1009), or
 *   `InvalidDataError` `WS_ERR_INVALID_COMPRESSED_DATA` (1007): nothing else, never an
 *   internal error;
 * - no output is longer than `maxPayload`;
 * - while every message so far was valid, each inflates to exactly its payload, or
 *   fails with 1009 exactly when the payload is longer than `maxPayload` (a message
 *   compressed with context takeover counts as valid only while the receiver has seen
 *   nothing but that sender's messages).
 *
 * A connection fails at its first error, so a sequence stops there.
 */
import fc from 'fast-check';
import { constants, deflateRawSync } from 'node:zlib';
import {
  ErrorCode,
  InvalidDataError,
  MessageTooBigError,
  PerMessageDeflate,
  isSyncZlibAvailable,
  type DeflateParams,
} from '../lib/deflate-api.js';
import { defect, hexOf, invariant } from '../lib/defect.js';
import { Prng } from '../lib/prng.js';
import type { FuzzTarget } from './target.js';

type Kind = 'valid' | 'final' | 'takeover' | 'mutated' | 'random' | 'empty';

export interface DeflateCodecInput {
  params: DeflateParams;
  maxPayload: number;
  messages: Array<{
    kind: Kind;
    /** What the peer sends: the compressed payload of one message. */
    data: Uint8Array;
    /** The message it inflates to (for valid kinds), or null when unknown. */
    expected: Uint8Array | null;
  }>;
}

const MAX_PAYLOADS = [0, 1, 100, 1000, 4096, 65_536, 1024 * 1024];
/** Large enough that every input here is inflated on the calling thread. */
const SYNC_LIMIT = 1024 * 1024;

/** A payload: random bytes, repetitive text, or zeros (sometimes far beyond maxPayload). */
function payload(rng: Prng, maxPayload: number): Uint8Array {
  const r = rng.below(10);
  if (r < 4) return rng.bytes(rng.below(300));
  if (r < 7) return Buffer.from('permessage-deflate '.repeat(1 + rng.below(2000)).slice(0, rng.below(40_000)));
  if (r < 9) return new Uint8Array(rng.pick([0, 1, 125, 126, 1000, 65_535]));
  // Zeros just over, or far over, the limit: a small bomb.
  const over = maxPayload === 0 ? 65_536 : Math.min(65_536, maxPayload + rng.pick([1, 2, 1000, 60_000]));
  return new Uint8Array(over);
}

/** Compressed from an empty window by zlib, the way RFC 7692 §7.2.1 sends it. */
function compressFresh(data: Uint8Array, bits: number, final: boolean): Uint8Array {
  const windowBits = Math.max(9, bits); // zlib's raw deflate has no 8-bit window
  if (final) return deflateRawSync(data, { windowBits }); // ends with a final block, no tail to strip
  const out = deflateRawSync(data, { windowBits, finishFlush: constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

function mutate(bytes: Uint8Array, rng: Prng): Uint8Array {
  let out = Buffer.from(bytes);
  const count = 1 + rng.below(3);
  for (let i = 0; i < count; i++) {
    const at = out.length === 0 ? 0 : rng.below(out.length);
    switch (rng.below(5)) {
      case 0:
        if (out.length > 0) out[at] = out[at]! ^ (1 << rng.below(8));
        break;
      case 1:
        if (out.length > 0) out[at] = rng.below(256);
        break;
      case 2:
        out = Buffer.concat([out.subarray(0, at), Buffer.from([rng.below(256)]), out.subarray(at)]);
        break;
      case 3:
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
        break;
      default:
        out = out.subarray(0, at);
    }
  }
  return new Uint8Array(out);
}

const arbInput: fc.Arbitrary<DeflateCodecInput> = fc
  .record({ seed: fc.nat(), count: fc.integer({ min: 1, max: 4 }), kinds: fc.array(fc.nat(99), { minLength: 4, maxLength: 4 }) })
  .map(({ seed, count, kinds }): DeflateCodecInput => {
    const rng = new Prng(seed);
    const params: DeflateParams = {
      serverNoContextTakeover: rng.chance(1, 2),
      clientNoContextTakeover: rng.chance(1, 2),
      serverMaxWindowBits: 8 + rng.below(8),
      clientMaxWindowBits: 8 + rng.below(8),
    };
    const maxPayload = rng.pick(MAX_PAYLOADS);
    // The peer's own codec, for messages compressed with context takeover.
    const sender = new PerMessageDeflate(params, { role: 'client', threshold: 0, syncLimit: SYNC_LIMIT });
    const messages: DeflateCodecInput['messages'] = [];
    try {
      for (let i = 0; i < count; i++) {
        const k = kinds[i]!;
        const data = payload(rng, maxPayload);
        if (k < 30) messages.push({ kind: 'valid', data: compressFresh(data, params.clientMaxWindowBits, false), expected: data });
        else if (k < 40) messages.push({ kind: 'final', data: compressFresh(data, params.clientMaxWindowBits, true), expected: data });
        else if (k < 55) {
          let compressed: Uint8Array | null = null;
          sender.compress(data, true, (error, output) => (compressed = error === null ? output : null));
          if (compressed === null) throw new Error('the sender codec did not compress synchronously');
          messages.push({ kind: 'takeover', data: compressed, expected: data });
        } else if (k < 85) messages.push({ kind: 'mutated', data: mutate(compressFresh(data, params.clientMaxWindowBits, rng.chance(1, 4)), rng), expected: null });
        else if (k < 95) messages.push({ kind: 'random', data: rng.bytes(rng.below(2000)), expected: null });
        else messages.push({ kind: 'empty', data: rng.chance(1, 2) ? new Uint8Array(0) : Uint8Array.of(0), expected: new Uint8Array(0) });
      }
    } finally {
      sender.close();
    }
    return { params, maxPayload, messages };
  });

export function checkDeflateCodec(input: DeflateCodecInput): void {
  invariant(isSyncZlibAvailable(), () => 'zlib cannot be driven synchronously here: this target needs it');
  // Every input on the calling thread, whatever it may inflate to.
  const codec = new PerMessageDeflate(input.params, { role: 'server', syncLimit: SYNC_LIMIT, syncInflateOutput: Infinity });
  let trusted = true;
  // With context takeover, the sender's messages refer to what it sent before: they
  // inflate to their payload only while the receiver has seen nothing but them.
  let senderInSync = true;
  try {
    for (const [index, message] of input.messages.entries()) {
      if (message.kind !== 'takeover' && message.kind !== 'empty') senderInSync = false;
      const where = `message #${index} (${message.kind}, ${hexOf(message.data, 24)})`;
      let calls = 0;
      let error: unknown = null;
      let output: Buffer | null = null;
      try {
        // A copy: the codec may keep views of what it is given.
        codec.decompress(Buffer.from(message.data), input.maxPayload, (e, data) => {
          calls++;
          error = e;
          output = data;
        });
      } catch (thrown) {
        defect(`${where}: decompress threw ${String(thrown)}`, { cause: thrown });
      }
      invariant(calls === 1, () => `${where}: called back ${calls} times synchronously`);
      const isValid = message.expected !== null && (message.kind !== 'takeover' || senderInSync || input.params.clientNoContextTakeover);
      if (error !== null) {
        const e = error as Error;
        const documented = e instanceof MessageTooBigError || (e instanceof InvalidDataError && e.code === ErrorCode.InvalidCompressedData);
        invariant(documented, () => `${where}: failed with ${e.name} ${(e as { code?: string }).code}: ${e.message}`);
        if (trusted && isValid) {
          const tooBig = input.maxPayload > 0 && message.expected!.length > input.maxPayload;
          invariant(tooBig && e instanceof MessageTooBigError, () => `${where}: a valid message of ${message.expected!.length} bytes failed: ${e.message}`);
        }
        return; // the connection fails here
      }
      const out = output as unknown as Buffer;
      invariant(input.maxPayload === 0 || out.length <= input.maxPayload, () => `${where}: ${out.length} bytes out, maxPayload ${input.maxPayload}`);
      if (trusted && isValid) {
        invariant(input.maxPayload === 0 || message.expected!.length <= input.maxPayload, () => `${where}: ${message.expected!.length} bytes over maxPayload ${input.maxPayload} were accepted`);
        invariant(Buffer.from(message.expected!).equals(out), () => `${where}: inflated to ${hexOf(out)}, expected ${hexOf(message.expected!)}`);
      }
      if (!isValid) trusted = false; // the window may now differ from the sender's
    }
  } finally {
    codec.close();
  }
}

export const deflateCodecTarget: FuzzTarget<DeflateCodecInput> = {
  name: 'deflate-codec',
  description: 'PerMessageDeflate.decompress of valid, mutated and random compressed messages; 1007/1009 only; output within maxPayload',
  defaultRuns: 1,
  arbitrary: arbInput,
  check: checkDeflateCodec,
  // Every input creates zlib streams, whose buffers are freed once the event loop turns.
  yieldEvery: 64,
};
