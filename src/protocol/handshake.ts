/**
 * The opening handshake (RFC 6455 §4): `Sec-WebSocket-Accept`, validation of the
 * client's upgrade request and of the server's response, and the text of both.
 *
 * Pure and I/O-free: inputs are header records (as `node:http` or `parseRequestHead`
 * give them), outputs are strings to write to the socket as UTF-8 (what
 * `socket.write(string)` does by default).
 */
import * as crypto from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { HandshakeError } from './errors.js';
import { repeatedHeaderValues, type HeaderVisitor } from './http.js';
import { ACCEPT_LENGTH, BASE64_ALPHABET, GUID, acceptOfKey, writeAcceptOfKey } from './sha1.js';
import { type ExtensionOffer, isOws, isToken, parseExtensions, parseProtocolList, parseTokenList } from './headers.js';

export type { ExtensionOffer } from './headers.js';

export { GUID } from './sha1.js';

/** The only protocol version this library speaks (RFC 6455 §4.1, §11.6). */
export const WEBSOCKET_VERSION = 13;

/** A header record as `node:http` gives it: lower-case names, arrays for repeats. */
export type IncomingHeaders = Record<string, string | string[] | undefined>;

/** Extra response or request headers: a record (arrays for repeats) or name/value pairs. */
/** Extra headers: values that are not strings are sent as their string, as node:http does. */
export type ExtraHeaders = Record<string, HeaderValue | ReadonlyArray<HeaderValue>> | ReadonlyArray<readonly [string, string]>;
/** One header value as given; sent as `String(value)`. */
export type HeaderValue = string | number | boolean;

/**
 * Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2 step 5.4):
 * base64(SHA-1(key + GUID)).
 *
 * @param key The `Sec-WebSocket-Key` value, exactly as received.
 * @returns The value the server sends and the client expects.
 * @example
 * computeAccept('dGhlIHNhbXBsZSBub25jZQ=='); // 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
 */
export function computeAccept(key: string): string {
  // Every valid key is hashed in JavaScript (see sha1.ts); any other string by node:crypto.
  const accept = acceptOfKey(key);
  if (accept !== null) return accept;
  // One-shot hashing (Node.js 20.12 and later) creates no Hash object.
  return oneShotHash === undefined ? createHash('sha1').update(key + GUID).digest('base64') : oneShotHash('sha1', key + GUID, 'base64');
}

const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }).hash;

/** What a valid upgrade request asks for. */
export interface UpgradeRequestInfo {
  /** The `Sec-WebSocket-Key`, to answer with `buildAcceptResponse`. */
  key: string;
  version: typeof WEBSOCKET_VERSION;
  /** Offered subprotocols in the client's order of preference; empty when none. */
  protocols: readonly string[];
  /** Offered extensions in order; empty when none. */
  extensions: readonly ExtensionOffer[];
  /**
   * The request carries `Expect: 100-continue`: answer `HTTP/1.1 100 Continue` (see
   * `CONTINUE_RESPONSE`) before the 101 (RFC 9110 §7.8).
   */
  expectContinue: boolean;
}

/** The lists of a request that offers no subprotocol or no extension: one each, shared. */
const NO_PROTOCOLS: readonly string[] = Object.freeze([]);
const NO_EXTENSIONS: readonly ExtensionOffer[] = Object.freeze([]);

/** The parts of an incoming request the handshake looks at (an `IncomingMessage` fits). */
export interface UpgradeRequestLike {
  method: string;
  /** `"1.1"` for HTTP/1.1, as Node's `message.httpVersion`. */
  httpVersion: string;
  headers: IncomingHeaders;
  /**
   * The header lines as received, when known (Node's `message.rawHeaders`): node:http
   * keeps only the first of several `Host` lines in `headers`, and these show the rest.
   */
  rawHeaders?: readonly string[];
}

/** A request head as received: `validateUpgradeHead` reads it. */
export interface UpgradeHeadLike {
  method: string;
  /** `"1.1"` for HTTP/1.1. */
  httpVersion: string;
  /** Names (as received) and values, alternating, as Node's `message.rawHeaders`. */
  readonly rawHeaders: readonly string[];
  /**
   * A parsed head's header lines, read in place (see `HeaderVisitor`); when present it
   * is used instead of `rawHeaders`, which then need not be built.
   */
  visitHeaders?(visitor: HeaderVisitor): void;
}

/** Headers of a 426 answer: RFC 9110 §15.5.22 requires `Upgrade` in it. */
const UPGRADE_REQUIRED_HEADERS = { Upgrade: 'websocket', Connection: 'Upgrade' } as const;

/** Up to 64 characters of a received value, quoted, for error messages. */
function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

/**
 * Looks headers up case-insensitively: `node:http` gives lower-case names, but a record
 * written by hand may not. Values under names differing only in case are combined.
 */
function normalizeHeaders(headers: IncomingHeaders): Map<string, string[]> {
  return headerMap(headers);
}

/** Header lookup by lower-case name: a Map of normalized values, or the record itself. */
interface HeaderLookup {
  get(name: string): string | string[] | undefined;
}

