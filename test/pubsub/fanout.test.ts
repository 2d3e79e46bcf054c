import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { WebSocket, prepare } from '../../src/index.js';
import * as t from '../support/sockets.js';

afterEach(t.closeAll);

/** Records every chunk each server-side socket writes, by wrapping `socket.write`. */
function recordWrites(connections: Iterable<WebSocket>): Map<WebSocket, unknown[]> {
  const writes = new Map<WebSocket, unknown[]>();
  for (const ws of connections) {
    const socket = ws.socket as Socket;
    const chunks: unknown[] = [];
    writes.set(ws, chunks);
    const write = socket.write;
    socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
      chunks.push(chunk);
      return (write as any).call(this, chunk, ...rest);
    } as typeof socket.write;
  }
  return writes;
}

// A thousand subscribers (two thousand sockets in this process) keep the test to a
// few seconds here; the code path does not depend on the count, and the fan-out
// benchmark runs 10 000.
const SUBSCRIBERS = Number(process.env.VOLLEY_TEST_SUBSCRIBERS ?? 1000);

describe('a published message is framed once', () => {
  it(`every one of ${SUBSCRIBERS} subscribers' sockets writes the same Buffer object`, { timeout: 60_000 }, async () => {
    const started = await t.startServer();
    started.wss.on('connection', (ws) => ws.subscribe('fan'));
    const clients = await t.openClients(started, SUBSCRIBERS);
    await t.until(() => started.wss.subscriberCount('fan') === SUBSCRIBERS, 'every subscription');
    let delivered = 0;
    for (const client of clients) client.on('message', () => delivered++);
    const writes = recordWrites(started.wss.clients);

    // One message.
    expect(started.wss.publish('fan', 'one frame for all')).toEqual({ sent: SUBSCRIBERS, backpressure: 0, dropped: 0 });
    await t.until(() => delivered === SUBSCRIBERS, 'every delivery', 10_000 * t.MS);
    const first = [...writes.values()].map((chunks) => chunks[0]);
    expect(first.every((chunk) => chunk === first[0])).toBe(true);
    expect(Buffer.from(first[0] as Buffer)).toEqual(prepare('one frame for all').frame);
    for (const chunks of writes.values()) chunks.length = 0;

    // A burst published in one tick: each socket writes the run of frames as one view,
    // and that view is the same object for every socket.
    const burst = Array.from({ length: 200 }, (_, i) => `message ${i}`);
    for (const message of burst) started.wss.publish('fan', message);
    await t.until(() => delivered === SUBSCRIBERS * (1 + burst.length), 'every delivery of the burst', 10_000 * t.MS);
    const expectedBytes = Buffer.concat(burst.map((message) => prepare(message).frame));
    const distinct = new Set<unknown>();
    for (const chunks of writes.values()) {
      expect(Buffer.concat(chunks as Buffer[]).equals(expectedBytes)).toBe(true);
      expect(chunks.length).toBeLessThanOrEqual(2); // two when the burst crosses a slab boundary
      for (const chunk of chunks) distinct.add(chunk);
    }
    expect(distinct.size).toBeLessThanOrEqual(2);
  });

  it('a prepared message sent in a loop by hand is the same Buffer object on every socket', async () => {
    const started = await t.startServer();
    const clients = await t.openClients(started, 20);
    let delivered = 0;
    for (const client of clients) client.on('message', () => delivered++);
    const writes = recordWrites(started.wss.clients);
    const message = prepare(Buffer.alloc(100, 7));
    for (const ws of started.wss.clients) ws.send(message);
    await t.until(() => delivered === 20, 'every delivery');
    for (const chunks of writes.values()) expect(chunks).toEqual([message.frame]);
    for (const chunks of writes.values()) expect(chunks[0]).toBe(message.frame);
  });
});

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

describe('order', () => {
  it.each([1, 2, 3])('sends, publishes and broadcasts reach each connection in the order they were made (seed %i)', async (seed) => {
    const next = random(seed);
    const started = await t.startServer();
    const server: WebSocket[] = [];
    started.wss.on('connection', (ws) => server.push(ws));
    const clients = await t.openClients(started, 5);
    const topics = ['a', 'b', 'c'];
    // Random subscriptions; every connection is in at least one topic.
    server.forEach((ws, i) => {
      ws.subscribe(topics[i % 3]!);
      for (const topic of topics) if (next() < 0.4) ws.subscribe(topic);
    });
    const expected = new Map<WebSocket, string[]>(server.map((ws) => [ws, []]));
    const received = clients.map(() => [] as string[]);
    clients.forEach((client, i) => client.on('message', (data) => received[i]!.push(data.toString())));

    let sequence = 0;
    for (let round = 0; round < 20; round++) {
      // A burst of operations in one tick, then let the event loop run.
      const operations = 1 + Math.floor(next() * 40);
      for (let k = 0; k < operations; k++) {
        const message = String(sequence++);
        const pick = next();
        const from = server[Math.floor(next() * server.length)]!;
        const topic = topics[Math.floor(next() * topics.length)]!;
        if (pick < 0.3) {
          from.send(message);
          expected.get(from)!.push(message);
        } else if (pick < 0.6) {
          started.wss.publish(topic, message);
          for (const ws of server) if (ws.isSubscribed(topic)) expected.get(ws)!.push(message);
        } else if (pick < 0.8) {
          from.publish(topic, message);
          for (const ws of server) if (ws !== from && ws.isSubscribed(topic)) expected.get(ws)!.push(message);
        } else if (pick < 0.9) {
          started.wss.broadcast(message, { except: from });
          for (const ws of server) if (ws !== from) expected.get(ws)!.push(message);
        } else {
          const prepared = prepare(message);
          from.send(prepared);
          expected.get(from)!.push(message);
        }
      }
      if (next() < 0.7) await new Promise((resolve) => setImmediate(resolve));
    }
    const total = [...expected.values()].reduce((sum, list) => sum + list.length, 0);
    await t.until(() => received.reduce((sum, list) => sum + list.length, 0) === total, `${total} deliveries`);
    for (const ws of server) {
      // The client at the other end of this connection: its local port is our remote one.
      const i = clients.findIndex((client) => client.socket!.localPort === ws.socket!.remotePort);
      expect(received[i]).toEqual(expected.get(ws));
    }
  });
});
