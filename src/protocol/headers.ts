/**
 * Header value grammars used by the opening handshake: comma-separated token lists
 * (`Connection`, `Upgrade`, `Sec-WebSocket-Protocol`) and `Sec-WebSocket-Extensions`
 * (RFC 6455 §9.1, RFC 7692 §5).
 *
 * Every parser here is a hand-written scanner that looks at each character once, so
 * its running time is linear in the length of the value whatever the input; there are
 * no regular expressions that could backtrack. Malformed values throw a
 * `HandshakeError` with status 400 that names the header and the offset of the fault.
 */
import { HandshakeError } from './errors.js';

/**
 * One extension of a `Sec-WebSocket-Extensions` header: its name and its parameters in
 * the order received. A parameter without a value has the value `true`; quoted values
 * arrive unescaped. Duplicates are kept so that a negotiation can reject them
 * (RFC 7692 §7 forbids repeating a permessage-deflate parameter).
 */
export interface ExtensionOffer {
  name: string;
  params: Array<[name: string, value: string | true]>;
}

/**
 * Most elements a list may hold (for `Sec-WebSocket-Extensions`: extensions plus
 * parameters). Real clients send a handful; the cap bounds the allocation a single
 * header can cause, whatever header size limit the HTTP server was given.
 */
export const MAX_LIST_ITEMS = 1024;

const TAB = 0x09;
const SPACE = 0x20;
const DQUOTE = 0x22;
const COMMA = 0x2c;
const SLASH = 0x2f;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;

/**
 * RFC 7230 §3.2.6: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 * "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. One table lookup per character.
 */
const TCHAR = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;

/** Whether the character code `code` may appear in a token (RFC 7230 §3.2.6). */
export function isTokenChar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/** Whether `value` is a non-empty token (RFC 7230 §3.2.6). */
export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    if (!isTokenChar(value.charCodeAt(i))) return false;
  }
  return true;
}

/** Optional whitespace (RFC 9110 §5.6.3): SP or HTAB. */
export function isOws(code: number): boolean {
  return code === SPACE || code === TAB;
}

/** The offset of the first non-OWS character at or after `i`. */
function skipOws(value: string, i: number): number {
  while (i < value.length && isOws(value.charCodeAt(i))) i++;
  return i;
}

/** The offset just after the token starting at `i` (`i` itself when there is none). */
function tokenEnd(value: string, i: number): number {
  while (i < value.length && isTokenChar(value.charCodeAt(i))) i++;
  return i;
}

/** A character for an error message: quoted, or "end of input". */
function describeAt(value: string, offset: number): string {
  if (offset >= value.length) return 'end of input';
  return JSON.stringify(value[offset]);
}

function tooManyItems(header: string): HandshakeError {
  return new HandshakeError(400, `${header}: more than ${MAX_LIST_ITEMS} elements`);
}

function malformed(header: string, what: string, value: string, offset: number): HandshakeError {
  return new HandshakeError(400, `${header}: expected ${what} at offset ${offset}, found ${describeAt(value, offset)}`);
}

/**
 * Scans `#element` lists (RFC 7230 §7). Empty elements (`a, , b`) are skipped, as the
 * RFC requires recipients to accept them. With `allowVersion`, an element may be
 * `token "/" token` (the `protocol` of the `Upgrade` header, RFC 7230 §6.7).
 */
function scanList(value: string, header: string, allowVersion: boolean): string[] {
  const items: string[] = [];
  const n = value.length;
  let i = 0;
  while (i < n) {
    let c = value.charCodeAt(i);
    if (isOws(c) || c === COMMA) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && isTokenChar(value.charCodeAt(i))) i++;
    if (i === start) throw malformed(header, 'a token', value, i);
    if (allowVersion && i < n && value.charCodeAt(i) === SLASH) {
      const versionStart = ++i;
      while (i < n && isTokenChar(value.charCodeAt(i))) i++;
      if (i === versionStart) throw malformed(header, 'a protocol version after "/"', value, i);
    }
    if (items.length === MAX_LIST_ITEMS) throw tooManyItems(header);
    items.push(value.slice(start, i));
    while (i < n && isOws(value.charCodeAt(i))) i++;
    if (i < n) {
      c = value.charCodeAt(i);
      if (c !== COMMA) throw malformed(header, '"," after a token', value, i);
      i++;
    }
  }
  return items;
}

