/**
 * The client's view of the server's answer to the opening handshake: `UpgradeResponse`,
 * a readable stream of the body (as node:http's `IncomingMessage` is in `ws`), and
 * `ResponseBody`, which feeds a refused handshake's body into it, bounded, from either
 * source: the socket the client reads itself, or node:http's response through an agent.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ResponseBodyDecoder } from '../protocol/http-body.js';
import { listenTo } from './events.js';
import { distinctHeaderRecord, incomingHeaderRecord, type ResponseHead } from '../protocol/http.js';

/**
 * The most of a refused handshake's response body read, in bytes: enough for an error
 * document or a message to show. Past it the body ends there, `complete` false.
 */
export const MAX_RESPONSE_BODY_BYTES = 64 * 1024;

/** @internal Marks a response whose body will be pushed to it (see ResponseBody). */
const kBodyComing = Symbol('volley.bodyComing');

/**
 * The opening handshake's response, as `upgrade`, `unexpected-response` and `redirect`
 * listeners get it (where `ws` passes node:http's `IncomingMessage`): status, version and
 * headers, and a `Readable` of the body. `headers` combines repeated lines as node:http
 * does (`Set-Cookie` an array, the first `Location`, others joined with `", "`);
 * `headersDistinct` keeps every line.
 *
 * The body is read for `unexpected-response` when that event has a listener: it streams
 * in (`response.on('data')`, `for await (const chunk of response)`), up to
 * `MAX_RESPONSE_BODY_BYTES` (64 KiB) and within `handshakeTimeout`, and ends there,
 * `complete` telling whether all of it came. For `upgrade` and `redirect` the stream is
 * empty (the bytes after a 101 are the WebSocket's; a redirect's body is not read).
 *
 * @example
 * ws.on('unexpected-response', async (request, response) => {
 *   let text = '';
 *   for await (const chunk of response) text += chunk;
 *   console.log(response.statusCode, text); // then 'error' and 'close' (1006) follow
 * });
 */
export class UpgradeResponse extends Readable {
  readonly statusCode: number;
  readonly statusMessage: string;
  /** `"1.1"` for `HTTP/1.1`. */
  readonly httpVersion: string;
  /** Names (as received) and values, alternating. */
  readonly rawHeaders: string[];
  /**
   * True once the whole body has been read (as node:http's `IncomingMessage.complete`);
   * false while it streams in, and for a body cut short: past 64 KiB, at the handshake
   * timeout, by the connection's close, by `close()`/`terminate()`, or not read at all.
   */
  complete = false;
  #headers: IncomingHttpHeaders | undefined;
  #distinct: Record<string, string[] | undefined> | undefined;
  /** @internal */
  [kBodyComing] = false;

  /** @internal */
  constructor(head: ResponseHead) {
    // Nothing else is made here: a 101's response is built for every connection.
    super();
    this.statusCode = head.status;
    this.statusMessage = head.statusText;
    this.httpVersion = head.httpVersion;
    this.rawHeaders = head.rawHeaders;
  }

  /** `statusCode`, under the name of the protocol layer's `ResponseHead`. */
  get status(): number {
    return this.statusCode;
  }

  /** `statusMessage`, under the name of the protocol layer's `ResponseHead`. */
  get statusText(): string {
    return this.statusMessage;
  }

