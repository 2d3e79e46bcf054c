/**
 * Interoperability with a real browser, one suite for each engine: the browser's own
 * `WebSocket` against Volley servers, one attached to the http server that serves the
 * test page (path `/echo`) and others on ports of their own. The page runs each step on
 * command (see browser-page.ts) and reports what the browser saw; the server side is
 * checked here.
 *
 * Covered: text (multi-byte UTF-8, empty), binary with `binaryType` 'arraybuffer' and
 * 'blob', 1 MiB and 16 MiB each way, thousands of small messages in order, subprotocol
 * choice, permessage-deflate as the browser offers it (the exact offer and agreement,
 * small and large messages compressed both ways), both close handshakes, a server
 * ping, a refused upgrade and `terminate()`.
 *
 * One browser serves the whole file that runs the suite (browser-interop.test.ts for
 * Chromium, firefox-interop.test.ts for Firefox); without it the tests are skipped
 * (see browser-launcher.ts), unless `VOLLEY_REQUIRE_BROWSER=1`.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { UpgradeError, WebSocketServer, type ServerOptions, type WebSocket } from '../../src/index.js';
import { COMMAND_TIMEOUT, binaryEachWay, closeFromBrowser, closeFromServer, pattern, servePage, type BrowserPage } from './browser-page.js';
import { LAUNCH_TIMEOUT, type Browser } from './browser-launcher.js';
import { MS, collectMessages, nextEvent } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The browser a suite runs against. */
export interface BrowserClient {
  /** 'Chromium', 'Firefox': in the names of the tests. */
  readonly name: string;
  /** `useChromium`, `useFirefox`: skips or fails the tests without the browser. */
  use(start: () => Promise<void>): { readonly available: boolean };
  /** `launchChromium`, `launchFirefox`: the browser, showing `url`. */
  launch(url: string): Browser;
  /** permessage-deflate: the browser's offer, and the extension both sides report once agreed. */
  readonly deflate: { readonly offer: string; readonly agreed: string };
}

