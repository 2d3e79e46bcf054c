import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SendStatus, WebSocket, WebSocketServer } from '../../src/index.js';
import * as t from '../support/sockets.js';

afterEach(t.closeAll);

/** A raw client that completed the upgrade and never reads, with its server-side connection. */
async function silentPeer(started: t.Started<any>) {
  const connection = t.nextEvent<[WebSocket]>(started.wss, 'connection');
  const raw = await t.rawUpgrade(started.port);
  raw.pause();
  const [ws] = await connection;
  return { raw, ws };
}

/**
 * Sends `message` tick after tick until a send is dropped with nothing queued in this
 * tick, i.e. the kernel buffers are full and the socket itself holds the budget.
 */
async function fillUntilDropped(ws: WebSocket, message: Buffer): Promise<{ accepted: number; dropped: number }> {
  let accepted = 0;
  let dropped = 0;
  const deadline = Date.now() + t.TIMEOUT;
  for (let tick = 0; tick < 10_000 && Date.now() < deadline; tick++) {
    const status = ws.send(message);
    if (status === SendStatus.DROPPED) {
      dropped++;
      return { accepted, dropped };
    }
    accepted++;
    // Fill faster than one message per tick, but keep under the budget within a tick.
    while (ws.bufferedAmount < 64 * 1024 && ws.send(message) !== SendStatus.DROPPED) accepted++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('the peer never backed up');
}

describe('SendStatus', () => {
  it('SENT below the high-water mark, BACKPRESSURE at or above it, DROPPED when not open', async () => {
    const started = await t.startServer({ maxBackpressure: 0 });
    const { ws } = await silentPeer(started);
    expect(ws.send('small')).toBe(SendStatus.SENT);
    expect(SendStatus.SENT).toBeTruthy();
    // 16 KiB on Node 20, 64 KiB on Node 22 and later.
    const big = Buffer.alloc(ws.socket!.writableHighWaterMark + 1000);
    expect(ws.send(big)).toBe(SendStatus.BACKPRESSURE); // queued in this tick, over the high-water mark
    expect(SendStatus.BACKPRESSURE).toBeFalsy();
    await t.nextEvent(ws, 'drain');
    expect(ws.send('small')).toBe(SendStatus.SENT);
    ws.close();
    expect(ws.send('after close')).toBe(SendStatus.DROPPED);
  });

  it('within one tick, the bytes queued count against maxBackpressure', async () => {
    const started = await t.startServer({ maxBackpressure: 64 * 1024 });
    const { ws } = await silentPeer(started);
    const message = Buffer.alloc(16 * 1024); // 16 388 bytes framed
    const statuses = Array.from({ length: 7 }, () => ws.send(message));
    // 0, 16 388, 32 776 and 49 164 bytes buffered are within the budget; 65 552 is over.
    const highWaterMark = ws.socket!.writableHighWaterMark;
    const queued = (n: number) => (n * 16_388 < highWaterMark ? SendStatus.SENT : SendStatus.BACKPRESSURE);
    expect(statuses).toEqual([queued(1), queued(2), queued(3), queued(4), 2, 2, 2]);
    expect(ws.droppedMessages).toBe(3);
  });

  it('exactly maxBackpressure bytes buffered is within the budget: the message is queued; over it, dropped', async () => {
    const started = await t.startServer({ maxBackpressure: 2 * 16_388 });
    const { ws } = await silentPeer(started);
    const message = Buffer.alloc(16 * 1024); // 16 388 bytes framed
    const statuses = Array.from({ length: 4 }, () => ws.send(message));
    // 0, 16 388 and 32 776 (exactly maxBackpressure) bytes buffered: within; 49 164: over.
    expect(statuses.map((status) => status === SendStatus.DROPPED)).toEqual([false, false, false, true]);
    expect(ws.droppedMessages).toBe(1);
  });

  it("BACKPRESSURE once exactly the high-water mark is buffered (as a stream's write returns false), SENT below it", async () => {
    const started = await t.startServer({ maxBackpressure: 0 });
    const { ws } = await silentPeer(started);
    const highWaterMark = ws.socket!.writableHighWaterMark;
    expect(ws.send(Buffer.alloc(highWaterMark - 6))).toBe(SendStatus.SENT); // framed: 4 header bytes, 2 below the mark
    expect(ws.bufferedAmount).toBe(highWaterMark - 2);
    expect(ws.send(Buffer.alloc(0))).toBe(SendStatus.BACKPRESSURE); // 2 bytes more: exactly the mark
  });

  it.each([
    ['dropped behind it', (ws: WebSocket) => expect(ws.send('next')).toBe(SendStatus.DROPPED)],
    ['a ping written while it compresses', (ws: WebSocket) => ws.ping()],
  ])('drain waits for a message still being compressed (%s): by then the message has left the buffer', async (_name, then) => {
    const started = await t.startServer({ perMessageDeflate: { threshold: 0 }, maxBackpressure: 1024 * 1024 });
    const connection = t.nextEvent<[WebSocket]>(started.wss, 'connection');
    const client = await t.openClient(started.url, { perMessageDeflate: true, maxPayload: 64 * 1024 * 1024 });
    const [ws] = await connection;
    const events: string[] = [];
    ws.on('drain', () => events.push(`drain ${ws.bufferedAmount}`));
    const big = randomBytes(4_000_000); // compressed on the thread pool, for a while
    expect(ws.send(big, (error) => events.push(`written ${error ?? 'ok'}`))).toBe(SendStatus.BACKPRESSURE);
    then(ws);
    const received = t.nextEvent<[Buffer]>(client, 'message', 10_000 * t.MS);
    await t.until(() => events.length === 2, 'drain and the callback', 10_000 * t.MS);
    expect(events).toContain('written ok');
    const drain = events.find((e) => e.startsWith('drain'))!;
    expect(Number(drain.split(' ')[1])).toBeLessThan(64 * 1024); // not 4,000,000: compressed and written
    expect((await received)[0].equals(big)).toBe(true);
  });

  it('a Blob, and what is sent while it is read, report BACKPRESSURE at or above the high-water mark; drain follows', async () => {
    const started = await t.startServer({ maxBackpressure: 0 });
    const connection = t.nextEvent<[WebSocket]>(started.wss, 'connection');
    const client = await t.openClient(started.url);
    const [ws] = await connection;
    const received = t.collect(client, 3);
    const highWaterMark = ws.socket!.writableHighWaterMark;
    expect(ws.send(new Blob(['small']))).toBe(SendStatus.SENT);
    expect(ws.send(new Blob([Buffer.alloc(highWaterMark + 1000)]))).toBe(SendStatus.BACKPRESSURE);
    expect(ws.send('behind the Blob')).toBe(SendStatus.BACKPRESSURE); // held: bufferedAmount is over the mark
    expect(ws.bufferedAmount).toBeGreaterThanOrEqual(highWaterMark);
    await t.nextEvent(ws, 'drain');
    const messages = await received;
    expect(messages.map((data) => (typeof data === 'string' ? data : data.length))).toEqual([5, highWaterMark + 1000, 'behind the Blob']);
  });
});

describe("policy 'drop' (the default)", () => {
  it('drops messages over maxBackpressure, counts them, emits dropped, then drain; the peer gets every other message in order', async () => {
    const budget = 256 * 1024;
    const started = await t.startServer({ maxBackpressure: budget });
    const { raw, ws } = await silentPeer(started);
    let droppedEvents = 0;
    ws.on('dropped', () => droppedEvents++);
    const message = Buffer.alloc(8 * 1024, 1);
    const { accepted } = await fillUntilDropped(ws, message);
    // The budget holds: at most one message over it is buffered.
    expect(ws.bufferedAmount).toBeLessThanOrEqual(budget + message.length + 4);
    expect(ws.bufferedAmount).toBeGreaterThan(budget);

    const callbackError = new Promise<Error | null | undefined>((resolve) => ws.send(message, (error) => resolve(error)));
    expect((await t.within(callbackError, 'the send callback'))?.message).toMatch(/dropped/);
    expect(ws.droppedMessages).toBe(2);
    expect(droppedEvents).toBe(2);
    expect(ws.readyState).toBe(WebSocket.OPEN);

    // Numbered messages sent after the drain arrive after the accepted ones.
    const drained = t.nextEvent(ws, 'drain');
    raw.resume();
    await drained;
    expect(ws.send('after drain')).toBe(SendStatus.SENT);
    const frames: t.RawFrame[] = [];
    await t.until(() => {
      frames.push(...raw.takeFrames());
      return frames.length === accepted + 1;
    }, `${accepted + 1} frames`);
    expect(frames.slice(0, accepted).every((frame) => frame.opcode === t.Op.Binary && frame.payload.length === message.length)).toBe(true);
    expect(frames[accepted]!.payload.toString()).toBe('after drain');
  });

  it('a dropped listener that sends to the same slow connection: that drop is counted and returned, not emitted again (no recursion)', async () => {
    const started = await t.startServer({ maxBackpressure: 1000 });
    const { ws } = await silentPeer(started);
    const statuses: SendStatus[] = [];
    let events = 0;
    ws.on('dropped', () => {
      events++;
      statuses.push(ws.send('{"warning":"you are too slow"}'));
    });
    ws.send(Buffer.alloc(2000)); // over the budget until written
    expect(ws.send(Buffer.alloc(10))).toBe(SendStatus.DROPPED);
    expect(events).toBe(1);
    expect(statuses).toEqual([SendStatus.DROPPED]);
    expect(ws.droppedMessages).toBe(2);
    expect(ws.send(Buffer.alloc(10))).toBe(SendStatus.DROPPED); // the next drop is emitted again
    expect(events).toBe(2);
    expect(ws.droppedMessages).toBe(4);
  });

  it('a message sent while a Blob is read is checked when it goes out: send has queued it, its callback and dropped report the drop', async () => {
    const started = await t.startServer({ maxBackpressure: 64 * 1024 });
    const { ws } = await silentPeer(started);
    let droppedEvents = 0;
    ws.on('dropped', () => droppedEvents++);
    expect(ws.send(new Blob([Buffer.alloc(100 * 1024)]))).not.toBe(SendStatus.DROPPED); // nothing buffered yet
    const callbackError = new Promise<Error | null | undefined>((resolve) => {
      expect(ws.send('behind the Blob', (error) => resolve(error))).not.toBe(SendStatus.DROPPED); // held
    });
    expect(droppedEvents).toBe(0);
    const error = await t.within(callbackError, 'the send callback');
    expect((error as { code?: string } | null | undefined)?.code).toBe('WS_ERR_DROPPED');
    expect(droppedEvents).toBe(1);
    expect(ws.droppedMessages).toBe(1);
  });

  it('a fragmented message whose first fragment is dropped is dropped whole: the peer never sees its other fragments', async () => {
    const started = await t.startServer({ maxBackpressure: 64 * 1024 });
    const { raw, ws } = await silentPeer(started);
    const { accepted } = await fillUntilDropped(ws, Buffer.alloc(8 * 1024, 1));
    const errors: Array<Error | null | undefined> = [];
    expect(ws.send('HEAD-', { fin: false }, (error) => errors.push(error))).toBe(SendStatus.DROPPED);
    // A publish meanwhile does not end the dropped message (it cannot interrupt one).
    ws.subscribe('news');
    expect(started.wss.publish('news', 'published')).toEqual({ sent: 0, backpressure: 0, dropped: 1 });
    raw.resume();
    await t.until(() => ws.bufferedAmount === 0, 'the socket to drain');
    // Under the budget again, the rest of the dropped message still goes nowhere.
    expect(ws.send('MIDDLE-', { fin: false }, (error) => errors.push(error))).toBe(SendStatus.DROPPED);
    expect(ws.send('TAIL', { fin: true }, (error) => errors.push(error))).toBe(SendStatus.DROPPED);
    // The next message is whole.
    ws.send('next', { fin: false });
    ws.send(' message');
    const frames: t.RawFrame[] = [];
    await t.until(() => {
      frames.push(...raw.takeFrames());
      return frames.length === accepted + 2;
    }, `${accepted + 2} frames`);
    const after = frames.slice(accepted);
    expect(after.map((frame) => [frame.opcode, frame.fin, frame.payload.toString()])).toEqual([
      [t.Op.Text, false, 'next'],
      [t.Op.Continuation, true, ' message'],
    ]);
    await t.until(() => errors.length === 3, 'three callbacks');
    expect(errors.every((error) => error instanceof Error && /dropped/.test(error.message))).toBe(true);
    expect(ws.droppedMessages).toBe(2); // the one that found the budget full, then this one
  });

  it("drain still comes when a held pong is written on the socket's drain before it", async () => {
    const started = await t.startServer({ maxBackpressure: 0 });
    const { raw, ws } = await silentPeer(started);
    let status: SendStatus | undefined;
    // The peer pings without reading: pongs back up until the server holds the latest.
    ws.on('ping', () => {
      if (status === undefined && ws.socket!.writableNeedDrain) status = ws.send(Buffer.alloc(100 * 1024));
    });
    const pings = Buffer.concat(Array.from({ length: 500 }, () => t.clientFrame(t.Op.Ping, Buffer.alloc(125, 1))));
    const deadline = Date.now() + t.TIMEOUT;
    while (status === undefined && Date.now() < deadline) {
      raw.write(pings);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(SendStatus.BACKPRESSURE);
    const drained = t.nextEvent(ws, 'drain');
    raw.resume();
    await drained;
  });

  it('publish reports the slow subscriber as dropped while the others keep receiving', async () => {
    const started = await t.startServer({ maxBackpressure: 128 * 1024 });
    const { ws: slow } = await silentPeer(started);
    slow.subscribe('t');
    await fillUntilDropped(slow, Buffer.alloc(4096));
    const connection = t.nextEvent<[WebSocket]>(started.wss, 'connection');
    const fast = await t.openClient(started.url);
    const [fastServer] = await connection;
    fastServer.subscribe('t');
    const received = t.collect(fast, 3);
    const results = [started.wss.publish('t', 'a'), started.wss.publish('t', 'b'), started.wss.publish('t', 'c')];
    expect(results).toEqual([
      { sent: 1, backpressure: 0, dropped: 1 },
      { sent: 1, backpressure: 0, dropped: 1 },
      { sent: 1, backpressure: 0, dropped: 1 },
    ]);
    expect(await received).toEqual(['a', 'b', 'c']);
  });

  it('a drop in the same tick as a send that fitted, with a budget below the high-water mark, is followed by drain', async () => {
    const started = await t.startServer({ maxBackpressure: 100 });
    const connection = t.nextEvent<[WebSocket]>(started.wss, 'connection');
    await t.openClient(started.url);
    const [ws] = await connection;
    const drained = t.nextEvent(ws, 'drain');
    expect(ws.send(Buffer.alloc(200))).toBe(SendStatus.SENT); // below the socket's high-water mark
    expect(ws.send(Buffer.alloc(200))).toBe(SendStatus.DROPPED); // over the budget, queued behind the first
    await drained;
    expect(ws.send('after drain')).toBe(SendStatus.SENT);
  });

  it('maxBackpressure 0 means no limit', async () => {
    const started = await t.startServer({ maxBackpressure: 0 });
    const { ws } = await silentPeer(started);
    const message = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 8; i++) expect(ws.send(message)).toBe(SendStatus.BACKPRESSURE);
    expect(ws.droppedMessages).toBe(0);
  });
});

describe("policy 'close'", () => {
  it('closes with 1013 "send buffer full" after the buffered data; the peer reads up to the close frame', async () => {
    const started = await t.startServer({ maxBackpressure: 128 * 1024, backpressurePolicy: 'close', closeTimeout: 2000 * t.MS });
    const { raw, ws } = await silentPeer(started);
    const message = Buffer.alloc(4096, 2);
    const { accepted } = await fillUntilDropped(ws, message);
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    expect(ws.send(message)).toBe(SendStatus.DROPPED);
    const closed = t.nextEvent<[number, Buffer]>(ws, 'close');
    raw.resume();
    const frames: t.RawFrame[] = [];
    await t.until(() => {
      frames.push(...raw.takeFrames());
      return frames.length === accepted + 1;
    }, 'every accepted frame and the close frame');
    const close = frames[accepted]!;
    expect(close.opcode).toBe(t.Op.Close);
    expect(close.payload.readUInt16BE(0)).toBe(1013);
    expect(close.payload.subarray(2).toString()).toBe('send buffer full');
    raw.write(t.clientFrame(t.Op.Close, close.payload));
    const [code] = await closed;
    expect(code).toBe(1013);
  });

  it('a drop emits dropped and closes; no drain follows, even once the peer has read everything', async () => {
    const started = await t.startServer({ maxBackpressure: 64 * 1024, backpressurePolicy: 'close' });
    const connection = t.nextEvent<[WebSocket]>(started.wss, 'connection');
    const client = await t.openClient(started.url);
    const [ws] = await connection;
    const events: string[] = [];
    for (const event of ['dropped', 'drain', 'close']) ws.on(event, () => events.push(event));
    const message = Buffer.alloc(100 * 1024);
    expect([ws.send(message), ws.send(message)]).toEqual([SendStatus.BACKPRESSURE, SendStatus.DROPPED]);
    const [code] = await t.nextEvent<[number]>(client, 'close');
    expect(code).toBe(1013);
    await t.until(() => events.includes('close'), 'the server side to close');
    expect(events).toEqual(['dropped', 'close']);
  });

  it('no drain either with a budget below what the socket takes at once (the write after the drop flows)', async () => {
    const started = await t.startServer({ maxBackpressure: 100, backpressurePolicy: 'close' });
    const connection = t.nextEvent<[WebSocket]>(started.wss, 'connection');
    const client = await t.openClient(started.url);
    const [ws] = await connection;
    const events: string[] = [];
    for (const event of ['dropped', 'drain', 'close']) ws.on(event, () => events.push(event));
    ws.send(Buffer.alloc(200));
    expect(ws.send(Buffer.alloc(200))).toBe(SendStatus.DROPPED);
    const [code] = await t.nextEvent<[number]>(client, 'close');
    expect(code).toBe(1013);
    await t.until(() => events.includes('close'), 'the server side to close');
    expect(events).toEqual(['dropped', 'close']);
  });

  it('a peer that never reads again is cut off by the close timeout (close reports 1006)', async () => {
    const started = await t.startServer({ maxBackpressure: 64 * 1024, backpressurePolicy: 'close', closeTimeout: 200 * t.MS });
    const { ws } = await silentPeer(started);
    await fillUntilDropped(ws, Buffer.alloc(4096));
    const [code] = await t.nextEvent<[number]>(ws, 'close');
    expect(code).toBe(1006);
  });
});

describe('memory held for a slow peer', () => {
  it('a backed-up subscriber writes a private copy of a published frame; the others share it', async () => {
    const started = await t.startServer({ maxBackpressure: 0 });
    const { ws: slow } = await silentPeer(started);
    const connection = t.nextEvent<[WebSocket]>(started.wss, 'connection');
    const fast = await t.openClient(started.url);
    const [fastServer] = await connection;
    slow.subscribe('t');
    fastServer.subscribe('t');
    // Fill the kernel buffers until the socket itself holds data.
    const filler = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 2000 && slow.socket!.writableLength === 0; i++) {
      slow.send(filler);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(slow.socket!.writableLength).toBeGreaterThan(0);
    const written = new Map<WebSocket, Buffer[]>();
    for (const ws of [slow, fastServer]) {
      const chunks: Buffer[] = [];
      written.set(ws, chunks);
      const socket = ws.socket!;
      const write = socket.write;
      socket.write = function (this: typeof socket, chunk: any, ...rest: any[]) {
        chunks.push(chunk);
        return (write as any).call(this, chunk, ...rest);
      } as typeof socket.write;
    }
    const received = t.collect(fast, 1);
    started.wss.publish('t', 'to both');
    await received;
    const [slowChunk] = written.get(slow)!;
    const [fastChunk] = written.get(fastServer)!;
    expect(Buffer.from(slowChunk!)).toEqual(Buffer.from(fastChunk!));
    // The fast subscriber wrote a view into the shared slab; the slow one, a buffer of its own.
    expect(fastChunk!.buffer.byteLength).toBeGreaterThan(fastChunk!.byteLength);
    expect(slowChunk!.buffer.byteLength).toBe(slowChunk!.byteLength);
  });
});

describe('options', () => {
  it('clients have no limit by default (like browsers and ws); they may set one', async () => {
    const started = await t.startServer();
    const client = await t.openClient(started.url);
    const message = Buffer.alloc(1024 * 1024);
    const statuses = Array.from({ length: 4 }, () => client.send(message));
    expect(statuses).not.toContain(SendStatus.DROPPED);
    const limited = await t.openClient(started.url, { maxBackpressure: 1024 * 1024 });
    expect(Array.from({ length: 3 }, () => limited.send(message))).toEqual([0, 2, 2]); // the first frame alone is over 1 MiB
  });

  it('rejects a bad maxBackpressure or policy when the server or client is created', () => {
    expect(() => new WebSocketServer({ noServer: true, maxBackpressure: -1 })).toThrow(RangeError);
    expect(() => new WebSocketServer({ noServer: true, maxBackpressure: Number.NaN })).toThrow(RangeError);
    expect(() => new WebSocketServer({ noServer: true, backpressurePolicy: 'block' as any })).toThrow(TypeError);
    expect(() => new WebSocket('ws://127.0.0.1:1', { backpressurePolicy: 'nope' as any })).toThrow(TypeError);
  });
});

describe('memory with a subscriber that never reads', () => {
  it('stays within the budget of the slow peer plus a constant while a publisher runs at full speed for 10 s', { timeout: 60_000 }, async () => {
    const budget = 4 * 1024 * 1024;
    const started = await t.startServer({ maxBackpressure: budget });
    const { ws: slow } = await silentPeer(started);
    slow.subscribe('feed');
    const connection = t.nextEvent<[WebSocket]>(started.wss, 'connection');
    const fast = await t.openClient(started.url);
    (await connection)[0].subscribe('feed');
    let fastReceived = 0;
    fast.on('message', () => fastReceived++);

    const payload = Buffer.alloc(64, 'x');
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    let published = 0;
    let dropped = 0;
    let maxBuffered = 0;
    const start = Date.now();
    while (Date.now() - start < 10_000 * t.MS) {
      for (let i = 0; i < 500; i++) dropped += started.wss.publish('feed', payload).dropped;
      published += 500;
      maxBuffered = Math.max(maxBuffered, slow.bufferedAmount);
      peak = Math.max(peak, process.memoryUsage().rss);
      // Let the sockets write and the fast reader read, as a real publisher would.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const growth = peak - baseline;
    // The V8 heap and the allocator's high-water mark: 5-26 MiB seen here (Node 20, 24).
    const constant = 40 * 1024 * 1024;
    console.log(
      `slow reader: published ${published}, dropped for the slow peer ${dropped}, fast peer received ${fastReceived}, ` +
        `slow peer buffered at most ${maxBuffered} bytes, RSS growth ${(growth / 1048576).toFixed(1)} MiB ` +
        `(bound ${((budget + constant) / 1048576).toFixed(0)} MiB)`,
    );
    expect(dropped).toBeGreaterThan(0);
    expect(fastReceived).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(budget + 66); // at most one message over
    expect(growth).toBeLessThan(budget + constant);
  });
});
