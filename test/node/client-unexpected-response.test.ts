/**
 * The body of a refused handshake's response, read by `unexpected-response` listeners as
 * `ws` users read node:http's `IncomingMessage` (`res.on('data')`, `for await`): framed
 * by Content-Length, chunked or the close, bounded by 64 KiB and `handshakeTimeout`,
 * then `error` and `close` 1006; the same through an `agent`, and the same text as a
 * `ws` client reads.
 */
import { Agent as HttpAgent } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type UpgradeResponse } from '../../src/index.js';
import { MAX_RESPONSE_BODY_BYTES } from '../../src/node/upgrade-response.js';
import { MS, TIMEOUT, client, closeAll, delay, nextEvent, peerClient, recordEvents, startRawServer, startServer, track, until, within } from './helpers.js';

afterEach(closeAll);

type Read = 'data' | 'for await';

interface Refusal {
  status: number;
  body: string;
  complete: boolean;
  error: Error;
  closeCode: number;
  /** unexpected-response, end (of the body, as the listener saw it), error, close. */
  order: string[];
}

/** Connects a Volley client that reads the refusal's body in its listener, `read`'s way. */
async function refusal(url: string, read: Read, options: Record<string, unknown> = {}): Promise<Refusal> {
  const ws = client(url, undefined, options);
  const order: string[] = [];
  let body = '';
  let response: UpgradeResponse | undefined;
  let error: Error | undefined;
  ws.on('unexpected-response', (_request, res) => {
    order.push('unexpected-response');
    response = res;
    res.setEncoding('latin1');
    if (read === 'data') {
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => order.push('end'));
    } else {
      void (async () => {
        for await (const chunk of res) body += chunk as string;
        order.push('end');
      })();
    }
  });
  ws.on('error', (e) => {
    order.push('error');
    error = e;
  });
  const [closeCode] = await nextEvent<[number]>(ws, 'close');
  order.push('close');
  await delay(10 * MS); // nothing more may follow
  expect(ws.readyState).toBe(WebSocket.CLOSED);
  return { status: response!.statusCode, body, complete: response!.complete, error: error!, closeCode, order };
}

/** What a `ws` client's listener reads of the same response (it aborts itself once the body ended). */
async function peerRefusal(url: string): Promise<{ status: number; body: string }> {
  const ws = peerClient(url);
  ws.on('error', () => {});
  return within(
    new Promise((resolve) => {
      ws.on('unexpected-response', (_request, res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode!, body });
          ws.terminate();
        });
      });
    }),
    'the ws client reading the body',
  );
}

/** A raw server answering every request with `answer` (its sockets destroyed after the test). */
async function refusingServer(answer: (socket: Socket) => unknown): Promise<string> {
  const { port } = await startRawServer((socket) => void answer(socket));
  return `ws://127.0.0.1:${port}/`;
}

const ways: Array<{ name: string; options: () => Record<string, unknown> }> = [
  { name: 'own connection', options: () => ({}) },
  { name: 'through an http.Agent', options: () => ({ agent: track(new HttpAgent(), (agent) => agent.destroy()) }) },
];

const ERROR_JSON = JSON.stringify({ error: 'invalid_token', message: 'The access token expired' });

