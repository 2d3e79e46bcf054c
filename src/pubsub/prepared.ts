/**
 * Prepared messages: a message framed once, the way a server sends it (unmasked), so
 * that the same bytes can be written to any number of connections.
 *
 * `prepare(data)` is the building block for fan-out loops written by hand; the server's
 * `publish` and `broadcast` prepare each message once in the same way. A connection
 * writes `frame` itself, never a copy: ten thousand recipients share one buffer.
 */
import type { BroadcastMessage } from '../protocol/deflate-codec.js';
import { FIN, Opcode, headerSize, writeHeader } from '../protocol/frame.js';

export interface PrepareOptions {
  /** Send as a binary message. Default: true for anything but a string. */
  binary?: boolean;
  /**
   * Compress the message for connections that negotiated permessage-deflate (when it
   * reaches their `threshold`): compressed once per window size, and the same
   * compressed frame is written to every such connection. Default true.
   */
  compress?: boolean;
}

/** Anything a message can be prepared from (the same inputs as `ws.send`). */
export type PrepareData = string | Buffer | ArrayBuffer | ArrayBufferView | SharedArrayBuffer;

/**
 * A message framed once. Create one with `prepare(data)` and pass it to `ws.send`,
 * `wss.publish` or `wss.broadcast` as many times as needed; every server-side
 * connection writes the same `frame` bytes. Client connections, whose frames must be
 * masked, send `payload` as an ordinary message.
 *
 * Treat it as immutable: connections may still be writing `frame` long after `send`
 * returned.
 */
export class PreparedMessage implements BroadcastMessage {
  /** The whole frame as a server sends it (header and payload, unmasked). */
  readonly frame: Buffer;
  /** Whether the message is binary (else text). */
  readonly isBinary: boolean;
  /** Whether permessage-deflate may compress it (the `compress` option). */
  readonly shouldCompress: boolean;
  /**
   * @internal The frame compressed for connections that negotiated permessage-deflate,
   * by window size: computed at most once per size, by the first such connection that
   * sends the message (see `BroadcastMessage` in the protocol layer).
   */
  compressedFrames: Map<number, Buffer> | null = null;
  readonly #headerLength: number;

  /** @internal Use `prepare(data, options)`. */
  constructor(frame: Buffer, headerLength: number, isBinary: boolean, shouldCompress: boolean) {
    this.frame = frame;
    this.#headerLength = headerLength;
    this.isBinary = isBinary;
    this.shouldCompress = shouldCompress;
  }

  /** The message's payload (a view into `frame`). */
  get payload(): Buffer {
    return this.frame.subarray(this.#headerLength);
  }

  /** Bytes of the frame: what a connection buffers when it sends this message. */
  get byteLength(): number {
    return this.frame.length;
  }
}

/**
 * Frames `data` once for sending to many connections: a string as text, anything else
 * as binary unless `options.binary` says otherwise. The frame gets a buffer of its own,
 * so a prepared message kept for long (a greeting sent to every new connection) holds
 * only its own bytes.
 *
 * @param data the message
 * @param options `binary` to choose the message type
 * @returns a `PreparedMessage` for `ws.send`, `wss.publish` and `wss.broadcast`
 * @throws {TypeError} for data that is not a string, Buffer, ArrayBuffer or view
 * @example
 * const update = prepare(JSON.stringify(state));
 * for (const ws of watchers) ws.send(update); // framed once, same bytes for everyone
 */
export function prepare(data: PrepareData | PreparedMessage, options?: PrepareOptions): PreparedMessage {
  if (data instanceof PreparedMessage) return data;
  return encode(data, options, allocateOwn);
}

/**
 * Like `prepare`, for a message that is sent right away (publish, broadcast): small
 * frames are written into a shared slab, so that consecutive messages sit side by side
 * in memory and a connection can write a run of them as one view (see the write path
 * in `src/node/websocket.ts`).
 * @internal
 */
export function prepareTransient(data: PrepareData | PreparedMessage, options?: PrepareOptions): PreparedMessage {
  if (data instanceof PreparedMessage) return data;
  return encode(data, options, allocateInSlab);
}

/**
 * Slab for transient frames. A slab is never rewritten: a new one is taken when the
 * current one is full, and the old one is freed when the last connection has written
 * its frames. 16 KiB keeps what one slow connection can pin small (a frame it still
 * holds keeps its slab alive), while a burst of 64-byte messages still makes runs of
 * about 240 frames.
 */
const SLAB_SIZE = 16 * 1024;
/** Frames larger than this get a buffer of their own rather than a piece of a slab. */
const SLAB_MAX_FRAME = 4 * 1024;
let slab = Buffer.allocUnsafeSlow(0);
let slabOffset = 0;

function allocateOwn(size: number): Buffer {
  // Not from Node's shared pool: a long-lived message must not pin 8 KiB of others.
  return Buffer.allocUnsafeSlow(size);
}

function allocateInSlab(size: number): Buffer {
  if (size > SLAB_MAX_FRAME) return Buffer.allocUnsafeSlow(size);
  if (slabOffset + size > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabOffset = 0;
  }
  const frame = slab.subarray(slabOffset, slabOffset + size);
  slabOffset += size;
  return frame;
}

function encode(data: PrepareData, options: PrepareOptions | undefined, allocate: (size: number) => Buffer): PreparedMessage {
  const shouldCompress = options?.compress ?? true;
  if (typeof data === 'string') {
    const isBinary = options?.binary ?? false;
    const length = Buffer.byteLength(data);
    const header = headerSize(length, false);
    // allocUnsafe is safe: the header and the whole payload are written below.
    const frame = allocate(header + length);
    writeHeader(frame, 0, FIN | (isBinary ? Opcode.Binary : Opcode.Text), length, null);
    frame.write(data, header, 'utf8');
    return new PreparedMessage(frame, header, isBinary, shouldCompress);
  }
  const bytes = toBytes(data);
  const isBinary = options?.binary ?? true;
  const length = bytes.length;
  const header = headerSize(length, false);
  const frame = allocate(header + length);
  writeHeader(frame, 0, FIN | (isBinary ? Opcode.Binary : Opcode.Text), length, null);
  frame.set(bytes, header);
  return new PreparedMessage(frame, header, isBinary, shouldCompress);
}

/**
 * Throws the TypeError `prepare` would for `data` that cannot be a message, without
 * framing it (a publish with no subscribers frames nothing, and must refuse the same).
 * @internal
 */
export function checkMessageData(data: unknown): void {
  if (typeof data === 'string' || data instanceof PreparedMessage) return;
  toBytes(data as Exclude<PrepareData, string>);
}

function toBytes(data: Exclude<PrepareData, string>): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer)) {
    return new Uint8Array(data);
  }
  throw new TypeError('a message must be a string, Buffer, ArrayBuffer, TypedArray or DataView');
}
