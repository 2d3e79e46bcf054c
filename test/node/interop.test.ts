/**
 * Interoperability with `ws` (v8), both ways: a Volley server with `ws` clients and a
 * `ws` server with Volley clients. The same suite runs against both pairings: every
 * kind of message, fragments, ping/pong, every close code that may be sent, subprotocol
 * choice, and a thousand concurrent connections.
 */
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as PeerWebSocket, createWebSocketStream as createPeerWebSocketStream } from 'ws';
import { WebSocket, createWebSocketStream } from '../../src/index.js';
import {
  MS,
  client,
  closeAll,
  collectMessages,
  nextEvent,
  peerClient,
  startPeerServer,
  startServer,
  until,
  within,
} from './helpers.js';

afterEach(closeAll);

/** The surface Volley and `ws` share, which this suite uses. */
interface Endpoint extends EventEmitter {
  readonly readyState: number;
  readonly protocol: string;
  send(data: unknown, options?: { binary?: boolean; fin?: boolean }, cb?: (error?: Error) => void): void;
  ping(data?: unknown): void;
  pong(data?: unknown): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

interface Options {
  maxPayload?: number;
  /** Subprotocols the client offers. */
  protocols?: string[];
  /** The server's choice among them. */
  handleProtocols?: (protocols: Set<string>) => string | false;
  /** Server listen backlog (for the thousand-connection test). */
  backlog?: number;
}

interface Pairing {
  /** Starts a server; `connect()` opens a client to it and resolves both ends once open. */
  start(options?: Options): Promise<{ connect(): Promise<{ server: Endpoint; client: Endpoint }> }>;
}

const WS_PATH = '/interop';

const pairings: Array<[string, Pairing]> = [
  [
    'Volley server, ws client',
    {
      async start(options = {}) {
        const { wss, url } = await startServer({
          maxPayload: options.maxPayload,
          handleProtocols: options.handleProtocols,
          backlog: options.backlog,
        });
        const waiting: Array<(ws: Endpoint) => void> = [];
        wss.on('connection', (ws) => waiting.shift()!(ws as unknown as Endpoint));
        return {
          async connect() {
            const server = new Promise<Endpoint>((resolve) => waiting.push(resolve));
            const ws = peerClient(`${url}${WS_PATH}`, options.protocols, { maxPayload: options.maxPayload });
            await nextEvent(ws, 'open');
            return { server: await within(server, 'the server side'), client: ws as unknown as Endpoint };
          },
        };
      },
    },
  ],
  [
    'ws server, Volley client',
    {
      async start(options = {}) {
        const handleProtocols = options.handleProtocols;
        const { wss, url } = await startPeerServer({
          maxPayload: options.maxPayload,
          handleProtocols: handleProtocols === undefined ? undefined : (protocols: Set<string>) => handleProtocols(protocols),
          backlog: options.backlog,
        });
        const waiting: Array<(ws: Endpoint) => void> = [];
        wss.on('connection', (ws) => waiting.shift()!(ws as unknown as Endpoint));
        return {
          async connect() {
            const server = new Promise<Endpoint>((resolve) => waiting.push(resolve));
            const ws = client(`${url}${WS_PATH}`, options.protocols ?? [], { maxPayload: options.maxPayload });
            await nextEvent(ws, 'open');
            return { server: await within(server, 'the server side'), client: ws as unknown as Endpoint };
          },
        };
      },
    },
  ],
];

/** Both directions of a pair, named. */
function directions(pair: { server: Endpoint; client: Endpoint }): Array<[string, Endpoint, Endpoint]> {
  return [
    ['client → server', pair.client, pair.server],
    ['server → client', pair.server, pair.client],
  ];
}

const CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];

