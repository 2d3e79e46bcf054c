/**
 * Helpers for the permessage-deflate tests over real sockets (127.0.0.1, port 0).
 * Every wait is bounded by `TIMEOUT`; everything opened is registered and closed by
 * `closeAll()` (call it in `afterEach`). The raw client and server speak HTTP and
 * frames built here by hand, with node:zlib, independently of `src/`.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { WebSocketServer, type ServerOptions, type WebSocket } from '../../src/index.js';
import * as waits from './helpers.js';

export { MS } from './helpers.js';
/** The bound of every wait: longer than the node layer's, for the 16 MiB cases. */
export const TIMEOUT = 10_000 * waits.MS;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Races `promise` against `timeout` ms. */
export function within<T>(promise: Promise<T>, what: string, timeout = TIMEOUT): Promise<T> {
  return waits.within(promise, what, timeout);
}

/** The arguments of the next `event` of `emitter`, bounded. */
export function nextEvent<T extends unknown[] = any[]>(emitter: EventEmitter, event: string, timeout = TIMEOUT): Promise<T> {
  return waits.nextEvent<T>(emitter, event, timeout);
}

/** Polls until `predicate` holds, bounded. */
export function until(predicate: () => boolean, what: string, timeout = TIMEOUT): Promise<void> {
  return waits.until(predicate, what, timeout);
}

// ---- Resources ------------------------------------------------------------------

const cleanups: Array<() => Promise<void> | void> = [];

/** Registers something to close after the test. */
export function track(cleanup: () => Promise<void> | void): void {
  cleanups.push(cleanup);
}

/** Closes everything the test opened, most recent first. */
export async function closeAll(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!();
}

/** A Volley server on its own port; resolves once listening. */
export async function volleyServer(options: Omit<ServerOptions, 'port'> = {}): Promise<{ wss: WebSocketServer; url: string; port: number }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  track(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  await nextEvent(wss, 'listening');
  const address = wss.address() as { port: number };
  return { wss, url: `ws://127.0.0.1:${address.port}`, port: address.port };
}

/** Echoes every message back as it came. */
export function echo(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
}

/** Waits for an open client, or its failure. */
export function opened(ws: EventEmitter & { terminate(): void }): Promise<void> {
  track(() => ws.terminate());
  return within(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    'open',
  );
}

// ---- Raw frames --------------------------------------------------------------------

/** A frame as seen on the wire. */
export interface RawFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

/** Encodes a client frame (masked). */
export function maskedFrame(opcode: number, payload: Uint8Array, options: { fin?: boolean; rsv1?: boolean } = {}): Buffer {
  const { fin = true, rsv1 = false } = options;
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.alloc(header + 4 + length);
  frame[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (length < 126) frame[1] = 0x80 | length;
  else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  const mask = randomBytes(4);
  mask.copy(frame, header);
  for (let i = 0; i < length; i++) frame[header + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

/** Parses unmasked frames from a byte stream, keeping an incomplete tail. */
export class FrameReader {
  #buffer = Buffer.alloc(0);
  readonly frames: RawFrame[] = [];

  push(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      if (b.length < offset + length) return;
      this.frames.push({ fin: (b[0]! & 0x80) !== 0, rsv1: (b[0]! & 0x40) !== 0, opcode: b[0]! & 0x0f, payload: Buffer.from(b.subarray(offset, offset + length)) });
      this.#buffer = b.subarray(offset + length);
    }
  }
}

/** Compresses one whole message from an empty window (valid with or without context takeover), tail removed. */
export function deflateMessage(data: Uint8Array): Buffer {
  const output = deflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH });
  return output.subarray(0, output.length - 4);
}

/** Inflates one message compressed without context takeover (RFC 7692 §7.2.2). */
export function inflateMessage(payload: Uint8Array): Buffer {
  return inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: constants.Z_SYNC_FLUSH });
}

/** A raw client connection: the upgrade done by hand, frames read by `FrameReader`. */
export interface RawClient {
  socket: Socket;
  status: number;
  head: string;
  /** Response headers, lower-case names. */
  headers: Record<string, string>;
  reader: FrameReader;
  closed: Promise<void>;
}

/** Opens a raw connection and sends an upgrade request with `extensions` (if any). */
export function rawClient(port: number, extensions?: string): Promise<RawClient> {
  return within(
    new Promise<RawClient>((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port });
      track(() => void socket.destroy());
      const key = randomBytes(16).toString('base64');
      let head = Buffer.alloc(0);
      const reader = new FrameReader();
      const closed = new Promise<void>((done) => socket.once('close', () => done()));
      socket.on('error', () => {});
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        socket.off('data', onData);
        const text = head.subarray(0, end).toString('latin1');
        const [statusLine, ...lines] = text.split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const status = Number(statusLine!.split(' ')[1]);
        if (status === 101 && headers['sec-websocket-accept'] !== createHash('sha1').update(key + GUID).digest('base64')) {
          reject(new Error('wrong Sec-WebSocket-Accept'));
          return;
        }
        socket.on('data', (more: Buffer) => reader.push(more));
        reader.push(head.subarray(end + 4));
        resolve({ socket, status, head: text, headers, reader, closed });
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
          '\r\n',
      );
    }),
    'the raw upgrade',
  );
}

/**
 * A raw server that answers every upgrade 101 with the given `Sec-WebSocket-Extensions`
 * (none when undefined), then hands the socket to `upgraded`, if given; `requests`
 * collects the request heads.
 */
export async function rawServer(extensions: string | undefined, upgraded?: (socket: Socket) => void): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const server: NetServer = createNetServer((socket) => {
    socket.on('error', () => {});
    let head = '';
    let isAnswered = false;
    socket.on('data', (chunk) => {
      if (isAnswered) return; // frames after the upgrade are ignored
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      requests.push(head.slice(0, end));
      const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${createHash('sha1').update(key + GUID).digest('base64')}\r\n` +
          (extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
          '\r\n',
      );
      isAnswered = true;
      upgraded?.(socket);
    });
  });
  track(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  track(() => {
    for (const socket of sockets) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, requests };
}
