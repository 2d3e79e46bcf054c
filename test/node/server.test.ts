/**
 * WebSocketServer over real sockets: the three ways to run it, handshake rejections,
 * the authenticate and handleProtocols hooks, response headers, client tracking and
 * the server's events.
 */
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HandshakeError, UpgradeError, WebSocket, WebSocketServer, type ServerOptions, type UpgradeRequest } from '../../src/index.js';
import { collectingRejections, collectingUncaught } from '../support/sockets.js';
import {
  MS,
  Op,
  acceptFor,
  client,
  closeAll,
  connectPair,
  delay,
  frame,
  listen,
  newKey,
  nextEvent,
  openClient,
  rawConnect,
  rawRequest,
  rawUpgrade,
  recordEvents,
  selfSignedCertificate,
  startServer,
  track,
  until,
  upgradeRequest,
  watchTimers,
  within,
} from './helpers.js';

afterEach(closeAll);

/** An answer body is one line of text ending with LF. */
const ONE_LINE = /^[^\r\n]+\n$/;

/** Closes a server that is not the own-port kind (the helpers close their own). */
function trackServer(wss: WebSocketServer<any>): WebSocketServer<any> {
  return track(wss, (server) => {
    for (const ws of server.clients) ws.terminate();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
}

/** Echoes every message back, as sent. */
function echo(ws: WebSocket<any>): void {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

describe('three ways to run', () => {
  it('own listener on port 0: accepts a client and echoes', async () => {
    const { wss, url } = await startServer();
    wss.on('connection', echo);
    const ws = await openClient(url);
    const reply = nextEvent(ws, 'message');
    ws.send('over its own port');
    const [data, isBinary] = await reply;
    expect(isBinary).toBe(false);
    expect(String(data)).toBe('over its own port');
    expect(wss.address()).toMatchObject({ address: '127.0.0.1' });
  });

  it('own listener: a plain HTTP GET without upgrade gets 426 with a one-line body', async () => {
    const { wss, port } = await startServer();
    const connections = recordEvents(wss, ['connection']);
    const response = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(response.status).toBe(426);
    expect(response.headers.upgrade).toBe('websocket');
    expect(response.headers.connection).toMatch(/close/);
    expect(response.body).toMatch(ONE_LINE);
    await response.raw.waitClosed();
    expect(connections).toHaveLength(0);
  });

  it('attached to an http server with a path: upgrades there, plain requests stay with the http server', async () => {
    const http = createHttpServer((req, res) => res.end(`plain ${req.url}`));
    const port = await listen(http);
    const wss = trackServer(new WebSocketServer({ server: http, path: '/ws' }));
    const seen: string[] = [];
    wss.on('connection', (ws, req) => {
      seen.push(req.url);
      echo(ws);
    });

    const ws = await openClient(`ws://127.0.0.1:${port}/ws?room=1`);
    const reply = nextEvent(ws, 'message');
    ws.send('attached');
    expect(String((await reply)[0])).toBe('attached');
    expect(seen).toEqual(['/ws?room=1']);
    expect(wss.address()).toMatchObject({ port });

    const plain = await rawRequest(port, 'GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(plain.status).toBe(200);

    const wrongPath = await rawRequest(port, upgradeRequest({ path: '/elsewhere' }));
    expect(wrongPath.status).toBe(400);
    expect(wrongPath.body).toMatch(ONE_LINE);
    expect(seen).toHaveLength(1);
  });

  it("attached connections outlive the http server's request and keep-alive timeouts", async () => {
    const http = createHttpServer({ requestTimeout: 100 * MS, headersTimeout: 100 * MS, keepAliveTimeout: 50 * MS, connectionsCheckingInterval: 20 * MS });
    const port = await listen(http);
    const wss = trackServer(new WebSocketServer({ server: http }));
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const ws = await openClient(`ws://127.0.0.1:${port}`);
    const [server] = await connection;
    const closes = recordEvents(ws, ['close']);
    await delay(300 * MS);
    expect(closes).toEqual([]);
    const pong = nextEvent(server, 'pong');
    server.ping('still open');
    await pong;
  });

  it('attached to an https server (self-signed certificate made at test time)', async () => {
    const { key, cert } = selfSignedCertificate();
    const https = createHttpsServer({ key, cert });
    const port = await listen(https);
    const wss = trackServer(new WebSocketServer({ server: https, path: '/secure' }));
    wss.on('connection', echo);
    const ws = await openClient(`wss://127.0.0.1:${port}/secure`, undefined, { tls: { ca: cert } });
    const reply = nextEvent(ws, 'message');
    ws.send(Buffer.from([1, 2, 3]));
    const [data, isBinary] = await reply;
    expect(isBinary).toBe(true);
    expect(data).toEqual(Buffer.from([1, 2, 3]));
  });

  it('noServer: two servers share one http server by path through handleUpgrade', async () => {
    const http = createHttpServer();
    const port = await listen(http);
    const chat = trackServer(new WebSocketServer({ noServer: true, path: '/chat' }));
    const feed = trackServer(new WebSocketServer({ noServer: true, path: '/feed' }));
    expect(() => chat.address()).toThrow('The server is operating in "noServer" mode');
    http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      for (const wss of [chat, feed]) {
        if (wss.shouldHandle(req)) {
          wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
          return;
        }
      }
      socket.destroy();
    });
    chat.on('connection', (ws) => ws.send('chat'));
    feed.on('connection', (ws) => ws.send('feed'));

    const a = client(`ws://127.0.0.1:${port}/chat`);
    const b = client(`ws://127.0.0.1:${port}/feed`);
    const [[fromChat], [fromFeed]] = await Promise.all([nextEvent(a, 'message'), nextEvent(b, 'message')]);
    expect(String(fromChat)).toBe('chat');
    expect(String(fromFeed)).toBe('feed');
    expect(chat.clients.size).toBe(1);
    expect(feed.clients.size).toBe(1);

    const lost = client(`ws://127.0.0.1:${port}/other`);
    const [code] = await nextEvent(lost, 'close');
    expect(code).toBe(1006);
  });

  it('exactly one of port, server or noServer must be given', () => {
    expect(() => new WebSocketServer({})).toThrow(TypeError);
    expect(() => new WebSocketServer({ port: 0, noServer: true })).toThrow(TypeError);
  });

  it('limits that are not non-negative numbers throw from the constructor', () => {
    expect(() => new WebSocketServer({ noServer: true, maxPayload: -1 })).toThrow(RangeError);
    // A string would compare as a number but add as a string.
    expect(() => new WebSocketServer({ noServer: true, maxPayload: '1000' as never })).toThrow(TypeError);
    expect(() => new WebSocketServer({ noServer: true, fragmentOverhead: '64' as never })).toThrow(TypeError);
  });

  it.each(['closeTimeout', 'handshakeTimeout', 'authenticateTimeout'])('%s: NaN or a negative number throws RangeError, a string TypeError, from the constructor', (name) => {
    for (const value of [Number.NaN, -1]) expect(() => new WebSocketServer({ noServer: true, [name]: value })).toThrow(RangeError);
    expect(() => new WebSocketServer({ noServer: true, [name]: '5' as never })).toThrow(TypeError);
    new WebSocketServer({ noServer: true, [name]: Number.POSITIVE_INFINITY }).close();
  });
});

describe('handshake rejections: a status and a one-line body, never a throw', () => {
  const cases: Array<[string, string | (() => string), number, Record<string, string | RegExp>?]> = [
    ['wrong method', upgradeRequest({ method: 'POST' }), 405, { allow: 'GET' }],
    ['missing Sec-WebSocket-Key', upgradeRequest({ headers: { 'Sec-WebSocket-Key': null } }), 400],
    ['invalid Sec-WebSocket-Key', upgradeRequest({ key: 'not-a-key' }), 400],
    ['Sec-WebSocket-Key of 15 bytes', upgradeRequest({ key: Buffer.alloc(15).toString('base64') }), 400],
    ['version 8', upgradeRequest({ headers: { 'Sec-WebSocket-Version': '8' } }), 426, { 'sec-websocket-version': '13' }],
    ['missing version', upgradeRequest({ headers: { 'Sec-WebSocket-Version': null } }), 426, { 'sec-websocket-version': '13' }],
    ['missing Upgrade', upgradeRequest({ headers: { Upgrade: null } }), 426, { upgrade: 'websocket' }],
    ['Connection without upgrade', upgradeRequest({ headers: { Connection: 'keep-alive' } }), 426],
    ['HTTP/1.0', upgradeRequest({ version: '1.0' }), 400],
    ['head over 16 KiB', upgradeRequest({ headers: { 'X-Padding': 'a'.repeat(17 * 1024) } }), 431],
    [
      'more than 100 header lines',
      () => upgradeRequest({ headers: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`X-H${i}`, 'v'])) }),
      431,
    ],
    ['malformed request line', 'GARBAGE\r\n\r\n', 400],
    ['path not served', upgradeRequest({ path: '/nowhere' }), 400],
  ];

  it.each(cases)('%s → %i', async (_name, request, status, headers = {}) => {
    const { wss, port, url } = await startServer({ path: '/' });
    const connections = recordEvents(wss, ['connection', 'error']);
    const response = await rawRequest(port, typeof request === 'function' ? request() : request);
    expect(response.status).toBe(status);
    expect(response.body).toMatch(ONE_LINE);
    expect(response.headers.connection).toMatch(/close/);
    for (const [name, value] of Object.entries(headers)) expect(response.headers[name]).toMatch(value);
    await response.raw.waitClosed();
    expect(connections).toEqual([]);
    // The server goes on serving.
    await openClient(url);
  });

  it('a request that never completes is answered 408 after handshakeTimeout and dropped', async () => {
    const { port } = await startServer({ handshakeTimeout: 100 * MS });
    const raw = await rawConnect(port);
    const started = Date.now();
    raw.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // never finished
    const response = await raw.readResponse();
    expect(response.status).toBe(408);
    expect(response.body).toMatch(ONE_LINE);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90 * MS);
    await raw.waitClosed();
  });

  it('a request trickled slower than handshakeTimeout allows is cut off at the timeout (slowloris)', async () => {
    const { wss, port } = await startServer({ handshakeTimeout: 150 * MS });
    const connections = recordEvents(wss, ['connection']);
    const raw = await rawConnect(port);
    const request = upgradeRequest();
    const started = Date.now();
    for (let i = 0; i < request.length && !raw.closed && Date.now() - started < 1000 * MS; i++) {
      raw.write(request[i]!);
      await delay(10 * MS);
    }
    await raw.waitClosed();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(140 * MS);
    expect(elapsed).toBeLessThan(1000 * MS);
    expect(raw.buffer.toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
    expect(connections).toEqual([]);
  });

  it('requests begun at different times are each answered 408 at their own handshakeTimeout', async () => {
    const { port } = await startServer({ handshakeTimeout: 200 * MS });
    const answered = async (raw: Awaited<ReturnType<typeof rawConnect>>) => {
      const response = await raw.readResponse();
      return { status: response.status, at: performance.now() };
    };
    const first = await rawConnect(port);
    const firstAt = performance.now();
    const firstAnswer = answered(first);
    await delay(100 * MS);
    const second = await rawConnect(port);
    const secondAt = performance.now();
    const secondAnswer = answered(second);
    second.write('GET / HTTP/1.1\r\n'); // never finished
    const [a, b] = await Promise.all([firstAnswer, secondAnswer]);
    expect([a.status, b.status]).toEqual([408, 408]);
    expect(a.at - firstAt).toBeGreaterThanOrEqual(190 * MS);
    expect(b.at - secondAt).toBeGreaterThanOrEqual(190 * MS);
    expect(b.at).toBeGreaterThan(a.at);
  });

  it('a connection that sends nothing is dropped after handshakeTimeout', async () => {
    const { port } = await startServer({ handshakeTimeout: 100 * MS });
    const raw = await rawConnect(port);
    await raw.waitClosed();
  });

  it('a request trickled in byte by byte within the timeout is accepted', async () => {
    const { wss, port } = await startServer({ handshakeTimeout: 2000 * MS });
    const connection = nextEvent(wss, 'connection');
    const raw = await rawConnect(port);
    const key = newKey();
    const request = Buffer.from(upgradeRequest({ key }));
    for (let i = 0; i < request.length; i += 16) {
      raw.write(request.subarray(i, i + 16));
      await delay(1);
    }
    const response = await raw.readResponse();
    expect(response.status).toBe(101);
    expect(response.headers['sec-websocket-accept']).toBe(acceptFor(key));
    await connection;
  });

  // The socket of a refused request was destroyed as soon as the answer was written: a
  // client still sending its request then had its next write reset (EPIPE), and Node
  // destroyed its socket before it read the answer: it saw the connection drop instead
  // of its 431.
  it('regression (answer-reset-away): a client still sending after its head was refused reads the 431', async () => {
    const { port, url } = await startServer();
    for (let round = 0; round < 3; round++) {
      const raw = await rawConnect(port);
      raw.write('GET / HTTP/1.1\r\n');
      for (let i = 0; i < 1024 && !raw.closed && raw.received === 0; i++) {
        raw.write(`X-${i}: ${'v'.repeat(1000)}\r\n`);
        if (i % 32 === 0) await delay(1);
      }
      const response = await raw.readResponse();
      expect(response.status).toBe(431);
      await raw.waitClosed();
    }
    await openClient(url);
  });

  // The answer to a bad request was written with no 'error' listener on the socket: a
  // client that reset the connection at once made the write fail and the error escape
  // as an uncaught exception, taking the process down.
  it('regression: a client that resets right after a bad request does not crash the server', async () => {
    const { port, url } = await startServer({ path: '/ws' });
    const requests = [
      upgradeRequest({ path: '/ws', headers: { 'X-Padding': 'a'.repeat(20_000) } }), // 431 from the head parser
      upgradeRequest({ path: '/other' }), // 400 for the path
      'NOT HTTP\r\n\r\n', // 400 malformed
    ];
    for (let round = 0; round < 10; round++) {
      for (const request of requests) {
        const raw = await rawConnect(port);
        raw.write(request);
        raw.socket.resetAndDestroy();
      }
    }
    await delay(50 * MS);
    await openClient(`${url}/ws`);
  });
});

