/**
 * The body of an HTTP/1.1 response, for a client that reads the answer to an upgrade
 * request a server refused (a 401 with a JSON error, a 503 with a message): its length
 * from the head (RFC 9112 §6.3) and the chunked transfer coding decoded (RFC 9112 §7.1).
 * Pure: bytes in, body bytes out; no sockets, no timers, no limit on what it is given
 * (the caller stops feeding it at its cap).
 */
import { HandshakeError } from './errors.js';
import type { ResponseHead } from './http.js';

/** How the end of the body is known (RFC 9112 §6.3). */
export const BodyLength = {
  /** No body: 204, 304 (and 1xx). */
  None: 0,
  /** `Content-Length` bytes. */
  Fixed: 1,
  /** `Transfer-Encoding: chunked`. */
  Chunked: 2,
  /** Until the server closes the connection. */
  UntilClose: 3,
} as const;
export type BodyLength = (typeof BodyLength)[keyof typeof BodyLength];

/** Where the chunked decoder is (RFC 9112 §7.1). */
const ChunkState = {
  /** `chunk-size [ chunk-ext ] CRLF`. */
  SizeLine: 0,
  /** `chunk-data`. */
  Data: 1,
  /** The CRLF after `chunk-data`. */
  DataEnd: 2,
  /** `trailer-section CRLF`: lines up to an empty one, ignored. */
  Trailers: 3,
  Done: 4,
} as const;
type ChunkState = (typeof ChunkState)[keyof typeof ChunkState];

/** Longest chunk-size line or trailer line accepted (the size, extensions, CRLF), in bytes. */
const MAX_LINE_BYTES = 4096;
/** More hex digits than this would not fit in a safe integer. */
const MAX_SIZE_DIGITS = 13;
const CR = 0x0d;
const LF = 0x0a;

/**
 * How the body of `head` is delimited (RFC 9112 §6.3): none for 204 and 304; chunked when
 * chunked is the last transfer coding, until close for another one (a Transfer-Encoding
 * overrides a Content-Length); else Content-Length bytes, or until close without one.
 *
 * @throws {HandshakeError} for an invalid Content-Length (RFC 9112 §6.3 item 5: the
 *   response cannot be delimited).
 */
export function bodyLengthOf(head: ResponseHead): { kind: BodyLength; bytes: number } {
  const status = head.status;
  if ((status >= 100 && status < 200) || status === 204 || status === 304) return { kind: BodyLength.None, bytes: 0 };
  const headers = head.headers;
  const transferEncoding = headers['transfer-encoding'];
  if (transferEncoding !== undefined) {
    const codings = transferEncoding.split(',');
    const last = codings[codings.length - 1]!.trim().toLowerCase();
    // RFC 9112 §6.3 item 4: with chunked not last, a response's body ends at the close.
    return { kind: last === 'chunked' ? BodyLength.Chunked : BodyLength.UntilClose, bytes: 0 };
  }
  const contentLength = headers['content-length'];
  if (contentLength === undefined) return { kind: BodyLength.UntilClose, bytes: 0 };
  // RFC 9110 §8.6: repeated identical values (joined with ", " in the record) may be
  // taken as one; anything else that is not 1*DIGIT is invalid.
  const values = new Set(contentLength.split(',').map((value) => value.trim()));
  const [value] = values;
  if (values.size !== 1 || !/^\d{1,15}$/.test(value!)) {
    throw new HandshakeError(status, `malformed HTTP response: invalid Content-Length ${JSON.stringify(contentLength)}`);
  }
  const bytes = Number(value);
  return { kind: bytes === 0 ? BodyLength.None : BodyLength.Fixed, bytes };
}

/**
 * Incremental reader of a response body: `push` each chunk read after the head (any
 * split), it returns the body bytes in it, as views of the chunk where it can.
 *
 * @example
 * const body = new ResponseBodyDecoder(head);
 * for (const part of body.push(parser.rest ?? Buffer.alloc(0))) response.push(part);
 * socket.on('data', (chunk) => { for (const part of body.push(chunk)) response.push(part); if (body.isDone || body.failure) finish(body.isDone); });
 * socket.on('close', () => finish(body.end()));
 */
export class ResponseBodyDecoder {
  readonly #kind: BodyLength;
  /** Fixed: bytes still to come; Chunked: bytes of the current chunk's data still to come. */
  #remaining: number;
  #chunkState: ChunkState = ChunkState.SizeLine;
  /** The line being read (chunk-size or trailer), without its CRLF. */
  #line: number[] = [];
  #isDone: boolean;
  /** Why the chunked coding was malformed, once it was: the body was cut short there. */
  #failure: HandshakeError | null = null;

