/**
 * Volley: a fast, dependency-free WebSocket server and client for Node.js.
 *
 * @example
 * import { WebSocketServer, WebSocket } from 'volley';
 */
export { WebSocket } from './node/websocket.js';
export type { BinaryType, SendData, SendOptions, WebSocketOptions } from './node/websocket.js';
export { WebSocketServer, UpgradeError } from './node/server.js';
export type { ServerOptions, UpgradeRequest, BroadcastOptions } from './node/server.js';
export { SendStatus } from './node/send-status.js';
export type { PublishResult, BackpressurePolicy } from './node/send-status.js';
export type { GracefulCloseOptions } from './node/shutdown.js';
export { prepare, PreparedMessage } from './pubsub/prepared.js';
export type { PrepareOptions } from './pubsub/prepared.js';
export type { PublishOptions } from './pubsub/topics.js';
export type { HeartbeatOptions } from './heartbeat/heartbeat.js';
export type { ClientOptions } from './node/client.js';
export type { PerMessageDeflateOptions } from './protocol/deflate.js';
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
