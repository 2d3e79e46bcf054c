/**
 * Volley: a fast, dependency-free WebSocket server and client for Node.js.
 *
 * @example
 * import { WebSocketServer, WebSocket } from 'volley';
 */
export { WebSocket } from './node/websocket.js';
export { createWebSocketStream } from './node/stream.js';
export type { BinaryType, RawData, SendCallback, SendData, SendOptions, WebSocketEvents, WebSocketOptions } from './node/websocket.js';
export { WebSocketServer, UpgradeError } from './node/server.js';
export type { ServerOptions, WebSocketServerEvents, UpgradeRequest, BroadcastOptions, VerifyClient, VerifyClientCallback, VerifyClientInfo } from './node/server.js';
export { SendStatus } from './node/send-status.js';
export type { PublishResult, BackpressurePolicy } from './node/send-status.js';
export type { GracefulCloseOptions } from './node/shutdown.js';
export { prepare, PreparedMessage } from './pubsub/prepared.js';
export type { PrepareData, PrepareOptions } from './pubsub/prepared.js';
export type { PublishOptions } from './pubsub/topics.js';
export type { HeartbeatOptions } from './heartbeat/heartbeat.js';
// The classes of what a client's 'upgrade', 'unexpected-response' and 'redirect' events
// carry: exported as values (the declarations say so), for `instanceof`.
export { UpgradeClientRequest, UpgradeResponse } from './node/client.js';
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
export { bearerToken, queryToken, protocolToken, protocolsWithoutToken, extractToken } from './auth/tokens.js';
export type { TokenRequest, TokenSource, ExtractTokenOptions } from './auth/tokens.js';
export { verifyJwt, jwtAuthenticator, TokenError } from './auth/jwt.js';
export type { JwtAlgorithm, JwtClaims, JwtHeader, JwtAuthenticatorOptions, VerifyJwtOptions, TokenErrorReason } from './auth/jwt.js';
export { TOKEN_EXPIRED_REASON } from './auth/expiry.js';
export type { TokenExpiryOption } from './auth/expiry.js';
export { RATE_LIMIT_CLOSE_REASON } from './rate-limit/message-limiter.js';
export type { RateLimitOptions, RateLimitInfo, RateLimitAction } from './rate-limit/message-limiter.js';
export { getClientAddress } from './limits/client-address.js';
export type { TrustProxy } from './limits/client-address.js';
export type { AdmissionOptions } from './limits/admission.js';
export type { OriginRule } from './limits/origins.js';
export { MetricsRecorder } from './metrics/recorder.js';
export type { MetricsSnapshot, RttSummary } from './metrics/recorder.js';
export { CloseCode, isAllowedOnWire } from './protocol/close.js';
export { ReadyState } from './protocol/connection.js';
export type { CloseInfo } from './protocol/connection.js';

import { WebSocket } from './node/websocket.js';
import { WebSocketServer } from './node/server.js';
import { createWebSocketStream } from './node/stream.js';

// As ws has them: `import WebSocket from 'volley'` then `new WebSocket.Server(options)`.
WebSocket.Server = WebSocketServer;
WebSocket.WebSocketServer = WebSocketServer;
WebSocket.WebSocket = WebSocket;
WebSocket.createWebSocketStream = createWebSocketStream;

/** Names `@types/ws` exports for code that comes from `ws` (also under `WebSocket.`). */
export type Data = WebSocket.Data;
export type EventListenerOptions = WebSocket.EventListenerOptions;
export type AddressInfo = WebSocket.AddressInfo;
export type VerifyClientCallbackSync = WebSocket.VerifyClientCallbackSync;
export type VerifyClientCallbackAsync = WebSocket.VerifyClientCallbackAsync;

export default WebSocket;
