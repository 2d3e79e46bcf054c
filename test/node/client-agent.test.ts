/**
 * The client's `agent` option, as `ws` users give it (`new WebSocket(url, { agent })`):
 * the opening handshake goes through node:http's request with that agent, over a plain
 * `http.Agent` or an HTTP CONNECT proxy (written here with node:http, reached through a
 * small Agent subclass as https-proxy-agent does), and ends as it does without one.
 */
import { Agent as HttpAgent, createServer as createHttpServer, request as httpRequest, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type UpgradeRequest } from '../../src/index.js';
import {
  MS,
  Op,
  client,
  closeAll,
  delay,
  frame,
  listen,
  nextEvent,
  openClient,
  recordEvents,
  selfSignedCertificate,
  startPeerServer,
  startRawServer,
  startServer,
  startUnixSocketServer,
  switchingProtocols,
  track,
  until,
} from './helpers.js';

afterEach(closeAll);

type Callback = (error: Error | null, stream: Duplex) => void;

/** An `http.Agent` that counts the connections it makes. */
class CountingAgent extends HttpAgent {
  connections = 0;

  override createConnection(options: ClientRequestArgs, callback?: Callback): Duplex | null | undefined {
    this.connections++;
    return super.createConnection(options, callback);
  }
}

/** An HTTP CONNECT proxy: pipes each tunnel to its target, recording the targets asked for. */
async function startProxy(): Promise<{ port: number; targets: string[] }> {
  const targets: string[] = [];
  const sockets: Socket[] = [];
  const proxy = createHttpServer();
  proxy.on('connect', (req, clientSocket: Socket, head: Buffer) => {
    targets.push(req.url!);
    const [host, port] = req.url!.split(':');
    const target = netConnect({ host, port: Number(port) }, () => {
      clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) target.write(head);
      target.pipe(clientSocket);
      clientSocket.pipe(target);
    });
    sockets.push(clientSocket, target);
    const destroyBoth = () => {
      clientSocket.destroy();
      target.destroy();
    };
    target.on('error', destroyBoth).on('close', destroyBoth);
    clientSocket.on('error', destroyBoth).on('close', destroyBoth);
  });
  const port = await listen(proxy);
  track(proxy, () => {
    for (const socket of sockets) socket.destroy();
  });
  return { port, targets };
}

/** Opens a CONNECT tunnel through the proxy on `proxyPort` to `options.host:options.port`. */
function openTunnel(proxyPort: number, options: ClientRequestArgs, callback: (error: Error | null, socket?: Socket) => void): void {
  const host = options.host!.includes(':') ? `[${options.host}]` : options.host;
  const req = httpRequest({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: `${host}:${options.port}` });
  req.on('connect', (res, socket: Socket) => {
    if (res.statusCode === 200) callback(null, socket);
    else {
      socket.destroy();
      callback(new Error(`proxy answered ${res.statusCode}`));
    }
  });
  req.on('error', (error) => callback(error));
  req.end();
}

/** Connects through the CONNECT proxy on `proxyPort`, as https-proxy-agent does for http: targets. */
class TunnelAgent extends HttpAgent {
  constructor(readonly proxyPort: number) {
    super();
  }

  override createConnection(options: ClientRequestArgs, callback?: Callback): undefined {
    openTunnel(this.proxyPort, options, (error, socket) => callback!(error, socket!));
    return undefined;
  }
}

/** TLS to the target inside a CONNECT tunnel, as https-proxy-agent does for https: targets. */
class TlsTunnelAgent extends HttpsAgent {
  constructor(readonly proxyPort: number) {
    super();
  }

  override createConnection(options: ClientRequestArgs, callback?: Callback): undefined {
    openTunnel(this.proxyPort, options, (error, socket) => {
      if (error !== null) callback!(error, socket!);
      else callback!(null, tlsConnect({ ...(options as object), socket }));
    });
    return undefined;
  }
}