describe.each(pairings)('%s', (_name, pairing) => {
  it('text, binary and empty messages, both ways', async () => {
    const pair = await (await pairing.start()).connect();
    for (const [direction, from, to] of directions(pair)) {
      const received = collectMessages(to, 5);
      from.send('hello ✓ 🎉');
      from.send(Buffer.from([0, 1, 2, 254, 255]));
      from.send('');
      from.send(Buffer.alloc(0));
      from.send(Buffer.from('binary as text'), { binary: false });
      const messages = (await received).map(([data, isBinary]) => [Buffer.from(data as Buffer).toString('hex'), isBinary]);
      expect([direction, messages]).toEqual([
        direction,
        [
          [Buffer.from('hello ✓ 🎉').toString('hex'), false],
          ['000102feff', true],
          ['', false],
          ['', true],
          [Buffer.from('binary as text').toString('hex'), false],
        ],
      ]);
    }
  });

  it('16 MiB messages, both ways (maxPayload raised)', async () => {
    const pair = await (await pairing.start({ maxPayload: 32 << 20 })).connect();
    const big = Buffer.alloc(16 << 20);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    for (const [direction, from, to] of directions(pair)) {
      const received = collectMessages(to, 1, 10_000 * MS);
      from.send(big);
      const [data, isBinary] = (await received)[0]!;
      expect([direction, isBinary, (data as Buffer).length]).toEqual([direction, true, big.length]);
      // Buffer.equals: vitest's deep equality would take minutes on 16 MiB.
      expect((data as Buffer).equals(big)).toBe(true);
    }
  });

  it('a message over maxPayload closes with 1009', async () => {
    const pair = await (await pairing.start({ maxPayload: 1024 })).connect();
    pair.server.on('error', () => {});
    pair.client.on('error', () => {});
    const closed = nextEvent<[number]>(pair.client, 'close');
    pair.client.send(Buffer.alloc(1025));
    expect((await closed)[0]).toBe(1009);
  });

  it('fragmented messages (fin: false), both ways', async () => {
    const pair = await (await pairing.start()).connect();
    for (const [direction, from, to] of directions(pair)) {
      const received = collectMessages(to, 2);
      from.send('frag', { fin: false });
      from.send('ment', { fin: false });
      from.send('ed', { fin: true });
      from.send(Buffer.from([1, 2]), { fin: false });
      from.send(Buffer.from([3]), { fin: true });
      const messages = (await received).map(([data, isBinary]) => [Buffer.from(data as Buffer).toString('hex'), isBinary]);
      expect([direction, messages]).toEqual([
        direction,
        [
          [Buffer.from('fragmented').toString('hex'), false],
          ['010203', true],
        ],
      ]);
    }
  });

  it('a fragmented message with a ping between its fragments', async () => {
    const pair = await (await pairing.start()).connect();
    for (const [direction, from, to] of directions(pair)) {
      const received = collectMessages(to, 1);
      const pinged = nextEvent<[Buffer]>(to, 'ping');
      from.send('first half, ', { fin: false });
      from.ping('in between');
      from.send('second half', { fin: true });
      expect([direction, String((await pinged)[0])]).toEqual([direction, 'in between']);
      expect([direction, String((await received)[0]![0])]).toEqual([direction, 'first half, second half']);
    }
  });

  it('ping and pong with payloads, both ways', async () => {
    const pair = await (await pairing.start()).connect();
    for (const [direction, from, to] of directions(pair)) {
      const pinged = nextEvent<[Buffer]>(to, 'ping');
      const ponged = nextEvent<[Buffer]>(from, 'pong');
      from.ping(Buffer.from(`ping ${direction}`));
      expect(String((await pinged)[0])).toBe(`ping ${direction}`);
      expect(String((await ponged)[0])).toBe(`ping ${direction}`); // answered automatically
      const unsolicited = nextEvent<[Buffer]>(to, 'pong');
      from.pong(Buffer.alloc(125, 0x7a));
      expect((await unsolicited)[0].equals(Buffer.alloc(125, 0x7a))).toBe(true);
    }
  });

  it.each([
    ['the client', 'client' as const],
    ['the server', 'server' as const],
  ])('every valid close code with a reason, closed by %s', async (_who, initiator) => {
    const server = await pairing.start();
    const results = await Promise.all(
      CLOSE_CODES.map(async (code) => {
        const pair = await server.connect();
        const [from, to] = initiator === 'client' ? [pair.client, pair.server] : [pair.server, pair.client];
        const fromClosed = nextEvent<[number, Buffer]>(from, 'close');
        const toClosed = nextEvent<[number, Buffer]>(to, 'close');
        from.close(code, `reason ${code} ✓`);
        const [[fromCode, fromReason], [toCode, toReason]] = await Promise.all([fromClosed, toClosed]);
        return [fromCode, String(fromReason), toCode, String(toReason)];
      }),
    );
    expect(results).toEqual(CLOSE_CODES.map((code) => [code, `reason ${code} ✓`, code, `reason ${code} ✓`]));
  });

  it('close without a code is 1005 on both sides', async () => {
    const pair = await (await pairing.start()).connect();
    const closed = [nextEvent<[number]>(pair.client, 'close'), nextEvent<[number]>(pair.server, 'close')];
    pair.client.close();
    expect((await Promise.all(closed)).map(([code]) => code)).toEqual([1005, 1005]);
  });

  it('terminate on one side is 1006 on the other', async () => {
    const pair = await (await pairing.start()).connect();
    const closed = nextEvent<[number]>(pair.server, 'close');
    pair.client.terminate();
    expect((await closed)[0]).toBe(1006);
  });

  it('subprotocol choice', async () => {
    const offered: string[][] = [];
    const server = await pairing.start({
      protocols: ['chat.v1', 'chat.v2'],
      handleProtocols: (protocols) => {
        offered.push([...protocols]);
        return protocols.has('chat.v2') ? 'chat.v2' : false;
      },
    });
    const pair = await server.connect();
    expect(offered).toEqual([['chat.v1', 'chat.v2']]);
    expect([pair.client.protocol, pair.server.protocol]).toEqual(['chat.v2', 'chat.v2']);
  });

  it('1,000 concurrent connections, 10 numbered messages each, echoed: none lost or reordered', { timeout: 20_000 * MS }, async () => {
    const CONNECTIONS = 1000;
    const MESSAGES = 10;
    const server = await pairing.start({ backlog: 1024 });
    const pairs: Array<{ server: Endpoint; client: Endpoint }> = [];
    // Open in waves so the accept queue never overflows (a dropped SYN costs a 1 s retry).
    for (let wave = 0; wave < CONNECTIONS; wave += 250) {
      pairs.push(...(await Promise.all(Array.from({ length: Math.min(250, CONNECTIONS - wave) }, () => server.connect()))));
    }
    expect(pairs).toHaveLength(CONNECTIONS);
    for (const { server: ws } of pairs) ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    const received = pairs.map(({ client: ws }) => collectMessages(ws, MESSAGES, 15_000 * MS));
    pairs.forEach(({ client: ws }, i) => {
      for (let n = 0; n < MESSAGES; n++) ws.send(`${i}:${n}`);
    });
    const all = await Promise.all(received);
    all.forEach((messages, i) => {
      const texts = messages.map(([data]) => String(data));
      const expected = Array.from({ length: MESSAGES }, (_, n) => `${i}:${n}`);
      if (texts.join() !== expected.join()) expect([i, texts]).toEqual([i, expected]);
    });
    const closed = pairs.map(({ server: ws }) => nextEvent(ws, 'close', 15_000 * MS));
    for (const { client: ws } of pairs) ws.close(1000);
    await Promise.all(closed);
  });
});

