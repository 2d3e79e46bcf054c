import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SendStatus, WebSocket, WebSocketServer } from '../../src/index.js';
import * as t from '../support/sockets.js';

afterEach(t.closeAll);

const SLACK = 300 * t.MS;

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(true));
  });
}

describe('wss.close(options): graceful shutdown', () => {
  it.each([2 ** 32, Number.POSITIVE_INFINITY])("a timeout beyond setTimeout's range (%s) waits for the clients instead of terminating them at once", async (timeout) => {
    const started = await t.startServer();
    await t.openClients(started, 1);
    const [ws] = [...started.wss.clients];
    const closed = t.nextEvent<[number]>(ws!, 'close');
    await t.within(started.wss.close({ timeout }), 'the shutdown');
    expect((await closed)[0]).toBe(1001); // the client's answer, not 1006 from a termination
    expect(ws!.wasClean).toBe(true);
  });

  it('sends every client a close frame, waits for the answers, closes the listener, then resolves', async () => {
    const started = await t.startServer();
    const clients = await t.openClients(started, 3);
    const clientCloses = clients.map((c) => t.nextEvent<[number, Buffer]>(c, 'close'));
    const serverCloses = [...started.wss.clients].map((ws) => t.nextEvent<[number]>(ws, 'close').then(() => ws.wasClean));
    let closeEvent = false;
    started.wss.on('close', () => (closeEvent = true));
    const since = Date.now();
    await t.within(started.wss.close({ code: 1001, reason: 'restarting', timeout: 5000 }), 'the shutdown');
    expect(Date.now() - since).toBeLessThan(1000);
    for (const [code, reason] of await Promise.all(clientCloses)) expect([code, reason.toString()]).toEqual([1001, 'restarting']);
    expect(await Promise.all(serverCloses)).toEqual([true, true, true]);
    expect(started.wss.clients.size).toBe(0);
    expect(closeEvent).toBe(true);
    expect(await connectionRefused(started.port)).toBe(true);
  });

  it('the defaults are 1001 with an empty reason', async () => {
    const started = await t.startServer();
    const client = await t.openClient(started.url);
    const closed = t.nextEvent<[number, Buffer]>(client, 'close');
    await t.within(started.wss.close(), 'the shutdown');
    const [code, reason] = await closed;
    expect([code, reason.length]).toEqual([1001, 0]);
  });

  it('terminates the clients that did not answer by the deadline', async () => {
    const started = await t.startServer();
    const answering = await t.openClient(started.url);
    const silent = await t.rawUpgrade(started.port);
    silent.pause();
    await t.until(() => started.wss.clients.size === 2, 'both connections');
    const silentServerSide = [...started.wss.clients].find((ws) => ws.socket!.remotePort === silent.socket.localPort)!;
    const silentClosed = t.nextEvent<[number]>(silentServerSide, 'close', 5000);
    const answered = t.nextEvent<[number]>(answering, 'close');
    const since = Date.now();
    await t.within(started.wss.close({ timeout: 300 * t.MS }), 'the shutdown', 5000);
    const elapsed = Date.now() - since;
    expect(elapsed).toBeGreaterThanOrEqual(300 * t.MS - 5);
    expect(elapsed).toBeLessThan(300 * t.MS + SLACK);
    expect((await answered)[0]).toBe(1001);
    expect((await silentClosed)[0]).toBe(1006);
  });

  it('a connection the application paused reads nothing more: its client answers, but it is terminated at the deadline', async () => {
    const started = await t.startServer();
    const connection = t.nextEvent<[WebSocket]>(started.wss, 'connection');
    const client = await t.openClient(started.url);
    const [ws] = await connection;
    ws.pause();
    let messages = 0;
    ws.on('message', () => messages++);
    client.send('sent before its close frame');
    const serverClosed = t.nextEvent<[number]>(ws!, 'close');
    const clientClosed = t.nextEvent<[number]>(client, 'close');
    const since = Date.now();
    await t.within(started.wss.close({ timeout: 300 * t.MS }), 'the shutdown');
    expect(Date.now() - since).toBeGreaterThanOrEqual(300 * t.MS - 5);
    expect((await clientClosed)[0]).toBe(1001); // it got the close frame and answered
    expect((await serverClosed)[0]).toBe(1006); // the answer was never read
    expect(messages).toBe(0);
  });

  it('delivers every message a client sent before its close frame', async () => {
    const started = await t.startServer();
    const received = new Map<WebSocket, number>();
    started.wss.on('connection', (ws: WebSocket) => {
      received.set(ws, 0);
      ws.on('message', (data: Buffer) => {
        const expected = received.get(ws)!;
        expect(Number(data.toString())).toBe(expected); // in order, none missing
        received.set(ws, expected + 1);
      });
    });
    const clients = await t.openClients(started, 3);
    const sent = clients.map(() => 0);
    let sending = true;
    // Each client sends bursts until the server's close frame stops it.
    const senders = clients.map(async (client, i) => {
      for (let round = 0; round < 100_000 && sending && client.readyState === WebSocket.OPEN; round++) {
        for (let k = 0; k < 20; k++) {
          if (client.send(String(sent[i])) === SendStatus.DROPPED) break;
          sent[i]!++;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    await t.until(() => [...received.values()].every((n) => n > 100), 'messages flowing');
    const closes = clients.map((c) => t.nextEvent<[number]>(c, 'close'));
    await t.within(started.wss.close({ timeout: 2000 * t.MS }), 'the shutdown');
    sending = false;
    await Promise.all(senders);
    for (const [code] of await Promise.all(closes)) expect(code).toBe(1001);
    expect([...received.values()].sort()).toEqual([...sent].sort());
  });

  it('answers 503 to upgrades that arrive while it waits for clients', async () => {
    const started = await t.startServer();
    const silent = await t.rawUpgrade(started.port);
    silent.pause();
    await t.until(() => started.wss.clients.size === 1, 'the connection');
    const shutdown = started.wss.close({ timeout: 500 * t.MS });
    const late = await t.rawConnect(started.port);
    late.write(t.upgradeRequest());
    expect(await t.readStatus(late)).toBe(503);
    await t.within(shutdown, 'the shutdown');
  });

  it('answers 503 to a client whose asynchronous authenticate resolves during shutdown', async () => {
    let resolveAuth!: (value: unknown) => void;
    const started = await t.startServer({ authenticate: () => new Promise((resolve) => (resolveAuth = resolve)) });
    const raw = await t.rawConnect(started.port);
    raw.write(t.upgradeRequest());
    await t.until(() => resolveAuth !== undefined, 'authenticate to be called');
    const shutdown = started.wss.close({ timeout: 2000 * t.MS });
    await t.delay(50 * t.MS);
    resolveAuth({ user: 'late' });
    expect(await t.readStatus(raw)).toBe(503);
    const since = Date.now();
    await t.within(shutdown, 'the shutdown');
    expect(Date.now() - since).toBeLessThan(1000 * t.MS); // did not wait for the deadline
  });

  it.each([
    ['authenticate', 'close'],
    ['verifyClient', 'close'],
    ['handleProtocols', 'close'],
    ['authenticate', 'terminate'],
  ] as const)('answers 503 to the upgrade whose synchronous %s calls %s(), and the shutdown ends', async (hook, method) => {
    let shutdown: Promise<void> | undefined;
    const stop = (): void => {
      shutdown ??= method === 'close' ? started.wss.close({ timeout: 500 * t.MS }) : started.wss.terminate();
    };
    const options = {
      authenticate: { authenticate: () => (stop(), {}) },
      verifyClient: { verifyClient: () => (stop(), true) },
      handleProtocols: { handleProtocols: (offered: Set<string>) => (stop(), [...offered][0]!) },
    }[hook];
    const started = await t.startServer(options);
    const raw = await t.rawConnect(started.port);
    raw.write(t.upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'chat' } }));
    expect(await t.readStatus(raw)).toBe(503);
    expect(started.wss.clients.size).toBe(0);
    const since = Date.now();
    await t.within(shutdown!, 'the shutdown');
    expect(Date.now() - since).toBeLessThan(400 * t.MS); // nothing was left to wait for
  });

  it('destroys a client whose authenticate never settles, at the deadline', async () => {
    const started = await t.startServer({ authenticate: () => new Promise(() => {}) });
    const raw = await t.rawConnect(started.port);
    raw.write(t.upgradeRequest());
    await t.delay(50 * t.MS);
    const since = Date.now();
    await t.within(started.wss.close({ timeout: 200 * t.MS }), 'the shutdown');
    expect(Date.now() - since).toBeGreaterThanOrEqual(200 * t.MS - 5);
    await raw.waitClosed();
  });

  it('answers 503 to a request that was half sent when shutdown began, once it is complete', async () => {
    const started = await t.startServer();
    const raw = await t.rawConnect(started.port);
    const request = t.upgradeRequest();
    raw.write(request.slice(0, 30));
    await t.delay(30 * t.MS);
    const shutdown = started.wss.close({ timeout: 2000 * t.MS });
    await t.delay(30 * t.MS);
    raw.write(request.slice(30));
    expect(await t.readStatus(raw)).toBe(503);
    await t.within(shutdown, 'the shutdown');
  });

  it('destroys a half-sent request that is never completed, at the deadline', async () => {
    const started = await t.startServer();
    const raw = await t.rawConnect(started.port);
    raw.write('GET / HTTP/1.1\r\nHost: x\r\n');
    await t.delay(30 * t.MS);
    await t.within(started.wss.close({ timeout: 200 * t.MS }), 'the shutdown');
    await raw.waitClosed();
  });

  it('returns the same promise when called again; a callback close during it waits for the end', async () => {
    const started = await t.startServer();
    await t.openClient(started.url);
    const first = started.wss.close();
    expect(started.wss.close({ code: 1000 })).toBe(first);
    const callback = new Promise<void>((resolve) => started.wss.close(() => resolve()));
    await t.within(Promise.all([first, callback]), 'both');
  });

  it('rejects a code that may not be sent or a long reason, synchronously', async () => {
    const started = await t.startServer();
    expect(() => started.wss.close({ code: 1006 })).toThrow(RangeError);
    expect(() => started.wss.close({ reason: 'x'.repeat(124) })).toThrow(RangeError);
    expect(() => started.wss.close({ timeout: -1 })).toThrow(RangeError);
    expect(() => started.wss.close({ timeout: Number.NaN })).toThrow(RangeError);
    expect(() => started.wss.close({ timeout: '5000' as unknown as number })).toThrow(TypeError);
  });

  it('on an attached http server: detaches and leaves the http server running', async () => {
    const http = createServer((_, res) => res.end('still here'));
    t.track(http, (s) => new Promise<void>((resolve) => s.close(() => resolve())));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const port = (http.address() as { port: number }).port;
    const wss = new WebSocketServer({ server: http });
    const client = await t.openClient(`ws://127.0.0.1:${port}`);
    const closed = t.nextEvent<[number]>(client, 'close');
    await t.within(wss.close(), 'the shutdown');
    expect((await closed)[0]).toBe(1001);
    expect(http.listening).toBe(true);
    expect(http.listenerCount('upgrade')).toBe(0);
  });
});

describe('wss.close(callback): the ws signature', () => {
  it('stops listening but leaves the clients open', async () => {
    const started = await t.startServer();
    const client = await t.openClient(started.url);
    await t.until(() => started.wss.clients.size === 1, 'the connection');
    let called = false;
    started.wss.close(() => (called = true));
    await t.delay(20 * t.MS);
    expect(client.readyState).toBe(WebSocket.OPEN);
    const echoed = t.collect(client, 1);
    for (const ws of started.wss.clients) ws.send('still open');
    expect(await echoed).toEqual(['still open']);
    // A graceful close afterwards closes them.
    const closed = t.nextEvent<[number]>(client, 'close');
    await t.within(started.wss.close(), 'the shutdown');
    expect((await closed)[0]).toBe(1001);
    expect(called).toBe(true);
  });
});

describe('wss.close(callback) with an upgrade in progress', () => {
  it('answers a client whose authenticate is pending 503 once it settles, never 101, as ws does', async () => {
    let release!: (value: unknown) => void;
    const started = await t.startServer({ authenticate: () => new Promise((resolve) => (release = resolve)) });
    let connections = 0;
    started.wss.on('connection', () => connections++);
    const raw = await t.rawConnect(started.port);
    raw.write(t.upgradeRequest());
    await t.until(() => release !== undefined, 'authenticate to be called');
    const closed = new Promise<void>((resolve) => started.wss.close(() => resolve()));
    await t.delay(20 * t.MS);
    expect(raw.received).toBe(0);
    release(null);
    expect((await raw.readResponse()).status).toBe(503);
    await raw.waitClosed();
    await t.within(closed, 'the close callback');
    expect(connections).toBe(0);
  });

  it('destroys it when terminate() follows', async () => {
    const started = await t.startServer({ authenticate: () => new Promise(() => {}) });
    const raw = await t.rawConnect(started.port);
    raw.write(t.upgradeRequest());
    await t.delay(20 * t.MS);
    const closed = new Promise<void>((resolve) => started.wss.close(() => resolve()));
    await t.within(started.wss.terminate(), 'terminate');
    await raw.waitClosed();
    await t.within(closed, 'the close callback');
    expect(raw.received).toBe(0);
  });
});

describe('wss.terminate()', () => {
  it('destroys every connection at once (1006) and closes the listener', async () => {
    const started = await t.startServer();
    const clients = await t.openClients(started, 3);
    const closes = clients.map((c) => t.nextEvent<[number]>(c, 'close'));
    await t.within(started.wss.terminate(), 'terminate');
    for (const [code] of await Promise.all(closes)) expect(code).toBe(1006);
    expect(await connectionRefused(started.port)).toBe(true);
  });

  it('cuts a graceful shutdown short', async () => {
    const started = await t.startServer();
    const silent = await t.rawUpgrade(started.port);
    silent.pause();
    await t.until(() => started.wss.clients.size === 1, 'the connection');
    const graceful = started.wss.close({ timeout: 10_000 });
    await t.delay(20 * t.MS);
    const since = Date.now();
    await t.within(started.wss.terminate(), 'terminate');
    await t.within(graceful, 'the graceful shutdown');
    expect(Date.now() - since).toBeLessThan(1000 * t.MS);
  });
});

const root = fileURLToPath(new URL('../..', import.meta.url));
const built = existsSync(`${root}/dist/index.js`);

describe('the demo server', () => {
  // The demo imports the build: `npm test` builds before running the tests.
  it.skipIf(!built)('on SIGTERM closes its clients with 1001 and exits with 0', { timeout: 20_000 }, async () => {
    const child = spawn(process.execPath, ['examples/demo.mjs'], { cwd: root, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    t.track(child, (c) => {
      if (c.exitCode === null) c.kill('SIGKILL');
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    await t.until(() => /ws:\/\/127\.0\.0\.1:(\d+)\/ws/.test(output), 'the demo to listen', 10_000);
    const port = Number(/ws:\/\/127\.0\.0\.1:(\d+)\/ws/.exec(output)![1]);
    // Listen for the welcome before the connection opens: it may arrive with the 101.
    const client = t.track(new WebSocket(`ws://127.0.0.1:${port}/ws`), (ws) => ws.terminate());
    await t.nextEvent(client, 'message', 10_000); // the welcome
    const closed = t.nextEvent<[number, Buffer]>(client, 'close', 10_000);
    const exited = t.nextEvent<[number | null]>(child, 'exit', 10_000);
    child.kill('SIGTERM');
    const [code, reason] = await closed;
    expect(code).toBe(1001);
    expect(reason.toString()).toBe('server shutting down');
    expect((await exited)[0]).toBe(0);
  });
});
