/**
 * A second, deliberately simple WebSocket frame decoder, used as the oracle of the
 * parser and connection targets: it reads a whole stream at once, frame by frame,
 * with none of the incremental parser's machinery (no states, no chunk list, no
 * in-place unmasking, no fast paths), and says which events that stream must produce.
 *
 * It applies the checks in the order the library documents for its parser: first what
 * the first two bytes say (RSV bits, opcode, control-frame rules, continuation state,
 * MASK against the role), then the length (64-bit MSB, 2^53−1, `maxPayload` for the
 * payload, then for the fragments after the first at `fragmentOverhead` each), then the payload (UTF-8 of text, fail-fast, across fragments;
 * the close payload). A stream that ends inside a frame yields the events before it,
 * and an error if the bytes already received cannot be valid (fail-fast UTF-8).
 */
import { DEFAULT_FRAGMENT_OVERHEAD, DEFAULT_MAX_PAYLOAD, ErrorCode } from '../../src/protocol/index.js';
import type { Role } from './streams.js';

export type WireEvent =
  | { type: 'message'; data: Buffer; isBinary: boolean; isCompressed: boolean }
  | { type: 'ping'; data: Buffer }
  | { type: 'pong'; data: Buffer }
  | { type: 'close'; code: number; reason: string }
  | { type: 'error'; closeCode: number; code: string };

export interface ReferenceOptions {
  role: Role;
  /** 0: no limit; undefined: the library default. */
  maxPayload?: number | undefined;
  fragmentOverhead?: number | undefined;
  allowRsv1?: boolean | undefined;
}

const MAX_SAFE = 2 ** 53 - 1;

