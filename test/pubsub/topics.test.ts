import { afterEach, describe, expect, it } from 'vitest';
import { InvalidStateError, SendStatus, WebSocket, prepare } from '../../src/index.js';
import { TopicRegistry } from '../../src/pubsub/topics.js';
import * as t from '../support/sockets.js';

afterEach(t.closeAll);

/** The server-side connection of each client, in the order the clients connected. */
async function connected(started: t.Started<any>, count: number, options: Record<string, any> = {}) {
  const server: WebSocket[] = [];
  const onConnection = (ws: WebSocket) => server.push(ws);
  started.wss.on('connection', onConnection);
  const clients: WebSocket[] = [];
  for (let i = 0; i < count; i++) {
    clients.push(await t.openClient(started.url, options));
    await t.until(() => server.length === i + 1, 'the server-side connection');
  }
  started.wss.off('connection', onConnection);
  return { clients, server };
}

describe('subscriptions', () => {
  it('subscribe, isSubscribed, topics, unsubscribe and subscriberCount agree', async () => {
    const started = await t.startServer();
    const { server } = await connected(started, 2);
    const [a, b] = server as [WebSocket, WebSocket];
    expect(a.subscribe('room:1')).toBe(true);
    expect(a.subscribe('room:1')).toBe(false); // already
    expect(a.subscribe('room:2')).toBe(true);
    expect(b.subscribe('room:1')).toBe(true);
    expect(a.isSubscribed('room:1')).toBe(true);
    expect(b.isSubscribed('room:2')).toBe(false);
    expect([...a.topics].sort()).toEqual(['room:1', 'room:2']);
    expect(started.wss.subscriberCount('room:1')).toBe(2);
    expect(started.wss.subscriberCount('room:2')).toBe(1);
    expect(started.wss.subscriberCount('nobody')).toBe(0);

    expect(a.unsubscribe('room:1')).toBe(true);
    expect(a.unsubscribe('room:1')).toBe(false);
    expect(a.unsubscribe('never')).toBe(false);
    expect(a.isSubscribed('room:1')).toBe(false);
    expect(started.wss.subscriberCount('room:1')).toBe(1);
    expect([...a.topics]).toEqual(['room:2']);
  });

  it('ws.topics is a copy: changing it changes no subscription', async () => {
    const started = await t.startServer();
    const { server } = await connected(started, 1);
    const ws = server[0]!;
    ws.subscribe('a');
    (ws.topics as Set<string>).add('b');
    expect(ws.isSubscribed('b')).toBe(false);
    expect(started.wss.subscriberCount('b')).toBe(0);
  });

  it('topics are exact strings: no wildcard, no case folding, no trimming', async () => {
    const started = await t.startServer();
    const { clients, server } = await connected(started, 1);
    server[0]!.subscribe('news.*');
    server[0]!.subscribe('Room');
    for (const topic of ['news.sport', 'news', 'room', 'Room ', '']) {
      expect(started.wss.publish(topic, 'x')).toEqual({ sent: 0, backpressure: 0, dropped: 0 });
    }
    const received = t.collect(clients[0]!, 2);
    expect(started.wss.publish('news.*', 'literal').sent).toBe(1);
    expect(started.wss.publish('Room', 'exact').sent).toBe(1);
    expect(await received).toEqual(['literal', 'exact']);
  });

  it('a topic that is not a string is a TypeError', async () => {
    const started = await t.startServer();
    const { server } = await connected(started, 1);
    expect(() => server[0]!.subscribe(42 as any)).toThrow(TypeError);
    expect(() => started.wss.publish(undefined as any, 'x')).toThrow(TypeError);
  });

  it('data that cannot be a message is a TypeError, with or without subscribers', async () => {
    const started = await t.startServer();
    const { server } = await connected(started, 1);
    server[0]!.subscribe('room');
    for (const topic of ['room', 'empty']) {
      expect(() => started.wss.publish(topic, 42 as any)).toThrow(TypeError);
      expect(() => started.wss.publish(topic, { text: 'x' } as any)).toThrow(TypeError);
      expect(() => started.wss.publish(topic, new Blob(['x']) as any)).toThrow(TypeError);
    }
    expect(() => started.wss.broadcast(42 as any)).toThrow(TypeError);
    expect(started.wss.publish('empty', new Uint16Array(2))).toEqual({ sent: 0, backpressure: 0, dropped: 0 });
  });

  it('subscriptions end with the connection', async () => {
    const started = await t.startServer();
    const { clients, server } = await connected(started, 2);
    server[0]!.subscribe('room');
    server[0]!.subscribe('other');
    server[1]!.subscribe('room');
    const closed = t.nextEvent(server[0]!, 'close');
    clients[0]!.close();
    await closed;
    expect(started.wss.subscriberCount('room')).toBe(1);
    expect(started.wss.subscriberCount('other')).toBe(0);
    expect(server[0]!.isSubscribed('room')).toBe(false);
    // A closed connection cannot subscribe again (nothing would ever remove it).
    expect(server[0]!.subscribe('room')).toBe(false);
    expect(started.wss.subscriberCount('room')).toBe(1);
  });

  it('a topic is forgotten once its last subscriber leaves, however it leaves: the registry does not grow with dead topics', () => {
    const registry = new TopicRegistry();
    const a = new WebSocket(null);
    const b = new WebSocket(null);
    registry.subscribe(a, 'x');
    registry.subscribe(b, 'x');
    registry.subscribe(a, 'y');
    expect(registry.size).toBe(2);
    registry.unsubscribe(a, 'x');
    expect(registry.size).toBe(2);
    registry.unsubscribe(b, 'x');
    expect(registry.size).toBe(1);
    registry.unsubscribeAll(a);
    expect(registry.size).toBe(0);
    expect(registry.subscriberCount('y')).toBe(0);
  });

  it('topics are a server feature: a client connection throws', async () => {
    const started = await t.startServer();
    const client = await t.openClient(started.url);
    expect(() => client.subscribe('x')).toThrow(InvalidStateError);
    expect(() => client.publish('x', 'y')).toThrow(InvalidStateError);
    expect(client.unsubscribe('x')).toBe(false);
    expect(client.isSubscribed('x')).toBe(false);
    expect(client.topics.size).toBe(0);
  });
});

