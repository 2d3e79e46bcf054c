/**
 * permessage-deflate over real sockets: negotiation in both roles, interop with `ws`
 * in every combination of the four parameters it supports, many fragments, the
 * thread-pool concurrency limit, the decompression bomb, `compress` and `threshold`,
 * and prepared broadcast messages.
 */
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as PeerWebSocket, WebSocketServer as PeerWebSocketServer } from 'ws';
import { prepare, WebSocket, WebSocketServer, type PerMessageDeflateOptions } from '../../src/index.js';
import { Engine, enginePool } from '../../src/protocol/zlib-driver.js';
import {
  closeAll,
  deflateMessage,
  echo,
  inflateMessage,
  maskedFrame,
  nextEvent,
  opened,
  rawClient,
  rawServer,
  track,
  until,
  volleyServer,
  within,
} from './deflate-helpers.js';
import { Op, frame, parseFrame, type RawFrame } from './helpers.js';
import { randomBytes } from 'node:crypto';

afterEach(closeAll);

const KiB = 1024;
const MiB = 1024 * KiB;

function jsonText(length: number, seed = 1): string {
  let text = '';
  for (let i = 0; text.length < length; i++) text += JSON.stringify({ id: seed * 1000 + i, name: `item-${(i * 7 + seed) % 101}`, ok: (i + seed) % 3 === 0 }) + ',';
  return text.slice(0, length);
}

/** Messages each interop connection exchanges: compressible text and binary, one below the threshold, one in fragments. */
const TEXT = jsonText(3 * KiB, 1);
const BINARY = Buffer.concat([Buffer.from(jsonText(30 * KiB, 2)), Buffer.alloc(10 * KiB)]);
const FRAGMENTS = [jsonText(2 * KiB, 3), jsonText(2 * KiB, 4)];

/** Anything with ws's sending surface (Volley's WebSocket or ws's). */
interface Sender {
  send(data: string | Buffer, options?: { binary?: boolean; fin?: boolean; compress?: boolean }): unknown;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): unknown;
}

/** Sends the sample messages and checks they all come back, in order. */
async function exchange(ws: Sender): Promise<void> {
  const expected: Array<[string | Buffer, boolean]> = [
    [TEXT, false],
    [BINARY, true],
    ['hi', false],
    [FRAGMENTS.join(''), false],
    [TEXT, false],
  ];
  const received: Array<[Buffer, boolean]> = [];
  const done = new Promise<void>((resolve) => {
    ws.on('message', (data, isBinary) => {
      received.push([Buffer.from(data), isBinary]);
      if (received.length === expected.length) resolve();
    });
  });
  ws.send(TEXT);
  ws.send(BINARY);
  ws.send('hi');
  ws.send(FRAGMENTS[0]!, { fin: false });
  ws.send(FRAGMENTS[1]!, { fin: true });
  ws.send(TEXT);
  await within(done, 'the echoes');
  for (let i = 0; i < expected.length; i++) {
    const [data, isBinary] = expected[i]!;
    expect(received[i]![1]).toBe(isBinary);
    expect(received[i]![0].equals(Buffer.from(data))).toBe(true);
  }
}

/** Runs `tasks` with at most `limit` at once. */
async function inParallel<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/** Every combination of the four parameters `ws` supports, as `ws` options. */
function wsCombinations(includeFalse: boolean): PerMessageDeflateOptions[] {
  const windows: Array<number | undefined> = [undefined, 8, 9, 10, 11, 12, 13, 14, 15];
  const clientWindows: Array<number | undefined | false> = includeFalse ? [...windows, false] : windows;
  const combos: PerMessageDeflateOptions[] = [];
  for (const serverNoContextTakeover of [false, true])
    for (const clientNoContextTakeover of [false, true])
      for (const serverMaxWindowBits of windows)
        for (const clientMaxWindowBits of clientWindows) {
          const options: Record<string, unknown> = { serverNoContextTakeover, clientNoContextTakeover };
          if (serverMaxWindowBits !== undefined) options.serverMaxWindowBits = serverMaxWindowBits;
          if (clientMaxWindowBits !== undefined) options.clientMaxWindowBits = clientMaxWindowBits;
          combos.push(options as PerMessageDeflateOptions);
        }
  return combos;
}

