/**
 * `rateLimit` through real sockets: a client that floods messages. Messages over the
 * limit never reach the application's handler; with 'drop' the client is told once,
 * with 'close' the connection fails with 1008.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RateLimitInfo, ServerOptions, WebSocket } from '../../src/index.js';
import { MS, closeAll, delay, nextEvent, openClient, startServer, until } from '../helpers/sockets.js';

afterEach(closeAll);

/** A server that records the messages its handler sees. */
async function limitedServer(rateLimit: ServerOptions['rateLimit']) {
  const server = await startServer({ rateLimit });
  const seen: string[] = [];
  server.wss.on('connection', (ws: WebSocket) => ws.on('message', (data: Buffer) => seen.push(data.toString())));
  return { ...server, seen };
}

/** Resolves once the server has received `count` messages (dropped or not). */
function received(wss: { metrics(): { messages: { received: number } } }, count: number): Promise<void> {
  return until(() => wss.metrics().messages.received >= count, `${count} messages received`);
}

describe("action 'drop' (default)", () => {
  it('a flood of 50 with messages: 5 → the handler sees the first 5, the client one error message', async () => {
    const { url, wss, seen } = await limitedServer({ messages: 5, per: 60_000 });
    const client = await openClient(url);
    const replies: string[] = [];
    client.on('message', (data: Buffer) => replies.push(data.toString()));
    for (let i = 0; i < 50; i++) client.send(`m${i}`);
    await received(wss, 50);
    await until(() => replies.length >= 1, 'the error message');
    await delay(20 * MS);
    expect(seen).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(replies).toHaveLength(1);
    expect(JSON.parse(replies[0]!)).toMatchObject({ error: 'rate_limited', limit: 'messages' });
    expect(JSON.parse(replies[0]!).retryAfter).toBeGreaterThan(0);
    expect(wss.metrics().messages.dropped.rateLimit).toBe(45);
    expect(client.readyState).toBe(1);
  });

  it('no notice while the server is sending a fragmented message: it would become its next fragment', async () => {
    const { url, wss } = await limitedServer({ messages: 1, per: 60_000 });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const client = await openClient(url);
    const [server] = await connection;
    const replies: string[] = [];
    client.on('message', (data: Buffer) => replies.push(data.toString()));
    server.send('part one, ', { fin: false });
    client.send('ok');
    client.send('one too many');
    await received(wss, 2);
    server.send('part two');
    await until(() => replies.length >= 1, 'the fragmented message');
    await delay(20 * MS);
    expect(replies).toEqual(['part one, part two']);
    expect(wss.metrics().messages.dropped.rateLimit).toBe(1);
  });

  it('messages: exactly N pass, N+1 is the first dropped', async () => {
    const { url, wss, seen } = await limitedServer({ messages: 3, per: 60_000 });
    const client = await openClient(url);
    for (let i = 0; i < 3; i++) client.send(`ok${i}`);
    await received(wss, 3);
    expect(seen).toEqual(['ok0', 'ok1', 'ok2']);
    const reply = nextEvent<[Buffer]>(client, 'message');
    client.send('one too many');
    expect(JSON.parse((await reply)[0].toString()).limit).toBe('messages');
    expect(seen).toHaveLength(3);
  });

  it('bytes: 3 messages of 30 bytes fit in 100, the 4th does not', async () => {
    const { url, wss, seen } = await limitedServer({ bytes: 100, per: 60_000 });
    const client = await openClient(url);
    const payload = (i: number) => `${i}`.padEnd(30, '.');
    for (let i = 0; i < 3; i++) client.send(payload(i));
    await received(wss, 3);
    expect(seen).toHaveLength(3);
    const reply = nextEvent<[Buffer]>(client, 'message');
    client.send(payload(3));
    expect(JSON.parse((await reply)[0].toString()).limit).toBe('bytes');
    expect(seen).toHaveLength(3);
    // What is left (10 bytes) still admits a small message.
    client.send('tiny');
    await until(() => seen.length === 4, 'the small message');
    expect(seen[3]).toBe('tiny');
  });

  it('tokens come back with time', async () => {
    const { url, wss, seen } = await limitedServer({ messages: 2, per: 200 * MS });
    const client = await openClient(url);
    for (let i = 0; i < 4; i++) client.send(`a${i}`);
    await received(wss, 4);
    expect(seen).toEqual(['a0', 'a1']);
    await delay(250 * MS);
    client.send('later');
    await until(() => seen.length === 3, 'the later message');
    expect(seen[2]).toBe('later');
  });

  it('onLimit shapes what the client is told', async () => {
    const infos: RateLimitInfo[] = [];
    const { url, wss } = await limitedServer({
      messages: 1,
      per: 60_000,
      onLimit: (ws: WebSocket, info: RateLimitInfo) => {
        infos.push(info);
        ws.send(JSON.stringify({ type: 'slow-down', retryInMs: info.retryAfter }));
      },
    });
    const client = await openClient(url);
    const replies: string[] = [];
    client.on('message', (data: Buffer) => replies.push(data.toString()));
    client.send('first');
    client.send(Buffer.from('second'));
    client.send('third');
    await received(wss, 3);
    await until(() => replies.length === 1, 'the shaped reply');
    expect(JSON.parse(replies[0]!).type).toBe('slow-down');
    expect(infos).toEqual([expect.objectContaining({ limit: 'messages', size: 6, isBinary: true })]);
  });
});

describe("action 'close'", () => {
  it('a flood closes the connection with 1008 "rate limit exceeded"; the handler saw only the allowed ones', async () => {
    const { url, wss, seen } = await limitedServer({ messages: 5, per: 60_000, action: 'close' });
    const client = await openClient(url);
    const close = nextEvent<[number, Buffer]>(client, 'close');
    for (let i = 0; i < 50; i++) client.send(`m${i}`);
    const [code, reason] = await close;
    expect(code).toBe(1008);
    expect(reason.toString()).toBe('rate limit exceeded');
    expect(seen).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    await until(() => wss.clients.size === 0, 'the server side to close');
  });
});

describe('no rateLimit', () => {
  it('every message reaches the handler', async () => {
    const { url, wss, seen } = await limitedServer(undefined);
    const client = await openClient(url);
    for (let i = 0; i < 200; i++) client.send(`m${i}`);
    await received(wss, 200);
    await until(() => seen.length === 200, 'all messages');
    expect(wss.metrics().messages.dropped.rateLimit).toBe(0);
  });

  it('invalid options throw at construction', async () => {
    await expect(startServer({ rateLimit: { per: 1000 } as never })).rejects.toThrow(TypeError);
  });
});
