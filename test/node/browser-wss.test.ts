/**
 * Interoperability with a real browser over TLS: headless Chromium's own `WebSocket`
 * opening `wss://` connections to Volley servers. The test page is served over HTTPS by
 * a node:https server that a Volley server is attached to (path `/echo`, the same
 * origin); another node:https server, listening on a port of its own, carries a Volley
 * server with permessage-deflate (another origin).
 *
 * Chromium trusts the self-signed certificate of helpers.ts through
 * `--ignore-certificate-errors-spki-list` (the SHA-256 of its public key), and nothing
 * else: any other certificate error still fails.
 *
 * Covered: text and binary echoed, 16 MiB each way, permessage-deflate negotiated over
 * TLS (compressed both ways), and both close handshakes with a code and a reason.
 *
 * One Chromium serves the whole file. Without Chromium the tests are skipped (see
 * chromium.ts), unless `VOLLEY_REQUIRE_BROWSER=1`.
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from '../../src/index.js';
import { closingTests } from './browser-interop-suite.js';
import { COMMAND_TIMEOUT, binaryEachWay, servePage, type BrowserPage } from './browser-page.js';
import { LAUNCH_TIMEOUT, launchChromium, useChromium, type Chromium } from './chromium.js';
import { MS, collectMessages, nextEvent, selfSignedCertificate } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const tls = selfSignedCertificate();
/** What `--ignore-certificate-errors-spki-list` takes: the base64 SHA-256 of the certificate's SubjectPublicKeyInfo. */
const spkiHash = createHash('sha256')
  .update(createPublicKey(tls.cert).export({ type: 'spki', format: 'der' }))
  .digest('base64');

let page: BrowserPage;
let chromium: Chromium | undefined;
/** A Volley server attached to the page's https server: echoes every message. */
let echo: WebSocketServer;
/** An https server on a port of its own, and a Volley server on it that compresses every message. */
let deflateHttps: HttpsServer | undefined;
let deflate: WebSocketServer;
let deflateUrl: string;

const chromiumState = useChromium(async () => {
  page = await servePage(tls);
  echo = new WebSocketServer({ server: page.server, path: '/echo', maxPayload: 32 * MiB });
  echo.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  deflateHttps = createHttpsServer(tls);
  deflate = new WebSocketServer({ server: deflateHttps, perMessageDeflate: { threshold: 0 } });
  deflateHttps.listen(0, '127.0.0.1');
  await nextEvent(deflateHttps, 'listening');
  deflateUrl = `wss://127.0.0.1:${(deflateHttps.address() as { port: number }).port}`;
  chromium = launchChromium(page.url, [`--ignore-certificate-errors-spki-list=${spkiHash}`]);
  await Promise.race([page.loaded(LAUNCH_TIMEOUT), chromium.exited]);
});