/** Opens a `ws` client; resolves with it and the `Sec-WebSocket-Extensions` the server answered. */
async function openPeer(url: string, perMessageDeflate: true | PerMessageDeflateOptions): Promise<{ client: PeerWebSocket; agreed: string }> {
  const client = new PeerWebSocket(url, { perMessageDeflate });
  const response = nextEvent<[IncomingMessage]>(client, 'upgrade');
  await opened(client);
  return { client, agreed: (await response)[0].headers['sec-websocket-extensions'] as string };
}

/**
 * Checks that permessage-deflate was agreed with what `options` ask for: the
 * no-context-takeover flags and the server window, and the client window when
 * `withClientWindow` (a server's option; a client's value is a promise, not echoed).
 */
function expectAgreement(agreed: string, options: PerMessageDeflateOptions, withClientWindow: boolean): void {
  expect(agreed, JSON.stringify(options)).toMatch(/^permessage-deflate/);
  if (options.serverNoContextTakeover) expect(agreed).toContain('server_no_context_takeover');
  if (options.clientNoContextTakeover) expect(agreed).toContain('client_no_context_takeover');
  if (options.serverMaxWindowBits !== undefined) expect(agreed).toContain(`server_max_window_bits=${options.serverMaxWindowBits}`);
  if (withClientWindow && options.clientMaxWindowBits !== undefined) expect(agreed).toContain(`client_max_window_bits=${options.clientMaxWindowBits}`);
}

/** One http server routing upgrades by path to many `handleUpgrade` targets. */
async function router(): Promise<{ port: number; routes: Map<string, (req: IncomingMessage, socket: Socket, head: Buffer) => void> }> {
  const routes = new Map<string, (req: IncomingMessage, socket: Socket, head: Buffer) => void>();
  const server = createHttpServer();
  const sockets = new Set<Socket>();
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    routes.get(req.url!)!(req, socket, head);
  });
  track(() => new Promise<void>((resolve) => server.close(() => resolve())));
  track(() => {
    for (const socket of sockets) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, routes };
}

