/**
 * Helpers for tests over real sockets on 127.0.0.1 port 0: servers, Volley clients and
 * raw `node:net` clients that speak WebSocket bytes built here by hand.
 *
 * Every wait is bounded by `TIMEOUT`, a multiple of `MS` (one millisecond scaled by
 * `VOLLEY_TEST_MS_SCALE` for slow machines). Everything a test opens is registered and
 * closed by `closeAll()` (call it in `afterEach`), which then checks that no TCP handle
 * is left open.
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { WebSocket, WebSocketServer, type ServerOptions } from '../../src/index.js';

/** One millisecond, scaled for slow machines. */
export const MS = Number(process.env.VOLLEY_TEST_MS_SCALE ?? 1);
/** The bound of every wait. */
export const TIMEOUT = 3000 * MS;

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Races `promise` against `timeout` ms. */
export async function within<T>(promise: Promise<T>, what: string, timeout = TIMEOUT): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms waiting for ${what}`)), timeout);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The arguments of the next `event`, bounded; adds no `error` listener. */
export function nextEvent<T extends unknown[] = any[]>(emitter: EventEmitter, event: string, timeout = TIMEOUT): Promise<T> {
  let listener!: (...args: unknown[]) => void;
  const next = new Promise<T>((resolve) => {
    listener = (...args: unknown[]) => resolve(args as T);
    emitter.once(event, listener);
  });
  return within(next, `"${event}"`, timeout).finally(() => emitter.off(event, listener));
}

/** Polls `predicate` every few ms until it holds, bounded. */
export async function until(predicate: () => boolean, what: string, timeout = TIMEOUT): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting until ${what}`);
    await delay(2);
  }
}

// ---- Resources -------------------------------------------------------------------

const closers: Array<() => Promise<void> | void> = [];

export function track<T>(resource: T, close: (resource: T) => Promise<void> | void): T {
  closers.push(() => close(resource));
  return resource;
}

/** Closes everything the test opened (latest first), then checks no TCP handle is left. */
export async function closeAll(): Promise<void> {
  const pending = closers.splice(0).reverse();
  for (const close of pending) await within(Promise.resolve(close()), 'a resource to close');
  await until(() => openTcpHandles() === 0, 'every TCP handle is closed').catch(() => {
    throw new Error(`leaked TCP handles: ${JSON.stringify(process.getActiveResourcesInfo())}`);
  });
}

export function openTcpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap' || name === 'TCPServerWrap').length;
}

// ---- Servers and clients ---------------------------------------------------------------

export interface Started<Data = unknown> {
  wss: WebSocketServer<Data>;
  port: number;
  url: string;
}

/** A Volley server on its own listener, 127.0.0.1 port 0, terminated after the test. */
export async function startServer<Data = unknown>(options: Omit<ServerOptions<Data>, 'port' | 'host'> = {}): Promise<Started<Data>> {
  const wss = new WebSocketServer<Data>({ ...options, port: 0, host: '127.0.0.1' });
  track(wss, (server) => server.terminate());
  await nextEvent(wss, 'listening');
  const port = (wss.address() as { port: number }).port;
  return { wss, port, url: `ws://127.0.0.1:${port}` };
}

/** A Volley client, open (terminated after the test). */
export async function openClient(url: string, options: Record<string, any> = {}): Promise<WebSocket> {
  const ws = track(new WebSocket(url, options), (socket) => socket.terminate());
  await nextEvent(ws, 'open');
  return ws;
}

/** Opens `count` Volley clients, a few at a time, and waits until the server has them all. */
export async function openClients(started: Started<any>, count: number, options: Record<string, any> = {}): Promise<WebSocket[]> {
  const clients: WebSocket[] = [];
  const batch = 100;
  for (let i = 0; i < count; i += batch) {
    const opened = await Promise.all(Array.from({ length: Math.min(batch, count - i) }, () => openClient(started.url, options)));
    clients.push(...opened);
  }
  await until(() => started.wss.clients.size >= count, `${count} connections on the server`);
  return clients;
}

// ---- Raw clients ----------------------------------------------------------------------

export interface RawFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

export const Op = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;

