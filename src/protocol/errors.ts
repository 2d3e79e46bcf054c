/**
 * Errors raised by Volley. Three families:
 *
 * 1. Peer violations (`ProtocolError`, `InvalidDataError`, `PolicyError`,
 *    `MessageTooBigError`): never thrown out of the protocol layer; they fail the
 *    connection with their `closeCode` and are reported through the `error` event.
 * 2. Local misuse (`InvalidStateError`, `TypeError`, `RangeError`): thrown synchronously.
 * 3. Handshake failures (`HandshakeError`, `UpgradeError`): carry an HTTP status.
 *
 * Every error has a stable `code` string (listed in the README) that programs can test.
 */

/** Stable error codes, one per kind of failure. */
export const ErrorCode = {
  ProtocolError: 'WS_ERR_PROTOCOL',
  InvalidOpcode: 'WS_ERR_INVALID_OPCODE',
  UnexpectedRsv: 'WS_ERR_UNEXPECTED_RSV',
  ControlFrameTooLong: 'WS_ERR_CONTROL_FRAME_TOO_LONG',
  FragmentedControlFrame: 'WS_ERR_FRAGMENTED_CONTROL_FRAME',
  UnexpectedContinuation: 'WS_ERR_UNEXPECTED_CONTINUATION',
  ExpectedContinuation: 'WS_ERR_EXPECTED_CONTINUATION',
  ExpectedMask: 'WS_ERR_EXPECTED_MASK',
  UnexpectedMask: 'WS_ERR_UNEXPECTED_MASK',
  InvalidLength: 'WS_ERR_INVALID_LENGTH',
  InvalidClosePayload: 'WS_ERR_INVALID_CLOSE_PAYLOAD',
  InvalidCloseCode: 'WS_ERR_INVALID_CLOSE_CODE',
  InvalidUtf8: 'WS_ERR_INVALID_UTF8',
  InvalidCompressedData: 'WS_ERR_INVALID_COMPRESSED_DATA',
  MessageTooBig: 'WS_ERR_MESSAGE_TOO_BIG',
  Policy: 'WS_ERR_POLICY',
  Internal: 'WS_ERR_INTERNAL',
  InvalidState: 'WS_ERR_INVALID_STATE',
  Handshake: 'WS_ERR_HANDSHAKE',
  Upgrade: 'WS_ERR_UPGRADE',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every error Volley raises. */
export class WebSocketError extends Error {
  /** Stable machine-readable code, for example `WS_ERR_INVALID_UTF8`. */
  readonly code: string;
  /** The close code the connection was (or will be) failed with, when relevant. */
  readonly closeCode: number | undefined;

  constructor(code: string, message: string, closeCode?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.closeCode = closeCode;
  }
}

/** The peer broke a rule of RFC 6455 (close code 1002). */
export class ProtocolError extends WebSocketError {
  constructor(message: string, code: string = ErrorCode.ProtocolError, options?: { cause?: unknown }) {
    super(code, message, 1002, options);
  }
}

/** The peer sent data inconsistent with the message type, such as invalid UTF-8 (1007). */
export class InvalidDataError extends WebSocketError {
  constructor(message: string, code: string = ErrorCode.InvalidUtf8, options?: { cause?: unknown }) {
    super(code, message, 1007, options);
  }
}

/** The peer violated a policy of this endpoint (1008). */
export class PolicyError extends WebSocketError {
  constructor(message: string, code: string = ErrorCode.Policy, options?: { cause?: unknown }) {
    super(code, message, 1008, options);
  }
}

/** A message exceeded `maxPayload` (1009). */
export class MessageTooBigError extends WebSocketError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.MessageTooBig, message, 1009, options);
  }
}

/** Something unexpected went wrong inside this endpoint (1011). */
export class InternalError extends WebSocketError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.Internal, message, 1011, options);
  }
}

/** An operation was attempted in a state that does not allow it (local misuse). */
export class InvalidStateError extends WebSocketError {
  constructor(message: string) {
    super(ErrorCode.InvalidState, message);
  }
}

/**
 * The opening handshake failed. `status` is the HTTP status a server answers with
 * (400, 403, 405, 426, 431, ...), or the status a client received.
 */
export class HandshakeError extends WebSocketError {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, headers: Record<string, string> = {}, options?: { cause?: unknown }) {
    super(ErrorCode.Handshake, message, undefined, options);
    this.status = status;
    this.headers = headers;
  }

  /**
   * `instanceof HandshakeError` is also true for one made by another copy of this
   * package in the same process (its ESM and CommonJS builds both loaded, say an
   * `UpgradeError` thrown from a CommonJS helper into an ESM server's `authenticate`).
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    return this === HandshakeError && typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[HANDSHAKE_ERROR_BRAND] === true;
  }
}

// The bundler renames a class that refers to itself in its body (`class _HandshakeError`):
// `error.name` comes from the class's name.
Object.defineProperty(HandshakeError, 'name', { value: 'HandshakeError' });

/** The mark every copy of this package puts on HandshakeError's prototype. */
const HANDSHAKE_ERROR_BRAND = Symbol.for('volley.HandshakeError');
Object.defineProperty(HandshakeError.prototype, HANDSHAKE_ERROR_BRAND, { value: true });
