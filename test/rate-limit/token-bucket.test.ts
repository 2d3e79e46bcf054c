/**
 * The token bucket and the per-connection limiter, on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/rate-limit/token-bucket.js';
import { MessageLimiter, defaultLimitMessage, normalizeRateLimit, type LimitedConnection } from '../../src/rate-limit/message-limiter.js';
import { kFail } from '../../src/node/websocket.js';

describe('TokenBucket', () => {
  it('allows a burst of capacity, then refills at capacity/per', () => {
    const bucket = new TokenBucket(5, 1000, 0);
    for (let i = 0; i < 5; i++) expect(bucket.take(1, 0)).toBe(true);
    expect(bucket.take(1, 0)).toBe(false);
    expect(bucket.take(1, 199)).toBe(false); // 0.995 tokens
    expect(bucket.take(1, 200)).toBe(true);
    expect(bucket.take(1, 200)).toBe(false);
  });

  it('never holds more than capacity', () => {
    const bucket = new TokenBucket(3, 100, 0);
    expect(bucket.available(1e9)).toBe(3);
    expect(bucket.isFull(1e9)).toBe(true);
  });

  it('a refused take takes nothing', () => {
    const bucket = new TokenBucket(10, 1000, 0);
    expect(bucket.take(7, 0)).toBe(true);
    expect(bucket.take(4, 0)).toBe(false);
    expect(bucket.available(0)).toBe(3);
  });

  it('msUntil: 0 when available, the wait otherwise, Infinity beyond capacity', () => {
    const bucket = new TokenBucket(10, 1000, 0);
    bucket.take(10, 0);
    expect(bucket.msUntil(1, 0)).toBe(100);
    expect(bucket.msUntil(5, 250)).toBe(250);
    expect(bucket.msUntil(1, 1000)).toBe(0);
    expect(bucket.msUntil(11, 1000)).toBe(Infinity);
  });

  it('a clock stepping backwards adds nothing', () => {
    const bucket = new TokenBucket(2, 1000, 1000);
    bucket.take(2, 1000);
    expect(bucket.take(1, 0)).toBe(false);
    expect(bucket.take(1, 1500)).toBe(true);
  });

  it.each([0, -1, Number.NaN, Infinity])('capacity or period %s → RangeError', (value) => {
    expect(() => new TokenBucket(value, 1000, 0)).toThrow(RangeError);
    expect(() => new TokenBucket(1, value, 0)).toThrow(RangeError);
  });
});

/** A connection double recording what the limiter does to it. */
function fakeConnection(): LimitedConnection & { sent: unknown[]; failed: Array<[number, string]> } {
  const sent: unknown[] = [];
  const failed: Array<[number, string]> = [];
  return {
    readyState: 1,
    sent,
    failed,
    send: (data) => sent.push(data),
    [kFail]: (code, reason) => failed.push([code, reason]),
  };
}

