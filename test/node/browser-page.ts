/**
 * A test page that lets a test run code in a real browser, step by step, over plain
 * HTTP (never over the WebSocket under test): the page long-polls `POST /next` for a
 * command (the body of an async function, and its arguments as JSON), starts it and
 * polls again, and posts what the command returned (or threw) to `POST /result`, so
 * that commands can run side by side. `page.run(body, args)` on the Node side
 * resolves with that value.
 *
 * The page defines helpers for the commands (`open`, `next`, `messages`, `bytes`,
 * `sha256`, `pattern`, `closeOf`, `closeFields`) and a `sockets` object that keeps WebSockets from
 * one command to the next. Every wait in the page is bounded, and so is `run`.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { WebSocket } from '../../src/index.js';
import { MS, collectMessages, nextEvent, within } from './helpers.js';

/** The bound of a command, unless `run` is given another. */
export const COMMAND_TIMEOUT = 10_000 * MS;

/**
 * The bytes of `size` that the page's `pattern(size)` makes: not periodic over short
 * spans, so that a misplaced chunk shows.
 */
export function pattern(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >>> 11)) & 0xff;
  return bytes;
}

/**
 * Sends `size` bytes of `pattern` from the page's `sockets.ws` to `server`, which echoes
 * them: what the server received and what the page received back (its type, its length,
 * and whether its bytes are those sent, compared by SHA-256 in the page).
 */
export async function binaryEachWay(
  page: BrowserPage,
  server: WebSocket,
  size: number,
): Promise<{ server: { isBinary: boolean; length: number; asSent: boolean }; browser: { type: string; length: number; asSent: boolean } }> {
  const atServer = collectMessages(server, 1, 20_000 * MS);
  const inPage = await page.run<{ type: string; length: number; sha256: string }>(
    `const ws = sockets.ws;
     ws.binaryType = 'arraybuffer';
     const got = messages(ws, 1, 20000);
     ws.send(pattern(args.size));
     const [data] = await got;
     return { type: data.constructor.name, length: data.byteLength, sha256: await sha256(data) };`,
    { size },
    25_000 * MS,
  );
  const expected = pattern(size);
  const [data, isBinary] = (await atServer)[0]! as [Buffer, boolean];
  return {
    // Buffer#equals, not a deep equality of 16 MiB in the test, which takes minutes.
    server: { isBinary, length: data.length, asSent: data.equals(expected) },
    browser: { type: inPage.type, length: inPage.length, asSent: inPage.sha256 === createHash('sha256').update(expected).digest('hex') },
  };
}

/** How a close went on each side: the server's code and reason, and the browser's close event. */
export interface CloseSeen {
  server: [code: number, reason: string];
  browser: unknown;
}

/** The page closes `sockets.ws` (with `code` and `reason` when given): what each side saw. */
export async function closeFromBrowser(page: BrowserPage, server: WebSocket, code?: number, reason?: string): Promise<CloseSeen> {
  const closed = nextEvent<[number, Buffer]>(server, 'close', COMMAND_TIMEOUT);
  const browser = await page.run(`sockets.ws.close(...args.close); return await closeOf(sockets.ws);`, {
    close: code === undefined ? [] : reason === undefined ? [code] : [code, reason],
  });
  const [atServer, why] = await closed;
  return { server: [atServer, String(why)], browser };
}

/** The server closes with `code` and `reason`: what each side saw. */
export async function closeFromServer(page: BrowserPage, server: WebSocket, code: number, reason: string): Promise<CloseSeen> {
  const closed = nextEvent<[number, Buffer]>(server, 'close', COMMAND_TIMEOUT);
  const browser = page.run(`return await closeOf(sockets.ws);`);
  server.close(code, reason);
  const seen = await browser;
  const [atServer, why] = await closed;
  return { server: [atServer, String(why)], browser: seen };
}