describe('authenticate', () => {
  it('sync: the return value becomes ws.data', async () => {
    const { server } = await connectPair({ authenticate: (req) => ({ user: req.headers['x-user'] }) }, { headers: { 'X-User': 'ada' } });
    expect(server.data).toEqual({ user: 'ada' });
  });

  it('async: the resolved value becomes ws.data', async () => {
    const { server } = await connectPair({
      authenticate: async (req) => {
        await delay(10 * MS);
        return { token: new URL(req.url, 'http://x').searchParams.get('token') };
      },
    });
    expect(server.data).toEqual({ token: null });
  });

  it.each([
    ['sync', (error: Error) => () => { throw error; }],
    ['async', (error: Error) => async () => { await delay(5 * MS); throw error; }],
  ])('%s UpgradeError(401) is answered 401 with its header, before any 101', async (_name, make) => {
    const { wss, port } = await startServer({
      authenticate: make(new UpgradeError(401, 'token required', { 'WWW-Authenticate': 'Bearer' })),
    });
    const events = recordEvents(wss, ['connection', 'error']);
    const response = await rawRequest(port, upgradeRequest());
    expect(response.head.startsWith('HTTP/1.1 401 ')).toBe(true);
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.body).toBe('token required\n');
    await response.raw.waitClosed();
    expect(events).toEqual([]);
  });

  it.each([
    ['sync', (error: Error) => () => { throw error; }],
    ['async', (error: Error) => () => Promise.reject(error)],
  ])('%s throw of another error is answered 500 without its message', async (_name, make) => {
    const secret = new Error('database password is hunter2');
    const { wss, port } = await startServer({ authenticate: make(secret) });
    const errors: unknown[] = [];
    wss.on('error', (error) => errors.push(error));
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(500);
    expect(response.body).toMatch(ONE_LINE);
    expect(response.head + response.body).not.toContain('hunter2');
    expect(errors).toEqual([secret]);
  });

  it('a refusal goes out as node:http writes it: header values one byte per character (latin1), the message as UTF-8', async () => {
    const { port } = await startServer({
      authenticate: () => {
        throw new UpgradeError(403, 'nein — verboten ✋', { 'X-Reason': 'café' });
      },
    });
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(403);
    expect(response.headers['x-reason']).toBe('café'); // read as latin1: e9, not c3 a9
    expect(response.headers['content-length']).toBe(String(Buffer.byteLength('nein — verboten ✋\n')));
    expect(response.body).toBe('nein — verboten ✋\n');
  });

  it('the 101 goes out with header values one byte per character (latin1); one above U+00FF is refused 500', async () => {
    const { port } = await startServer({ headers: (req: UpgradeRequest) => ({ 'X-Name': req.url === '/wide' ? '日本' : 'café' }) });
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(101);
    expect(response.headers['x-name']).toBe('café');
    expect((await rawRequest(port, upgradeRequest({ path: '/wide' }))).status).toBe(500);
  });

  it.each([
    ['a header value with CR LF', () => new UpgradeError(401, 'no', { 'WWW-Authenticate': 'Basic\r\nSet-Cookie: session=stolen' }), TypeError],
    ['a header value with NUL', () => new UpgradeError(401, 'no', { 'WWW-Authenticate': 'Basic\0' }), TypeError],
    ['a header name that is no token', () => new UpgradeError(403, 'no', { 'Bad Name': 'x' }), TypeError],
    ['a header the answer computes', () => new UpgradeError(403, 'no', { 'Content-Length': '0' }), TypeError],
    ['a status that is no refusal', () => new UpgradeError(200, 'fine?'), RangeError],
    ['a status that is no integer', () => new UpgradeError(401.5, 'no'), RangeError],
  ])('an UpgradeError that could not be sent (%s) throws where it is made', (_name, make, type) => {
    expect(make).toThrow(type);
  });

  it("an UpgradeError is a HandshakeError with its status, code WS_ERR_UPGRADE (the handshake's own refusals: WS_ERR_HANDSHAKE)", () => {
    const refusal = new UpgradeError(403, 'no');
    expect(refusal).toBeInstanceOf(HandshakeError);
    expect([refusal.status, refusal.code, refusal.name]).toEqual([403, 'WS_ERR_UPGRADE', 'UpgradeError']);
    expect(new HandshakeError(400, 'bad').code).toBe('WS_ERR_HANDSHAKE');
  });

  type RefusalHook = Pick<ConstructorParameters<typeof WebSocketServer>[0], 'verifyClient' | 'authenticate'>;
  const crlf = { 'WWW-Authenticate': 'Basic\r\nSet-Cookie: session=stolen' };
  it.each<[string, RefusalHook, new (...args: any[]) => Error]>([
    [
      'verifyClient refusing with a status that is no refusal',
      { verifyClient: (_info, callback: (verified: boolean, code?: number) => void) => setImmediate(() => callback(false, 200)) },
      RangeError,
    ],
    [
      'verifyClient refusing with a header value with CR LF',
      { verifyClient: (_info, callback: (verified: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => setImmediate(() => callback(false, 401, 'no', crlf)) },
      TypeError,
    ],
    [
      'a HandshakeError thrown from authenticate with a header value with CR LF',
      {
        authenticate: () => {
          throw new HandshakeError(401, 'no', crlf);
        },
      },
      TypeError,
    ],
  ])("%s: answered 500, nothing of it written, and reported as 'error'", async (_name, hook, type) => {
    const { wss, port } = await startServer(hook);
    const errors = recordEvents(wss, ['error']);
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(500);
    expect(response.body).toBe('internal server error\n');
    expect(response.head).not.toMatch(/set-cookie|www-authenticate/i);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.args[0]).toBeInstanceOf(type);
  });

  it("closeOnTokenExpiry giving no time (NaN) refuses the upgrade 500 and reports it as 'error'", async () => {
    const { wss, port } = await startServer({ authenticate: () => ({ user: 'ada' }), closeOnTokenExpiry: () => NaN });
    const errors = recordEvents(wss, ['error', 'connection']);
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(500);
    expect(errors.map((e) => e.event)).toEqual(['error']);
    expect((errors[0]!.args[0] as Error).message).toBe('closeOnTokenExpiry gave NaN, not a time in ms');
  });

  it("closeOnTokenExpiry: true with an exp that is no number refuses the upgrade 500 and reports it as 'error'", async () => {
    const { wss, port } = await startServer({ authenticate: () => ({ user: 'ada', exp: '1700000000' }), closeOnTokenExpiry: true });
    const errors = recordEvents(wss, ['error', 'connection']);
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(500);
    expect(errors.map((e) => e.event)).toEqual(['error']);
    expect((errors[0]!.args[0] as Error).message).toMatch(/exp must be a number/);
  });

  it('a throw in authenticate with no error listener on the server does not crash it', async () => {
    const { port, url } = await startServer({
      authenticate: (req) => {
        if (req.url === '/bad') throw new Error('boom');
        return null;
      },
    });
    const response = await rawRequest(port, upgradeRequest({ path: '/bad' }));
    expect(response.status).toBe(500);
    await openClient(url);
  });

  it('the client answers a rejection with error and close 1006', async () => {
    const { url } = await startServer({
      authenticate: () => {
        throw new UpgradeError(403, 'not you');
      },
    });
    const ws = client(url);
    const events = recordEvents(ws, ['open', 'error', 'close']);
    await nextEvent(ws, 'close');
    expect(events.map((e) => e.event)).toEqual(['error', 'close']);
    expect((events[0]!.args[0] as Error).message).toMatch(/403/);
    expect(events[1]!.args[0]).toBe(1006);
  });

  it('closing the server while authenticate is pending drops the client without a 101', async () => {
    let release!: (value: unknown) => void;
    const { wss, port } = await startServer({ authenticate: () => new Promise((resolve) => (release = resolve)) });
    const events = recordEvents(wss, ['connection']);
    const raw = await rawConnect(port);
    raw.write(upgradeRequest());
    await until(() => release !== undefined, 'authenticate was called');
    const closed = nextEvent(wss, 'close');
    // Graceful shutdown waits for a pending authenticate until its deadline, then drops it.
    void wss.close({ timeout: 100 * MS });
    await raw.waitClosed();
    release(null);
    await closed;
    expect(raw.received).toBe(0);
    expect(events).toEqual([]);
  });

  it('a client that resets while authenticate is pending is dropped cleanly', async () => {
    let release!: (value: unknown) => void;
    const pending = new Promise((resolve) => (release = resolve));
    const { wss, port, url } = await startServer({ authenticate: () => pending });
    const events = recordEvents(wss, ['connection', 'error']);
    const raw = await rawConnect(port);
    raw.write(upgradeRequest());
    await delay(20 * MS);
    raw.socket.resetAndDestroy();
    await delay(20 * MS);
    release(null);
    await delay(20 * MS);
    expect(events).toEqual([]);
    // The server still works (the next authenticate resolves at once: the promise is settled).
    await openClient(url);
  });

  describe.each([
    ['own port', async (options: any) => startServer(options)],
    [
      'attached',
      async (options: any) => {
        const http = createHttpServer();
        const port = await listen(http);
        const wss = trackServer(new WebSocketServer({ ...options, server: http }));
        return { wss, port, url: `ws://127.0.0.1:${port}` };
      },
    ],
  ])('%s', (_mode, start) => {
    it('a client that goes away while authenticate is pending gets no late 101 and makes no connection', async () => {
      let release: ((value: unknown) => void) | undefined;
      const { wss, port } = await start({
        authenticate: () => new Promise((resolve) => (release = resolve)),
      });
      const events = recordEvents(wss, ['connection', 'error']);
      const raw = await rawConnect(port, { allowHalfOpen: true });
      raw.write(upgradeRequest());
      await until(() => release !== undefined, 'authenticate was called');
      raw.socket.end(); // half-close: the raw client could still read a late answer
      await delay(20 * MS);
      release!({ late: true });
      await raw.waitClosed(); // the server drops it
      expect(raw.received).toBe(0);
      expect(events).toEqual([]);
      expect(wss.clients.size).toBe(0);
    });

    it('a request with two Host lines is answered 400 (RFC 9112 §3.2)', async () => {
      const { wss, port } = await start({});
      const events = recordEvents(wss, ['connection']);
      const request = upgradeRequest().replace(/\r\n\r\n$/, '\r\nHost: evil.example\r\n\r\n');
      expect(request.match(/^host:/gim)).toHaveLength(2);
      const response = await rawRequest(port, request);
      expect(response.status).toBe(400);
      expect(response.body).toBe('Host must be a single host[:port], got "127.0.0.1, evil.example"\n');
      expect(events).toEqual([]);
    });

    it('Expect: 100-continue is answered 100 (Continue) before the 101 (RFC 9110 §7.8), and the connection works', async () => {
      const { wss, port } = await start({});
      const connection = nextEvent<[WebSocket]>(wss, 'connection');
      const raw = await rawConnect(port);
      raw.write(upgradeRequest({ headers: { Expect: '100-Continue' } }));
      expect((await raw.readResponse()).status).toBe(100);
      expect((await raw.readResponse()).status).toBe(101);
      const [ws] = await connection;
      const message = nextEvent<[Buffer]>(ws, 'message');
      raw.write(frame(Op.Text, 'after the 100'));
      expect(String((await message)[0])).toBe('after the 100');
    });

    it('a client that goes away while authenticate is pending is dropped at once, and its slot freed', async () => {
      const { port, url } = await start({
        authenticate: (req: { url?: string }) => (req.url === '/never' ? new Promise(() => {}) : { ok: true }),
        maxPendingPerIp: 1,
      });
      const raw = await rawConnect(port, { allowHalfOpen: true });
      raw.write(upgradeRequest({ path: '/never' }));
      await delay(20 * MS);
      raw.socket.end(); // half-close: the raw client could still read a late answer
      await raw.waitClosed(1000 * MS); // not at authenticateTimeout (10 s)
      expect(raw.received).toBe(0);
      const ws = await openClient(url); // not 429: the slot was freed
      expect(ws.readyState).toBe(WebSocket.OPEN);
    });

    it('an authenticate that does not settle within authenticateTimeout is answered 503; what it returns later is ignored', async () => {
      let release: ((value: unknown) => void) | undefined;
      const { wss, port, url } = await start({
        authenticate: (req: { url?: string }) => (req.url === '/slow' ? new Promise((resolve) => (release = resolve)) : Promise.resolve({ fast: true })),
        authenticateTimeout: 100 * MS,
      });
      const events = recordEvents(wss, ['connection', 'error']);
      const started = performance.now();
      const response = await rawRequest(port, upgradeRequest({ path: '/slow' }));
      expect(response.status).toBe(503);
      expect(response.body).toMatch(/authenticate did not settle within 100 ms/);
      expect(performance.now() - started).toBeGreaterThanOrEqual(90 * MS);
      await response.raw.waitClosed();
      release!({ late: true });
      await delay(20 * MS);
      expect(events).toEqual([]);
      expect(wss.clients.size).toBe(0);
      // One that settles in time is accepted as before.
      const ws = await openClient(url);
      expect(ws.readyState).toBe(WebSocket.OPEN);
    });

    it('a verifyClient that settles after the client went away, or once close() began, calls no authenticate and makes no connection', async () => {
      const releases: Array<(verified: boolean) => void> = [];
      const authenticated: string[] = [];
      const { wss, port } = await start({
        verifyClient: () => new Promise<boolean>((resolve) => releases.push(resolve)),
        authenticate: (req: { url?: string }) => {
          authenticated.push(req.url!);
          return {};
        },
      });
      const events = recordEvents(wss, ['connection', 'error']);
      const gone = await rawConnect(port);
      gone.write(upgradeRequest({ path: '/gone' }));
      await until(() => releases.length === 1, 'verifyClient was called');
      gone.socket.destroy();
      await delay(20 * MS);
      releases[0]!(true);
      await delay(20 * MS);
      expect(authenticated).toEqual([]);
      const waiting = await rawConnect(port);
      waiting.write(upgradeRequest({ path: '/shutdown' }));
      await until(() => releases.length === 2, 'verifyClient was called again');
      const closed = wss.close({ timeout: 1000 * MS });
      releases[1]!(true);
      await within(closed, 'the shutdown');
      await waiting.waitClosed();
      expect(authenticated).toEqual([]);
      expect(events).toEqual([]);
      expect(wss.clients.size).toBe(0);
    });

    it('an asynchronous authenticate leaves no listener of its own on the socket of the connection it accepts', async () => {
      const { wss, url } = await start({ authenticate: (req: { url?: string }) => (req.url === '/async' ? Promise.resolve({}) : {}) });
      const sides = new Map<string, WebSocket>();
      wss.on('connection', (ws: WebSocket, req: { url?: string }) => sides.set(req.url!, ws));
      await openClient(`${url}/sync`);
      await openClient(`${url}/async`);
      await until(() => sides.size === 2, 'both connections');
      const counts = (ws: WebSocket) => ['close', 'end', 'error', 'data'].map((event) => ws.socket!.listenerCount(event));
      expect(counts(sides.get('/async')!)).toEqual(counts(sides.get('/sync')!));
    });

    it('an authenticate that settles in time clears its timer (left, it would hold the process until authenticateTimeout)', async () => {
      const { url } = await start({ authenticate: () => Promise.resolve({}), authenticateTimeout: 60_000 });
      const armed = watchTimers(60_000);
      try {
        await openClient(url);
        expect(armed.cleared()).toEqual([true]);
      } finally {
        armed.restore();
      }
    });

    it('data sent right after the request while authenticate is pending is not lost', async () => {
      let release!: (value: unknown) => void;
      const { wss, port } = await start({
        authenticate: () => new Promise((resolve) => (release = resolve)),
      });
      const raw = await rawConnect(port);
      // The request and the first frame in one write, a second frame a moment later.
      raw.write(Buffer.concat([Buffer.from(upgradeRequest()), frame(Op.Text, 'first')]));
      await until(() => release !== undefined, 'authenticate was called');
      raw.write(frame(Op.Binary, Buffer.from('second')));
      await delay(20 * MS);
      const connection = nextEvent<[WebSocket]>(wss, 'connection');
      release({ ok: true });
      const [ws] = await connection;
      const messages: string[] = [];
      ws.on('message', (data: Buffer, isBinary: boolean) => messages.push(`${isBinary ? 'b' : 't'}:${data}`));
      const response = await raw.readResponse();
      expect(response.status).toBe(101);
      await until(() => messages.length === 2, 'both messages arrived');
      expect(messages).toEqual(['t:first', 'b:second']);
      expect(ws.data).toEqual({ ok: true });
    });
  });
});