/** Defines the tests of the calling file: `client`'s `WebSocket` against Volley servers. */
export function browserInteropSuite(client: BrowserClient): void {
  let page: BrowserPage;
  /** The browser process. */
  let launched: Browser | undefined;
  /** A Volley server attached to the page's http server: echoes every message. */
  let echo: WebSocketServer;

  /** What a test opened on the Node side, closed after it. */
  const openedServers: WebSocketServer[] = [];

  const browserState = client.use(async () => {
    page = await servePage();
    echo = new WebSocketServer({ server: page.server, path: '/echo', maxPayload: 32 * MiB });
    echo.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    launched = client.launch(page.url);
    await Promise.race([page.loaded(LAUNCH_TIMEOUT), launched.exited]);
  });

  afterAll(async () => {
    await launched?.close();
    if (page === undefined) return;
    for (const ws of echo.clients) ws.terminate();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
    await page.close();
  });

  afterEach(async () => {
    if (!browserState.available) return;
    const closedInBrowser = page.run(`for (const [name, ws] of Object.entries(sockets)) { ws.close(); delete sockets[name]; }`);
    closedInBrowser.catch(() => {}); // reported below, once the servers are closed
    for (const ws of echo.clients) ws.terminate();
    for (const wss of openedServers.splice(0)) {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
    await closedInBrowser;
  });

  /** A Volley server on a port of its own, closed after the test; its `ws://` URL. */
  async function ownServer(options: Omit<ServerOptions, 'port' | 'host'>): Promise<{ wss: WebSocketServer; url: string }> {
    const wss = new WebSocketServer({ ...options, port: 0, host: '127.0.0.1' });
    openedServers.push(wss);
    await nextEvent(wss, 'listening');
    return { wss, url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}` };
  }

  interface Opened {
    /** The server's side of the connection. */
    server: WebSocket;
    /** The upgrade request the browser sent. */
    request: IncomingMessage;
    /** The browser's `protocol` and `extensions` once open. */
    browser: { protocol: string; extensions: string };
  }

  /**
   * Opens a WebSocket in the browser, kept as `sockets.ws`, to `url` of `wss` (the echo
   * server by default).
   */
  async function openFromBrowser(wss = echo, url = `${page.wsOrigin}/echo`, protocols?: string[]): Promise<Opened> {
    const connection = nextEvent<[WebSocket, IncomingMessage]>(wss, 'connection', COMMAND_TIMEOUT);
    const browser = await page.run<Opened['browser']>(
      `const ws = await open(args.url, args.protocols);
       sockets.ws = ws;
       return { protocol: ws.protocol, extensions: ws.extensions };`,
      { url, protocols },
    );
    const [server, request] = await connection;
    return { server, request, browser };
  }

  const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

  describe(`a Volley server with ${client.name} as the client`, () => {
    it('text, echoed: multi-byte UTF-8, an empty message and one over 64 KiB arrive as sent, as text', async () => {
      const { server } = await openFromBrowser();
      const texts = ['hello', 'é ✓ 日本語 🎉 𝄞', '', `${'long ✓ '.repeat(10_000)}end`];
      const atServer = collectMessages(server, texts.length);
      const echoed = await page.run<string[]>(
        `const got = messages(sockets.ws, args.texts.length);
         for (const text of args.texts) sockets.ws.send(text);
         return (await got).map((data) => (typeof data === 'string' ? data : 'not a string: ' + data));`,
        { texts },
      );
      expect((await atServer).map(([data, isBinary]) => [Buffer.from(data).toString('utf8'), isBinary])).toEqual(texts.map((text) => [text, false]));
      expect(echoed).toEqual(texts);
    });

    it.each(['arraybuffer', 'blob'])("binary, echoed, with binaryType '%s': every kind of source arrives byte for byte", async (binaryType) => {
      const { server } = await openFromBrowser();
      const atServer = collectMessages(server, 5);
      const echoed = await page.run<Array<{ type: string; hex: string }>>(
        `const ws = sockets.ws;
         ws.binaryType = args.binaryType;
         const got = messages(ws, 5);
         ws.send(new Uint8Array([0, 1, 2, 254, 255]));
         ws.send(new Uint16Array([0x0102, 0x0304, 0x0506]).subarray(1));       // a view with an offset
         ws.send(new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2));
         ws.send(new Blob([new Uint8Array([0xc3, 0x28]), 'blob ✓']));           // not UTF-8, sent as binary
         ws.send(new ArrayBuffer(0));
         return Promise.all((await got).map(async (data) => ({ type: data.constructor.name, hex: hex(await bytes(data)) })));`,
        { binaryType },
      );
      const expected = [
        '000102feff',
        Buffer.from(new Uint16Array([0x0304, 0x0506]).buffer).toString('hex'),
        '0807',
        Buffer.concat([Buffer.from([0xc3, 0x28]), Buffer.from('blob ✓')]).toString('hex'),
        '',
      ];
      expect((await atServer).map(([data, isBinary]) => [Buffer.from(data).toString('hex'), isBinary])).toEqual(expected.map((hex) => [hex, true]));
      const type = binaryType === 'blob' ? 'Blob' : 'ArrayBuffer';
      expect(echoed).toEqual(expected.map((hex) => ({ type, hex })));
    });

    it.each([
      ['1 MiB', 1 * MiB],
      ['16 MiB', 16 * MiB],
    ])('a %s binary message each way: the server gets the browser’s bytes, the browser the server’s', async (_name, size) => {
      const { server } = await openFromBrowser();
      expect(await binaryEachWay(page, server, size)).toEqual({
        server: { isBinary: true, length: size, asSent: true },
        browser: { type: 'ArrayBuffer', length: size, asSent: true },
      });
    });

    it('5,000 small messages each way arrive complete and in order', async () => {
      const COUNT = 5000;
      const { server } = await openFromBrowser();
      const atServer = collectMessages(server, COUNT, COMMAND_TIMEOUT);
      const echoed = await page.run<string[]>(
        `const got = messages(sockets.ws, args.count);
         for (let i = 0; i < args.count; i++) sockets.ws.send('#' + i);
         return await got;`,
        { count: COUNT },
      );
      const expected = Array.from({ length: COUNT }, (_, i) => `#${i}`);
      expect((await atServer).map(([data]) => String(data))).toEqual(expected);
      expect(echoed).toEqual(expected);
    });

    it("subprotocols: the browser offers ['a', 'b'], handleProtocols picks 'b', both sides agree", async () => {
      const offered: string[][] = [];
      const { wss, url } = await ownServer({
        handleProtocols: (protocols) => {
          offered.push([...protocols]);
          return 'b';
        },
      });
      const { server, request, browser } = await openFromBrowser(wss, url, ['a', 'b']);
      expect(request.headers['sec-websocket-protocol']).toBe('a, b');
      expect(offered).toEqual([['a', 'b']]);
      expect([server.protocol, browser.protocol]).toEqual(['b', 'b']);
    });

    describe(`permessage-deflate as ${client.name} offers it`, () => {
      /** A server that compresses every message (threshold 0) and echoes none. */
      async function deflateConnection(): Promise<Opened> {
        const { wss, url } = await ownServer({ perMessageDeflate: { threshold: 0 }, maxPayload: 32 * MiB });
        return openFromBrowser(wss, url);
      }

      it(`is negotiated: the offer is '${client.deflate.offer}', and both sides agree on '${client.deflate.agreed}'`, async () => {
        const { server, request, browser } = await deflateConnection();
        expect(request.headers['sec-websocket-extensions']).toBe(client.deflate.offer);
        expect([server.extensions, browser.extensions]).toEqual([client.deflate.agreed, client.deflate.agreed]);
      });

      const json = (size: number): string => {
        let text = '';
        for (let i = 0; text.length < size; i++) text += JSON.stringify({ id: i, name: `item ✓ ${i % 97}`, ok: i % 3 === 0 }) + ',';
        return text;
      };
      const messages: Array<[string, string | Buffer]> = [
        ['a small text (80 bytes)', 'hello ✓ '.repeat(8)],
        ['the same small text again (context takeover)', 'hello ✓ '.repeat(8)],
        ['a 100 KiB text (compressed on the thread pool)', json(100 * KiB)],
        ['a 4 MiB binary message', pattern(4 * MiB)],
      ];

      it('browser → server: each message arrives intact in fewer bytes than it has', async () => {
        const { server } = await deflateConnection();
        const socket = server.socket!;
        for (const [name, message] of messages) {
          const before = socket.bytesRead;
          const received = collectMessages(server, 1, COMMAND_TIMEOUT);
          await page.run(
            typeof message === 'string' ? `sockets.ws.send(args.message);` : `sockets.ws.send(pattern(args.size));`,
            typeof message === 'string' ? { message } : { size: message.length },
          );
          const [data, isBinary] = (await received)[0]!;
          const wire = socket.bytesRead - before;
          const size = Buffer.byteLength(message);
          expect([name, isBinary, Buffer.from(data).equals(Buffer.from(message))]).toEqual([name, typeof message !== 'string', true]);
          expect([name, wire < size]).toEqual([name, true]); // the frame header included
        }
      });

      it('server → browser: each message arrives intact, sent in fewer bytes than it has', async () => {
        const { server } = await deflateConnection();
        const socket = server.socket!;
        for (const [name, message] of messages) {
          const got = page.run<{ text?: string; sha256?: string }>(
            `sockets.ws.binaryType = 'arraybuffer';
             const [data] = await messages(sockets.ws, 1);
             return typeof data === 'string' ? { text: data } : { sha256: await sha256(data) };`,
          );
          await page.run(''); // the page runs commands in order of arrival: the one above listens now
          const before = socket.bytesWritten;
          await new Promise<void>((resolve, reject) => server.send(message, (error) => (error ? reject(error) : resolve())));
          const wire = socket.bytesWritten - before;
          expect([name, await got]).toEqual([name, typeof message === 'string' ? { text: message } : { sha256: sha256(message) }]);
          expect([name, wire < Buffer.byteLength(message)]).toEqual([name, true]);
        }
      });
    });

    describe('closing', () => {
      closingTests(
        () => page,
        async () => (await openFromBrowser()).server,
      );

      it('terminate() on the server: the browser sees 1006, not clean', async () => {
        const { server } = await openFromBrowser();
        const browser = page.run(`return await closeOf(sockets.ws);`);
        server.terminate();
        expect(await browser).toEqual({ code: 1006, reason: '', wasClean: false });
      });
    });

    it('a server ping is answered by the browser with a pong carrying its payload', async () => {
      const { server } = await openFromBrowser();
      for (const payload of [Buffer.from('are you there ✓'), Buffer.alloc(125, 0x61), Buffer.alloc(0)]) {
        const ponged = nextEvent<[Buffer]>(server, 'pong', COMMAND_TIMEOUT);
        server.ping(payload);
        expect((await ponged)[0].toString('hex')).toBe(payload.toString('hex'));
      }
    });

    it('an upgrade refused by authenticate (UpgradeError 401): the browser sees error, then close 1006', async () => {
      let asked = 0;
      const { wss, url } = await ownServer({
        authenticate: () => {
          asked++;
          throw new UpgradeError(401, 'no token');
        },
      });
      let connections = 0;
      wss.on('connection', () => connections++);
      const browser = await page.run(
        `const ws = new WebSocket(args.url);
         const events = [];
         for (const type of ['open', 'error', 'close']) ws.addEventListener(type, () => events.push(type));
         const closed = await within(new Promise((resolve) => ws.addEventListener('close', resolve)), 'close');
         return { events, ...closeFields(closed), readyState: ws.readyState };`,
        { url },
      );
      expect(browser).toEqual({ events: ['error', 'close'], code: 1006, reason: '', wasClean: false, readyState: 3 });
      expect([asked, connections]).toEqual([1, 0]);
    });
  });
}

/**
 * The close handshakes either side starts, and a close without a code from the browser:
 * defines their tests in the calling `describe`. `open` opens `sockets.ws` in the page
 * and gives the server's side.
 */
export function closingTests(page: () => BrowserPage, open: () => Promise<WebSocket>): void {
  it('by the browser with 4000 and a reason: the server sees both, the browser a clean close', async () => {
    expect(await closeFromBrowser(page(), await open(), 4000, 'done ✓')).toEqual({
      server: [4000, 'done ✓'],
      browser: { code: 4000, reason: 'done ✓', wasClean: true },
    });
  });

  it('by the browser without a code: 1005 on both sides, clean', async () => {
    expect(await closeFromBrowser(page(), await open())).toEqual({ server: [1005, ''], browser: { code: 1005, reason: '', wasClean: true } });
  });

  it('by the server with 1001 and a reason: the browser sees both, and a clean close', async () => {
    expect(await closeFromServer(page(), await open(), 1001, 'going away ✓')).toEqual({
      server: [1001, 'going away ✓'],
      browser: { code: 1001, reason: 'going away ✓', wasClean: true },
    });
  });
}
