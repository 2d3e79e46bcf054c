/**
 * Hostile upgrade requests: header floods, slowloris, and the inputs of past
 * advisories of other WebSocket servers. Each must be answered with its documented
 * status (or the connection closed, for a slowloris client over the pending cap),
 * quickly and in linear time, while a witness on the same server goes on exchanging
 * messages.
 */
import { createServer as createHttpServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from '../../src/index.js';
import {
  MS,
  TIMEOUT,
  Witness,
  closeAll,
  delay,
  listen,
  newKey,
  rawConnect,
  rawRequest,
  track,
  underAttack,
  until,
  upgradeRequest,
  type RawClient,
} from './helpers.js';

afterEach(closeAll);

/** A request whose standard headers come after `extra` header lines. */
function requestWithLines(extra: string[], path = '/'): string {
  return [`GET ${path} HTTP/1.1`, ...extra, 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${newKey()}`, 'Sec-WebSocket-Version: 13', '', ''].join('\r\n');
}

/** Sends `request` and returns the status, checking that the answer comes within `ms`. */
async function statusWithin(port: number, request: string, ms: number): Promise<number> {
  const started = performance.now();
  const response = await rawRequest(port, request);
  const elapsed = performance.now() - started;
  expect(elapsed, `answered in ${elapsed.toFixed(0)} ms`).toBeLessThan(ms * MS);
  return response.status;
}

describe('header floods', () => {
  it('a head over maxHeaderBytes (16 KiB) → 431, read no further', async () => {
    await underAttack({}, async ({ port }) => {
      const raw = await rawConnect(port);
      raw.write(requestWithLines([`X-Flood: ${'a'.repeat(20 * 1024)}`]));
      const response = await raw.readResponse();
      expect(response.status).toBe(431);
      await raw.waitClosed();
    });
  });

  it('a head that never ends (1 MiB of headers, streamed) → 431 after 16 KiB', async () => {
    await underAttack({}, async ({ port }) => {
      const raw = await rawConnect(port);
      raw.write('GET / HTTP/1.1\r\n');
      for (let i = 0; i < 1024 && !raw.closed && raw.received === 0; i++) {
        raw.socket.write(`X-${i}: ${'v'.repeat(1000)}\r\n`);
        if (i % 32 === 0) await delay(1);
      }
      const response = await raw.readResponse();
      expect(response.status).toBe(431);
    });
  });

  it('more than maxHeaders (100) header lines → 431', async () => {
    await underAttack({}, async ({ port }) => {
      const lines = Array.from({ length: 101 }, (_, i) => `X-${i}: v`);
      expect(await statusWithin(port, requestWithLines(lines), 1000)).toBe(431);
      expect((await rawRequest(port, requestWithLines(lines.slice(0, 95)))).status).toBe(101);
    });
  });

  it('a request line over maxRequestLineBytes (8 KiB) → 414', async () => {
    await underAttack({}, async ({ port }) => {
      expect(await statusWithin(port, requestWithLines([], `/${'a'.repeat(9000)}`), 1000)).toBe(414);
    });
  });
});

describe('slowloris', () => {
  it('a client sending its request one byte every 20 ms is answered 408 at handshakeTimeout', async () => {
    await underAttack({ handshakeTimeout: 300 * MS }, async ({ port }) => {
      const raw = await rawConnect(port);
      const request = Buffer.from(upgradeRequest());
      const started = performance.now();
      let sent = 0;
      const timer = setInterval(() => {
        if (sent < request.length && !raw.closed) raw.socket.write(request.subarray(sent, ++sent));
      }, 20);
      try {
        const response = await raw.readResponse();
        const elapsed = performance.now() - started;
        expect(response.status).toBe(408);
        expect(elapsed).toBeGreaterThanOrEqual(250 * MS);
        expect(elapsed).toBeLessThan(2000 * MS);
        expect(sent).toBeLessThan(request.length); // the request was never complete
        await raw.waitClosed();
      } finally {
        clearInterval(timer);
      }
    });
  });

  it('many idle connections from one address: maxPendingPerIp are held until handshakeTimeout (408), the rest answered 429 at once', async () => {
    await underAttack(
      { handshakeTimeout: 1000 * MS, maxPendingPerIp: 8 },
      async ({ wss, port }) => {
        // All at once, well within handshakeTimeout: no slot is given back meanwhile.
        const raws: RawClient[] = await Promise.all(Array.from({ length: 40 }, () => rawConnect(port)));
        // Nothing was sent: the first 8 wait for their requests, 32 are answered at once.
        await until(() => raws.filter((raw) => raw.buffer.length > 0).length === 32, '32 refusals');
        const refused = raws.filter((raw) => raw.buffer.length > 0);
        for (const raw of refused) expect((await raw.readResponse()).status).toBe(429);
        for (const raw of refused) await raw.waitClosed();
        const held = raws.filter((raw) => !refused.includes(raw));
        expect(held).toHaveLength(8);
        for (const raw of held) expect((await raw.readResponse()).status).toBe(408);
        expect(wss.metrics().handshakes.rejected).toEqual({ 408: 8, 429: 32 });
        // Slots are given back as the answered sockets close: the address may upgrade again.
        for (const raw of held) await raw.waitClosed();
        const deadline = Date.now() + TIMEOUT;
        let status = (await rawRequest(port, upgradeRequest())).status;
        while (status === 429 && Date.now() < deadline) {
          await delay(10 * MS);
          status = (await rawRequest(port, upgradeRequest())).status;
        }
        expect(status).toBe(101);
      },
      { localAddress: '127.0.0.2' },
    );
  });

  it('with the default limits, a server bound to loopback holds any number of upgrades in progress (its peers are all local)', async () => {
    await underAttack({}, async ({ wss, port }) => {
      // More than the default maxPendingPerIp (32), all waiting at once.
      const raws: RawClient[] = await Promise.all(Array.from({ length: 40 }, () => rawConnect(port, { localAddress: '127.0.0.2' })));
      for (const raw of raws) raw.write(upgradeRequest());
      for (const raw of raws) expect((await raw.readResponse()).status).toBe(101);
      expect(wss.metrics().handshakes.rejected).toEqual({});
    });
  });

  it('a connection refused at accept that sends its request anyway still reads the 429 (no reset)', async () => {
    await underAttack(
      { maxPendingPerIp: 1 },
      async ({ port }) => {
        const holder = await rawConnect(port); // holds the only slot
        for (let i = 0; i < 20; i++) {
          const response = await rawRequest(port, upgradeRequest());
          expect(response.status).toBe(429);
          expect(response.body).toBe('too many connections in progress from this address\n');
        }
        holder.write(upgradeRequest());
        expect((await holder.readResponse()).status).toBe(101);
      },
      { localAddress: '127.0.0.2' },
    );
  });
});

describe('inputs of past advisories', () => {
  it('ReDoS in Sec-WebSocket-Protocol (ws CVE-2021-32640): "b" + 500 000 spaces + "x" is answered 400 in linear time', async () => {
    await underAttack({ maxHeaderBytes: 1024 * 1024 }, async ({ port }) => {
      const request = requestWithLines([`Sec-WebSocket-Protocol: b${' '.repeat(500_000)}x`]);
      expect(await statusWithin(port, request, 1000)).toBe(400);
      const response = await rawRequest(port, requestWithLines(['Sec-WebSocket-Protocol: b, x']));
      expect([response.status, response.headers['sec-websocket-protocol']]).toEqual([101, 'b']);
    });
  });

  it('more headers than node:http keeps (ws CVE-2024-37890): own port → 431', async () => {
    await underAttack({}, async ({ port }) => {
      expect(await statusWithin(port, requestWithLines(Array.from({ length: 2100 }, () => 'a:')), 1000)).toBe(431);
    });
  });

  it('more headers than node:http keeps (ws CVE-2024-37890): attached to an http server → 431, no crash; with both counts raised, 101', async () => {
    // node:http keeps maxHeadersCount (2 000) header lines: Node 20 drops the lines after
    // them (Volley's own count then answers 431), Node 22+ refuses the request itself (431).
    for (const [maxHeaders, maxHeadersCount, status] of [
      [undefined, undefined, 431],
      [5000, 5000, 101],
    ] as const) {
      const http = createHttpServer((_req, res) => res.writeHead(404).end());
      if (maxHeadersCount !== undefined) http.maxHeadersCount = maxHeadersCount;
      const port = await listen(http);
      const wss = track(new WebSocketServer({ server: http, maxHeaders }), (server) => new Promise<void>((resolve) => server.close(() => resolve())));
      wss.on('connection', (ws) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
      const witness = await Witness.open(`ws://127.0.0.1:${port}`);
      const request = requestWithLines(Array.from({ length: 2100 }, () => 'a:'));
      expect(await statusWithin(port, request, 1000)).toBe(status);
      await witness.verify();
    }
  });

  it('Sec-WebSocket-Extensions with names of Object.prototype (ws 2017 DoS): ignored, the upgrade succeeds without extensions', async () => {
    await underAttack({ perMessageDeflate: true }, async ({ port }) => {
      for (const value of ['constructor', '__proto__', 'hasOwnProperty; toString', 'permessage-deflate; constructor', 'valueOf, __proto__; constructor=1']) {
        const response = await rawRequest(port, requestWithLines([`Sec-WebSocket-Extensions: ${value}`]));
        // Unknown extensions are ignored; a permessage-deflate offer with an unknown parameter is declined.
        expect([value, response.status]).toEqual([value, 101]);
        expect(response.headers['sec-websocket-extensions']).toBeUndefined();
      }
    });
  });

  it('a huge Sec-WebSocket-Extensions (extension header DoS): 400 in linear time, whatever its shape', async () => {
    await underAttack({ perMessageDeflate: true, maxHeaderBytes: 2 * 1024 * 1024 }, async ({ port }) => {
      const values = [
        'a;b, '.repeat(300_000), // over MAX_LIST_ITEMS
        `permessage-deflate; x="${'\\a'.repeat(500_000)}`, // an endless quoted escape
        'permessage-deflate; client_max_window_bits=10, '.repeat(1000) + 'permessage-deflate; server_max_window_bits=16', // a bad offer after 1 000 good ones
        `${'permessage-deflate; client_max_window_bits; '.repeat(10_000)}`, // repeated parameter
        `x-${'a'.repeat(1_000_000)};`,
      ];
      for (const value of values) {
        expect(await statusWithin(port, requestWithLines([`Sec-WebSocket-Extensions: ${value}`]), 1500)).toBe(400);
      }
    });
  });
});

