/**
 * Close codes (RFC 6455 §7.4) and the close frame payload (§5.5.1).
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCode, InvalidDataError, ProtocolError } from './errors.js';

/** Registered close codes (RFC 6455 §7.4.1, IANA registry). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** Reserved: never sent. */
  Reserved: 1004,
  /** Synthesised locally when a close frame carried no code; never sent. */
  NoStatus: 1005,
  /** Synthesised locally when the transport closed without a close frame; never sent. */
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  /** Synthesised locally when the TLS handshake failed; never sent. */
  TlsHandshake: 1015,
} as const;

/** The longest reason that fits a control frame: 125 bytes minus the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Whether `code` may appear in a close frame on the wire.
 *
 * RFC 6455 §7.4.1/§7.4.2: 1000–1003 and 1007–1014 are defined for use (1012–1014 by
 * the IANA registry), 3000–3999 are for libraries and frameworks, 4000–4999 are
 * private. 1004–1006 and 1015 are reserved and MUST NOT be sent; everything else
 * is unassigned.
 */
export function isAllowedOnWire(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}

/** A close frame's content. `code` is 1005 when the frame had an empty payload. */
export interface ClosePayload {
  code: number;
  reason: string;
}

const EMPTY = Buffer.alloc(0);

/**
 * Encodes a close frame payload. `code` undefined gives an empty payload, or with a
 * reason the code 1000, as the WHATWG WebSocket's `close()` does.
 *
 * @throws {TypeError} if `code` is not a number, or `reason` not a string or valid
 *   UTF-8 bytes (RFC 6455 §5.5.1: the reason is UTF-8; the peer would fail it, 1007).
 * @throws {RangeError} if `code` is not allowed on the wire.
 * @throws {RangeError} if `reason` is longer than 123 bytes in UTF-8.
 */
export function encodeClosePayload(code?: number, reason: string | Buffer = ''): Buffer {
  if (code !== undefined && typeof code !== 'number') throw new TypeError(`a close code must be a number, got ${typeof code}`);
  if (typeof reason !== 'string') {
    if (!(reason instanceof Uint8Array)) throw new TypeError(`a close reason must be a string or a Buffer, got ${typeof reason}`);
    if (!isUtf8(reason)) throw new TypeError('a close reason must be valid UTF-8');
  }
  if (code === undefined) {
    if (reason.length === 0) return EMPTY;
    code = CloseCode.Normal;
  }
  if (!isAllowedOnWire(code)) {
    throw new RangeError(`close code ${code} must not be sent: use 1000-1003, 1007-1014 or 3000-4999`);
  }
  const reasonLength = typeof reason === 'string' ? Buffer.byteLength(reason) : reason.length;
  if (reasonLength > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(`close reason of ${reasonLength} bytes exceeds the ${MAX_CLOSE_REASON_BYTES}-byte limit`);
  }
  // Allocated zero-filled and written whole: no uninitialised byte can reach the wire.
  const payload = Buffer.alloc(2 + reasonLength);
  payload.writeUInt16BE(code, 0);
  if (typeof reason === 'string') payload.write(reason, 2);
  else reason.copy(payload, 2);
  return payload;
}

/**
 * Decodes and validates a received close frame payload.
 *
 * @throws {ProtocolError} (1002) for a 1-byte payload or a code not allowed on the wire.
 * @throws {InvalidDataError} (1007) for a reason that is not valid UTF-8.
 */
export function decodeClosePayload(payload: Uint8Array): ClosePayload {
  if (payload.length === 0) return { code: CloseCode.NoStatus, reason: '' };
  // RFC 6455 §5.5.1: if there is a body, the first two bytes MUST be the status code.
  if (payload.length === 1) {
    throw new ProtocolError('close frame payload of 1 byte: a code needs 2 bytes', ErrorCode.InvalidClosePayload);
  }
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isAllowedOnWire(code)) {
    throw new ProtocolError(`invalid close code ${code} received`, ErrorCode.InvalidCloseCode);
  }
  const reasonBytes = payload.subarray(2);
  // RFC 6455 §5.5.1: the reason is UTF-8 encoded; invalid data fails with 1007 (§8.1).
  if (!isUtf8(reasonBytes)) {
    throw new InvalidDataError('close reason is not valid UTF-8');
  }
  return { code, reason: Buffer.from(reasonBytes.buffer, reasonBytes.byteOffset, reasonBytes.length).toString('utf8') };
}
