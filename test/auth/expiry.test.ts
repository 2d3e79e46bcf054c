/**
 * Token lifetime: connections close with 1008 "token expired" when their credentials
 * expire, unless re-authenticated in band; timers never outlive their connection.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jwtAuthenticator, type JwtClaims, type WebSocket } from '../../src/index.js';
import { ExpiryTimer, expiryFromClaims, tokenExpiryReader } from '../../src/auth/expiry.js';
import { MS, closeAll, delay, nextEvent, openClient, rawUpgrade, startServer } from '../helpers/sockets.js';
import { Op, closeCodeOf, frame, rawUpgrade as rawUpgradeClient } from '../node/helpers.js';
import { SECRET, signJwt } from './sign.js';

afterEach(() => {
  vi.useRealTimers();
  return closeAll();
});

describe('through sockets', () => {
  it('closeOnTokenExpiry with a function: closed with 1008 "token expired" at that time', async () => {
    const { url, wss } = await startServer<{ until: number }>({
      authenticate: () => ({ until: Date.now() + 150 * MS }),
      closeOnTokenExpiry: (data) => data.until,
    });
    const deadlines: Array<[number | null, number]> = [];
    wss.on('connection', (ws: WebSocket<{ until: number }>) => deadlines.push([ws.tokenExpiresAt, ws.data.until]));
    const client = await openClient(url);
    const [code, reason] = await nextEvent<[number, Buffer]>(client, 'close');
    expect(code).toBe(1008);
    expect(reason.toString()).toBe('token expired');
    expect(deadlines).toHaveLength(1);
    expect(deadlines[0]![0]).toBe(deadlines[0]![1]);
    expect(Date.now()).toBeGreaterThanOrEqual(deadlines[0]![1]);
  });

  it('closeOnTokenExpiry: true reads the JWT exp claim of ws.data', async () => {
    // exp has one-second resolution: the token expires in one to two seconds.
    const exp = Math.floor(Date.now() / 1000) + 2;
    const { url, wss } = await startServer<JwtClaims>({
      authenticate: jwtAuthenticator({ algorithms: ['HS256'], secret: SECRET }),
      closeOnTokenExpiry: true,
    });
    const connection = nextEvent<[WebSocket<JwtClaims>]>(wss, 'connection');
    const client = await openClient(url, [], { headers: { Authorization: `Bearer ${signJwt({ sub: 'a', exp }, { alg: 'HS256', secret: SECRET })}` } });
    expect((await connection)[0].tokenExpiresAt).toBe(exp * 1000);
    const [code, reason] = await nextEvent<[number, Buffer]>(client, 'close', 4000 * MS);
    expect([code, reason.toString()]).toEqual([1008, 'token expired']);
  });

  it('after the deadline nothing the client sends is delivered, even if it never answers the close', async () => {
    const { port, wss } = await startServer({ authenticate: () => ({}), closeOnTokenExpiry: () => Date.now() + 100 * MS });
    const delivered: string[] = [];
    wss.on('connection', (ws: WebSocket) => ws.on('message', (data: Buffer) => delivered.push(data.toString())));
    const { raw } = await rawUpgradeClient(port);
    raw.write(frame(Op.Text, 'before'));
    const closeFrame = await raw.readFrame(2000 * MS);
    expect(closeFrame.opcode).toBe(Op.Close);
    expect(closeCodeOf(closeFrame.payload)).toBe(1008);
    // A client that ignores the close frame and goes on sending.
    raw.write(frame(Op.Text, 'after'));
    await raw.waitClosed();
    expect(delivered).toEqual(['before']);
  });

  it.each([
    ['as they are', undefined],
    ['through a map that returns the claims', async (claims: JwtClaims) => claims],
  ])('a token accepted within clockTolerance after its exp is closed at exp + tolerance, not at once (claims %s)', async (_, map) => {
    const exp = Math.floor(Date.now() / 1000) - 1; // expired a second ago
    const { url, wss } = await startServer<JwtClaims>({
      authenticate: jwtAuthenticator({ algorithms: ['HS256'], secret: SECRET, clockTolerance: 30, map }),
      closeOnTokenExpiry: true,
    });
    const connection = nextEvent<[WebSocket<JwtClaims>]>(wss, 'connection');
    const client = await openClient(url, [], { headers: { Authorization: `Bearer ${signJwt({ sub: 'a', exp }, { alg: 'HS256', secret: SECRET })}` } });
    expect((await connection)[0].tokenExpiresAt).toBe((exp + 30) * 1000);
    await delay(200 * MS);
    expect(client.readyState).toBe(1);
  });

  it('re-authentication in band moves the deadline: the connection stays open', async () => {
    let firstDeadline = 0;
    const { url, wss } = await startServer({
      authenticate: () => ({}),
      closeOnTokenExpiry: () => (firstDeadline = Date.now() + 500 * MS),
    });
    wss.on('connection', (ws: WebSocket) => {
      ws.on('message', (data: Buffer) => {
        // The application verifies the new credentials, then extends.
        if (data.toString() === 'renew') ws.reauthenticate(Date.now() + 60_000);
        ws.send(String(ws.tokenExpiresAt));
      });
    });
    const client = await openClient(url);
    const closes: number[] = [];
    client.on('close', (code: number) => closes.push(code));
    const reply = nextEvent<[Buffer]>(client, 'message');
    client.send('renew');
    expect(Number((await reply)[0].toString())).toBeGreaterThan(firstDeadline + 30_000);
    await delay(Math.max(0, firstDeadline - Date.now()) + 100 * MS);
    expect(closes).toEqual([]);
    expect(client.readyState).toBe(1);
  });

  it('without closeOnTokenExpiry the exp claim is ignored', async () => {
    const { url, wss } = await startServer({ authenticate: () => ({ exp: Math.floor(Date.now() / 1000) - 10 }) });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const client = await openClient(url);
    expect((await connection)[0].tokenExpiresAt).toBeNull();
    await delay(50 * MS);
    expect(client.readyState).toBe(1);
  });

  it('the timer is cleared when the connection closes first', async () => {
    const { url, wss } = await startServer({ authenticate: () => ({}), closeOnTokenExpiry: () => Date.now() + 60_000 });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const client = await openClient(url);
    const [ws] = await connection;
    expect(ws.tokenExpiresAt).not.toBeNull();
    const closed = nextEvent(ws, 'close');
    client.close(1000);
    await closed;
    expect(ws.tokenExpiresAt).toBeNull();
  });

  it('an expiry reader that throws answers 500 (and reports the error), never a 101', async () => {
    const { port, wss } = await startServer({
      authenticate: () => ({}),
      closeOnTokenExpiry: () => {
        throw new Error('bug in the reader');
      },
    });
    const errors: Error[] = [];
    wss.on('error', (error: Error) => errors.push(error));
    expect((await rawUpgrade(port)).status).toBe(500);
    expect(errors.map((e) => e.message)).toEqual(['bug in the reader']);
    expect(wss.clients.size).toBe(0);
  });

  it('reauthenticate(null) removes the deadline', async () => {
    const { url, wss } = await startServer({ authenticate: () => ({}), closeOnTokenExpiry: () => Date.now() + 100 * MS });
    wss.on('connection', (ws) => ws.reauthenticate(null));
    const client = await openClient(url);
    await delay(250 * MS);
    expect(client.readyState).toBe(1);
  });
});

describe('ExpiryTimer', () => {
  it('chains timers for deadlines beyond setTimeout range (2^31 - 1 ms)', () => {
    vi.useFakeTimers({ now: 0 });
    let fired = 0;
    const timer = new ExpiryTimer(() => fired++);
    const thirtyDays = 30 * 24 * 3600 * 1000;
    timer.set(thirtyDays);
    vi.advanceTimersByTime(2 ** 31 - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(thirtyDays - (2 ** 31 - 1) - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
    expect(timer.expiresAt).toBeNull();
  });

  it('a deadline in the past fires on the next turn; clear cancels', () => {
    vi.useFakeTimers({ now: 10_000 });
    let fired = 0;
    const timer = new ExpiryTimer(() => fired++);
    timer.set(5_000);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(0);
    expect(fired).toBe(1);
    timer.set(20_000);
    timer.clear();
    vi.advanceTimersByTime(20_000);
    expect(fired).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses non-finite deadlines', () => {
    const timer = new ExpiryTimer(() => {});
    expect(() => timer.set(Number.NaN)).toThrow(RangeError);
    expect(() => timer.set(Infinity)).toThrow(RangeError);
  });
});

describe('reading the expiry', () => {
  it('true → exp seconds as ms; functions as given; off → null', () => {
    expect(expiryFromClaims({ exp: 1_700_000_000 })).toBe(1_700_000_000_000);
    expect(() => expiryFromClaims({ exp: '1' })).toThrow(TypeError); // a NumericDate is a number: not silently no expiry
    expect(() => expiryFromClaims({ exp: Number.NaN })).toThrow(TypeError);
    expect(expiryFromClaims({ exp: null })).toBeNull();
    expect(expiryFromClaims({})).toBeNull();
    expect(expiryFromClaims(null)).toBeNull();
    expect(tokenExpiryReader(true)!({ exp: 2 })).toBe(2000);
    expect(tokenExpiryReader((d: { t: number }) => d.t)!({ t: 5 })).toBe(5);
    expect(tokenExpiryReader(() => undefined)!({})).toBeNull();
    expect(tokenExpiryReader(false)).toBeNull();
    expect(() => tokenExpiryReader('yes' as never)).toThrow(TypeError);
  });
});