describe('subprotocols and response headers', () => {
  it('handleProtocols picks one; ws.protocol agrees on both sides', async () => {
    const offered: string[][] = [];
    const { wss, url } = await startServer({
      handleProtocols: (protocols, req) => {
        offered.push([...protocols]);
        expect(req.headers['sec-websocket-protocol']).toBe('a.v1, b.v2');
        return protocols.has('b.v2') ? 'b.v2' : false;
      },
    });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const ws = await openClient(url, ['a.v1', 'b.v2']);
    const [server] = await connection;
    expect(offered).toEqual([['a.v1', 'b.v2']]);
    expect(ws.protocol).toBe('b.v2');
    expect(server.protocol).toBe('b.v2');
  });

  it('handleProtocols returning false selects none (and a client that offered some then fails, as browsers and ws do)', async () => {
    const { wss, url } = await startServer({ handleProtocols: () => false });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const ws = client(url, ['chat']);
    const [error] = await nextEvent<[Error]>(ws, 'error');
    expect(error.message).toBe('server selected no subprotocol; offered "chat"');
    expect((await connection)[0].protocol).toBe('');
  });

  it('without handleProtocols the first offered subprotocol is selected', async () => {
    const { url } = await startServer();
    const ws = await openClient(url, ['first', 'second']);
    expect(ws.protocol).toBe('first');
  });

  it('a choice that was not offered is rejected before any 101', async () => {
    const { wss, port } = await startServer({ handleProtocols: () => 'never-offered' });
    const events = recordEvents(wss, ['connection']);
    wss.on('error', () => {});
    const response = await rawRequest(port, upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'chat' } }));
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.body).toMatch(ONE_LINE);
    expect(events).toEqual([]);
  });

  it('an UpgradeError thrown by handleProtocols is answered with its status', async () => {
    const { port } = await startServer({
      handleProtocols: () => {
        throw new UpgradeError(400, 'no supported subprotocol');
      },
    });
    const response = await rawRequest(port, upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'chat' } }));
    expect(response.status).toBe(400);
    expect(response.body).toBe('no supported subprotocol\n');
  });

  it('the headers option (a record or a function) and the headers event add response headers', async () => {
    const { wss, port } = await startServer({
      headers: (req: UpgradeRequest) => ({ 'X-Path': req.url, 'Set-Cookie': 'id=1' }),
    });
    wss.on('headers', (lines: string[], req: UpgradeRequest) => {
      expect(lines[0]).toBe('HTTP/1.1 101 Switching Protocols');
      lines.push(`X-From-Event: ${req.method}`);
    });
    const { response } = await rawUpgrade(port, { path: '/p?q=1' });
    expect(response.headers['x-path']).toBe('/p?q=1');
    expect(response.headers['set-cookie']).toBe('id=1');
    expect(response.headers['x-from-event']).toBe('GET');

    const fixed = await startServer({ headers: { 'X-Fixed': 'yes' } });
    const ws = client(fixed.url);
    const [head] = await nextEvent<[{ headers: Record<string, string> }]>(ws, 'upgrade');
    expect(head.headers['x-fixed']).toBe('yes');
  });

  it('a headers event that adds a line with CR LF is answered 500, not sent', async () => {
    const { wss, port } = await startServer();
    wss.on('headers', (lines: string[]) => lines.push('X-Evil: a\r\nInjected: 1'));
    wss.on('error', () => {});
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(500);
    expect(response.headers.injected).toBeUndefined();
  });
});