/** Looks names up in a record whose names are all lower-case already. */
class LowerCaseRecord implements HeaderLookup {
  readonly #headers: IncomingHeaders;
  constructor(headers: IncomingHeaders) {
    this.#headers = headers;
  }
  get(name: string): string | string[] | undefined {
    return this.#headers[name];
  }
}

/** The headers a handshake reads, as indices of UpgradeHeaders' fields. */
const Field = { None: 0, Host: 1, Upgrade: 2, Connection: 3, Key: 4, Version: 5, Protocol: 6, Extensions: 7, Expect: 8 } as const;
type Field = (typeof Field)[keyof typeof Field];

/** By Field: the value nearly every client sends, where there is one. */
const USUAL_VALUES: readonly (string | undefined)[] = [undefined, undefined, 'websocket', 'Upgrade', undefined, '13', undefined, undefined, undefined];

/**
 * Which gathered header the name of `length` characters at `start` in `text` is.
 * Names are compared as sent by browsers and most clients first, then ignoring case.
 */
function fieldOf(text: string, start: number, length: number): Field {
  switch (length) {
    case 4:
      return isNamed(text, start, 'Host', 'host') ? Field.Host : Field.None;
    case 6:
      return isNamed(text, start, 'Expect', 'expect') ? Field.Expect : Field.None;
    case 7:
      return isNamed(text, start, 'Upgrade', 'upgrade') ? Field.Upgrade : Field.None;
    case 10:
      return isNamed(text, start, 'Connection', 'connection') ? Field.Connection : Field.None;
    case 17:
      return isNamed(text, start, 'Sec-WebSocket-Key', 'sec-websocket-key') ? Field.Key : Field.None;
    case 21:
      return isNamed(text, start, 'Sec-WebSocket-Version', 'sec-websocket-version') ? Field.Version : Field.None;
    case 22:
      return isNamed(text, start, 'Sec-WebSocket-Protocol', 'sec-websocket-protocol') ? Field.Protocol : Field.None;
    case 24:
      return isNamed(text, start, 'Sec-WebSocket-Extensions', 'sec-websocket-extensions') ? Field.Extensions : Field.None;
    default:
      return Field.None;
  }
}

/**
 * The headers a handshake reads, gathered from the header lines in one pass. Repeated
 * names are joined with ", ", as in a header record. Cheaper than building a record and
 * looking names up in it; from a parsed head (`visitHeaders`), only the values of these
 * headers are cut from its text.
 */
class UpgradeHeaders implements HeaderLookup, HeaderVisitor {
  host: string | undefined = undefined;
  upgrade: string | undefined = undefined;
  connection: string | undefined = undefined;
  key: string | undefined = undefined;
  version: string | undefined = undefined;
  protocol: string | undefined = undefined;
  extensions: string | undefined = undefined;
  expect: string | undefined = undefined;

  /** Gathers from `rawHeaders`: names as received and values, alternating. */
  static fromRaw(raw: readonly string[]): UpgradeHeaders {
    const headers = new UpgradeHeaders();
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const field = fieldOf(name, 0, name.length);
      if (field !== Field.None) headers.#add(field, raw[i + 1]!);
    }
    return headers;
  }

  /** HeaderVisitor: one header line of a parsed head. */
  header(text: string, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number): void {
    const field = fieldOf(text, nameStart, nameEnd - nameStart);
    if (field === Field.None) return;
    // A usual value is not cut from the text: the constant string stands for it.
    const usual = USUAL_VALUES[field];
    const isUsual = usual !== undefined && valueEnd - valueStart === usual.length && text.startsWith(usual, valueStart);
    this.#add(field, isUsual ? usual : text.slice(valueStart, valueEnd));
  }

  #add(field: Field, value: string): void {
    switch (field) {
      case Field.Host:
        this.host = joined(this.host, value);
        break;
      case Field.Upgrade:
        this.upgrade = joined(this.upgrade, value);
        break;
      case Field.Connection:
        this.connection = joined(this.connection, value);
        break;
      case Field.Key:
        this.key = joined(this.key, value);
        break;
      case Field.Version:
        this.version = joined(this.version, value);
        break;
      case Field.Protocol:
        this.protocol = joined(this.protocol, value);
        break;
      case Field.Extensions:
        this.extensions = joined(this.extensions, value);
        break;
      case Field.Expect:
        this.expect = joined(this.expect, value);
        break;
    }
  }

  get(name: string): string | undefined {
    switch (name) {
      case 'host':
        return this.host;
      case 'upgrade':
        return this.upgrade;
      case 'connection':
        return this.connection;
      case 'sec-websocket-key':
        return this.key;
      case 'sec-websocket-version':
        return this.version;
      case 'sec-websocket-protocol':
        return this.protocol;
      case 'sec-websocket-extensions':
        return this.extensions;
      case 'expect':
        return this.expect;
      default:
        throw new Error(`the handshake does not gather the header ${name}`);
    }
  }
}

function joined(previous: string | undefined, value: string): string {
  return previous === undefined ? value : `${previous}, ${value}`;
}

/**
 * Whether the header name at `start` in `text` is `lowerCase` ignoring ASCII case
 * (`usual` is its usual spelling, compared first). The name has that length.
 */