afterAll(async () => {
  await chromium?.close();
  if (page === undefined) return;
  for (const wss of [echo, deflate]) {
    if (wss === undefined) continue;
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
  if (deflateHttps !== undefined) {
    deflateHttps.closeAllConnections();
    await new Promise<void>((resolve) => deflateHttps!.close(() => resolve()));
  }
  await page.close();
});

afterEach(async () => {
  if (!chromiumState.available) return;
  const closedInBrowser = page.run(`for (const [name, ws] of Object.entries(sockets)) { ws.close(); delete sockets[name]; }`);
  closedInBrowser.catch(() => {}); // reported below, once the servers' connections are gone
  for (const wss of [echo, deflate]) for (const ws of wss.clients) ws.terminate();
  await closedInBrowser;
});

interface Opened {
  /** The server's side of the connection. */
  server: WebSocket;
  /** The upgrade request the browser sent. */
  request: IncomingMessage;
  /** What the browser reports once open. */
  browser: { url: string; extensions: string };
}

/** Opens a WebSocket in the browser, kept as `sockets.ws`, to `url` of `wss` (the echo server by default). */
async function openFromBrowser(wss = echo, url = `${page.wsOrigin}/echo`): Promise<Opened> {
  const connection = nextEvent<[WebSocket, IncomingMessage]>(wss, 'connection', COMMAND_TIMEOUT);
  const browser = await page.run<Opened['browser']>(
    `const ws = await open(args.url);
     sockets.ws = ws;
     return { url: ws.url, extensions: ws.extensions };`,
    { url },
  );
  const [server, request] = await connection;
  return { server, request, browser };
}

describe('a Volley server with Chromium as the client, over TLS (wss://)', () => {
  it('the page is https: and the connection is TLS on both sides', async () => {
    expect(page.url).toMatch(/^https:\/\//);
    const { server, request, browser } = await openFromBrowser();
    expect(browser.url).toBe(`${page.wsOrigin}/echo`);
    expect(browser.url).toMatch(/^wss:\/\//);
    const socket = server.socket as TLSSocket;
    expect([socket.encrypted, (request.socket as TLSSocket).encrypted]).toEqual([true, true]);
    expect(socket.getProtocol()).toMatch(/^TLSv1\.[23]$/);
  });

  it('text and binary, echoed: both arrive as sent, each as its own type', async () => {
    const { server } = await openFromBrowser();
    const text = `é ✓ 日本語 🎉 ${'over TLS '.repeat(2000)}`;
    const atServer = collectMessages(server, 2);
    const echoed = await page.run<Array<{ type: string; text?: string; hex?: string }>>(
      `const ws = sockets.ws;
       ws.binaryType = 'arraybuffer';
       const got = messages(ws, 2);
       ws.send(args.text);
       ws.send(new Uint8Array([0, 1, 2, 254, 255]));
       return (await got).map((data) => (typeof data === 'string' ? { type: 'string', text: data } : { type: data.constructor.name, hex: hex(new Uint8Array(data)) }));`,
      { text },
    );
    const received = (await atServer).map(([data, isBinary]) => [Buffer.from(data).toString(isBinary ? 'hex' : 'utf8'), isBinary]);
    expect(received).toEqual([
      [text, false],
      ['000102feff', true],
    ]);
    expect(echoed).toEqual([
      { type: 'string', text },
      { type: 'ArrayBuffer', hex: '000102feff' },
    ]);
  });

  it('a 16 MiB binary message each way: the server gets the browser’s bytes, the browser the server’s', async () => {
    const size = 16 * MiB;
    const { server } = await openFromBrowser();
    expect(await binaryEachWay(page, server, size)).toEqual({
      server: { isBinary: true, length: size, asSent: true },
      browser: { type: 'ArrayBuffer', length: size, asSent: true },
    });
  });

  it('permessage-deflate on an https server of its own (another origin): negotiated, and a 20 KiB text goes compressed both ways', async () => {
    const { server, request, browser } = await openFromBrowser(deflate, deflateUrl);
    expect(request.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
    expect([server.extensions, browser.extensions]).toEqual(['permessage-deflate', 'permessage-deflate']);
    const text = Array.from({ length: 400 }, (_, i) => `Sentence ${i} travels compressed over TLS. `)
      .join('')
      .slice(0, 20 * KiB);
    const socket = server.socket!;

    const readBefore = socket.bytesRead;
    const atServer = collectMessages(server, 1);
    await page.run(`sockets.ws.send(args.text);`, { text });
    expect(String((await atServer)[0]![0])).toBe(text);
    const read = socket.bytesRead - readBefore;

    const atBrowser = page.run<string[]>(`return await messages(sockets.ws, 1);`);
    await page.run(''); // the page runs commands in order of arrival: the one above listens now
    const writtenBefore = socket.bytesWritten;
    await new Promise<void>((resolve, reject) => server.send(text, (error) => (error ? reject(error) : resolve())));
    const written = socket.bytesWritten - writtenBefore;
    expect(await atBrowser).toEqual([text]);
    // On the wire, TLS records included: far less than the text's 20 KiB.
    expect({ read: read < text.length / 2, written: written < text.length / 2 }).toEqual({ read: true, written: true });
  });

  describe('closing', () => {
    closingTests(
      () => page,
      async () => (await openFromBrowser()).server,
    );
  });
});
