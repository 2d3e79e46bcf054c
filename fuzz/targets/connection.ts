/**
 * Target `connection`: the whole `Connection` state machine, server and client role,
 * fed any chunking of random, valid and mutated streams, with local actions (send,
 * fragments, ping, pong, close, fail, and misuse of each) between the chunks, then
 * the transport closing.
 *
 * Invariants:
 * - `receive` never throws; local calls throw only the documented errors
 *   (`InvalidStateError` when not OPEN or mixing fragmented messages, `RangeError` or
 *   `TypeError` for bad arguments), and a call that throws changes nothing;
 * - received events are exactly the reference decoder's for the bytes received while
 *   the connection was reading, in order; nothing follows an `error` event;
 * - a failure queues one close frame with 1002, 1007 or 1009 (1011 is a defect) and a
 *   reason of at most 123 bytes taken from the error message;
 * - the output is exactly what the protocol requires, frame by frame: a pong for each
 *   ping (with autoPong), the echo of the peer's close frame, the close frame of a
 *   failure, and the frames of the local calls, nothing else; it parses back without
 *   error with a parser of the opposite role; no data frame follows our close frame
 *   and no byte follows `end`;
 * - `end` only on the server, once, after both close frames or a failure;
 * - `readyState` and `closeExpected()` follow the close handshake; `transportClosed()`
 *   returns the same valid `CloseInfo` every time (1006 without a close frame, else its
 *   code and reason; `wasClean` only after both close frames and no failure before them), then
 *   nothing is read or written any more;
 * - messages never exceed `maxPayload`; the parser holds at most 125 bytes between calls.
 */
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import {
  Connection,
  FrameParser,
  InvalidStateError,
  MAX_CONTROL_PAYLOAD,
  ReadyState,
  WebSocketError,
  isAllowedOnWire,
  type ConnectionEvent,
} from '../../src/protocol/index.js';
import { defect, hexOf, invariant, sameBytes } from '../lib/defect.js';
import { Prng } from '../lib/prng.js';
import { decodeStream, describeEvent, firstDifference, type WireEvent } from '../lib/reference.js';
import { FRAGMENT_OVERHEADS, MAX_PAYLOADS, arbChunking, arbStream, chunk, senderOf, type Chunking, type Role } from '../lib/streams.js';
import type { FuzzTarget } from './target.js';

/** A call the application makes on the connection. */
export type LocalAction =
  | { kind: 'text'; text: string; fin: boolean }
  | { kind: 'binary'; data: Uint8Array; fin: boolean }
  | { kind: 'ping' | 'pong'; data: Uint8Array }
  | { kind: 'close'; code: number | undefined; reason: string }
  | { kind: 'fail'; code: number; reason: string };

export interface ConnectionInput {
  role: Role;
  maxPayload: number;
  fragmentOverhead: number | undefined;
  autoPong: boolean;
  stream: Uint8Array;
  chunking: Chunking;
  /** Local calls, each made before the chunk of index `at` (modulo the chunk count + 1). */
  actions: Array<{ at: number; action: LocalAction }>;
  /** Seed of the client's masking keys. */
  maskSeed: number;
}

const CLOSE_CODES = [undefined, 1000, 1001, 1003, 1008, 1011, 3000, 4999, 999, 1005, 1006, 1015, 2999, 5000];

const arbAction: fc.Arbitrary<LocalAction> = fc.tuple(fc.nat(99), fc.nat()).map(([selector, seed]): LocalAction => {
  const rng = new Prng(seed);
  if (selector < 25) return { kind: 'text', text: rng.text(rng.below(rng.chance(1, 10) ? 300 : 20)), fin: !rng.chance(1, 3) };
  if (selector < 45) return { kind: 'binary', data: rng.bytes(rng.below(rng.chance(1, 10) ? 70000 : 20)), fin: !rng.chance(1, 3) };
  if (selector < 65) return { kind: rng.chance(1, 2) ? 'ping' : 'pong', data: rng.bytes(rng.chance(1, 10) ? 120 + rng.below(10) : rng.below(8)) };
  const code = rng.pick(CLOSE_CODES);
  const reason = rng.chance(1, 8) ? 'é'.repeat(60 + rng.below(5)) : rng.text(rng.below(10));
  if (selector < 90) return { kind: 'close', code, reason };
  const long = rng.below(8);
  return { kind: 'fail', code: code ?? 1008, reason: long === 0 ? 'x'.repeat(200) : long === 1 ? `x${'é'.repeat(62)}` : reason };
});

