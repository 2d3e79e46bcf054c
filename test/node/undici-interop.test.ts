/**
 * Interoperability with a browser-grade client nobody on this project wrote: Node's
 * global `WebSocket` (undici's WHATWG implementation, the one that passes the
 * web-platform tests), against a Volley server. Node 20 has no global `WebSocket`, so
 * there the suite is skipped.
 *
 * What a browser does is checked from its side (events, `protocol`, `extensions`,
 * `CloseEvent` fields) and from the server's (what arrived, in which order): every kind
 * of message, 16 MiB each way, subprotocols, permessage-deflate as browsers offer it,
 * both close handshakes, a refused upgrade, `terminate()`, automatic pongs and 200
 * concurrent clients.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { UpgradeError, type ServerOptions, type WebSocket } from '../../src/index.js';
import { MS, TIMEOUT, closeAll, collectMessages, delay, nextEvent, startServer, track, until, within } from './helpers.js';

afterEach(closeAll);

/** The browser's WebSocket: undefined on Node 20. */
const BrowserWebSocket = (globalThis as { WebSocket?: typeof globalThis.WebSocket }).WebSocket;
type BrowserSocket = InstanceType<typeof globalThis.WebSocket>;

/**
 * undici 6 (Node 22) fires `error` but never `close` after a failed opening handshake,
 * and stays CONNECTING, against any server (a plain node:http 401 too); undici 7
 * (Node 24) follows the spec: `error`, then `close` 1006.
 */
const CLOSES_AFTER_FAILED_HANDSHAKE = Number(process.versions.undici?.split('.')[0] ?? 0) >= 7;

