import { createHash } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from '../../src/index.js';
import { Heartbeat, heartbeatSettings } from '../../src/heartbeat/heartbeat.js';
import * as t from '../support/sockets.js';

afterEach(() => {
  vi.restoreAllMocks();
  return t.closeAll();
});

const INTERVAL = 100 * t.MS;
const TIMEOUT = 50 * t.MS;
/** Timers fire late on a busy machine, never early. */
const SLACK = 150 * t.MS;

async function serverSide(started: t.Started<any>, open: () => Promise<unknown>): Promise<WebSocket> {
  const connection = t.nextEvent<[WebSocket]>(started.wss, 'connection');
  await open();
  return (await connection)[0];
}

describe('server heartbeat', () => {
  it('pings every interval; a client that answers stays connected and latency is measured', async () => {
    const started = await t.startServer({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
    let client!: WebSocket;
    const ws = await serverSide(started, async () => (client = await t.openClient(started.url)));
    expect(ws.latency).toBeUndefined();
    let pings = 0;
    client.on('ping', () => pings++);
    await t.delay(INTERVAL * 4);
    expect(pings).toBeGreaterThanOrEqual(3);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(ws.latency).toBeGreaterThanOrEqual(0);
    expect(ws.latency).toBeLessThan(INTERVAL);
  });

  it("measures latency only from a pong that echoes the heartbeat's ping, and reports it to the metrics", async () => {
    const started = await t.startServer({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
    let client!: WebSocket;
    const ws = await serverSide(started, async () => (client = await t.openClient(started.url, { autoPong: false })));
    // Pongs the heartbeat did not ask for, 8 bytes or not: nothing is measured.
    for (const payload of [Buffer.alloc(8), Buffer.from('not a time'), Buffer.alloc(0)]) client.pong(payload);
    const ping = await t.nextEvent<[Buffer]>(client, 'ping');
    client.pong(Buffer.alloc(8, 1));
    await t.delay(20 * t.MS);
    expect(ws.latency).toBeUndefined();
    expect(started.wss.metrics().pingRtt.count).toBe(0);
    // Echoes of the pings: measured.
    client.pong(ping[0]);
    client.on('ping', (payload) => client.pong(payload));
    await t.until(() => ws.latency !== undefined, 'a measured latency');
    expect(ws.latency).toBeGreaterThanOrEqual(0);
    expect(ws.latency).toBeLessThan(INTERVAL + SLACK);
    expect(started.wss.metrics().pingRtt.count).toBeGreaterThanOrEqual(1);
  });

  it('terminates a peer that went silent after the upgrade within interval + timeout; close reports 1006', async () => {
    const started = await t.startServer({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
    let raw!: t.RawClient;
    const ws = await serverSide(started, async () => {
      raw = await t.rawUpgrade(started.port);
      raw.pause(); // reads nothing, answers nothing: a half-open connection as far as the server can tell
    });
    const silentSince = Date.now();
    const [code, reason] = await t.nextEvent<[number, Buffer]>(ws, 'close', INTERVAL + TIMEOUT + SLACK + 1000);
    const elapsed = Date.now() - silentSince;
    expect(code).toBe(1006);
    expect(reason.length).toBe(0);
    expect(ws.wasClean).toBe(false);
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT - 5);
    expect(elapsed).toBeLessThanOrEqual(INTERVAL + TIMEOUT + SLACK);
    raw.resume(); // the server destroyed the socket: reading shows the end
    await raw.waitClosed();
  });

  it('terminates a peer that answered for a while and then stopped, within interval + timeout of going silent', async () => {
    const started = await t.startServer({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
    let raw!: t.RawClient;
    const ws = await serverSide(started, async () => (raw = await t.rawUpgrade(started.port)));
    // Answer pings by hand three times, then go silent.
    for (let answered = 0; answered < 3; answered++) {
      const ping = await raw.readFrame(INTERVAL + SLACK);
      expect(ping.opcode).toBe(t.Op.Ping);
      raw.write(t.clientFrame(t.Op.Pong, ping.payload));
    }
    const silentSince = Date.now();
    expect(ws.readyState).toBe(WebSocket.OPEN);
    const [code] = await t.nextEvent<[number]>(ws, 'close', INTERVAL + TIMEOUT + SLACK + 1000);
    expect(code).toBe(1006);
    expect(Date.now() - silentSince).toBeLessThanOrEqual(INTERVAL + TIMEOUT + SLACK);
  });

  it('terminates a client with autoPong off that sends nothing; the client sees 1006 too', async () => {
    const started = await t.startServer({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
    let client!: WebSocket;
    const ws = await serverSide(started, async () => (client = await t.openClient(started.url, { autoPong: false })));
    const clientClosed = t.nextEvent<[number]>(client, 'close', INTERVAL + TIMEOUT + SLACK + 1000);
    const [code] = await t.nextEvent<[number]>(ws, 'close', INTERVAL + TIMEOUT + SLACK + 1000);
    expect(code).toBe(1006);
    expect((await clientClosed)[0]).toBe(1006);
  });

  it('any frame counts as an answer: a client that does not pong but keeps sending stays', async () => {
    const started = await t.startServer({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
    let client!: WebSocket;
    const ws = await serverSide(started, async () => (client = await t.openClient(started.url, { autoPong: false })));
    const timer = setInterval(() => client.send('still here'), TIMEOUT / 3);
    try {
      await t.delay(INTERVAL * 4);
      expect(ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      clearInterval(timer);
    }
  });

  it('heartbeat: false sends no ping', async () => {
    const started = await t.startServer({ heartbeat: false });
    const client = await t.openClient(started.url);
    let pings = 0;
    client.on('ping', () => pings++);
    await t.delay(200 * t.MS);
    expect(pings).toBe(0);
  });

  it('is on by default with 30 s and 10 s', async () => {
    const spy = vi.spyOn(globalThis, 'setInterval');
    const started = await t.startServer();
    await t.openClient(started.url);
    await t.until(() => started.wss.clients.size === 1, 'the connection');
    expect(spy.mock.calls.map((call) => call[1])).toEqual([2500]); // 30 s and 10 s share 10 s; a quarter of it
  });

  it('sweeps every 1/64 of the smallest time when the times have no useful common divisor, deadlines rounded to sweeps', async () => {
    const spy = vi.spyOn(globalThis, 'setInterval');
    const started = await t.startServer({ heartbeat: { interval: 30_001, timeout: 10_000 } });
    await t.openClient(started.url);
    await t.until(() => started.wss.clients.size === 1, 'the connection');
    expect(spy.mock.calls.map((call) => call[1])).toEqual([156]); // not their GCD, 1 ms; timers drop a fraction (156.25)
  });

  it.each([
    [101, 100], // the sweep would be 1.5625 ms, which a timer runs every 1 ms
    [150, 149],
  ])('a silent peer has at least its timeout when the sweep is not a whole number of ms (interval %i, timeout %i)', async (interval, timeout) => {
    const spy = vi.spyOn(globalThis, 'setInterval');
    const started = await t.startServer({ heartbeat: { interval, timeout } });
    let raw!: t.RawClient;
    const openedAt = performance.now(); // before the connection, so before its first sweep's timer
    const ws = await serverSide(started, async () => (raw = await t.rawUpgrade(started.port)));
    const ping = await raw.readFrame(interval + SLACK);
    expect(ping.opcode).toBe(t.Op.Ping);
    // When the server sent it (its payload is the sweep's performance.now(), this
    // process's clock): reading it here may come later on a busy machine.
    const pingedAt = ping.payload.readDoubleBE(0);
    await t.nextEvent(ws, 'close', interval + timeout + SLACK + 1000);
    expect(performance.now() - pingedAt).toBeGreaterThanOrEqual(timeout - 2); // timers fire late, never early
    expect(pingedAt - openedAt).toBeGreaterThanOrEqual(interval * 0.95); // the first ping comes about an interval in (rounded to sweeps)
    expect(Number.isInteger(spy.mock.calls[0]![1])).toBe(true);
  });

  it('runs one timer per server, not one per connection', async () => {
    const spy = vi.spyOn(globalThis, 'setInterval');
    const started = await t.startServer({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
    await t.openClients(started, 50);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('rejects an interval or timeout that is not a positive number', () => {
    expect(() => new WebSocketServer({ noServer: true, heartbeat: { interval: 0 } })).toThrow(RangeError);
    expect(() => new WebSocketServer({ noServer: true, heartbeat: { timeout: -1 } })).toThrow(RangeError);
    expect(() => new WebSocketServer({ noServer: true, idleTimeout: Number.NaN })).toThrow(RangeError);
    expect(() => new WebSocket('ws://127.0.0.1:1', { heartbeat: { interval: Number.POSITIVE_INFINITY } })).toThrow(RangeError);
    expect(() => new WebSocketServer({ noServer: true, idleTimeout: -1 })).toThrow(RangeError);
  });

  it('rejects a time that is not a number with a TypeError, as the other timeout options', () => {
    const bad = '5000' as unknown as number;
    expect(() => new WebSocketServer({ noServer: true, idleTimeout: bad })).toThrow(TypeError);
    expect(() => new WebSocketServer({ noServer: true, heartbeat: { interval: bad } })).toThrow(TypeError);
    expect(() => new WebSocketServer({ noServer: true, heartbeat: { timeout: bad } })).toThrow(TypeError);
    expect(() => new WebSocket('ws://127.0.0.1:1', { heartbeat: { timeout: bad } })).toThrow(TypeError);
    expect(() => new WebSocketServer({ noServer: true, closeTimeout: bad })).toThrow(TypeError);
  });

  it('takes idleTimeout Infinity as no limit, as closeTimeout', async () => {
    const started = await t.startServer({ heartbeat: false, idleTimeout: Number.POSITIVE_INFINITY });
    const spy = vi.spyOn(globalThis, 'setInterval');
    await t.openClients(started, 1);
    expect(spy).not.toHaveBeenCalled(); // nothing to watch: no sweep timer
  });
});

describe('deadlines in sweeps (sweeps driven by hand over a real connection)', () => {
  /** A server-side connection with no heartbeat of its own, to a raw client that says nothing. */
  async function silentConnection(): Promise<WebSocket> {
    const started = await t.startServer({ heartbeat: false });
    return serverSide(started, () => t.rawUpgrade(started.port));
  }

  it('a silent peer is terminated on the first sweep at least timeout after the ping, not a sweep earlier or later', async () => {
    const ws = await silentConnection();
    // 1000 and 999 ms: a sweep of 16 ms (999 / 64, rounded); a ping every 63 sweeps (62.5,
    // rounded); the timeout is 63 sweeps too (62.4, rounded up: 62 would be 992 ms).
    const heartbeat = new Heartbeat(new Set([ws]), heartbeatSettings({ interval: 1000, timeout: 999 }, true));
    expect(heartbeat.period).toBe(16);
    const pings: unknown[] = [];
    const ping = ws.ping.bind(ws);
    ws.ping = ((...args: Parameters<WebSocket['ping']>) => {
      pings.push(args[0]);
      ping(...args);
    }) as WebSocket['ping'];
    for (let sweep = 1; sweep <= 63; sweep++) heartbeat.sweep();
    expect(pings).toHaveLength(1); // sent on sweep 63
    for (let sweep = 64; sweep <= 125; sweep++) heartbeat.sweep();
    expect(ws.readyState).toBe(WebSocket.OPEN); // 62 sweeps after the ping: 992 ms < 999
    heartbeat.sweep(); // sweep 126: 63 sweeps, 1008 ms
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    const [code] = await t.nextEvent<[number]>(ws, 'close');
    expect(code).toBe(1006);
  });

  it('idleTimeout closes on the first sweep a whole timeout after the connection was first seen, not a sweep later', async () => {
    const ws = await silentConnection();
    const heartbeat = new Heartbeat(new Set([ws]), heartbeatSettings(false, false, 100)); // a sweep of 25 ms, 4 sweeps
    expect(heartbeat.period).toBe(25);
    for (let sweep = 1; sweep <= 4; sweep++) heartbeat.sweep(); // first seen on sweep 1
    expect(ws.readyState).toBe(WebSocket.OPEN);
    heartbeat.sweep();
    expect(ws.readyState).toBe(WebSocket.CLOSING);
  });
});

describe('a connection the application paused', () => {
  it('is neither pinged out nor idle while paused, and is watched again once resumed', async () => {
    const started = await t.startServer({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT }, idleTimeout: 2 * INTERVAL });
    let client!: WebSocket;
    const ws = await serverSide(started, async () => (client = await t.openClient(started.url)));
    ws.pause(); // its pongs (and messages) cannot be read meanwhile
    await t.delay(6 * INTERVAL);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.resume();
    client.send('back');
    await t.delay(INTERVAL);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    // Idle again from here on: closed by idleTimeout as usual.
    const [code] = await t.nextEvent<[number]>(ws, 'close', 6 * INTERVAL + SLACK);
    expect(code).toBe(1001);
  });
});

describe('idleTimeout', () => {
  it('closes a connection that sent no message for that long with 1001 "idle timeout", even if it answers pings', async () => {
    const idle = 200 * t.MS;
    const started = await t.startServer({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT }, idleTimeout: idle });
    let client!: WebSocket;
    const ws = await serverSide(started, async () => (client = await t.openClient(started.url)));
    const since = Date.now();
    const clientClosed = t.nextEvent<[number, Buffer]>(client, 'close');
    const [code, reason] = await t.nextEvent<[number, Buffer]>(ws, 'close', idle + SLACK + 1000);
    expect(Date.now() - since).toBeGreaterThanOrEqual(idle - 5);
    expect(Date.now() - since).toBeLessThanOrEqual(idle * 1.25 + SLACK);
    expect(code).toBe(1001);
    expect(reason.toString()).toBe('idle timeout');
    const [clientCode, clientReason] = await clientClosed;
    expect([clientCode, clientReason.toString()]).toEqual([1001, 'idle timeout']);
  });

  it('an idleTimeout beyond setInterval\'s range (about 115 days) does not close at once', async () => {
    const started = await t.startServer({ heartbeat: false, idleTimeout: 1e10 });
    let client!: WebSocket;
    const ws = await serverSide(started, async () => (client = await t.openClient(started.url)));
    await t.delay(200 * t.MS);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(client.readyState).toBe(WebSocket.OPEN);
  });

  it('keeps a connection that sends messages', async () => {
    const idle = 150 * t.MS;
    const started = await t.startServer({ heartbeat: false, idleTimeout: idle });
    let client!: WebSocket;
    const ws = await serverSide(started, async () => (client = await t.openClient(started.url)));
    const timer = setInterval(() => client.send('busy'), idle / 3);
    try {
      await t.delay(idle * 4);
      expect(ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      clearInterval(timer);
    }
  });
});

/** A server that completes the upgrade by hand and then never reads nor writes again. */
async function startSilentServer(): Promise<{ port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    socket.once('data', (chunk) => {
      const key = /sec-websocket-key: *(\S+)/i.exec(chunk.toString('latin1'))?.[1] ?? '';
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      socket.pause();
    });
  });
  t.track(server, (s) => new Promise<void>((resolve) => s.close(() => resolve())));
  t.track(sockets, (list) => list.forEach((s) => s.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, sockets };
}

describe('client heartbeat (opt-in)', () => {
  it('terminates the connection to a server that stopped answering; close reports 1006', async () => {
    const { port } = await startSilentServer();
    const client = await t.openClient(`ws://127.0.0.1:${port}`, { heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
    const since = Date.now();
    const [code] = await t.nextEvent<[number]>(client, 'close', INTERVAL + TIMEOUT + SLACK + 1000);
    expect(code).toBe(1006);
    expect(Date.now() - since).toBeLessThanOrEqual(INTERVAL + TIMEOUT + SLACK);
  });

  it('measures latency against a server that answers', async () => {
    const started = await t.startServer({ heartbeat: false });
    const client = await t.openClient(started.url, { heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
    await t.until(() => client.latency !== undefined, 'a measured latency');
    expect(client.latency).toBeLessThan(INTERVAL);
    expect(client.readyState).toBe(WebSocket.OPEN);
  });

  it('is off by default', async () => {
    const started = await t.startServer({ heartbeat: false });
    const ws = await serverSide(started, () => t.openClient(started.url));
    let pings = 0;
    ws.on('ping', () => pings++);
    await t.delay(100 * t.MS);
    expect(pings).toBe(0);
  });
});
