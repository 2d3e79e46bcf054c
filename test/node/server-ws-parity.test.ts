/**
 * The WebSocketServer next to ws's: each scenario runs against `ws` and against Volley
 * over real sockets, and the two must behave alike (or differ as the README says).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import * as wsLib from 'ws';
import * as Volley from '../../src/index.js';
import { closeAll, delay, listen, nextEvent, rawConnect, rawRequest, track, until, upgradeRequest, within } from './helpers.js';

afterEach(closeAll);

type Impl = { name: 'ws' | 'volley'; WebSocketServer: any; WebSocket: any };
const impls: Impl[] = [
  { name: 'ws', WebSocketServer: wsLib.WebSocketServer, WebSocket: wsLib.WebSocket },
  { name: 'volley', WebSocketServer: Volley.WebSocketServer, WebSocket: Volley.WebSocket },
];

/** Runs `scenario` for ws and for Volley, and returns what each gave, by name. */
async function both<T>(scenario: (impl: Impl) => Promise<T> | T): Promise<{ ws: T; volley: T }> {
  const results: Record<string, T> = {};
  for (const impl of impls) results[impl.name] = await scenario(impl);
  return results as { ws: T; volley: T };
}

/** Closes a server of either library: its clients terminated, then `close(cb)`. */
function trackWss(wss: any): any {
  return track(wss, async (server: any) => {
    for (const ws of server.clients ?? []) ws.terminate();
    await within(new Promise<void>((resolve) => server.close(() => resolve())), 'the server to close');
  });
}

/** An http server on 127.0.0.1 whose upgrades `onUpgrade` handles. */
async function httpServer(onUpgrade?: (req: IncomingMessage, socket: Socket, head: Buffer) => void): Promise<{ server: HttpServer; port: number }> {
  const server = createHttpServer();
  if (onUpgrade !== undefined) server.on('upgrade', onUpgrade);
  const port = await listen(server);
  return { server, port };
}

/** The status of the answer to an upgrade request for `path`, and what came after that answer within 100 ms. */
async function upgrade(port: number, path = '/'): Promise<{ status: number; after: string }> {
  const { status, raw } = await rawRequest(port, upgradeRequest({ path }));
  await delay(100);
  return { status, after: raw.buffer.toString('latin1') };
}

describe('constructor options, as ws reads them', () => {
  it('a port of null, a null server or a falsy noServer count as not given; a truthy noServer counts', async () => {
    const cases: Array<(server: HttpServer) => Record<string, unknown>> = [
      (server) => ({ port: null, server }),
      () => ({ server: null, noServer: true }),
      () => ({ noServer: 1 }),
      (server) => ({ server, port: null, noServer: false }),
      () => ({ port: null, noServer: true }),
      () => ({ noServer: false }),
      (server) => ({ port: 0, server }),
      (server) => ({ server, noServer: true }),
    ];
    const http = createHttpServer();
    const results = await both(({ WebSocketServer }) =>
      cases.map((options) => {
        try {
          const wss = new WebSocketServer(options(http));
          wss.close();
          return 'ok';
        } catch (error) {
          return (error as Error).constructor.name;
        }
      }),
    );
    expect(results.ws).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'TypeError', 'TypeError', 'TypeError']);
    expect(results.volley).toEqual(results.ws);
  });
});

describe('handleUpgrade', () => {
  it('called twice with one socket: the second call throws, as in ws; one 101 is written', async () => {
    const results = await both(async ({ WebSocketServer }) => {
      const wss = trackWss(new WebSocketServer({ noServer: true }));
      const calls: string[] = [];
      const { port } = await httpServer((req, socket, head) => {
        wss.handleUpgrade(req, socket, head, () => calls.push('first'));
        try {
          wss.handleUpgrade(req, socket, head, () => calls.push('second'));
        } catch (error) {
          calls.push(`throws: ${(error as Error).message}`);
        }
      });
      const { status, after } = await upgrade(port);
      return { status, secondResponse: after.includes('HTTP/1.1'), calls };
    });
    expect(results.ws).toEqual({
      status: 101,
      secondResponse: false,
      calls: ['first', 'throws: server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration'],
    });
    expect(results.volley).toEqual(results.ws);
  });

  it('with noServer, a request for a path other than `path` is answered 400, as in ws', async () => {
    const results = await both(async ({ WebSocketServer }) => {
      const wss = trackWss(new WebSocketServer({ noServer: true, path: '/ws' }));
      let connections = 0;
      const { port } = await httpServer((req, socket, head) => wss.handleUpgrade(req, socket, head, () => connections++));
      const other = await upgrade(port, '/other');
      const right = await upgrade(port, '/ws?x=1');
      return { other: other.status, right: right.status, connections };
    });
    expect(results.ws).toEqual({ other: 400, right: 101, connections: 1 });
    expect(results.volley).toEqual(results.ws);
  });

  it('a shouldHandle of a subclass decides for handleUpgrade too, as in ws', async () => {
    const results = await both(async ({ WebSocketServer }) => {
      const Base: new (options: object) => any = WebSocketServer;
      class Only extends Base {
        shouldHandle(req: { url?: string }): boolean {
          return req.url === '/mine';
        }
      }
      const wss = trackWss(new Only({ noServer: true }));
      const { port } = await httpServer((req, socket, head) => wss.handleUpgrade(req, socket, head, () => {}));
      return [(await upgrade(port, '/mine')).status, (await upgrade(port, '/theirs')).status];
    });
    expect(results.ws).toEqual([101, 400]);
    expect(results.volley).toEqual(results.ws);
  });
});

