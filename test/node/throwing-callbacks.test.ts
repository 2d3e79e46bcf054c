/**
 * Exceptions thrown by the application's listeners, callbacks and hooks are the
 * application's: uncaught, as with any EventEmitter. Volley's own state must not suffer
 * from them: the connection still closes once, the handshake still ends, the server
 * still closes, callbacks are still called, timers stop.
 */
import { execFile } from 'node:child_process';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from '../../src/index.js';
import { collectingRejections, collectingUncaught } from '../support/sockets.js';
import { closeAll, connectPair, delay, nextEvent, rawConnect, rawUpgrade, startRawServer, startServer, until, upgradeRequest } from './helpers.js';

afterEach(closeAll);

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs `body` with uncaught exceptions and unhandled rejections collected. */
function collecting(body: (uncaught: Error[], rejections: unknown[]) => Promise<void>): Promise<void> {
  return collectingRejections((rejections) => collectingUncaught((uncaught) => body(uncaught, rejections)));
}

const bug = (what: string) => () => {
  throw new Error(`bug in ${what}`);
};

describe('client handshake', () => {
  it("an 'error' listener that throws for a failed handshake: 'close' 1006 still comes", async () => {
    await collecting(async (uncaught, rejections) => {
      const { port } = await startRawServer((socket) => socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'));
      const ws = new WebSocket(`ws://127.0.0.1:${port}`);
      ws.on('error', bug('an error listener'));
      const [code] = await nextEvent<[number]>(ws, 'close');
      expect(code).toBe(1006);
      expect(ws.readyState).toBe(WebSocket.CLOSED);
      await until(() => uncaught.length === 1, 'the exception');
      expect(uncaught[0]!.message).toBe('bug in an error listener');
      expect(rejections).toEqual([]);
    });
  });

  it("an 'upgrade' listener that throws: the connection opens all the same", async () => {
    await collecting(async (uncaught) => {
      const { url } = await startServer();
      const ws = new WebSocket(url);
      ws.on('upgrade', bug('an upgrade listener'));
      await nextEvent(ws, 'open');
      await until(() => uncaught.length === 1, 'the exception');
      expect(uncaught[0]!.message).toBe('bug in an upgrade listener');
      ws.close();
      await nextEvent(ws, 'close');
    });
  });

  it("a 'redirect' listener that throws: the redirect is followed all the same", async () => {
    await collecting(async (uncaught) => {
      const { url } = await startServer();
      const { port } = await startRawServer((socket) => socket.end(`HTTP/1.1 302 Found\r\nLocation: ${url}\r\nContent-Length: 0\r\n\r\n`));
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, { followRedirects: true });
      ws.on('redirect', bug('a redirect listener'));
      await nextEvent(ws, 'open');
      expect(uncaught.map((error) => error.message)).toEqual(['bug in a redirect listener']);
      ws.close();
      await nextEvent(ws, 'close');
    });
  });

  it("a client's heartbeat stops when it closes, also when a 'close' listener before it throws", async () => {
    await collecting(async (uncaught) => {
      const { url } = await startServer();
      const ws = new WebSocket(url, { heartbeat: { interval: 50, timeout: 50 } });
      ws.on('close', bug('a close listener'));
      await nextEvent(ws, 'open');
      const clearInterval = vi.spyOn(globalThis, 'clearInterval');
      try {
        ws.close();
        await until(() => ws.readyState === WebSocket.CLOSED, 'the close');
        expect(clearInterval).toHaveBeenCalled();
      } finally {
        clearInterval.mockRestore();
      }
      await until(() => uncaught.length === 1, 'the exception');
    });
  });
});

describe('client mask source (generateMask)', () => {
  it('one that throws for the first fragment of a message leaves no message half begun', async () => {
    let fail = false;
    const { server, client: ws } = await connectPair({}, {
      generateMask: (mask: Buffer) => {
        if (fail) throw new Error('no mask');
        mask.fill(7);
      },
    });
    const received: string[] = [];
    server.on('message', (data: Buffer) => received.push(String(data)));
    fail = true;
    expect(() => ws.send('first', { fin: false })).toThrow('no mask');
    fail = false;
    ws.send('whole');
    await until(() => received.length === 1, 'the message');
    expect(received).toEqual(['whole']);
    expect(server.readyState).toBe(WebSocket.OPEN);
  });

  it('one that throws for a message compressed off the thread: the messages behind it still go', async () => {
    await collecting(async (uncaught) => {
      let calls = 0;
      const { server, client: ws } = await connectPair({ perMessageDeflate: true, maxPayload: 0 }, {
        perMessageDeflate: true,
        generateMask: (mask: Buffer) => {
          // 'after', waiting behind the compression, is framed at once (call 1); the large
          // message once zlib is done (call 2).
          if (++calls === 2) throw new Error('no mask');
          mask.fill(7);
        },
      });
      const received: string[] = [];
      server.on('message', (data: Buffer) => received.push(String(data).slice(0, 5)));
      ws.send('x'.repeat(8 * 1024 * 1024)); // compressed on the thread pool
      ws.send('after');
      await until(() => uncaught.length === 1, 'the exception');
      expect(uncaught[0]!.message).toBe('no mask');
      await until(() => received.length === 1, 'the message behind it');
      expect(received).toEqual(['after']);
    });
  });
});