describe('negotiation over sockets', () => {
  it('the server is off by default: it answers an offer without the extension', async () => {
    const { wss, url } = await volleyServer();
    wss.on('connection', echo);
    const { client, agreed } = await openPeer(url, true);
    expect(agreed).toBeUndefined();
    await exchange(client);
  });

  it('the client offers permessage-deflate by default, as browsers do, and reports what was agreed', async () => {
    const server = await rawServer('permessage-deflate');
    const client = new WebSocket(`ws://127.0.0.1:${server.port}`);
    await opened(client);
    expect(server.requests[0]).toMatch(/\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits(\r\n|$)/);
    expect(client.extensions).toBe('permessage-deflate');
  });

  it('perMessageDeflate: false offers nothing, and a response enabling it fails the handshake', async () => {
    const server = await rawServer('permessage-deflate');
    const client = new WebSocket(`ws://127.0.0.1:${server.port}`, { perMessageDeflate: false });
    track(() => client.terminate());
    const closed = nextEvent<[number]>(client, 'close');
    const [error] = await nextEvent<[Error]>(client, 'error');
    expect(server.requests[0]).not.toMatch(/Sec-WebSocket-Extensions/i);
    expect(error.message).toContain('permessage-deflate');
    expect((await closed)[0]).toBe(1006);
  });

  it.each([
    ['a parameter it did not offer a value for', { serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=12'],
    ['a larger client window than it promised', { clientMaxWindowBits: 9 }, 'permessage-deflate; client_max_window_bits=10'],
    ['an unknown parameter', true, 'permessage-deflate; foo'],
    ['a value out of range', true, 'permessage-deflate; client_max_window_bits=16'],
    ['a repeated parameter', true, 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['no server_no_context_takeover when the offer required it', { serverNoContextTakeover: true }, 'permessage-deflate'],
  ] as const)('the client fails the handshake on a response with %s', async (_name, options, response) => {
    const server = await rawServer(response);
    const client = new WebSocket(`ws://127.0.0.1:${server.port}`, { perMessageDeflate: options });
    track(() => client.terminate());
    const closed = nextEvent<[number]>(client, 'close');
    const [error] = await nextEvent<[Error]>(client, 'error');
    expect(error.message).toMatch(/^Sec-WebSocket-Extensions: /);
    expect((await closed)[0]).toBe(1006);
    expect(client.readyState).toBe(WebSocket.CLOSED);
  });

  it.each([
    'permessage-deflate; server_max_window_bits=7',
    'permessage-deflate; foo=bar',
    'permessage-deflate; client_no_context_takeover; client_no_context_takeover',
    'permessage-deflate; server_max_window_bits',
    'permessage-deflate; client_max_window_bits=020, permessage-deflate; x',
  ])('the server declines a malformed offer (RFC 7692 §7) and the connection goes on uncompressed: %s', async (offer) => {
    const { port, wss } = await volleyServer({ perMessageDeflate: true });
    const onConnection = nextEvent<[WebSocket]>(wss, 'connection');
    const raw = await rawClient(port, offer);
    expect(raw.status).toBe(101);
    expect(raw.headers['sec-websocket-extensions']).toBeUndefined();
    expect((await onConnection)[0].extensions).toBe('');
  });

  it('the server accepts a valid offer that follows a malformed one', async () => {
    const { port } = await volleyServer({ perMessageDeflate: true });
    const raw = await rawClient(port, 'permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits');
    expect(raw.status).toBe(101);
    expect(raw.headers['sec-websocket-extensions']).toBe('permessage-deflate');
  });

  it('the server answers 400 to an extension header that breaks RFC 6455 §9.1 grammar', async () => {
    const { port } = await volleyServer({ perMessageDeflate: true });
    const raw = await rawClient(port, 'permessage-deflate; =15');
    expect(raw.status).toBe(400);
    await within(raw.closed, 'the socket to close');
  });

  it('the server declines an offer it cannot satisfy and accepts the next one', async () => {
    const { port, wss } = await volleyServer({ perMessageDeflate: { clientMaxWindowBits: 10 } });
    const onConnection = nextEvent<[WebSocket]>(wss, 'connection');
    const declined = await rawClient(port, 'permessage-deflate');
    expect(declined.status).toBe(101);
    expect(declined.headers['sec-websocket-extensions']).toBeUndefined();
    expect((await onConnection)[0].extensions).toBe('');
    const accepted = await rawClient(port, 'permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits');
    expect(accepted.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits=10');
  });

  it('ws.extensions reports the agreed value on both sides', async () => {
    const { wss, url } = await volleyServer({ perMessageDeflate: { serverNoContextTakeover: true } });
    const onConnection = nextEvent<[WebSocket]>(wss, 'connection');
    const client = new WebSocket(url, { perMessageDeflate: { serverMaxWindowBits: 12 } });
    await opened(client);
    const [serverSide] = await onConnection;
    expect(serverSide.extensions).toBe('permessage-deflate; server_no_context_takeover; server_max_window_bits=12');
    expect(client.extensions).toBe(serverSide.extensions);
  });

  it('rejects bad options at construction', () => {
    expect(() => new WebSocketServer({ noServer: true, perMessageDeflate: { serverMaxWindowBits: 16 } })).toThrow(RangeError);
    expect(() => new WebSocket('ws://127.0.0.1:1', { perMessageDeflate: { level: 12 } })).toThrow(RangeError);
  });
});

describe('interop with ws, with compression on, both ways', () => {
  it(`ws clients with every parameter combination ws supports (${wsCombinations(true).length}) → a Volley server`, { timeout: 120_000 }, async () => {
    const { wss, url } = await volleyServer({ perMessageDeflate: true });
    wss.on('connection', echo);
    await inParallel(wsCombinations(true), 8, async (options) => {
      const { client, agreed } = await openPeer(url, options);
      // The server accepts every valid offer, with what the client asked of it.
      expectAgreement(agreed, options, false);
      await exchange(client);
      client.close();
      await nextEvent(client, 'close');
    });
  });

  it(`Volley servers with every parameter combination (${wsCombinations(false).length}) ← a ws client`, { timeout: 120_000 }, async () => {
    const { port, routes } = await router();
    const combos = wsCombinations(false);
    combos.forEach((options, i) => {
      const wss = new WebSocketServer({ noServer: true, perMessageDeflate: options });
      routes.set(`/${i}`, (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => echo(ws)));
    });
    await inParallel(
      combos.map((options, i) => [options, i] as const),
      8,
      async ([options, i]) => {
        const { client, agreed } = await openPeer(`ws://127.0.0.1:${port}/${i}`, true);
        // ws offers client_max_window_bits, so no configuration declines it.
        expectAgreement(agreed, options, true);
        await exchange(client);
        client.close();
        await nextEvent(client, 'close');
      },
    );
  });

  it(`ws servers with every parameter combination ws supports (${wsCombinations(false).length}) ← a Volley client`, { timeout: 120_000 }, async () => {
    const { port, routes } = await router();
    const combos = wsCombinations(false);
    combos.forEach((options, i) => {
      const wss = new PeerWebSocketServer({ noServer: true, perMessageDeflate: { ...options, threshold: 0 } });
      routes.set(`/${i}`, (req, socket, head) =>
        wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }))),
      );
    });
    await inParallel(
      combos.map((options, i) => [options, i] as const),
      8,
      async ([options, i]) => {
        const client = new WebSocket(`ws://127.0.0.1:${port}/${i}`);
        await opened(client);
        expect(client.extensions, JSON.stringify(options)).toMatch(/^permessage-deflate/);
        await exchange(client);
        // The echoes came compressed: far fewer bytes than the messages.
        expect(client.socket!.bytesRead).toBeLessThan(BINARY.length / 2);
        client.close();
        await nextEvent(client, 'close');
      },
    );
  });

  it(`Volley clients with every parameter combination (${wsCombinations(false).length}) → a ws server`, { timeout: 120_000 }, async () => {
    const wss = new PeerWebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0 } });
    track(() => new Promise<void>((resolve) => (wss.clients.forEach((ws) => ws.terminate()), wss.close(() => resolve()))));
    await nextEvent(wss, 'listening');
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })));
    const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
    await inParallel(wsCombinations(false), 8, async (options) => {
      const client = new WebSocket(url, { perMessageDeflate: options });
      await opened(client);
      expect(client.extensions, JSON.stringify(options)).toMatch(/^permessage-deflate/);
      await exchange(client);
      client.close();
      await nextEvent(client, 'close');
    });
  });
});