describe('limits of an attached http server', () => {
  it('node:http has its own limits on what it reads (maxHeaderSize → 431); volley applies its own header count on top', async () => {
    const http = createHttpServer((_req, res) => res.writeHead(404).end());
    const port = await listen(http);
    const wss = track(new WebSocketServer({ server: http, maxHeaders: 10 }), (server) => new Promise<void>((resolve) => server.close(() => resolve())));
    wss.on('connection', (ws) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
    const witness = await Witness.open(`ws://127.0.0.1:${port}`);
    expect((await rawRequest(port, requestWithLines([`X-Big: ${'a'.repeat(20_000)}`]))).status).toBe(431); // node:http
    expect((await rawRequest(port, requestWithLines(Array.from({ length: 6 }, (_, i) => `X-${i}: v`)))).status).toBe(431); // volley: 11 lines
    expect((await rawRequest(port, requestWithLines(['X-0: v']))).status).toBe(101);
    await witness.verify();
  });
});


describe('head limits on requests node:http read', () => {
  it("the byte limits default to node:http's maxHeaderSize (a raised one lets large cookies through); given, they apply", async () => {
    for (const [options, status] of [
      [{}, 101],
      [{ maxHeaderBytes: 16 * 1024 }, 431],
    ] as const) {
      const http = createHttpServer({ maxHeaderSize: 64 * 1024 }, (_req, res) => res.writeHead(404).end());
      const port = await listen(http);
      track(new WebSocketServer({ server: http, ...options }), (server) => new Promise<void>((resolve) => server.close(() => resolve())));
      const response = await rawRequest(port, requestWithLines([`Cookie: session=${'a'.repeat(20_000)}`]));
      expect([options, response.status]).toEqual([options, status]);
    }
  });
});