function isNamed(text: string, start: number, usual: string, lowerCase: string): boolean {
  if (text.startsWith(usual, start) || text.startsWith(lowerCase, start)) return true;
  for (let i = 0; i < lowerCase.length; i++) {
    const c = text.charCodeAt(start + i);
    const l = lowerCase.charCodeAt(i);
    if (c !== l && !(l >= 0x61 && l <= 0x7a && c === l - 0x20)) return false;
  }
  return true;
}

/**
 * The request's headers for lookup: the record itself when every name is lower-case
 * (as `node:http` and `parseRequestHead` give them: no copy), else a normalized Map.
 */
function headerLookup(headers: IncomingHeaders): HeaderLookup {
  for (const name in headers) {
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c >= 0x41 && c <= 0x5a) return headerMap(headers);
    }
  }
  return new LowerCaseRecord(headers);
}

function headerMap(headers: IncomingHeaders): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const values = map.get(key) ?? [];
    if (typeof value === 'string') values.push(value);
    else values.push(...value);
    map.set(key, values);
  }
  return map;
}

function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/** A list-valued header: repeated lines joined with ", " (RFC 9110 §5.3). */
function listHeader(headers: HeaderLookup, name: string): string | undefined {
  const value = headers.get(name);
  return value === undefined || typeof value === 'string' ? value : value.join(', ');
}

/**
 * A single-valued header. Repeats arrive either as an array or joined with ", " (as
 * `parseRequestHead` and `node:http` do for most headers); both are rejected.
 */
function singleHeader(
  headers: HeaderLookup,
  name: string,
  display: string,
  status: number,
  errorHeaders: () => Record<string, string> = noHeaders,
): string | undefined {
  const values = headers.get(name);
  if (values === undefined) return undefined;
  if (typeof values === 'string') return trimOws(values);
  if (values.length === 0) return undefined;
  if (values.length > 1) {
    throw new HandshakeError(status, `${display} must appear once, got ${values.length} values`, errorHeaders());
  }
  return trimOws(values[0]!);
}

function noHeaders(): Record<string, string> {
  return {};
}

/** Headers of the 426 answer to a missing or unsupported Sec-WebSocket-Version. */
function versionHeaders(): Record<string, string> {
  return { ...UPGRADE_REQUIRED_HEADERS, 'Sec-WebSocket-Version': String(WEBSOCKET_VERSION) };
}

/** Whether a comma list contains `token`, ignoring ASCII case. */
function hasToken(list: readonly string[], token: string): boolean {
  return list.some((item) => item.toLowerCase() === token);
}

const IS_BASE64 = new Uint8Array(128);
for (let i = 0; i < BASE64_ALPHABET.length; i++) IS_BASE64[BASE64_ALPHABET.charCodeAt(i)] = 1;

/** Decoded length of padded standard base64, or -1 when `value` is not such base64. */
function base64Length(value: string): number {
  if (value.length % 4 !== 0) return -1;
  let padding = 0;
  if (value.endsWith('==')) padding = 2;
  else if (value.endsWith('=')) padding = 1;
  for (let i = 0; i < value.length - padding; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128 || IS_BASE64[c] !== 1) return -1;
  }
  return (value.length / 4) * 3 - padding;
}

/** A valid key, checked at once: 21 base64 characters, `A`, `Q`, `g` or `w`, then `==`. */
const CANONICAL_KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/**
 * Describes what is wrong with a `Sec-WebSocket-Key`, or returns `undefined` when it is
 * canonical base64 of 16 bytes (RFC 6455 §4.1: "a randomly selected 16-byte value that
 * has been base64-encoded"): 22 characters, the last of which carries 2 bits and must
 * leave the 4 unused bits zero (`A`, `Q`, `g` or `w`), then `==`.
 */
function keyProblem(key: string): string | undefined {
  if (CANONICAL_KEY.test(key)) return undefined;
  const length = base64Length(key);
  if (length === -1) return `Sec-WebSocket-Key must be base64 of 16 bytes, got ${quote(key)}`;
  if (length !== 16) return `Sec-WebSocket-Key must be base64 of 16 bytes, got ${length} bytes`;
  if (!'AQgw'.includes(key[21]!)) return `Sec-WebSocket-Key must be canonical base64, got ${quote(key)}`;
  return undefined;
}

/** `"1.1"` → [1, 1]; `null` when not `digits.digits`. */
function parseHttpVersion(version: string): [major: number, minor: number] | null {
  const dot = version.indexOf('.');
  const major = version.slice(0, dot);
  const minor = version.slice(dot + 1);
  const isDigits = (s: string): boolean => s.length > 0 && s.length < 4 && [...s].every((c) => c >= '0' && c <= '9');
  if (dot === -1 || !isDigits(major) || !isDigits(minor)) return null;
  return [Number(major), Number(minor)];
}

