import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HandshakeError } from '../../src/protocol/errors.js';
import {
  type ExpectedResponse,
  GUID,
  type IncomingHeaders,
  buildAcceptResponse,
  plainAcceptResponse,
  buildErrorResponse,
  buildUpgradeRequest,
  computeAccept,
  generateKey,
  validateUpgradeHead,
  validateUpgradeRequest,
  validateUpgradeResponse,
} from '../../src/protocol/handshake.js';
import { acceptOfKey, writeAcceptOfKey } from '../../src/protocol/sha1.js';
import { headerRecord, parseRequestHead, parseResponseHead } from '../../src/protocol/http.js';

/** RFC 6455 §1.3 / §4.2.2: the sample nonce and its accept value. */
const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

const VALID_HEADERS = {
  host: 'server.example.com',
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-key': RFC_KEY,
  'sec-websocket-version': '13',
} as const;

function upgradeRequest(headers: IncomingHeaders = {}, method = 'GET', httpVersion = '1.1') {
  const merged: IncomingHeaders = { ...VALID_HEADERS, ...headers };
  return { method, httpVersion, headers: merged };
}

/** The HandshakeError `fn` throws. */
function handshakeError(fn: () => unknown): HandshakeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HandshakeError);
    return error as HandshakeError;
  }
  throw new Error('expected a HandshakeError');
}

function rejectRequest(headers: IncomingHeaders, method?: string, httpVersion?: string): HandshakeError {
  return handshakeError(() => validateUpgradeRequest(upgradeRequest(headers, method, httpVersion)));
}

const UPGRADE_REQUIRED = { Upgrade: 'websocket', Connection: 'Upgrade' };

describe('RFC 6455 §1.3 / §4.2.2 Sec-WebSocket-Accept', () => {
  it('gives the RFC example accept value for the RFC example key', () => {
    expect(computeAccept(RFC_KEY)).toBe(RFC_ACCEPT);
  });

  it('uses the RFC GUID', () => {
    expect(GUID).toBe('258EAFA5-E914-47DA-95CA-C5AB0DC85B11');
  });

  it('is base64 of a 20-byte SHA-1 for any key', () => {
    fc.assert(
      fc.property(fc.string(), (key) => {
        expect(Buffer.from(computeAccept(key), 'base64')).toHaveLength(20);
      }),
    );
  });

  // Valid keys are hashed by sha1.ts, other strings by node:crypto: both must agree with it.
  const viaCrypto = (key: string) => createHash('sha1').update(key + GUID).digest('base64');

  it('equals node:crypto for every key of 16 bytes in base64 (the SHA-1 in JavaScript)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const key = Buffer.from(bytes).toString('base64');
        expect(acceptOfKey(key)).not.toBeNull();
        expect(computeAccept(key)).toBe(viaCrypto(key));
      }),
      { numRuns: 2000 },
    );
  });

  it('equals node:crypto for any 24 characters, ASCII or not, and any other length', () => {
    const ascii = fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((code) => String.fromCharCode(code)), minLength: 24, maxLength: 24 });
    const wide = fc.string({ unit: 'grapheme', minLength: 24, maxLength: 24 });
    fc.assert(
      fc.property(fc.oneof(ascii, wide, fc.string({ unit: 'binary' })), (key) => {
        expect(computeAccept(key)).toBe(viaCrypto(key));
      }),
      { numRuns: 2000 },
    );
    for (const key of ['', 'a'.repeat(23), 'a'.repeat(25), `${'a'.repeat(23)}\u0080`, `${'a'.repeat(23)}\u0141`, `\u0141${'a'.repeat(23)}`]) {
      expect(computeAccept(key)).toBe(viaCrypto(key));
    }
    expect(acceptOfKey(`${'a'.repeat(23)}\u0141`)).toBeNull();
    expect(acceptOfKey(`${'a'.repeat(23)}\u00ff`)).toBeNull();
  });

  it('the plain 101 answer as bytes is buildAcceptResponse with no options, for any valid key; null for a key no request can carry', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const key = Buffer.from(bytes).toString('base64');
        const response = plainAcceptResponse(key)!;
        expect(response.toString('latin1')).toBe(buildAcceptResponse({ key }));
        const accept = Buffer.alloc(30, 0x2e);
        expect(writeAcceptOfKey(key, accept, 1)).toBe(true);
        expect(accept.toString('latin1')).toBe(`.${viaCrypto(key)}.`);
      }),
      { numRuns: 500 },
    );
    expect(plainAcceptResponse(RFC_KEY)!.toString('latin1')).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
    for (const key of ['', 'a'.repeat(23), 'a'.repeat(25), `${'a'.repeat(23)}\u0141`]) expect(plainAcceptResponse(key)).toBeNull();
  });
});

