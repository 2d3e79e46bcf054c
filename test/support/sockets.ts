/**
 * Helpers for the pub/sub, heartbeat, shutdown and backpressure tests: the node-layer
 * helpers (`test/node/helpers.ts`: bounded waits, resources closed by `closeAll()`, raw
 * clients), plus the shorter forms these tests use.
 */
import type { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { WebSocket } from '../../src/index.js';
import { frame, nextEvent, rawConnect, TIMEOUT, track, until, within, type RawClient, type Started } from '../node/helpers.js';
import { WebSocket as VolleyWebSocket } from '../../src/index.js';

export {
  closeAll,
  closePayload,
  delay,
  MS,
  nextEvent,
  Op,
  openTcpHandles,
  parseFrame,
  rawConnect,
  RawClient,
  startServer,
  TIMEOUT,
  track,
  until,
  within,
  type RawFrame,
  type Started,
} from '../node/helpers.js';

/** A Volley client, open (terminated after the test). */
export async function openClient(url: string, options: Record<string, any> = {}): Promise<WebSocket> {
  const ws = track(new VolleyWebSocket(url, options), (socket) => socket.terminate());
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

/** A masked client frame. */
export function clientFrame(opcode: number, payload: string | Uint8Array = Buffer.alloc(0)): Buffer {
  return frame(opcode, payload);
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