/** The fields of a `CloseEvent` (Node has no global `CloseEvent` type). */
interface CloseFields {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** The next `type` event of a browser socket, bounded by `timeout`. */
function nextBrowserEvent<E extends Event>(ws: BrowserSocket, type: string, timeout = TIMEOUT): Promise<E> {
  let listener!: (event: Event) => void;
  const next = new Promise<E>((resolve) => {
    listener = (event) => resolve(event as E);
    ws.addEventListener(type, listener, { once: true });
  });
  return within(next, `a browser "${type}" event`, timeout).finally(() => ws.removeEventListener(type, listener));
}

/** The next `close` event of a browser socket, as plain fields. */
async function nextClose(ws: BrowserSocket, timeout = TIMEOUT): Promise<CloseFields> {
  const event = await nextBrowserEvent<Event & CloseFields>(ws, 'close', timeout);
  return { code: event.code, reason: event.reason, wasClean: event.wasClean };
}

/** The data of the next `count` messages of a browser socket, bounded by `timeout`. */
function collectBrowserMessages(ws: BrowserSocket, count: number, timeout = TIMEOUT): Promise<unknown[]> {
  const messages: unknown[] = [];
  let listener!: (event: MessageEvent) => void;
  const all = new Promise<unknown[]>((resolve) => {
    listener = (event) => {
      messages.push(event.data);
      if (messages.length === count) resolve(messages);
    };
    ws.addEventListener('message', listener);
  });
  return within(all, `${count} browser messages (got ${messages.length} so far)`, timeout).finally(() =>
    ws.removeEventListener('message', listener),
  );
}

/** A browser client, closed after the test (its close handshake bounded by closeAll). */
function browserClient(url: string, protocols?: string | string[]): BrowserSocket {
  const ws = new BrowserWebSocket!(url, protocols);
  return track(ws, async (socket) => {
    if (socket.readyState === socket.CLOSED) return;
    // Still CONNECTING: either opening (close() fails it) or undici 6 after a failed
    // handshake, which never fires `close`; closeAll still checks that no socket is left.
    const connecting = socket.readyState === socket.CONNECTING;
    const closed = nextBrowserEvent(socket, 'close', connecting ? 500 * MS : TIMEOUT);
    if (socket.readyState !== socket.CLOSING) socket.close();
    await (connecting ? closed.catch(() => {}) : closed);
  });
}

/** Opens a browser client and waits for `open`; fails on `error` or `close` instead. */
async function openBrowserClient(url: string, protocols?: string | string[]): Promise<BrowserSocket> {
  const ws = browserClient(url, protocols);
  const failed = Promise.race([nextBrowserEvent(ws, 'error'), nextBrowserEvent(ws, 'close')]).then(() => {
    throw new Error('the browser client failed to open');
  });
  failed.catch(() => {}); // only the race below reports it
  await Promise.race([nextBrowserEvent(ws, 'open'), failed]);
  return ws;
}

/** A Volley server and one browser client, both ends open. */
async function connectBrowser(
  serverOptions: Omit<ServerOptions, 'port' | 'host'> = {},
  protocols?: string[],
): Promise<{ server: WebSocket; client: BrowserSocket; url: string }> {
  const { wss, url } = await startServer(serverOptions);
  const connection = nextEvent<[WebSocket]>(wss, 'connection');
  const client = await openBrowserClient(url, protocols);
  const [server] = await connection;
  return { server, client, url };
}

/**
 * Waits for a browser client's handshake to fail: `error`, then (undici 7) `close` 1006,
 * not clean. `events` records `open`, `error` and `close` from before the failure.
 */
async function expectFailedHandshake(client: BrowserSocket, events: string[]): Promise<void> {
  if (CLOSES_AFTER_FAILED_HANDSHAKE) {
    expect(await nextClose(client)).toEqual({ code: 1006, reason: '', wasClean: false });
    expect([events, client.readyState]).toEqual([['error', 'close'], client.CLOSED]);
  } else {
    await until(() => events.length > 0, 'the browser to report the failure');
    await delay(50 * MS); // nothing else follows: no `open`, no `close`
    expect(events).toEqual(['error']);
  }
}

/** A Blob or ArrayBuffer as bytes in hex. */
async function hex(data: unknown): Promise<string> {
  const buffer = data instanceof Blob ? await data.arrayBuffer() : (data as ArrayBuffer);
  return Buffer.from(buffer).toString('hex');
}

describe.skipIf(typeof globalThis.WebSocket !== 'function')("a Volley server with Node's global (undici) WebSocket", () => {
  describe('messages', () => {
    it('text both ways: the browser gets strings, the server text frames', async () => {
      const { server, client } = await connectBrowser();
      const atServer = collectMessages(server, 2);
      client.send('hello ✓ 🎉');
      client.send('second');
      expect((await atServer).map(([data, isBinary]) => [String(data), isBinary])).toEqual([
        ['hello ✓ 🎉', false],
        ['second', false],
      ]);
      const atClient = collectBrowserMessages(client, 2);
      server.send('from the server ✓');
      server.send(Buffer.from('a Buffer sent as text'), { binary: false });
      expect(await atClient).toEqual(['from the server ✓', 'a Buffer sent as text']);
    });

    it("binary with binaryType 'arraybuffer': ArrayBuffer, TypedArray and DataView in, ArrayBuffer out", async () => {
      const { server, client } = await connectBrowser();
      client.binaryType = 'arraybuffer';
      const atServer = collectMessages(server, 3);
      client.send(new Uint8Array([0, 1, 2, 254, 255]).buffer);
      client.send(new Uint16Array([0x0102, 0x0304]).subarray(1)); // a view with an offset
      client.send(new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2));
      const received = (await atServer).map(([data, isBinary]) => [Buffer.from(data as Buffer).toString('hex'), isBinary]);
      expect(received).toEqual([
        ['000102feff', true],
        [Buffer.from(new Uint16Array([0x0304]).buffer).toString('hex'), true],
        ['0807', true],
      ]);
      const atClient = collectBrowserMessages(client, 2);
      server.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
      server.send(new Uint8Array([1, 2, 3]));
      const messages = await atClient;
      expect(messages.map((data) => data instanceof ArrayBuffer)).toEqual([true, true]);
      expect(await Promise.all(messages.map(hex))).toEqual(['deadbeef', '010203']);
    });

    it("binary with binaryType 'blob' (the browser default): Blob in, Blob out", async () => {
      const { server, client } = await connectBrowser();
      expect(client.binaryType).toBe('blob');
      const atServer = collectMessages(server, 1);
      client.send(new Blob([new Uint8Array([1, 2]), 'three']));
      const [data, isBinary] = (await atServer)[0]!;
      expect([Buffer.from(data as Buffer).toString('hex'), isBinary]).toEqual([Buffer.from('\x01\x02three').toString('hex'), true]);
      const atClient = collectBrowserMessages(client, 1);
      server.send(Buffer.from([0, 0xff, 0x80]));
      const [blob] = await atClient;
      expect(blob).toBeInstanceOf(Blob);
      expect(await hex(blob)).toBe('00ff80');
    });

    it('empty text and empty binary messages, both ways', async () => {
      const { server, client } = await connectBrowser();
      client.binaryType = 'arraybuffer';
      const atServer = collectMessages(server, 3);
      client.send('');
      client.send(new ArrayBuffer(0));
      client.send('after the empty ones');
      expect((await atServer).map(([data, isBinary]) => [(data as Buffer).length, isBinary])).toEqual([
        [0, false],
        [0, true],
        [20, false],
      ]);
      const atClient = collectBrowserMessages(client, 3);
      server.send('');
      server.send(Buffer.alloc(0));
      server.send('after');
      const [text, binary, last] = await atClient;
      expect([text, binary instanceof ArrayBuffer, (binary as ArrayBuffer).byteLength, last]).toEqual(['', true, 0, 'after']);
    });

    it('a 16 MiB message each way (maxPayload raised)', async () => {
      const { server, client } = await connectBrowser({ maxPayload: 32 << 20, maxBackpressure: 0 });
      client.binaryType = 'arraybuffer';
      const big = Buffer.alloc(16 << 20);
      for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
      big[big.length - 1] = 0xaa; // the last byte counts too

      const atServer = collectMessages(server, 1, 10_000 * MS);
      client.send(big);
      const [data, isBinary] = (await atServer)[0]!;
      expect([isBinary, (data as Buffer).length]).toEqual([true, big.length]);
      // Buffer.equals: vitest's deep equality would take minutes on 16 MiB.
      expect((data as Buffer).equals(big)).toBe(true);

      const atClient = collectBrowserMessages(client, 1, 10_000 * MS);
      server.send(big);
      const [echoed] = await atClient;
      expect((echoed as ArrayBuffer).byteLength).toBe(big.length);
      expect(Buffer.from(echoed as ArrayBuffer).equals(big)).toBe(true);
    });

    it('1,000 numbered messages each way arrive in order', async () => {
      const COUNT = 1000;
      const { server, client } = await connectBrowser();
      const expected = Array.from({ length: COUNT }, (_, n) => `message ${n}`);
      const atServer = collectMessages(server, COUNT);
      for (const text of expected) client.send(text);
      expect((await atServer).map(([data]) => String(data))).toEqual(expected);
      const atClient = collectBrowserMessages(client, COUNT);
      for (const text of expected) server.send(text);
      expect(await atClient).toEqual(expected);
    });
  });

  describe('subprotocols', () => {
    it('the client offers several, the server picks one: `protocol` agrees on both sides', async () => {
      const offered: string[][] = [];
      const { server, client } = await connectBrowser(
        {
          handleProtocols: (protocols) => {
            offered.push([...protocols]);
            return 'chat.v2';
          },
        },
        ['chat.v1', 'chat.v2', 'chat.v3'],
      );
      expect(offered).toEqual([['chat.v1', 'chat.v2', 'chat.v3']]);
      expect([client.protocol, server.protocol]).toEqual(['chat.v2', 'chat.v2']);
    });

    it('the server picks none: the browser fails the connection (WHATWG: a protocol offered must be answered)', async () => {
      const { wss, url } = await startServer({ handleProtocols: () => false });
      const connection = nextEvent<[WebSocket]>(wss, 'connection');
      const client = browserClient(url, ['chat.v1', 'chat.v2']);
      const events: string[] = [];
      for (const type of ['open', 'error', 'close']) client.addEventListener(type, () => events.push(type));
      await expectFailedHandshake(client, events);
      // The server did accept (101 without Sec-WebSocket-Protocol, as ws does); the browser then drops it.
      const [server] = await connection;
      expect(server.protocol).toBe('');
      // undici 6 leaves the TCP connection open after failing it (closeAll terminates it).
      if (CLOSES_AFTER_FAILED_HANDSHAKE) expect((await nextEvent<[number]>(server, 'close'))[0]).toBe(1006);
    });
  });

  describe('permessage-deflate', () => {
    it('the browser offers "permessage-deflate; client_max_window_bits"; without perMessageDeflate the server declines', async () => {
      const offers: Array<string | string[] | undefined> = [];
      const { server, client } = await connectBrowser({
        authenticate: (req) => {
          offers.push(req.headers['sec-websocket-extensions']);
          return {};
        },
      });
      expect(offers).toEqual(['permessage-deflate; client_max_window_bits']);
      expect([client.extensions, server.extensions]).toEqual(['', '']);
    });

    it.each([
      ['defaults', {}, 'permessage-deflate'],
      ['serverNoContextTakeover', { serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover'],
      ['serverMaxWindowBits 10', { serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=10'],
      ['clientMaxWindowBits 9', { clientMaxWindowBits: 9 }, 'permessage-deflate; client_max_window_bits=9'],
      [
        'every parameter',
        { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 11 },
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=11',
      ],
    ])('negotiated (%s): `extensions` agrees, compressed messages round-trip', async (_name, options, extensions) => {
      const { server, client } = await connectBrowser({ perMessageDeflate: options, maxPayload: 4 << 20, maxBackpressure: 0 });
      expect([client.extensions, server.extensions]).toEqual([extensions, extensions]);
      client.binaryType = 'arraybuffer';
      // Compressible, and different each time so a shared window is exercised across messages.
      const texts = Array.from({ length: 4 }, (_, n) => `${n}: ${'volley ✓ compresses this line. '.repeat(32 * 1024)}`);
      const binary = Buffer.alloc(256 * 1024, 7);
      const before = server.socket!.bytesWritten;
      const atClient = collectBrowserMessages(client, texts.length + 1, 10_000 * MS);
      for (const text of texts) server.send(text);
      server.send(binary);
      const received = await atClient;
      expect(received.slice(0, texts.length).map((text, n) => text === texts[n])).toEqual(texts.map(() => true));
      expect(Buffer.from(received[texts.length] as ArrayBuffer).equals(binary)).toBe(true);
      // Compressed on the wire: ~4.5 MB of messages in far less.
      const plain = texts.reduce((n, text) => n + Buffer.byteLength(text), binary.length);
      expect(server.socket!.bytesWritten - before).toBeLessThan(plain / 20);
      // And what the browser sends (compressed or not: undici does not compress) reaches the server whole.
      const atServer = collectMessages(server, 2);
      client.send(texts[0]!);
      client.send(binary);
      const [text, bytes] = (await atServer).map(([data]) => data as Buffer);
      expect([String(text) === texts[0], bytes!.equals(binary)]).toEqual([true, true]);
    });
  });

  describe('closing', () => {
    it('the browser closes with a code and reason: the server sees them, wasClean on both sides', async () => {
      const { server, client } = await connectBrowser();
      const atServer = nextEvent<[number, Buffer]>(server, 'close');
      const atClient = nextClose(client);
      client.close(4001, 'bye from the browser ✓');
      expect(client.readyState).toBe(client.CLOSING);
      const [code, reason] = await atServer;
      expect([code, String(reason), server.wasClean]).toEqual([4001, 'bye from the browser ✓', true]);
      expect(await atClient).toEqual({ code: 4001, reason: 'bye from the browser ✓', wasClean: true });
      expect(client.readyState).toBe(client.CLOSED);
    });

    it('the browser closes without a code: 1005 on both sides', async () => {
      const { server, client } = await connectBrowser();
      const atServer = nextEvent<[number, Buffer]>(server, 'close');
      const atClient = nextClose(client);
      client.close();
      const [code, reason] = await atServer;
      expect([code, String(reason)]).toEqual([1005, '']);
      expect(await atClient).toEqual({ code: 1005, reason: '', wasClean: true });
    });

    it("the server closes with a code and reason: the browser's CloseEvent carries them, wasClean", async () => {
      const { server, client } = await connectBrowser();
      const atServer = nextEvent<[number, Buffer]>(server, 'close');
      const atClient = nextClose(client);
      server.close(4002, 'server says bye ✓');
      expect(await atClient).toEqual({ code: 4002, reason: 'server says bye ✓', wasClean: true });
      // undici echoes the code only (RFC 6455 §5.5.1: "typically echos the status code").
      const [code, reason] = await atServer;
      expect([code, String(reason), server.wasClean]).toEqual([4002, '', true]);
    });

    it('the server refuses the upgrade with UpgradeError(401): the browser gets error, then close 1006', async () => {
      const { wss, url } = await startServer({
        authenticate: () => {
          throw new UpgradeError(401, 'no token', { 'WWW-Authenticate': 'Bearer' });
        },
      });
      let connections = 0;
      wss.on('connection', () => connections++);
      const client = browserClient(url);
      const events: string[] = [];
      for (const type of ['open', 'error', 'close']) client.addEventListener(type, () => events.push(type));
      await expectFailedHandshake(client, events);
      expect(connections).toBe(0);
    });

    it('the server terminates: the browser sees close 1006, not clean', async () => {
      const { server, client } = await connectBrowser();
      const atServer = nextEvent<[number]>(server, 'close');
      const atClient = nextClose(client);
      server.terminate();
      expect(await atClient).toEqual({ code: 1006, reason: '', wasClean: false });
      expect((await atServer)[0]).toBe(1006);
    });
  });

  it('a ping from the server is answered by the browser with a pong carrying its payload', async () => {
    const { server } = await connectBrowser();
    const ponged = nextEvent<[Buffer]>(server, 'pong');
    server.ping('are you there ✓');
    expect(String((await ponged)[0])).toBe('are you there ✓');
    const second = nextEvent<[Buffer]>(server, 'pong');
    server.ping(Buffer.alloc(125, 0x7a)); // the largest payload a control frame may carry
    expect((await second)[0].equals(Buffer.alloc(125, 0x7a))).toBe(true);
  });

  it('200 concurrent browser clients, 20 numbered messages each, echoed: none lost or reordered', { timeout: 20_000 * MS }, async () => {
    const CLIENTS = 200;
    const MESSAGES = 20;
    const { wss, url } = await startServer();
    const atServer = new Map<string, string[]>();
    wss.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => {
        const text = String(data);
        const [id] = text.split(':');
        const list = atServer.get(id!) ?? [];
        list.push(text);
        atServer.set(id!, list);
        ws.send(data, { binary: isBinary });
      });
    });
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => openBrowserClient(url)));
    expect(wss.clients.size).toBe(CLIENTS);
    const echoed = clients.map((ws) => collectBrowserMessages(ws, MESSAGES, 15_000 * MS));
    clients.forEach((ws, i) => {
      for (let n = 0; n < MESSAGES; n++) ws.send(`${i}:${n}`);
    });
    const all = await Promise.all(echoed);
    all.forEach((messages, i) => {
      const expected = Array.from({ length: MESSAGES }, (_, n) => `${i}:${n}`);
      // Compare one client at a time: a failure names it without printing 4,000 strings.
      if (messages.join() !== expected.join()) expect([i, messages]).toEqual([i, expected]);
      if (atServer.get(String(i))?.join() !== expected.join()) expect([i, atServer.get(String(i))]).toEqual([i, expected]);
    });
    const closed = clients.map((ws) => nextClose(ws, 15_000 * MS));
    for (const ws of clients) ws.close(1000, 'done');
    expect((await Promise.all(closed)).every(({ code, wasClean }) => code === 1000 && wasClean)).toBe(true);
    await until(() => wss.clients.size === 0, 'the server to forget every client');
  });
});