/**
 * Parses a comma-separated list of tokens (`#token`, RFC 7230 §7), such as
 * `Connection` or `Sec-WebSocket-Protocol`. Whitespace around commas and empty
 * elements are accepted; case is preserved (compare `Connection` tokens
 * case-insensitively, subprotocols exactly).
 *
 * @param value The header value; a list split over several header lines should be
 *   joined with `", "` first.
 * @param header The header name, used in error messages.
 * @returns The tokens in order; empty when the value holds no element.
 * @throws {HandshakeError} (400) when an element is not a token, or when there are
 *   more than `MAX_LIST_ITEMS` elements.
 * @example
 * parseTokenList('keep-alive ,Upgrade', 'Connection'); // ['keep-alive', 'Upgrade']
 */
export function parseTokenList(value: string, header: string): string[] {
  return scanList(value, header, false);
}

/**
 * Parses the `Upgrade` header: a comma-separated list of `protocol-name ["/"
 * protocol-version]` (RFC 7230 §6.7), for example `websocket` or `HTTP/2.0, websocket`.
 *
 * @param value The header value.
 * @param header The header name, used in error messages (default `Upgrade`).
 * @returns The protocols as written, such as `['HTTP/2.0', 'websocket']`.
 * @throws {HandshakeError} (400) when an element is malformed, or when there are more
 *   than `MAX_LIST_ITEMS` elements.
 */
export function parseProtocolList(value: string, header = 'Upgrade'): string[] {
  return scanList(value, header, true);
}

/**
 * Reads the quoted-string value of parameter `param`, starting at the opening quote
 * (RFC 7230 §3.2.6: quoted-pair = "\" char), and returns it unescaped with the offset
 * after the closing quote.
 *
 * RFC 6455 §9.1 requires the unescaped value to be a token, so every character,
 * escaped or not, is checked to be a token character as it is read: the scan stops at
 * the first fault. It follows that a backslash in the text can only be an escape
 * prefix, and unescaping is removing the backslashes.
 */
function readQuoted(value: string, start: number, header: string, param: string): [text: string, end: number] {
  const n = value.length;
  let hasEscape = false;
  let i = start + 1;
  for (; i < n; i++) {
    let c = value.charCodeAt(i);
    if (c === DQUOTE) break;
    if (c === BACKSLASH) {
      if (++i === n) break;
      c = value.charCodeAt(i);
      hasEscape = true;
    }
    if (!isTokenChar(c)) {
      throw new HandshakeError(
        400,
        `${header}: quoted value of parameter "${param}" must be a token, found ${describeAt(value, i)} at offset ${i}`,
      );
    }
  }
  if (i >= n) throw new HandshakeError(400, `${header}: unterminated quoted-string starting at offset ${start}`);
  const text = hasEscape ? unescape(value, start + 1, i) : value.slice(start + 1, i);
  if (text === '') {
    throw new HandshakeError(400, `${header}: quoted value of parameter "${param}" at offset ${start} is empty`);
  }
  return [text, i + 1];
}

/**
 * Removes the escape backslashes of `value[start, end)`, already checked to hold only
 * token characters and escapes of them. One pass into a byte buffer: a regular
 * expression or repeated concatenation is far slower on half a million escapes.
 */
function unescape(value: string, start: number, end: number): string {
  const bytes = Buffer.allocUnsafe(end - start);
  let length = 0;
  for (let i = start; i < end; i++) {
    const c = value.charCodeAt(i);
    if (c !== BACKSLASH) bytes[length++] = c;
  }
  return bytes.toString('latin1', 0, length);
}

