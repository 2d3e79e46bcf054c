/**
 * Incremental HTTP/1.1 head parsers (RFC 9112 §2–§5) for the two heads a WebSocket
 * endpoint may read from a raw socket: the upgrade request (server side) and the
 * `101 Switching Protocols` response (client side).
 *
 * `RequestHeadParser` and `ResponseHeadParser` take bytes as they arrive (`push`) and
 * look at each byte once: feeding 16 KiB one byte at a time costs the same as one
 * 16 KiB chunk. Limits are enforced while scanning, so a peer can never make us buffer
 * more than `maxHeaderBytes`. `parseRequestHead` / `parseResponseHead` are one-shot
 * forms for a buffer that is already whole; calling them again on a growing buffer
 * rescans it, so use the classes for bytes that arrive over time.
 *
 * The grammar is applied strictly, because a lenient head parser in front of other
 * HTTP software invites request smuggling:
 * - lines end with CRLF; a bare LF or bare CR anywhere in the head is rejected
 *   (RFC 9112 §2.2 allows, but does not require, accepting a bare LF);
 * - obsolete line folding, whitespace before the colon, header names that are not
 *   tokens and control characters in values are rejected (RFC 9112 §5.1, §5.2);
 * - empty lines before a request line are skipped (RFC 9112 §2.2 SHOULD);
 * - a request whose body length is ambiguous is rejected (RFC 9112 §6.3), as node:http
 *   rejects it: `Content-Length` other than one line of digits, `Transfer-Encoding`
 *   with `Content-Length`, or a `Transfer-Encoding` whose last coding is not chunked.
 *   What follows an upgrade's head is read as WebSocket frames, so a proxy in front
 *   must not be able to read a different request out of the same bytes.
 *
 * Request faults are `HandshakeError` 400 (414 for a long request line, 431 for too
 * many or too large headers). Response faults are `HandshakeError` with the received
 * status, or 0 when the status line itself is bad.
 */
import { HandshakeError, InvalidStateError } from './errors.js';
import { isOws, isTokenChar } from './headers.js';

/** Size and count limits of a head. Every field has a safe default. */
export interface HeadLimits {
  /** Largest head in bytes, start line and final CRLFCRLF included. Default 16384. */
  maxHeaderBytes?: number;
  /** Most header lines. Default 100. */
  maxHeaders?: number;
  /** Longest start line in bytes, CRLF excluded. Default 8192. */
  maxRequestLineBytes?: number;
}

/** Default `maxHeaderBytes`: 16 KiB, like Node's `--max-http-header-size`. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** Default `maxHeaders`. */
export const DEFAULT_MAX_HEADERS = 100;
/** Default `maxRequestLineBytes`. */
export const DEFAULT_MAX_REQUEST_LINE_BYTES = 8 * 1024;

/** Fields common to request and response heads. */
interface HeadFields {
  /** `"1.1"` for `HTTP/1.1`, as Node's `message.httpVersion`. */
  httpVersion: string;
  /**
   * Header values by lower-case name. Repeated header lines are joined with `", "`,
   * so a repeated single-valued header (`Host`, `Sec-WebSocket-Key`) becomes invalid.
   * Built from `rawHeaders` when first read (as Node's `message.headers` is).
   */
  readonly headers: Record<string, string>;
  /**
   * Names (as received) and values, alternating, as Node's `message.rawHeaders`. Cut
   * from the head's text when first read.
   */
  readonly rawHeaders: string[];
  /** Shows `visitor` each header line in order, without making strings of them. */
  visitHeaders(visitor: HeaderVisitor): void;
  /** Bytes of the head including the final CRLFCRLF; what follows belongs to the next layer. */
  headBytes: number;
}

/** A parsed request head. */
export interface RequestHead extends HeadFields {
  method: string;
  /** The request-target as sent, for example `/chat?room=1`. */
  target: string;
}

/** A parsed response head. */
export interface ResponseHead extends HeadFields {
  status: number;
  statusText: string;
  /** `status`, under the name node:http's `IncomingMessage` gives it. */
  readonly statusCode: number;
  /** `statusText`, under the name node:http's `IncomingMessage` gives it. */
  readonly statusMessage: string;
}

const HT = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
/** Bytes decoded first when looking for the end of a head that arrived whole (most fit). */
const FIRST_WINDOW = 1024;
/**
 * Valid header lines and the empty line after them (RFC 9110 §5.5, RFC 9112 §5): a
 * token, a colon, then HTAB, SP, VCHAR and obs-text up to CRLF. Tested from the end of
 * the start line, it matches up to the end of a head whose every header line is valid.
 */
