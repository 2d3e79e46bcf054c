/**
 * Helpers for the pub/sub, heartbeat, shutdown and backpressure tests: the node-layer
 * helpers (`test/node/helpers.ts`: bounded waits, resources closed by `closeAll()`, raw
 * clients), plus the shorter forms these tests use.
 */
import type { EventEmitter } from 'node:events';
import { WebSocket } from '../../src/index.js';
import { frame, nextEvent, rawUpgrade as upgradeRaw, TIMEOUT, track, until, within, type RawClient, type Started } from '../node/helpers.js';

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
  upgradeRequest,
  within,
  type RawFrame,
  type Started,
} from '../node/helpers.js';

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

/** Reads an HTTP response from a raw client; returns the status. */
export async function readStatus(raw: RawClient, timeout = TIMEOUT): Promise<number> {
  return (await raw.readResponse(timeout)).status;
}

/** A raw client that completed the upgrade (101, accept value checked). */
export async function rawUpgrade(port: number, path = '/'): Promise<RawClient> {
  return (await upgradeRaw(port, { path })).raw;
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

/**
 * Runs `body` with uncaught exceptions collected rather than failing the test run; the
 * runner's own listeners are put back afterwards.
 */
export async function collectingUncaught(body: (errors: Error[]) => Promise<void>): Promise<void> {
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const errors: Error[] = [];
  const collect = (error: Error): void => {
    errors.push(error);
  };
  process.on('uncaughtException', collect);
  try {
    await body(errors);
  } finally {
    process.off('uncaughtException', collect);
    for (const listener of saved) process.on('uncaughtException', listener);
  }
}

/**
 * Runs `body` with unhandled rejections collected (an exception of application code
 * should be uncaught, never a rejection): `body` asserts on them.
 */
export async function collectingRejections(body: (rejections: unknown[]) => Promise<void>): Promise<void> {
  const rejections: unknown[] = [];
  const collect = (reason: unknown): void => {
    rejections.push(reason);
  };
  process.on('unhandledRejection', collect);
  try {
    await body(rejections);
  } finally {
    process.off('unhandledRejection', collect);
  }
}
