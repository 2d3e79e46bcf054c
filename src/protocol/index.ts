/**
 * The pure protocol layer: bytes in, events and bytes out, no I/O.
 * Exported as `volley/protocol` for people who drive WebSocket connections over
 * their own transports.
 */
export * from './errors.js';
export * from './close.js';
export * from './frame.js';
export * from './mask.js';
export * from './utf8.js';
export * from './parser.js';
export * from './connection.js';
export * from './deflate.js';
export * from './deflate-codec.js';
export * from './handshake.js';
export { formatExtensions, parseExtensions } from './headers.js';
export {
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADERS,
  DEFAULT_MAX_REQUEST_LINE_BYTES,
  RequestHeadParser,
  ResponseHeadParser,
  parseRequestHead,
  parseResponseHead,
  type HeadLimits,
  type RequestHead,
  type ResponseHead,
} from './http.js';
