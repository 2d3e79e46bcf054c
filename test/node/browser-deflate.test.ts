/**
 * permessage-deflate parameters that a Volley server asks for, against headless
 * Chromium's own `WebSocket` (which offers `permessage-deflate; client_max_window_bits`):
 * no context takeover for either side, and small windows for either side. One Volley
 * server per configuration, on a port of its own, compressing every message.
 *
 * For each, both sides must report the same agreed extension, and messages both ways
 * must arrive intact in the number of bytes the parameters allow, and no fewer:
 * - the same 20 KiB text sent five times: with context takeover and a full window, the
 *   later copies are a few bytes (back-references into the previous copy); without
 *   context takeover, or with a small window, each costs as much as the first;
 * - a 16 KiB text made of one random 1 KiB block repeated: it compresses only when the
 *   window reaches 1 KiB back, so with 8 or 9 window bits it stays about its size.
 * A peer that ignored a parameter would either send fewer bytes than these allow or
 * fail to be decoded: Volley inflates with the agreed window and context (Chromium
 * does not, it decodes a server's full window whatever was agreed, so there only the
 * byte counts catch a server that ignores its own limit). A configuration without
 * parameters is the contrast. Asked for 8 window bits, Chromium compresses with zlib's
 * 9, whose matches reach back at most 250 bytes: within 8 bits, and inflated by Volley.
 *
 * One Chromium serves the whole file. Without Chromium the tests are skipped (see
 * chromium.ts), unless `VOLLEY_REQUIRE_BROWSER=1`.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type PerMessageDeflateOptions, type WebSocket } from '../../src/index.js';
import { COMMAND_TIMEOUT, servePage, type BrowserPage } from './browser-page.js';
import { LAUNCH_TIMEOUT, launchChromium, useChromium, type Chromium } from './chromium.js';
import { collectMessages, nextEvent } from './helpers.js';

const KiB = 1024;
/** How many times the 20 KiB text is sent each way. */
const COPIES = 5;

let page: BrowserPage;
let chromium: Chromium | undefined;

/** What a test opened on the Node side, closed after it. */
const openedServers: WebSocketServer[] = [];

const chromiumState = useChromium(async () => {
  page = await servePage();
  chromium = launchChromium(page.url);
  await Promise.race([page.loaded(LAUNCH_TIMEOUT), chromium.exited]);
});

afterAll(async () => {
  await chromium?.close();
  await page?.close();
});

afterEach(async () => {
  if (!chromiumState.available) return;
  const closedInBrowser = page.run(`for (const [name, ws] of Object.entries(sockets)) { ws.close(); delete sockets[name]; }`);
  closedInBrowser.catch(() => {}); // reported below, once the servers are closed
  for (const wss of openedServers.splice(0)) {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
  await closedInBrowser;
});

/** A Volley server on a port of its own that compresses every message, with `options`; the browser connected to it as `sockets.ws`. */
async function connect(options: PerMessageDeflateOptions): Promise<{ server: WebSocket; request: IncomingMessage; browserExtensions: string }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0, ...options } });
  openedServers.push(wss);
  await nextEvent(wss, 'listening');
  const connection = nextEvent<[WebSocket, IncomingMessage]>(wss, 'connection', COMMAND_TIMEOUT);
  const browserExtensions = await page.run<string>(`sockets.ws = await open(args.url); return sockets.ws.extensions;`, {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`,
  });
  const [server, request] = await connection;
  return { server, request, browserExtensions };
}

/**
 * The next message of `ws`; rejects if it closes first (on a message it could not
 * inflate), with the error it reported.
 */
async function nextMessage(ws: WebSocket): Promise<[Buffer, boolean]> {
  let failure: Error | undefined;
  const onError = (error: Error): void => void (failure ??= error);
  ws.on('error', onError);
  const closed = nextEvent<[number, Buffer]>(ws, 'close', COMMAND_TIMEOUT).then(([code]) => {
    throw new Error(`the server's connection closed with ${code} before the message: ${failure?.message ?? 'no error'}`);
  });
  closed.catch(() => {}); // the message usually wins
  try {
    const [[data, isBinary]] = (await Promise.race([collectMessages(ws, 1, COMMAND_TIMEOUT), closed])) as [[Buffer, boolean]];
    return [data, isBinary];
  } finally {
    ws.off('error', onError);
  }
}

/** 20 KiB of sentences that differ in their numbers: compressible, but not periodic within a small window. */
const sentences = Array.from({ length: 1000 }, (_, i) => `Sentence ${i} of the text, with the number ${(i * 7919) % 1009} in it. `)
  .join('')
  .slice(0, 20 * KiB);
/** One random 1 KiB block (base64), sixteen times: its repeats are 1 KiB back, past a 512-byte window. */
const farRepeats = randomBytes(768).toString('base64').repeat(16);

