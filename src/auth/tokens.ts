/**
 * Where a token travels with a WebSocket upgrade request, and how to read it there:
 *
 * - `Authorization: Bearer <token>` (RFC 6750 §2.1): the right place, for every client
 *   that can set headers (Node, native apps). Browsers' WebSocket API cannot.
 * - A query parameter (`wss://host/ws?token=...`, RFC 6750 §2.3): works everywhere, but
 *   the URL is written to access logs, proxy logs and browser history, so the token
 *   leaks there. Use short-lived, single-use tokens if you must.
 * - The subprotocol list, which browsers can set: `new WebSocket(url, ['bearer', token])`
 *   offers the marker `bearer` followed by the token. The server selects the first
 *   offered subprotocol by default, which is the marker (or an application protocol
 *   listed before it), so the token is never echoed in the 101 response. The token must
 *   be a valid subprotocol (an HTTP token: JWTs and base64url are).
 */
import { UpgradeError } from '../node/server.js';
import { parseTokenList } from '../protocol/headers.js';
import { repeatedHeaderValues } from '../protocol/http.js';

/** The parts of an upgrade request tokens are read from (an `IncomingMessage` fits). */
export interface TokenRequest {
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  /** The header lines as received (names, values), where `headers` may have dropped repeats. */
  rawHeaders?: readonly string[];
}

/** A place a token can travel. */
export type TokenSource = 'header' | 'query' | 'protocol';

/** The subprotocol that announces a token in the next offered subprotocol. */
export const DEFAULT_PROTOCOL_MARKER = 'bearer';

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The token of an `Authorization: Bearer <token>` header.
 *
 * @returns the token, or null when the header is missing, repeated, uses another scheme
 *   or is malformed.
 * @example
 * authenticate: (req) => lookupSession(bearerToken(req) ?? reject())
 */
export function bearerToken(req: TokenRequest): string | null {
  const header = req.headers.authorization;
  // Two credentials in one request are ambiguous (a proxy may have checked the other
  // one): node:http keeps only the first `Authorization` in `headers`, so the raw lines
  // decide.
  if (typeof header !== 'string' || repeatedHeaderValues(req.rawHeaders, 'authorization') !== null) return null;
  const match = BEARER.exec(header);
  return match === null ? null : match[1]!;
}

/**
 * The value of query parameter `name` in the request URL. Note that URLs are logged by
 * servers and proxies and kept in browser history: a token there leaks.
 *
 * @param name the parameter, default `token` (RFC 6750 §2.3 names it `access_token`)
 * @returns the decoded value, or null when absent, empty or given more than once.
 */
export function queryToken(req: TokenRequest, name = 'token'): string | null {
  const url = req.url ?? '';
  const start = url.indexOf('?');
  if (start === -1) return null;
  const values = new URLSearchParams(url.slice(start + 1)).getAll(name);
  if (values.length !== 1 || values[0] === '') return null;
  return values[0]!;
}

/**
 * The token offered as a subprotocol right after `marker`:
 * `new WebSocket(url, ['bearer', token])` or `new WebSocket(url, ['chat', 'bearer', token])`.
 *
 * @param marker the subprotocol that precedes the token, default `bearer`
 * @returns the token, or null when the marker is not offered or nothing follows it.
 */
export function protocolToken(req: TokenRequest, marker = DEFAULT_PROTOCOL_MARKER): string | null {
  const offered = offeredProtocols(req);
  const at = offered.indexOf(marker);
  if (at === -1 || at + 1 >= offered.length) return null;
  return offered[at + 1]!;
}

/**
 * The offered subprotocols minus the token that follows `marker`: use it in a custom
 * `handleProtocols` so that the token can never be selected (and echoed).
 *
 * @example
 * handleProtocols: (protocols) => {
 *   const choices = protocolsWithoutToken(protocols);
 *   return choices.has('chat') ? 'chat' : choices.has('bearer') ? 'bearer' : false;
 * }
 */
export function protocolsWithoutToken(protocols: Iterable<string>, marker = DEFAULT_PROTOCOL_MARKER): Set<string> {
  const list = [...protocols];
  const at = list.indexOf(marker);
  if (at !== -1 && at + 1 < list.length) list.splice(at + 1, 1);
  return new Set(list);
}

export interface ExtractTokenOptions {
  /** Where to look, in order. Default `['header', 'protocol']` (add `'query'` knowingly). */
  from?: readonly TokenSource[];
  /** The query parameter. Default `token`. */
  queryParameter?: string;
  /** The subprotocol marker. Default `bearer`. */
  protocolMarker?: string;
}

/**
 * The token of a request from the first of `from` that carries one.
 *
 * @returns `{ token, source }`, or null when no source carries a token.
 * @throws {UpgradeError} 400 (`WWW-Authenticate: Bearer error="invalid_request"`) when
 *   more than one source carries a token: RFC 6750 §2 lets a client use only one method.
 */
export function extractToken(req: TokenRequest, options: ExtractTokenOptions = {}): { token: string; source: TokenSource } | null {
  const from = options.from ?? ['header', 'protocol'];
  let found: { token: string; source: TokenSource } | null = null;
  for (const source of from) {
    const token =
      source === 'header'
        ? bearerToken(req)
        : source === 'query'
          ? queryToken(req, options.queryParameter)
          : source === 'protocol'
            ? protocolToken(req, options.protocolMarker)
            : unknownSource(source);
    if (token === null) continue;
    if (found !== null) {
      throw new UpgradeError(400, 'the request carries more than one access token', {
        'WWW-Authenticate': 'Bearer error="invalid_request", error_description="more than one access token"',
      });
    }
    found = { token, source };
  }
  return found;
}

function offeredProtocols(req: TokenRequest): string[] {
  const header = req.headers['sec-websocket-protocol'];
  if (header === undefined) return [];
  try {
    return parseTokenList(Array.isArray(header) ? header.join(',') : header, 'Sec-WebSocket-Protocol');
  } catch {
    return []; // the upgrade validation answers 400 for these
  }
}

function unknownSource(source: never): never {
  throw new TypeError(`unknown token source ${JSON.stringify(source)}: use "header", "query" or "protocol"`);
}
