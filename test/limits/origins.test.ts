/**
 * The `origins` allowlist through real sockets: a wrong Origin is refused with 403
 * before `authenticate` runs (cross-site WebSocket hijacking).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerOptions } from '../../src/index.js';
import { compileOriginCheck } from '../../src/limits/origins.js';
import { closeAll, openClient, rawUpgrade, startAttachedServer, startServer } from '../helpers/sockets.js';

afterEach(closeAll);

async function originServer(options: Omit<ServerOptions, 'port'>, attached = false) {
  let authenticated = 0;
  const all = { ...options, authenticate: () => ++authenticated };
  const server = attached ? await startAttachedServer(all) : await startServer(all);
  return { ...server, authenticated: () => authenticated };
}

describe('origins', () => {
  it.each([['own port', false], ['attached server', true]])('%s: a wrong Origin → 403, never authenticated', async (_, attached) => {
    const { port, authenticated } = await originServer({ origins: ['https://app.example.com'] }, attached as boolean);
    const refused = await rawUpgrade(port, { headers: { Origin: 'https://evil.example.net' } });
    expect(refused.status).toBe(403);
    expect(refused.body).toBe('origin not allowed\n');
    expect(refused.headers['sec-websocket-accept']).toBeUndefined();
    expect(authenticated()).toBe(0);
  });

  it('the allowed Origin → 101 (ASCII case-insensitive)', async () => {
    const { port, url } = await originServer({ origins: ['https://app.example.com', 'http://localhost:3000'] });
    expect((await rawUpgrade(port, { headers: { Origin: 'https://app.example.com' } })).status).toBe(101);
    expect((await rawUpgrade(port, { headers: { Origin: 'HTTPS://APP.EXAMPLE.COM' } })).status).toBe(101);
    await openClient(url, [], { origin: 'http://localhost:3000' });
  });

  it.each([
    ['a subdomain', 'https://evil.app.example.com'],
    ['another scheme', 'http://app.example.com'],
    ['another port', 'https://app.example.com:8443'],
    ['a suffix', 'https://app.example.com.evil.net'],
    ['a path', 'https://app.example.com/'],
    ['the opaque origin', 'null'],
    ['two origins', 'https://app.example.com, https://evil.example.net'],
  ])('%s → 403', async (_, origin) => {
    const { port } = await originServer({ origins: ['https://app.example.com'] });
    expect((await rawUpgrade(port, { headers: { Origin: origin } })).status).toBe(403);
  });

  it('a default port in the configuration matches what browsers send', async () => {
    const { port } = await originServer({ origins: ['https://app.example.com:443/'] });
    expect((await rawUpgrade(port, { headers: { Origin: 'https://app.example.com' } })).status).toBe(101);
  });

  it.each([['own port', false], ['attached server', true]])("%s: a predicate that throws → 500 and an 'error' event, never a crash", async (_, attached) => {
    const { wss, port, authenticated } = await originServer({ origins: [(origin) => new URL(origin).hostname === 'app.example.com'] }, attached as boolean);
    const errors: Error[] = [];
    wss.on('error', (error: Error) => errors.push(error));
    const refused = await rawUpgrade(port, { headers: { Origin: 'not a URL' } });
    expect(refused.status).toBe(500);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect(authenticated()).toBe(0);
    expect((await rawUpgrade(port, { headers: { Origin: 'https://app.example.com' } })).status).toBe(101);
  });

  it('predicates get the origin and the request', async () => {
    const seen: string[] = [];
    const { port } = await originServer({
      origins: [
        (origin, req) => {
          seen.push(`${origin} ${req.url}`);
          return origin.endsWith('.example.com');
        },
      ],
    });
    expect((await rawUpgrade(port, { path: '/ws', headers: { Origin: 'https://a.example.com' } })).status).toBe(101);
    expect((await rawUpgrade(port, { path: '/ws', headers: { Origin: 'https://example.org' } })).status).toBe(403);
    expect(seen).toEqual(['https://a.example.com /ws', 'https://example.org /ws']);
  });

  it('"null" is allowed only when listed', async () => {
    const { port } = await originServer({ origins: ['null'] });
    expect((await rawUpgrade(port, { headers: { Origin: 'null' } })).status).toBe(101);
  });

  it('no Origin (a non-browser client) → allowed by default', async () => {
    const { port } = await originServer({ origins: ['https://app.example.com'] });
    expect((await rawUpgrade(port)).status).toBe(101);
  });

  it('requireOrigin: no Origin → 403', async () => {
    const { port, authenticated } = await originServer({ origins: ['https://app.example.com'], requireOrigin: true });
    const refused = await rawUpgrade(port);
    expect(refused.status).toBe(403);
    expect(refused.body).toBe('an Origin header is required\n');
    expect(authenticated()).toBe(0);
  });

  it('without origins every Origin is accepted', async () => {
    const { port } = await originServer({});
    expect((await rawUpgrade(port, { headers: { Origin: 'https://anything.example' } })).status).toBe(101);
  });
});

describe('compileOriginCheck', () => {
  it('nothing configured → no check', () => {
    expect(compileOriginCheck(undefined)).toBeNull();
  });

  it.each(['*', 'app.example.com', 'https://a.example/path', 'https://a.example?x=1', ''])('%j → TypeError', (origin) => {
    expect(() => compileOriginCheck([origin])).toThrow(TypeError);
  });
});