describe('close(callback)', () => {
  for (const mode of ['server', 'noServer'] as const) {
    it(`with ${mode}: 'close' and the callback wait for the open connections to close, as in ws; the http server stays up`, async () => {
      const results = await both(async ({ WebSocketServer, WebSocket }) => {
        const http = createHttpServer();
        const wss = trackWss(new WebSocketServer(mode === 'server' ? { server: http } : { noServer: true }));
        if (mode === 'noServer') http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws: any) => wss.emit('connection', ws, req)));
        const port = await listen(http);
        const log: string[] = [];
        const connection = nextEvent(wss, 'connection');
        const client = track(new WebSocket(`ws://127.0.0.1:${port}`), (ws: any) => ws.terminate());
        await nextEvent(client, 'open');
        await connection;
        wss.on('close', () => log.push(`close event, clients ${wss.clients.size}`));
        wss.close((error?: Error) => log.push(`callback ${error?.message}`));
        await delay(100);
        log.push('client closes');
        client.close();
        await nextEvent(client, 'close');
        await delay(50);
        log.push(`http server listening: ${http.listening}`);
        return log;
      });
      expect(results.ws).toEqual(['client closes', 'close event, clients 0', 'callback undefined', 'http server listening: true']);
      expect(results.volley).toEqual(results.ws);
    });
  }

  it('with noServer and clientTracking false: at once, as in ws', async () => {
    const results = await both(async ({ WebSocketServer }) => {
      const wss = new WebSocketServer({ noServer: true, clientTracking: false });
      const log: string[] = [];
      wss.on('close', () => log.push('close event'));
      wss.close((error?: Error) => log.push(`callback ${error?.message}`));
      await delay(20);
      return log;
    });
    expect(results.ws).toEqual(['close event', 'callback undefined']);
    expect(results.volley).toEqual(results.ws);
  });

  it('on a server closed already: the callback gets an error, as in ws', async () => {
    const results = await both(async ({ WebSocketServer }) => {
      const wss = new WebSocketServer({ noServer: true });
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      const error = await within(new Promise<Error | undefined>((resolve) => wss.close(resolve)), 'the second callback');
      return error?.message;
    });
    expect(results.ws).toBe('The server is not running');
    expect(results.volley).toBe(results.ws);
  });

  it('close(cb) while an asynchronous verifyClient is pending: both answer 503 when it accepts', async () => {
    const results = await both(async ({ WebSocketServer }) => {
      const http = createHttpServer();
      const wss = trackWss(new WebSocketServer({ server: http, verifyClient: (_info: unknown, cb: (ok: boolean) => void) => setTimeout(() => cb(true), 50) }));
      const port = await listen(http);
      const raw = await rawConnect(port);
      raw.write(upgradeRequest());
      await delay(20);
      wss.close(() => {});
      await raw.waitClosed();
      return raw.buffer.toString('latin1').split('\r\n')[0];
    });
    expect(results).toEqual({ ws: 'HTTP/1.1 503 Service Unavailable', volley: 'HTTP/1.1 503 Service Unavailable' });
  });

  it('on its own port, close(cb) answers 503 to a request still arriving and to an authenticate still pending, then closes its listener', async () => {
    let release: () => void = () => {};
    const wss = trackWss(
      new Volley.WebSocketServer({
        port: 0,
        host: '127.0.0.1',
        heartbeat: false,
        authenticate: () => new Promise<void>((resolve) => (release = resolve)),
      }),
    );
    await nextEvent(wss, 'listening');
    const port = wss.address().port;
    const authenticating = await rawConnect(port);
    authenticating.write(upgradeRequest());
    const arriving = await rawConnect(port);
    const request = upgradeRequest();
    arriving.write(request.slice(0, 20));
    await delay(30);
    let closed = false;
    wss.close(() => (closed = true));
    await delay(30);
    expect([closed, authenticating.received, arriving.received]).toEqual([false, 0, 0]);
    arriving.write(request.slice(20));
    expect((await arriving.readResponse()).status).toBe(503);
    release();
    expect((await authenticating.readResponse()).status).toBe(503);
    await Promise.all([arriving.waitClosed(), authenticating.waitClosed()]);
    await until(() => closed, 'the close callback');
  });
});