describe('MessageLimiter', () => {
  it('messages: N accepted, N+1 dropped, one error message per run of drops', () => {
    let now = 0;
    const config = normalizeRateLimit({ messages: 3, per: 1000 }, () => now)!;
    const counters = { messagesDroppedRateLimit: 0 };
    const limiter = new MessageLimiter(config, counters);
    const ws = fakeConnection();
    expect([1, 2, 3].map(() => limiter.admit(ws, 10, false))).toEqual([true, true, true]);
    expect(limiter.admit(ws, 10, false)).toBe(false);
    expect(limiter.admit(ws, 10, false)).toBe(false);
    expect(ws.sent).toEqual(['{"error":"rate_limited","limit":"messages","retryAfter":334}']);
    expect(counters.messagesDroppedRateLimit).toBe(2);
    now = 334;
    expect(limiter.admit(ws, 10, false)).toBe(true);
    // A new run of drops is reported again.
    expect(limiter.admit(ws, 10, false)).toBe(false);
    expect(ws.sent).toHaveLength(2);
  });

  it('bytes: the size is charged; a refused message takes no message token', () => {
    const now = 0;
    const limiter = new MessageLimiter(normalizeRateLimit({ messages: 2, bytes: 100, per: 1000 }, () => now)!);
    const ws = fakeConnection();
    expect(limiter.admit(ws, 60, true)).toBe(true);
    expect(limiter.admit(ws, 60, true)).toBe(false); // 40 bytes left
    expect(limiter.admit(ws, 40, true)).toBe(true); // the message token was not used up
    expect(JSON.parse(ws.sent[0] as string)).toMatchObject({ limit: 'bytes' });
  });

  it('both buckets short: retryAfter is the longer wait, and limit names its bucket', () => {
    let now = 0;
    const limiter = new MessageLimiter(normalizeRateLimit({ messages: 10, bytes: 1000, per: 1000 }, () => now)!);
    const ws = fakeConnection();
    for (let i = 0; i < 10; i++) expect(limiter.admit(ws, 100, true)).toBe(true);
    expect(limiter.admit(ws, 500, true)).toBe(false);
    expect(JSON.parse(ws.sent[0] as string)).toMatchObject({ limit: 'bytes', retryAfter: 500 });
    now = 499;
    expect(limiter.admit(ws, 500, true)).toBe(false);
    now = 500;
    expect(limiter.admit(ws, 500, true)).toBe(true);
    // The message bucket the slower one.
    const slow = new MessageLimiter(normalizeRateLimit({ messages: 1, bytes: 1000, per: 1000 }, () => 0)!);
    const peer = fakeConnection();
    expect(slow.admit(peer, 900, true)).toBe(true);
    expect(slow.admit(peer, 200, true)).toBe(false);
    expect(JSON.parse(peer.sent[0] as string)).toMatchObject({ limit: 'messages', retryAfter: 1000 });
  });

  it('under one message per period: one message every per/messages ms', () => {
    let now = 0;
    const limiter = new MessageLimiter(normalizeRateLimit({ messages: 0.5, per: 1000 }, () => now)!);
    const ws = fakeConnection();
    expect(limiter.admit(ws, 1, false)).toBe(true);
    expect(limiter.admit(ws, 1, false)).toBe(false);
    expect(JSON.parse(ws.sent[0] as string)).toMatchObject({ limit: 'messages', retryAfter: 2000 });
    now = 2000;
    expect(limiter.admit(ws, 1, false)).toBe(true);
  });

  it('a message larger than the byte capacity is never accepted: retryAfter null', () => {
    const limiter = new MessageLimiter(normalizeRateLimit({ bytes: 100 }, () => 0)!);
    const ws = fakeConnection();
    expect(limiter.admit(ws, 101, true)).toBe(false);
    expect(ws.sent).toEqual(['{"error":"rate_limited","limit":"bytes","retryAfter":null}']);
  });

  it("onLimit replaces the default message and receives what was exceeded", () => {
    const calls: unknown[] = [];
    const limiter = new MessageLimiter(normalizeRateLimit({ messages: 1, per: 1000, onLimit: (ws, info) => calls.push(info) }, () => 0)!);
    const ws = fakeConnection();
    limiter.admit(ws, 5, false);
    limiter.admit(ws, 7, true);
    expect(calls).toEqual([{ limit: 'messages', size: 7, isBinary: true, retryAfter: 1000 }]);
    expect(ws.sent).toEqual([]);
  });

  it("'close' fails the connection with 1008 once, and drops everything after", () => {
    const limiter = new MessageLimiter(normalizeRateLimit({ messages: 1, action: 'close' }, () => 0)!);
    const ws = fakeConnection();
    expect(limiter.admit(ws, 1, false)).toBe(true);
    expect(limiter.admit(ws, 1, false)).toBe(false);
    expect(limiter.admit(ws, 1, false)).toBe(false);
    expect(ws.failed).toEqual([[1008, 'rate limit exceeded']]);
    expect(ws.sent).toEqual([]);
  });

  it('the default message is not sent on a connection that is no longer open', () => {
    const limiter = new MessageLimiter(normalizeRateLimit({ messages: 1 }, () => 0)!);
    const ws = { ...fakeConnection(), readyState: 2 };
    limiter.admit(ws, 1, false);
    limiter.admit(ws, 1, false);
    expect(ws.sent).toEqual([]);
  });

  it('defaultLimitMessage is JSON', () => {
    expect(JSON.parse(defaultLimitMessage({ limit: 'messages', size: 1, isBinary: false, retryAfter: 5 }))).toEqual({ error: 'rate_limited', limit: 'messages', retryAfter: 5 });
  });
});

describe('normalizeRateLimit', () => {
  it('undefined → null; defaults per 1000 and drop', () => {
    expect(normalizeRateLimit(undefined)).toBeNull();
    expect(normalizeRateLimit({ messages: 5 })).toMatchObject({ messages: 5, bytes: 0, per: 1000, action: 'drop' });
  });

  it.each([
    [{}, TypeError],
    [{ messages: 0 }, RangeError],
    [{ bytes: -1 }, RangeError],
    [{ messages: 1, per: 0 }, RangeError],
    [{ messages: 1, action: 'kick' }, TypeError],
    [{ messages: 1, onLimit: 'x' }, TypeError],
  ])('%j → %o', (options, type) => {
    expect(() => normalizeRateLimit(options as never)).toThrow(type);
  });
});

describe('refill bounds', () => {
  it('TokenBucket: msUntil is rounded up, so the tokens are there after that wait and not before it', () => {
    const bucket = new TokenBucket(3, 10, 0); // 0.3 token per ms
    expect(bucket.take(3, 0)).toBe(true);
    const wait = bucket.msUntil(1, 0); // 1 / 0.3 = 3.33 ms
    expect(wait).toBe(4);
    expect(bucket.has(1, wait - 1)).toBe(false);
    expect(bucket.has(1, wait)).toBe(true);
  });

  it('MessageLimiter: a connection idle for many periods gets back its burst, not more', () => {
    let now = 0;
    const limiter = new MessageLimiter(normalizeRateLimit({ messages: 2, bytes: 100, per: 1000 }, () => now)!);
    const ws = fakeConnection();
    now = 60_000;
    expect([1, 2, 3].map(() => limiter.admit(ws, 1, false))).toEqual([true, true, false]);
    now = 120_000;
    expect(limiter.admit(ws, 100, true)).toBe(true);
    expect(limiter.admit(ws, 1, true)).toBe(false); // the byte bucket is capped too
  });
});