const HEADER_LINES = /(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*\r\n/y;

type Kind = 'request' | 'response';

/** Field value bytes (RFC 9110 §5.5): HTAB, SP, VCHAR, obs-text. */
function isFieldValueByte(b: number): boolean {
  return b === HT || (b >= SP && b !== 0x7f);
}

/**
 * The prototype of parsed header records: no properties, no prototype of its own, so a
 * record inherits no keys (as with `Object.create(null)`); unlike such an object, a
 * record with this prototype stays in V8's fast mode, which makes building and reading
 * it about twice as cheap.
 */
const NO_INHERITED_KEYS: object = Object.freeze(Object.create(null) as object);

/**
 * The header record of `rawHeaders` (names as received and values, alternating): values
 * by lower-case name, repeated names joined with `", "`, no inherited keys.
 */
export function headerRecord(rawHeaders: readonly string[]): Record<string, string> {
  const headers = Object.create(NO_INHERITED_KEYS) as Record<string, string>;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    const previous = headers[key];
    headers[key] = previous === undefined ? value : `${previous}, ${value}`;
  }
  return headers;
}

/**
 * Names of which node:http's `IncomingMessage` keeps only the first value in `headers`
 * (it drops the later lines, as it does for these in every Node.js version since 0.x).
 */
const FIRST_VALUE_ONLY: ReadonlySet<string> = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/**
 * The header record of `rawHeaders` as node:http's `IncomingMessage.headers` builds it:
 * values by lower-case name; repeated `Set-Cookie` lines in an array, repeated `Cookie`
 * lines joined with `"; "` (RFC 9113 §8.2.3), the first value only of the names above,
 * other repeated names joined with `", "`. No inherited keys, as `headerRecord`.
 */
export function incomingHeaderRecord(rawHeaders: readonly string[]): Record<string, string | string[]> {
  const headers = Object.create(NO_INHERITED_KEYS) as Record<string, string | string[]>;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    const previous = headers[key];
    if (previous === undefined) headers[key] = key === 'set-cookie' ? [value] : value;
    else if (typeof previous !== 'string') previous.push(value);
    else if (key === 'cookie') headers[key] = `${previous}; ${value}`;
    else if (!FIRST_VALUE_ONLY.has(key)) headers[key] = `${previous}, ${value}`;
  }
  return headers;
}

/** Every value of `rawHeaders` by lower-case name, as node:http's `IncomingMessage.headersDistinct`. */
export function distinctHeaderRecord(rawHeaders: readonly string[]): Record<string, string[]> {
  const headers = Object.create(null) as Record<string, string[]>;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    const previous = headers[key];
    if (previous === undefined) headers[key] = [value];
    else previous.push(value);
  }
  return headers;
}

/**
 * The values of `rawHeaders`' lines named `name` (lower case; matched in any case) when
 * there are several, else null. node:http keeps only the first line of some names
 * (`Host`, `Authorization`: FIRST_VALUE_ONLY) in `headers`; the raw lines show the rest.
 */
export function repeatedHeaderValues(rawHeaders: readonly string[] | undefined, name: string): string[] | null {
  if (rawHeaders === undefined) return null;
  let values: string[] | null = null;
  let first = -1;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const line = rawHeaders[i]!;
    if (line.length !== name.length || line.toLowerCase() !== name) continue;
    if (first === -1) first = i;
    else (values ??= [rawHeaders[first + 1]!]).push(rawHeaders[i + 1]!);
  }
  return values;
}

/**
 * Receives the header lines of a head one by one, as offsets into the head's text
 * (`visitHeaders`): name from `nameStart` to `nameEnd`, value (without surrounding
 * whitespace) from `valueStart` to `valueEnd`. Nothing is cut out of the text unless
 * the visitor does it, so a reader that wants a few headers pays for those only.
 */
export interface HeaderVisitor {
  header(text: string, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number): void;
}

/**
 * Calls `visitor.header` for each header line of `text`, a whole head already checked
 * by the parser, from the line starting at `start` to the empty line.
 */
