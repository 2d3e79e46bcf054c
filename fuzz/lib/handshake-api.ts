/**
 * The handshake API under test, from its modules (the protocol index does not
 * re-export the handshake layer).
 */
export { HandshakeError, InvalidStateError } from '../../src/protocol/errors.js';
export {
  buildAcceptResponse,
  buildErrorResponse,
  buildUpgradeRequest,
  validateUpgradeHead,
  validateUpgradeRequest,
  validateUpgradeResponse,
  type IncomingHeaders,
} from '../../src/protocol/handshake.js';
export { MAX_LIST_ITEMS, formatExtensions, isToken, parseExtensions, parseProtocolList, parseTokenList, type ExtensionOffer } from '../../src/protocol/headers.js';
export {
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADERS,
  DEFAULT_MAX_REQUEST_LINE_BYTES,
  RequestHeadParser,
  ResponseHeadParser,
  type HeadLimits,
  type RequestHead,
  type ResponseHead,
} from '../../src/protocol/http.js';