describe('the WebSocket option', () => {
  it("a subclass is constructed with ws's arguments: (null, undefined, the server's options)", async () => {
    const results = await both(async ({ WebSocketServer, WebSocket }) => {
      const seen: unknown[] = [];
      const Base: new (...args: any[]) => any = WebSocket;
      class Tagged extends Base {
        constructor(address: null, protocols: undefined, options: { tag?: string }) {
          super(address, protocols, options);
          seen.push([address, protocols, options?.tag]);
        }
      }
      const wss = trackWss(new WebSocketServer({ port: 0, host: '127.0.0.1', WebSocket: Tagged, tag: 'mine' }));
      await nextEvent(wss, 'listening');
      const connection = nextEvent(wss, 'connection');
      const client = track(new WebSocket(`ws://127.0.0.1:${wss.address().port}`), (ws: any) => ws.terminate());
      const [ws] = await connection;
      await nextEvent(client, 'open');
      return { seen, tagged: ws instanceof Tagged };
    });
    expect(results.ws).toEqual({ seen: [[null, undefined, 'mine']], tagged: true });
    expect(results.volley).toEqual(results.ws);
  });
});

describe('address()', () => {
  it('in each mode, before listening, listening and after close(cb), as in ws', async () => {
    const results = await both(async ({ WebSocketServer }) => {
      const read = (wss: any): unknown => {
        try {
          const address = wss.address();
          return address === null ? null : typeof address;
        } catch (error) {
          return `throws ${(error as Error).constructor.name}`;
        }
      };
      const http = createHttpServer();
      const attached = new WebSocketServer({ server: http });
      const before = read(attached);
      await listen(http);
      const listening = read(attached);
      await new Promise<void>((resolve) => attached.close(() => resolve()));
      const own = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      await nextEvent(own, 'listening');
      const ownListening = read(own);
      await new Promise<void>((resolve) => own.close(() => resolve()));
      const noServer = new WebSocketServer({ noServer: true });
      const noServerAddress = read(noServer);
      noServer.close();
      return { before, listening, afterClose: read(attached), ownListening, ownAfterClose: read(own), noServerAddress };
    });
    expect(results.ws).toEqual({
      before: null,
      listening: 'object',
      afterClose: null,
      ownListening: 'object',
      ownAfterClose: null,
      noServerAddress: 'throws Error',
    });
    expect(results.volley).toEqual(results.ws);
  });
});

/** The status of the answer to `request` on a server of its own, made with `options`, and whether a connection was made. */
async function answer(impl: Impl, request: string, options: Record<string, unknown> = {}): Promise<{ status: number; connected: boolean; errors: string[] }> {
  const wss = trackWss(new impl.WebSocketServer({ port: 0, host: '127.0.0.1', ...options }));
  const errors: string[] = [];
  let connected = false;
  wss.on('error', (error: Error) => errors.push(error.message));
  wss.on('connection', (ws: any) => {
    connected = true;
    ws.terminate();
  });
  await nextEvent(wss, 'listening');
  const { status, raw } = await rawRequest(wss.address().port, request);
  await delay(50);
  raw.socket.destroy();
  return { status, connected, errors };
}

