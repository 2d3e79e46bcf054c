/**
 * The handshake API under test: as `volley/protocol` exports it, and the header-list
 * helpers it does not export.
 */
export {
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADERS,
  DEFAULT_MAX_REQUEST_LINE_BYTES,
  HandshakeError,
  InvalidStateError,
  RequestHeadParser,
  ResponseHeadParser,
  buildAcceptResponse,
  buildErrorResponse,
  buildUpgradeRequest,
  formatExtensions,
  parseExtensions,
  validateUpgradeHead,
  validateUpgradeRequest,
  validateUpgradeResponse,
  type ExtensionOffer,
  type HeadLimits,
  type IncomingHeaders,
  type RequestHead,
  type ResponseHead,
} from '../../src/protocol/index.js';
export { MAX_LIST_ITEMS, isToken, parseProtocolList, parseTokenList } from '../../src/protocol/headers.js';