/**
 * Parses a `Sec-WebSocket-Extensions` header (RFC 6455 §9.1):
 *
 * ```
 * extension-list = 1#extension
 * extension      = extension-token *( ";" extension-param )
 * extension-param = token [ "=" (token | quoted-string) ]
 * ```
 *
 * with optional whitespace around `,`, `;` and `=`. A quoted value must, once
 * unescaped, be a token (RFC 6455 §9.1). Empty list elements are skipped.
 *
 * @param value The header value; several header lines should be joined with `", "`.
 * @param header The header name, used in error messages.
 * @returns The offers in order, each with its parameters in order.
 * @throws {HandshakeError} (400) when the value is malformed, lists no extension, or
 *   holds more than `MAX_LIST_ITEMS` extensions and parameters together.
 * @example
 * parseExtensions('permessage-deflate; client_max_window_bits="10", x-foo');
 * // [{ name: 'permessage-deflate', params: [['client_max_window_bits', '10']] },
 * //  { name: 'x-foo', params: [] }]
 */
export function parseExtensions(value: string, header = 'Sec-WebSocket-Extensions'): ExtensionOffer[] {
  const offers: ExtensionOffer[] = [];
  const n = value.length;
  let i = 0;
  let itemCount = 0;
  while (i < n) {
    const c = value.charCodeAt(i);
    if (isOws(c) || c === COMMA) {
      i++;
      continue;
    }
    if (++itemCount > MAX_LIST_ITEMS) throw tooManyItems(header);
    let end = tokenEnd(value, i);
    if (end === i) throw malformed(header, 'an extension name', value, i);
    const offer: ExtensionOffer = { name: value.slice(i, end), params: [] };
    i = skipOws(value, end);
    while (i < n && value.charCodeAt(i) === SEMICOLON) {
      i = skipOws(value, i + 1);
      if (++itemCount > MAX_LIST_ITEMS) throw tooManyItems(header);
      end = tokenEnd(value, i);
      if (end === i) throw malformed(header, 'a parameter name', value, i);
      const name = value.slice(i, end);
      i = skipOws(value, end);
      let paramValue: string | true = true;
      if (i < n && value.charCodeAt(i) === EQUALS) {
        i = skipOws(value, i + 1);
        if (i < n && value.charCodeAt(i) === DQUOTE) {
          // RFC 6455 §9.1: a quoted value MUST conform to the token ABNF once unescaped.
          [paramValue, i] = readQuoted(value, i, header, name);
        } else {
          end = tokenEnd(value, i);
          if (end === i) throw malformed(header, `a value for parameter "${name}"`, value, i);
          paramValue = value.slice(i, end);
          i = end;
        }
        i = skipOws(value, i);
      }
      offer.params.push([name, paramValue]);
    }
    if (i < n && value.charCodeAt(i) !== COMMA) throw malformed(header, '";" or ","', value, i);
    i++;
    offers.push(offer);
  }
  if (offers.length === 0) throw new HandshakeError(400, `${header}: lists no extension`);
  return offers;
}

/**
 * Serializes extension offers (or a server's accepted extensions) for a
 * `Sec-WebSocket-Extensions` header: `name; param; param=value, name2`. The inverse of
 * `parseExtensions` for every valid input.
 *
 * @param offers The extensions, each with its parameters in order.
 * @returns The header value; an empty string for an empty list (send no header then).
 * @throws {TypeError} when a name or value is not a token.
 * @example
 * formatExtensions([{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }]);
 * // 'permessage-deflate; client_max_window_bits'
 */
export function formatExtensions(offers: readonly ExtensionOffer[]): string {
  const parts: string[] = [];
  for (const offer of offers) {
    if (!isToken(offer.name)) throw new TypeError(`extension name must be a token, got ${JSON.stringify(offer.name)}`);
    let part = offer.name;
    for (const [name, value] of offer.params) {
      if (!isToken(name)) {
        throw new TypeError(`parameter name of extension "${offer.name}" must be a token, got ${JSON.stringify(name)}`);
      }
      if (value === true) {
        part += `; ${name}`;
        continue;
      }
      // A value that is not a token cannot be sent quoted either (RFC 6455 §9.1).
      if (!isToken(value)) {
        throw new TypeError(`value of parameter "${name}" must be a token, got ${JSON.stringify(value)}`);
      }
      part += `; ${name}=${value}`;
    }
    parts.push(part);
  }
  return parts.join(', ');
}