it('a Volley client and a ws client see the same Volley server messages', async () => {
  const { wss, url } = await startServer();
  wss.on('connection', (ws) => ws.send('same for everyone'));
  const volley = client(url);
  const peer = peerClient(url);
  const [[fromVolley], [fromPeer]] = await Promise.all([nextEvent(volley, 'message'), nextEvent(peer, 'message')]);
  expect(String(fromVolley)).toBe(String(fromPeer));
  await until(() => volley.readyState === WebSocket.OPEN && peer.readyState === PeerWebSocket.OPEN, 'both open');
});

describe("createWebSocketStream against ws's own", () => {
  /** Writes `data` in 64 KiB chunks into `duplex`, ends it, and resolves with all it reads back. */
  async function roundTrip(duplex: Duplex, data: Buffer): Promise<Buffer> {
    const chunks: Buffer[] = [];
    duplex.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = nextEvent(duplex, 'end');
    for (let offset = 0; offset < data.length; offset += 65536) duplex.write(data.subarray(offset, offset + 65536));
    // The echo comes back before our side ends: wait for all of it, then close.
    await until(() => chunks.reduce((n, c) => n + c.length, 0) >= data.length, 'the echo');
    duplex.end();
    await within(ended, 'the end of the stream');
    return Buffer.concat(chunks);
  }

  const data = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 7) & 0xff));

  it.each([
    ['a Volley server, a ws client', () => startServer({ maxPayload: 1 << 20 }), createWebSocketStream, (url: string) => createPeerWebSocketStream(peerClient(url))],
    ['a ws server, a Volley client', () => startPeerServer({ maxPayload: 1 << 20 }), createPeerWebSocketStream, (url: string) => createWebSocketStream(client(url))],
  ] as const)('%s, each through its own stream: the server echoes what the client writes', async (_name, start, serverStream, clientStream) => {
    const { wss, url } = await start();
    (wss as EventEmitter).on('connection', (ws: any) => {
      const duplex = serverStream(ws);
      duplex.on('error', () => {});
      duplex.pipe(duplex);
    });
    const echoed = await roundTrip(clientStream(url), data);
    expect(echoed.equals(data)).toBe(true);
  });
});