/**
 * Validates a client's opening handshake (RFC 6455 §4.2.1) and returns what it offers.
 * Checks run in the RFC's order and the first failure is thrown; answer it with
 * `buildErrorResponse(error.status, error.message, error.headers)`.
 *
 * HTTP versions: below 1.1 is answered 400 (the RFC requires "at least 1.1"; 505 is
 * for an unsupported major version, RFC 9110 §15.6.6), a major version above 1 with
 * 505. Subprotocols are case-sensitive; `Upgrade` and `Connection` tokens are not.
 *
 * @param req The request method, HTTP version and headers (any name case).
 * @returns The key, the version (13), the offered subprotocols and extensions.
 * @throws {HandshakeError} 405 (with `Allow: GET`) for a method other than GET;
 *   400 for HTTP/1.0 or older, 505 for HTTP/2 and later; 400 for a missing or repeated
 *   `Host`; 426 (with `Upgrade` and `Connection`) when `Upgrade` lacks `websocket` or
 *   `Connection` lacks `upgrade`; 400 for a missing or malformed `Sec-WebSocket-Key`;
 *   426 (with `Sec-WebSocket-Version: 13`) when the version is missing or not 13;
 *   400 for malformed `Upgrade`, `Connection`, `Sec-WebSocket-Protocol` or
 *   `Sec-WebSocket-Extensions` values or repeated subprotocols.
 * @example
 * const { key, protocols } = validateUpgradeRequest(req);
 * socket.write(buildAcceptResponse({ key, protocol: protocols.includes('chat') ? 'chat' : undefined }), 'latin1');
 */
export function validateUpgradeRequest(req: UpgradeRequestLike): UpgradeRequestInfo {
  let headers = req.headers;
  // Several Host lines: validated joined, as validateUpgradeHead sees them (and refused).
  const hosts = repeatedHeaderValues(req.rawHeaders, 'host');
  if (hosts !== null) headers = { ...headers, host: hosts.join(', ') };
  return validateUpgrade(req.method, req.httpVersion, headerLookup(headers));
}

/**
 * `validateUpgradeRequest` for a head as received, read from its `rawHeaders` (names
 * in any case; repeated names count as joined with ", "): no header record is built.
 * For a request nothing can have changed since it was parsed; a request that code may
 * have edited (`handleUpgrade`'s) is validated from its `headers`, as `ws` does.
 */
export function validateUpgradeHead(head: UpgradeHeadLike): UpgradeRequestInfo {
  let headers: UpgradeHeaders;
  if (head.visitHeaders === undefined) {
    headers = UpgradeHeaders.fromRaw(head.rawHeaders);
  } else {
    headers = new UpgradeHeaders();
    head.visitHeaders(headers);
  }
  return validateUpgrade(head.method, head.httpVersion, headers);
}

/**
 * A `Host` value (RFC 9110 §7.2): uri-host [":" port] as RFC 3986 §3.2.2 defines them:
 * an IP literal in brackets (an IPv6 zone id after `%` or `%25` accepted, RFC 6874, as
 * node:http sends it), or a registered name or IPv4 address (unreserved
 * characters, percent-encodings and sub-delims, but for the comma: two Host lines
 * joined are refused as such), then an optional port of digits.
 */
