/**
 * Real-socket helpers for the feature tests (auth, limits, rate limits, metrics):
 * servers on 127.0.0.1 port 0, raw upgrade requests written by hand, and bounded waits.
 *
 * Every wait is bounded by `TIMEOUT` (scaled by `VOLLEY_TEST_MS_SCALE` on slow
 * machines). Everything opened is registered and closed by `closeAll()` (call it in
 * `afterEach`).
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
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

/** The arguments of the next `event`, bounded. */
export function nextEvent<T extends unknown[] = any[]>(emitter: EventEmitter, event: string, timeout = TIMEOUT): Promise<T> {
  let listener!: (...args: unknown[]) => void;
  const next = new Promise<T>((resolve) => {
    listener = (...args: unknown[]) => resolve(args as T);
    emitter.once(event, listener);
  });
  return within(next, `"${event}"`, timeout).finally(() => emitter.off(event, listener));
}

/** Polls `predicate` until it holds, bounded. */
export async function until(predicate: () => boolean, what: string, timeout = TIMEOUT): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting until ${what}`);
    await delay(5);
  }
}

// ---- Resources ------------------------------------------------------------------------

const servers = new Set<WebSocketServer<any>>();
const httpServers = new Set<HttpServer>();
const sockets = new Set<Socket>();
const clients = new Set<WebSocket<any>>();

/** Closes everything the test opened. */
export async function closeAll(): Promise<void> {
  for (const client of clients) client.terminate();
  clients.clear();
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  const closing: Promise<unknown>[] = [];
  for (const wss of servers) {
    for (const ws of wss.clients) ws.terminate();
    closing.push(new Promise<void>((resolve) => wss.close(() => resolve())));
  }
  servers.clear();
  for (const server of httpServers) {
    server.closeAllConnections();
    closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
  }
  httpServers.clear();
  await within(Promise.all(closing), 'servers to close');
}

/** A server on its own port (127.0.0.1, any free port). */
export async function startServer<Data = unknown>(options: Omit<ServerOptions<Data>, 'port'> = {}): Promise<{ wss: WebSocketServer<Data>; port: number; url: string }> {
  const wss = new WebSocketServer<Data>({ ...options, port: 0, host: '127.0.0.1' });
  servers.add(wss);
  await nextEvent(wss, 'listening');
  const port = (wss.address() as { port: number }).port;
  return { wss, port, url: `ws://127.0.0.1:${port}` };
}

/** A server attached to a node:http server on 127.0.0.1. */
export async function startAttachedServer<Data = unknown>(options: Omit<ServerOptions<Data>, 'port' | 'server' | 'noServer'> = {}): Promise<{ wss: WebSocketServer<Data>; http: HttpServer; port: number; url: string }> {
  const http = createHttpServer((req, res) => res.writeHead(404).end());
  httpServers.add(http);
  const wss = new WebSocketServer<Data>({ ...options, server: http });
  servers.add(wss);
  http.listen(0, '127.0.0.1');
  await nextEvent(http, 'listening');
  const port = (http.address() as { port: number }).port;
  return { wss, http, port, url: `ws://127.0.0.1:${port}` };
}

/** Registers a server created by the test itself. */
export function track<T extends WebSocketServer<any> | HttpServer>(server: T): T {
  if (server instanceof WebSocketServer) servers.add(server);
  else httpServers.add(server as HttpServer);
  return server;
}

/** A volley client, registered for cleanup; resolves once open. */
export async function openClient(url: string, protocols?: string | string[], options: Record<string, unknown> = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols ?? [], options);
  clients.add(ws);
  const result = await within(
    new Promise<'open' | Error>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('error', (error: Error) => resolve(error));
    }),
    'the client to open',
  );
  if (result !== 'open') throw result;
  return ws;
}

/** A volley client that is not awaited (for counting messages from the start). */
export function newClient(url: string, protocols?: string | string[], options: Record<string, unknown> = {}): WebSocket {
  const ws = new WebSocket(url, protocols ?? [], options);
  clients.add(ws);
  return ws;
}

// ---- Raw upgrades -----------------------------------------------------------------------

export interface RawResponse {
  status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  socket: Socket;
}

export interface RawUpgradeOptions {
  path?: string;
  headers?: Record<string, string>;
  /** Local address to connect from (127.0.0.2, ... are loopback too): another client IP. */
  localAddress?: string;
  /** Leave out the `Sec-WebSocket-*` / `Upgrade` headers (a plain HTTP request). */
  plain?: boolean;
}

/**
 * Sends an upgrade request written by hand and reads the response head (and, for an
 * error, its body up to Content-Length). The socket stays open after a 101.
 */
export function rawUpgrade(port: number, options: RawUpgradeOptions = {}): Promise<RawResponse> {
  const socket = connect({ host: '127.0.0.1', port, localAddress: options.localAddress });
  sockets.add(socket);
  const lines = [`GET ${options.path ?? '/'} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
  if (!options.plain) {
    lines.push('Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13');
  }
  for (const [name, value] of Object.entries(options.headers ?? {})) lines.push(`${name}: ${value}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  const response = new Promise<RawResponse>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    let head: { status: number; headers: Record<string, string>; bodyStart: number } | null = null;
    const finish = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    const tryResolve = (ended: boolean) => {
      if (head === null) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) {
          if (ended) {
            finish();
            reject(new Error(`connection closed before a response head: ${JSON.stringify(buffered.toString('latin1'))}`));
          }
          return;
        }
        const [statusLine, ...headerLines] = buffered.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of headerLines) {
          const colon = line.indexOf(':');
          const name = line.slice(0, colon).trim().toLowerCase();
          const value = line.slice(colon + 1).trim();
          headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
        }
        head = { status: Number(statusLine!.split(' ')[1]), headers, bodyStart: end + 4 };
      }
      const length = head.status === 101 ? 0 : Number(head.headers['content-length'] ?? 0);
      if (buffered.length - head.bodyStart >= length || ended) {
        finish();
        resolve({ status: head.status, headers: head.headers, body: buffered.subarray(head.bodyStart, head.bodyStart + length).toString(), socket });
      }
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      tryResolve(false);
    };
    const onClose = () => tryResolve(true);
    const onError = (error: Error) => {
      finish();
      reject(error);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
  return within(response, 'an upgrade response');
}

/** Waits until `socket` is closed by the server. */
export function closed(socket: Socket): Promise<void> {
  if (socket.destroyed && socket.closed) return Promise.resolve();
  socket.on('error', () => {});
  return within(new Promise<void>((resolve) => socket.once('close', () => resolve())), 'the socket to close');
}

/** A masked client text frame, built by hand. */
export function clientFrame(payload: string | Buffer, opcode = 1): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  if (data.length > 125) throw new RangeError('clientFrame builds short frames only');
  const mask = randomBytes(4);
  const frame = Buffer.alloc(6 + data.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | data.length;
  mask.copy(frame, 2);
  for (let i = 0; i < data.length; i++) frame[6 + i] = data[i]! ^ mask[i & 3]!;
  return frame;
}
