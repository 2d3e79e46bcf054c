/**
 * Connection caps and the handshake rate, through real sockets. Other client addresses
 * come from binding the client to 127.0.0.2, 127.0.0.3, ... (all loopback on Linux).
 * Each limit is crossed by exactly one: N upgrades pass, the N+1st gets the status.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { UpgradeError, type ServerOptions } from '../../src/index.js';
import { MS, closeAll, closed, delay, nextEvent, openClient, rawUpgrade, startAttachedServer, startServer, within, type RawResponse, type RawUpgradeOptions } from '../helpers/sockets.js';

afterEach(closeAll);

/** A server whose `authenticate` counts calls: a refused upgrade must never reach it. */
async function cappedServer(options: Omit<ServerOptions, 'port'>, attached = false) {
  let authenticated = 0;
  const all = { ...options, authenticate: () => ++authenticated };
  const server = attached ? await startAttachedServer(all) : await startServer(all);
  return { ...server, authenticated: () => authenticated };
}

/** Upgrades until one gets `status` (a slot is given back when the server sees a socket close). */
async function eventually(port: number, status: number, options?: RawUpgradeOptions): Promise<RawResponse> {
  let last: RawResponse | undefined;
  for (let attempt = 0; attempt < 50; attempt++) {
    last = await rawUpgrade(port, options);
    if (last.status === status) return last;
    await delay(10 * MS);
  }
  throw new Error(`never got ${status}, last ${last?.status}`);
}

const from = (localAddress: string, headers?: Record<string, string>): RawUpgradeOptions => ({ localAddress, headers });

describe('maxConnections → 503', () => {
  it.each([['own port', false], ['attached server', true]])('%s: N open, the N+1st refused; a close frees a slot', async (_, attached) => {
    const { wss, url, port, authenticated } = await cappedServer({ maxConnections: 3 }, attached as boolean);
    const clients = [await openClient(url), await openClient(url), await openClient(url)];
    const refused = await rawUpgrade(port);
    expect(refused.status).toBe(503);
    expect(refused.body).toBe('the server has reached its connection limit\n');
    expect(authenticated()).toBe(3);
    const serverSide = [...wss.clients][0]!;
    const gone = nextEvent(serverSide, 'close');
    clients[0]!.close(1000);
    await gone;
    expect((await rawUpgrade(port)).status).toBe(101);
    expect(authenticated()).toBe(4);
  });

  it('own port: a TCP connection still sending its request holds a slot', async () => {
    const { port, url } = await cappedServer({ maxConnections: 2 });
    await openClient(url);
    const idle = connect({ host: '127.0.0.1', port });
    idle.on('error', () => {});
    await within(new Promise((resolve) => idle.once('connect', resolve)), 'connect');
    // The listen queue is FIFO: the idle socket is accepted before the next one.
    expect((await rawUpgrade(port)).status).toBe(503);
    idle.destroy();
    await eventually(port, 101);
  });

  it('a refused upgrade (401) gives its slot back', async () => {
    const { port } = await startServer({
      maxConnections: 1,
      authenticate: (req) => {
        if (req.headers.authorization !== 'Bearer ok') throw new UpgradeError(401, 'no');
        return {};
      },
    });
    const denied = await rawUpgrade(port);
    expect(denied.status).toBe(401);
    await closed(denied.socket);
    expect((await eventually(port, 101, { headers: { Authorization: 'Bearer ok' } })).status).toBe(101);
  });
});

describe('maxConnectionsPerIp → 429', () => {
  it.each([['own port', false], ['attached server', true]])('%s: N from one address, the N+1st refused; other addresses unaffected', async (_, attached) => {
    const { port, authenticated } = await cappedServer({ maxConnectionsPerIp: 2 }, attached as boolean);
    expect((await rawUpgrade(port, from('127.0.0.2'))).status).toBe(101);
    const second = await rawUpgrade(port, from('127.0.0.2'));
    expect(second.status).toBe(101);
    const refused = await rawUpgrade(port, from('127.0.0.2'));
    expect(refused.status).toBe(429);
    expect(refused.body).toBe('too many connections from this address\n');
    expect(authenticated()).toBe(2);
    expect((await rawUpgrade(port, from('127.0.0.3'))).status).toBe(101);
    second.socket.destroy();
    await eventually(port, 101, from('127.0.0.2'));
  });

  it('X-Forwarded-For from an untrusted peer is ignored (no spoofing)', async () => {
    const { port } = await cappedServer({ maxConnectionsPerIp: 1, trustProxy: ['127.0.0.1'] });
    expect((await rawUpgrade(port, from('127.0.0.2', { 'X-Forwarded-For': '198.51.100.1' }))).status).toBe(101);
    // A different claimed client, same real peer: still the same address.
    expect((await rawUpgrade(port, from('127.0.0.2', { 'X-Forwarded-For': '198.51.100.2' }))).status).toBe(429);
  });

  it('behind a trusted proxy each forwarded client has its own cap (the right-most untrusted address)', async () => {
    const { port } = await cappedServer({ maxConnectionsPerIp: 1, trustProxy: ['127.0.0.1', '10.0.0.9'] });
    const via = (chain: string) => from('127.0.0.1', { 'X-Forwarded-For': chain });
    expect((await rawUpgrade(port, via('203.0.113.5'))).status).toBe(101);
    expect((await rawUpgrade(port, via('203.0.113.5'))).status).toBe(429);
    expect((await rawUpgrade(port, via('203.0.113.6'))).status).toBe(101);
    // The client wrote "203.0.113.99" itself; the proxy at 10.0.0.9 appended what it saw.
    expect((await rawUpgrade(port, via('203.0.113.99, 203.0.113.5, 10.0.0.9'))).status).toBe(429);
    expect((await rawUpgrade(port, via('::ffff:203.0.113.7'))).status).toBe(101);
    expect((await rawUpgrade(port, via('203.0.113.7'))).status).toBe(429);
  });

  it('a trusted proxy without X-Forwarded-For is counted as itself', async () => {
    const { port } = await cappedServer({ maxConnectionsPerIp: 1, trustProxy: (address) => address === '127.0.0.1' });
    expect((await rawUpgrade(port, from('127.0.0.1'))).status).toBe(101);
    expect((await rawUpgrade(port, from('127.0.0.1'))).status).toBe(429);
  });
});