describe('fragments, compress, threshold', () => {
  it('a compressed message in 1,000 fragments, both ways', async () => {
    const { wss, url } = await volleyServer({ perMessageDeflate: { threshold: 0 } });
    wss.on('connection', (ws: WebSocket) =>
      ws.on('message', (data: Buffer) => {
        // Echo in 1,000 fragments as well.
        const text = (data as Buffer).toString();
        const size = Math.ceil(text.length / 1000);
        for (let i = 0; i < 1000; i++) ws.send(text.slice(i * size, (i + 1) * size), { fin: i === 999 });
      }),
    );
    const client = new PeerWebSocket(url, { perMessageDeflate: true });
    await opened(client);
    const text = jsonText(64 * KiB, 9);
    const size = Math.ceil(text.length / 1000);
    const echoed = nextEvent<[Buffer]>(client, 'message');
    for (let i = 0; i < 1000; i++) client.send(text.slice(i * size, (i + 1) * size), { fin: i === 999, compress: true });
    expect((await echoed)[0].toString()).toBe(text);
  });

  it('send(data, { compress: false }) and the threshold are honoured; RSV1 only where compressed', async () => {
    const { wss, port } = await volleyServer({ perMessageDeflate: true });
    wss.on('connection', (ws) => {
      ws.send(jsonText(4 * KiB, 1));
      ws.send(jsonText(4 * KiB, 2), { compress: false });
      ws.send(jsonText(1023, 3)); // below the default threshold of 1024
      ws.send(Buffer.from(jsonText(1024, 4)));
      ws.ping('never compressed');
    });
    const raw = await rawClient(port, 'permessage-deflate; client_max_window_bits; server_no_context_takeover');
    await until(() => raw.reader.frames.length === 5, 'five frames');
    const frames = raw.reader.frames;
    expect(frames.map((f) => [f.opcode, f.rsv1])).toEqual([
      [1, true],
      [1, false],
      [1, false],
      [2, true],
      [9, false],
    ]);
    expect(inflateMessage(frames[0]!.payload).toString()).toBe(jsonText(4 * KiB, 1));
    expect(frames[1]!.payload.toString()).toBe(jsonText(4 * KiB, 2));
    expect(inflateMessage(frames[3]!.payload).toString()).toBe(jsonText(1024, 4));
  });

  it('the send callback and bufferedAmount account for a message compressed on the thread pool', async () => {
    const { wss, url } = await volleyServer({ perMessageDeflate: true });
    const received = new Promise<Buffer>((resolve) => wss.on('connection', (ws: WebSocket) => ws.on('message', (data: Buffer) => resolve(data))));
    const client = new WebSocket(url);
    await opened(client);
    const big = Buffer.from(jsonText(512 * KiB)); // above the 64 KiB done on the calling thread
    const written = new Promise<Error | null | undefined>((resolve) => client.send(big, (error) => resolve(error)));
    expect(client.bufferedAmount).toBeGreaterThanOrEqual(big.length);
    expect(await within(written, 'the callback')).toBeFalsy();
    expect((await within(received, 'the message')).equals(big)).toBe(true);
    await until(() => client.bufferedAmount === 0, 'the buffer to empty');
  });
});