describe('server', () => {
  it("a 'close' listener that throws: close() and terminate() still resolve", async () => {
    await collecting(async (uncaught) => {
      for (const method of ['close', 'terminate'] as const) {
        const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
        await nextEvent(wss, 'listening');
        wss.on('close', bug('a server close listener'));
        await wss[method]();
      }
      await until(() => uncaught.length === 2, 'the exceptions');
    });
  });

  it("an 'error' listener that throws for an async authenticate that failed is an uncaught exception, not a rejection", async () => {
    await collecting(async (uncaught, rejections) => {
      const { wss, url } = await startServer({
        authenticate: async () => {
          throw new Error('the hook failed');
        },
      });
      wss.on('error', bug('a server error listener'));
      const ws = new WebSocket(url);
      ws.on('error', () => {});
      await nextEvent(ws, 'close');
      await until(() => uncaught.length === 1, 'the exception');
      expect(uncaught[0]!.message).toBe('bug in a server error listener');
      await delay(20);
      expect(rejections).toEqual([]);
    });
  });

  it("a 'wsClientError' listener that throws: the socket is not left open", async () => {
    await collecting(async (uncaught) => {
      const { wss, port } = await startServer();
      wss.on('wsClientError', bug('a wsClientError listener'));
      const raw = await rawConnect(port);
      raw.write(upgradeRequest({ headers: { 'Sec-WebSocket-Version': '12' } }));
      await raw.waitClosed();
      expect(uncaught.map((error) => error.message)).toEqual(['bug in a wsClientError listener']);
    });
  });

  it("a 'drain' listener that throws: the callbacks of the writes that drained are still called", async () => {
    await collecting(async (uncaught) => {
      const { raw, server } = await rawUpgradePair();
      raw.socket.pause();
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const called: unknown[] = [];
      for (let i = 0; i < 2000 && server.send(chunk, (error) => called.push(error)); i++);
      const sent = called.length + 1;
      server.on('drain', bug('a drain listener'));
      raw.socket.resume();
      await until(() => uncaught.length === 1, 'the exception');
      await until(() => called.length >= sent, 'every callback');
      expect(called.every((error) => error == null)).toBe(true);
    });
  });
});

/** A server connection whose peer is a raw socket (which can stop reading). */
async function rawUpgradePair() {
  const { wss, port } = await startServer();
  const connection = nextEvent<[WebSocket]>(wss, 'connection');
  const { raw } = await rawUpgrade(port);
  const [server] = await connection;
  return { raw, server };
}

describe('nothing left waiting', () => {
  it('handleUpgrade for a socket already closed, with an async authenticate: nothing pending, close() at once', async () => {
    const http = createHttpServer();
    const wss = new WebSocketServer({ noServer: true, authenticate: () => new Promise(() => {}) });
    const handed = new Promise<void>((resolve) => {
      http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
        socket.destroy();
        // The application's own asynchronous step: the socket's 'close' comes meanwhile.
        setTimeout(() => {
          wss.handleUpgrade(req, socket, head, () => {});
          resolve();
        }, 30);
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const ws = new WebSocket(`ws://127.0.0.1:${(http.address() as { port: number }).port}`);
    ws.on('error', () => {});
    await handed;
    const started = Date.now();
    await wss.close({ timeout: 5000 });
    expect(Date.now() - started).toBeLessThan(1000);
    await new Promise((resolve) => http.close(resolve));
  });

  it("a client paused when it closes: the close timer keeps the process until 'close' comes", async () => {
    const script = `
      import { WebSocket, WebSocketServer } from ${JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href)};
      const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      await new Promise((resolve) => wss.on('listening', resolve));
      const ws = new WebSocket('ws://127.0.0.1:' + wss.address().port, { closeTimeout: 300 });
      await new Promise((resolve) => ws.on('open', resolve));
      ws.pause();
      await wss.close({ timeout: 100 });
      ws.on('close', (code) => console.log('close ' + code));
      ws.close();
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
    expect(stdout.trim()).toMatch(/^close \d+$/);
  });
});