describe('maxHandshakesPerIp → 429 with Retry-After', () => {
  it('N handshakes per period from one address, the N+1st refused', async () => {
    const { port, authenticated } = await cappedServer({ maxHandshakesPerIp: { handshakes: 3, per: 60_000 } });
    for (let i = 0; i < 3; i++) {
      const response = await rawUpgrade(port, from('127.0.0.4'));
      expect(response.status).toBe(101);
      response.socket.destroy(); // closed connections still count: it limits attempts
    }
    const refused = await rawUpgrade(port, from('127.0.0.4'));
    expect(refused.status).toBe(429);
    expect(refused.body).toBe('too many connection attempts from this address\n');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(20);
    expect(authenticated()).toBe(3);
    expect((await rawUpgrade(port, from('127.0.0.5'))).status).toBe(101);
  });

  it('counts refused attempts too', async () => {
    const { port } = await startServer({
      maxHandshakesPerIp: { handshakes: 2, per: 60_000 },
      authenticate: () => {
        throw new UpgradeError(401, 'no');
      },
    });
    expect((await rawUpgrade(port, from('127.0.0.6'))).status).toBe(401);
    expect((await rawUpgrade(port, from('127.0.0.6'))).status).toBe(401);
    expect((await rawUpgrade(port, from('127.0.0.6'))).status).toBe(429);
  });
});

describe('maxHandshakesPerIp: requests refused before admission are not counted', () => {
  it.each([['own port', false], ['attached server', true]])('%s: heads over maxHeaders (431) or maxRequestLineBytes (414)', async (_, attached) => {
    // Given: attached, the byte limits apply only when given (node:http's maxHeaderSize bounds the head).
    const { port, authenticated } = await cappedServer({ maxHandshakesPerIp: { handshakes: 2, per: 60_000 }, maxRequestLineBytes: 8192 }, attached as boolean);
    const headers: Record<string, string> = {};
    for (let i = 0; i < 150; i++) headers[`X-Line-${i}`] = 'v';
    expect((await rawUpgrade(port, from('127.0.0.7', headers))).status).toBe(431);
    expect((await rawUpgrade(port, { localAddress: '127.0.0.7', path: `/${'a'.repeat(9000)}` })).status).toBe(414);
    expect((await rawUpgrade(port, from('127.0.0.7'))).status).toBe(101);
    expect((await rawUpgrade(port, from('127.0.0.7'))).status).toBe(101);
    expect((await rawUpgrade(port, from('127.0.0.7'))).status).toBe(429);
    expect(authenticated()).toBe(2);
  });
});

describe('maxHandshakesPerIp: plain HTTP requests', () => {
  it('own port: a plain request there counts (426); attached: node:http answers it and it does not', async () => {
    const own = await cappedServer({ maxHandshakesPerIp: { handshakes: 1, per: 60_000 } });
    expect((await rawUpgrade(own.port, { localAddress: '127.0.0.8', plain: true })).status).toBe(426);
    expect((await rawUpgrade(own.port, from('127.0.0.8'))).status).toBe(429);
    const attached = await cappedServer({ maxHandshakesPerIp: { handshakes: 1, per: 60_000 } }, true);
    expect((await rawUpgrade(attached.port, { localAddress: '127.0.0.8', plain: true })).status).toBe(404);
    expect((await rawUpgrade(attached.port, from('127.0.0.8'))).status).toBe(101);
  });
});

describe('options', () => {
  it.each([
    [{ maxConnections: 0 }, RangeError],
    [{ maxConnectionsPerIp: -1 }, RangeError],
    [{ maxHandshakesPerIp: { handshakes: 1, per: 0 } }, RangeError],
    [{ trustProxy: ['not-an-ip'] }, TypeError],
    [{ origins: ['https://a.example/path'] }, TypeError],
  ])('%j → throws', async (options, type) => {
    await expect(startServer(options as never)).rejects.toThrow(type);
  });
});

describe('a trustProxy function that throws', () => {
  it.each([['own port', false], ['attached server', true]])("%s: 500 and an 'error' event, and the server goes on", async (_, attached) => {
    let calls = 0;
    const { wss, port } = await cappedServer(
      {
        maxConnectionsPerIp: 5,
        trustProxy: () => {
          if (++calls === 1) throw new Error('trustProxy failed');
          return false;
        },
      },
      attached as boolean,
    );
    const errors: Error[] = [];
    wss.on('error', (error: Error) => errors.push(error));
    const refused = await rawUpgrade(port, from('127.0.0.2'));
    expect(refused.status).toBe(500);
    expect(errors.map((e) => e.message)).toEqual(['trustProxy failed']);
    expect((await rawUpgrade(port, from('127.0.0.2'))).status).toBe(101);
  });
});