describe('RFC 6455 §4.2.1 server reads the client handshake', () => {
  it('accepts the RFC §1.2 request and returns key, version, protocols, extensions', () => {
    const info = validateUpgradeRequest(
      upgradeRequest({
        origin: 'http://example.com',
        'sec-websocket-protocol': 'chat, superchat',
        'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
      }),
    );
    expect(info).toEqual({
      key: RFC_KEY,
      version: 13,
      protocols: ['chat', 'superchat'],
      extensions: [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }],
      expectContinue: false,
    });
  });

  it('returns empty protocol and extension lists when none are offered', () => {
    expect(validateUpgradeRequest(upgradeRequest())).toMatchObject({ protocols: [], extensions: [] });
  });

  it('accepts a head parsed by parseRequestHead', () => {
    const head = parseRequestHead(
      Buffer.from(
        'GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n` +
          'Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: x-foo; a="1"\r\n\r\n',
      ),
    )!;
    expect(validateUpgradeRequest(head).extensions).toEqual([
      { name: 'permessage-deflate', params: [] },
      { name: 'x-foo', params: [['a', '1']] },
    ]);
  });

  describe('item 1: GET, HTTP/1.1 or later', () => {
    it.each(['POST', 'HEAD', 'get', 'CONNECT'])('answers %s with 405 and Allow: GET', (method) => {
      const error = rejectRequest({}, method);
      expect(error.status).toBe(405);
      expect(error.headers).toEqual({ Allow: 'GET' });
      expect(error.message).toBe(`WebSocket upgrade requires method GET, got "${method}"`);
    });

    it.each([
      ['1.0', 400],
      ['0.9', 400],
      ['', 400],
      ['1', 400],
      ['x.y', 400],
      ['2.0', 505],
      ['3.0', 505],
    ])('answers HTTP version %j with %i', (version, status) => {
      expect(rejectRequest({}, 'GET', version).status).toBe(status);
    });

    it.each(['1.1', '1.2'])('accepts HTTP/%s', (version) => {
      expect(validateUpgradeRequest(upgradeRequest({}, 'GET', version)).version).toBe(13);
    });

    it('says which version was refused', () => {
      expect(rejectRequest({}, 'GET', '1.0').message).toBe('WebSocket upgrade requires HTTP/1.1 or later, got HTTP/1.0');
    });
  });

  describe('item 2: Host', () => {
    it.each<[string, IncomingHeaders, string]>([
      ['missing', { host: undefined }, 'Host header is missing'],
      ['empty', { host: '' }, 'Host header is missing'],
      ['repeated as an array', { host: ['a', 'b'] }, 'Host must appear once, got 2 values'],
      ['repeated and joined', { host: 'a, b' }, 'Host must be a single host[:port], got "a, b"'],
      ['holding a space', { host: 'a b' }, 'Host must be a single host[:port], got "a b"'],
      ...['a/b', 'user@host', 'a?b', 'a#b', 'host:port', 'host:80:80', '[::1', '::1', 'a"b', 'a{b}', 'a\\b', 'a<b>', 'a|b', 'a^b'].map(
        (host): [string, IncomingHeaders, string] => [`that is no host[:port] (${host})`, { host }, `Host must be a single host[:port], got ${JSON.stringify(host)}`],
      ),
    ])('answers a Host header %s with 400', (_label, headers, message) => {
      const error = rejectRequest(headers);
      expect(error.status).toBe(400);
      expect(error.message).toBe(message);
    });

    it.each(['localhost', 'example.com:8080', '127.0.0.1:1', '[::1]:9001', '[::ffff:127.0.0.1]', 'example.com:', 'a_b.example', '%41.example', '[fe80::1%eth0]:80', '[fe80::1%25eth0]', '[V1.x]'])(
      'accepts the Host %s (RFC 3986 uri-host and an optional port)',
      (host) => {
        expect(validateUpgradeRequest(upgradeRequest({ host })).key).toBeTypeOf('string');
      },
    );

    it('answers two Host lines with 400 when rawHeaders shows them (node:http keeps only the first in headers)', () => {
      const request = { ...upgradeRequest({ host: 'good.example' }), rawHeaders: ['Host', 'good.example', 'host', 'evil.example'] };
      const error = handshakeError(() => validateUpgradeRequest(request));
      expect(error.status).toBe(400);
      expect(error.message).toBe('Host must be a single host[:port], got "good.example, evil.example"'); // as validateUpgradeHead says it
      expect(() => validateUpgradeRequest({ ...request, rawHeaders: ['Host', 'good.example'] })).not.toThrow();
    });

    it.each([
      [undefined, false],
      ['100-continue', true],
      ['100-Continue', true],
      ['foo=bar, 100-continue', true],
      ['foo', false],
    ])('Expect %j: expectContinue %s (RFC 9110 §7.8: a 100 before the 101)', (expect_, wanted) => {
      expect(validateUpgradeRequest(upgradeRequest({ expect: expect_ })).expectContinue).toBe(wanted);
    });

    it.each(['example.com', 'example.com:8080', '[::1]:443', '127.0.0.1'])('accepts Host %j', (host) => {
      expect(() => validateUpgradeRequest(upgradeRequest({ host }))).not.toThrow();
    });
  });

  describe('items 3 and 4: Upgrade and Connection', () => {
    it.each<[string, IncomingHeaders]>([
      ['Upgrade: WebSocket', { upgrade: 'WebSocket' }],
      ['Upgrade: WEBSOCKET', { upgrade: 'WEBSOCKET' }],
      ['Upgrade: h2c, websocket', { upgrade: 'h2c, websocket' }],
      ['Upgrade: HTTP/2.0 ,websocket', { upgrade: 'HTTP/2.0 ,websocket' }],
      ['Connection: upgrade', { connection: 'upgrade' }],
      ['Connection: keep-alive, Upgrade', { upgrade: 'websocket', connection: 'keep-alive, Upgrade' }],
      ['Connection: keep-alive,UPGRADE', { connection: 'keep-alive,UPGRADE' }],
      ['Connection:  ,\tUpgrade ,', { connection: ' ,\tUpgrade ,' }],
      ['Connection as an array', { connection: ['keep-alive', 'Upgrade'] }],
    ])('accepts %s', (_label, headers) => {
      expect(() => validateUpgradeRequest(upgradeRequest(headers))).not.toThrow();
    });

    it.each<[string, IncomingHeaders, string]>([
      ['no Upgrade', { upgrade: undefined }, 'Upgrade header must include "websocket", got no Upgrade header'],
      ['Upgrade: h2c', { upgrade: 'h2c' }, 'Upgrade header must include "websocket", got "h2c"'],
      ['Upgrade: websocket/13', { upgrade: 'websocket/13' }, 'Upgrade header must include "websocket", got "websocket/13"'],
      ['no Connection', { connection: undefined }, 'Connection header must include "Upgrade", got no Connection header'],
      ['Connection: keep-alive', { connection: 'keep-alive' }, 'Connection header must include "Upgrade", got "keep-alive"'],
      ['Connection: upgrades', { connection: 'upgrades' }, 'Connection header must include "Upgrade", got "upgrades"'],
    ])('answers %s with 426 and Upgrade/Connection headers', (_label, headers, message) => {
      const error = rejectRequest(headers);
      expect(error.status).toBe(426);
      expect(error.headers).toEqual(UPGRADE_REQUIRED);
      expect(error.message).toBe(message);
    });

    it.each<[string, IncomingHeaders]>([
      ['Upgrade: web socket', { upgrade: 'web socket' }],
      ['Connection: Upgrade;x', { connection: 'Upgrade;x' }],
    ])('answers a malformed %s with 400', (_label, headers) => {
      expect(rejectRequest(headers).status).toBe(400);
    });

    it('finds header names in any case', () => {
      const headers = { Host: 'a', UPGRADE: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': RFC_KEY, 'Sec-WebSocket-Version': '13' };
      expect(validateUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers }).key).toBe(RFC_KEY);
    });
  });

  describe('item 5: Sec-WebSocket-Key is base64 of 16 bytes', () => {
    it.each<[string, string | string[] | undefined, string]>([
      ['missing', undefined, 'Sec-WebSocket-Key header is missing'],
      ['empty', '', 'Sec-WebSocket-Key must be base64 of 16 bytes, got 0 bytes'],
      ['12 bytes', 'AAAAAAAAAAAAAAAA', 'Sec-WebSocket-Key must be base64 of 16 bytes, got 12 bytes'],
      ['15 bytes', 'AAAAAAAAAAAAAAAAAAAA', 'Sec-WebSocket-Key must be base64 of 16 bytes, got 15 bytes'],
      ['17 bytes', 'AAAAAAAAAAAAAAAAAAAAAAA=', 'Sec-WebSocket-Key must be base64 of 16 bytes, got 17 bytes'],
      ['unpadded', 'dGhlIHNhbXBsZSBub25jZQ', 'Sec-WebSocket-Key must be base64 of 16 bytes, got "dGhlIHNhbXBsZSBub25jZQ"'],
      ['base64url', 'dGhlIHNhbXBsZSBub25j-_==', 'Sec-WebSocket-Key must be base64 of 16 bytes, got "dGhlIHNhbXBsZSBub25j-_=="'],
      ['with inner space', 'dGhlIHNhbXBs ZSBub25jZQ==', 'Sec-WebSocket-Key must be base64 of 16 bytes, got "dGhlIHNhbXBs ZSBub25jZQ=="'],
      ['padded in the middle', 'dGhlIHNhbXBsZSB=b25jZQ==', 'Sec-WebSocket-Key must be base64 of 16 bytes, got "dGhlIHNhbXBsZSB=b25jZQ=="'],
      ['not canonical', 'dGhlIHNhbXBsZSBub25jZR==', 'Sec-WebSocket-Key must be canonical base64, got "dGhlIHNhbXBsZSBub25jZR=="'],
      ['repeated as an array', [RFC_KEY, RFC_KEY], 'Sec-WebSocket-Key must appear once, got 2 values'],
      ['repeated and joined', `${RFC_KEY}, ${RFC_KEY}`, 'Sec-WebSocket-Key must appear once, got a list'],
    ])('answers a key %s with 400', (_label, key, message) => {
      const error = rejectRequest({ 'sec-websocket-key': key });
      expect(error.status).toBe(400);
      expect(error.message).toBe(message);
    });

    it('property: accepts exactly the canonical base64 of 16 bytes', () => {
      const BASE64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
      const keys = fc
        .tuple(fc.string({ unit: fc.constantFrom(...BASE64_CHARS, '=', '-', ' '), minLength: 20, maxLength: 23 }), fc.constantFrom('', '=', '==', 'A==', 'w==', 'B=='))
        .map(([body, end]) => body + end);
      fc.assert(
        fc.property(fc.oneof(keys, fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64'))), (key) => {
          const decoded = Buffer.from(key, 'base64');
          const canonical = decoded.length === 16 && decoded.toString('base64') === key;
          const accepted = (() => {
            try {
              return validateUpgradeRequest(upgradeRequest({ 'sec-websocket-key': key })).key === key;
            } catch {
              return false;
            }
          })();
          expect(accepted).toBe(canonical);
        }),
        { numRuns: 2000 },
      );
    });

    it('accepts any 16 random bytes and surrounding whitespace', () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
          const key = Buffer.from(bytes).toString('base64');
          expect(validateUpgradeRequest(upgradeRequest({ 'sec-websocket-key': ` ${key}\t` })).key).toBe(key);
        }),
      );
    });
  });

  describe('item 6 and §4.4: Sec-WebSocket-Version 13', () => {
    it.each<[string, string | string[] | undefined, string]>([
      ['missing', undefined, 'Sec-WebSocket-Version header is missing: this server speaks version 13'],
      ['8', '8', 'Sec-WebSocket-Version must be 13, got "8"'],
      ['14', '14', 'Sec-WebSocket-Version must be 13, got "14"'],
      ['013', '013', 'Sec-WebSocket-Version must be 13, got "013"'],
      ['a list', '13, 8', 'Sec-WebSocket-Version must be 13, got "13, 8"'],
      ['repeated', ['13', '13'], 'Sec-WebSocket-Version must appear once, got 2 values'],
    ])('answers version %s with 426 and Sec-WebSocket-Version: 13', (_label, version, message) => {
      const error = rejectRequest({ 'sec-websocket-version': version });
      expect(error.status).toBe(426);
      expect(error.message).toBe(message);
      expect(error.headers).toEqual({ ...UPGRADE_REQUIRED, 'Sec-WebSocket-Version': '13' });
    });
  });

  describe('item 8: Sec-WebSocket-Protocol', () => {
    it.each<[string | string[], string[]]>([
      ['chat', ['chat']],
      ['chat,superchat', ['chat', 'superchat']],
      ['  chat ,  superchat  ', ['chat', 'superchat']],
      [['chat', 'superchat'], ['chat', 'superchat']],
      ['Chat, chat', ['Chat', 'chat']],
    ])('reads %j as %j (case-sensitive)', (header, protocols) => {
      expect(validateUpgradeRequest(upgradeRequest({ 'sec-websocket-protocol': header })).protocols).toEqual(protocols);
    });

    it.each<[string, string]>([
      ['chat superchat', 'Sec-WebSocket-Protocol: expected "," after a token at offset 5, found "s"'],
      ['chat, "x"', 'Sec-WebSocket-Protocol: expected a token at offset 6, found "\\""'],
      ['', 'Sec-WebSocket-Protocol lists no subprotocol'],
      [' , ', 'Sec-WebSocket-Protocol lists no subprotocol'],
      ['chat, superchat, chat', 'Sec-WebSocket-Protocol lists "chat" twice'],
    ])('answers %j with 400', (header, message) => {
      const error = rejectRequest({ 'sec-websocket-protocol': header });
      expect(error.status).toBe(400);
      expect(error.message).toBe(message);
    });
  });

  describe('item 9: Sec-WebSocket-Extensions', () => {
    it.each(['permessage-deflate;', 'permessage-deflate; x="a b"', '', 'a b'])('answers %j with 400', (header) => {
      const error = rejectRequest({ 'sec-websocket-extensions': header });
      expect(error.status).toBe(400);
      expect(error.message).toMatch(/^Sec-WebSocket-Extensions: /);
    });
  });

  describe('validateUpgradeHead: from rawHeaders', () => {
    /** The outcome of `validate`: what the request offers, or the error's status and message. */
    const outcome = (validate: () => unknown): unknown => {
      try {
        return validate();
      } catch (error) {
        return { status: (error as HandshakeError).status, message: (error as HandshakeError).message };
      }
    };
    const VALID_RAW = ['Host', 'a', 'Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Key', RFC_KEY, 'Sec-WebSocket-Version', '13'];

    it('reads names in any case', () => {
      const raw = ['hOsT', 'a', 'UPGRADE', 'websocket', 'connection', 'Upgrade', 'sec-WEBSOCKET-key', RFC_KEY, 'Sec-Websocket-Version', '13', 'SEC-WEBSOCKET-PROTOCOL', 'chat'];
      expect(validateUpgradeHead({ method: 'GET', httpVersion: '1.1', rawHeaders: raw })).toMatchObject({ key: RFC_KEY, protocols: ['chat'] });
    });

    it('answers 400 to a repeated Host', () => {
      const error = handshakeError(() => validateUpgradeHead({ method: 'GET', httpVersion: '1.1', rawHeaders: [...VALID_RAW, 'Host', 'b'] }));
      expect(error.status).toBe(400);
      expect(error.message).toBe('Host must be a single host[:port], got "a, b"');
    });

    it('property: agrees with validateUpgradeRequest on the header record built from the same lines', () => {
      const names = ['Host', 'Upgrade', 'Connection', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions', 'Origin', 'X-Key'];
      const randomCase = (name: string) =>
        fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''));
      const line = fc.tuple(
        fc.constantFrom(...names).chain(randomCase),
        fc.constantFrom('a', 'websocket', 'Upgrade', 'keep-alive, upgrade', RFC_KEY, ` ${RFC_KEY}`, '13', '8', 'chat', 'chat, chat', 'permessage-deflate', 'x;', ''),
      );
      fc.assert(
        fc.property(fc.array(line, { maxLength: 12 }), fc.boolean(), fc.constantFrom('GET', 'POST'), fc.constantFrom('1.1', '1.0', '2.0'), (lines, valid, method, httpVersion) => {
          const rawHeaders = [...(valid ? VALID_RAW : []), ...lines.flat()];
          const fromRaw = outcome(() => validateUpgradeHead({ method, httpVersion, rawHeaders }));
          expect(fromRaw).toEqual(outcome(() => validateUpgradeRequest({ method, httpVersion, headers: headerRecord(rawHeaders) })));
        }),
        { numRuns: 1000 },
      );
    });

    it('property: a parsed head, read in place (visitHeaders), gives what its rawHeaders and its header record give', () => {
      const names = ['Host', 'Upgrade', 'Connection', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions', 'Origin', 'X-Key', 'Upgrades'];
      const randomCase = (name: string) =>
        fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''));
      // The usual values (which are not cut from the text) and values that differ from them in one way.
      const values = ['a', 'websocket', 'WebSocket', 'websockets', 'Upgrade', 'upgrade', 'Upgrad', 'keep-alive, Upgrade', RFC_KEY, '13', '133', '1', '8', 'chat', 'chat, chat', 'permessage-deflate', 'x;', ''];
      const line = fc.tuple(fc.constantFrom(...names).chain(randomCase), fc.constantFrom(...values), fc.constantFrom('', ' ', ' \t'));
      const validLines = VALID_RAW.map((item, i) => (i % 2 === 0 ? `${item}: ${VALID_RAW[i + 1]}\r\n` : '')).join('');
      fc.assert(
        fc.property(fc.array(line, { maxLength: 10 }), fc.boolean(), fc.constantFrom('GET', 'POST'), fc.constantFrom('1.1', '1.0', '2.0'), (lines, valid, method, httpVersion) => {
          const text = `${method} / HTTP/${httpVersion}\r\n${valid ? validLines : ''}${lines.map(([n, v, ows]) => `${n}:${ows}${v}${ows}\r\n`).join('')}\r\n`;
          const head = parseRequestHead(Buffer.from(text, 'latin1'))!;
          const inPlace = outcome(() => validateUpgradeHead(head));
          expect(inPlace).toEqual(outcome(() => validateUpgradeHead({ method, httpVersion, rawHeaders: head.rawHeaders })));
          expect(inPlace).toEqual(outcome(() => validateUpgradeRequest({ method, httpVersion, headers: head.headers })));
        }),
        { numRuns: 1000 },
      );
    });
  });

  it('checks in the RFC order: method before everything else', () => {
    expect(rejectRequest({ host: undefined, upgrade: undefined }, 'POST').status).toBe(405);
    expect(rejectRequest({ upgrade: undefined, 'sec-websocket-key': 'x' }).status).toBe(426);
    expect(rejectRequest({ 'sec-websocket-key': 'x', 'sec-websocket-version': '8' }).status).toBe(400);
  });
});

