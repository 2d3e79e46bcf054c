/**
 * The server's own port reads upgrade requests with Volley's parser (src/protocol/http.ts);
 * behind node:http, as with `ws`, llhttp reads them. The same bytes are sent to both here:
 * a Volley server on its own port, and `ws` attached to a node:http server. Requests
 * node:http refuses must be refused on the own port too, and `req` must show the fields
 * of an `IncomingMessage` as node:http fills them.
 */
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer as PeerWebSocketServer } from 'ws';
import { WebSocketServer, type UpgradeRequest, type WebSocket } from '../../src/index.js';
import { closeAll, delay, listen, nextEvent, rawConnect, startServer, track, within, type RawResponse } from './helpers.js';

afterEach(closeAll);

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** An upgrade request with `extra` header lines (each ending with CRLF) after the usual ones. */
function upgradeHead(extra = '', requestLine = 'GET /chat?room=1 HTTP/1.1'): string {
  return `${requestLine}\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

interface Endpoint {
  port: number;
  /** The `req` of the next connection. */
  nextRequest(): Promise<UpgradeRequest | IncomingMessage>;
}

/** A Volley server on its own port. */
async function ownPort(): Promise<Endpoint> {
  const { wss, port } = await startServer({ heartbeat: false });
  return { port, nextRequest: async () => (await nextEvent<[unknown, UpgradeRequest]>(wss, 'connection'))[1] };
}

/** `ws` attached to a node:http server: what code that moves from `ws` saw. */
async function nodeHttp(): Promise<Endpoint> {
  const http = createHttpServer((req, res) => res.writeHead(404).end());
  const wss = track(new PeerWebSocketServer({ server: http }), (server) => {
    for (const ws of server.clients) ws.terminate();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = await listen(http);
  return { port, nextRequest: async () => (await nextEvent<[unknown, IncomingMessage]>(wss, 'connection'))[1] };
}

/** Sends `bytes` to `port` and reads the response. */
async function send(port: number, bytes: string | Buffer): Promise<RawResponse> {
  const raw = await rawConnect(port);
  raw.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  return raw.readResponse();
}

/** Sends an upgrade request to both servers: their statuses. */
async function statuses(bytes: string | Buffer): Promise<{ own: number; node: number }> {
  const [own, node] = await Promise.all([ownPort(), nodeHttp()]);
  return { own: (await send(own.port, bytes)).status, node: (await send(node.port, bytes)).status };
}

/** The `req` each server gives its connection for the same bytes. */
async function requests(bytes: string | Buffer): Promise<{ own: UpgradeRequest; node: IncomingMessage }> {
  const [own, node] = await Promise.all([ownPort(), nodeHttp()]);
  const ownRequest = own.nextRequest();
  expect((await send(own.port, bytes)).status).toBe(101);
  const nodeRequest = node.nextRequest();
  expect((await send(node.port, bytes)).status).toBe(101);
  return { own: (await ownRequest) as UpgradeRequest, node: (await nodeRequest) as IncomingMessage };
}

describe('own port and node:http, for the same bytes', () => {
  it('a body announced by Content-Length alone is taken as node:http takes it', async () => {
    expect(await statuses(upgradeHead('Content-Length: 0\r\n'))).toEqual({ own: 101, node: 101 });
  });

  // RFC 9112 §6.3: a request whose body length is ambiguous MUST be answered 400. Read as
  // an upgrade, its bytes after the head would be taken as WebSocket frames, however a
  // proxy in front framed them.
  it.each([
    ['Transfer-Encoding and Content-Length', 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n'],
    ['two different Content-Lengths', 'Content-Length: 0\r\nContent-Length: 5\r\n'],
    ['two equal Content-Lengths', 'Content-Length: 0\r\nContent-Length: 0\r\n'],
    ['a Content-Length list', 'Content-Length: 0, 0\r\n'],
    ['a Content-Length that is not digits', 'Content-Length: abc\r\n'],
    ['a signed Content-Length', 'Content-Length: +0\r\n'],
    ['a negative Content-Length', 'content-length: -1\r\n'],
    ['chunked not the last transfer coding', 'TRANSFER-ENCODING: chunked, gzip\r\n'],
    ['chunked applied twice', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n'],
    ['a Content-Length beyond any length', 'Content-Length: 99999999999999999999\r\n'],
  ])('a request with %s is answered 400, as by node:http', async (_, extra) => {
    expect(await statuses(`${upgradeHead(extra)}0\r\n\r\n`)).toEqual({ own: 400, node: 400 });
  });

  it('a request whose Transfer-Encoding does not end with chunked is answered 400 (RFC 9112 §6.3; node:http upgrades it)', async () => {
    expect(await statuses(upgradeHead('Transfer-Encoding: gzip\r\n'))).toEqual({ own: 400, node: 101 });
  });

  it('"*" as the target of a GET is answered 400 (RFC 9112 §3.2.4: OPTIONS only; node:http upgrades it)', async () => {
    expect(await statuses(upgradeHead('', 'GET * HTTP/1.1'))).toEqual({ own: 400, node: 101 });
  });

  it.each(['foo', '?x', '127.0.0.1:80', 'ws:'])('a request-target of no form a GET may have (%s) is answered 400, as by node:http (RFC 9112 §3.2)', async (target) => {
    expect(await statuses(upgradeHead('', `GET ${target} HTTP/1.1`))).toEqual({ own: 400, node: 400 });
  });

  it('an absolute-form request-target is accepted (RFC 9112 §3.2.2), as by node:http', async () => {
    expect(await statuses(upgradeHead('', 'GET ws://example.com/chat HTTP/1.1'))).toEqual({ own: 101, node: 101 });
  });

  it('a request-target with bytes that are not ASCII (unencoded UTF-8) is answered 400, as by node:http', async () => {
    expect(await statuses(upgradeHead('', 'GET /caf\xc3\xa9 HTTP/1.1'))).toEqual({ own: 400, node: 400 });
    const { own, node } = await requests(upgradeHead('', 'GET /caf%C3%A9?q=%20 HTTP/1.1'));
    expect(own.url).toBe('/caf%C3%A9?q=%20');
    expect(own.url).toBe(node.url);
  });

  it('req.headers and req.headersDistinct are built from repeated lines as node:http builds them', async () => {
    const lines = [
      ['Cookie', 'a=1'],
      ['cookie', 'b=2'],
      ['Set-Cookie', 'x=1'],
      ['Set-Cookie', 'y=2'],
      ['User-Agent', 'first'],
      ['User-Agent', 'second'],
      ['Authorization', 'Bearer first'],
      ['authorization', 'Bearer second'],
      ['Content-Type', 'text/plain'],
      ['Content-Type', 'text/html'],
      ['Referer', 'http://a/'],
      ['Referer', 'http://b/'],
      ['X-Forwarded-For', '10.0.0.1'],
      ['X-Forwarded-For', '10.0.0.2'],
      ['Origin', 'http://a'],
      ['Accept-Language', 'en'],
      ['ACCEPT-LANGUAGE', 'fr'],
    ];
    const { own, node } = await requests(upgradeHead(lines.map(([name, value]) => `${name}: ${value}\r\n`).join('')));
    expect(own.rawHeaders).toEqual(node.rawHeaders);
    expect({ ...own.headers }).toEqual({ ...node.headers });
    expect(own.headers.cookie).toBe('a=1; b=2');
    expect(own.headers['set-cookie']).toEqual(['x=1', 'y=2']);
    expect(own.headers.authorization).toBe('Bearer first');
    expect({ ...(own as unknown as IncomingMessage).headersDistinct }).toEqual({ ...node.headersDistinct });
  });

  it('req.connection (the socket), req.httpVersionMajor and req.httpVersionMinor are there, as in IncomingMessage', async () => {
    const { own, node } = await requests(upgradeHead());
    const ownRequest = own as unknown as IncomingMessage;
    expect(ownRequest.connection).toBe(own.socket);
    expect(ownRequest.connection.remoteAddress).toBe(node.connection.remoteAddress);
    expect([ownRequest.httpVersionMajor, ownRequest.httpVersionMinor]).toEqual([node.httpVersionMajor, node.httpVersionMinor]);
    expect([own.method, own.url, own.httpVersion]).toEqual([node.method, node.url, node.httpVersion]);
  });
});

describe('own port, the request split at every byte', () => {
  it('gives the same req as node:http, and the frame sent with the head to the WebSocket', async () => {
    const head = `\r\n${upgradeHead('X-A: 1\r\nx-a:2\r\nCookie: a=1\r\nCookie: b=2\r\n', 'GET /a?b=%20 HTTP/1.1')}`;
    // A masked text frame "hi" with mask 01 02 03 04.
    const bytes = Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2])]);
    const { node } = await requests(head);
    const fields = (req: UpgradeRequest | IncomingMessage) => [req.method, req.url, req.httpVersion, { ...req.headers }, req.rawHeaders];
    const { wss, port } = await startServer({ heartbeat: false });
    for (let cut = 1; cut < bytes.length; cut++) {
      // The message may come in the same tick as the connection: listen at once.
      const message = new Promise<[UpgradeRequest, string]>((resolve) => {
        wss.once('connection', (ws: WebSocket, req: UpgradeRequest) => ws.once('message', (data) => resolve([req, String(data)])));
      });
      const raw = await rawConnect(port);
      raw.write(bytes.subarray(0, cut));
      await delay(1);
      raw.write(bytes.subarray(cut));
      expect((await raw.readResponse()).status).toBe(101);
      const [req, text] = await within(message, `the message, cut at byte ${cut}`);
      expect(fields(req)).toEqual(fields(node));
      expect(text).toBe('hi');
      raw.socket.destroy();
    }
  });
});

// Deliberate differences (README, "Differences from ws"): the own port refuses what
// RFC 6455 §4.2.1 refuses, and answers requests that are not upgrades itself.
describe('own port and node:http with ws, where they differ on purpose', () => {
  it.each([
    ['an HTTP/1.0 upgrade', upgradeHead('', 'GET / HTTP/1.0'), 400],
    ['an upgrade without Host', upgradeHead().replace('Host: example.com\r\n', ''), 400],
    ['an HTTP/2.0 upgrade', upgradeHead('', 'GET / HTTP/2.0'), 505],
  ])('%s: ws upgrades it, the own port answers %i', async (_, head, status) => {
    expect(await statuses(head)).toEqual({ own: status, node: 101 });
  });

  it('a request that is not an upgrade is answered 426 for GET, 405 with Allow: GET for other methods', async () => {
    const { port } = await ownPort();
    const get = await send(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    expect([get.status, get.headers.upgrade]).toEqual([426, 'websocket']);
    for (const method of ['OPTIONS', 'POST']) {
      const response = await send(port, `${method} / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody`);
      expect([response.status, response.headers.allow]).toEqual([405, 'GET']);
    }
  });

  it('the answer to HEAD has no body (RFC 9110 §9.3.2), on the own port and behind node:http', async () => {
    const own = await ownPort();
    const http = createHttpServer((req, res) => res.writeHead(404).end());
    track(new WebSocketServer({ server: http, heartbeat: false }), (wss) => wss.terminate());
    const attached = { port: await listen(http) };
    const upgrade = upgradeHead('', 'HEAD /chat HTTP/1.1');
    for (const [port, bytes] of [
      [own.port, 'HEAD / HTTP/1.1\r\nHost: a\r\n\r\n'],
      [own.port, upgrade],
      [attached.port, upgrade],
    ] as const) {
      const raw = await rawConnect(port);
      raw.write(bytes);
      await raw.waitEnd();
      const text = raw.buffer.toString('latin1');
      expect(text).toMatch(/^HTTP\/1\.1 405 /);
      expect(text).toMatch(/\r\nAllow: GET\r\n/i);
      expect(text.indexOf('\r\n\r\n') + 4).toBe(text.length);
    }
  });
});