  /** Typed as node:http's: a header the response does not have is `undefined`. */
  get headers(): IncomingHttpHeaders {
    return (this.#headers ??= incomingHeaderRecord(this.rawHeaders) as IncomingHttpHeaders);
  }

  get headersDistinct(): Record<string, string[] | undefined> {
    return (this.#distinct ??= distinctHeaderRecord(this.rawHeaders));
  }

  /** 1 for HTTP/1.1, as `IncomingMessage.httpVersionMajor`. */
  get httpVersionMajor(): number {
    return this.httpVersion.charCodeAt(0) - 0x30;
  }

  /** 1 for HTTP/1.1, as `IncomingMessage.httpVersionMinor`. */
  get httpVersionMinor(): number {
    return this.httpVersion.charCodeAt(2) - 0x30;
  }

  /** @internal The body is pushed by ResponseBody; a response without one ends when first read. */
  override _read(): void {
    // Ending it here rather than in the constructor costs the 101 path nothing.
    if (!this[kBodyComing]) this.push(null);
  }
}

/**
 * Feeds a refused handshake's response body into its `UpgradeResponse`, up to
 * MAX_RESPONSE_BODY_BYTES, and calls `onDone` once, when the body has ended (or was cut
 * short) and a listener that reads it has had its `end`; or at once from `stop()`.
 */
export class ResponseBody {
  readonly #response: UpgradeResponse;
  readonly #onDone: () => void;
  #received = 0;
  #isEnded = false;
  #isDone = false;
  /** Removes the listeners on the source. */
  #detach: (() => void) | undefined;

  constructor(response: UpgradeResponse, onDone: () => void) {
    this.#response = response;
    this.#onDone = onDone;
    response[kBodyComing] = true;
    // After its 'end' (autoDestroy), or destroyed by the listener. In the next turn, so
    // that a `for await` loop over it (resumed in a microtask) finishes first.
    response.once('close', () => setImmediate(() => this.#done()));
  }

  /**
   * Reads the body from `socket`, the client's own connection: `rest` (the bytes after
   * the head) first, then what comes, framed as `head` says.
   */
  readSocket(head: ResponseHead, socket: Socket, rest: Buffer | null): void {
    let decoder: ResponseBodyDecoder;
    try {
      decoder = new ResponseBodyDecoder(head);
    } catch {
      this.end(false); // no telling where it ends: none of it
      return;
    }
    const onData = (chunk: Buffer) => {
      for (const part of decoder.push(chunk)) this.#write(part);
      if (decoder.isDone) this.end(true);
      else if (decoder.failure !== null) this.end(false); // malformed: cut short after what came before it
    };
    const onClose = () => this.end(decoder.end());
    this.#detach = listenTo(socket, { data: onData, end: onClose, close: onClose, error: onClose });
    if (decoder.isDone) this.end(true);
    else if (rest !== null && rest.length > 0) onData(rest);
  }

  /** Reads the body from node:http's response (through an agent), which has decoded it. */
  readMessage(message: IncomingMessage): void {
    this.#detach = listenTo(message, {
      data: (chunk: Buffer) => this.#write(chunk),
      end: () => this.end(true),
      // Closed before its end (node:http destroys it, 'aborted', when the connection closes early).
      close: () => this.end(message.complete),
      error: () => this.end(false),
    });
  }

  /**
   * The body ends here, whole or not. A listener reading it gets its 'end' before
   * `onDone` (so before the WebSocket's 'error'); one that reads nothing is not waited for.
   */
  end(isComplete: boolean): void {
    if (this.#isEnded) return;
    this.#isEnded = true;
    this.#detach?.();
    const response = this.#response;
    response.complete = isComplete;
    if (response.destroyed) {
      this.#done();
      return;
    }
    response.push(null);
    // The response's 'close' (after its 'end', autoDestroy) calls #done when it is read.
    if (response.readableFlowing === null) this.#done();
  }

  /** Cut short (handshake timeout, close(), terminate()): ends the body and calls `onDone` now. */
  stop(): void {
    this.end(false);
    this.#done();
  }

  #write(chunk: Buffer): void {
    if (this.#isEnded) return;
    const room = MAX_RESPONSE_BODY_BYTES - this.#received;
    if (chunk.length > room) {
      if (room > 0) this.#response.push(chunk.subarray(0, room));
      this.#received = MAX_RESPONSE_BODY_BYTES;
      this.end(false);
      return;
    }
    this.#received += chunk.length;
    // Bounded by the cap: no backpressure to apply.
    this.#response.push(chunk);
  }

  #done(): void {
    if (this.#isDone) return;
    this.#isDone = true;
    this.#detach?.();
    this.#onDone();
  }
}