const HOST_VALUE = /^(?:\[(?:[0-9A-Fa-f:.]+(?:%(?:25)?[\w.~-]+)?|[vV][0-9A-Fa-f]+\.[\w.~!$&'()*+;=:-]+)\]|(?:[\w.~!$&'()*+;=-]|%[0-9A-Fa-f]{2})+)(?::[0-9]*)?$/;

function validateUpgrade(method: string, httpVersion: string, headers: HeaderLookup): UpgradeRequestInfo {
  // RFC 6455 §4.2.1 item 1: an HTTP/1.1 or higher GET request.
  if (method !== 'GET') {
    throw new HandshakeError(405, `WebSocket upgrade requires method GET, got ${quote(method)}`, { Allow: 'GET' });
  }
  if (httpVersion !== '1.1') {
    const version = parseHttpVersion(httpVersion);
    if (version === null || version[0] < 1 || (version[0] === 1 && version[1] < 1)) {
      throw new HandshakeError(400, `WebSocket upgrade requires HTTP/1.1 or later, got HTTP/${httpVersion}`);
    }
    if (version[0] > 1) {
      throw new HandshakeError(505, `WebSocket upgrade over HTTP/${httpVersion} is not supported: use HTTP/1.1`);
    }
  }

  // Item 2: a |Host| header field (RFC 9112 §3.2: exactly one, valid, else 400).
  const host = singleHeader(headers, 'host', 'Host', 400);
  if (host === undefined || host === '') throw new HandshakeError(400, 'Host header is missing');
  if (!HOST_VALUE.test(host)) throw new HandshakeError(400, `Host must be a single host[:port], got ${quote(host)}`);

  // Items 3 and 4: |Upgrade| containing "websocket", |Connection| containing "Upgrade",
  // both ASCII case-insensitive.
  const upgrade = listHeader(headers, 'upgrade');
  // The usual values, a list of exactly that one token, need no parsing.
  if (upgrade === undefined || (upgrade !== 'websocket' && !hasToken(parseProtocolList(upgrade, 'Upgrade'), 'websocket'))) {
    const got = upgrade === undefined ? 'no Upgrade header' : quote(upgrade);
    throw new HandshakeError(426, `Upgrade header must include "websocket", got ${got}`, { ...UPGRADE_REQUIRED_HEADERS });
  }
  const connection = listHeader(headers, 'connection');
  if (connection === undefined || (connection !== 'Upgrade' && connection !== 'upgrade' && !hasToken(parseTokenList(connection, 'Connection'), 'upgrade'))) {
    const got = connection === undefined ? 'no Connection header' : quote(connection);
    throw new HandshakeError(426, `Connection header must include "Upgrade", got ${got}`, { ...UPGRADE_REQUIRED_HEADERS });
  }

  // Item 5: |Sec-WebSocket-Key|, base64 of 16 bytes.
  const key = singleHeader(headers, 'sec-websocket-key', 'Sec-WebSocket-Key', 400);
  if (key === undefined) throw new HandshakeError(400, 'Sec-WebSocket-Key header is missing');
  if (key.includes(',')) throw new HandshakeError(400, 'Sec-WebSocket-Key must appear once, got a list');
  const problem = keyProblem(key);
  if (problem !== undefined) throw new HandshakeError(400, problem);

  // Item 6 and §4.4: any version but 13 gets 426 listing the versions we speak.
  const wsVersion = singleHeader(headers, 'sec-websocket-version', 'Sec-WebSocket-Version', 426, versionHeaders);
  if (wsVersion === undefined) {
    throw new HandshakeError(426, 'Sec-WebSocket-Version header is missing: this server speaks version 13', versionHeaders());
  }
  if (wsVersion !== '13') {
    throw new HandshakeError(426, `Sec-WebSocket-Version must be 13, got ${quote(wsVersion)}`, versionHeaders());
  }

  // Item 8: |Sec-WebSocket-Protocol| = 1#token, elements unique (§4.1 item 10).
  let protocols = NO_PROTOCOLS;
  const protocolHeader = listHeader(headers, 'sec-websocket-protocol');
  if (protocolHeader !== undefined) {
    protocols = parseTokenList(protocolHeader, 'Sec-WebSocket-Protocol');
    if (protocols.length === 0) throw new HandshakeError(400, 'Sec-WebSocket-Protocol lists no subprotocol');
    const seen = new Set<string>();
    for (const protocol of protocols) {
      if (seen.has(protocol)) throw new HandshakeError(400, `Sec-WebSocket-Protocol lists ${quote(protocol)} twice`);
      seen.add(protocol);
    }
  }

  // Item 9: |Sec-WebSocket-Extensions| (§9.1 grammar).
  const extensionHeader = listHeader(headers, 'sec-websocket-extensions');
  const extensions = extensionHeader === undefined ? NO_EXTENSIONS : parseExtensions(extensionHeader);

  // RFC 9110 §7.8: a server that receives Upgrade with "Expect: 100-continue" MUST send
  // a 100 (Continue) response before the 101.
  const expect = listHeader(headers, 'expect');
  const expectContinue = expect !== undefined && expect.split(',').some((item) => item.trim().toLowerCase() === '100-continue');

  return { key, version: WEBSOCKET_VERSION, protocols, extensions, expectContinue };
}

/** The interim answer to `Expect: 100-continue`, written before the 101 (RFC 9110 §7.8). */
export const CONTINUE_RESPONSE = 'HTTP/1.1 100 Continue\r\n\r\n';

/** Headers `buildAcceptResponse` writes itself; extra headers may not repeat them. */
const RESPONSE_HEADERS = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/**
 * Headers `buildUpgradeRequest` writes itself; extra headers may not repeat them. `Host`
 * and `Origin` may be given: they replace the computed ones, as in `ws`.
 */
const REQUEST_HEADERS = new Set([
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/**
 * The extra headers as name/value pairs, refusing names that are not tokens, names in
 * `reserved` and values with CR, LF or NUL.
 */
function headerPairs(headers: ExtraHeaders | undefined, reserved: ReadonlySet<string>): Array<readonly [string, string]> {
  if (headers === undefined) return [];
  const pairs: Array<readonly [string, string]> = [];
  if (Array.isArray(headers)) {
    pairs.push(...(headers as ReadonlyArray<readonly [string, string]>));
  } else {
    for (const [name, value] of Object.entries(headers as Record<string, HeaderValue | ReadonlyArray<HeaderValue>>)) {
      // As node:http takes them: a number (or any value but undefined) as its string.
      if (Array.isArray(value)) for (const item of value) pairs.push([name, headerValue(name, item)]);
      else pairs.push([name, headerValue(name, value)]);
    }
  }
  for (const [name, value] of pairs) {
    if (!isToken(name)) throw new TypeError(`header name must be a token, got ${quote(String(name))}`);
    if (reserved.has(name.toLowerCase())) throw new TypeError(`header ${name} is computed here and cannot be set`);
    checkValue(name, value);
  }
  return pairs;
}

/** A header value given as any value but undefined or null, as its string. */
function headerValue(name: string, value: unknown): string {
  if (value === undefined || value === null) throw new TypeError(`value of header ${name} is ${value}`);
  return typeof value === 'string' ? value : String(value);
}

/**
 * Refuses what a header value may not hold, as node:http does: CR, LF and NUL (they
 * would let it inject headers or a body), other control characters, and characters
 * above U+00FF. Heads are written as latin1, one byte per character (RFC 9110 §5.5:
 * visible ASCII, space, tab and obs-text).
 */
function checkValue(name: string, value: string): string {
  if (typeof value !== 'string') throw new TypeError(`value of header ${name} must be a string`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x00) {
      throw new TypeError(`value of header ${name} must not contain CR, LF or NUL`);
    }
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
      throw new TypeError(`value of header ${name} holds U+${c.toString(16).toUpperCase().padStart(4, '0')}: a header value is text of latin1 characters without controls`);
    }
  }
  return value;
}

/** Options of `buildAcceptResponse`. */
export interface AcceptResponseOptions {
  /** The client's `Sec-WebSocket-Key` (`UpgradeRequestInfo.key`). */
  key: string;
  /** The chosen subprotocol: one the client offered. Omit to select none. */
  protocol?: string | undefined;
  /** The accepted extensions, already formatted (`formatExtensions`). Omit or `''` for none. */
  extensions?: string | undefined;
  /** More headers, such as `Set-Cookie`. Handshake headers cannot be overridden. */
  headers?: ExtraHeaders | undefined;
}

/** Every 101 answer up to its accept value. */
const ACCEPT_HEAD = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ';
const ACCEPT_HEAD_BYTES = Buffer.from(ACCEPT_HEAD, 'latin1');

/**
 * `buildAcceptResponse({ key })` as bytes: the answer of an upgrade with no
 * subprotocol, extension or extra header, as most are. The accept value is encoded
 * straight into the buffer: no string is made.
 *
 * @returns null for a key that is not 24 ASCII characters (no valid key): use
 *   buildAcceptResponse.
 */
export function plainAcceptResponse(key: string): Buffer | null {
  const length = ACCEPT_HEAD_BYTES.length;
  const response = Buffer.allocUnsafe(length + ACCEPT_LENGTH + 4);
  if (!writeAcceptOfKey(key, response, length)) return null;
  response.set(ACCEPT_HEAD_BYTES, 0);
  response.writeUInt32BE(0x0d0a0d0a, length + ACCEPT_LENGTH); // CRLF CRLF
  return response;
}

/**
 * Builds the server's `101 Switching Protocols` response (RFC 6455 §4.2.2 step 5).
 *
 * @param options The key, the selected subprotocol and extensions, extra headers.
 * @returns The complete head, ending with an empty line; write it as latin1 (as
 *   node:http writes heads: `socket.write(head, 'latin1')`), then speak WebSocket.
 * @throws {TypeError} when `protocol` is not a token, or when an extra header has a
 *   name that is not a token, sets a handshake header, or has CR, LF, NUL, another
 *   control character or a character above U+00FF in its value.
 * @example
 * buildAcceptResponse({ key: 'dGhlIHNhbXBsZSBub25jZQ==', protocol: 'chat' });
 * // 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
 * // 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n'
 */
export function buildAcceptResponse(options: AcceptResponseOptions): string {
  let head = `${ACCEPT_HEAD}${computeAccept(options.key)}\r\n`;
  if (options.protocol !== undefined) {
    if (!isToken(options.protocol)) throw new TypeError(`subprotocol must be a token, got ${quote(options.protocol)}`);
    head += `Sec-WebSocket-Protocol: ${options.protocol}\r\n`;
  }
  if (options.extensions !== undefined && options.extensions !== '') {
    head += `Sec-WebSocket-Extensions: ${checkValue('Sec-WebSocket-Extensions', options.extensions)}\r\n`;
  }
  if (options.headers !== undefined) {
    for (const [name, value] of headerPairs(options.headers, RESPONSE_HEADERS)) head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

/** Reason phrases (RFC 9110 §15) for the statuses a handshake may answer with. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  101: 'Switching Protocols',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  414: 'URI Too Long',
  421: 'Misdirected Request',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** Headers `buildErrorResponse` computes itself. */
const ERROR_RESPONSE_HEADERS = new Set(['content-length', 'transfer-encoding']);

/**
 * Builds a complete HTTP/1.1 response that refuses an upgrade: status line,
 * `Connection: close`, a plain-text body of one line and its `Content-Length`. Write
 * it and close the socket.
 *
 * A `Connection` value among `headers` (such as the `Upgrade` of a 426) is sent with
 * `close` added; a `Content-Type` among them replaces the default.
 *
 * @param status An HTTP status from 300 to 599, usually `HandshakeError.status`.
 * @param message The body: CR and LF are replaced by spaces and a LF is appended.
 * @param headers More headers, usually `HandshakeError.headers`.
 * @returns The response, head and body. Header values above U+007F (latin1's upper
 *   half) go on the wire as one byte each only if the head is written as latin1 (the
 *   body is UTF-8): `socket.end(response)` writes both as UTF-8.
 * @throws {RangeError} when `status` is not an integer from 300 to 599.
 * @throws {TypeError} for a header name that is not a token, a value with CR, LF, NUL,
 *   another control character or a character above U+00FF, or a `Content-Length` /
 *   `Transfer-Encoding` header.
 * @example
 * catch (error) {
 *   if (error instanceof HandshakeError) socket.end(buildErrorResponse(error.status, error.message, error.headers));
 * }
 */
export function buildErrorResponse(status: number, message: string, headers?: ExtraHeaders): string {
  if (!Number.isInteger(status) || status < 300 || status > 599) {
    throw new RangeError(`status of an error response must be an integer from 300 to 599, got ${status}`);
  }
  const body = `${message.replace(/[\r\n]+/g, ' ')}\n`;
  let connection = 'close';
  let contentType = 'text/plain; charset=utf-8';
  const rest: string[] = [];
  for (const [name, value] of headerPairs(headers, ERROR_RESPONSE_HEADERS)) {
    const key = name.toLowerCase();
    if (key === 'connection') {
      let tokens: string[];
      try {
        tokens = parseTokenList(value, 'Connection');
      } catch {
        throw new TypeError(`Connection header must be a list of tokens, got ${quote(value)}`);
      }
      connection = hasToken(tokens, 'close') ? value : `${value}, close`;
    } else if (key === 'content-type') {
      contentType = value;
    } else {
      rest.push(`${name}: ${value}`);
    }
  }
  const reason = STATUS_TEXT[status] ?? '';
  const lines = [
    `HTTP/1.1 ${status} ${reason}`,
    `Connection: ${connection}`,
    `Content-Type: ${contentType}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...rest,
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * Generates a `Sec-WebSocket-Key`: 16 random bytes from the CSPRNG, base64-encoded
 * (RFC 6455 §4.1 item 7). Use a fresh key for every connection attempt.
 *
 * @returns A 24-character key such as `dGhlIHNhbXBsZSBub25jZQ==`.
 */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/** Options of `buildUpgradeRequest`. */
export interface UpgradeRequestOptions {
  /** `Host` value: the host, with `:port` when not the scheme's default (80, 443). */
  host: string;
  /** Path and query, starting with `/`, already percent-encoded (as `URL` gives it). */
  path: string;
  /** From `generateKey()`. */
  key: string;
  /** Subprotocols to offer, in order of preference. */
  protocols?: readonly string[] | undefined;
  /** Extension offers, already formatted (`formatExtensions`). */
  extensions?: string | undefined;
  /** `Origin` value, sent when given (browsers always send one); wins over one in `headers`. */
  origin?: string | undefined;
  /**
   * More headers, such as `Authorization`. A `Host` or `Origin` here replaces the
   * computed one; the other handshake headers cannot be overridden.
   */
  headers?: ExtraHeaders | undefined;
}

/**
 * Builds a client's opening handshake (RFC 6455 §4.1).
 *
 * @param options Host, path, key, offered subprotocols and extensions, extra headers.
 * @returns The request head, ending with an empty line; write it as latin1, then read
 *   the response head and check it with `validateUpgradeResponse`.
 * @throws {SyntaxError} when a subprotocol is not a token or appears twice (as the
 *   `WebSocket` constructor of browsers does).
 * @throws {TypeError} for a path not starting with `/` or holding spaces or control
 *   characters, a host with spaces or control characters, a key that is not base64 of
 *   16 bytes, or a bad extra header (see `buildAcceptResponse`).
 * @example
 * const key = generateKey();
 * socket.write(buildUpgradeRequest({ host: 'example.com:8080', path: '/chat', key, protocols: ['chat'] }), 'latin1');
 */
export function buildUpgradeRequest(options: UpgradeRequestOptions): string {
  const { host, path, key } = options;
  if (path[0] !== '/' || !isVisibleAscii(path)) {
    throw new TypeError(`path must start with "/" and contain only visible ASCII, got ${quote(path)}`);
  }
  if (host === '' || !isVisibleAscii(host)) {
    throw new TypeError(`host must be non-empty visible ASCII, got ${quote(host)}`);
  }
  const problem = keyProblem(key);
  if (problem !== undefined) throw new TypeError(problem);
  const extra = headerPairs(options.headers, REQUEST_HEADERS);
  // A Host given in `headers` replaces the computed one (a virtual host, a tunnel).
  const hosts = extra.filter(([name]) => name.toLowerCase() === 'host');
  if (hosts.length > 1) throw new TypeError('headers hold more than one Host');
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${hosts.length === 1 ? hosts[0]![1] : host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    `Sec-WebSocket-Version: ${WEBSOCKET_VERSION}`,
  ];
  const protocols = options.protocols ?? [];
  if (protocols.length > 0) {
    const seen = new Set<string>();
    for (const protocol of protocols) {
      if (!isToken(protocol)) throw new SyntaxError(`subprotocol must be a token, got ${quote(protocol)}`);
      if (seen.has(protocol)) throw new SyntaxError(`subprotocol ${quote(protocol)} is listed twice`);
      seen.add(protocol);
    }
    lines.push(`Sec-WebSocket-Protocol: ${protocols.join(', ')}`);
  }
  if (options.extensions !== undefined && options.extensions !== '') {
    lines.push(`Sec-WebSocket-Extensions: ${checkValue('Sec-WebSocket-Extensions', options.extensions)}`);
  }
  // The `origin` option wins over an Origin in `headers`, as in `ws`.
  if (options.origin !== undefined) lines.push(`Origin: ${checkValue('Origin', options.origin)}`);
  for (const [name, value] of extra) {
    const lower = name.toLowerCase();
    if (lower === 'host' || (lower === 'origin' && options.origin !== undefined)) continue;
    lines.push(`${name}: ${value}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function isVisibleAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** What the client offered, to check the response against. */
export interface ExpectedResponse {
  /** The `Sec-WebSocket-Key` the client sent. */
  key: string;
  /** The subprotocols the client offered; empty when none. */
  protocols: readonly string[];
  /** Names of the extensions the client offered; none when omitted. */
  extensionNames?: readonly string[] | undefined;
}

/** What a valid server response selected. */
export interface UpgradeResponseInfo {
  /** The selected subprotocol, `''` when the server selected none. */
  protocol: string;
  /** The accepted extensions with their parameters, for the extension's own negotiation. */
  extensions: ExtensionOffer[];
}

/**
 * Validates the server's response to the opening handshake (RFC 6455 §4.1, "the client
 * MUST validate the server's response"). The parameters of accepted extensions are
 * returned unchecked; each extension validates its own (permessage-deflate, RFC 7692).
 *
 * A response without `Sec-WebSocket-Protocol` to a request that offered subprotocols
 * fails, as in browsers (the WHATWG WebSocket standard) and `ws`, although RFC 6455
 * lets a server select none: a client that offers subprotocols expects one of them.
 *
 * An interim response (1xx but 101: `100 Continue`, `103 Early Hints`) is not the
 * answer: skip it and validate the response head that follows (RFC 9110 §15.2; the
 * node client does so). Given one, this throws and says so.
 *
 * @param res The response status and headers (any name case).
 * @param expected The key, subprotocols and extension names the client sent.
 * @returns The selected subprotocol and the accepted extensions.
 * @throws {HandshakeError} with the received status when the status is not 101, when
 *   `Upgrade` is not `websocket` or `Connection` lacks `upgrade`, when
 *   `Sec-WebSocket-Accept` is missing or wrong, when the subprotocol was not offered
 *   (or any is sent when none was), or when an extension was not offered or its
 *   header is malformed. Fail the connection: the client MUST NOT speak WebSocket.
 */
export function validateUpgradeResponse(
  res: { status: number; headers: IncomingHeaders },
  expected: ExpectedResponse,
): UpgradeResponseInfo {
  const { status } = res;
  // RFC 6455 §4.1: "If the status code received from the server is not 101, the client
  // handles the response per HTTP procedures" – for a WebSocket client, a failure.
  if (status !== 101) {
    if (status >= 100 && status < 200) {
      throw new HandshakeError(status, `interim response ${status}: skip it and validate the response that follows (RFC 9110 §15.2)`);
    }
    throw new HandshakeError(status, `Unexpected server response: ${status}`);
  }
  const headers = normalizeHeaders(res.headers);
  const fail = (message: string): HandshakeError => new HandshakeError(status, message);
  const tokens = (name: string, display: string, parse: (v: string, h: string) => string[]): string[] | undefined => {
    const value = listHeader(headers, name);
    if (value === undefined) return undefined;
    try {
      return parse(value, display);
    } catch (error) {
      throw fail((error as Error).message);
    }
  };

  // Item 2: |Upgrade| must be "websocket" (ASCII case-insensitive), not a list holding it.
  const upgrade = tokens('upgrade', 'Upgrade', parseProtocolList);
  if (upgrade === undefined || upgrade.length !== 1 || !hasToken(upgrade, 'websocket')) {
    const got = upgrade ? quote(upgrade.join(', ')) : 'none';
    throw fail(`Upgrade header of the response must be "websocket", got ${got}`);
  }
  // Item 3: |Connection| must hold the token "Upgrade" (ASCII case-insensitive).
  const connection = tokens('connection', 'Connection', parseTokenList);
  if (connection === undefined || !hasToken(connection, 'upgrade')) {
    const got = connection ? quote(connection.join(', ')) : 'none';
    throw fail(`Connection header of the response must include "Upgrade", got ${got}`);
  }

  // Item 4: |Sec-WebSocket-Accept| must be base64(SHA-1(key + GUID)).
  const accept = headers.get('sec-websocket-accept');
  if (accept === undefined) throw fail('Sec-WebSocket-Accept header is missing');
  const acceptValue = trimOws(accept.join(', '));
  if (acceptValue !== computeAccept(expected.key)) throw fail(`Sec-WebSocket-Accept is wrong: got ${quote(acceptValue)}`);

  let protocol = '';
  const protocolValues = headers.get('sec-websocket-protocol');
  if (protocolValues !== undefined) {
    protocol = trimOws(protocolValues.join(', '));
    if (expected.protocols.length === 0) {
      throw fail(`server selected subprotocol ${quote(protocol)} but none was offered`);
    }
    // RFC 6455 §4.1 item 6: the value must be one of the offered subprotocols.
    if (!expected.protocols.includes(protocol)) {
      throw fail(`server selected subprotocol ${quote(protocol)}, which was not offered`);
    }
  } else if (expected.protocols.length > 0) {
    throw fail(`server selected no subprotocol; offered ${expected.protocols.map(quote).join(', ')}`);
  }

  let extensions: ExtensionOffer[] = [];
  const extensionValue = listHeader(headers, 'sec-websocket-extensions');
  if (extensionValue !== undefined) {
    try {
      extensions = parseExtensions(extensionValue);
    } catch (error) {
      throw fail((error as Error).message);
    }
    // RFC 6455 §4.1 item 5: only extensions the client asked for may be in use.
    const offered = expected.extensionNames ?? [];
    for (const extension of extensions) {
      if (!offered.includes(extension.name)) {
        throw fail(`server accepted extension ${quote(extension.name)}, which was not offered`);
      }
    }
  }
  return { protocol, extensions };
}