  /** @throws {HandshakeError} for a head whose body cannot be delimited (see bodyLengthOf). */
  constructor(head: ResponseHead) {
    const { kind, bytes } = bodyLengthOf(head);
    this.#kind = kind;
    this.#remaining = bytes;
    this.#isDone = kind === BodyLength.None;
  }

  /** How the body ends. */
  get kind(): BodyLength {
    return this.#kind;
  }

  /** The whole body has been read: nothing more of it will come. */
  get isDone(): boolean {
    return this.#isDone;
  }

  /** Why the body was cut short (malformed chunked coding), or null. Nothing more is read then. */
  get failure(): HandshakeError | null {
    return this.#failure;
  }

  /**
   * The body bytes in `chunk` (none once done: what follows the body is ignored). At
   * malformed chunked coding, the bytes before it; `failure` then says why.
   */
  push(chunk: Buffer): Buffer[] {
    if (this.#isDone || this.#failure !== null || chunk.length === 0) return [];
    if (this.#kind === BodyLength.UntilClose) return [chunk];
    if (this.#kind === BodyLength.Fixed) {
      const part = chunk.length <= this.#remaining ? chunk : chunk.subarray(0, this.#remaining);
      this.#remaining -= part.length;
      if (this.#remaining === 0) this.#isDone = true;
      return [part];
    }
    return this.#pushChunked(chunk);
  }

  /**
   * The connection closed: whether the body was complete. A body delimited by the close
   * is complete then (RFC 9112 §6.3 item 8); one with a length, or chunked, only if
   * all of it had come.
   */
  end(): boolean {
    if (this.#kind === BodyLength.UntilClose) this.#isDone = true;
    return this.#isDone;
  }

  #pushChunked(chunk: Buffer): Buffer[] {
    const parts: Buffer[] = [];
    try {
      this.#decodeChunked(chunk, parts);
    } catch (error) {
      // Malformed (#malformed recorded why): the data before it stands.
      if (this.#failure === null) throw error;
    }
    return parts;
  }

  #decodeChunked(chunk: Buffer, parts: Buffer[]): void {
    let offset = 0;
    while (offset < chunk.length && this.#chunkState !== ChunkState.Done) {
      if (this.#chunkState === ChunkState.Data) {
        const take = Math.min(this.#remaining, chunk.length - offset);
        parts.push(chunk.subarray(offset, offset + take));
        offset += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#chunkState = ChunkState.DataEnd;
        continue;
      }
      // The other states read a line up to CRLF.
      const byte = chunk[offset++]!;
      if (byte !== LF) {
        // The line so far, its CR included, and the LF still to come.
        if (this.#line.length >= MAX_LINE_BYTES - 1) throw this.#malformed(`line longer than ${MAX_LINE_BYTES} bytes`);
        this.#line.push(byte);
        continue;
      }
      const line = this.#line;
      this.#line = [];
      if (line.pop() !== CR) throw this.#malformed('line not ended by CRLF');
      this.#endLine(line);
    }
    if (this.#chunkState === ChunkState.Done) this.#isDone = true;
  }

  /** A line of the chunked coding, its CRLF removed. */
  #endLine(line: number[]): void {
    switch (this.#chunkState) {
      case ChunkState.SizeLine: {
        // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; the
        // extensions (after ";", with optional whitespace before it) are ignored.
        const text = String.fromCharCode(...line);
        const semicolon = text.indexOf(';');
        const size = (semicolon === -1 ? text : text.slice(0, semicolon)).trimEnd();
        if (!/^[0-9A-Fa-f]+$/.test(size) || size.replace(/^0+(?=.)/, '').length > MAX_SIZE_DIGITS) {
          throw this.#malformed(`invalid chunk size ${JSON.stringify(size)}`);
        }
        this.#remaining = parseInt(size, 16);
        // RFC 9112 §7.1: last-chunk = 1*("0") [ chunk-ext ] CRLF, then the trailer section.
        this.#chunkState = this.#remaining === 0 ? ChunkState.Trailers : ChunkState.Data;
        return;
      }
      case ChunkState.DataEnd:
        if (line.length !== 0) throw this.#malformed('chunk data longer than its size');
        this.#chunkState = ChunkState.SizeLine;
        return;
      case ChunkState.Trailers:
        // RFC 9112 §7.1.2: trailer fields may be discarded; the empty line ends the body.
        if (line.length === 0) this.#chunkState = ChunkState.Done;
        return;
    }
  }

  #malformed(message: string): HandshakeError {
    this.#failure = new HandshakeError(0, `malformed chunked response body: ${message}`);
    return this.#failure;
  }
}
