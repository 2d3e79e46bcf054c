/**
 * The parts of ws's API kept for code that moves from ws: `verifyClient`,
 * `createWebSocketStream`, `isPaused`, `_socket`, and the aliases on the WebSocket class
 * (`WebSocket.Server` and the others), over real sockets.
 */
import { EventEmitter, once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { collectingUncaught } from '../support/sockets.js';
import type { Socket } from 'node:net';
import VolleyDefault, {
  HandshakeError,
  WebSocket,
  WebSocketServer,
  createWebSocketStream,
  type UpgradeRequest,
  type VerifyClientCallback,
  type VerifyClientInfo,
} from '../../src/index.js';
import {
  MS,
  Op,
  client,
  closeAll,
  connectPair,
  delay,
  frame,
  listen,
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
  within,
} from './helpers.js';

afterEach(closeAll);

describe('verifyClient', () => {
  it('sync true: the upgrade goes on; info has the origin, secure and the request', async () => {
    const seen: VerifyClientInfo[] = [];
    const { server } = await connectPair(
      {
        verifyClient: (info: VerifyClientInfo) => {
          seen.push(info);
          return true;
        },
      },
      { origin: 'https://app.example' },
    );
    expect(server.readyState).toBe(WebSocket.OPEN);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.origin).toBe('https://app.example');
    expect(seen[0]!.secure).toBe(false);
    expect(seen[0]!.req.url).toBe('/');
  });

  it('sync false: 401 before any 101, and neither handleProtocols nor authenticate runs', async () => {
    const calls: string[] = [];
    const { wss, port } = await startServer({
      verifyClient: () => false,
      handleProtocols: () => {
        calls.push('handleProtocols');
        return false;
      },
      authenticate: () => {
        calls.push('authenticate');
        return {};
      },
    });
    const events = recordEvents(wss, ['connection', 'error']);
    const response = await rawRequest(port, upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'chat' } }));
    expect(response.status).toBe(401);
    expect(response.body).toBe('Unauthorized\n');
    await response.raw.waitClosed();
    expect(calls).toEqual([]);
    expect(events).toEqual([]);
  });

  it('with a callback: accepts later, and runs before handleProtocols and authenticate', async () => {
    const calls: string[] = [];
    const { server, client: ws } = await connectPair({
      verifyClient: (_info: VerifyClientInfo, callback: VerifyClientCallback) => {
        calls.push('verifyClient');
        setTimeout(() => callback(true), 10 * MS);
      },
      handleProtocols: (protocols) => {
        calls.push('handleProtocols');
        return [...protocols][0] ?? false;
      },
      authenticate: () => {
        calls.push('authenticate');
        return { user: 'ada' };
      },
    });
    expect(calls).toEqual(['verifyClient', 'authenticate']); // no subprotocol offered: no choice to make
    expect(server.data).toEqual({ user: 'ada' });
    const reply = nextEvent(server, 'message');
    ws.send('after a late verdict');
    expect(String((await reply)[0])).toBe('after a late verdict');
  });

  it('with a callback: a refusal is answered with its code, message and headers', async () => {
    const { wss, port } = await startServer({
      verifyClient: (_info: VerifyClientInfo, callback: VerifyClientCallback) => {
        setTimeout(() => callback(false, 403, 'not from here', { 'X-Reason': 'origin' }), 5 * MS);
      },
    });
    const events = recordEvents(wss, ['connection', 'error']);
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(403);
    expect(response.headers['x-reason']).toBe('origin');
    expect(response.body).toBe('not from here\n');
    await response.raw.waitClosed();
    expect(events).toEqual([]);
  });

  it('with a callback and no code: 401, as ws answers', async () => {
    const { port } = await startServer({ verifyClient: (_info: VerifyClientInfo, callback: VerifyClientCallback) => callback(false) });
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(401);
  });

  it('a promise is waited for (ws would take it as true)', async () => {
    const { port } = await startServer({
      verifyClient: async () => {
        await delay(5 * MS);
        return false;
      },
    });
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(401);
  });

  it('a callback never called: 503 once authenticateTimeout has passed', async () => {
    const { wss, port } = await startServer({
      authenticateTimeout: 50 * MS,
      verifyClient: (_info: VerifyClientInfo, _callback: VerifyClientCallback) => {},
    });
    const events = recordEvents(wss, ['connection']);
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(503);
    expect(response.body).toContain('verifyClient did not settle');
    expect(events).toEqual([]);
  });

  it('a throw is answered 500 without its message and reported as the server error', async () => {
    const secret = new Error('verifier crashed: key is hunter2');
    const { wss, port } = await startServer({
      verifyClient: () => {
        throw secret;
      },
    });
    const errors: unknown[] = [];
    wss.on('error', (error) => errors.push(error));
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(500);
    expect(response.head + response.body).not.toContain('hunter2');
    expect(errors).toEqual([secret]);
  });

  it('a client that goes away while the verdict is pending makes no connection, and the server goes on', async () => {
    let answer: VerifyClientCallback | undefined;
    const { wss, port, url } = await startServer({
      verifyClient: (_info: VerifyClientInfo, callback: VerifyClientCallback) => {
        answer ??= callback;
        if (answer !== callback) callback(true);
      },
    });
    const events = recordEvents(wss, ['connection']);
    const raw = await rawConnect(port);
    raw.write(upgradeRequest());
    await until(() => answer !== undefined, 'verifyClient was called');
    raw.socket.destroy();
    await delay(20 * MS);
    answer!(true); // too late: the socket is gone
    await delay(20 * MS);
    expect(events).toEqual([]);
    const ws = await openClient(url);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it('secure is true behind an https server', async () => {
    const { key, cert } = selfSignedCertificate();
    const https = createHttpsServer({ key, cert });
    const port = await listen(https);
    let secure: boolean | undefined;
    const wss = track(
      new WebSocketServer({
        server: https,
        verifyClient: (info: VerifyClientInfo) => {
          secure = info.secure;
          return true;
        },
      }),
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    await openClient(`wss://127.0.0.1:${port}`, undefined, { tls: { ca: cert } });
    const [server] = await connection;
    server.terminate();
    expect(secure).toBe(true);
  });
});

describe('createWebSocketStream', () => {
  it('a server-side stream piped into itself echoes every message in order', async () => {
    const { wss, url } = await startServer();
    wss.on('connection', (ws) => {
      const duplex = createWebSocketStream(ws);
      duplex.on('error', () => {});
      duplex.pipe(duplex);
    });
    const ws = await openClient(url);
    const received: Buffer[] = [];
    const all = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        expect(isBinary).toBe(true);
        received.push(data);
        if (received.length === 100) resolve();
      }),
    );
    for (let i = 0; i < 100; i++) ws.send(Buffer.from(`message ${i}`));
    await within(all, '100 echoes');
    expect(received.map(String)).toEqual(Array.from({ length: 100 }, (_, i) => `message ${i}`));
  });

  it('a client stream made while connecting sends what was written before open, and reads what the server sends', async () => {
    const { wss, url } = await startServer();
    const serverMessages: string[] = [];
    wss.on('connection', (ws) => {
      ws.on('message', (data: Buffer) => {
        serverMessages.push(String(data));
        if (serverMessages.length === 2) ws.send('from the server');
      });
    });
    const ws = client(url);
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
    const duplex = createWebSocketStream(ws);
    duplex.write('one');
    duplex.write(Buffer.from('two'));
    const [chunk] = await nextEvent<[Buffer]>(duplex, 'data');
    expect(String(chunk)).toBe('from the server');
    expect(serverMessages).toEqual(['one', 'two']);
    duplex.destroy();
  });

  it('a client stream whose WebSocket closes without opening fails what was written, and closes', async () => {
    const { url } = await startServer();
    const ws = client(url);
    ws.once('upgrade', () => ws.close()); // closed before 'open', without an error
    const duplex = createWebSocketStream(ws);
    const errors: Error[] = [];
    duplex.on('error', (error: Error) => errors.push(error));
    duplex.write('lost');
    await nextEvent(duplex, 'close');
    expect(errors).toHaveLength(1);
  });

  it("the stream's own options win over the caller's, as in ws: 'close' comes once even with emitClose: true", async () => {
    const { server, client: ws } = await connectPair();
    const duplex = createWebSocketStream(ws, { emitClose: true, autoDestroy: true, objectMode: true, writableObjectMode: true });
    expect(duplex.writableObjectMode).toBe(false);
    const closes = recordEvents(duplex, ['close']);
    duplex.resume();
    duplex.end();
    await nextEvent(server, 'close');
    await until(() => closes.length > 0, "the stream's close");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closes).toHaveLength(1);
  });

  it('end() closes cleanly (1005) and the stream closes once both sides are done', async () => {
    const { server, client: ws } = await connectPair();
    const duplex = createWebSocketStream(ws);
    duplex.resume(); // read to the end
    const serverClosed = nextEvent<[number, Buffer]>(server, 'close');
    const streamClosed = nextEvent(duplex, 'close');
    duplex.end('last words');
    const [message] = await nextEvent<[Buffer]>(server, 'message');
    expect(String(message)).toBe('last words');
    const [code] = await serverClosed;
    expect(code).toBe(1005);
    await streamClosed;
    expect(duplex.destroyed).toBe(true);
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });

  it('the readable side ends when the peer closes', async () => {
    const { server, client: ws } = await connectPair();
    const duplex = createWebSocketStream(ws);
    const chunks: string[] = [];
    const ended = new Promise<void>((resolve) => {
      duplex.on('data', (chunk) => chunks.push(String(chunk)));
      duplex.on('end', resolve);
    });
    server.send('a');
    server.send('b');
    server.close(1000);
    await within(ended, 'end of the readable side');
    expect(chunks).toEqual(['a', 'b']);
  });

  it('destroy() terminates the WebSocket: the peer sees 1006', async () => {
    const { server, client: ws } = await connectPair();
    const duplex = createWebSocketStream(ws);
    const serverClosed = nextEvent<[number]>(server, 'close');
    const streamClosed = nextEvent(duplex, 'close');
    duplex.destroy();
    await streamClosed;
    expect((await serverClosed)[0]).toBe(1006);
  });

  it('a readable side nobody reads pauses the WebSocket; reading resumes it, and nothing is lost', async () => {
    const { server, client: ws } = await connectPair();
    const duplex = createWebSocketStream(ws, { highWaterMark: 1024 });
    const count = 200;
    const payload = Buffer.alloc(1024, 7);
    for (let i = 0; i < count; i++) {
      payload.writeUInt32BE(i, 0);
      server.send(Buffer.from(payload));
    }
    await until(() => ws.isPaused, 'the client paused');
    expect(duplex.readableLength).toBeLessThan(count * 1024);
    let next = 0;
    await pipeline(
      duplex,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          // Messages are chunks: each is one 1 KiB message, in order.
          expect(chunk.length).toBe(1024);
          expect(chunk.readUInt32BE(0)).toBe(next++);
          if (next === count) {
            server.close();
          }
          callback();
        },
      }),
    );
    expect(next).toBe(count);
    expect(ws.isPaused).toBe(false);
  });

  it('a protocol error from the peer destroys the stream with the error', async () => {
    const { wss, port } = await startServer();
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const { raw } = await rawUpgrade(port);
    const [server] = await connection;
    const duplex = createWebSocketStream(server);
    const failed = nextEvent<[Error]>(duplex, 'error');
    const closed = nextEvent(duplex, 'close');
    raw.write(frame(Op.Text, Buffer.from([0xff]))); // invalid UTF-8: 1007
    const [error] = await failed;
    expect(error.message).toMatch(/UTF-8/);
    await closed;
    expect(duplex.destroyed).toBe(true);
  });

  it("with no 'error' listener, the stream's error is thrown (uncaught), as a stream's is; the stream is destroyed and the peer gets 1007", async () => {
    await collectingUncaught(async (errors) => {
      const { wss, port } = await startServer();
      const connection = nextEvent<[WebSocket]>(wss, 'connection');
      const { raw } = await rawUpgrade(port);
      const [server] = await connection;
      const duplex = createWebSocketStream(server);
      duplex.resume();
      const closed = nextEvent(duplex, 'close');
      raw.write(frame(Op.Text, Buffer.from([0xff]))); // invalid UTF-8: 1007
      const close = await raw.readFrame();
      expect(close.opcode).toBe(Op.Close);
      expect(close.payload.readUInt16BE(0)).toBe(1007);
      await closed;
      await until(() => errors.length === 1, 'the uncaught error');
      expect(errors[0]!.message).toMatch(/UTF-8/);
      expect(duplex.destroyed).toBe(true);
    });
  });

  it.each(['arraybuffer', 'fragments'] as const)('binaryType %s: the readable side still gets Buffers', async (binaryType) => {
    const { server, client: ws } = await connectPair();
    ws.binaryType = binaryType;
    const duplex = createWebSocketStream(ws);
    const chunk = nextEvent<[unknown]>(duplex, 'data');
    server.send(Buffer.from([1, 2, 3]));
    const [data] = await chunk;
    expect(Buffer.isBuffer(data)).toBe(true);
    expect(data).toEqual(Buffer.from([1, 2, 3]));
  });

  it('in object mode the readable side gets the messages as they are', async () => {
    const { server, client: ws } = await connectPair();
    ws.binaryType = 'arraybuffer';
    const duplex = createWebSocketStream(ws, { readableObjectMode: true });
    const chunk = nextEvent<[unknown]>(duplex, 'data');
    server.send(Buffer.from([4, 5]));
    const [data] = await chunk;
    expect(data).toBeInstanceOf(ArrayBuffer);
  });

  it('streams from Readable.from into a peer, one message per chunk', async () => {
    const { server, client: ws } = await connectPair();
    const duplex = createWebSocketStream(ws);
    const received: string[] = [];
    const all = new Promise<void>((resolve) =>
      server.on('message', (data) => {
        received.push(String(data));
        if (received.length === 3) resolve();
      }),
    );
    Readable.from([Buffer.from('x'), Buffer.from('y'), Buffer.from('z')]).pipe(duplex);
    await within(all, 'three messages');
    expect(received).toEqual(['x', 'y', 'z']);
  });

  it('in object mode a text message is a string and a binary one a Buffer, as in ws', async () => {
    const { server, client: ws } = await connectPair();
    const duplex = createWebSocketStream(ws, { readableObjectMode: true });
    const chunks: unknown[] = [];
    duplex.on('data', (chunk) => chunks.push(chunk));
    server.send('héllo');
    server.send(Buffer.from([1, 2]));
    await until(() => chunks.length === 2, 'two messages');
    expect(chunks[0]).toBe('héllo');
    expect(Buffer.isBuffer(chunks[1]) && [...(chunks[1] as Buffer)]).toEqual([1, 2]);
  });

  it("the peer's protocol violation on a streamed WebSocket: the stream errors and the peer still gets the close code (1009), as in ws", async () => {
    const { wss, url } = await startServer({ maxPayload: 1024 });
    const streamErrors: Error[] = [];
    wss.on('connection', (ws) => createWebSocketStream(ws).on('error', (error) => streamErrors.push(error)));
    const ws = await openClient(url);
    const closed = nextEvent<[number]>(ws, 'close');
    ws.send(Buffer.alloc(2048));
    expect((await closed)[0]).toBe(1009);
    // The stream's error comes once its WebSocket has closed.
    await until(() => streamErrors.length > 0, "the stream's error");
    expect(streamErrors.map((error) => error.name)).toEqual(['MessageTooBigError']);
  });

  it("terminate() in an 'error' listener: the close frame was written before the event, as in ws", async () => {
    const { wss, url } = await startServer({ maxPayload: 1024 });
    wss.on('connection', (ws) => ws.on('error', () => ws.terminate()));
    const ws = await openClient(url);
    const closed = nextEvent<[number]>(ws, 'close');
    ws.send(Buffer.alloc(2048));
    expect((await closed)[0]).toBe(1009);
  });

  it('a WebSocket the application paused before wrapping it is resumed when the stream is read, as in ws', async () => {
    const { server, client: ws } = await connectPair();
    server.pause();
    ws.send('hello');
    await delay(50 * MS);
    const duplex = createWebSocketStream(server);
    const [chunk] = await nextEvent<[Buffer]>(duplex, 'data');
    expect(String(chunk)).toBe('hello');
    expect(server.isPaused).toBe(false);
  });
});