/** Waits for a client's failure and returns what it emitted, checking the order. */
async function expectFailure(ws: WebSocket): Promise<{ error: Error; events: Array<{ event: string; args: unknown[] }> }> {
  const events = recordEvents(ws, ['open', 'error', 'close', 'unexpected-response', 'redirect']);
  await nextEvent(ws, 'close');
  await new Promise((resolve) => setImmediate(resolve)); // nothing more may follow
  const order = events.map((e) => e.event).filter((event) => event === 'open' || event === 'error' || event === 'close');
  expect(order).toEqual(['error', 'close']);
  expect(ws.readyState).toBe(WebSocket.CLOSED);
  expect(events.find((e) => e.event === 'close')!.args[0]).toBe(1006);
  return { error: events.find((e) => e.event === 'error')!.args[0] as Error, events };
}

/** An echo server: Volley's or `ws`'s. */
async function startEchoServer(kind: 'volley' | 'ws'): Promise<{ url: string; port: number }> {
  if (kind === 'volley') {
    const { wss, url, port } = await startServer({ perMessageDeflate: true });
    wss.on('connection', (ws) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
    return { url, port };
  }
  const { wss, url } = await startPeerServer({ perMessageDeflate: true });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  return { url, port: Number(new URL(url).port) };
}

/** Sends `text` and waits for the echo. */
async function echo(ws: WebSocket, text: string): Promise<string> {
  const reply = nextEvent(ws, 'message');
  ws.send(text);
  return String((await reply)[0]);
}

describe('agent', () => {
  it.each(['volley', 'ws'] as const)('an http.Agent makes the connection (to a %s server)', async (kind) => {
    const { url } = await startEchoServer(kind);
    const agent = track(new CountingAgent(), (a) => a.destroy());
    const ws = await openClient(`${url}/chat`, 'chat', { agent });
    expect(agent.connections).toBe(1);
    expect(ws.protocol).toBe('chat');
    expect(ws.extensions).toMatch(/^permessage-deflate/);
    expect(await echo(ws, 'through the agent')).toBe('through the agent');
  });

  it.each(['volley', 'ws'] as const)('through an HTTP CONNECT proxy (to a %s server)', async (kind) => {
    const { port } = await startEchoServer(kind);
    const proxy = await startProxy();
    const ws = await openClient(`ws://127.0.0.1:${port}/`, undefined, { agent: new TunnelAgent(proxy.port) });
    expect(proxy.targets).toEqual([`127.0.0.1:${port}`]);
    expect(await echo(ws, 'x'.repeat(100_000))).toBe('x'.repeat(100_000));
  });

  it('wss:// through the CONNECT tunnel, with the tls options given to the agent', async () => {
    const { key, cert } = selfSignedCertificate();
    const https = createHttpsServer({ key, cert });
    const port = await listen(https);
    const wss = track(new WebSocketServer({ server: https }), (server) => {
      for (const ws of server.clients) ws.terminate();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    wss.on('connection', (ws) => ws.on('message', (data: Buffer) => ws.send(data)));
    const proxy = await startProxy();
    const agent = new TlsTunnelAgent(proxy.port);
    const ws = await openClient(`wss://127.0.0.1:${port}/secure`, undefined, { agent, tls: { ca: cert } });
    expect(proxy.targets).toEqual([`127.0.0.1:${port}`]);
    expect((ws.socket as unknown as { encrypted?: boolean }).encrypted).toBe(true);
    expect(await echo(ws, 'secret')).toBe('secret');
    // Without the CA the certificate is not trusted: the TLS error, then 1006.
    const { error } = await expectFailure(client(`wss://127.0.0.1:${port}/`, undefined, { agent: new TlsTunnelAgent(proxy.port) }));
    expect(error.message).toMatch(/certificate/i);
  });

  it('a non-101 answer through the agent: unexpected-response, "Unexpected server response: 403", close 1006', async () => {
    const { port } = await startRawServer((socket) => socket.end('HTTP/1.1 403 Forbidden\r\nX-Why: no\r\nContent-Length: 3\r\n\r\nno!'));
    const agent = track(new CountingAgent(), (a) => a.destroy());
    const ws = client(`ws://127.0.0.1:${port}/p?q=1`, undefined, { agent, headers: { Authorization: 'Bearer t' } });
    const seen: unknown[] = [];
    ws.on('unexpected-response', (request, response) => {
      seen.push(request.path, request.getHeader('authorization'), response.statusCode, response.statusMessage, response.headers['x-why']);
    });
    const { error } = await expectFailure(ws);
    expect(error.message).toBe('Unexpected server response: 403');
    expect(seen).toEqual(['/p?q=1', 'Bearer t', 403, 'Forbidden', 'no']);
    expect(agent.connections).toBe(1);
  });

  it.each([
    ['a wrong Sec-WebSocket-Accept', (key: string) => switchingProtocols(key).replace(/Accept: .*/, 'Accept: d3Jvbmc=')],
    ['a subprotocol that was not offered', (key: string) => switchingProtocols(key, ['Sec-WebSocket-Protocol: other'])],
    ['an extension that was not offered', (key: string) => switchingProtocols(key, ['Sec-WebSocket-Protocol: chat', 'Sec-WebSocket-Extensions: x-unknown'])],
    // Not an upgrade to node:http, which reads it as an interim response.
    ['a 101 without Upgrade', (key: string) => switchingProtocols(key).replace('Upgrade: websocket\r\n', '')],
    ['a 101 without Connection: Upgrade', (key: string) => switchingProtocols(key, ['Sec-WebSocket-Protocol: chat']).replace('Connection: Upgrade\r\n', '')],
    ['a 500', () => 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n'],
    ['no answer before the connection closed', () => ''],
  ])('%s fails with the same error with an agent as without', async (_, answer) => {
    const { port } = await startRawServer((socket, _head, key) => socket.end(answer(key)));
    const messages: string[] = [];
    for (const agent of [undefined, new CountingAgent()]) {
      const { error } = await expectFailure(client(`ws://127.0.0.1:${port}/`, 'chat', { agent, perMessageDeflate: false }));
      messages.push(error.message);
      if (agent !== undefined) expect(agent.connections).toBe(1);
    }
    expect(messages[1]).toBe(messages[0]);
  });

  it("a response node:http cannot parse fails with node:http's parse error, then 1006", async () => {
    const { port } = await startRawServer((socket) => socket.end('HTTP/1.1 abc\r\n\r\n'));
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}/`, undefined, { agent: track(new CountingAgent(), (a) => a.destroy()) }));
    expect((error as Error & { code?: string }).code).toMatch(/^HPE_/);
  });

  it('a redirect connects again through the same agent (the proxy sees both targets)', async () => {
    const { url: target, port: targetPort, wss } = await startServer();
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    const redirector = await startRawServer((socket) => socket.end(`HTTP/1.1 302 Found\r\nLocation: ${target}/there?x=1\r\nContent-Length: 0\r\n\r\n`));
    const proxy = await startProxy();
    const ws = client(`ws://127.0.0.1:${redirector.port}/here`, undefined, { agent: new TunnelAgent(proxy.port), followRedirects: true });
    const seen: unknown[] = [];
    ws.on('redirect', (url, request, response) => seen.push(url, request.path, response.statusCode));
    await nextEvent(ws, 'open');
    expect(seen).toEqual([`${target}/there?x=1`, '/there?x=1', 302]);
    expect(proxy.targets).toEqual([`127.0.0.1:${redirector.port}`, `127.0.0.1:${targetPort}`]);
    expect((await connection)[1].url).toBe('/there?x=1');
    expect(ws.url).toBe(`${target}/there?x=1`);
  });

  it('maxRedirects holds through an agent', async () => {
    const redirector = await startRawServer((socket) => socket.end('HTTP/1.1 307 Again\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n'));
    const agent = track(new CountingAgent(), (a) => a.destroy());
    const { error } = await expectFailure(client(`ws://127.0.0.1:${redirector.port}/`, undefined, { agent, followRedirects: true, maxRedirects: 2 }));
    expect(error.message).toBe('Maximum redirects exceeded');
    expect(agent.connections).toBe(3);
  });

  it('handshakeTimeout holds when the server never answers: the timeout error, 1006, the connection closed', async () => {
    const { port, sockets } = await startRawServer(() => {});
    const agent = track(new CountingAgent(), (a) => a.destroy());
    const started = Date.now();
    const { error } = await expectFailure(client(`ws://127.0.0.1:${port}/`, undefined, { agent, handshakeTimeout: 200 * MS }));
    expect(error.message).toBe('Opening handshake has timed out');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190 * MS);
    expect(agent.connections).toBe(1);
    await until(() => sockets.length === 1 && sockets[0]!.destroyed, 'the server sees the connection closed');
  });

  it('a message sent right after the 101, in the same TCP packet, arrives intact', async () => {
    const { port } = await startRawServer((socket, _head, key) => {
      socket.write(Buffer.concat([Buffer.from(switchingProtocols(key)), frame(Op.Text, 'first', { mask: null }), frame(Op.Binary, Buffer.from([1, 2, 3]), { mask: null })]));
    });
    const agent = track(new CountingAgent(), (a) => a.destroy());
    const ws = client(`ws://127.0.0.1:${port}/`, undefined, { agent, perMessageDeflate: false });
    const messages: Array<[string, boolean]> = [];
    ws.on('message', (data: Buffer, isBinary: boolean) => messages.push([isBinary ? data.toString('hex') : String(data), isBinary]));
    await nextEvent(ws, 'open');
    expect(agent.connections).toBe(1);
    await until(() => messages.length === 2, 'both messages');
    expect(messages).toEqual([
      ['first', false],
      ['010203', true],
    ]);
  });

  it('terminate() while connecting through the agent aborts the request: 1006, the connection closed', async () => {
    const { port, sockets } = await startRawServer(() => {});
    const agent = track(new CountingAgent(), (a) => a.destroy());
    const ws = client(`ws://127.0.0.1:${port}/`, undefined, { agent });
    await until(() => sockets.length === 1, 'the request arrived');
    ws.terminate();
    const { error } = await expectFailure(ws);
    expect(error.message).toBe('WebSocket was closed before the connection was established');
    expect(agent.connections).toBe(1);
    await until(() => sockets[0]!.destroyed, 'the server sees the connection closed');
  });

  it('terminate() before the agent has given a socket: 1006, and the tunnel it then gives is closed', async () => {
    const { port, sockets } = await startRawServer(() => {});
    const proxy = await startProxy();
    const ws = client(`ws://127.0.0.1:${port}/`, undefined, { agent: new TunnelAgent(proxy.port) });
    ws.terminate();
    const { error } = await expectFailure(ws);
    expect(error.message).toBe('WebSocket was closed before the connection was established');
    await until(() => proxy.targets.length === 1, 'the tunnel was asked for');
    await delay(50 * MS);
    expect(sockets.every((socket) => socket.destroyed)).toBe(true);
  });

  it('auth, headers and origin go through the agent as without it', async () => {
    const { wss, url } = await startServer();
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    const agent = track(new CountingAgent(), (a) => a.destroy());
    await openClient(url, undefined, { agent, auth: 'user:pass', headers: { 'X-Custom': 'yes' }, origin: 'https://example.com' });
    const [, req] = await connection;
    expect(agent.connections).toBe(1);
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('user:pass').toString('base64')}`);
    expect(req.headers['x-custom']).toBe('yes');
    expect(req.headers.origin).toBe('https://example.com');
    expect(req.headers.host).toBe(new URL(url).host);
  });

  it('with an agent, createConnection is not used (as in ws: the agent makes the connection)', async () => {
    const { url } = await startEchoServer('volley');
    const agent = track(new CountingAgent(), (a) => a.destroy());
    let created = 0;
    const ws = await openClient(url, undefined, {
      agent,
      createConnection: (options: { host?: string; port?: number }) => {
        created++;
        return netConnect({ host: options.host, port: options.port! });
      },
    });
    expect([agent.connections, created]).toEqual([1, 0]);
    expect(await echo(ws, 'hi')).toBe('hi');
  });

  it("an http.Agent for wss: is refused at construction, as node:https (and so ws) refuses it", () => {
    const agent = new CountingAgent();
    expect(() => new WebSocket('wss://127.0.0.1:1/', { agent })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PROTOCOL' }));
    expect(agent.connections).toBe(0);
  });

  it('ws+unix: through an agent, to the Unix domain socket', async () => {
    const { wss, socketPath } = await startUnixSocketServer();
    const connection = nextEvent<[WebSocket, UpgradeRequest]>(wss, 'connection');
    const agent = track(new CountingAgent(), (a) => a.destroy());
    const ws = await openClient(`ws+unix:${socketPath}:/chat?room=1`, undefined, { agent });
    const [, req] = await connection;
    expect([req.url, req.headers.host, agent.connections]).toEqual(['/chat?room=1', 'localhost', 1]);
    expect(await echo(ws, 'over a Unix socket')).toBe('over a Unix socket');
  });
});