describe('differences left as they are (observed)', () => {
  it('handleProtocols choosing a subprotocol the client did not offer: ws answers 101 with it; Volley 500 and an error event (RFC 6455 §4.2.2)', async () => {
    const request = upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'a, b' } });
    const results = await both((impl) => answer(impl, request, { handleProtocols: () => 'c' }));
    expect(results.ws).toEqual({ status: 101, connected: true, errors: [] });
    expect(results.volley).toEqual({ status: 500, connected: false, errors: ['handleProtocols chose "c", which the client did not offer'] });
  });

  it('own port, an HTTP/1.0 upgrade request: ws upgrades it; Volley answers 400 (RFC 6455 §4.1: HTTP/1.1 or later)', async () => {
    const results = await both((impl) => answer(impl, upgradeRequest({ version: '1.0' })));
    expect(results.ws.status).toBe(101);
    expect(results.volley.status).toBe(400);
  });

  it('own port, no Host header: ws upgrades it; Volley answers 400 (RFC 6455 §4.1, RFC 9112 §3.2)', async () => {
    const results = await both((impl) => answer(impl, upgradeRequest({ headers: { Host: null } })));
    expect(results.ws.status).toBe(101);
    expect(results.volley.status).toBe(400);
  });

  it('Upgrade: "websocket, foo": ws answers 400; Volley upgrades (RFC 6455 §4.2.1: the field contains "websocket")', async () => {
    const results = await both((impl) => answer(impl, upgradeRequest({ headers: { Upgrade: 'websocket, foo' } })));
    expect(results.ws.status).toBe(400);
    expect(results.volley.status).toBe(101);
  });

  it('perMessageDeflate.clientMaxWindowBits with an offer without client_max_window_bits: ws answers 400; Volley upgrades without the extension (RFC 7692 §7.1.2.2)', async () => {
    const request = upgradeRequest({ headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } });
    const results = await both((impl) => answer(impl, request, { perMessageDeflate: { clientMaxWindowBits: 10 } }));
    expect(results.ws.status).toBe(400);
    expect(results.volley.status).toBe(101);
  });

  it('malformed permessage-deflate offers: ws answers 400, or reads a value like "010" as the number; Volley declines each (RFC 7692 §7)', async () => {
    const offers = [
      'permessage-deflate; foo',
      'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
      'permessage-deflate; server_max_window_bits=16',
      'permessage-deflate; server_max_window_bits=010',
      'permessage-deflate; client_max_window_bits=09',
    ];
    const results = await both(async (impl) => {
      const wss = trackWss(new impl.WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true }));
      await nextEvent(wss, 'listening');
      const answers: string[] = [];
      for (const offer of offers) {
        const { status, headers, raw } = await rawRequest(wss.address().port, upgradeRequest({ headers: { 'Sec-WebSocket-Extensions': offer } }));
        raw.socket.destroy();
        answers.push(`${status} ${headers['sec-websocket-extensions'] ?? '-'}`);
      }
      return answers;
    });
    expect(results.ws).toEqual(['400 -', '400 -', '400 -', '101 permessage-deflate; server_max_window_bits=10', '101 permessage-deflate; client_max_window_bits=9']);
    expect(results.volley).toEqual(['101 -', '101 -', '101 -', '101 -', '101 -']);
  });

  it('Sec-WebSocket-Protocol with an empty list element ("a,,b"): ws answers 400; Volley ignores it (RFC 9110 §5.6.1)', async () => {
    const request = upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'a,,b' } });
    const results = await both((impl) => answer(impl, request));
    expect(results.ws.status).toBe(400);
    expect(results.volley.status).toBe(101);
  });

  it("close(cb) on a closed server: ws emits 'close' again; Volley does not", async () => {
    const results = await both(async ({ WebSocketServer }) => {
      const wss = new WebSocketServer({ noServer: true });
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      let closeEvents = 0;
      wss.on('close', () => closeEvents++);
      await new Promise((resolve) => wss.close(resolve));
      await delay(10);
      return closeEvents;
    });
    expect(results).toEqual({ ws: 1, volley: 0 });
  });

  it('clientTracking: false: ws has no clients (undefined); Volley an empty Set', async () => {
    const results = await both(({ WebSocketServer }) => {
      const wss = new WebSocketServer({ noServer: true, clientTracking: false });
      wss.close();
      return wss.clients instanceof Set ? `Set of ${wss.clients.size}` : String(wss.clients);
    });
    expect(results).toEqual({ ws: 'undefined', volley: 'Set of 0' });
  });

  it('wss.options: ws fills in its defaults; Volley keeps the options as given', async () => {
    const results = await both(({ WebSocketServer }) => {
      const wss = new WebSocketServer({ noServer: true });
      wss.close();
      return { maxPayload: wss.options.maxPayload, clientTracking: wss.options.clientTracking, path: wss.options.path };
    });
    expect(results.ws).toEqual({ maxPayload: 104857600, clientTracking: true, path: null });
    expect(results.volley).toEqual({ maxPayload: undefined, clientTracking: undefined, path: undefined });
  });
});