describe('clients and events', () => {
  it('clients holds open connections and forgets closed ones', async () => {
    const { wss, url } = await startServer();
    const a = await openClient(url);
    const b = await openClient(url);
    await until(() => wss.clients.size === 2, 'both clients are tracked');
    for (const ws of wss.clients) expect(ws.readyState).toBe(WebSocket.OPEN);
    const closed = [...wss.clients].map((ws) => nextEvent(ws, 'close'));
    a.close(1000);
    await until(() => wss.clients.size === 1, 'the closed client is forgotten');
    b.terminate();
    await Promise.all(closed);
    expect(wss.clients.size).toBe(0);
  });

  it('clientTracking false keeps clients empty', async () => {
    const { wss, url } = await startServer({ clientTracking: false });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const ws = await openClient(url);
    const [server] = await connection;
    expect(wss.clients.size).toBe(0);
    const closed = nextEvent(server, 'close');
    ws.close();
    await closed;
  });

  it("on its own port, gives a request whose headers are built when read and can be replaced", async () => {
    const wss = trackServer(new WebSocketServer({ port: 0, host: '127.0.0.1' }));
    await nextEvent(wss, 'listening');
    const { port } = wss.address() as { port: number };
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    const ws = await openClient(`ws://127.0.0.1:${port}/`, undefined, { headers: { 'X-Twice': 'a', 'x-twice': 'b' } });
    const [, req] = await connection;
    expect(req.rawHeaders).toContain('X-Twice');
    expect(req.headers['x-twice']).toBe('a, b');
    expect(req.headers.upgrade).toBe('websocket');
    expect(req.headers).toBe(req.headers);
    req.headers = { replaced: '1' };
    expect(req.headers).toEqual({ replaced: '1' });
    ws.close();
  });

  it('handleUpgrade with a socket that closed meanwhile (no authenticate) makes no connection', async () => {
    const http = createHttpServer();
    const port = await listen(http);
    const wss = trackServer(new WebSocketServer({ noServer: true }));
    const connections: WebSocket[] = [];
    const handed = new Promise<void>((resolve) => {
      http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
        socket.once('close', () => {
          // The application's own asynchronous step took longer than the client stayed.
          wss.handleUpgrade(req, socket, head, (ws) => connections.push(ws));
          resolve();
        });
        socket.destroy();
      });
    });
    const ws = client(`ws://127.0.0.1:${port}/`);
    ws.on('error', () => {});
    await within(handed, 'the upgrade');
    await delay(20 * MS);
    expect(connections).toEqual([]);
    expect(wss.clients.size).toBe(0);
  });

  it('validates a request given to handleUpgrade from its headers, which code may have changed first (as ws does)', async () => {
    const http = createHttpServer();
    const port = await listen(http);
    const wss = trackServer(new WebSocketServer({ noServer: true }));
    http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      delete req.headers['sec-websocket-protocol'];
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    // The client offers "chat"; the server sees no offer, so it selects none (and the
    // client, which offered one, fails the connection).
    const ws = client(`ws://127.0.0.1:${port}/`, ['chat']);
    const failed = nextEvent(ws, 'error');
    const [server] = await connection;
    expect(server.protocol).toBe('');
    await failed;
  });

  it('emits listening, connection (ws, req) and close', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    const log = recordEvents(wss, ['listening', 'connection', 'close']);
    await nextEvent(wss, 'listening');
    const { port } = wss.address() as { port: number };
    const ws = await openClient(`ws://127.0.0.1:${port}/x?y=1`, undefined, { headers: { 'X-Test': '1' } });
    await until(() => log.length === 2, 'the connection event');
    const [server, req] = log[1]!.args as [WebSocket, UpgradeRequest];
    expect(server).toBeInstanceOf(WebSocket);
    expect(server.isServer).toBe(true);
    expect(req.url).toBe('/x?y=1');
    expect(req.method).toBe('GET');
    expect(req.headers['x-test']).toBe('1');
    expect(req.socket.remoteAddress).toBe('127.0.0.1');

    const closed = nextEvent(server, 'close');
    ws.close(1000);
    await closed;
    const serverClosed = nextEvent(wss, 'close');
    wss.close();
    await serverClosed;
    expect(log.map((e) => e.event)).toEqual(['listening', 'connection', 'close']);
    // Closed: a new connection is refused.
    const late = client(`ws://127.0.0.1:${port}`);
    const [code] = await nextEvent(late, 'close');
    expect(code).toBe(1006);
  });

  it('the listening callback of the constructor is called', async () => {
    let called = false;
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => (called = true));
    track(wss, (server) => new Promise<void>((resolve) => server.close(() => resolve())));
    await nextEvent(wss, 'listening');
    expect(called).toBe(true);
  });

  it('close(cb) stops accepting but leaves open connections open, and calls cb once they have closed; attached http servers keep running', async () => {
    const http = createHttpServer((_req, res) => res.end('still here'));
    const port = await listen(http);
    const wss = trackServer(new WebSocketServer({ server: http }));
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const ws = await openClient(`ws://127.0.0.1:${port}`);
    const [server] = await connection;
    let serverClosed = false;
    const wssClosed = new Promise<void>((resolve) => wss.close(() => resolve())).then(() => (serverClosed = true));
    // The open connection still works.
    const reply = nextEvent(ws, 'message');
    server.send('after close');
    expect(String((await reply)[0])).toBe('after close');
    const plain = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(plain.body).toBe('still here');
    // As in ws, 'close' waits for the open connections.
    expect(serverClosed).toBe(false);
    const closed = nextEvent(ws, 'close');
    server.close(1001);
    expect((await closed)[0]).toBe(1001);
    await within(wssClosed, 'the server to close');
  });

});

