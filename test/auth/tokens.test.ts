/**
 * Token extraction: the Authorization header, the query string and the subprotocol
 * carrier. Pure functions over request-shaped objects.
 */
import { describe, expect, it } from 'vitest';
import { bearerToken, extractToken, protocolToken, protocolsWithoutToken, queryToken } from '../../src/auth/tokens.js';
import { UpgradeError } from '../../src/node/server.js';

const req = (headers: Record<string, string | string[] | undefined> = {}, url = '/') => ({ headers, url });

describe('bearerToken', () => {
  it.each([
    ['Bearer abc.def-ghi_jkl', 'abc.def-ghi_jkl'],
    ['bearer abc', 'abc'],
    ['BEARER   abc==', 'abc=='],
    ['Bearer a+b/c~d', 'a+b/c~d'],
  ])('%j → %j', (header, token) => {
    expect(bearerToken(req({ authorization: header }))).toBe(token);
  });

  it.each([undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer a b', 'Bearer a,b', 'Bearer =abc', 'Bearerabc'])('%j → null', (header) => {
    expect(bearerToken(req({ authorization: header }))).toBeNull();
  });

  it('a repeated header (a list) → null', () => {
    expect(bearerToken(req({ authorization: ['Bearer a', 'Bearer b'] }))).toBeNull();
  });

  it('a repeated header that headers kept one of (node:http keeps the first) → null, from rawHeaders', () => {
    const rawHeaders = ['Host', 'example.com', 'Authorization', 'Bearer a', 'authorization', 'Bearer b'];
    expect(bearerToken({ headers: { authorization: 'Bearer a' }, rawHeaders })).toBeNull();
    expect(bearerToken({ headers: { authorization: 'Bearer a' }, rawHeaders: rawHeaders.slice(0, 4) })).toBe('a');
  });
});

describe('queryToken', () => {
  it('reads and decodes the parameter', () => {
    expect(queryToken(req({}, '/ws?room=1&token=a%2Bb'))).toBe('a+b');
    expect(queryToken(req({}, '/ws?access_token=xyz'), 'access_token')).toBe('xyz');
  });

  it.each(['/ws', '/ws?', '/ws?token=', '/ws?token=a&token=b', '/ws?other=a'])('%s → null', (url) => {
    expect(queryToken(req({}, url))).toBeNull();
  });
});

describe('protocolToken', () => {
  it('takes the subprotocol after the marker', () => {
    expect(protocolToken(req({ 'sec-websocket-protocol': 'bearer, abc.def' }))).toBe('abc.def');
    expect(protocolToken(req({ 'sec-websocket-protocol': 'chat,bearer,abc' }))).toBe('abc');
    expect(protocolToken(req({ 'sec-websocket-protocol': 'access_token, abc' }), 'access_token')).toBe('abc');
  });

  it.each([undefined, 'chat', 'bearer', 'abc, bearer', 'bearer,,'])('%j → null', (header) => {
    expect(protocolToken(req({ 'sec-websocket-protocol': header }))).toBeNull();
  });

  it('protocolsWithoutToken removes the token, keeps the rest in order', () => {
    expect([...protocolsWithoutToken(new Set(['chat', 'bearer', 'tok', 'v2']))]).toEqual(['chat', 'bearer', 'v2']);
    expect([...protocolsWithoutToken(['chat'])]).toEqual(['chat']);
  });
});

describe('extractToken', () => {
  it('looks in the configured places, in order', () => {
    const request = req({ authorization: 'Bearer h' }, '/?token=q');
    expect(extractToken(request)).toEqual({ token: 'h', source: 'header' });
    expect(extractToken(request, { from: ['query'] })).toEqual({ token: 'q', source: 'query' });
    expect(extractToken(req({ 'sec-websocket-protocol': 'bearer, p' }))).toEqual({ token: 'p', source: 'protocol' });
    expect(extractToken(req())).toBeNull();
  });

  it('two carriers at once → UpgradeError 400', () => {
    const request = req({ authorization: 'Bearer h' }, '/?token=q');
    expect(() => extractToken(request, { from: ['header', 'query'] })).toThrow(UpgradeError);
    try {
      extractToken(request, { from: ['header', 'query'] });
    } catch (error) {
      expect((error as UpgradeError).status).toBe(400);
    }
  });

  it('an unknown source → TypeError', () => {
    expect(() => extractToken(req(), { from: ['cookie' as never] })).toThrow(TypeError);
  });
});