describe('the zlib thread pool', () => {
  it('runs at most concurrencyLimit jobs at once; large messages from many clients all come back in order', { timeout: 60_000 }, async () => {
    const original = Engine.prototype.runAsync;
    let running = 0;
    let highest = 0;
    Engine.prototype.runAsync = function (this: Engine, ...args: Parameters<Engine['runAsync']>) {
      running++;
      highest = Math.max(highest, running);
      const [inputs, flush, limit, callback] = args;
      return original.call(this, inputs, flush, limit, (...result) => {
        running--;
        callback(...result);
      });
    };
    track(() => void (Engine.prototype.runAsync = original));
    const { wss, url } = await volleyServer({ perMessageDeflate: { concurrencyLimit: 2, maxDeflateContexts: 64 } });
    wss.on('connection', echo);
    const messages = [0, 1, 2].map((i) => Buffer.from(jsonText(200 * KiB, i))); // thread-pool sized
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        const client = new PeerWebSocket(url, { perMessageDeflate: true });
        await opened(client);
        const echoes: Buffer[] = [];
        const done = new Promise<void>((resolve) => client.on('message', (data: Buffer) => echoes.push(data) === messages.length && resolve()));
        for (const message of messages) client.send(message);
        await within(done, 'the echoes', 50_000);
        expect(echoes.map((e, i) => e.equals(messages[i]!))).toEqual([true, true, true]);
      }),
    );
    // The server's jobs never exceeded 2 (the ws clients' own zlib is not counted).
    expect(highest).toBeGreaterThan(0);
    expect(highest).toBeLessThanOrEqual(2);
  });
});

describe('decompression bomb', () => {
  /** `total` zero bytes as deflate: a 16 MiB piece compressed once and repeated (each piece ends flushed). */
  function zeros(total: number): Buffer {
    const piece = deflateMessage(Buffer.alloc(Math.min(total, 16 * MiB)));
    const flushed = Buffer.concat([piece, Buffer.from([0, 0, 0xff, 0xff])]);
    const pieces = Math.ceil(total / (16 * MiB));
    return Buffer.concat([...Array.from({ length: pieces - 1 }, () => flushed), piece]);
  }

  it('~1 MiB that would inflate to 1 GiB closes with 1009, and RSS grows by less than 64 MiB', async () => {
    // DEFLATE expands at most ~1032:1, so 1 GiB needs about 1 MiB of compressed data: the
    // server's maxPayload (applied to the compressed frame too) must let that in.
    const bomb = zeros(1024 * MiB);
    expect(bomb.length).toBeLessThan(1.1 * MiB);
    const { wss, port } = await volleyServer({ perMessageDeflate: true, maxPayload: 2 * MiB });
    const serverError = new Promise<Error>((resolve) => wss.on('connection', (ws) => ws.on('error', resolve)));
    const raw = await rawClient(port, 'permessage-deflate; client_max_window_bits');
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    raw.socket.write(maskedFrame(2, bomb, { rsv1: true }));
    await until(() => raw.reader.frames.some((f) => f.opcode === 8), 'the close frame');
    const after = process.memoryUsage().rss;
    const close = raw.reader.frames.find((f) => f.opcode === 8)!;
    expect(close.payload.readUInt16BE(0)).toBe(1009);
    expect((await within(serverError, 'the error')).message).toContain('maxPayload');
    expect(after - before).toBeLessThan(64 * MiB);
    await within(raw.closed, 'the server to close the connection');
  });

  it('a few KiB that would inflate to 16 MiB close with 1009 under the default maxPayload (1 MiB)', async () => {
    const bomb = zeros(16 * MiB);
    expect(bomb.length).toBeLessThan(20 * KiB);
    const { port } = await volleyServer({ perMessageDeflate: true });
    const raw = await rawClient(port, 'permessage-deflate; client_max_window_bits; client_no_context_takeover');
    const before = process.memoryUsage().rss;
    // In 64 fragments: the parser gathers them, the inflater stops at the limit.
    const size = Math.ceil(bomb.length / 64);
    for (let i = 0; i < 64; i++) raw.socket.write(maskedFrame(i === 0 ? 2 : 0, bomb.subarray(i * size, (i + 1) * size), { fin: i === 63, rsv1: i === 0 }));
    await until(() => raw.reader.frames.some((f) => f.opcode === 8), 'the close frame');
    expect(raw.reader.frames.find((f) => f.opcode === 8)!.payload.readUInt16BE(0)).toBe(1009);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * MiB);
  });

  it('a message of maxPayload incompressible bytes is delivered, though it grows when compressed (from a ws client)', async () => {
    const { wss, url } = await volleyServer({ perMessageDeflate: true, maxPayload: 200 * KiB });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const peer = new PeerWebSocket(url, { perMessageDeflate: true });
    track(() => peer.terminate());
    await opened(peer);
    const [server] = await connection;
    const message = randomBytes(200 * KiB);
    const received = nextEvent<[Buffer]>(server, 'message');
    peer.send(message);
    expect((await within(received, 'the message'))[0]).toEqual(message);
    const closed = nextEvent<[number]>(peer, 'close');
    peer.send(Buffer.concat([message, Buffer.alloc(1)])); // one byte over, inflated
    expect((await closed)[0]).toBe(1009);
  });

  it('bad compressed data closes with 1007', async () => {
    const { port } = await volleyServer({ perMessageDeflate: true });
    const raw = await rawClient(port, 'permessage-deflate');
    raw.socket.write(maskedFrame(1, Buffer.from([0xff, 0xff, 0xff]), { rsv1: true }));
    await until(() => raw.reader.frames.some((f) => f.opcode === 8), 'the close frame');
    expect(raw.reader.frames.find((f) => f.opcode === 8)!.payload.readUInt16BE(0)).toBe(1007);
  });
});