/** Helpers available to every command; plain JavaScript, as the browser runs it. */
const PAGE_SCRIPT = String.raw`
const WAIT = ${COMMAND_TIMEOUT};
const sockets = {};

function within(promise, what, ms = WAIT) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out after ' + ms + ' ms waiting for ' + what)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The next event of this type. */
function next(target, type, ms = WAIT) {
  return within(new Promise((resolve) => target.addEventListener(type, resolve, { once: true })), 'a "' + type + '" event', ms);
}

/**
 * A WebSocket once open; rejects on error or close before that. Its close event is
 * kept from the start as ws.closed (a promise), so that none is missed between commands.
 */
function open(url, protocols) {
  const ws = new WebSocket(url, protocols);
  ws.closed = new Promise((resolve) => ws.addEventListener('close', resolve, { once: true }));
  return within(
    new Promise((resolve, reject) => {
      ws.onopen = () => { ws.onerror = ws.onclose = null; resolve(ws); };
      ws.onerror = () => reject(new Error('error before open'));
      ws.onclose = (e) => reject(new Error('closed before open: ' + e.code));
    }),
    'open',
  );
}

/** The data of the next count messages. */
function messages(ws, count, ms = WAIT) {
  const received = [];
  let listener;
  return within(
    new Promise((resolve) => {
      listener = (event) => {
        received.push(event.data);
        if (received.length === count) resolve(received);
      };
      ws.addEventListener('message', listener);
    }),
    count + ' messages (got ' + received.length + ')',
    ms,
  ).finally(() => ws.removeEventListener('message', listener));
}

/** A Blob, an ArrayBuffer or a view as a Uint8Array. */
async function bytes(data) {
  if (data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

function hex(u8) {
  return Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256(data) {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', await bytes(data))));
}

/** The same bytes as pattern(size) in browser-page.ts. */
function pattern(size) {
  const a = new Uint8Array(size);
  for (let i = 0; i < size; i++) a[i] = (i * 31 + (i >>> 11)) & 0xff;
  return a;
}

/** The close event of an opened WebSocket (see open), as plain fields. */
async function closeOf(ws, ms = WAIT) {
  return closeFields(await within(ws.closed, 'a "close" event', ms));
}

function closeFields(event) {
  return { code: event.code, reason: event.reason, wasClean: event.wasClean };
}

const AsyncFunction = (async () => {}).constructor;

async function serve() {
  for (;;) {
    let command;
    try {
      const response = await fetch('/next', { method: 'POST' });
      if (response.status === 204) return; // the test is over
      command = await response.json();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    execute(command); // not awaited: commands may run side by side
  }
}

async function execute(command) {
  let result;
  try {
    result = { ok: true, value: await new AsyncFunction('args', command.body)(command.args) };
  } catch (error) {
    // The message only: vitest would read the page's stack lines as its own and fail on them.
    result = { ok: false, error: String(error) };
  }
  await fetch('/result', { method: 'POST', body: JSON.stringify({ id: command.id, ...result }) });
}
serve();
`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>Volley browser tests</title><script>${PAGE_SCRIPT}</script>`;

interface Command {
  id: number;
  body: string;
  args: unknown;
}

/** The Node side of the page: an http server that serves it and hands it commands. */
export interface BrowserPage {
  readonly server: Server | HttpsServer;
  /** `http://127.0.0.1:port/` (`https:` with `tls`), the page. */
  readonly url: string;
  /** `ws://127.0.0.1:port` (`wss:` with `tls`), for WebSocketServers attached to `server`. */
  readonly wsOrigin: string;
  /** Resolves when the page has asked for its first command (it is loaded and running). */
  loaded(timeout: number): Promise<void>;
  /**
   * Runs `body` in the page as the body of an async function of `args` (JSON), bounded
   * by `timeout`; resolves with what it returns (JSON), rejects with what it throws.
   * While it runs, a test can act on the Node side.
   */
  run<T = unknown>(body: string, args?: Record<string, unknown>, timeout?: number): Promise<T>;
  /** Tells the page to stop and closes the server and its connections. */
  close(): Promise<void>;
}

/**
 * Serves the test page on 127.0.0.1, port 0: over HTTP, or over HTTPS with `tls` (a
 * key and certificate in PEM).
 */
export async function servePage(tls?: { key: string; cert: string }): Promise<BrowserPage> {
  const queue: Command[] = [];
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let poll: ServerResponse | undefined;
  let polled!: () => void;
  const firstPoll = new Promise<void>((resolve) => (polled = resolve));
  let nextId = 1;
  let closed = false;

  function dispatch(): void {
    if (poll === undefined) return;
    if (closed) {
      poll.writeHead(204).end();
      poll = undefined;
      return;
    }
    const command = queue.shift();
    if (command === undefined) return;
    poll.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(command));
    poll = undefined;
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  const handler: RequestListener = (req, res) => {
    if (req.method === 'GET' && req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(PAGE);
    } else if (req.method === 'POST' && req.url === '/next') {
      req.resume();
      poll?.writeHead(409).end(); // one page only
      poll = res;
      polled();
      dispatch();
    } else if (req.method === 'POST' && req.url === '/result') {
      readBody(req).then((text) => {
        res.writeHead(204).end();
        const result = JSON.parse(text) as { id: number; ok: boolean; value?: unknown; error?: string };
        const waiting = pending.get(result.id);
        pending.delete(result.id);
        if (result.ok) waiting?.resolve(result.value);
        else waiting?.reject(new Error(`in the browser: ${result.error}`));
      }, () => res.destroy());
    } else {
      res.writeHead(404).end(); // favicon.ico, and anything unexpected
    }
  };
  const server = tls === undefined ? createServer(handler) : createHttpsServer(tls, handler);
  server.listen(0, '127.0.0.1');
  await within(new Promise((resolve) => server.once('listening', resolve)), 'the page server to listen');
  const { port } = server.address() as { port: number };

  return {
    server,
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}/`,
    wsOrigin: `${tls === undefined ? 'ws' : 'wss'}://127.0.0.1:${port}`,
    loaded: (timeout) => within(firstPoll, 'the page to load', timeout),
    run<T>(body: string, args: Record<string, unknown> = {}, timeout = COMMAND_TIMEOUT): Promise<T> {
      const id = nextId++;
      const result = new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      });
      queue.push({ id, body, args });
      dispatch();
      // A little more than the page's own bounds, so that its message wins when it has one.
      return within(result, `the browser to run: ${body.trim().split('\n')[0]}`, timeout + 2000 * MS).finally(() => pending.delete(id));
    },
    async close() {
      closed = true;
      dispatch();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