describe('RFC 6455 §4.2.2 server answers', () => {
  it('builds the RFC §1.3 response', () => {
    expect(buildAcceptResponse({ key: RFC_KEY, protocol: 'chat' })).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: chat\r\n' +
        '\r\n',
    );
  });

  it('adds extensions and extra headers, in record or pair form', () => {
    const response = buildAcceptResponse({
      key: RFC_KEY,
      extensions: 'permessage-deflate; server_no_context_takeover',
      headers: { 'Set-Cookie': ['a=1', 'b=2'], 'X-Id': '7' },
    });
    expect(response).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\n` +
        'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n' +
        'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Id: 7\r\n\r\n',
    );
    expect(buildAcceptResponse({ key: RFC_KEY, headers: [['X-A', '1'], ['X-A', '2']] })).toContain('X-A: 1\r\nX-A: 2\r\n\r\n');
  });

  it('omits empty extensions', () => {
    expect(buildAcceptResponse({ key: RFC_KEY, extensions: '' })).not.toContain('Extensions');
  });

  it.each<[string, Parameters<typeof buildAcceptResponse>[0]]>([
    ['CRLF in a header value', { key: RFC_KEY, headers: { 'X-A': 'a\r\nSet-Cookie: evil=1' } }],
    ['LF in a header value', { key: RFC_KEY, headers: { 'X-A': 'a\nb' } }],
    ['CR in a header value', { key: RFC_KEY, headers: [['X-A', 'a\rb']] }],
    ['NUL in a header value', { key: RFC_KEY, headers: { 'X-A': 'a\u0000b' } }],
    ['another control character in a header value', { key: RFC_KEY, headers: { 'X-A': 'a\u0001b' } }],
    ['DEL in a header value', { key: RFC_KEY, headers: { 'X-A': 'a\u007fb' } }],
    ['a character above U+00FF in a header value', { key: RFC_KEY, headers: { 'X-A': 'Ā' } }],
    ['CRLF in a header name', { key: RFC_KEY, headers: { 'X-A\r\nX-B': 'a' } }],
    ['a space in a header name', { key: RFC_KEY, headers: { 'X A': 'a' } }],
    ['an empty header name', { key: RFC_KEY, headers: { '': 'a' } }],
    ['CRLF in the extensions', { key: RFC_KEY, extensions: 'x\r\nSet-Cookie: a' }],
    ['a non-token protocol', { key: RFC_KEY, protocol: 'chat\r\nX: y' }],
    ['an empty protocol', { key: RFC_KEY, protocol: '' }],
    ['an overridden Sec-WebSocket-Accept', { key: RFC_KEY, headers: { 'sec-websocket-accept': 'x' } }],
    ['an overridden Upgrade', { key: RFC_KEY, headers: [['Upgrade', 'h2c']] }],
  ])('refuses %s with TypeError', (_label, options) => {
    expect(() => buildAcceptResponse(options)).toThrow(TypeError);
  });

  it('takes tab, space and latin1 characters in a header value (RFC 9110 §5.5 obs-text)', () => {
    expect(buildAcceptResponse({ key: RFC_KEY, headers: { 'X-A': 'a\tb c é\u00ff' } })).toContain('\r\nX-A: a\tb c é\u00ff\r\n');
  });

  describe('error responses', () => {
    it('builds a complete response with reason phrase, Connection: close and a one-line body', () => {
      expect(buildErrorResponse(400, 'Sec-WebSocket-Key must be base64 of 16 bytes, got 12 bytes')).toBe(
        'HTTP/1.1 400 Bad Request\r\n' +
          'Connection: close\r\n' +
          'Content-Type: text/plain; charset=utf-8\r\n' +
          'Content-Length: 59\r\n' +
          '\r\n' +
          'Sec-WebSocket-Key must be base64 of 16 bytes, got 12 bytes\n',
      );
    });

    it.each([
      [400, 'Bad Request'],
      [401, 'Unauthorized'],
      [403, 'Forbidden'],
      [405, 'Method Not Allowed'],
      [414, 'URI Too Long'],
      [426, 'Upgrade Required'],
      [429, 'Too Many Requests'],
      [431, 'Request Header Fields Too Large'],
      [500, 'Internal Server Error'],
      [503, 'Service Unavailable'],
      [505, 'HTTP Version Not Supported'],
      [302, 'Found'],
    ])('status %i has reason phrase %j', (status, reason) => {
      expect(buildErrorResponse(status, 'x').split('\r\n')[0]).toBe(`HTTP/1.1 ${status} ${reason}`);
    });

    it('leaves the reason phrase empty for an unregistered status', () => {
      expect(buildErrorResponse(499, 'x').split('\r\n')[0]).toBe('HTTP/1.1 499 ');
    });

    it('counts Content-Length in UTF-8 bytes and flattens CR/LF in the message', () => {
      const response = buildErrorResponse(403, 'nein: ünauthorisiert\r\nSet-Cookie: a=1\n');
      expect(response).toContain('Content-Length: 39\r\n');
      expect(response.endsWith('\r\n\r\nnein: ünauthorisiert Set-Cookie: a=1 \n')).toBe(true);
      expect(Buffer.byteLength('nein: ünauthorisiert Set-Cookie: a=1 \n')).toBe(39);
    });

    it('is parsed back by parseResponseHead with the body after the head', () => {
      const bytes = Buffer.from(buildErrorResponse(405, 'use GET', { Allow: 'GET' }));
      const head = parseResponseHead(bytes)!;
      expect(head).toMatchObject({ status: 405, statusText: 'Method Not Allowed' });
      expect({ ...head.headers }).toEqual({
        connection: 'close',
        'content-type': 'text/plain; charset=utf-8',
        'content-length': '8',
        allow: 'GET',
      });
      expect(bytes.subarray(head.headBytes).toString()).toBe('use GET\n');
    });

    it('sends the headers of a 426 HandshakeError with close added to Connection', () => {
      const error = rejectRequest({ upgrade: undefined });
      const head = parseResponseHead(Buffer.from(buildErrorResponse(error.status, error.message, error.headers)))!;
      expect(head.status).toBe(426);
      expect(head.headers.upgrade).toBe('websocket');
      expect(head.headers.connection).toBe('Upgrade, close');
      expect(head.rawHeaders.filter((name) => name.toLowerCase() === 'connection')).toHaveLength(1);
    });

    it('keeps a Connection header that already says close, and lets Content-Type be replaced', () => {
      const response = buildErrorResponse(401, 'x', { connection: 'close', 'Content-Type': 'application/json' });
      expect(response).toContain('Connection: close\r\nContent-Type: application/json\r\n');
    });

    it.each([0, 101, 200, 299, 600, 404.5, Number.NaN])('refuses status %s with RangeError', (status) => {
      expect(() => buildErrorResponse(status, 'x')).toThrow(RangeError);
    });

    it.each<[string, Record<string, string>]>([
      ['CRLF in a value', { 'X-A': 'a\r\nb' }],
      ['a bad name', { 'X:A': 'a' }],
      ['Content-Length', { 'Content-Length': '0' }],
      ['Transfer-Encoding', { 'transfer-encoding': 'chunked' }],
      ['a malformed Connection', { Connection: 'a b' }],
    ])('refuses %s with TypeError', (_label, headers) => {
      expect(() => buildErrorResponse(400, 'x', headers)).toThrow(TypeError);
    });
  });
});

describe('RFC 6455 §4.1 client opening handshake', () => {
  it('generates distinct keys that the server accepts', () => {
    const keys = new Set(Array.from({ length: 100 }, generateKey));
    expect(keys.size).toBe(100);
    for (const key of keys) {
      expect(Buffer.from(key, 'base64')).toHaveLength(16);
      expect(validateUpgradeRequest(upgradeRequest({ 'sec-websocket-key': key })).key).toBe(key);
    }
  });

  it('builds the RFC §1.2 request', () => {
    expect(
      buildUpgradeRequest({
        host: 'server.example.com',
        path: '/chat',
        key: RFC_KEY,
        protocols: ['chat', 'superchat'],
        origin: 'http://example.com',
      }),
    ).toBe(
      'GET /chat HTTP/1.1\r\n' +
        'Host: server.example.com\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${RFC_KEY}\r\n` +
        'Sec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Protocol: chat, superchat\r\n' +
        'Origin: http://example.com\r\n' +
        '\r\n',
    );
  });

  it('takes Host and Origin from headers in place of the computed ones, the origin option first', () => {
    const text = buildUpgradeRequest({ host: 'a', path: '/', key: RFC_KEY, origin: 'http://option', headers: { host: 'b:81', Origin: 'http://header', 'X-N': 7 } });
    expect(text.split('\r\n').filter((line) => /^(host|origin|x-n):/i.test(line))).toEqual(['Host: b:81', 'Origin: http://option', 'X-N: 7']);
    const withoutOption = buildUpgradeRequest({ host: 'a', path: '/', key: RFC_KEY, headers: [['Origin', 'http://header']] });
    expect(withoutOption.split('\r\n').filter((line) => /^(host|origin):/i.test(line))).toEqual(['Host: a', 'Origin: http://header']);
  });

  it('round-trips through parseRequestHead and validateUpgradeRequest', () => {
    const text = buildUpgradeRequest({
      host: 'example.com:8080',
      path: '/ws?token=abc%20d',
      key: RFC_KEY,
      protocols: ['v2.chat'],
      extensions: 'permessage-deflate; client_max_window_bits',
      headers: { Authorization: 'Bearer t', 'X-Trace': ['1', '2'] },
    });
    const head = parseRequestHead(Buffer.from(text))!;
    expect(head.target).toBe('/ws?token=abc%20d');
    expect(head.headers.authorization).toBe('Bearer t');
    expect(head.headers['x-trace']).toBe('1, 2');
    expect(validateUpgradeRequest(head)).toEqual({
      key: RFC_KEY,
      version: 13,
      protocols: ['v2.chat'],
      extensions: [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }],
      expectContinue: false,
    });
  });

  it.each<[string, string[]]>([
    ['a space', ['a b']],
    ['a comma', ['a,b']],
    ['an empty name', ['']],
    ['a non-ASCII name', ['chät']],
    ['a duplicate', ['chat', 'superchat', 'chat']],
  ])('refuses subprotocols with %s with SyntaxError', (_label, protocols) => {
    expect(() => buildUpgradeRequest({ host: 'a', path: '/', key: RFC_KEY, protocols })).toThrow(SyntaxError);
  });

  it.each<[string, Partial<Parameters<typeof buildUpgradeRequest>[0]>]>([
    ['a path without leading slash', { path: 'chat' }],
    ['a path with a space', { path: '/a b' }],
    ['a path with CRLF', { path: '/\r\nX: y' }],
    ['a path with non-ASCII', { path: '/ü' }],
    ['an empty host', { host: '' }],
    ['a host with CRLF', { host: 'a\r\nX: y' }],
    ['a bad key', { key: 'abc' }],
    ['an origin with CRLF', { origin: 'http://a\r\nX: y' }],
    ['extensions with LF', { extensions: 'x\nY: z' }],
    ['a header value with CRLF', { headers: { 'X-A': 'a\r\nb' } }],
    ['two Host headers', { headers: [['Host', 'b'], ['host', 'c']] as const }],
    ['a header value undefined', { headers: { 'X-A': undefined as unknown as string } }],
    ['an overridden Sec-WebSocket-Key', { headers: { 'Sec-WebSocket-Key': RFC_KEY } }],
  ])('refuses %s with TypeError', (_label, options) => {
    expect(() => buildUpgradeRequest({ host: 'a', path: '/', key: RFC_KEY, ...options })).toThrow(TypeError);
  });
});