describe('prepared messages (broadcast)', () => {
  it('one PreparedMessage reaches peers with and without compression, with and without context takeover', async () => {
    const { wss, url } = await volleyServer({ perMessageDeflate: true });
    const text = jsonText(8 * KiB, 7);
    const clients = [
      new WebSocket(url),
      new WebSocket(url, { perMessageDeflate: false }),
      new WebSocket(url, { perMessageDeflate: { serverNoContextTakeover: true } }),
      new PeerWebSocket(url, { perMessageDeflate: { serverMaxWindowBits: 10 } }),
    ];
    await Promise.all(clients.map((client) => opened(client)));
    await until(() => wss.clients.size === clients.length, 'every connection');
    const inboxes = clients.map((client) => {
      const inbox: string[] = [];
      client.on('message', (data: Buffer) => inbox.push(data.toString()));
      return inbox;
    });
    const message = prepare(text);
    for (const ws of wss.clients) {
      ws.send(jsonText(2 * KiB, 1)); // its own message first: context takeover in use
      ws.sendPrepared(message);
      ws.send(jsonText(2 * KiB, 1));
    }
    await until(() => inboxes.every((inbox) => inbox.length === 3), 'three messages each');
    for (const inbox of inboxes) expect(inbox).toEqual([jsonText(2 * KiB, 1), text, jsonText(2 * KiB, 1)]);
  });

  it('is sent by a client as an ordinary (masked, own-context) message', async () => {
    const { wss, url } = await volleyServer({ perMessageDeflate: true });
    const received = new Promise<string>((resolve) =>
      wss.on('connection', (ws) => ws.on('message', (data: Buffer) => resolve(data.toString()))),
    );
    const client = new WebSocket(url);
    await opened(client);
    const before = client.socket!.bytesWritten;
    client.send(prepare(jsonText(2 * KiB, 3)));
    expect(await received).toBe(jsonText(2 * KiB, 3));
    // Compressed, as an ordinary send of the same text would be.
    expect(client.socket!.bytesWritten - before).toBeLessThan(KiB);
  });
});

describe('resources', () => {
  it('zlib state is created at the first compressed message, not at the handshake, and released on close', async () => {
    const options = { maxDeflateContexts: 7 }; // a pool of its own
    const { wss, url } = await volleyServer({ perMessageDeflate: options });
    wss.on('connection', echo);
    const client = new WebSocket(url, { perMessageDeflate: false });
    const compressed = new PeerWebSocket(url, { perMessageDeflate: true });
    await Promise.all([opened(client), opened(compressed)]);
    await until(() => wss.clients.size === 2, 'both server sides');
    // The server's pool for this configuration (created with its first codec).
    const pool = enginePool('deflate/15/-1/8', 7, () => {
      throw new Error('the server created it already');
    });
    expect(pool.size).toBe(0); // negotiated, idle: no deflate state
    await exchange(compressed);
    expect(pool.size).toBe(1);
    compressed.close();
    await nextEvent(compressed, 'close');
    await until(() => wss.clients.size === 1, 'the server side to close');
    expect(pool.size).toBe(0);
  });
});

