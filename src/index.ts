/**
 * Volley: a fast, dependency-free WebSocket server and client for Node.js.
 *
 * @example
 * import { WebSocketServer, WebSocket } from 'volley';
 */
export { WebSocket } from './node/websocket.js';
export type { BinaryType, SendData, SendOptions, WebSocketOptions } from './node/websocket.js';
export { WebSocketServer, UpgradeError } from './node/server.js';
export type { ServerOptions, UpgradeRequest } from './node/server.js';
export type { ClientOptions } from './node/client.js';
export type { PerMessageDeflateOptions } from './protocol/deflate.js';
export { PreparedMessage } from './protocol/deflate-codec.js';
export type { PreparedMessageOptions } from './protocol/deflate-codec.js';
export { Event, MessageEvent, CloseEvent, ErrorEvent } from './node/events.js';
export {
  WebSocketError,
  ProtocolError,
  InvalidDataError,
  PolicyError,
  MessageTooBigError,
  InternalError,
  InvalidStateError,
  HandshakeError,
  ErrorCode,
} from './protocol/errors.js';
export { CloseCode, isAllowedOnWire } from './protocol/close.js';
export { ReadyState } from './protocol/connection.js';
export type { CloseInfo } from './protocol/connection.js';

import { WebSocket } from './node/websocket.js';
export default WebSocket;