function arbInputFor(role: Role): fc.Arbitrary<ConnectionInput> {
  return fc.record({
    role: fc.constant(role),
    maxPayload: fc.constantFrom(...MAX_PAYLOADS),
    fragmentOverhead: fc.constantFrom(...FRAGMENT_OVERHEADS),
    autoPong: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    stream: arbStream(senderOf(role)),
    chunking: arbChunking,
    actions: fc.array(fc.record({ at: fc.nat(), action: arbAction }), { maxLength: 5 }),
    maskSeed: fc.nat(),
  });
}

const arbInput: fc.Arbitrary<ConnectionInput> = fc.oneof(arbInputFor('server'), arbInputFor('client'));

/** A frame as the connection wrote it. */
interface OutFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Buffer;
}

/**
 * Splits output bytes into frames, checking the framing a peer of the opposite role
 * needs (masked from a client, unmasked from a server), independently of the parser.
 */
function splitFrames(bytes: Buffer, role: Role): OutFrame[] {
  const frames: OutFrame[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    invariant(bytes.length - pos >= 2, () => `output ends inside a frame header at byte ${pos}`);
    const b0 = bytes[pos]!;
    const b1 = bytes[pos + 1]!;
    const masked = (b1 & 0x80) !== 0;
    invariant(masked === (role === 'client'), () => `${role} wrote a frame with MASK=${masked}`);
    let length = b1 & 0x7f;
    let at = pos + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at);
      invariant(length > 125, () => `non-minimal 16-bit length ${length}`);
      at += 2;
    } else if (length === 127) {
      const high = bytes.readUInt32BE(at);
      length = high * 2 ** 32 + bytes.readUInt32BE(at + 4);
      invariant(length > 0xffff, () => `non-minimal 64-bit length ${length}`);
      at += 8;
    }
    let mask: Buffer | null = null;
    if (masked) {
      mask = bytes.subarray(at, at + 4);
      at += 4;
    }
    invariant(at + length <= bytes.length, () => `output ends inside a frame payload (${length} bytes announced)`);
    const payload = Buffer.from(bytes.subarray(at, at + length));
    if (mask !== null) for (let i = 0; i < length; i++) payload[i] = payload[i]! ^ mask[i & 3]!;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, payload });
    pos = at + length;
  }
  return frames;
}

function describeFrame(frame: OutFrame | undefined): string {
  if (frame === undefined) return 'nothing';
  return `frame(op=${frame.opcode}, fin=${frame.fin}, rsv=${frame.rsv}, ${hexOf(frame.payload, 16)})`;
}

/** The expected result of a local call: which error it throws, or the frame it writes. */
type Expectation = { throws: 'InvalidStateError' | 'RangeError' | 'TypeError' } | { frame: OutFrame | null };

function closePayload(code: number | undefined, reason: string): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

function toWire(event: ConnectionEvent): WireEvent | null {
  switch (event.type) {
    case 'message':
      return { type: 'message', data: event.data, isBinary: event.isBinary, isCompressed: false };
    case 'ping':
    case 'pong':
      return { type: event.type, data: event.data };
    case 'closing':
      return { type: 'close', code: event.code, reason: event.reason };
    case 'error':
      return { type: 'error', closeCode: event.error.closeCode ?? -1, code: event.error.code };
    case 'end':
      return null;
  }
}

