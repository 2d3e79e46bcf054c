/**
 * Real-socket helpers for the feature tests (auth, limits, rate limits, metrics): the
 * node-layer helpers (`test/node/helpers.ts`: bounded waits, resources closed and TCP
 * handles checked by `closeAll()`), plus servers attached to node:http and upgrade
 * requests written by hand whose response keeps its socket.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { WebSocket, WebSocketServer, type ServerOptions } from '../../src/index.js';
import { listen, track as trackResource, within } from '../node/helpers.js';

export { closeAll, delay, MS, nextEvent, startServer, TIMEOUT, until, within } from '../node/helpers.js';

/** A server attached to a node:http server on 127.0.0.1. */
export async function startAttachedServer<Data = unknown>(options: Omit<ServerOptions<Data>, 'port' | 'server' | 'noServer'> = {}): Promise<{ wss: WebSocketServer<Data>; http: HttpServer; port: number; url: string }> {
  const http = createHttpServer((req, res) => res.writeHead(404).end());
  const port = await listen(http);
  const wss = track(new WebSocketServer<Data>({ ...options, server: http }));
  return { wss, http, port, url: `ws://127.0.0.1:${port}` };
}

/** Registers a server created by the test itself (closed after the test). */
export function track<T extends WebSocketServer<any> | HttpServer>(server: T): T {
  if (server instanceof WebSocketServer) {
    trackResource(server, (wss) => {
      for (const ws of wss.clients) ws.terminate();
      return new Promise<void>((resolve) => wss.close(() => resolve()));
    });
  } else {
    trackResource(server as HttpServer, (http) => {
      if (!http.listening) return;
      http.closeAllConnections();
      return new Promise<void>((resolve) => http.close(() => resolve()));
    });
  }
  return server;
}

/** A volley client, registered for cleanup; resolves once open, rejects on its error. */
export async function openClient(url: string, protocols?: string | string[], options: Record<string, unknown> = {}): Promise<WebSocket> {
  const ws = trackResource(new WebSocket(url, protocols ?? [], options), (socket) => socket.terminate());
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
  const socket = trackResource(connect({ host: '127.0.0.1', port, localAddress: options.localAddress }), (s) => {
    s.destroy();
  });
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