/** A raw TCP client: collects what it receives; reads stop while `pause()`d. */
export class RawClient {
  readonly socket: Socket;
  buffer: Buffer = Buffer.alloc(0);
  closed = false;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Stops reading: the kernel buffers fill and the server's writes back up. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** The next frame, bounded. */
  async readFrame(timeout = TIMEOUT): Promise<RawFrame> {
    let parsed: ReturnType<typeof parseFrame>;
    await until(() => (parsed = parseFrame(this.buffer)) !== undefined, 'a WebSocket frame', timeout);
    this.buffer = this.buffer.subarray(parsed!.size);
    return parsed!.frame;
  }

  /** Every complete frame received so far. */
  takeFrames(): RawFrame[] {
    const frames: RawFrame[] = [];
    for (let parsed = parseFrame(this.buffer); parsed !== undefined; parsed = parseFrame(this.buffer)) {
      frames.push(parsed.frame);
      this.buffer = this.buffer.subarray(parsed.size);
    }
    return frames;
  }

  waitClosed(timeout = TIMEOUT): Promise<void> {
    return until(() => this.closed, 'the raw socket to close', timeout);
  }
}

export async function rawConnect(port: number): Promise<RawClient> {
  const socket = netConnect({ port, host: '127.0.0.1' });
  track(socket, (s) => {
    s.destroy();
  });
  const raw = new RawClient(socket);
  await nextEvent(socket, 'connect');
  return raw;
}

export function upgradeRequest(path = '/', extra = ''): string {
  const key = randomBytes(16).toString('base64');
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

/** Reads an HTTP response head from a raw client; returns the status. */
export async function readStatus(raw: RawClient, timeout = TIMEOUT): Promise<number> {
  await until(() => raw.buffer.indexOf('\r\n\r\n') !== -1, 'an HTTP response head', timeout);
  const end = raw.buffer.indexOf('\r\n\r\n');
  const head = raw.buffer.subarray(0, end).toString('latin1');
  raw.buffer = raw.buffer.subarray(end + 4);
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
}

/** A raw client that completed the upgrade (101). */
export async function rawUpgrade(port: number, path = '/'): Promise<RawClient> {
  const raw = await rawConnect(port);
  raw.write(upgradeRequest(path));
  const status = await readStatus(raw);
  if (status !== 101) throw new Error(`expected 101, got ${status}`);
  return raw;
}

/** Parses one frame at the start of `buffer`, or undefined when incomplete. */
export function parseFrame(buffer: Buffer): { frame: RawFrame; size: number } | undefined {
  if (buffer.length < 2) return undefined;
  const b0 = buffer[0]!;
  const b1 = buffer[1]!;
  let length = b1 & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return undefined;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return undefined;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  let key: Buffer | undefined;
  if (masked) {
    if (buffer.length < offset + 4) return undefined;
    key = buffer.subarray(offset, offset + 4);
    offset += 4;
  }
  if (buffer.length < offset + length) return undefined;
  const payload = Buffer.from(buffer.subarray(offset, offset + length));
  if (key !== undefined) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!;
  return { frame: { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload }, size: offset + length };
}

/** A masked client frame. */
export function clientFrame(opcode: number, payload: string | Uint8Array = Buffer.alloc(0)): Buffer {
  const data = Buffer.from(payload);
  const mask = randomBytes(4);
  let header: Buffer;
  if (data.length < 126) header = Buffer.from([0x80 | opcode, 0x80 | data.length]);
  else if (data.length < 65536) {
    header = Buffer.from([0x80 | opcode, 0x80 | 126, 0, 0]);
    header.writeUInt16BE(data.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(data.length), 2);
  }
  for (let i = 0; i < data.length; i++) data[i]! ^= mask[i % 4]!;
  return Buffer.concat([header, mask, data]);
}

/** A close frame payload. */
export function closePayload(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

/** Collects the next `count` messages of a socket as strings (text) or Buffers. */
export function collect(ws: EventEmitter, count: number, timeout = TIMEOUT): Promise<Array<string | Buffer>> {
  const messages: Array<string | Buffer> = [];
  return within(
    new Promise((resolve) => {
      const onMessage = (data: Buffer, isBinary: boolean): void => {
        messages.push(isBinary ? data : data.toString());
        if (messages.length === count) {
          ws.off('message', onMessage);
          resolve(messages);
        }
      };
      ws.on('message', onMessage);
    }),
    `${count} messages`,
    timeout,
  );
}