describe('wsClientError', () => {
  it('with a listener, an invalid upgrade is left to it: it gets the HandshakeError, the socket and the request', async () => {
    const { wss, port } = await startServer();
    const seen: Array<{ status: number; url: string }> = [];
    wss.on('wsClientError', (error: HandshakeError, socket: Socket, req: UpgradeRequest) => {
      seen.push({ status: error.status, url: req.url });
      socket.end('HTTP/1.1 418 I\'m a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    const response = await rawRequest(port, upgradeRequest({ path: '/bad-key', key: 'not a key' }));
    expect(response.status).toBe(418);
    expect(seen).toEqual([{ status: 400, url: '/bad-key' }]);
  });

  it('without one, the server answers as usual', async () => {
    const { port } = await startServer();
    const response = await rawRequest(port, upgradeRequest({ key: 'not a key' }));
    expect(response.status).toBe(400);
  });

  it("on the own port, a plain HTTP request (no upgrade at all) is answered 426 by the server, not given to it, as ws's own port does; an upgrade to another protocol is given to it", async () => {
    const { wss, port } = await startServer();
    const events = recordEvents(wss, ['wsClientError']);
    wss.on('wsClientError', (_error: HandshakeError, socket: Socket) => socket.end('HTTP/1.1 418 No\r\nContent-Length: 0\r\n\r\n'));
    const plain = await rawRequest(port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(plain.status).toBe(426);
    expect(events).toEqual([]);
    const other = await rawRequest(port, upgradeRequest({ headers: { Upgrade: 'h2c' } }));
    expect(other.status).toBe(418);
    expect(events).toHaveLength(1);
  });

  it('a request refused for other reasons (verifyClient) is not given to it', async () => {
    const { wss, port } = await startServer({ verifyClient: () => false });
    const events = recordEvents(wss, ['wsClientError']);
    const response = await rawRequest(port, upgradeRequest());
    expect(response.status).toBe(401);
    expect(events).toEqual([]);
  });
});

describe('the WebSocket option', () => {
  it('the server makes its connections of that subclass', async () => {
    class Tagged extends WebSocket {
      tag(): string {
        return 'tagged';
      }
    }
    const { server } = await connectPair({ WebSocket: Tagged });
    expect(server).toBeInstanceOf(Tagged);
    expect((server as Tagged).tag()).toBe('tagged');
  });

  it('anything but WebSocket or a subclass is a TypeError', () => {
    expect(() => new WebSocketServer({ noServer: true, WebSocket: class {} as unknown as typeof WebSocket })).toThrow(TypeError);
  });

  it('a subclass defining a method Volley calls on every connection (write, onMessage, ...) is refused at once, on the server and the client', () => {
    // As JavaScript writes them (TypeScript itself asks for `override` here).
    const Base = WebSocket as unknown as new (url?: string | null) => { send(data: string): void };
    class JsonWriter extends Base {
      write(value: unknown): void {
        this.send(JSON.stringify(value));
      }
    }
    class Hooked extends Base {}
    class Deeper extends Hooked {
      onMessage(): void {}
    }
    expect(() => new WebSocketServer({ noServer: true, WebSocket: JsonWriter as unknown as typeof WebSocket })).toThrow(/JsonWriter defines write\(\)/);
    expect(() => new WebSocketServer({ noServer: true, WebSocket: Deeper as unknown as typeof WebSocket })).toThrow(/Deeper defines onMessage\(\)/);
    expect(() => new JsonWriter('ws://127.0.0.1:1')).toThrow(TypeError);
    expect(() => new WebSocketServer({ noServer: true, WebSocket: Hooked as unknown as typeof WebSocket })).not.toThrow();
  });
});

describe('isPaused', () => {
  it('follows pause and resume', async () => {
    const { server } = await connectPair();
    expect(server.isPaused).toBe(false);
    server.pause();
    expect(server.isPaused).toBe(true);
    server.resume();
    expect(server.isPaused).toBe(false);
  });
});

describe('generateMask', () => {
  it.each([
    ['as ws calls it: fills the buffer it is given', (mask: Buffer) => void mask.fill(0)],
    ['returning the key', () => Buffer.alloc(4)],
  ])('%s: frames go out with that key, and the server reads them', async (_name, generateMask) => {
    const keys: string[] = [];
    const { wss, url } = await startServer();
    const messages: string[] = [];
    wss.on('connection', (ws, req) => {
      // The raw bytes of the client's frames, before the server reads them.
      req.socket.prependListener('data', (chunk: Buffer) => keys.push(chunk.subarray(2, 6).toString('hex')));
      ws.on('message', (data) => messages.push(String(data)));
    });
    const ws = await openClient(url, undefined, { generateMask });
    ws.send('zero key');
    await until(() => messages.length === 1, 'the message');
    expect(messages).toEqual(['zero key']);
    expect(keys[0]).toBe('00000000');
  });
});

describe('_socket', () => {
  it("is the socket, on both sides, as ws's (code from ws reads ws._socket.remoteAddress)", async () => {
    const started = await startServer();
    const connection = nextEvent<[WebSocket]>(started.wss, 'connection');
    const ws = await openClient(started.url);
    const [server] = await connection;
    expect(server._socket).toBe(server.socket);
    expect(server._socket!.remoteAddress).toBe('127.0.0.1');
    expect(server._socket!.remotePort).toBe(ws._socket!.localPort);
    expect(ws._socket).toBe(ws.socket);
  });
});

describe("ws's aliases on the WebSocket class", () => {
  it('the default export is WebSocket, and new WebSocket.Server(options) is a WebSocketServer', async () => {
    expect(VolleyDefault).toBe(WebSocket);
    expect(WebSocket.Server).toBe(WebSocketServer);
    expect(WebSocket.WebSocketServer).toBe(WebSocketServer);
    expect(WebSocket.WebSocket).toBe(WebSocket);
    expect(WebSocket.createWebSocketStream).toBe(createWebSocketStream);
    const wss = track(new VolleyDefault.Server({ port: 0, host: '127.0.0.1' }), (server) => new Promise<void>((resolve) => server.close(() => resolve())));
    await nextEvent(wss, 'listening');
    const port = (wss.address() as { port: number }).port;
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const ws = await openClient(`ws://127.0.0.1:${port}`);
    const [server] = await connection;
    const reply = nextEvent<[Buffer]>(ws, 'message');
    server.send('hello');
    expect(String((await reply)[0])).toBe('hello');
  });
});

describe('a WebSocket is an EventEmitter', () => {
  it("instanceof, statics, listener bookkeeping, events.once and captureRejections behave as on any EventEmitter", async () => {
    const { server, client: ws } = await connectPair();
    for (const socket of [server, ws]) {
      expect(socket).toBeInstanceOf(EventEmitter);
      expect(socket.getMaxListeners()).toBe(EventEmitter.defaultMaxListeners);
    }
    expect(WebSocket.defaultMaxListeners).toBe(EventEmitter.defaultMaxListeners);
    expect(typeof WebSocket.once).toBe('function');
    server.setMaxListeners(3);
    expect(server.getMaxListeners()).toBe(3);
    const listener = () => {};
    server.on('ping', listener).on('ping', listener).once('pong', listener);
    expect(server.listenerCount('ping')).toBe(2);
    expect(server.eventNames()).toEqual(expect.arrayContaining(['ping', 'pong']));
    server.off('ping', listener).off('ping', listener);
    expect(server.listenerCount('ping')).toBe(0);
    server.removeAllListeners('pong');
    expect(server.listenerCount('pong')).toBe(0);
    const message = once(server, 'message');
    ws.send('hi');
    expect(String((await message)[0])).toBe('hi');
    // EventEmitter.captureRejections applies to WebSockets as to any emitter: a listener's
    // rejected promise becomes an 'error' event.
    EventEmitter.captureRejections = true;
    try {
      const failure = once(server, 'error');
      server.on('message', async () => {
        throw new Error('rejected in a listener');
      });
      ws.send('again');
      expect(((await failure)[0] as Error).message).toBe('rejected in a listener');
    } finally {
      EventEmitter.captureRejections = false;
    }
  });
});
