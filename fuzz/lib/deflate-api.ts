/**
 * The permessage-deflate API under test, from its modules (negotiation, codec, and the
 * header grammar it reads).
 */
export { HandshakeError, InvalidDataError, MessageTooBigError, WebSocketError, ErrorCode } from '../../src/protocol/errors.js';
export {
  EXTENSION_NAME,
  acceptResponse,
  buildOffer,
  negotiate,
  type DeflateParams,
  type PerMessageDeflateOptions,
} from '../../src/protocol/deflate.js';
export { PerMessageDeflate } from '../../src/protocol/deflate-codec.js';
export { isSyncZlibAvailable } from '../../src/protocol/zlib-driver.js';
export { formatExtensions, parseExtensions } from '../../src/protocol/headers.js';
