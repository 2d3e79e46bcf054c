/**
 * Target `parser`: the incremental `FrameParser` alone, in both roles, with various
 * `maxPayload`, `fragmentOverhead` and `allowRsv1`, fed any chunking of random,
 * valid and mutated streams, and paused and resumed from inside its handler the way
 * permessage-deflate does.
 *
 * Invariants:
 * - `receive` and `resume` never throw; no failure is internal (1011);
 * - the events are exactly those the reference decoder (`fuzz/lib/reference.ts`) reads
 *   from the whole stream, whatever the chunking and pauses: same messages, pings,
 *   pongs, close, and the same close code and error code on failure;
 * - nothing after a close frame or a failure, and `isDone` then holds;
 * - messages never exceed `maxPayload`; uncompressed text is valid UTF-8;
 * - a payload handed to the handler never changes afterwards;
 * - between calls the parser buffers at most 125 bytes unless paused (data payloads
 *   are consumed as they arrive; only a control frame is held whole), none once done.
 */
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { FrameParser, MAX_CONTROL_PAYLOAD, WebSocketError, type ParserHandler } from '../../src/protocol/index.js';
import { compressedBound } from '../../src/protocol/parser.js';
import { defect, invariant, hexOf } from '../lib/defect.js';
import { decodeStream, describeEvent, firstDifference, type WireEvent } from '../lib/reference.js';
import {
  FRAGMENT_OVERHEADS,
  MAX_PAYLOADS,
  arbChunking,
  arbStream,
  chunk,
  senderOf,
  type Chunking,
  type Role,
} from '../lib/streams.js';
import type { FuzzTarget } from './target.js';

export interface ParserInput {
  role: Role;
  maxPayload: number;
  fragmentOverhead: number | undefined;
  allowRsv1: boolean;
  stream: Uint8Array;
  chunking: Chunking;
  /** Indices of events after which the handler pauses the parser. */
  pauses: number[];
  /** Whether a paused parser is resumed before the next chunk (else only at the end). */
  resumeEarly: boolean;
}

function arbInputFor(role: Role, allowRsv1: boolean): fc.Arbitrary<ParserInput> {
  return fc.record({
    role: fc.constant(role),
    maxPayload: fc.constantFrom(...MAX_PAYLOADS),
    fragmentOverhead: fc.constantFrom(...FRAGMENT_OVERHEADS),
    allowRsv1: fc.constant(allowRsv1),
    stream: arbStream(senderOf(role), allowRsv1),
    chunking: arbChunking,
    pauses: fc.oneof({ weight: 3, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.array(fc.nat(12), { maxLength: 4 }) }),
    resumeEarly: fc.boolean(),
  });
}

const arbInput: fc.Arbitrary<ParserInput> = fc.oneof(
  arbInputFor('server', false),
  arbInputFor('client', false),
  arbInputFor('server', true),
  arbInputFor('client', true),
);

/** A recorded event with a copy of its payload taken when it was delivered. */
type Recorded = { event: WireEvent; snapshot: Buffer | null; error?: WebSocketError };

export function checkParser(input: ParserInput): void {
  const recorded: Recorded[] = [];
  const pauses = new Set(input.pauses);
  let paused = false;
  let done = false;
  const options = {
    role: input.role,
    maxPayload: input.maxPayload,
    fragmentOverhead: input.fragmentOverhead,
    allowRsv1: input.allowRsv1,
  };
  let parser: FrameParser;
  const record = (event: WireEvent, error?: WebSocketError): void => {
    invariant(!done, () => `event ${describeEvent(event)} delivered after a close frame or a failure`);
    const data = 'data' in event ? event.data : null;
    recorded.push({ event, snapshot: data === null ? null : Buffer.from(data), ...(error ? { error } : {}) });
    if (event.type === 'close' || event.type === 'error') done = true;
    if (pauses.has(recorded.length - 1)) {
      parser.pause();
      paused = true;
    }
  };
  const handler: ParserHandler = {
    onMessage: (data, isBinary, isCompressed) => record({ type: 'message', data, isBinary, isCompressed }),
    onPing: (data) => record({ type: 'ping', data }),
    onPong: (data) => record({ type: 'pong', data }),
    onClose: (code, reason) => record({ type: 'close', code, reason }),
    onError: (error) => {
      invariant(error instanceof WebSocketError, () => `onError got a non-WebSocketError: ${String(error)}`);
      record({ type: 'error', closeCode: error.closeCode ?? -1, code: error.code }, error);
    },
  };
  parser = new FrameParser(options, handler);

  const resume = (): void => {
    paused = false;
    parser.resume();
  };
  const checkBuffered = (): void => {
    if (paused) return;
    const limit = done ? 0 : MAX_CONTROL_PAYLOAD;
    invariant(parser.bufferedAmount <= limit, () => `parser holds ${parser.bufferedAmount} bytes between calls (limit ${limit})`);
    invariant(parser.isDone === done, () => `isDone is ${parser.isDone} after ${recorded.length} events (done: ${done})`);
  };

  try {
    for (const piece of chunk(input.stream, input.chunking)) {
      if (paused && input.resumeEarly) resume();
      parser.receive(piece);
      checkBuffered();
    }
    for (let guard = 0; paused; guard++) {
      invariant(guard <= recorded.length + 1, () => 'resume keeps pausing without progress');
      resume();
    }
    checkBuffered();
  } catch (error) {
    if (error instanceof Error && error.name === 'Defect') throw error;
    defect(`FrameParser threw: ${String(error)}`, { cause: error });
  }

  // What was delivered never changes afterwards.
  recorded.forEach(({ event, snapshot }, index) => {
    if (snapshot !== null && 'data' in event) {
      invariant(snapshot.equals(event.data), () => `payload of event #${index} changed after delivery: was ${hexOf(snapshot)}, now ${hexOf(event.data)}`);
    }
  });

  const actual = recorded.map((r) => r.event);
  for (const { event, error } of recorded) {
    if (event.type === 'error') {
      invariant(event.closeCode !== 1011, () => `internal error (1011): ${error?.message} ${String((error?.cause as Error | undefined)?.stack ?? '')}`);
      invariant([1002, 1007, 1009].includes(event.closeCode), () => `failure with close code ${event.closeCode} (${event.code})`);
    }
    if (event.type === 'message') {
      if (input.maxPayload > 0) {
        // A compressed message is bounded inflated; here it may be up to deflate's bound.
        const limit = event.isCompressed ? compressedBound(input.maxPayload) : input.maxPayload;
        invariant(event.data.length <= limit, () => `message of ${event.data.length} bytes exceeds maxPayload ${input.maxPayload}`);
      }
      if (!event.isBinary && !event.isCompressed) invariant(isUtf8(event.data), () => 'text message is not valid UTF-8');
    }
  }

  const expected = decodeStream(input.stream, options);
  const at = firstDifference(actual, expected);
  invariant(at === -1, () => `event #${at}: parser gave ${describeEvent(actual[at])}, reference ${describeEvent(expected[at])} (${actual.length} vs ${expected.length} events)`);
}

export const parserTarget: FuzzTarget<ParserInput> = {
  name: 'parser',
  description: 'FrameParser, both roles, any options, any chunking, paused and resumed',
  defaultRuns: 3,
  arbitrary: arbInput,
  check: checkParser,
};