export function checkConnection(input: ConnectionInput): void {
  const { role } = input;
  const isServer = role === 'server';
  const rng = new Prng(input.maskSeed);
  const conn = new Connection({
    role,
    maxPayload: input.maxPayload,
    fragmentOverhead: input.fragmentOverhead,
    autoPong: input.autoPong,
    generateMask: () => (rng.chance(1, 8) ? new Uint8Array(4) : rng.bytes(4)),
  });

  // The model: what the connection must have done so far.
  const expectedOut: OutFrame[] = [];
  const outputs: Buffer[] = [];
  const received: WireEvent[] = [];
  const fed: Buffer[] = [];
  let reading = true; // the parser still reads: no close frame, no failure, no local fail
  let closeSent = false;
  let closeReceived: { code: number; reason: string } | null = null;
  let failed = false;
  let endExpected = false; // the model says the transport should be ended
  let endSeen = false; // the connection said so
  let transportClosed = false;
  let sendingOpcode = 0;

  const expectFrame = (opcode: number, payload: Uint8Array, fin = true): void => {
    expectedOut.push({ fin, rsv: 0, opcode, payload: Buffer.from(payload) });
  };
  const expectEnd = (): void => {
    if (isServer) endExpected = true;
  };
  const expectedState = (): number =>
    transportClosed ? ReadyState.CLOSED : closeSent || closeReceived !== null || failed ? ReadyState.CLOSING : ReadyState.OPEN;

  const drain = (step: string): void => {
    const output = conn.takeOutput();
    invariant(!endSeen || output.length === 0, () => `${step}: ${output.length} bytes written after end`);
    outputs.push(output);
    for (const event of conn.takeEvents()) {
      invariant(!received.some((e) => e.type === 'error'), () => `${step}: event ${event.type} after an error event`);
      if (event.type === 'end') {
        invariant(isServer, () => `${step}: the client ended the transport itself`);
        invariant(!endSeen, () => `${step}: end reported twice`);
        endSeen = true;
        continue;
      }
      const wire = toWire(event)!;
      received.push(wire);
      switch (wire.type) {
        case 'message':
          if (input.maxPayload > 0) {
            invariant(wire.data.length <= input.maxPayload, () => `message of ${wire.data.length} bytes exceeds maxPayload ${input.maxPayload}`);
          }
          if (!wire.isBinary) invariant(isUtf8(wire.data), () => 'text message is not valid UTF-8');
          break;
        case 'ping':
          if (input.autoPong) expectFrame(0xa, wire.data);
          break;
        case 'pong':
          break;
        case 'close':
          closeReceived = { code: wire.code, reason: wire.reason };
          reading = false;
          if (!closeSent) {
            closeSent = true;
            sendingOpcode = 0;
            expectFrame(0x8, wire.code === 1005 ? Buffer.alloc(0) : closePayload(wire.code, wire.reason));
          }
          expectEnd();
          break;
        case 'error': {
          const error = (event as { error: WebSocketError }).error;
          invariant(error instanceof WebSocketError, () => `error event carries ${String(error)}`);
          invariant(wire.closeCode !== 1011, () => `internal error (1011): ${error.message} ${String((error.cause as Error | undefined)?.stack ?? '')}`);
          invariant([1002, 1007, 1009].includes(wire.closeCode), () => `failure with close code ${wire.closeCode} (${wire.code})`);
          reading = false;
          failed = true;
          if (!closeSent) {
            closeSent = true;
            sendingOpcode = 0;
            // The reason is the message cut to 123 bytes on a character boundary.
            let reason = error.message;
            while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
            if (/[\uD800-\uDBFF]$/.test(reason)) reason = reason.slice(0, -1);
            expectFrame(0x8, closePayload(wire.closeCode, reason));
          }
          expectEnd();
          break;
        }
      }
    }
    const state = expectedState();
    invariant(conn.readyState === state, () => `${step}: readyState ${conn.readyState}, expected ${state}`);
    invariant(conn.closeExpected() === (state === ReadyState.CLOSING), () => `${step}: closeExpected() is ${conn.closeExpected()} in state ${state}`);
    invariant(conn.closeSent === closeSent, () => `${step}: closeSent is ${conn.closeSent}, expected ${closeSent}`);
    invariant(endSeen === endExpected, () => `${step}: end ${endSeen ? 'reported' : 'not reported'}, expected ${endExpected}`);
    invariant(conn.transportEnded === endSeen, () => `${step}: transportEnded is ${conn.transportEnded}, end events ${endSeen}`);
    const buffered = conn.parser.bufferedAmount;
    invariant(buffered <= (reading ? MAX_CONTROL_PAYLOAD : 0), () => `${step}: parser holds ${buffered} bytes between calls`);
  };

  const expectation = (action: LocalAction): Expectation => {
    const open = expectedState() === ReadyState.OPEN;
    switch (action.kind) {
      case 'text':
      case 'binary': {
        if (!open) return { throws: 'InvalidStateError' };
        const opcode = action.kind === 'text' ? 1 : 2;
        if (sendingOpcode !== 0 && sendingOpcode !== opcode) return { throws: 'InvalidStateError' };
        const frame: OutFrame = {
          fin: action.fin,
          rsv: 0,
          opcode: sendingOpcode !== 0 ? 0 : opcode,
          payload: action.kind === 'text' ? Buffer.from(action.text) : Buffer.from(action.data),
        };
        sendingOpcode = action.fin ? 0 : opcode;
        return { frame };
      }
      case 'ping':
      case 'pong':
        if (!open) return { throws: 'InvalidStateError' };
        if (action.data.length > 125) return { throws: 'RangeError' };
        return { frame: { fin: true, rsv: 0, opcode: action.kind === 'ping' ? 0x9 : 0xa, payload: Buffer.from(action.data) } };
      case 'close': {
        // A reason without a code goes with 1000 (the WHATWG close()).
        const code = action.code === undefined && action.reason !== '' ? 1000 : action.code;
        if (code !== undefined && (!isAllowedOnWire(code) || Buffer.byteLength(action.reason) > 123)) return { throws: 'RangeError' };
        if (closeSent || transportClosed) return { frame: null };
        closeSent = true;
        sendingOpcode = 0;
        return { frame: { fin: true, rsv: 0, opcode: 0x8, payload: closePayload(code, action.reason) } };
      }
      case 'fail': {
        // A closed connection ignores fail(); otherwise a bad code throws before anything changes.
        if (transportClosed) return { frame: null };
        if (!isAllowedOnWire(action.code)) return { throws: 'RangeError' };
        // Both close frames exchanged: the closing handshake is complete, nothing to fail.
        if (closeReceived !== null && closeSent) return { frame: null };
        reading = false;
        failed = true;
        expectEnd();
        if (closeSent) return { frame: null };
        closeSent = true;
        sendingOpcode = 0;
        let reason = action.reason;
        while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
        return { frame: { fin: true, rsv: 0, opcode: 0x8, payload: closePayload(action.code, reason) } };
      }
    }
  };

  const act = (action: LocalAction, step: string): void => {
    const expected = expectation(action);
    let thrown: unknown = null;
    try {
      switch (action.kind) {
        case 'text':
          conn.sendText(action.text, action.fin);
          break;
        case 'binary':
          conn.sendBinary(action.data, action.fin);
          break;
        case 'ping':
          conn.sendPing(action.data);
          break;
        case 'pong':
          conn.sendPong(action.data);
          break;
        case 'close':
          conn.close(action.code, action.reason);
          break;
        case 'fail':
          conn.fail(action.code, action.reason);
          break;
      }
    } catch (error) {
      thrown = error;
    }
    if ('throws' in expected) {
      const name = thrown instanceof InvalidStateError ? 'InvalidStateError' : thrown instanceof Error ? thrown.name : String(thrown);
      invariant(name === expected.throws, () => `${step}: ${action.kind} should throw ${expected.throws}, got ${thrown === null ? 'no error' : name}`);
    } else {
      invariant(thrown === null, () => `${step}: ${action.kind} threw ${String(thrown)}`);
      if (expected.frame !== null) expectedOut.push(expected.frame);
    }
  };

  const chunks = chunk(input.stream, input.chunking);
  const actionsAt = (index: number): LocalAction[] =>
    input.actions.filter(({ at }) => at % (chunks.length + 1) === index).map(({ action }) => action);
  try {
    for (let index = 0; index <= chunks.length; index++) {
      for (const action of actionsAt(index)) {
        act(action, `before chunk ${index}`);
        drain(`after local ${action.kind}`);
      }
      const piece = chunks[index];
      if (piece === undefined) break;
      if (reading) fed.push(Buffer.from(piece));
      conn.receive(piece);
      drain(`after chunk ${index}`);
    }
    // The transport closes.
    const info = conn.transportClosed();
    transportClosed = true;
    drain('after transportClosed');
    const expectedCode = closeReceived === null ? 1006 : (closeReceived as { code: number }).code;
    invariant(info.code === expectedCode, () => `CloseInfo code ${info.code}, expected ${expectedCode}`);
    invariant(info.reason === (closeReceived === null ? '' : (closeReceived as { reason: string }).reason), () => `CloseInfo reason ${JSON.stringify(info.reason)}`);
    const clean = closeSent && closeReceived !== null && !failed;
    invariant(info.wasClean === clean, () => `CloseInfo wasClean ${info.wasClean}, expected ${clean}`);
    invariant(info.code === 1005 || info.code === 1006 || isAllowedOnWire(info.code), () => `CloseInfo code ${info.code} is not a close code`);
    invariant(conn.transportClosed() === info && conn.closeInfo === info, () => 'transportClosed() answered differently the second time');
    // Nothing is read or written any more.
    conn.receive(Buffer.from(input.stream.length > 0 ? input.stream : [0x81, 0x80, 0, 0, 0, 0]));
    act({ kind: 'text', text: 'late', fin: true }, 'after transportClosed');
    act({ kind: 'close', code: 1000, reason: '' }, 'after transportClosed');
    drain('after late calls');
    invariant(conn.takeOutput().length === 0, () => 'output after transportClosed');
  } catch (error) {
    if (error instanceof Error && error.name === 'Defect') throw error;
    defect(`Connection threw: ${String(error)}`, { cause: error });
  }

  // Received events: the reference decoding of what was fed while the connection read.
  const expected = decodeStream(Buffer.concat(fed), { role, maxPayload: input.maxPayload, fragmentOverhead: input.fragmentOverhead });
  const at = firstDifference(received, expected);
  invariant(at === -1, () => `event #${at}: connection gave ${describeEvent(received[at])}, reference ${describeEvent(expected[at])}`);

  // Output: exactly the expected frames, nothing after end, valid for the peer.
  const output = Buffer.concat(outputs);
  const frames = splitFrames(output, role);
  const mismatch = Math.max(frames.length, expectedOut.length);
  for (let i = 0; i < mismatch; i++) {
    const a = frames[i];
    const e = expectedOut[i];
    invariant(
      a !== undefined && e !== undefined && a.fin === e.fin && a.rsv === e.rsv && a.opcode === e.opcode && sameBytes(a.payload, e.payload),
      () => `output frame #${i}: wrote ${describeFrame(a)}, expected ${describeFrame(e)}`,
    );
  }
  const closeIndex = frames.findIndex((f) => f.opcode === 0x8);
  if (closeIndex !== -1) {
    const code = frames[closeIndex]!.payload.length >= 2 ? frames[closeIndex]!.payload.readUInt16BE(0) : 1005;
    invariant(code === 1005 || isAllowedOnWire(code), () => `close frame with code ${code}`);
    invariant(frames[closeIndex]!.payload.length <= 125, () => 'close frame payload over 125 bytes');
    frames.slice(closeIndex + 1).forEach((f) => invariant(f.opcode === 0xa, () => `${describeFrame(f)} after our close frame`));
  }
  const peer: WireEvent[] = [];
  const parser = new FrameParser(
    { role: senderOf(role), maxPayload: 0, fragmentOverhead: 0 },
    {
      onMessage: () => undefined,
      onPing: () => undefined,
      onPong: () => undefined,
      onClose: () => undefined,
      onError: (error) => peer.push({ type: 'error', closeCode: error.closeCode ?? -1, code: error.code }),
    },
  );
  parser.receive(Buffer.from(output));
  invariant(peer.length === 0, () => `the peer cannot parse our output: ${describeEvent(peer[0])}`);
}

export const connectionTarget: FuzzTarget<ConnectionInput> = {
  name: 'connection',
  description: 'Connection, both roles, any chunking, with local calls between chunks',
  defaultRuns: 3,
  arbitrary: arbInput,
  check: checkConnection,
};