describe('publish and broadcast', () => {
  it('wss.publish reaches every subscriber and nobody else, text and binary', async () => {
    const started = await t.startServer();
    const { clients, server } = await connected(started, 3);
    server[0]!.subscribe('t');
    server[1]!.subscribe('t');
    let strayMessages = 0;
    clients[2]!.on('message', () => strayMessages++);
    const first = t.collect(clients[0]!, 3);
    const second = t.collect(clients[1]!, 3);
    expect(started.wss.publish('t', 'hello')).toEqual({ sent: 2, backpressure: 0, dropped: 0 });
    expect(started.wss.publish('t', Buffer.from([1, 2, 3])).sent).toBe(2);
    expect(started.wss.publish('t', 'as binary', { binary: true }).sent).toBe(2);
    const expected = ['hello', Buffer.from([1, 2, 3]), Buffer.from('as binary')];
    expect(await first).toEqual(expected);
    expect(await second).toEqual(expected);
    // A round trip on the third client proves nothing was on its way to it.
    clients[2]!.send('ping');
    await t.nextEvent(server[2]!, 'message');
    expect(strayMessages).toBe(0);
  });

  it('ws.publish reaches every subscriber but the sender', async () => {
    const started = await t.startServer();
    const { clients, server } = await connected(started, 3);
    for (const ws of server) ws.subscribe('chat');
    server[0]!.on('message', (data, isBinary) => server[0]!.publish('chat', data, { binary: isBinary }));
    let echoed = 0;
    clients[0]!.on('message', () => echoed++);
    const others = [t.collect(clients[1]!, 1), t.collect(clients[2]!, 1)];
    clients[0]!.send('from zero');
    expect(await Promise.all(others)).toEqual([['from zero'], ['from zero']]);
    const result = server[0]!.publish('chat', 'direct');
    expect(result).toEqual({ sent: 2, backpressure: 0, dropped: 0 });
    await Promise.all([t.collect(clients[1]!, 1), t.collect(clients[2]!, 1)]);
    expect(echoed).toBe(0);
  });

  it('broadcast reaches every open connection, but one or a set or an array of them', async () => {
    const started = await t.startServer();
    const { clients, server } = await connected(started, 4);
    const all = clients.map((c) => t.collect(c, 1));
    expect(started.wss.broadcast('everyone')).toEqual({ sent: 4, backpressure: 0, dropped: 0 });
    expect(await Promise.all(all)).toEqual([['everyone'], ['everyone'], ['everyone'], ['everyone']]);

    const counts = [0, 0, 0, 0];
    clients.forEach((c, i) => c.on('message', () => counts[i]!++));
    expect(started.wss.broadcast('not 0', { except: server[0]! }).sent).toBe(3);
    expect(started.wss.broadcast(Buffer.from('not 1 or 2'), { except: new Set([server[1]!, server[2]!]) }).sent).toBe(2);
    expect(started.wss.broadcast('not 0 or 3', { except: [server[0]!, server[3]!] }).sent).toBe(2);
    await t.until(() => counts.reduce((a, b) => a + b) === 7, 'seven deliveries');
    expect(counts).toEqual([1, 2, 2, 2]);
  });

  it('connections that are closing are skipped, not counted', async () => {
    const started = await t.startServer();
    const { server } = await connected(started, 2);
    for (const ws of server) ws.subscribe('t');
    server[0]!.close(1000);
    expect(started.wss.publish('t', 'x')).toEqual({ sent: 1, backpressure: 0, dropped: 0 });
    expect(started.wss.broadcast('y')).toEqual({ sent: 1, backpressure: 0, dropped: 0 });
  });

  it('a subscriber in the middle of a fragmented message does not get the published message; the others do', async () => {
    const started = await t.startServer();
    const { clients, server } = await connected(started, 2);
    for (const ws of server) ws.subscribe('t');
    const whole = t.collect(clients[0]!, 2);
    const other = t.collect(clients[1]!, 2);
    server[0]!.send('first half, ', { fin: false });
    expect(started.wss.publish('t', 'published')).toEqual({ sent: 1, backpressure: 0, dropped: 1 });
    server[0]!.send('second half', { fin: true });
    started.wss.publish('t', 'after');
    expect(await whole).toEqual(['first half, second half', 'after']);
    expect(await other).toEqual(['published', 'after']);
  });

  it("a 'dropped' listener that unsubscribes and subscribes its connection again is not visited again by the same publish", async () => {
    const started = await t.startServer({ maxBackpressure: 64 });
    const { server } = await connected(started, 2);
    for (const ws of server) ws.subscribe('t');
    let dropped = 0;
    server[0]!.on('dropped', () => {
      dropped++;
      // Bounded, so that a publish that would loop forever ends and fails instead.
      if (dropped > 5) return;
      server[0]!.unsubscribe('t');
      server[0]!.subscribe('t');
    });
    server[0]!.send('x'.repeat(100)); // queued in this tick: over the budget until written
    expect(started.wss.publish('t', 'published')).toEqual({ sent: 1, backpressure: 0, dropped: 1 });
    expect(dropped).toBe(1);
  });
});

