/**
 * The client over real sockets: ws:// and wss:// (a self-signed certificate made at
 * test time), IPv6 literals, request options, limits, and every way the opening
 * handshake can fail — each ends in `error` naming the cause, then `close` 1006.
 */
import { Agent as HttpAgent } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as connectNet, createServer as createNetServer, type NetConnectOpts } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as PeerWebSocket } from 'ws';
import { HandshakeError, MessageTooBigError, WebSocket, WebSocketServer, type UpgradeRequest } from '../../src/index.js';
import {
  MS,
  Op,
  client,
  closeAll,
  collectMessages,
  connectPair,
  delay,
  frame,
  hasIpv6Loopback,
  listen,
  nextEvent,
  openClient,
  recordEvents,
  selfSignedCertificate,
  startRawServer,
  startServer,
  startUnixSocketServer,
  switchingProtocols,
  track,
  until,
  watchTimers,
} from './helpers.js';

afterEach(closeAll);

/** Waits for a client's failure and returns what it emitted, checking the order. */
async function expectFailure(ws: WebSocket): Promise<{ error: Error; code: number; reason: Buffer }> {
  const events = recordEvents(ws, ['open', 'error', 'close']);
  await nextEvent(ws, 'close');
  await new Promise((resolve) => setImmediate(resolve)); // nothing more may follow
  expect(events.map((e) => e.event)).toEqual(['error', 'close']);
  expect(ws.readyState).toBe(WebSocket.CLOSED);
  const [code, reason] = events[1]!.args as [number, Buffer];
  expect(code).toBe(1006);
  return { error: events[0]!.args[0] as Error, code, reason };
}

