/**
 * Helpers for the node-layer tests: real sockets on 127.0.0.1 port 0.
 *
 * Every wait is bounded by `TIMEOUT`, a multiple of `MS`, one millisecond scaled by
 * `VOLLEY_TEST_MS_SCALE` (raise it on a slow machine). Everything a test opens is
 * registered here and closed by `closeAll()` (call it in `afterEach`), which then checks
 * that no TCP handle is left open.
 *
 * Raw clients speak HTTP and WebSocket bytes built here by hand, independently of
 * `src/protocol`, so the server is checked against a second implementation.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { WebSocket as PeerWebSocket, WebSocketServer as PeerWebSocketServer } from 'ws';
import { WebSocket, WebSocketServer, type ServerOptions } from '../../src/index.js';

/** One millisecond, scaled for slow machines: `VOLLEY_TEST_MS_SCALE=3 npx vitest run test/node`. */
export const MS = Number(process.env.VOLLEY_TEST_MS_SCALE ?? 1);

/** The bound of every wait in these tests. */
export const TIMEOUT = 3000 * MS;

/** The RFC 6455 §1.3 GUID. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// ---- Waiting ------------------------------------------------------------------------

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Races `promise` against `timeout` ms; rejects naming `what` when the time is up. */
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

/**
 * The arguments of the next `event` of `emitter`, bounded by `TIMEOUT`. Unlike
 * `events.once`, it adds no `error` listener: waiting must not change whether an
 * emitter has one.
 */
export function nextEvent<T extends unknown[] = any[]>(emitter: EventEmitter, event: string, timeout = TIMEOUT): Promise<T> {
  let listener!: (...args: unknown[]) => void;
  const next = new Promise<T>((resolve) => {
    listener = (...args: unknown[]) => resolve(args as T);
    emitter.once(event, listener);
  });
  return within(next, `"${event}"`, timeout).finally(() => emitter.off(event, listener));
}

/** Polls `predicate` every few ms until it holds, bounded by `TIMEOUT`. */
export async function until(predicate: () => boolean, what: string, timeout = TIMEOUT): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting until ${what}`);
    await delay(5);
  }
}

/** Records every emission of the listed events, in order, from the moment of the call. */
export function recordEvents(emitter: EventEmitter, events: string[]): Array<{ event: string; args: unknown[] }> {
  const log: Array<{ event: string; args: unknown[] }> = [];
  for (const event of events) emitter.on(event, (...args: unknown[]) => log.push({ event, args }));
  return log;
}

// ---- Resources: everything opened is closed after the test ------------------------------

const closers: Array<() => Promise<void> | void> = [];

/** Registers something to close after the test. */
export function track<T>(resource: T, close: (resource: T) => Promise<void> | void): T {
  closers.push(() => close(resource));
  return resource;
}

/**
 * Closes everything the test opened (latest first), then checks that no TCP handle is
 * left: a test that leaks a socket or a listener fails here.
 */
export async function closeAll(): Promise<void> {
  const pending = closers.splice(0).reverse();
  let failure: unknown;
  for (const close of pending) {
    // Close everything even when one fails, so a failure does not leak into later tests.
    await within(Promise.resolve().then(close), 'a resource to close').catch((error: unknown) => (failure ??= error));
  }
  if (failure !== undefined) throw failure;
  await until(() => openTcpHandles() === 0, 'every TCP handle is closed').catch(() => {
    throw new Error(`leaked TCP handles: ${JSON.stringify(process.getActiveResourcesInfo())}`);
  });
}

/** Count of open TCP sockets and listeners in this process. */
export function openTcpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap' || name === 'TCPServerWrap' || name === 'TLSWrap')
    .length;
}

async function closeNetServer(server: NetServer | HttpServer): Promise<void> {
  if (!server.listening) return;
  (server as HttpServer).closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Terminates a Volley server's connections and closes it (and its own listener). */
async function closeVolleyServer(wss: WebSocketServer<any>): Promise<void> {
  for (const ws of wss.clients) ws.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
}

// ---- Servers and clients ----------------------------------------------------------------

export interface Started<Data = unknown> {
  wss: WebSocketServer<Data>;
  port: number;
  /** `ws://127.0.0.1:port` */
  url: string;
}