describe.each(ways)('unexpected-response body ($name)', ({ options }) => {
  it.each<Read>(['data', 'for await'])('a 401 with a JSON body and Content-Length, read with %s; then error and close 1006', async (read) => {
    const url = await refusingServer((socket) =>
      socket.write(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${ERROR_JSON.length}\r\n\r\n${ERROR_JSON}`),
    );
    const result = await refusal(url, read, options());
    expect(result.status).toBe(401);
    expect(JSON.parse(result.body)).toEqual({ error: 'invalid_token', message: 'The access token expired' });
    expect(result.complete).toBe(true);
    expect(result.error.message).toBe('Unexpected server response: 401');
    expect(result.closeCode).toBe(1006);
    // The server keeps the connection open: the body's length ended it, not the close.
    expect(result.order).toEqual(['unexpected-response', 'end', 'error', 'close']);
    expect(await peerRefusal(url)).toEqual({ status: 401, body: result.body });
  });

  it('a chunked body in several chunks, each in its own TCP write (extension and trailer ignored)', async () => {
    const url = await refusingServer(async (socket) => {
      socket.setNoDelay(true);
      socket.write('HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n');
      for (const part of ['5\r\nhello\r\n', '1;ext=1\r\n', ' \r\n', 'b\r\nmaintenance\r\n', '0\r\nX-Trailer: t\r\n\r\n']) {
        await delay(20 * MS);
        if (!socket.destroyed) socket.write(part);
      }
    });
    const result = await refusal(url, 'data', options());
    expect(result.body).toBe('hello maintenance');
    expect(result.complete).toBe(true);
    expect(result.error.message).toBe('Unexpected server response: 503');
    expect(result.order).toEqual(['unexpected-response', 'end', 'error', 'close']);
    expect(await peerRefusal(url)).toEqual({ status: 503, body: 'hello maintenance' });
  });

  it('a body without length ends when the server closes the connection', async () => {
    const url = await refusingServer(async (socket) => {
      socket.write('HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\nConnection: close\r\n\r\nslow ');
      await delay(20 * MS);
      socket.end('down');
    });
    const result = await refusal(url, 'for await', options());
    expect(result.status).toBe(429);
    expect(result.body).toBe('slow down');
    expect(result.complete).toBe(true);
    expect(result.order).toEqual(['unexpected-response', 'end', 'error', 'close']);
    expect(await peerRefusal(url)).toEqual({ status: 429, body: 'slow down' });
  });

  it.each([
    [`over ${MAX_RESPONSE_BODY_BYTES} bytes ends at that many, complete false`, MAX_RESPONSE_BODY_BYTES + 40_000, false],
    [`of exactly ${MAX_RESPONSE_BODY_BYTES} bytes is read whole, complete true`, MAX_RESPONSE_BODY_BYTES, true],
  ])('a body %s; error and close follow', async (_title, size, complete) => {
    const url = await refusingServer((socket) => {
      socket.write(`HTTP/1.1 403 Forbidden\r\nContent-Length: ${size}\r\n\r\n`);
      socket.write(Buffer.alloc(size, 'x'));
    });
    const result = await refusal(url, 'data', options());
    expect(result.body).toBe('x'.repeat(MAX_RESPONSE_BODY_BYTES));
    expect(result.complete).toBe(complete);
    expect(result.error.message).toBe('Unexpected server response: 403');
    expect(result.order).toEqual(['unexpected-response', 'end', 'error', 'close']);
  });

  it('a head and then nothing: the body ends at handshakeTimeout, then error and close (no hang)', async () => {
    const url = await refusingServer((socket) => socket.write('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\npart'));
    const started = Date.now();
    const result = await refusal(url, 'data', { ...options(), handshakeTimeout: 200 * MS });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190 * MS);
    expect(Date.now() - started).toBeLessThan(TIMEOUT);
    expect(result.body).toBe('part');
    expect(result.complete).toBe(false);
    expect(result.error.message).toBe('Unexpected server response: 503');
    expect(result.order).toEqual(['unexpected-response', 'end', 'error', 'close']);
  });

  it('the connection closing before the Content-Length is reached ends the body, complete false', async () => {
    const url = await refusingServer((socket) => socket.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\ncut'));
    const result = await refusal(url, 'data', options());
    expect(result.body).toBe('cut');
    expect(result.complete).toBe(false);
    expect(result.error.message).toBe('Unexpected server response: 500');
    expect(result.order).toEqual(['unexpected-response', 'end', 'error', 'close']);
  });

  it.each(['ws.terminate()', 'req.abort()', 'req.destroy()'] as const)('%s in the listener (req.abort() is how ws code ends it): reading stops, the connection is destroyed, error and close 1006 at once', async (how) => {
    const closed: Promise<unknown>[] = [];
    const url = await refusingServer((socket) => {
      closed.push(nextEvent(socket, 'close'));
      socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 1000\r\n\r\nsome');
    });
    const ws = client(url, undefined, { ...options(), handshakeTimeout: 0 });
    const order: string[] = [];
    let response: UpgradeResponse | undefined;
    ws.on('unexpected-response', (request, res) => {
      response = res;
      res.on('data', () => order.push('data'));
      res.on('end', () => order.push('end'));
      if (how === 'ws.terminate()') ws.terminate();
      else if (how === 'req.abort()') request.abort();
      else request.destroy();
    });
    ws.on('error', (error) => order.push(`error: ${error.message}`));
    const [code] = await nextEvent<[number]>(ws, 'close');
    expect(code).toBe(1006);
    await within(closed[0]!, 'the server seeing the connection closed');
    await delay(10 * MS);
    expect(order).toEqual(['error: WebSocket was closed before the connection was established', 'end']);
    expect(response!.complete).toBe(false);
  });

  it('without a listener the connection fails at once, the body not waited for', async () => {
    // Guards the rule: the head alone is enough when nobody reads the body.
    const url = await refusingServer((socket) => socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\n'));
    const ws = client(url, undefined, options());
    const errored = nextEvent<[Error]>(ws, 'error', 1000 * MS);
    const [error] = await errored;
    expect(error.message).toBe('Unexpected server response: 403');
  });
});

describe('unexpected-response body framed badly (own connection)', () => {
  it('a malformed chunk ends the body there, complete false; what came before it is read', async () => {
    const url = await refusingServer((socket) =>
      socket.write('HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n'),
    );
    const result = await refusal(url, 'data');
    expect([result.status, result.body, result.complete]).toEqual([503, 'hello', false]);
    expect(result.order).toEqual(['unexpected-response', 'end', 'error', 'close']);
  });

  it('a framing that cannot be read (two Content-Length values) gives an empty body, complete false', async () => {
    const url = await refusingServer((socket) => socket.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'));
    const result = await refusal(url, 'for await');
    expect([result.status, result.body, result.complete]).toEqual([401, '', false]);
    expect(result.order).toEqual(['unexpected-response', 'end', 'error', 'close']);
  });
});

describe('the response of a 101', () => {
  it("is an empty stream for 'upgrade' listeners", async () => {
    const { url } = await startServer();
    const ws = client(url);
    const [response] = await nextEvent<[UpgradeResponse]>(ws, 'upgrade');
    const chunks: unknown[] = [];
    for await (const chunk of response) chunks.push(chunk);
    expect(chunks).toEqual([]);
    expect(response.statusCode).toBe(101);
  });
});

describe('a listener that throws', () => {
  it('the exception reaches the emitter, and the body is read on: error and close still follow', async () => {
    const sockets: Socket[] = [];
    const url = await refusingServer((socket) => sockets.push(socket));
    const ws = client(url);
    await until(() => sockets.length === 1, 'the request');
    const thrown = new Error('listener bug');
    let body = '';
    ws.on('unexpected-response', (_request, response) => {
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      throw thrown;
    });
    const events = recordEvents(ws, ['error', 'close']);
    // Fed the way the socket would, to catch what its 'data' emit throws.
    expect(() => ws.socket!.emit('data', Buffer.from('HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nno'))).toThrow(thrown);
    sockets[0]!.write('pe');
    await nextEvent(ws, 'close');
    expect(body).toBe('nope');
    expect(events.map((e) => e.event)).toEqual(['error', 'close']);
    expect((events[0]!.args[0] as Error).message).toBe('Unexpected server response: 403');
  });
});