/** A wss server: an https server with a self-signed certificate and a Volley server on it. */
async function startSecureServer(): Promise<{ port: number; cert: string; wss: WebSocketServer }> {
  const { key, cert } = selfSignedCertificate();
  const https = createHttpsServer({ key, cert });
  const port = await listen(https);
  const wss = track(new WebSocketServer({ server: https }), (server) => {
    for (const ws of server.clients) ws.terminate();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  wss.on('connection', (ws) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  return { port, cert, wss };
}

describe('ws:// and wss://', () => {
  it('ws:// connects, exchanges messages and closes cleanly', async () => {
    const { server, client: ws } = await connectPair();
    const received = nextEvent(server, 'message');
    ws.send('ping over ws://');
    expect(String((await received)[0])).toBe('ping over ws://');
    const closed = nextEvent<[number]>(ws, 'close');
    ws.close(1000);
    expect((await closed)[0]).toBe(1000);
    expect(ws.wasClean).toBe(true);
  });

  it("ws's send option mask: false is ignored: the client still masks (the server would fail it with 1002)", async () => {
    const { server, client: ws } = await connectPair();
    const received = nextEvent(server, 'message');
    ws.send(Buffer.from('masked anyway'), { mask: false });
    expect(String((await received)[0])).toBe('masked anyway');
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it('http:// URLs are accepted as ws://', async () => {
    const { port } = await startServer();
    const ws = await openClient(`http://127.0.0.1:${port}/`);
    expect(ws.url).toBe(`ws://127.0.0.1:${port}/`);
  });

  it('wss:// with the certificate as ca', async () => {
    const { port, cert } = await startSecureServer();
    for (const host of ['127.0.0.1', 'localhost']) {
      const ws = await openClient(`wss://${host}:${port}/`, undefined, { tls: { ca: cert } });
      const reply = nextEvent(ws, 'message');
      ws.send(`secure via ${host}`);
      expect(String((await reply)[0])).toBe(`secure via ${host}`);
      expect((ws.socket as any).encrypted).toBe(true);
    }
  });

  it('wss:// with rejectUnauthorized: false', async () => {
    const { port } = await startSecureServer();
    const ws = await openClient(`wss://127.0.0.1:${port}/`, undefined, { tls: { rejectUnauthorized: false } });
    const reply = nextEvent(ws, 'message');
    ws.send(Buffer.alloc(100_000, 7));
    const [data] = await reply;
    expect((data as Buffer).equals(Buffer.alloc(100_000, 7))).toBe(true);
  });

  it("wss:// with ws's TLS options beside the others: rejectUnauthorized: false, or ca", async () => {
    const { port, cert } = await startSecureServer();
    for (const options of [{ rejectUnauthorized: false }, { ca: cert }]) {
      const ws = await openClient(`wss://127.0.0.1:${port}/`, undefined, options);
      const reply = nextEvent(ws, 'message');
      ws.send('beside');
      expect(String((await reply)[0])).toBe('beside');
    }
  });

  it("wss:// hands every other option beside Volley's own to tls.connect, as ws does (ALPNProtocols, minDHSize, ...)", async () => {
    const { port } = await startSecureServer(); // node:https offers http/1.1 only
    const { error } = await expectFailure(client(`wss://127.0.0.1:${port}/`, undefined, { rejectUnauthorized: false, ALPNProtocols: ['h2'] }));
    expect(error.message).toMatch(/application protocol/i);
    const given: Record<string, unknown>[] = [];
    const options = { rejectUnauthorized: false, minDHSize: 2048, sessionIdContext: 'x', maxPayload: 5, headers: { 'X-Y': 'z' }, tls: { ciphers: 'DEFAULT' } };
    const createConnection = (connect: object) => {
      given.push({ ...connect });
      return connectTls(connect as ConnectionOptions);
    };
    const ws = await openClient(`wss://127.0.0.1:${port}/`, undefined, { ...options, createConnection });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(given[0]).toMatchObject({ host: '127.0.0.1', port, rejectUnauthorized: false, minDHSize: 2048, sessionIdContext: 'x', ciphers: 'DEFAULT' });
    // Volley's own options are not the connection's.
    expect(Object.keys(given[0]!)).not.toEqual(expect.arrayContaining(['maxPayload']));
    expect(Object.keys(given[0]!)).not.toEqual(expect.arrayContaining(['headers']));
    expect(Object.keys(given[0]!)).not.toEqual(expect.arrayContaining(['tls']));
  });

  it('ws:// hands the other options to net.connect too, the URL deciding host and port', async () => {
    const { port } = await startServer();
    const given: Record<string, unknown>[] = [];
    const createConnection = (connect: object) => {
      given.push({ ...connect });
      return connectNet(connect as NetConnectOpts);
    };
    const options = { keepAlive: true, noDelay: true, host: 'example.invalid', port: 1, maxPayload: 5, createConnection };
    const ws = await openClient(`ws://127.0.0.1:${port}/`, undefined, options as object);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(given[0]).toMatchObject({ host: '127.0.0.1', port, keepAlive: true, noDelay: true });
    expect(Object.keys(given[0]!)).not.toEqual(expect.arrayContaining(['maxPayload']));
  });

  it('https:// URLs are accepted as wss://', async () => {
    const { port } = await startSecureServer();
    const ws = await openClient(`https://127.0.0.1:${port}/`, undefined, { rejectUnauthorized: false });
    expect(ws.url).toBe(`wss://127.0.0.1:${port}/`);
  });

  it('wss:// options in tls win over those beside them', async () => {
    const { port } = await startSecureServer();
    const { error } = await expectFailure(client(`wss://127.0.0.1:${port}/`, undefined, { rejectUnauthorized: false, tls: { rejectUnauthorized: true } }));
    expect(error.message).toMatch(/self[- ]signed/i);
  });

  it('wss:// to an untrusted certificate fails with the TLS error, then close 1006', async () => {
    const { port, wss } = await startSecureServer();
    const connections = recordEvents(wss, ['connection']);
    const { error } = await expectFailure(client(`wss://127.0.0.1:${port}/`));
    expect(error.message).toMatch(/self[- ]signed/i);
    expect(connections).toEqual([]);
  });

  it('wss:// to a plain ws:// server fails (no TLS answer)', async () => {
    const { port } = await startServer();
    const { error } = await expectFailure(client(`wss://127.0.0.1:${port}/`, undefined, { handshakeTimeout: 500 * MS }));
    expect(error.message.length).toBeGreaterThan(0);
  });

  it('ws+unix: to a Unix domain socket, as ws has it (socket path, a colon, request path)', async () => {
    const { wss, socketPath } = await startUnixSocketServer();
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    const ws = await openClient(`ws+unix:${socketPath}:/chat?room=1`);
    const [, req] = await connection;
    expect(req.url).toBe('/chat?room=1');
    expect(req.headers.host).toBe('localhost');
    const reply = nextEvent(ws, 'message');
    ws.send('over a Unix socket');
    expect(String((await reply)[0])).toBe('over a Unix socket');
  });

  it('ws+unix: with no colon after the socket path requests /', async () => {
    const { wss, socketPath } = await startUnixSocketServer();
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    await openClient(`ws+unix:${socketPath}`);
    expect((await connection)[1].url).toBe('/');
  });

  it('ws+unix: without a socket path is a SyntaxError', () => {
    expect(() => new WebSocket('ws+unix::/chat')).toThrow(SyntaxError);
    expect(() => new WebSocket('ws+unix:')).toThrow(SyntaxError);
  });

  it.skipIf(!hasIpv6Loopback())('an IPv6 literal: ws://[::1]:port', async () => {
    const wss = track(new WebSocketServer({ port: 0, host: '::1' }), (server) => {
      for (const ws of server.clients) ws.terminate();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const listening = await Promise.race([
      nextEvent(wss, 'listening').then(() => true),
      nextEvent(wss, 'error').then(() => false),
    ]);
    if (!listening) return; // ::1 listed but not bindable here
    const { port } = wss.address() as { port: number };
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    const ws = await openClient(`ws://[::1]:${port}/v6`);
    const [, req] = await connection;
    expect(req.headers.host).toBe(`[::1]:${port}`);
    expect(req.socket.remoteAddress).toBe('::1');
    expect(ws.url).toBe(`ws://[::1]:${port}/v6`);
  });
});

describe('request options', () => {
  it.each([
    ['the auth option', (port: number): [string, Record<string, string>] => [`ws://127.0.0.1:${port}/`, { auth: 'ada:s3cret' }]],
    ['credentials in the URL, percent-decoded', (port: number): [string, Record<string, string>] => [`ws://ada:s3%63ret@127.0.0.1:${port}/`, {}]],
  ])('HTTP Basic authentication from %s, as ws sends it', async (_name, make) => {
    const { wss, port } = await startServer();
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    const [url, options] = make(port);
    await openClient(url, undefined, options);
    const [, req] = await connection;
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('ada:s3cret').toString('base64')}`);
  });

  it('lookup resolves the host name, as net.connect takes it', async () => {
    const { port } = await startServer();
    const asked: string[] = [];
    const lookup = (hostname: string, options: { all?: boolean }, callback: (...args: any[]) => void) => {
      asked.push(hostname);
      if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    };
    const ws = await openClient(`ws://volley.test:${port}/`, undefined, { lookup });
    expect(asked).toEqual(['volley.test']);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it('createConnection makes the connection, given what net.connect would have been', async () => {
    const { wss, port } = await startServer();
    const given: Array<{ host?: string; port?: number }> = [];
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    await openClient(`ws://somewhere.invalid:${port}/`, undefined, {
      createConnection: (options: { host?: string; port?: number }) => {
        given.push({ host: options.host, port: options.port });
        return connectNet({ host: '127.0.0.1', port: options.port! });
      },
    });
    expect(given).toEqual([{ host: 'somewhere.invalid', port }]);
    const [, req] = await connection;
    expect(req.headers.host).toBe(`somewhere.invalid:${port}`);
  });

  it('createConnection returning something other than a net.Socket throws a TypeError that says so', async () => {
    const { port } = await startServer();
    const { PassThrough } = await import('node:stream');
    const stream = new PassThrough();
    expect(() => new WebSocket(`ws://127.0.0.1:${port}/`, [], { createConnection: () => stream as never })).toThrow(
      new TypeError('createConnection must return a net.Socket or tls.TLSSocket, got PassThrough'),
    );
    expect(stream.destroyed).toBe(true);
    expect(() => new WebSocket(`ws://127.0.0.1:${port}/`, [], { createConnection: () => undefined as never })).toThrow(/got undefined$/);
  });

  it('an Authorization header given wins over auth', async () => {
    const { wss, port } = await startServer();
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    await openClient(`ws://127.0.0.1:${port}/`, undefined, { auth: 'ada:s3cret', headers: { authorization: 'Bearer t0ken' } });
    const [, req] = await connection;
    expect(req.headers.authorization).toBe('Bearer t0ken');
  });

  it('custom headers and origin reach the server', async () => {
    const { wss, url } = await startServer();
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    await openClient(url, undefined, {
      headers: { Authorization: 'Bearer abc', 'X-Trace': 't-1' },
      origin: 'https://app.example',
    });
    const [, req] = await connection;
    expect(req.headers.authorization).toBe('Bearer abc');
    expect(req.headers['x-trace']).toBe('t-1');
    expect(req.headers.origin).toBe('https://app.example');
    expect(req.headers.host).toBe(url.slice('ws://'.length));
  });

  it('Host and Origin in headers replace the computed ones, as in ws; the origin option wins over headers', async () => {
    const { wss, url } = await startServer();
    let connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    await openClient(url, undefined, { headers: { host: 'virtual.example', Origin: 'https://from-headers.example' } });
    let [, req] = await connection;
    expect([req.headers.host, req.headers.origin]).toEqual(['virtual.example', 'https://from-headers.example']);
    expect(req.rawHeaders.filter((name) => /^(host|origin)$/i.test(name))).toHaveLength(2);
    connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    await openClient(url, undefined, { headers: { Origin: 'https://from-headers.example' }, origin: 'https://option.example' });
    [, req] = await connection;
    expect(req.headers.origin).toBe('https://option.example');
    expect(req.rawHeaders.filter((name) => /^origin$/i.test(name))).toHaveLength(1);
    expect(() => new WebSocket(url, [], { headers: { Host: 'a', host: 'b' } })).toThrow(TypeError);
  });

  it('header values that are not strings are sent as their string, as node:http sends them', async () => {
    const { wss, url } = await startServer();
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    await openClient(url, undefined, { headers: { 'X-Retry': 5, 'X-Flag': true, 'X-List': ['a', 2] } });
    const [, req] = await connection;
    expect([req.headers['x-retry'], req.headers['x-flag'], req.headers['x-list']]).toEqual(['5', 'true', 'a, 2']);
    expect(() => new WebSocket(url, [], { headers: { 'X-None': undefined as unknown as string } })).toThrow(/X-None/);
  });

  it('headers that would override the handshake, or inject lines, throw synchronously', async () => {
    const { url } = await startServer();
    expect(() => new WebSocket(url, [], { headers: { 'Sec-WebSocket-Key': 'x' } })).toThrow(TypeError);
    expect(() => new WebSocket(url, [], { headers: { 'X-Evil': 'a\r\nInjected: 1' } })).toThrow(TypeError);
    expect(() => new WebSocket(url, [], { origin: 'x\r\ny' })).toThrow(TypeError);
  });

  it.each([
    ['its own socket', undefined],
    ['an agent', new HttpAgent()],
  ])('header values go out one byte per character as node:http writes them, through %s; above U+00FF or a control character throws TypeError', async (_name, agent) => {
    const heads: string[] = [];
    const { port } = await startRawServer((socket, head, key) => {
      heads.push(head);
      socket.write(`${switchingProtocols(key)}\r\n\r\n`);
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, [], { agent, headers: { 'X-Name': 'café' } });
    await nextEvent(ws, 'open');
    ws.terminate();
    expect(heads[0]).toContain('\r\nX-Name: café'); // read as latin1: e9, not c3 a9
    for (const value of ['日本', 'a\x01b', 'a\x7fb']) {
      expect(() => new WebSocket(`ws://127.0.0.1:${port}`, [], { agent, headers: { 'X-Name': value } })).toThrow(TypeError);
    }
  });

  it.each([
    ['an unsupported scheme', 'ftp://127.0.0.1/'],
    ['a fragment', 'ws://127.0.0.1/#frag'],
    ['an empty fragment', 'ws://127.0.0.1/#'],
    ['an empty fragment after a query', 'ws://127.0.0.1/?a=1#'],
    ['not a URL', 'not a url'],
  ])('%s throws SyntaxError', (_name, url) => {
    expect(() => new WebSocket(url)).toThrow(SyntaxError);
  });

  it.each([
    ['a subprotocol that is not a token', ['bad protocol']],
    ['a repeated subprotocol', ['chat', 'chat']],
  ])('%s throws SyntaxError', async (_name, protocols) => {
    const { url } = await startServer();
    expect(() => new WebSocket(url, protocols)).toThrow(SyntaxError);
  });

  it('subprotocols given as any iterable (a Set) are offered, as WebIDL reads a sequence; an options object is still options', async () => {
    const { wss, url } = await startServer({ handleProtocols: (offered: Set<string>) => [...offered].at(-1)! });
    const offered = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    const ws = client(url, new Set(['one', 'two']) as unknown as string[], { headers: { 'x-a': 'b' } });
    await nextEvent(ws, 'open');
    expect(ws.protocol).toBe('two');
    const [, req] = await offered;
    expect(req.headers['sec-websocket-protocol']).toBe('one, two');
    expect(() => new WebSocket(url, new Set(['a b']) as unknown as string[])).toThrow(SyntaxError);
    const plain = client(url, { headers: { 'x-a': 'c' } } as never); // new WebSocket(url, options)
    await nextEvent(plain, 'open');
    expect(plain.protocol).toBe('');
  });

  it("ws's finishRequest, which cannot be honoured, throws TypeError rather than being ignored", async () => {
    const { url } = await startServer();
    expect(() => new WebSocket(url, [], { finishRequest: () => {} } as Record<string, unknown>)).toThrow(/finishRequest option of ws is not supported/);
  });

  it('protocolVersion: 13 connects; any other value throws RangeError, as ws does for versions it does not speak', async () => {
    const { url } = await startServer();
    for (const version of [8, 12, 14, '13']) {
      expect(() => new WebSocket(url, [], { protocolVersion: version as number })).toThrow(/^Unsupported protocol version: \S+ \(supported versions: 13\)$/);
      expect(() => new PeerWebSocket(url, [], { protocolVersion: version === 8 ? 9 : (version as number) })).toThrow(RangeError);
    }
    const ws = await openClient(url, [], { protocolVersion: 13 });
    ws.terminate();
  });

  it('maxPayload: a larger message from the server fails the client with 1009', async () => {
    const { server, client: ws } = await connectPair({}, { maxPayload: 1000 });
    const errors = recordEvents(ws, ['error']);
    const messages = recordEvents(ws, ['message']);
    const serverClosed = nextEvent<[number]>(server, 'close');
    server.send(Buffer.alloc(1000)); // at the limit: delivered
    server.send(Buffer.alloc(1001)); // over it
    expect((await serverClosed)[0]).toBe(1009);
    await until(() => ws.readyState === WebSocket.CLOSED, 'the client closed');
    expect(messages).toHaveLength(1);
    expect(errors[0]!.args[0]).toBeInstanceOf(MessageTooBigError);
  });

  it('the default maxPayload is 1 MiB', async () => {
    const { server, client: ws } = await connectPair();
    ws.on('error', () => {});
    const received = nextEvent(ws, 'message');
    server.send(Buffer.alloc(1 << 20));
    expect(((await received)[0] as Buffer).length).toBe(1 << 20);
    const closed = nextEvent<[number]>(server, 'close');
    server.send(Buffer.alloc((1 << 20) + 1));
    expect((await closed)[0]).toBe(1009);
  });

  it('the upgrade event carries the response head', async () => {
    const { url } = await startServer({ headers: { 'X-Server': 'volley' } });
    const ws = client(url);
    const events = recordEvents(ws, ['upgrade', 'open']);
    await nextEvent(ws, 'open');
    expect(events.map((e) => e.event)).toEqual(['upgrade', 'open']);
    const head = events[0]!.args[0] as { status: number; headers: Record<string, string> };
    expect(head.status).toBe(101);
    expect(head.headers['x-server']).toBe('volley');
  });

  it('frames that arrive in the same packet as the 101 are not lost', async () => {
    const { port } = await startRawServer((socket, _head, key) => {
      // 101, then a text frame and a ping, in one write.
      socket.write(Buffer.concat([Buffer.from(switchingProtocols(key)), Buffer.from([0x81, 2, 0x68, 0x69, 0x89, 0])]));
    });
    const ws = client(`ws://127.0.0.1:${port}`);
    const events = recordEvents(ws, ['open', 'message', 'ping']);
    await until(() => events.length === 3, 'open, message and ping');
    expect(events.map((e) => e.event)).toEqual(['open', 'message', 'ping']);
    expect(String(events[1]!.args[0])).toBe('hi');
  });

  it('close() while CONNECTING aborts: error, then close 1006, never open', async () => {
    const { wss, url } = await startServer({ authenticate: () => new Promise(() => {}) });
    const ws = client(url);
    const failure = expectFailure(ws);
    ws.close();
    const { error } = await failure;
    expect(error.message).toMatch(/closed before the connection was established/);
    await until(() => wss.clients.size === 0, 'nothing on the server');
  });

  // close() and terminate() while CONNECTING emitted 'error' and 'close' synchronously,
  // inside the call: listeners added right after it (as with ws, whose events follow
  // in a later tick, and browsers, which queue them as tasks) never heard of the failure.
  it.each(['close', 'terminate'] as const)('regression: %s() while CONNECTING emitted error and close inside the call', async (method) => {
    const { url } = await startServer();
    const ws = client(url);
    const events: string[] = [];
    ws[method]();
    events.push('returned');
    // CLOSING until 'close', as WHATWG's "fail the WebSocket connection" and ws have it.
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    expect(() => ws.send('x', () => {})).not.toThrow();
    // Closing again changes nothing.
    ws.close(1000);
    ws.terminate();
    ws.on('error', () => events.push(`error, readyState ${ws.readyState}`));
    ws.on('close', (code: number) => events.push(`close ${code}, readyState ${ws.readyState}`));
    await until(() => events.length === 3, 'error and close');
    await delay(20 * MS);
    expect(events).toEqual(['returned', 'error, readyState 2', 'close 1006, readyState 3']);
  });

  it('a failed handshake: readyState CLOSING in the error listener, CLOSED in the close listener', async () => {
    const { port } = await startRawServer((socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    const ws = client(`ws://127.0.0.1:${port}/`);
    const states: string[] = [];
    ws.on('error', () => states.push(`error ${ws.readyState}`));
    ws.on('close', () => states.push(`close ${ws.readyState}`));
    await nextEvent(ws, 'close');
    expect(states).toEqual(['error 2', 'close 3']);
  });

  it.each([
    ['undefined as the URL', () => new WebSocket(undefined as unknown as string)],
    ['null as the subprotocols', () => new WebSocket('ws://127.0.0.1:1/', null as unknown as string)],
    ['a number as a subprotocol', () => new WebSocket('ws://127.0.0.1:1/', [5] as unknown as string[])],
  ])('%s throws SyntaxError, as in ws', (_name, make) => {
    expect(make).toThrow(SyntaxError);
  });

  it.each([
    [{ maxPayload: -1 }, RangeError],
    [{ maxPayload: Number.NaN }, RangeError],
    [{ fragmentOverhead: -1 }, RangeError],
    [{ maxPayload: '1000' }, TypeError],
    [{ handshakeTimeout: Number.NaN }, RangeError],
    [{ handshakeTimeout: -1 }, RangeError],
    [{ closeTimeout: -1 }, RangeError],
    [{ handshakeTimeout: '100' }, TypeError],
  ])('a limit %j throws %o from the constructor (not from the 101, where nothing could catch it)', (options, type) => {
    expect(() => new WebSocket('ws://127.0.0.1:1/', options as never)).toThrow(type);
  });
});

describe('followRedirects', () => {
  /** A raw server answering every upgrade with `status` and `Location: location(n)` (n counts requests from 1), keeping their heads. */
  async function startRedirector(location: (n: number) => string, status = 302) {
    const heads: string[] = [];
    const { port } = await startRawServer((socket, head) => {
      heads.push(head);
      socket.end(`HTTP/1.1 ${status} Moved\r\nLocation: ${location(heads.length)}\r\nContent-Length: 0\r\n\r\n`);
    });
    return { port, heads };
  }

  /**
   * A raw server answering its first upgrade with `status` and `Location: location` (a
   * function of the server's port, or as given), and the next ones with a 101, keeping
   * their heads.
   */
  async function startRedirectOnce(location: string | ((port: number) => string), status: number) {
    const heads: string[] = [];
    const started = await startRawServer((socket, head, key) => {
      heads.push(head);
      const to = typeof location === 'string' ? location : location(started.port);
      if (heads.length === 1) socket.end(`HTTP/1.1 ${status} Moved\r\nLocation: ${to}\r\nContent-Length: 0\r\n\r\n`);
      else socket.write(switchingProtocols(key));
    });
    return { port: started.port, heads };
  }

  it('follows a redirect to where it points, with a redirect event first', async () => {
    const { wss, url: target } = await startServer();
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    const { port } = await startRedirector(() => `${target}/there?x=1`);
    const ws = client(`ws://127.0.0.1:${port}/here`, 'chat', { followRedirects: true });
    const redirected = nextEvent<[string]>(ws, 'redirect');
    await nextEvent(ws, 'open');
    expect((await redirected)[0]).toBe(`${target}/there?x=1`);
    expect(ws.url).toBe(`${target}/there?x=1`);
    expect(ws.protocol).toBe('chat');
    const [, req] = await connection;
    expect(req.url).toBe('/there?x=1');
  });

  it.each(['close', 'terminate', 'abort'] as const)("%s() in a 'redirect' listener stops there (abort: the request's, as ws code calls it): one close (1006), no open, no connection", async (method) => {
    const { wss, url: target } = await startServer();
    const connections = recordEvents(wss, ['connection']);
    const { port } = await startRedirector(() => target);
    const ws = client(`ws://127.0.0.1:${port}/`, undefined, { followRedirects: true });
    const events = recordEvents(ws, ['redirect', 'open', 'error', 'close']);
    ws.once('redirect', (_url, request) => (method === 'abort' ? request.abort() : ws[method]()));
    await nextEvent(ws, 'close');
    await new Promise((resolve) => setTimeout(resolve, 100 * MS));
    expect(events.map((e) => e.event)).toEqual(['redirect', 'error', 'close']);
    expect(events[2]!.args[0]).toBe(1006);
    expect(ws.readyState).toBe(WebSocket.CLOSED);
    expect(connections).toHaveLength(0);
  });

  it('a relative Location is resolved against the URL that was redirected', async () => {
    const { port, heads } = await startRedirectOnce('new?y=2', 307);
    const ws = client(`ws://127.0.0.1:${port}/dir/start`, undefined, { followRedirects: true });
    const [url] = await nextEvent<[string]>(ws, 'redirect');
    expect(url).toBe(`ws://127.0.0.1:${port}/dir/new?y=2`);
    await nextEvent(ws, 'open');
    expect(heads.map((head) => head.split('\r\n')[0])).toEqual(['GET /dir/start HTTP/1.1', 'GET /dir/new?y=2 HTTP/1.1']);
  });

  it("'redirect' reports the URL connected to next (http: made ws:); a Location that cannot be followed fails without it", async () => {
    const { url: target } = await startServer();
    const { port } = await startRedirector(() => target.replace('ws:', 'http:') + '/p');
    const ws = client(`ws://127.0.0.1:${port}/`, undefined, { followRedirects: true });
    const [reported] = await nextEvent<[string]>(ws, 'redirect');
    expect(reported).toBe(`${target}/p`);
    await nextEvent(ws, 'open');
    expect(ws.url).toBe(reported);
    ws.terminate();
    for (const location of ['ftp://127.0.0.1/x', `${target}/#frag`]) {
      const bad = await startRedirector(() => location);
      const failing = client(`ws://127.0.0.1:${bad.port}/`, undefined, { followRedirects: true });
      const events = recordEvents(failing, ['redirect']);
      const { error } = await expectFailure(failing);
      expect([location, error.name, events.length]).toEqual([location, 'SyntaxError', 0]);
    }
  });

  it('a redirect from ws: to a ws+unix: socket is not followed: error, close 1006, nothing connected', async () => {
    const { port } = await startRedirector(() => 'ws+unix:/tmp/volley-nowhere.sock:/x');
    const ws = client(`ws://127.0.0.1:${port}/`, undefined, { followRedirects: true });
    const events = recordEvents(ws, ['redirect']);
    const { error, code } = await expectFailure(ws);
    expect(error.message).toMatch(/ws\+unix: socket is not followed/);
    expect(code).toBe(1006);
    expect(events).toHaveLength(0);
  });

  it('an empty Location is no redirect: the 3xx is an unexpected response, not a loop to maxRedirects', async () => {
    const { port, heads } = await startRedirector(() => '');
    const ws = client(`ws://127.0.0.1:${port}/`, undefined, { followRedirects: true });
    const events = recordEvents(ws, ['redirect']);
    const { error } = await expectFailure(ws);
    expect(error.message).toMatch(/302/);
    expect(events).toHaveLength(0);
    expect(heads).toHaveLength(1);
  });

  it("a 'redirect' listener gets (url, request) as in ws, and the headers it sets or removes go to the new location", async () => {
    const { port, heads } = await startRedirectOnce('/next', 302);
    const ws = client(`ws://127.0.0.1:${port}/first`, undefined, { followRedirects: true, headers: { 'X-Drop': 'a', 'X-Keep': 'b' } });
    const seen: unknown[] = [];
    ws.on('redirect', (url, request, response) => {
      seen.push(url, request.method, request.path, request.getHeader('x-keep'), response.statusCode);
      seen.push(request.hasHeader('X-KEEP'), request.getHeaderNames().includes('x-drop'), request.getHeaders()['x-keep']);
      request.removeHeader('X-Drop');
      request.setHeader('X-Added', 'c');
      request.setHeader('X-Twice', [1, 2]);
      seen.push(request.hasHeader('x-drop'), request.getHeaders()['x-twice']);
    });
    await nextEvent(ws, 'open');
    expect(seen).toEqual([`ws://127.0.0.1:${port}/next`, 'GET', '/next', 'b', 302, true, true, 'b', false, ['1', '2']]);
    expect(heads[1]).toMatch(/^x-twice: 1\r\nx-twice: 2$/im); // one line per value, as node:http sends them
    expect(heads[0]).toMatch(/^x-drop: a$/im);
    expect(heads[1]).not.toMatch(/^x-drop:/im);
    expect(heads[1]).toMatch(/^x-keep: b$/im);
    expect(heads[1]).toMatch(/^x-added: c$/im);
  });

  it('stops after maxRedirects: error "Maximum redirects exceeded", then close 1006', async () => {
    const { port, heads } = await startRedirector(() => '/again');
    const ws = client(`ws://127.0.0.1:${port}/`, undefined, { followRedirects: true, maxRedirects: 3 });
    const { error } = await expectFailure(ws);
    expect(error.message).toBe('Maximum redirects exceeded');
    expect(heads).toHaveLength(4); // the first request and 3 redirects
  });

  it("an 'unexpected-response' listener gets (request, response) as in ws; error and close follow", async () => {
    const { port } = await startRawServer((socket) =>
      socket.end('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 0\r\n\r\n'),
    );
    const ws = client(`ws://127.0.0.1:${port}/path?q=1`, undefined, { headers: { Authorization: 'Bearer t' } });
    const seen: unknown[] = [];
    ws.on('unexpected-response', (request, response) => {
      seen.push(request.method, request.path, request.getHeader('authorization'), request.getHeader('sec-websocket-version'));
      seen.push(response.statusCode, response.statusMessage, response.headers['www-authenticate']);
      seen.push(response.httpVersionMajor, response.httpVersionMinor, response.headers['set-cookie']);
    });
    const { error } = await expectFailure(ws);
    expect(error.message).toBe('Unexpected server response: 401');
    expect(seen).toEqual(['GET', '/path?q=1', 'Bearer t', '13', 401, 'Unauthorized', 'Bearer', 1, 1, undefined]);
  });

  it('without followRedirects a 3xx is an unexpected response', async () => {
    const { port } = await startRedirector(() => '/elsewhere');
    const ws = client(`ws://127.0.0.1:${port}/`);
    const unexpected = recordEvents(ws, ['unexpected-response', 'redirect']);
    const { error } = await expectFailure(ws);
    expect(error.message).toMatch(/302/);
    expect(unexpected.map((e) => e.event)).toEqual(['unexpected-response']);
  });

  it('credentials go on to the same host, and not to another', async () => {
    const first = await startRedirector((n) => (n === 1 ? '/second' : `ws://localhost:${first.port}/third`));
    const ws = client(`ws://127.0.0.1:${first.port}/`, undefined, {
      followRedirects: true,
      maxRedirects: 2,
      headers: { Authorization: 'Bearer t0ken', Cookie: 'session=1', 'X-Other': 'kept' },
    });
    await expectFailure(ws);
    expect(first.heads).toHaveLength(3);
    const [one, two, three] = first.heads;
    for (const head of [one, two]) expect(head).toMatch(/^authorization: Bearer t0ken$/im);
    expect(two).toMatch(/^cookie: session=1$/im);
    expect(three).not.toMatch(/^authorization:/im);
    expect(three).not.toMatch(/^cookie:/im);
    expect(three).toMatch(/^x-other: kept$/im);
    expect(three).toMatch(/^host: localhost:/im);
  });

  describe('credentials from the URL or auth', () => {
    const basic = (credentials: string): string => `Basic ${Buffer.from(credentials).toString('base64')}`;

    it.each([
      ['the URL, to an absolute Location on the same host', (port: number) => `ws://127.0.0.1:${port}/next`, 'url'],
      ['the URL, to a relative Location', () => '/next', 'url'],
      ['auth, to an absolute Location on the same host', (port: number) => `ws://127.0.0.1:${port}/next`, 'auth'],
    ] as const)('credentials from %s go on, and the redirect listener sees them', async (_name, location, source) => {
      const { port, heads } = await startRedirectOnce(location, 302);
      const url = source === 'url' ? `ws://ada:pw@127.0.0.1:${port}/` : `ws://127.0.0.1:${port}/`;
      const ws = client(url, undefined, { followRedirects: true, ...(source === 'auth' ? { auth: 'ada:pw' } : {}) });
      const seen: unknown[] = [];
      ws.on('redirect', (_url, request) => seen.push(request.getHeader('authorization')));
      await nextEvent(ws, 'open');
      expect(seen).toEqual([basic('ada:pw')]);
      for (const head of heads) expect(head).toMatch(new RegExp(`^authorization: ${basic('ada:pw')}$`, 'im'));
    });

    it.each(['url', 'auth'] as const)("a redirect listener removes the credentials from %s: the next request has none (ws's way to strip them)", async (source) => {
      const { port, heads } = await startRedirectOnce('/next', 302);
      const url = source === 'url' ? `ws://ada:pw@127.0.0.1:${port}/` : `ws://127.0.0.1:${port}/`;
      const ws = client(url, undefined, { followRedirects: true, ...(source === 'auth' ? { auth: 'ada:pw' } : {}) });
      ws.on('redirect', (_url, request) => request.removeHeader('Authorization'));
      await nextEvent(ws, 'open');
      expect(heads[0]).toMatch(/^authorization: Basic /im);
      expect(heads[1]).not.toMatch(/^authorization:/im);
    });

    it('credentials from the URL or auth do not go to another host', async () => {
      const { port, heads } = await startRedirectOnce((p) => `ws://localhost:${p}/next`, 302);
      const ws = client(`ws://ada:pw@127.0.0.1:${port}/`, undefined, { followRedirects: true, auth: 'bob:pw' });
      await nextEvent(ws, 'open');
      expect(heads[0]).toMatch(/^authorization: Basic /im);
      expect(heads[1]).not.toMatch(/^authorization:/im);
    });
  });
});

describe('the response head', () => {
  it('a folded header line in the 101 is unfolded, as RFC 9112 §5.2 requires of a user agent (ws fails the handshake)', async () => {
    const { port } = await startRawServer((socket, _head, key) => {
      socket.write(switchingProtocols(key, ['X-Note: a', ' b']));
    });
    const ws = client(`ws://127.0.0.1:${port}/`);
    const upgrade = nextEvent<[{ headers: Record<string, string> }]>(ws, 'upgrade');
    await nextEvent(ws, 'open');
    expect((await upgrade)[0].headers['x-note']).toBe('a   b');
  });

  it('interim 1xx responses before the 101 are skipped (RFC 9110 §15.2), whole or in pieces', async () => {
    for (const split of [false, true]) {
      const { port } = await startRawServer((socket, _head, key) => {
        const response = `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n${switchingProtocols(key)}`;
        const frameBytes = frame(Op.Text, 'first', { mask: null });
        if (!split) socket.write(Buffer.concat([Buffer.from(response, 'latin1'), frameBytes]));
        else for (const byte of Buffer.concat([Buffer.from(response, 'latin1'), frameBytes])) socket.write(Buffer.from([byte]));
      });
      const ws = client(`ws://127.0.0.1:${port}/`);
      const messages = collectMessages(ws, 1);
      const upgrade = nextEvent<[{ status: number }]>(ws, 'upgrade');
      await nextEvent(ws, 'open');
      expect((await upgrade)[0].status).toBe(101);
      expect(String((await messages)[0]![0])).toBe('first');
      ws.terminate();
    }
  });

  it("combines repeated header lines as node:http does for ws's listeners: Set-Cookie an array, the first Location", async () => {
    const cookies = ['a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT', 'b=2'];
    const { port } = await startRawServer((socket, head, key) => {
      if (head.includes('/moved')) {
        socket.end('HTTP/1.1 302 Found\r\nLocation: /first\r\nLocation: /second\r\nX-Twice: 1\r\nX-Twice: 2\r\nContent-Length: 0\r\n\r\n');
      } else {
        socket.write(switchingProtocols(key, cookies.map((cookie) => `Set-Cookie: ${cookie}`)));
      }
    });
    const results: Record<string, unknown> = {};
    for (const [name, Client] of [
      ['volley', WebSocket],
      ['ws', PeerWebSocket],
    ] as Array<[string, new (url: string, options?: object) => InstanceType<typeof PeerWebSocket>]>) {
      const ws = new Client(`ws://127.0.0.1:${port}/`);
      const [upgrade] = await nextEvent<[{ headers: Record<string, unknown> }]>(ws, 'upgrade');
      ws.terminate();
      const moved = new Client(`ws://127.0.0.1:${port}/moved`, { followRedirects: true });
      const [location] = await nextEvent<[string]>(moved, 'redirect');
      await nextEvent(moved, 'open');
      moved.terminate();
      const failed = new Client(`ws://127.0.0.1:${port}/moved`);
      failed.on('error', () => {});
      const [, response] = await nextEvent<[unknown, { headers: Record<string, unknown> }]>(failed, 'unexpected-response');
      failed.terminate();
      results[name] = { setCookie: upgrade.headers['set-cookie'], location, headers: [response.headers.location, response.headers['x-twice']] };
    }
    expect(results.volley).toEqual({ setCookie: cookies, location: `ws://127.0.0.1:${port}/first`, headers: ['/first', '1, 2'] });
    expect(results.ws).toEqual(results.volley);
  });

  it('accepts up to 2,000 header lines within maxHeaderBytes, as node:http does', async () => {
    const lines = (count: number) => Array.from({ length: count }, (_, i) => `X-${i}: v`).join('\r\n');
    const { port } = await startRawServer((socket, head, key) => {
      const count = head.includes('/many') ? 150 : 2001;
      socket.write(switchingProtocols(key, [lines(count)]));
    });
    const ws = await openClient(`ws://127.0.0.1:${port}/many`);
    ws.terminate();
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}/too-many`, undefined, { maxHeaderBytes: 64 * 1024 }));
    expect(error.message).toMatch(/maxHeaders 2000/);
  });
});

describe('handshake failures: error naming the cause, then close 1006', () => {
  it('connection refused', async () => {
    const probe = createNetServer();
    const port = await listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}`));
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect((error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('a server that ends the connection before answering fails the handshake at once, also on a half-open socket', async () => {
    const { port } = await startRawServer((socket) => socket.end());
    const started = Date.now();
    const ws = client(`ws://127.0.0.1:${port}`, undefined, {
      handshakeTimeout: 5000 * MS,
      createConnection: (options: { host?: string; port?: number }) => connectNet({ host: options.host, port: options.port!, allowHalfOpen: true }),
    });
    const { error } = await expectFailure(ws);
    expect(error.message).toMatch(/closed before the opening handshake completed/);
    expect(Date.now() - started).toBeLessThan(2000 * MS);
  });

  it('handshakeTimeout: its timer is cleared once the connection is open (left, it would hold the process until then)', async () => {
    const { url } = await startServer();
    const armed = watchTimers(60_000);
    try {
      const ws = await openClient(url, undefined, { handshakeTimeout: 60_000 });
      expect(armed.cleared()).toEqual([true]);
      ws.close();
    } finally {
      armed.restore();
    }
  });

  it('handshakeTimeout: a server that accepts TCP but never answers', async () => {
    const { port, sockets } = await startRawServer(() => {});
    const started = Date.now();
    const ws = client(`ws://127.0.0.1:${port}`, undefined, { handshakeTimeout: 150 * MS });
    const { error } = await expectFailure(ws);
    expect(error.message).toMatch(/handshake has timed out/i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140 * MS);
    // The client's socket is gone.
    await until(() => sockets.every((socket) => socket.readableEnded || socket.destroyed), 'the server saw the client go');
  });

  it.each([0, Infinity])('handshakeTimeout %s is no limit, as in ws', async (handshakeTimeout) => {
    const { port } = await startRawServer((socket, _head, key) => {
      setTimeout(() => socket.write(switchingProtocols(key)), 50 * MS);
    });
    await openClient(`ws://127.0.0.1:${port}`, undefined, { handshakeTimeout });
  });

  it.each(['close', 'terminate'] as const)("%s() in an 'upgrade' listener fails the handshake, as in ws: 'error', then 'close' 1006, no 'open'", async (method) => {
    const { url } = await startServer();
    const ws = client(url);
    const events = recordEvents(ws, ['upgrade', 'open', 'error', 'close']);
    ws.once('upgrade', () => ws[method]());
    const [code] = await nextEvent<[number]>(ws, 'close');
    await new Promise((resolve) => setTimeout(resolve, 50 * MS));
    expect(events.map((e) => e.event)).toEqual(['upgrade', 'error', 'close']);
    expect(code).toBe(1006);
  });

  it("'upgrade' comes while CONNECTING, as in ws: send() throws there; 'open' follows", async () => {
    const { url } = await startServer();
    const ws = client(url);
    const seen: unknown[] = [];
    ws.once('upgrade', () => {
      seen.push(ws.readyState);
      try {
        ws.send('too early');
      } catch (error) {
        seen.push((error as Error).name);
      }
    });
    await nextEvent(ws, 'open');
    expect(seen).toEqual([WebSocket.CONNECTING, 'InvalidStateError']);
  });

  it("'upgrade' comes for a 101 that then fails its checks (a wrong Sec-WebSocket-Accept), as in ws, before 'error'", async () => {
    const { port } = await startRawServer((socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n');
    });
    const ws = client(`ws://127.0.0.1:${port}`);
    const events = recordEvents(ws, ['upgrade', 'open', 'error', 'close']);
    await nextEvent(ws, 'close');
    expect(events.map((e) => e.event)).toEqual(['upgrade', 'error', 'close']);
  });

  it('bufferedAmount is 0 while connecting: the upgrade request is not application data', async () => {
    const { url } = await startServer();
    const ws = client(url);
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
    expect(ws.bufferedAmount).toBe(0);
    await nextEvent(ws, 'open');
    expect(ws.bufferedAmount).toBe(0);
  });

  it('a non-101 status (403) names the status and emits unexpected-response', async () => {
    const { port } = await startRawServer((socket) => {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\nforbidden');
    });
    const ws = client(`ws://127.0.0.1:${port}`);
    const responses = recordEvents(ws, ['unexpected-response']);
    const { error } = await expectFailure(ws);
    expect(error.message).toMatch(/403/);
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).status).toBe(403);
    expect(responses).toHaveLength(1);
  });

  it('a Volley server rejection (400 for the path) reaches the client as its status', async () => {
    const { port } = await startServer({ path: '/ws' });
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}/other`));
    expect((error as HandshakeError).status).toBe(400);
  });

  it('a wrong Sec-WebSocket-Accept', async () => {
    const { port } = await startRawServer((socket) => {
      socket.write(switchingProtocols('AAAAAAAAAAAAAAAAAAAAAA=='));
    });
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}`));
    expect(error.message).toMatch(/Sec-WebSocket-Accept/);
    expect((error as HandshakeError).status).toBe(101);
  });

  it('a missing Sec-WebSocket-Accept', async () => {
    const { port } = await startRawServer((socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    });
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}`));
    expect(error.message).toMatch(/Sec-WebSocket-Accept/);
  });

  it('a subprotocol that was not offered', async () => {
    const { port } = await startRawServer((socket, _head, key) => {
      socket.write(switchingProtocols(key, ['Sec-WebSocket-Protocol: other']));
    });
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}`, ['chat']));
    expect(error.message).toMatch(/subprotocol "other"/);
  });

  it('a subprotocol when none was offered', async () => {
    const { port } = await startRawServer((socket, _head, key) => {
      socket.write(switchingProtocols(key, ['Sec-WebSocket-Protocol: chat']));
    });
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}`));
    expect(error.message).toMatch(/none was offered/);
  });

  it('an extension that was not offered', async () => {
    const { port } = await startRawServer((socket, _head, key) => {
      socket.write(switchingProtocols(key, ['Sec-WebSocket-Extensions: x-webkit-deflate-frame']));
    });
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}`));
    expect(error.message).toMatch(/x-webkit-deflate-frame/);
  });

  it('a response that is not HTTP', async () => {
    const { port } = await startRawServer((socket) => socket.write('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}`));
    expect(error.message).toMatch(/status line/);
  });

  it('a response head over the size limit', async () => {
    const { port } = await startRawServer((socket) => socket.write(`HTTP/1.1 101 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}`));
    expect(error.message).toMatch(/maxHeaderBytes/);
  });

  it.each([
    ['its own socket', undefined],
    ['an agent', new HttpAgent()],
  ])('the server closing before it answers, through %s: ECONNRESET, as node:http (and ws) report it', async (_name, agent) => {
    const { port } = await startRawServer((socket) => socket.end());
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}`, undefined, { agent }));
    expect(error.message).toMatch(/closed before the opening handshake completed/);
    expect((error as NodeJS.ErrnoException).code).toBe('ECONNRESET');
  });

  it('a failure with no error listener does not crash; close still fires', async () => {
    const { port } = await startRawServer((socket) => socket.end('HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n'));
    const ws = client(`ws://127.0.0.1:${port}`);
    const [code] = await nextEvent<[number]>(ws, 'close');
    expect(code).toBe(1006);
  });
});