/** The events that `stream`, received whole by an endpoint of `options.role`, must produce. */
export function decodeStream(stream: Uint8Array, options: ReferenceOptions): WireEvent[] {
  const isServer = options.role === 'server';
  const configured = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const maxPayload = configured === 0 ? Infinity : configured;
  const overhead = options.fragmentOverhead ?? DEFAULT_FRAGMENT_OVERHEAD;
  const allowRsv1 = options.allowRsv1 ?? false;
  const events: WireEvent[] = [];
  const fail = (closeCode: number, code: string): WireEvent[] => {
    events.push({ type: 'error', closeCode, code });
    return events;
  };

  // The open data message.
  let messageOpcode = 0;
  let compressed = false;
  let received = 0; // payload bytes of the message's earlier frames
  let continuations = 0; // its frames after the first
  let parts: Buffer[] = [];
  let decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  let pos = 0;
  const n = stream.length;
  for (;;) {
    if (n - pos < 2) return events;
    const b0 = stream[pos]!;
    const b1 = stream[pos + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const rsv23 = (b0 & 0x30) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const length7 = b1 & 0x7f;
    const isControl = opcode >= 8;

    if (rsv23 || (rsv1 && !allowRsv1)) return fail(1002, ErrorCode.UnexpectedRsv);
    if (isControl) {
      if (opcode > 0xa) return fail(1002, ErrorCode.InvalidOpcode);
      if (!fin) return fail(1002, ErrorCode.FragmentedControlFrame);
      if (rsv1) return fail(1002, ErrorCode.UnexpectedRsv);
      if (length7 > 125) return fail(1002, ErrorCode.ControlFrameTooLong);
    } else if (opcode === 0) {
      if (messageOpcode === 0) return fail(1002, ErrorCode.UnexpectedContinuation);
      if (rsv1) return fail(1002, ErrorCode.UnexpectedRsv);
    } else if (opcode === 1 || opcode === 2) {
      if (messageOpcode !== 0) return fail(1002, ErrorCode.ExpectedContinuation);
    } else {
      return fail(1002, ErrorCode.InvalidOpcode);
    }
    if (masked !== isServer) return fail(1002, isServer ? ErrorCode.ExpectedMask : ErrorCode.UnexpectedMask);

    let at = pos + 2;
    let length: number;
    if (length7 === 126) {
      if (n - at < 2) return events;
      length = (stream[at]! << 8) | stream[at + 1]!;
      at += 2;
    } else if (length7 === 127) {
      if (n - at < 8) return events;
      const high = Buffer.from(stream.buffer, stream.byteOffset + at, 8).readUInt32BE(0);
      const low = Buffer.from(stream.buffer, stream.byteOffset + at, 8).readUInt32BE(4);
      if (high >= 0x80000000) return fail(1002, ErrorCode.InvalidLength);
      length = high * 2 ** 32 + low;
      if (length > MAX_SAFE) return fail(1009, ErrorCode.MessageTooBig);
      at += 8;
    } else {
      length = length7;
    }

    if (!isControl) {
      // maxPayload bounds a compressed message inflated; compressed, it may take up to
      // zlib's deflateBound (size + size/4096 + size/16384 + a few bytes; 64 allowed).
      const isCompressed = opcode === 0 ? compressed : rsv1;
      const limit = isCompressed ? maxPayload + Math.floor(maxPayload / 4096) + Math.floor(maxPayload / 16384) + 64 : maxPayload;
      if (received + length > limit) return fail(1009, ErrorCode.MessageTooBig);
      if (opcode === 0) {
        continuations++;
        if (continuations * overhead > maxPayload) return fail(1009, ErrorCode.MessageTooBig);
      } else {
        messageOpcode = opcode;
        compressed = rsv1;
      }
      received += length;
    }

    let mask: Uint8Array | null = null;
    if (masked) {
      if (n - at < 4) return events;
      mask = stream.subarray(at, at + 4);
      at += 4;
    }

    const available = Math.min(length, n - at);
    const payload = Buffer.from(stream.subarray(at, at + available));
    if (mask !== null) for (let i = 0; i < available; i++) payload[i] = payload[i]! ^ mask[i & 3]!;

    if (isControl) {
      if (available < length) return events;
      if (opcode === 0x9) events.push({ type: 'ping', data: payload });
      else if (opcode === 0xa) events.push({ type: 'pong', data: payload });
      else {
        // RFC 6455 §5.5.1: empty, or a 2-byte code allowed on the wire and a UTF-8 reason.
        if (payload.length === 0) events.push({ type: 'close', code: 1005, reason: '' });
        else if (payload.length === 1) return fail(1002, ErrorCode.InvalidClosePayload);
        else {
          const code = payload.readUInt16BE(0);
          const allowed = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
          if (!allowed) return fail(1002, ErrorCode.InvalidCloseCode);
          let reason: string;
          try {
            reason = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(payload.subarray(2));
          } catch {
            return fail(1007, ErrorCode.InvalidUtf8);
          }
          events.push({ type: 'close', code, reason });
        }
        return events; // nothing after a close frame
      }
    } else {
      const isText = messageOpcode === 1 && !compressed;
      if (isText) {
        try {
          decoder.decode(payload, { stream: true });
        } catch {
          return fail(1007, ErrorCode.InvalidUtf8);
        }
      }
      if (available < length) return events;
      parts.push(payload);
      if (fin) {
        if (isText) {
          try {
            decoder.decode();
          } catch {
            return fail(1007, ErrorCode.InvalidUtf8);
          }
        }
        events.push({ type: 'message', data: Buffer.concat(parts), isBinary: messageOpcode === 2, isCompressed: compressed });
        messageOpcode = 0;
        compressed = false;
        received = 0;
        continuations = 0;
        parts = [];
        decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
      }
    }
    pos = at + length;
  }
}

/** A one-line description of an event, for defect messages. */
export function describeEvent(event: WireEvent | undefined): string {
  if (event === undefined) return 'nothing';
  switch (event.type) {
    case 'message':
      return `message(${event.isBinary ? 'binary' : 'text'}${event.isCompressed ? ', compressed' : ''}, ${event.data.length} bytes: ${event.data.subarray(0, 24).toString('hex')})`;
    case 'ping':
    case 'pong':
      return `${event.type}(${event.data.toString('hex')})`;
    case 'close':
      return `close(${event.code}, ${JSON.stringify(event.reason)})`;
    case 'error':
      return `error(${event.closeCode}, ${event.code})`;
  }
}

/** Whether two events are the same (payloads compared by content). */
export function sameEvent(a: WireEvent, b: WireEvent): boolean {
  if (a.type !== b.type) return false;
  switch (a.type) {
    case 'message': {
      const other = b as typeof a;
      return a.isBinary === other.isBinary && a.isCompressed === other.isCompressed && a.data.equals(other.data);
    }
    case 'ping':
    case 'pong':
      return a.data.equals((b as typeof a).data);
    case 'close':
      return a.code === (b as typeof a).code && a.reason === (b as typeof a).reason;
    case 'error':
      return a.closeCode === (b as typeof a).closeCode && a.code === (b as typeof a).code;
  }
}

/** The index of the first difference between two event lists, or -1 when equal. */
export function firstDifference(actual: readonly WireEvent[], expected: readonly WireEvent[]): number {
  const length = Math.max(actual.length, expected.length);
  for (let i = 0; i < length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === undefined || e === undefined || !sameEvent(a, e)) return i;
  }
  return -1;
}