/** Starts a Volley server on its own listener, 127.0.0.1 port 0. */
export async function startServer<Data = unknown>(options: Omit<ServerOptions<Data>, 'port' | 'host'> = {}): Promise<Started<Data>> {
  const wss = new WebSocketServer<Data>({ ...options, port: 0, host: '127.0.0.1' });
  track(wss, closeVolleyServer);
  await nextEvent(wss, 'listening');
  const port = (wss.address() as { port: number }).port;
  return { wss, port, url: `ws://127.0.0.1:${port}` };
}

/**
 * A Volley server attached to an http server on a Unix domain socket in a temporary
 * directory, echoing every message; both closed and the directory removed after the test.
 */
export async function startUnixSocketServer(): Promise<{ wss: WebSocketServer; socketPath: string }> {
  const dir = track(mkdtempSync(join(tmpdir(), 'volley-ipc-')), (path) => rmSync(path, { recursive: true, force: true }));
  const socketPath = join(dir, 'ws.sock');
  const http = createHttpServer();
  track(http, (server) => new Promise<void>((resolve) => server.close(() => resolve())));
  await new Promise<void>((resolve) => http.listen(socketPath, resolve));
  const wss = track(new WebSocketServer({ server: http }), closeVolleyServer);
  wss.on('connection', (ws) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  return { wss, socketPath };
}

/** Starts listening an http(s) server on 127.0.0.1 port 0 and registers it for closing. */
export async function listen<S extends NetServer | HttpServer>(server: S, host = '127.0.0.1'): Promise<number> {
  track(server, closeNetServer);
  server.listen(0, host);
  await nextEvent(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** Registers a Volley client (terminated after the test) and returns it. */
export function client(url: string, protocols?: string | string[], options?: Record<string, any>): WebSocket {
  const ws = options === undefined ? new WebSocket(url, protocols) : new WebSocket(url, protocols ?? [], options);
  return track(ws, (socket) => socket.terminate());
}

/** Opens a Volley client and waits for `open`. */
export async function openClient(url: string, protocols?: string | string[], options?: Record<string, any>): Promise<WebSocket> {
  const ws = client(url, protocols, options);
  await nextEvent(ws, 'open');
  return ws;
}

/** A connected Volley pair: the server's side and the client's side. */
export async function connectPair<Data = unknown>(
  serverOptions: Omit<ServerOptions<Data>, 'port' | 'host'> = {},
  clientOptions?: Record<string, any>,
): Promise<Started<Data> & { server: WebSocket<Data>; client: WebSocket }> {
  const started = await startServer<Data>(serverOptions);
  const connection = nextEvent<[WebSocket<Data>]>(started.wss, 'connection');
  const ws = await openClient(started.url, undefined, clientOptions);
  const [server] = await connection;
  return { ...started, server, client: ws };
}

/** Registers a `ws` client (terminated after the test). */
export function peerClient(url: string, protocols?: string | string[], options?: Record<string, any>): PeerWebSocket {
  return track(new PeerWebSocket(url, protocols, options), (ws) => ws.terminate());
}

/** Starts a `ws` server on 127.0.0.1 port 0. */
export async function startPeerServer(options: Record<string, any> = {}): Promise<{ wss: PeerWebSocketServer; url: string }> {
  const wss = new PeerWebSocketServer({ ...options, port: 0, host: '127.0.0.1' });
  track(wss, async (server) => {
    for (const ws of server.clients) ws.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await nextEvent(wss, 'listening');
  return { wss, url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}` };
}

// ---- Raw sockets ------------------------------------------------------------------------

/** A frame as read off the wire. */
export interface RawFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** An HTTP response as read off the wire. */
export interface RawResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The head, as received. */
  head: string;
  body: string;
}

/**
 * A raw TCP client: writes bytes, collects what it receives, reads HTTP responses and
 * WebSocket frames out of it.
 */
export class RawClient {
  readonly socket: Socket;
  /** Bytes received and not consumed yet. */
  buffer = Buffer.alloc(0);
  /** Every byte received since connecting. */
  received = 0;
  ended = false;
  closed = false;
  readonly #events = new EventEmitter();

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.received += chunk.length;
      this.#events.emit('change');
    });
    socket.on('end', () => {
      this.ended = true;
      this.#events.emit('change');
    });
    socket.on('close', () => {
      this.closed = true;
      this.#events.emit('change');
    });
    socket.on('error', () => {}); // resets are expected in these tests; 'close' follows
  }

  write(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** Waits until `take` returns a value (it is given the unconsumed bytes). */
  async #read<T>(what: string, take: () => T | undefined, timeout: number): Promise<T> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
      await nextEvent(this.#events, 'change', left).catch(() => undefined);
    }
  }

  /** Reads one HTTP response (head and a Content-Length body). */
  readResponse(timeout = TIMEOUT): Promise<RawResponse> {
    return this.#read(
      'an HTTP response',
      () => {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end === -1) return undefined;
        const head = this.buffer.toString('latin1', 0, end);
        const [statusLine, ...lines] = head.split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(':');
          const name = line.slice(0, colon).toLowerCase();
          const value = line.slice(colon + 1).trim();
          headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
        }
        const length = Number(headers['content-length'] ?? 0);
        if (this.buffer.length < end + 4 + length) return undefined;
        const body = this.buffer.toString('utf8', end + 4, end + 4 + length);
        this.buffer = this.buffer.subarray(end + 4 + length);
        return { status: Number(statusLine!.split(' ')[1]), headers, head, body };
      },
      timeout,
    );
  }

  /** Reads one WebSocket frame. */
  readFrame(timeout = TIMEOUT): Promise<RawFrame> {
    return this.#read(
      'a WebSocket frame',
      () => {
        const parsed = parseFrame(this.buffer);
        if (parsed === undefined) return undefined;
        this.buffer = this.buffer.subarray(parsed.size);
        return parsed.frame;
      },
      timeout,
    );
  }

  /** Stops reading: the kernel's buffers fill and the server's writes back up. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Every complete frame received so far (consumed). */
  takeFrames(): RawFrame[] {
    const frames: RawFrame[] = [];
    for (let parsed = parseFrame(this.buffer); parsed !== undefined; parsed = parseFrame(this.buffer)) {
      frames.push(parsed.frame);
      this.buffer = this.buffer.subarray(parsed.size);
    }
    return frames;
  }

  /** Waits for the peer's FIN. */
  waitEnd(timeout = TIMEOUT): Promise<void> {
    return this.#read('the peer to end the connection', () => (this.ended ? true : undefined), timeout).then(() => undefined);
  }

  /** Waits for the socket to close (by either side). */
  waitClosed(timeout = TIMEOUT): Promise<void> {
    const check = (): boolean => this.closed;
    return until(check, 'the raw socket to close', timeout);
  }

  /** Waits until at least `bytes` bytes were received in total. */
  waitReceived(bytes: number, timeout = TIMEOUT): Promise<void> {
    return until(() => this.received >= bytes, `${bytes} bytes received`, timeout);
  }
}

/** Opens a raw TCP connection (closed after the test). */
export async function rawConnect(port: number, options: { host?: string; allowHalfOpen?: boolean; localAddress?: string } = {}): Promise<RawClient> {
  const socket = netConnect({ port, host: options.host ?? '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false, localAddress: options.localAddress });
  track(socket, (s) => {
    s.destroy();
  });
  const raw = new RawClient(socket);
  await nextEvent(socket, 'connect');
  return raw;
}

/** Parses one frame at the start of `buffer`, or undefined when it is incomplete. */
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
  return {
    frame: { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload },
    size: offset + length,
  };
}

/** Frame opcodes, named as in RFC 6455 §5.2. */
export const Op = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;

/**
 * Builds a frame byte by byte. Masked (as a client must) unless `mask: null`.
 */
export function frame(
  opcode: number,
  payload: string | Uint8Array = Buffer.alloc(0),
  options: { fin?: boolean; rsv?: number; mask?: Uint8Array | null } = {},
): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload);
  const mask = options.mask === undefined ? randomBytes(4) : options.mask;
  const first = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  const maskBit = mask === null ? 0 : 0x80;
  let header: Buffer;
  if (data.length < 126) {
    header = Buffer.from([first, maskBit | data.length]);
  } else if (data.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = first;
    header[1] = maskBit | 126;
    header.writeUInt16BE(data.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(BigInt(data.length), 2);
  }
  if (mask === null) return Buffer.concat([header, data]);
  const masked = Buffer.from(data);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i % 4]!;
  return Buffer.concat([header, Buffer.from(mask), masked]);
}

/** A close frame payload: 2-byte code and a reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

/** The code of a close frame payload (1005 when empty). */
export function closeCodeOf(payload: Buffer): number {
  return payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
}

/** A fresh `Sec-WebSocket-Key`. */
export function newKey(): string {
  return randomBytes(16).toString('base64');
}

/** `Sec-WebSocket-Accept` for `key`, computed here independently of the library. */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/**
 * An upgrade request. Every standard header can be replaced or removed (`null`); extra
 * headers are appended.
 */
export function upgradeRequest(
  options: { method?: string; path?: string; version?: string; key?: string; headers?: Record<string, string | null> } = {},
): string {
  const headers: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': options.key ?? newKey(),
    'Sec-WebSocket-Version': '13',
    ...options.headers,
  };
  const lines = [`${options.method ?? 'GET'} ${options.path ?? '/'} HTTP/${options.version ?? '1.1'}`];
  for (const [name, value] of Object.entries(headers)) if (value !== null) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Opens a raw client and completes the handshake: the 101 is checked, and the client
 * can then write frames by hand.
 */
export async function rawUpgrade(
  port: number,
  options: Parameters<typeof upgradeRequest>[0] = {},
  socketOptions: Parameters<typeof rawConnect>[1] = {},
): Promise<{ raw: RawClient; response: RawResponse }> {
  const raw = await rawConnect(port, socketOptions);
  const key = options.key ?? newKey();
  raw.write(upgradeRequest({ ...options, key }));
  const response = await raw.readResponse();
  expect(response.status).toBe(101);
  expect(response.headers['sec-websocket-accept']).toBe(acceptFor(key));
  return { raw, response };
}

/** Sends a request head and reads the answer: for handshake rejections. */
export async function rawRequest(port: number, request: string | Buffer): Promise<RawResponse & { raw: RawClient }> {
  const raw = await rawConnect(port);
  raw.write(request);
  const response = await raw.readResponse();
  return { ...response, raw };
}

/**
 * A raw TCP server standing in for a WebSocket server: `onRequest` gets each socket with
 * the client's request head once it has arrived (and the `Sec-WebSocket-Key` in it), and
 * answers however the test wants. Its sockets are destroyed after the test.
 */
export async function startRawServer(
  onRequest: (socket: Socket, head: string, key: string, rest: Buffer) => void,
): Promise<{ server: NetServer; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createNetServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const head = buffer.toString('latin1', 0, end);
      const key = /^sec-websocket-key: *(\S+)/im.exec(head)?.[1] ?? '';
      onRequest(socket, head, key, buffer.subarray(end + 4));
    };
    socket.on('data', onData);
  });
  const port = await listen(server);
  // Registered after the listener, so closed before it: close() waits for connections.
  track(server, () => {
    for (const socket of sockets) socket.destroy();
  });
  return { server, port, sockets };
}

/** A 101 response head accepting `key`, with extra header lines. */
export function switchingProtocols(key: string, extra: string[] = []): string {
  return ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`, ...extra]
    .join('\r\n')
    .concat('\r\n\r\n');
}

// ---- Miscellaneous ------------------------------------------------------------------------

/** Whether this machine has an IPv6 loopback (`::1`). */
export function hasIpv6Loopback(): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((address) => address.family === 'IPv6' && address.address === '::1'));
}

/** Collects `count` messages of a Volley or `ws` socket, bounded by TIMEOUT. */
export function collectMessages(ws: EventEmitter, count: number, timeout = TIMEOUT): Promise<Array<[any, boolean]>> {
  const messages: Array<[any, boolean]> = [];
  return within(
    new Promise((resolve) => {
      const onMessage = (data: unknown, isBinary: boolean): void => {
        messages.push([data, isBinary]);
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

// ---- A self-signed certificate, built with node:crypto -------------------------------------

function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const length = body.length;
  const lengthBytes =
    length < 0x80 ? Buffer.from([length]) : length < 0x100 ? Buffer.from([0x81, length]) : Buffer.from([0x82, length >> 8, length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), lengthBytes, body]);
}
const sequence = (...parts: Buffer[]): Buffer => der(0x30, ...parts);
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [a! * 40 + b!];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let value = arc >> 7; value > 0; value >>= 7) chunk.unshift((value & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}
function utcTime(date: Date): Buffer {
  const text = date.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  return der(0x17, Buffer.from(text));
}

let certificate: { key: string; cert: string } | undefined;

/**
 * A self-signed certificate for `localhost`, `127.0.0.1` and `::1` (ECDSA P-256,
 * valid for a day), encoded by hand in DER: Node has no API to issue certificates.
 */
export function selfSignedCertificate(): { key: string; cert: string } {
  if (certificate !== undefined) return certificate;
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ecdsaWithSha256 = sequence(oid('1.2.840.10045.4.3.2'));
  const name = sequence(der(0x31, sequence(oid('2.5.4.3'), der(0x0c, Buffer.from('localhost')))));
  const serial = randomBytes(8);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and minimal (DER): no leading zero byte
  const now = Date.now();
  const subjectAltName = sequence(
    der(0x82, Buffer.from('localhost')),
    der(0x87, Buffer.from([127, 0, 0, 1])),
    der(0x87, Buffer.from('00000000000000000000000000000001', 'hex')),
  );
  const extensions = sequence(
    sequence(oid('2.5.29.19'), der(0x01, Buffer.from([0xff])), der(0x04, sequence(der(0x01, Buffer.from([0xff]))))),
    sequence(oid('2.5.29.17'), der(0x04, subjectAltName)),
  );
  const tbs = sequence(
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, serial),
    ecdsaWithSha256,
    name,
    sequence(utcTime(new Date(now - 3600_000)), utcTime(new Date(now + 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey);
  const certDer = sequence(tbs, ecdsaWithSha256, der(0x03, Buffer.from([0]), signature));
  const cert = `-----BEGIN CERTIFICATE-----\n${certDer.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  const x509 = new X509Certificate(cert);
  if (!x509.verify(publicKey)) throw new Error('the self-signed certificate does not verify');
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  certificate = { key, cert };
  return certificate;
}

/**
 * Watches the timers armed with `delay` ms from now on: `cleared()` tells, for each, whether
 * it was cleared (a timer left armed keeps the process alive until it fires).
 */
export function watchTimers(delay: number): { cleared(): boolean[]; restore(): void } {
  const armed: unknown[] = [];
  const cleared = new Set<unknown>();
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  globalThis.setTimeout = function (this: unknown, ...args: Parameters<typeof setTimeout>) {
    const timer = realSetTimeout.apply(this, args);
    if (args[1] === delay) armed.push(timer);
    return timer;
  } as typeof setTimeout;
  globalThis.clearTimeout = function (this: unknown, timer: Parameters<typeof clearTimeout>[0]) {
    cleared.add(timer);
    return realClearTimeout.call(this, timer);
  } as typeof clearTimeout;
  return {
    cleared: () => armed.map((timer) => cleared.has(timer)),
    restore: () => {
      globalThis.setTimeout = realSetTimeout;
      globalThis.clearTimeout = realClearTimeout;
    },
  };
}