describe('RFC 6455 §4.1 client validates the server response', () => {
  const accepted = {
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-accept': RFC_ACCEPT,
    'sec-websocket-protocol': 'chat',
  };
  const expected = { key: RFC_KEY, protocols: ['chat', 'superchat'], extensionNames: ['permessage-deflate'] };

  function rejectResponse(headers: IncomingHeaders, status = 101, exp: ExpectedResponse = expected): HandshakeError {
    return handshakeError(() => validateUpgradeResponse({ status, headers: { ...accepted, ...headers } }, exp));
  }

  it('accepts the RFC §1.3 response and returns the subprotocol', () => {
    const head = parseResponseHead(Buffer.from(buildAcceptResponse({ key: RFC_KEY, protocol: 'chat' })))!;
    expect(validateUpgradeResponse(head, expected)).toEqual({ protocol: 'chat', extensions: [] });
  });

  it('fails a response that selects no subprotocol when some were offered (WHATWG, ws); none offered, none selected is fine', () => {
    const { 'sec-websocket-protocol': _p, ...withoutProtocol } = accepted;
    expect(rejectResponse({ 'sec-websocket-protocol': undefined }).message).toBe('server selected no subprotocol; offered "chat", "superchat"');
    expect(validateUpgradeResponse({ status: 101, headers: withoutProtocol }, { ...expected, protocols: [] }).protocol).toBe('');
  });

  it('returns accepted extensions with their parameters', () => {
    const headers = { ...accepted, 'sec-websocket-extensions': 'permessage-deflate; server_max_window_bits="10"' };
    expect(validateUpgradeResponse({ status: 101, headers }, expected).extensions).toEqual([
      { name: 'permessage-deflate', params: [['server_max_window_bits', '10']] },
    ]);
  });

  it.each([
    ['Upgrade: WebSocket, Connection: upgrade', { upgrade: 'WebSocket', connection: 'upgrade' }],
    ['Connection: keep-alive, Upgrade', { upgrade: 'websocket', connection: 'keep-alive, Upgrade' }],
    ['names in any case', { Upgrade: 'websocket', CONNECTION: 'Upgrade' }],
  ])('accepts %s', (_label, headers) => {
    const { upgrade: _u, connection: _c, ...rest } = accepted;
    expect(() => validateUpgradeResponse({ status: 101, headers: { ...rest, ...headers } }, expected)).not.toThrow();
  });

  it.each([200, 301, 400, 403, 426, 500])('refuses status %i naming it', (status) => {
    const error = rejectResponse({}, status);
    expect(error.status).toBe(status);
    expect(error.message).toBe(`Unexpected server response: ${status}`);
  });

  it.each([100, 103])('refuses an interim response (%i) saying to skip it: the answer follows it (RFC 9110 §15.2)', (status) => {
    const error = rejectResponse({}, status);
    expect(error.status).toBe(status);
    expect(error.message).toBe(`interim response ${status}: skip it and validate the response that follows (RFC 9110 §15.2)`);
  });

  it.each<[string, IncomingHeaders, string]>([
    ['no Upgrade', { upgrade: undefined }, 'Upgrade header of the response must be "websocket", got none'],
    ['Upgrade: h2c', { upgrade: 'h2c' }, 'Upgrade header of the response must be "websocket", got "h2c"'],
    ['Upgrade: websocket, h2c', { upgrade: 'websocket, h2c' }, 'Upgrade header of the response must be "websocket", got "websocket, h2c"'],
    ['a malformed Upgrade', { upgrade: 'a b' }, 'Upgrade: expected "," after a token at offset 2, found "b"'],
    ['no Connection', { connection: undefined }, 'Connection header of the response must include "Upgrade", got none'],
    ['Connection: close', { connection: 'close' }, 'Connection header of the response must include "Upgrade", got "close"'],
    ['no Sec-WebSocket-Accept', { 'sec-websocket-accept': undefined }, 'Sec-WebSocket-Accept header is missing'],
    ['a wrong Sec-WebSocket-Accept', { 'sec-websocket-accept': 'x' }, 'Sec-WebSocket-Accept is wrong: got "x"'],
    [
      'a repeated Sec-WebSocket-Accept',
      { 'sec-websocket-accept': [RFC_ACCEPT, RFC_ACCEPT] },
      `Sec-WebSocket-Accept is wrong: got "${RFC_ACCEPT}, ${RFC_ACCEPT}"`,
    ],
    ['a subprotocol not offered', { 'sec-websocket-protocol': 'v2' }, 'server selected subprotocol "v2", which was not offered'],
    ['a subprotocol in another case', { 'sec-websocket-protocol': 'Chat' }, 'server selected subprotocol "Chat", which was not offered'],
    [
      'a list of subprotocols',
      { 'sec-websocket-protocol': 'chat, superchat' },
      'server selected subprotocol "chat, superchat", which was not offered',
    ],
    ['an extension not offered', { 'sec-websocket-extensions': 'x-foo' }, 'server accepted extension "x-foo", which was not offered'],
    [
      'a malformed extension header',
      { 'sec-websocket-extensions': 'permessage-deflate;' },
      'Sec-WebSocket-Extensions: expected a parameter name at offset 19, found end of input',
    ],
  ])('refuses a 101 with %s', (_label, headers, message) => {
    const error = rejectResponse(headers);
    expect(error.status).toBe(101);
    expect(error.message).toBe(message);
  });

  it('refuses any subprotocol when none was offered', () => {
    const error = rejectResponse({ 'sec-websocket-protocol': 'chat' }, 101, { ...expected, protocols: [] });
    expect(error.message).toBe('server selected subprotocol "chat" but none was offered');
  });

  it('refuses any extension when none was offered', () => {
    const error = rejectResponse({ 'sec-websocket-protocol': undefined, 'sec-websocket-extensions': 'permessage-deflate' }, 101, { key: RFC_KEY, protocols: [] });
    expect(error.message).toBe('server accepted extension "permessage-deflate", which was not offered');
  });

  it('property: a response built for any key and offered subprotocol is accepted', () => {
    const token = fc.string({ unit: fc.constantFrom(...'abcXYZ019-._~!'), minLength: 1, maxLength: 8 });
    const keyBytes = fc.uint8Array({ minLength: 16, maxLength: 16 });
    fc.assert(
      fc.property(keyBytes, fc.uniqueArray(token, { minLength: 1, maxLength: 4 }), (bytes, protocols) => {
        const key = Buffer.from(bytes).toString('base64');
        const requestText = buildUpgradeRequest({ host: 'h', path: '/', key, protocols });
        const request = validateUpgradeRequest(parseRequestHead(Buffer.from(requestText))!);
        const protocol = request.protocols.at(-1)!;
        const head = parseResponseHead(Buffer.from(buildAcceptResponse({ key: request.key, protocol })))!;
        expect(validateUpgradeResponse(head, { key, protocols })).toEqual({ protocol, extensions: [] });
      }),
    );
  });
});

describe('volley/protocol exports the handshake', () => {
  it('a transport of its own can run both opening handshakes from the subpath alone', async () => {
    const core = await import('../../src/protocol/index.js');
    const request = core.buildUpgradeRequest({ host: 'a.example', path: '/chat', key: RFC_KEY, protocols: ['chat'] });
    const requestHead = core.parseRequestHead(Buffer.from(request))!;
    const info = core.validateUpgradeHead(requestHead);
    expect(info.key).toBe(RFC_KEY);
    expect(info.protocols).toEqual(['chat']);
    const response = core.buildAcceptResponse({ key: info.key, protocol: 'chat' });
    const responseHead = core.parseResponseHead(Buffer.from(response))!;
    expect(core.validateUpgradeResponse(responseHead, { key: RFC_KEY, protocols: ['chat'] })).toEqual({ protocol: 'chat', extensions: [] });
    expect(core.computeAccept(RFC_KEY)).toBe(RFC_ACCEPT);
    expect(typeof core.generateKey()).toBe('string');
    expect(core.buildErrorResponse(400, 'bad')).toMatch(/^HTTP\/1\.1 400 /);
  });
});