describe('odd requests and throwing hooks: always answered, never a crash', () => {
  it.each([
    ['a synchronous authenticate', { authenticate: () => ({}) }],
    ['an async authenticate', { authenticate: async () => ({}) }],
    ['an authenticate returning a thenable that answers at once', { authenticate: () => ({ then: (resolve: (value: object) => void) => resolve({}) }) as never }],
    ['an async verifyClient', { verifyClient: async () => true }],
  ])("after %s, a 'connection' listener that throws is an uncaught exception (not an unhandled rejection, not lost)", async (_name, options) => {
    await collectingRejections(async (rejections) => {
      await collectingUncaught(async (errors) => {
        const { wss, url } = await startServer(options as ServerOptions);
        wss.on('connection', () => {
          throw new Error('bug in a connection listener');
        });
        await openClient(url);
        await until(() => errors.length === 1, 'the exception');
        expect(errors[0]!.message).toBe('bug in a connection listener');
        await delay(20 * MS);
        expect(rejections).toEqual([]);
      });
    });
  });

  it('two servers attached by path: a third path is answered 400 (not left hanging)', async () => {
    const http = createHttpServer();
    const port = await listen(http);
    trackServer(new WebSocketServer({ server: http, path: '/a' })).on('connection', echo);
    trackServer(new WebSocketServer({ server: http, path: '/b' })).on('connection', echo);
    for (const path of ['/a', '/b']) {
      const ws = await openClient(`ws://127.0.0.1:${port}${path}`);
      const reply = nextEvent(ws, 'message');
      ws.send(path);
      expect(String((await reply)[0])).toBe(path);
    }
    const other = await rawRequest(port, upgradeRequest({ path: '/c' }));
    expect(other.status).toBe(400);
    expect(other.body).toBe('no WebSocket endpoint at /c\n');
    await other.raw.waitClosed();
  });

  it('an absolute-form request target (RFC 9112 §3.2.2: GET http://host/chat) matches `path` by its path, own port and attached', async () => {
    const http = createHttpServer();
    const attachedPort = await listen(http);
    trackServer(new WebSocketServer({ server: http, path: '/chat' }));
    const own = await startServer({ path: '/chat' });
    for (const port of [own.port, attachedPort]) {
      for (const [target, status] of [
        [`http://127.0.0.1:${port}/chat`, 101],
        [`ws://127.0.0.1:${port}/chat?room=1`, 101],
        [`http://127.0.0.1:${port}/other`, 400],
        [`http://127.0.0.1:${port}`, 400],
        [`http://127.0.0.1:${port}?chat`, 400],
      ] as const) {
        const response = await rawRequest(port, upgradeRequest({ path: target }));
        expect([port, target, response.status]).toEqual([port, target, status]);
        response.raw.socket.destroy();
      }
    }
  });

  it('two servers attached with the same path: the first one attached answers, and nothing throws', async () => {
    const http = createHttpServer();
    const port = await listen(http);
    const first = trackServer(new WebSocketServer({ server: http }));
    const second = trackServer(new WebSocketServer({ server: http }));
    const got: string[] = [];
    first.on('connection', (ws: WebSocket) => (got.push('first'), echo(ws)));
    second.on('connection', () => got.push('second'));
    for (let i = 0; i < 3; i++) {
      const ws = await openClient(`ws://127.0.0.1:${port}/any`);
      const reply = nextEvent(ws, 'message');
      ws.send('hello');
      expect(String((await reply)[0])).toBe('hello');
    }
    expect(got).toEqual(['first', 'first', 'first']);
    // Once the first is closed, the second answers.
    await first.close();
    await openClient(`ws://127.0.0.1:${port}/any`);
    await until(() => got.length === 4, 'the second server to get the connection');
    expect(got.at(-1)).toBe('second');
  });

  it('an attached server leaves other paths to an upgrade listener that is not a WebSocketServer', async () => {
    const http = createHttpServer();
    const port = await listen(http);
    trackServer(new WebSocketServer({ server: http, path: '/ws' }));
    http.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      if (req.url === '/custom') socket.end('HTTP/1.1 418 I am a teapot\r\nContent-Length: 0\r\n\r\n');
    });
    expect((await rawRequest(port, upgradeRequest({ path: '/custom' }))).status).toBe(418);
  });

  it('handleUpgrade: a frame in `head` reaches the listener added in the callback', async () => {
    const http = createHttpServer();
    const port = await listen(http);
    const wss = trackServer(new WebSocketServer({ noServer: true }));
    const messages: string[] = [];
    http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => messages.push(String(data))));
    });
    const raw = await rawConnect(port);
    // Not waiting for the 101: the first frame travels with the request (and so is in `head`).
    raw.write(Buffer.concat([Buffer.from(upgradeRequest()), frame(Op.Text, 'first')]));
    expect((await raw.readResponse()).status).toBe(101);
    raw.write(frame(Op.Text, 'second'));
    await until(() => messages.length === 2, 'both messages');
    expect(messages).toEqual(['first', 'second']);
  });

  it.each([
    ['null', null],
    ["''", ''],
  ])('handleProtocols returning %s selects no subprotocol, as in ws', async (_, choice) => {
    const { port } = await startServer({ handleProtocols: () => choice as unknown as false });
    const { response } = await rawUpgrade(port, { headers: { 'Sec-WebSocket-Protocol': 'chat' } });
    expect(response.status).toBe(101);
    expect(response.headers['sec-websocket-protocol']).toBeUndefined();
  });

  it("authenticate returning a thenable whose then() throws: 500 and an 'error' event", async () => {
    let calls = 0;
    const { wss, port } = await startServer({
      authenticate: () =>
        ++calls > 1
          ? 'ok'
          : ({
              then() {
                throw new Error('then failed');
              },
            } as unknown as Promise<unknown>),
    });
    const errors = recordEvents(wss, ['error']);
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(500);
    expect(response.body).toBe('internal server error\n');
    expect(errors.map((e) => (e.args[0] as Error).message)).toEqual(['then failed']);
    // Still serving.
    expect((await rawUpgrade(port)).response.status).toBe(101);
  });

  it.each([0, Infinity, 2 ** 31])('handshakeTimeout %s is no limit', async (handshakeTimeout) => {
    const { port } = await startServer({ handshakeTimeout });
    const raw = await rawConnect(port);
    await delay(100 * MS);
    raw.write(upgradeRequest());
    expect((await raw.readResponse()).status).toBe(101);
  });

  it('a refused client that keeps sending is cut off 1 s after the answer, not kept while it sends', async () => {
    const { port } = await startServer();
    // Half-open: the client goes on sending after the server's FIN.
    const raw = await rawConnect(port, { allowHalfOpen: true });
    raw.write(upgradeRequest({ method: 'POST' }));
    expect((await raw.readResponse()).status).toBe(405);
    const answeredAt = Date.now();
    const trickle = setInterval(() => {
      if (!raw.closed) raw.write('x');
    }, 100);
    try {
      await raw.waitClosed(3000 * MS);
    } finally {
      clearInterval(trickle);
    }
    expect(Date.now() - answeredAt).toBeLessThan(2000 * MS);
  });
});