describe("a 'dropped' listener that throws", () => {
  it('within a publish: the exception is uncaught, the other subscribers get the message, and the close policy still applies', async () => {
    const started = await t.startServer({ maxBackpressure: 64, backpressurePolicy: 'close' });
    const { clients, server } = await connected(started, 2);
    for (const ws of server) ws.subscribe('t');
    await t.collectingUncaught(async (errors) => {
      server[0]!.on('dropped', () => {
        throw new Error('boom in a dropped listener');
      });
      const other = t.collect(clients[1]!, 1);
      server[0]!.send('x'.repeat(100)); // queued in this tick: over the budget until written
      expect(started.wss.publish('t', 'published')).toEqual({ sent: 1, backpressure: 0, dropped: 1 });
      expect(server[0]!.readyState).toBe(WebSocket.CLOSING); // 1013, as the policy says
      expect(await other).toEqual(['published']);
      await t.until(() => errors.length === 1, 'the exception');
      expect(errors[0]!.message).toBe('boom in a dropped listener');
      const [code] = await t.nextEvent<[number]>(clients[0]!, 'close');
      expect(code).toBe(1013);
    });
  });
});

describe('prepare', () => {
  it('a prepared message is framed once and ws.send writes those bytes', async () => {
    const started = await t.startServer();
    const { clients, server } = await connected(started, 2);
    const text = prepare('prepared text');
    const binary = prepare(new Uint8Array([9, 8, 7]));
    const textAsBinary = prepare('bytes', { binary: true });
    expect(text.isBinary).toBe(false);
    expect(binary.isBinary).toBe(true);
    expect(text.frame).toEqual(Buffer.concat([Buffer.from([0x81, 13]), Buffer.from('prepared text')]));
    expect(text.payload.toString()).toBe('prepared text');
    const received = clients.map((c) => t.collect(c, 3));
    for (const ws of server) {
      expect(ws.send(text)).toBe(SendStatus.SENT);
      ws.send(binary);
      ws.send(textAsBinary);
    }
    for (const messages of await Promise.all(received)) {
      expect(messages).toEqual(['prepared text', Buffer.from([9, 8, 7]), Buffer.from('bytes')]);
    }
  });

  it('a client sends a prepared message as an ordinary masked message', async () => {
    const started = await t.startServer();
    const { clients, server } = await connected(started, 1);
    const received = t.collect(server[0]!, 2);
    clients[0]!.send(prepare('from a client'));
    clients[0]!.send(prepare(Buffer.alloc(70_000, 1)));
    const [first, second] = await received;
    expect(first).toBe('from a client');
    expect(Buffer.alloc(70_000, 1).equals(second as Buffer)).toBe(true); // toEqual walks bytes one by one: slow
  });

  it('publish and broadcast accept a prepared message', async () => {
    const started = await t.startServer();
    const { clients, server } = await connected(started, 1);
    server[0]!.subscribe('t');
    const received = t.collect(clients[0]!, 2);
    const message = prepare('again');
    started.wss.publish('t', message);
    started.wss.broadcast(message);
    expect(await received).toEqual(['again', 'again']);
  });

  it('a prepared message cannot be sent in the middle of a fragmented message', async () => {
    const started = await t.startServer();
    const { server } = await connected(started, 1);
    server[0]!.send('half', { fin: false });
    expect(() => server[0]!.send(prepare('x'))).toThrow(InvalidStateError);
  });

  it('large messages of every length class round-trip through publish', async () => {
    const started = await t.startServer();
    const { clients, server } = await connected(started, 1);
    server[0]!.subscribe('t');
    const sizes = [0, 125, 126, 65535, 65536, 300_000];
    const received = t.collect(clients[0]!, sizes.length);
    for (const size of sizes) started.wss.publish('t', Buffer.alloc(size, size & 0xff));
    const messages = await received;
    sizes.forEach((size, i) => expect(Buffer.alloc(size, size & 0xff).equals(messages[i] as Buffer), `${size} bytes`).toBe(true));
  });
});