function visitHeaderLines(text: string, start: number, visitor: HeaderVisitor): void {
  for (;;) {
    const end = text.indexOf('\r', start);
    if (end === start) return;
    const colon = text.indexOf(':', start);
    let valueStart = colon + 1;
    let valueEnd = end;
    while (valueStart < valueEnd && isOws(text.charCodeAt(valueStart))) valueStart++;
    while (valueEnd > valueStart && isOws(text.charCodeAt(valueEnd - 1))) valueEnd--;
    visitor.header(text, start, colon, valueStart, valueEnd);
    start = end + 2;
  }
}

/** Collects header lines as Node's `rawHeaders`: names as received and values, alternating. */
class RawHeaders implements HeaderVisitor {
  readonly list: string[] = [];
  header(text: string, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number): void {
    // obs-text survives byte for byte (latin1).
    this.list.push(text.slice(nameStart, nameEnd), text.slice(valueStart, valueEnd));
  }
}

/**
 * What request and response heads share. The head keeps its text; `rawHeaders` and
 * `headers` are cut from it when first read, so a reader that only visits a few headers
 * (the upgrade's validation) makes no string for the others.
 */
class Head {
  readonly httpVersion: string;
  readonly headBytes: number;
  readonly #text: string;
  /** Where the first header line starts in #text. */
  readonly #headersStart: number;
  #rawHeaders: string[] | undefined;
  #headers: Record<string, string> | undefined;

  constructor(httpVersion: string, text: string, headersStart: number) {
    this.httpVersion = httpVersion;
    this.headBytes = text.length;
    this.#text = text;
    this.#headersStart = headersStart;
  }

  get rawHeaders(): string[] {
    if (this.#rawHeaders === undefined) {
      const raw = new RawHeaders();
      this.visitHeaders(raw);
      this.#rawHeaders = raw.list;
    }
    return this.#rawHeaders;
  }