/** What the sizes on the wire say about how a message was compressed. */
interface Compression {
  /** Whether the first copy of the 20 KiB text took fewer bytes than it has. */
  firstCopyCompressed: boolean;
  /** How the later copies compare to the first. */
  laterCopies: string;
  /** How the 16 KiB of 1 KiB repeats compressed. */
  farRepeats: string;
}

/** `wire` holds the bytes on the wire of the COPIES copies of `sentences`, then of `farRepeats`. */
function classify(wire: number[]): Compression {
  const [first, ...later] = wire.slice(0, COPIES) as [number, ...number[]];
  const far = wire[COPIES]!;
  return {
    firstCopyCompressed: first < sentences.length,
    laterCopies: later.every((bytes) => bytes < first / 4)
      ? 'a fraction of the first (context taken over)'
      : later.every((bytes) => bytes > (first * 3) / 4)
        ? 'as many bytes as the first'
        : `mixed: ${wire.slice(0, COPIES).join(', ')} bytes`,
    farRepeats:
      far < farRepeats.length / 4
        ? 'a fraction of its size (back-references past 512 bytes)'
        : far > farRepeats.length / 2
          ? 'more than half its size (no back-references past the window)'
          : `${far} bytes`,
  };
}

/** What `classify` must find for a direction with these parameters. */
function expected(windowBits: number, contextTakeover: boolean): Compression {
  const fullWindow = windowBits === 15;
  return {
    firstCopyCompressed: true,
    laterCopies: contextTakeover && fullWindow ? 'a fraction of the first (context taken over)' : 'as many bytes as the first',
    farRepeats: fullWindow ? 'a fraction of its size (back-references past 512 bytes)' : 'more than half its size (no back-references past the window)',
  };
}

/** The messages of one direction, in order. */
const MESSAGES = [...Array.from({ length: COPIES }, () => sentences), farRepeats];

const CASES: Array<[string, PerMessageDeflateOptions, string]> = [
  ['no parameters (the contrast)', {}, 'permessage-deflate'],
  ['serverNoContextTakeover', { serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover'],
  ['clientNoContextTakeover', { clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover'],
  ['serverMaxWindowBits 9', { serverMaxWindowBits: 9 }, 'permessage-deflate; server_max_window_bits=9'],
  ['serverMaxWindowBits 8', { serverMaxWindowBits: 8 }, 'permessage-deflate; server_max_window_bits=8'],
  ['clientMaxWindowBits 9', { clientMaxWindowBits: 9 }, 'permessage-deflate; client_max_window_bits=9'],
  ['clientMaxWindowBits 8', { clientMaxWindowBits: 8 }, 'permessage-deflate; client_max_window_bits=8'],
];

describe('permessage-deflate parameters a Volley server asks of Chromium', () => {
  it.each(CASES)('%s: both sides agree on the extension, and both honour it', async (_name, options, extensions) => {
    const { server, request, browserExtensions } = await connect(options);
    expect(request.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
    expect({ server: server.extensions, browser: browserExtensions }).toEqual({ server: extensions, browser: extensions });
    const socket = server.socket!;

    // Browser → server, one message at a time, each measured on the server's socket.
    const read: number[] = [];
    for (const message of MESSAGES) {
      const before = socket.bytesRead;
      const [[data, isBinary]] = await Promise.all([nextMessage(server), page.run(`sockets.ws.send(args.message);`, { message })]);
      read.push(socket.bytesRead - before);
      expect([isBinary, String(data) === message]).toEqual([false, true]);
    }

    // Server → browser: the page listens for all of them, the server sends one at a time.
    const atBrowser = page.run<boolean[]>(
      `const closed = sockets.ws.closed.then((event) => { throw new Error('closed with ' + event.code + ' ' + event.reason); });
       const got = await Promise.race([messages(sockets.ws, args.expected.length), closed]);
       return got.map((data, i) => data === args.expected[i]);`,
      { expected: MESSAGES },
    );
    await page.run(''); // the page runs commands in order of arrival: the one above listens now
    const written: number[] = [];
    for (const message of MESSAGES) {
      const before = socket.bytesWritten;
      await new Promise<void>((resolve, reject) => server.send(message, (error) => (error ? reject(error) : resolve())));
      written.push(socket.bytesWritten - before);
    }
    expect(await atBrowser).toEqual(MESSAGES.map(() => true));

    expect({
      'browser → server': classify(read),
      'server → browser': classify(written),
    }).toEqual({
      'browser → server': expected(options.clientMaxWindowBits ?? 15, !options.clientNoContextTakeover),
      'server → browser': expected(options.serverMaxWindowBits ?? 15, !options.serverNoContextTakeover),
    });
  });
});