describe('publish with permessage-deflate', () => {
  it('compresses a published message once and writes the same compressed frame to every subscriber', async () => {
    const { wss, url } = await volleyServer({ perMessageDeflate: true });
    const text = jsonText(4 * KiB, 7);
    const clients = [new WebSocket(url), new WebSocket(url), new WebSocket(url), new WebSocket(url, { perMessageDeflate: false })];
    await Promise.all(clients.map((client) => opened(client)));
    await until(() => wss.clients.size === clients.length, 'every connection');
    const written = new Map<WebSocket, Uint8Array[]>();
    for (const ws of wss.clients) {
      ws.subscribe('room');
      const socket = ws.socket!;
      const write = socket.write.bind(socket);
      const chunks: Uint8Array[] = [];
      written.set(ws, chunks);
      socket.write = ((chunk: Uint8Array, ...rest: unknown[]) => {
        chunks.push(chunk);
        return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof socket.write;
    }
    const inboxes = clients.map((client) => new Promise<string>((resolve) => client.once('message', (data: Buffer) => resolve(data.toString()))));
    wss.publish('room', text);
    expect(await Promise.all(inboxes)).toEqual(clients.map(() => text));
    const compressed = [...written.entries()].filter(([ws]) => ws.extensions.includes('permessage-deflate')).map(([, chunks]) => chunks);
    const plain = [...written.entries()].filter(([ws]) => !ws.extensions.includes('permessage-deflate')).map(([, chunks]) => chunks);
    expect(compressed).toHaveLength(3);
    expect(plain).toHaveLength(1);
    for (const chunks of compressed) {
      expect(chunks).toHaveLength(1);
      expect(chunks[0]![0]! & 0x40).toBe(0x40); // RSV1: compressed
      expect(chunks[0]).toBe(compressed[0]![0]); // the very same Buffer for every subscriber
      expect(chunks[0]!.length).toBeLessThan(text.length / 2);
    }
    expect(plain[0]![0]![0]! & 0x40).toBe(0);
  });
});

describe('reading while a message inflates off the thread', () => {
  it('pause() and resume() meanwhile do not resume reading before the message is delivered', async () => {
    const { wss, url } = await volleyServer({ perMessageDeflate: true });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const ws = new WebSocket(url, { perMessageDeflate: true });
    await opened(ws);
    const [server] = await connection;
    const received: Buffer[] = [];
    server.on('message', (data: Buffer) => received.push(data));
    // The socket is paused when the first message goes to the thread pool.
    const stillPaused: boolean[] = [];
    server.socket!.once('pause', () => {
      server.pause();
      server.resume();
      stillPaused.push(server.socket!.isPaused());
    });
    // Incompressible: over 64 KiB compressed, so each one inflates on the thread pool.
    const messages = [randomBytes(200 * KiB), randomBytes(200 * KiB)];
    for (const message of messages) ws.send(message);
    await until(() => received.length === 2, 'both messages');
    expect(stillPaused).toEqual([true]);
    expect(received).toEqual(messages);
    expect(server.socket!.isPaused()).toBe(false);
  });
});

describe('a compressed message that arrives with the peer\'s close frame and FIN', () => {
  // Incompressible: over 64 KiB compressed, so it inflates on the thread pool, and the
  // socket's end and close come while it does.
  const payload = randomBytes(100 * KiB);
  const compressed = deflateMessage(payload);

  it('a server delivers it and reports the close frame behind it (it reported 1006 and lost both)', async () => {
    const { wss, port } = await volleyServer({ perMessageDeflate: true });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const raw = await rawClient(port, 'permessage-deflate');
    const [server] = await connection;
    const received: Buffer[] = [];
    server.on('message', (data: Buffer) => received.push(data));
    const closed = nextEvent<[number, Buffer]>(server, 'close');
    raw.socket.end(Buffer.concat([maskedFrame(Op.Binary, compressed, { rsv1: true }), maskedFrame(Op.Close, Buffer.from([0x0f, 0xa0, 0x62, 0x79, 0x65]))]));
    const [code, reason] = await within(closed, 'the close event');
    expect(received).toEqual([payload]);
    expect([code, String(reason)]).toEqual([4000, 'bye']);
  });

  it('a client delivers it and the next one, and reports the close frame (the server closes TCP first, RFC 6455 §7.1.1)', async () => {
    const { port } = await rawServer('permessage-deflate; server_no_context_takeover', (socket) => {
      // Two compressed messages, the close frame and FIN in one go, after the client's close.
      socket.once('data', () => {
        const message = frame(Op.Binary, compressed, { mask: null, rsv: 4 });
        socket.end(Buffer.concat([message, message, frame(Op.Close, Buffer.from([0x03, 0xe8]), { mask: null })]));
      });
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: true });
    track(() => ws.terminate());
    const received: Buffer[] = [];
    ws.on('message', (data: Buffer) => received.push(data));
    await opened(ws);
    ws.close();
    const [code] = await nextEvent<[number]>(ws, 'close');
    expect(received).toEqual([payload, payload]);
    expect(code).toBe(1000);
    expect(ws.wasClean).toBe(true);
  });
});

describe('order of sends behind a compression on the thread pool', () => {
  it('ping and pong wait behind a message still being compressed, and their callbacks come after its own, as in ws', async () => {
    const { wss, url } = await volleyServer({ perMessageDeflate: true });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const ws = new WebSocket(url, { perMessageDeflate: true });
    track(() => ws.terminate());
    await opened(ws);
    const [server] = await connection;
    const seen: string[] = [];
    server.on('message', (data: Buffer) => seen.push(`message ${data.length}`));
    server.on('ping', (data: Buffer) => seen.push(`ping ${String(data)}`));
    server.on('pong', (data: Buffer) => seen.push(`pong ${String(data)}`));
    const callbacks: string[] = [];
    ws.send(randomBytes(100 * KiB), () => callbacks.push('send')); // over 64 KiB: on the thread pool
    ws.ping('p', undefined, () => callbacks.push('ping'));
    ws.pong('q', undefined, () => callbacks.push('pong'));
    ws.send('after', () => callbacks.push('after'));
    await until(() => seen.length === 4 && callbacks.length === 4, 'everything');
    expect(seen).toEqual([`message ${100 * KiB}`, 'ping p', 'pong q', 'message 5']);
    expect(callbacks).toEqual(['send', 'ping', 'pong', 'after']);
  });
});

describe('sends when the connection fails or closes', () => {
  it('a message still being compressed when the connection fails is sent before the close frame, as ws does', async () => {
    const received: Buffer[] = [];
    const { port } = await rawServer('permessage-deflate', (socket) => {
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      // One chunk: a message, then a masked frame (a protocol error at a client).
      setTimeout(() => socket.write(Buffer.concat([frame(Op.Text, 'go', { mask: null }), frame(Op.Text, 'bad')])), 20);
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: true });
    track(() => ws.terminate());
    ws.on('error', () => {});
    const result = new Promise<Error | null | undefined>((resolve) => {
      // 4 MiB go to the thread pool; the protocol error arrives meanwhile.
      ws.on('message', () => ws.send(Buffer.alloc(4 * MiB, 'a'), (error) => resolve(error)));
    });
    expect(await within(result, 'the send callback')).toBeFalsy();
    const frames: RawFrame[] = [];
    await until(() => {
      let bytes = Buffer.concat(received);
      frames.length = 0;
      for (let parsed = parseFrame(bytes); parsed !== undefined; parsed = parseFrame(bytes)) {
        frames.push(parsed.frame);
        bytes = bytes.subarray(parsed.size);
      }
      return frames.some((f) => f.opcode === Op.Close);
    }, 'the close frame');
    expect(frames.map((f) => [f.opcode, f.rsv])).toEqual([
      [Op.Binary, 4], // compressed (RSV1)
      [Op.Close, 0],
    ]);
    expect(frames[1]!.payload.readUInt16BE(0)).toBe(1002);
  });

  it('a message still being compressed when the socket is destroyed: its callback gets an error', async () => {
    const { url } = await volleyServer({ perMessageDeflate: true });
    const ws = new WebSocket(url, { perMessageDeflate: true });
    await opened(ws);
    const result = new Promise<Error | null | undefined>((resolve) => ws.send(randomBytes(512 * KiB), (error) => resolve(error)));
    ws.terminate();
    const error = await within(result, 'the send callback');
    expect(error).toBeInstanceOf(Error);
  });
});