  get headers(): Record<string, string> {
    return (this.#headers ??= headerRecord(this.rawHeaders));
  }

  /** Shows `visitor` each header line in order, as offsets into the head's text. */
  visitHeaders(visitor: HeaderVisitor): void {
    visitHeaderLines(this.#text, this.#headersStart, visitor);
  }
}

class ParsedRequestHead extends Head implements RequestHead {
  readonly method: string;
  readonly target: string;

  constructor(method: string, target: string, httpVersion: string, text: string, headersStart: number) {
    super(httpVersion, text, headersStart);
    this.method = method;
    this.target = target;
  }
}

class ParsedResponseHead extends Head implements ResponseHead {
  readonly status: number;
  readonly statusText: string;

  constructor(status: number, statusText: string, httpVersion: string, text: string, headersStart: number) {
    super(httpVersion, text, headersStart);
    this.status = status;
    this.statusText = statusText;
  }

  get statusCode(): number {
    return this.status;
  }

  get statusMessage(): string {
    return this.statusText;
  }
}

/** What follows the head in its last chunk: usually nothing, then one shared empty buffer. */
const NO_REST = Buffer.alloc(0);

function restOf(chunk: Buffer, headEnd: number): Buffer {
  return headEnd === chunk.length ? NO_REST : chunk.subarray(headEnd);
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

/**
 * Shared scanner: finds the end of the head byte by byte across chunks, enforcing the
 * limits and CRLF discipline as it goes, then parses the completed head once.
 */
abstract class HeadParser<Parsed extends HeadFields> {
  readonly #kind: Kind;
  readonly #maxHeaderBytes: number;
  readonly #maxHeaders: number;
  readonly #maxStartLineBytes: number;
  #chunks: Buffer[] = [];
  /** Bytes scanned so far, all part of the head. */
  #scanned = 0;
  #lineStart = 0;
  #isAfterCr = false;
  #hasStartLine = false;
  #headerLines = 0;
  #rest: Buffer | undefined;
  #failure: unknown;

  constructor(kind: Kind, limits: HeadLimits = {}) {
    this.#kind = kind;
    this.#maxHeaderBytes = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.#maxHeaders = limits.maxHeaders ?? DEFAULT_MAX_HEADERS;
    this.#maxStartLineBytes = limits.maxRequestLineBytes ?? DEFAULT_MAX_REQUEST_LINE_BYTES;
  }

  /**
   * Bytes received after the head (the start of the WebSocket stream), once `push`
   * has returned a head; `undefined` before. A view into the last pushed chunk.
   */
  get rest(): Buffer | undefined {
    return this.#rest;
  }

  /**
   * Feeds the next bytes.
   *
   * @returns The head once its final CRLFCRLF has arrived, else `null` (push more).
   * @throws {HandshakeError} as soon as the bytes cannot start a valid head or exceed a
   *   limit; the parser then stays failed and throws the same error again.
   * @throws {InvalidStateError} when called after a head was returned.
   */
  push(chunk: Uint8Array): Parsed | null {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#rest !== undefined) throw new InvalidStateError('the HTTP head was already parsed');
    try {
      const buffer = chunk instanceof Buffer ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (this.#scanned === 0) {
        const head = this.parseWhole(buffer);
        if (head !== null) {
          this.#rest = restOf(buffer, head.headBytes);
          return head;
        }
      }
      return this.#scan(buffer);
    } catch (error) {
      this.#failure = error;
      this.#chunks = [];
      throw error;
    }
  }

  /**
   * Most heads arrive whole in the first chunk: then one search for the final CRLFCRLF
   * replaces the byte-by-byte scan, and the parse checks what the scan would have.
   *
   * Parses a head that starts at the first byte of `chunk` and ends in it, without
   * changing the parser (so one parser can serve every connection for this): the bytes
   * from `head.headBytes` on follow the head. Null when the head is not whole, or has
   * anything the scan refuses (empty lines first, a bare CR or LF, too many lines, a
   * long start line) or the parse throws for: `push` the chunk to a new parser then,
   * which waits for more or reports the fault exactly as the scan finds it.
   */
  parseWhole(chunk: Buffer): Parsed | null {
    if (chunk[0] === CR) return null;
    // Decoded first and searched as a string: for a head of a few hundred bytes that is
    // cheaper than a Buffer search, which is a call into Node. The first KiB is decoded,
    // then (for a longer head) up to maxHeaderBytes: a head followed by a large frame in
    // the same chunk does not decode the frame. A head longer than maxHeaderBytes is not
    // found in what is decoded; the scan then refuses it.
    const available = Math.min(chunk.length, this.#maxHeaderBytes);
    let text = chunk.toString('latin1', 0, Math.min(available, FIRST_WINDOW));
    let end = text.indexOf('\r\n\r\n');
    if (end === -1 && text.length < available) {
      text = chunk.toString('latin1', 0, available);
      end = text.indexOf('\r\n\r\n', FIRST_WINDOW - 3);
    }
    if (end === -1) return null;
    const headBytes = end + 4;
    try {
      return this.#parseHead(headBytes === text.length ? text : text.slice(0, headBytes), true);
    } catch {
      return null;
    }
  }

  #scan(chunk: Buffer): Parsed | null {
    this.#chunks.push(chunk);
    const base = this.#scanned;
    for (let i = 0; i < chunk.length; i++) {
      const at = base + i;
      if (at >= this.#maxHeaderBytes) {
        throw this.#tooLarge(`HTTP head exceeds maxHeaderBytes ${this.#maxHeaderBytes}`);
      }
      const b = chunk[i]!;
      if (this.#isAfterCr) {
        if (b !== LF) throw this.#malformed(`bare CR at byte ${at - 1} (lines must end with CRLF)`);
        this.#isAfterCr = false;
        const lineBytes = at - 1 - this.#lineStart;
        this.#lineStart = at + 1;
        if (lineBytes === 0) {
          if (this.#hasStartLine) return this.#complete(at + 1, chunk, i + 1);
          // RFC 9112 §2.2: a server SHOULD ignore empty lines before the request-line.
          if (this.#kind === 'response') throw this.#malformed('empty status line');
        } else if (!this.#hasStartLine) {
          this.#hasStartLine = true;
        } else if (++this.#headerLines > this.#maxHeaders) {
          throw this.#tooLarge(`HTTP head has more than maxHeaders ${this.#maxHeaders} header lines`);
        }
      } else if (b === CR) {
        this.#isAfterCr = true;
      } else if (b === LF) {
        throw this.#malformed(`bare LF at byte ${at} (lines must end with CRLF)`);
      } else if (!this.#hasStartLine && at - this.#lineStart >= this.#maxStartLineBytes) {
        throw this.#kind === 'request'
          ? new HandshakeError(414, `request line exceeds maxRequestLineBytes ${this.#maxStartLineBytes}`)
          : new HandshakeError(0, `status line exceeds ${this.#maxStartLineBytes} bytes`);
      }
    }
    this.#scanned = base + chunk.length;
    return null;
  }

  #complete(headBytes: number, last: Buffer, usedOfLast: number): Parsed {
    const chunks = this.#chunks;
    chunks[chunks.length - 1] = last.subarray(0, usedOfLast);
    const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, headBytes);
    this.#chunks = [];
    // One latin1 decoding of the whole head (one character per byte, as Node decodes
    // header values): lines, names and values are then cut from it in JavaScript, which
    // is cheaper than a call into Node for every name and value.
    const parsed = this.#parseHead(head.toString('latin1'), false)!;
    this.#rest = restOf(last, usedOfLast);
    return parsed;
  }

  /**
   * Parses a whole head, decoded as latin1. After the scan, its line ends, line count
   * and start line are known to be valid; `unchecked`, it verifies them and returns
   * null where the scan would have refused the head.
   */
  #parseHead(text: string, unchecked: boolean): Parsed | null {
    let start = 0;
    while (text.charCodeAt(start) === CR) start += 2; // skipped empty lines before a request line
    let end = text.indexOf('\r', start);
    if (unchecked && (text.charCodeAt(end + 1) !== LF || end - start > this.#maxStartLineBytes)) return null;
    const fields = this.parseStartLine(text, start, end);
    const headersStart = end + 2;
    // Nearly always every header line is valid, and one match checks them all; else each
    // line is checked on its own, to say what is wrong with the first bad one.
    HEADER_LINES.lastIndex = headersStart;
    const linesAreValid = HEADER_LINES.test(text) && HEADER_LINES.lastIndex === text.length;
    const framing: BodyFraming | null = this.#kind === 'request' ? { contentLengths: 0, contentLength: '', transferEncoding: undefined } : null;
    for (let line = 2; ; line++) {
      start = end + 2;
      end = text.indexOf('\r', start);
      if (unchecked && text.charCodeAt(end + 1) !== LF) return null;
      if (end === start) break;
      if (unchecked && line - 1 > this.#maxHeaders) return null;
      if (!linesAreValid) this.#checkHeaderLine(text, start, end, line, fields);
      if (framing !== null) readFraming(text, start, end, framing);
    }
    if (framing !== null) this.#checkFraming(framing);
    // RFC 9112 §5.2: a user agent MUST replace each obs-fold in a response with one or
    // more SP (a server rejects it: 400), here one per byte, so that the text keeps the
    // head's length. Lines are counted and checked as received.
    if (!linesAreValid && this.#kind === 'response') text = unfolded(text, headersStart);
    // Names and values are cut from the text only when read (see Head).
    return this.build(fields, text, headersStart);
  }

  /** Throws the malformed-head error for what is wrong with the header line from `start` to `end` (its CR), if anything. */
  #checkHeaderLine(text: string, start: number, end: number, line: number, fields: { status?: number }): void {
    const first = text.charCodeAt(start);
    // RFC 9112 §5.2: obs-fold is deprecated; a server MUST reject it, a user agent
    // replace it with SP (see unfolded). §2.2: not before the first header line.
    if (first === SP || first === HT) {
      if (this.#kind === 'request' || line === 2) throw this.#malformed(`obsolete line folding at header line ${line}`, fields);
      for (let i = start; i < end; i++) {
        if (!isFieldValueByte(text.charCodeAt(i))) throw this.#malformed(`header value at line ${line} contains control byte ${hex(text.charCodeAt(i))}`, fields);
      }
      return;
    }
    const colon = text.indexOf(':', start);
    if (colon === -1 || colon > end) throw this.#malformed(`header line ${line} has no ":"`, fields);
    if (colon === start) throw this.#malformed(`header line ${line} has an empty name`, fields);
    for (let i = start; i < colon; i++) {
      const b = text.charCodeAt(i);
      if (b === SP || b === HT) {
        // RFC 9112 §5.1: whitespace between field name and colon MUST be rejected with 400.
        throw this.#malformed(`whitespace in or after the header name at line ${line}`, fields);
      }
      if (!isTokenChar(b)) {
        throw this.#malformed(`header name at line ${line} contains byte ${hex(b)}`, fields);
      }
    }
    // The whitespace around a value is field-value bytes too: the whole rest is checked.
    for (let i = colon + 1; i < end; i++) {
      const b = text.charCodeAt(i);
      if (!isFieldValueByte(b)) {
        throw this.#malformed(`header value at line ${line} contains control byte ${hex(b)}`, fields);
      }
    }
  }

  /** RFC 9112 §6.3: the body length of a request must be unambiguous, else 400. */
  #checkFraming(framing: BodyFraming): void {
    const { contentLengths, contentLength, transferEncoding } = framing;
    if (transferEncoding !== undefined) {
      if (contentLengths > 0) throw this.#malformed('both Transfer-Encoding and Content-Length');
      const codings = transferEncoding.split(',').map((coding) => coding.replace(/^[\t ]+|[\t ]+$/g, '').toLowerCase());
      // RFC 9112 §6.1: chunked is the final coding, and is applied once.
      if (codings[codings.length - 1] !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1) {
        throw this.#malformed(`Transfer-Encoding must end with chunked, once, got ${JSON.stringify(transferEncoding.slice(0, 64))}`);
      }
    }
    if (contentLengths > 1) throw this.#malformed('more than one Content-Length');
    if (contentLengths === 1 && !(/^[0-9]+$/.test(contentLength) && Number(contentLength) <= Number.MAX_SAFE_INTEGER)) {
      throw this.#malformed(`Content-Length must be digits of a length, got ${JSON.stringify(contentLength.slice(0, 64))}`);
    }
  }

  #tooLarge(message: string): HandshakeError {
    return new HandshakeError(this.#kind === 'request' ? 431 : 0, message);
  }

  /** A malformed-head error: 400 for requests, the received status (or 0) for responses. */
  #malformed(message: string, fields?: { status?: number }): HandshakeError {
    if (this.#kind === 'request') return new HandshakeError(400, `malformed HTTP request: ${message}`);
    return new HandshakeError(fields?.status ?? 0, `malformed HTTP response: ${message}`);
  }

  /** Helper for subclasses: the malformed-head error. */
  protected fail(message: string): HandshakeError {
    return this.#malformed(message);
  }

  /** Parses the start line, `text` from `start` to `end` (its CR). */
  protected abstract parseStartLine(text: string, start: number, end: number): { httpVersion: string; status?: number };
  /** Makes the head of `text`, whose header lines start at `headersStart`. */
  protected abstract build(fields: { httpVersion: string }, text: string, headersStart: number): Parsed;
}

/** The headers of a request that say how long its body is (RFC 9112 §6.3). */
interface BodyFraming {
  /** `Content-Length` lines seen. */
  contentLengths: number;
  /** The value of the first, without surrounding whitespace. */
  contentLength: string;
  /** `Transfer-Encoding` values, lines joined with ", ". */
  transferEncoding: string | undefined;
}

const CONTENT_LENGTH = 'content-length';
const TRANSFER_ENCODING = 'transfer-encoding';

/**
 * Notes the header line of `text` from `start` to `end` (its CR) in `framing` when it
 * is a `Content-Length` or `Transfer-Encoding`. Lines of other names are passed over
 * at the cost of a comparison or two.
 */
function readFraming(text: string, start: number, end: number, framing: BodyFraming): void {
  const first = text.charCodeAt(start) | 0x20;
  let length: number;
  if (first === 0x63) length = CONTENT_LENGTH.length;
  else if (first === 0x74) length = TRANSFER_ENCODING.length;
  else return;
  if (text.charCodeAt(start + length) !== 0x3a) return;
  const name = text.slice(start, start + length).toLowerCase();
  if (name !== CONTENT_LENGTH && name !== TRANSFER_ENCODING) return;
  let valueStart = start + length + 1;
  let valueEnd = end;
  while (valueStart < valueEnd && isOws(text.charCodeAt(valueStart))) valueStart++;
  while (valueEnd > valueStart && isOws(text.charCodeAt(valueEnd - 1))) valueEnd--;
  const value = text.slice(valueStart, valueEnd);
  if (name === CONTENT_LENGTH) {
    if (framing.contentLengths++ === 0) framing.contentLength = value;
  } else {
    framing.transferEncoding = framing.transferEncoding === undefined ? value : `${framing.transferEncoding}, ${value}`;
  }
}

/** `HTTP-version = "HTTP/" DIGIT "." DIGIT` (RFC 9112 §2.3), as `"1.1"`; else `null`. */
function parseVersion(text: string, start: number, end: number): string | null {
  if (end - start !== 8 || !text.startsWith('HTTP/', start)) return null;
  if (!isDigit(text.charCodeAt(start + 5)) || text.charCodeAt(start + 6) !== 0x2e || !isDigit(text.charCodeAt(start + 7))) return null;
  // The usual version is not cut from the text: the constant stands for it.
  return text.startsWith('1.1', start + 5) ? '1.1' : text.slice(start + 5, start + 8);
}

const SLASH = 0x2f;
/** Line breaks followed by whitespace: the obs-fold of RFC 9112 §5.2. */
const OBS_FOLDS = /\r\n[\t ]+/g;

/** `text` with every obs-fold after `headersStart` made as many spaces. */
function unfolded(text: string, headersStart: number): string {
  return text.slice(0, headersStart) + text.slice(headersStart).replace(OBS_FOLDS, (fold) => ' '.repeat(fold.length));
}

/**
 * RFC 9112 §3.2: besides origin-form (a path, starting with "/"), a request-target is
 * absolute-form (`scheme://...`, which a server must accept), authority-form for
 * CONNECT only and asterisk-form for OPTIONS only. Anything else is answered 400, as by
 * node:http.
 */
function isOtherTargetForm(method: string, target: string): boolean {
  if (method === 'CONNECT') return true;
  if (target === '*') return method === 'OPTIONS';
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(target);
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/**
 * Incremental parser of an HTTP/1.1 request head, for a server that reads upgrade
 * requests from a raw socket. Feed every chunk to `push` until it returns the head;
 * then `rest` holds the bytes that followed it.
 *
 * @example
 * const parser = new RequestHeadParser({ maxHeaderBytes: 8192 });
 * socket.on('data', (chunk) => {
 *   const head = parser.push(chunk); // throws HandshakeError: answer with buildErrorResponse
 *   if (head) startWebSocket(head, parser.rest);
 * });
 */
export class RequestHeadParser extends HeadParser<RequestHead> {
  #method = '';
  #target = '';

  /** @param limits Size and count limits; see `HeadLimits` for the defaults. */
  constructor(limits?: HeadLimits) {
    super('request', limits);
  }

  /** RFC 9112 §3: request-line = method SP request-target SP HTTP-version. */
  protected parseStartLine(text: string, start: number, end: number): { httpVersion: string } {
    let i = start;
    while (i < end && isTokenChar(text.charCodeAt(i))) i++;
    // At `end` the character is the line's CR: not SP either.
    if (i === start || text.charCodeAt(i) !== SP) throw this.fail('request line must be "METHOD target HTTP/x.y"');
    this.#method = i - start === 3 && text.startsWith('GET', start) ? 'GET' : text.slice(start, i);
    const targetStart = ++i;
    // Visible ASCII (RFC 9112 §3.2, RFC 3986: other bytes are percent-encoded, as
    // node:http requires); whitespace, control bytes and bytes above 0x7e end or break it.
    while (i < end && text.charCodeAt(i) > SP && text.charCodeAt(i) < 0x7f) i++;
    if (i === targetStart || text.charCodeAt(i) !== SP) throw this.fail('request line must be "METHOD target HTTP/x.y"');
    this.#target = text.slice(targetStart, i);
    if (text.charCodeAt(targetStart) !== SLASH && !isOtherTargetForm(this.#method, this.#target)) {
      throw this.fail(`request-target must be a path or an absolute URI, got ${JSON.stringify(this.#target.slice(0, 64))}`);
    }
    const httpVersion = parseVersion(text, i + 1, end);
    if (httpVersion === null) throw this.fail('request line must end with an HTTP version such as HTTP/1.1');
    return { httpVersion };
  }

  protected build(fields: { httpVersion: string }, text: string, headersStart: number): RequestHead {
    return new ParsedRequestHead(this.#method, this.#target, fields.httpVersion, text, headersStart);
  }
}

/**
 * Incremental parser of an HTTP/1.1 response head, for a client reading the answer to
 * its upgrade request. Errors carry the received status (0 before it is known).
 */
export class ResponseHeadParser extends HeadParser<ResponseHead> {
  #statusText = '';

  /** @param limits Size and count limits; `maxRequestLineBytes` bounds the status line. */
  constructor(limits?: HeadLimits) {
    super('response', limits);
  }

  /** RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]. */
  protected parseStartLine(text: string, start: number, end: number): { httpVersion: string; status: number } {
    const length = end - start;
    /** The character at `offset` in the line, or -1 past its end. */
    const at = (offset: number): number => (offset < length ? text.charCodeAt(start + offset) : -1);
    const httpVersion = parseVersion(text, start, Math.min(start + 8, end));
    if (httpVersion === null || at(8) !== SP || !isDigit(at(9)) || !isDigit(at(10)) || !isDigit(at(11))) {
      throw this.fail('status line must be "HTTP/x.y NNN reason"');
    }
    const status = Number(text.slice(start + 9, start + 12));
    // The SP before an empty reason is often omitted; accept its absence.
    if (length > 12 && at(12) !== SP) throw this.fail('status line must be "HTTP/x.y NNN reason"');
    for (let i = start + 13; i < end; i++) {
      if (!isFieldValueByte(text.charCodeAt(i))) {
        throw new HandshakeError(status, 'malformed HTTP response: control byte in the reason phrase');
      }
    }
    this.#statusText = length > 13 ? text.slice(start + 13, end) : '';
    return { httpVersion, status };
  }

  protected build(fields: { httpVersion: string; status?: number }, text: string, headersStart: number): ResponseHead {
    return new ParsedResponseHead(fields.status ?? 0, this.#statusText, fields.httpVersion, text, headersStart);
  }
}

/** A request already parsed elsewhere (a `node:http` `IncomingMessage` fits). */
export interface ParsedRequestLike {
  method?: string | undefined;
  url?: string | undefined;
  /** Names and values, alternating, as received (latin1: one character per byte). */
  rawHeaders?: readonly string[] | undefined;
}

/**
 * Applies the limits of `HeadLimits` to a request that another HTTP parser has read
 * (the `upgrade` event of a `node:http` server, or `handleUpgrade`): the header count,
 * the head's size (each line counted as `name: value` and CRLF, which is what a
 * minimal request sends; the request line as `METHOD target HTTP/1.1`), and the
 * request line. The request is already in memory, bounded by that parser's own limits
 * (Node's `maxHeaderSize`); this keeps a server's limits the same whichever parser
 * read its requests.
 *
 * @throws {HandshakeError} 414 for a request line over `maxRequestLineBytes`, 431 for
 *   more than `maxHeaders` header lines or a head over `maxHeaderBytes`.
 */
export function checkRequestLimits(req: ParsedRequestLike, limits: HeadLimits = {}): void {
  const maxHeaderBytes = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const maxHeaders = limits.maxHeaders ?? DEFAULT_MAX_HEADERS;
  const maxRequestLine = limits.maxRequestLineBytes ?? DEFAULT_MAX_REQUEST_LINE_BYTES;
  const requestLine = (req.method?.length ?? 0) + 1 + (req.url?.length ?? 0) + ' HTTP/1.1'.length;
  if (requestLine > maxRequestLine) {
    throw new HandshakeError(414, `request line exceeds maxRequestLineBytes ${maxRequestLine}`);
  }
  const raw = req.rawHeaders;
  if (!Array.isArray(raw)) return;
  if (raw.length / 2 > maxHeaders) {
    throw new HandshakeError(431, `HTTP head has more than maxHeaders ${maxHeaders} header lines`);
  }
  let bytes = requestLine + 4; // its CRLF and the final empty line
  for (let i = 0; i < raw.length; i += 2) bytes += raw[i]!.length + 2 + (raw[i + 1]?.length ?? 0) + 2;
  if (bytes > maxHeaderBytes) throw new HandshakeError(431, `HTTP head exceeds maxHeaderBytes ${maxHeaderBytes}`);
}

/**
 * Parses a request head from a buffer that may hold it whole.
 *
 * One-shot: each call scans `buf` from the start. When bytes arrive over time, keep a
 * `RequestHeadParser` and `push` each chunk instead, which scans every byte once.
 *
 * @param buf Bytes received so far.
 * @param limits Size and count limits; see `HeadLimits` for the defaults.
 * @returns The head, or `null` when its final CRLFCRLF has not arrived yet. The bytes
 *   from `head.headBytes` on belong to the WebSocket stream.
 * @throws {HandshakeError} 400 malformed, 414 request line too long, 431 head too large.
 * @example
 * const head = parseRequestHead(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
 * head?.headers.host; // 'a'
 */
export function parseRequestHead(buf: Uint8Array, limits?: HeadLimits): RequestHead | null {
  return new RequestHeadParser(limits).push(buf);
}

/**
 * Parses a response head from a buffer that may hold it whole. One-shot, like
 * `parseRequestHead`; use `ResponseHeadParser` for bytes that arrive over time.
 *
 * @param buf Bytes received so far.
 * @param limits Size and count limits; `maxRequestLineBytes` bounds the status line.
 * @returns The head, or `null` when it is not complete yet.
 * @throws {HandshakeError} with the received status (0 when the status line is bad or
 *   a limit is exceeded) for a malformed head.
 */
export function parseResponseHead(buf: Uint8Array, limits?: HeadLimits): ResponseHead | null {
  return new ResponseHeadParser(limits).push(buf);
}
