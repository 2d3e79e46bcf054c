/**
 * The Autobahn client driver (autobahn/client.ts) against a fake fuzzingserver built on
 * `ws`, and the echo server (autobahn/server.ts) with a `ws` client: the two halves the
 * real suite drives, checked without Docker.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer as WsServer } from 'ws';
import { runDriver } from '../../autobahn/client.js';
import { startEchoServer, type EchoServer } from '../../autobahn/server.js';

/** Every wait in this file is bounded by this. */
const MS = 5_000;

interface Received {
  data: string;
  isBinary: boolean;
}

interface FakeSuite {
  url: string;
  /** In order: 'getCaseCount', 'runCase 1', ..., 'updateReports'. */
  requests: string[];
  agents: Set<string>;
  echoes: Map<number, Received[]>;
  /** How each case connection ended, as the suite saw it: the close code received. */
  closes: Map<number, number>;
  close(): Promise<void>;
}

/**
 * A fuzzingserver with four cases: 1 a fragmented text, 2 a binary and a text message,
 * 3 a ping and then silence (the driver must time out), 4 a frame with RSV1 set (the
 * driver's client must fail the connection and go on).
 */
async function startFakeSuite(): Promise<FakeSuite> {
  const wss = new WsServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const suite: FakeSuite = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    requests: [],
    agents: new Set(),
    echoes: new Map(),
    closes: new Map(),
    close: () =>
      new Promise((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  };
  const binary = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
  wss.on('connection', (ws, req) => {
    const url = new URL(req.url ?? '/', suite.url);
    const agent = url.searchParams.get('agent');
    if (agent !== null) suite.agents.add(agent);
    if (url.pathname === '/getCaseCount') {
      suite.requests.push('getCaseCount');
      ws.send('4');
      ws.close(1000);
      return;
    }
    if (url.pathname === '/updateReports') {
      suite.requests.push('updateReports');
      ws.close(1000);
      return;
    }
    const index = Number(url.searchParams.get('case'));
    suite.requests.push(`runCase ${index}`);
    const received: Received[] = [];
    suite.echoes.set(index, received);
    ws.on('close', (code) => suite.closes.set(index, code));
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      const buffer = data as Buffer;
      received.push({ data: isBinary ? buffer.toString('hex') : buffer.toString('utf8'), isBinary });
      if (index === 1 && received.length === 1) ws.close(1000);
      if (index === 2 && received.length === 2) ws.close(1000);
    });
    if (index === 1) {
      ws.send('Hello, ', { fin: false });
      ws.send('wörld', { fin: true });
    } else if (index === 2) {
      ws.send(binary, { binary: true });
      ws.send('two');
    } else if (index === 3) {
      ws.ping('are you there');
    } else if (index === 4) {
      // RSV1 without a negotiated extension: RFC 6455 §5.2 says fail the connection.
      (ws as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.from([0xc1, 0x02, 0x68, 0x69]));
    }
  });
  return Object.assign(suite, { binaryHex: binary.toString('hex') });
}

describe('autobahn client driver', () => {
  let suite: (FakeSuite & { binaryHex?: string }) | undefined;
  afterEach(async () => {
    await suite?.close();
    suite = undefined;
  });

  it('runs every case echoing text as text and binary as binary, bounds a stuck case, then updates the reports', async () => {
    suite = await startFakeSuite();
    const lines: string[] = [];
    const result = await runDriver({
      url: suite.url + '/',
      agent: 'volley test',
      caseTimeoutMs: 500,
      controlTimeoutMs: MS,
      log: (line) => lines.push(line),
    });

    expect(suite.requests).toEqual(['getCaseCount', 'runCase 1', 'runCase 2', 'runCase 3', 'runCase 4', 'updateReports']);
    expect([...suite.agents]).toEqual(['volley test']);
    expect(suite.echoes.get(1)).toEqual([{ data: 'Hello, wörld', isBinary: false }]);
    expect(suite.echoes.get(2)).toEqual([
      { data: (suite as { binaryHex: string }).binaryHex, isBinary: true },
      { data: 'two', isBinary: false },
    ]);
    expect(suite.echoes.get(3)).toEqual([]);
    expect(suite.echoes.get(4)).toEqual([]);
    expect(suite.closes.get(1)).toBe(1000);
    expect(suite.closes.get(4)).toBe(1002);

    expect(result.caseCount).toBe(4);
    expect(result.reportsUpdated).toBe(true);
    expect(result.timedOut).toEqual([3]);
    expect(result.cases.map((c) => [c.index, c.outcome, c.messages])).toEqual([
      [1, 'closed', 1],
      [2, 'closed', 2],
      [3, 'timeout', 0],
      [4, 'closed', 0],
    ]);
    expect(result.cases[0]?.closeCode).toBe(1000);
    expect(lines[0]).toBe(`autobahn driver: 4 cases from ${suite.url} as agent "volley test"`);
    expect(lines).toContain('[1/4] closed 1000, 1 messages echoed, ' + result.cases[0]?.durationMs + ' ms');
    expect(lines.some((line) => line.startsWith('[3/4] TIMEOUT after 500 ms, terminated'))).toBe(true);
    expect(lines).toContain('autobahn driver: reports updated');
  });

  it('fails clearly when no suite answers', async () => {
    const probe = new WsServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => probe.once('listening', () => resolve()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await expect(
      runDriver({ url: `ws://127.0.0.1:${port}`, agent: 'volley', controlTimeoutMs: MS, log: () => {} }),
    ).rejects.toThrow(/cannot read the case count from ws:\/\/127\.0\.0\.1:\d+\/getCaseCount: no answer \(.*ECONNREFUSED/);
  });
});

describe('autobahn echo server', () => {
  let server: EchoServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('echoes text as text and binary as binary, beyond the default 1 MiB limit', async () => {
    server = await startEchoServer({ port: 0 });
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}`);
    const ws = new WebSocket(server.url, { perMessageDeflate: false, maxPayload: 0 });
    const big = Buffer.alloc(3 * 1024 * 1024, 0x5a);
    const received: Received[] = [];
    const closed = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no echo within the time limit')), MS);
      ws.on('message', (data, isBinary) => {
        const buffer = data as Buffer;
        received.push({ data: isBinary ? buffer.subarray(0, 8).toString('hex') + `/${buffer.length}` : buffer.toString(), isBinary });
        if (received.length === 4) ws.close(1000);
      });
      ws.on('close', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
      ws.on('error', reject);
    });
    ws.on('open', () => {
      ws.send('héllo');
      ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
      ws.send('part one, ', { fin: false });
      ws.send('part two', { fin: true });
      ws.send(big, { binary: true });
    });
    expect(await closed).toBe(1000);
    expect(received).toEqual([
      { data: 'héllo', isBinary: false },
      { data: '000102ff/4', isBinary: true },
      { data: 'part one, part two', isBinary: false },
      { data: '5a5a5a5a5a5a5a5a/3145728', isBinary: true },
    ]);
  });

  it('rejects when the port is taken', async () => {
    server = await startEchoServer({ port: 0 });
    await expect(startEchoServer({ port: server.port })).rejects.toThrow(/EADDRINUSE/);
  });
});
