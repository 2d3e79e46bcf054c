import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HandshakeError, InvalidStateError } from '../../src/protocol/errors.js';
import {
  DEFAULT_MAX_HEADER_BYTES,
  type HeadLimits,
  type HeaderVisitor,
  type RequestHead,
  RequestHeadParser,
  ResponseHeadParser,
  checkRequestLimits,
  parseRequestHead,
  parseResponseHead,
} from '../../src/protocol/http.js';

const UPGRADE_REQUEST =
  'GET /chat?room=1 HTTP/1.1\r\n' +
  'Host: server.example.com\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
  'Origin: http://example.com\r\n' +
  'Sec-WebSocket-Protocol: chat, superchat\r\n' +
  'Sec-WebSocket-Version: 13\r\n' +
  '\r\n';

const SWITCHING_RESPONSE =
  'HTTP/1.1 101 Switching Protocols\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
  'Sec-WebSocket-Protocol: chat\r\n' +
  '\r\n';

function request(head: string, limits?: HeadLimits) {
  return parseRequestHead(Buffer.from(head, 'latin1'), limits);
}

function response(head: string, limits?: HeadLimits) {
  return parseResponseHead(Buffer.from(head, 'latin1'), limits);
}

/** Runs `fn` and returns the HandshakeError it throws. */
function handshakeError(fn: () => unknown): HandshakeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HandshakeError);
    return error as HandshakeError;
  }
  throw new Error('expected a HandshakeError');
}

/** A head with `count` header lines `X-N: v`, for limit tests. */
function headWithHeaders(count: number): string {
  let head = 'GET / HTTP/1.1\r\n';
  for (let i = 0; i < count; i++) head += `X-${i}: v\r\n`;
  return `${head}\r\n`;
}

/** Feeds `bytes` split at `cuts` and returns the parser's outcome: a head, null, or the error. */
function feed(parser: RequestHeadParser | ResponseHeadParser, bytes: Buffer, cuts: number[]): unknown {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let start = 0;
  try {
    for (const end of [...points, bytes.length]) {
      const head = parser.push(bytes.subarray(start, end));
      start = end;
      // `headers` and `rawHeaders` are getters (built when first read): compared on their own.
      if (head !== null) {
        return { head, headers: { ...head.headers }, rawHeaders: head.rawHeaders, rest: parser.rest!.toString('latin1') + bytes.subarray(end).toString('latin1') };
      }
    }
    return null;
  } catch (error) {
    return { status: (error as HandshakeError).status, message: (error as HandshakeError).message };
  }
}

describe('RFC 9112 §3 request head', () => {
  it('parses the RFC 6455 §1.2 upgrade request', () => {
    const head = request(`${UPGRADE_REQUEST}\x81\x05`)!;
    expect(head.method).toBe('GET');
    expect(head.target).toBe('/chat?room=1');
    expect(head.httpVersion).toBe('1.1');
    expect({ ...head.headers }).toEqual({
      host: 'server.example.com',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      origin: 'http://example.com',
      'sec-websocket-protocol': 'chat, superchat',
      'sec-websocket-version': '13',
    });
    expect(head.rawHeaders.slice(0, 4)).toEqual(['Host', 'server.example.com', 'Upgrade', 'websocket']);
    expect(head.headBytes).toBe(UPGRADE_REQUEST.length);
  });

  it('returns null until the final CRLFCRLF has arrived', () => {
    for (let end = 0; end < UPGRADE_REQUEST.length; end++) {
      expect(request(UPGRADE_REQUEST.slice(0, end))).toBeNull();
    }
  });

  it('keeps the bytes after the head for the frame parser', () => {
    const parser = new RequestHeadParser();
    expect(parser.rest).toBeUndefined();
    const head = parser.push(Buffer.from(`${UPGRADE_REQUEST}\x81\x05hello`, 'latin1'))!;
    expect(head.headBytes).toBe(UPGRADE_REQUEST.length);
    expect(parser.rest!.toString('latin1')).toBe('\x81\x05hello');
  });

  it('joins repeated header lines with ", " and lower-cases names', () => {
    const head = request('GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\nHOST: a\r\nHost: b\r\nSec-WebSocket-Key: k1\r\nSec-WebSocket-Key: k2\r\n\r\n')!;
    expect(head.headers['x-a']).toBe('1, 2');
    expect(head.headers.host).toBe('a, b');
    expect(head.headers['sec-websocket-key']).toBe('k1, k2');
    expect(head.rawHeaders).toEqual(['X-A', '1', 'x-a', '2', 'HOST', 'a', 'Host', 'b', 'Sec-WebSocket-Key', 'k1', 'Sec-WebSocket-Key', 'k2']);
  });

  it('gives headers a null prototype so names like "constructor" are plain data', () => {
    const head = request('GET / HTTP/1.1\r\nConstructor: x\r\n__proto__: y\r\n\r\n')!;
    expect(head.headers.constructor).toBe('x');
    expect(head.headers['__proto__']).toBe('y');
    expect(request('GET / HTTP/1.1\r\n\r\n')!.headers.constructor).toBeUndefined();
  });

  it.each([
    ['Host:   a  ', 'a'],
    ['Host:\ta\t', 'a'],
    ['Host:a', 'a'],
    ['X-Empty:', ''],
    ['X-Empty:   ', ''],
    ['X-Inner: a  b', 'a  b'],
    ['X-Obs: caf\xe9', 'caf\xe9'],
  ])('trims optional whitespace around the value of %j', (line, value) => {
    const head = request(`GET / HTTP/1.1\r\n${line}\r\n\r\n`)!;
    expect(Object.values(head.headers)).toEqual([value]);
  });

  it('skips empty lines before the request line (RFC 9112 §2.2)', () => {
    const head = request(`\r\n\r\n${UPGRADE_REQUEST}`)!;
    expect(head.method).toBe('GET');
    expect(head.headBytes).toBe(UPGRADE_REQUEST.length + 4);
  });

  it.each([
    ['HTTP/1.0', '1.0'],
    ['HTTP/1.1', '1.1'],
    ['HTTP/2.0', '2.0'],
  ])('reports the version of %s as %j (validation is the handshake\'s job)', (version, expected) => {
    expect(request(`GET / ${version}\r\n\r\n`)!.httpVersion).toBe(expected);
  });

  it('a response\'s obs-fold is replaced with SP (RFC 9112 §5.2, a user agent MUST); before the first header line it is refused', () => {
    const head = 'HTTP/1.1 101 Switching Protocols\r\nX-Note: a\r\n  b\r\n\tc\r\nUpgrade: websocket\r\n\r\n';
    const folded = response(head)!;
    expect(folded.rawHeaders).toEqual(['X-Note', 'a    b   c', 'Upgrade', 'websocket']);
    expect(folded.headBytes).toBe(head.length);
    expect(() => response('HTTP/1.1 101 Switching Protocols\r\n X-Note: a\r\n\r\n')).toThrow(/obsolete line folding at header line 2/);
  });

  it('accepts every request-target form in its place: a path, an absolute URI, "*" for OPTIONS, an authority for CONNECT', () => {
    expect(request('GET /a?b HTTP/1.1\r\n\r\n')!.target).toBe('/a?b');
    expect(request('GET ws://host/chat?x HTTP/1.1\r\n\r\n')!.target).toBe('ws://host/chat?x');
    expect(request('GET HTTP://host/ HTTP/1.1\r\n\r\n')!.target).toBe('HTTP://host/');
    expect(request('OPTIONS * HTTP/1.1\r\n\r\n')!.target).toBe('*');
    expect(request('CONNECT host:443 HTTP/1.1\r\n\r\n')!.method).toBe('CONNECT');
  });

  it('accepts a body of unambiguous length: one Content-Length of digits, or a Transfer-Encoding ending with chunked', () => {
    expect(request('GET / HTTP/1.1\r\nContent-Length:  007 \r\n\r\n')!.headers['content-length']).toBe('007');
    expect(request('GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\t\r\n\r\n')).not.toBeNull();
    // A response's framing is not checked: the client reads no body after a 101.
    expect(response('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n')!.status).toBe(403);
  });

  it('accepts any token as method and an absolute-form or asterisk target', () => {
    expect(request('POST http://a/b HTTP/1.1\r\n\r\n')!.target).toBe('http://a/b');
    expect(request('OPTIONS * HTTP/1.1\r\n\r\n')!.method).toBe('OPTIONS');
  });

  describe('rejects malformed heads with 400', () => {
    it.each([
      ['an empty method', ' / HTTP/1.1\r\n\r\n'],
      ['two spaces after the method', 'GET  / HTTP/1.1\r\n\r\n'],
      ['a missing version', 'GET /\r\n\r\n'],
      ['a missing target', 'GET HTTP/1.1\r\n\r\n'],
      ['a lower-case version', 'GET / http/1.1\r\n\r\n'],
      ['a two-digit version', 'GET / HTTP/1.10\r\n\r\n'],
      ['a version without minor', 'GET / HTTP/1\r\n\r\n'],
      ['trailing space after the version', 'GET / HTTP/1.1 \r\n\r\n'],
      ['a tab as separator', 'GET\t/ HTTP/1.1\r\n\r\n'],
      ['a control byte in the target', 'GET /\x01 HTTP/1.1\r\n\r\n'],
      ['a byte above 0x7e in the target', 'GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n'],
      ['a non-token method', 'G(T / HTTP/1.1\r\n\r\n'],
      ['a header without colon', 'GET / HTTP/1.1\r\nHost a\r\n\r\n'],
      ['space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
      ['tab before the colon', 'GET / HTTP/1.1\r\nHost\t: a\r\n\r\n'],
      ['space inside the name', 'GET / HTTP/1.1\r\nX Y: a\r\n\r\n'],
      ['an empty name', 'GET / HTTP/1.1\r\n: a\r\n\r\n'],
      ['a non-token name', 'GET / HTTP/1.1\r\nX(Y): a\r\n\r\n'],
      ['obs-fold with space', 'GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n'],
      ['obs-fold with tab', 'GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n'],
      ['a NUL in a value', 'GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n'],
      ['a DEL in a value', 'GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n'],
      ['an escape in a value', 'GET / HTTP/1.1\r\nX: \x1b[31m\r\n\r\n'],
      // RFC 9112 §6.3: a body whose length is ambiguous.
      ['Transfer-Encoding with Content-Length', 'GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n'],
      ['two Content-Length lines', 'GET / HTTP/1.1\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n'],
      ['a Content-Length list', 'GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n'],
      ['a Content-Length that is not digits', 'GET / HTTP/1.1\r\nCONTENT-LENGTH: 0x1\r\n\r\n'],
      ['an empty Content-Length', 'GET / HTTP/1.1\r\nContent-Length:\r\n\r\n'],
      ['a Transfer-Encoding not ending with chunked', 'GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\ntransfer-encoding: gzip\r\n\r\n'],
      ['chunked applied twice (RFC 9112 §6.1)', 'GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n'],
      ['chunked twice in one line', 'GET / HTTP/1.1\r\nTransfer-Encoding: Chunked, chunked\r\n\r\n'],
      ['a Content-Length beyond any length', 'GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n'],
      // RFC 9112 §3.2: none of the request-target forms.
      ['a target that is not a path', 'GET foo HTTP/1.1\r\n\r\n'],
      ['a query alone as the target', 'GET ?x HTTP/1.1\r\n\r\n'],
      ['an authority as the target of a GET', 'GET 127.0.0.1:80 HTTP/1.1\r\n\r\n'],
      ['a scheme without "//"', 'GET ws: HTTP/1.1\r\n\r\n'],
      ['"*" for a GET', 'GET * HTTP/1.1\r\n\r\n'],
    ])('%s', (_label, head) => {
      const error = handshakeError(() => request(head));
      expect(error.status).toBe(400);
      expect(error.message).toMatch(/^malformed HTTP request: /);
    });

    it('names the fault and the line', () => {
      expect(handshakeError(() => request('GET / HTTP/1.1\r\nA: 1\r\nHost : a\r\n\r\n')).message).toBe(
        'malformed HTTP request: whitespace in or after the header name at line 3',
      );
      expect(handshakeError(() => request('GET / HTTP/1.1\r\nHost a\r\n\r\n')).message).toBe(
        'malformed HTTP request: header line 2 has no ":"',
      );
      expect(handshakeError(() => request('GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n')).message).toBe(
        'malformed HTTP request: obsolete line folding at header line 3',
      );
    });

    // Strict line endings: a bare LF or CR is refused as soon as it is seen, so a
    // head that would never end in CRLFCRLF fails fast instead of running into 431.
    it.each([
      ['a bare LF after the request line', 'GET / HTTP/1.1\nHost: a', 'bare LF at byte 14'],
      ['a bare LF ending the head', 'GET / HTTP/1.1\r\nHost: a\r\n\n', 'bare LF at byte 25'],
      ['a bare CR inside a value', 'GET / HTTP/1.1\r\nX: a\rb', 'bare CR at byte 20'],
      ['a bare CR before the end', 'GET / HTTP/1.1\r\n\r\r', 'bare CR at byte 16'],
    ])('%s, before the head is complete', (_label, head, where) => {
      const error = handshakeError(() => request(head));
      expect(error.status).toBe(400);
      expect(error.message).toBe(`malformed HTTP request: ${where} (lines must end with CRLF)`);
    });
  });
});

describe('RFC 9112 §4 response head', () => {
  it('parses a 101 Switching Protocols response', () => {
    const head = response(`${SWITCHING_RESPONSE}\x81\x00`)!;
    expect(head).toMatchObject({ status: 101, statusText: 'Switching Protocols', httpVersion: '1.1' });
    expect(head.headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(head.headBytes).toBe(SWITCHING_RESPONSE.length);
  });

  it.each([
    ['HTTP/1.1 101 Switching Protocols', 101, 'Switching Protocols'],
    ['HTTP/1.1 403 Forbidden', 403, 'Forbidden'],
    ['HTTP/1.1 404 ', 404, ''],
    ['HTTP/1.1 404', 404, ''],
    ['HTTP/1.0 200 OK then  some', 200, 'OK then  some'],
  ])('reads the status line %j', (line, status, statusText) => {
    expect(response(`${line}\r\n\r\n`)).toMatchObject({ status, statusText });
  });

  it.each([
    ['HTTP/1.1 1010 X'],
    ['HTTP/1.1 10 X'],
    ['HTTP/1.1  101 X'],
    ['HTTP/1.1 abc X'],
    ['HTTP/1.1101 X'],
    ['ICY 200 OK'],
    ['http/1.1 101 X'],
  ])('rejects the status line %j with status 0', (line) => {
    const error = handshakeError(() => response(`${line}\r\n\r\n`));
    expect(error.status).toBe(0);
    expect(error.message).toBe('malformed HTTP response: status line must be "HTTP/x.y NNN reason"');
  });

  it('rejects a malformed header with the received status', () => {
    const error = handshakeError(() => response('HTTP/1.1 101 Switching Protocols\r\nUpgrade : websocket\r\n\r\n'));
    expect(error.status).toBe(101);
    expect(error.message).toBe('malformed HTTP response: whitespace in or after the header name at line 2');
  });

  it('rejects control bytes in the reason phrase with the received status', () => {
    expect(handshakeError(() => response('HTTP/1.1 403 No\x00pe\r\n\r\n')).status).toBe(403);
  });

  it('rejects an empty status line and bare line feeds with status 0', () => {
    expect(handshakeError(() => response('\r\nHTTP/1.1 101 X\r\n\r\n')).message).toBe('malformed HTTP response: empty status line');
    expect(handshakeError(() => response('HTTP/1.1 101 X\n')).status).toBe(0);
  });

  it('bounds the status line by maxRequestLineBytes, with status 0', () => {
    const error = handshakeError(() => response(`HTTP/1.1 101 ${'x'.repeat(100)}`, { maxRequestLineBytes: 64 }));
    expect(error.status).toBe(0);
    expect(error.message).toBe('status line exceeds 64 bytes');
  });

  it('bounds the head by maxHeaderBytes, with status 0', () => {
    const error = handshakeError(() => response(`HTTP/1.1 101 X\r\nA: ${'x'.repeat(200)}`, { maxHeaderBytes: 128 }));
    expect(error).toMatchObject({ status: 0, message: 'HTTP head exceeds maxHeaderBytes 128' });
  });
});

describe('limits', () => {
  it('accepts a head of exactly maxHeaderBytes and refuses one byte more with 431', () => {
    const filler = (n: number): string => `GET / HTTP/1.1\r\nX: ${'a'.repeat(n)}\r\n\r\n`;
    const base = filler(0).length;
    expect(request(filler(200 - base), { maxHeaderBytes: 200 })!.headBytes).toBe(200);
    const error = handshakeError(() => request(filler(201 - base), { maxHeaderBytes: 200 }));
    expect(error.status).toBe(431);
    expect(error.message).toBe('HTTP head exceeds maxHeaderBytes 200');
  });

  it('refuses an unterminated head as soon as it exceeds maxHeaderBytes, whatever follows', () => {
    const parser = new RequestHeadParser({ maxHeaderBytes: 100 });
    expect(parser.push(Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(80)}`))).toBeNull();
    expect(handshakeError(() => parser.push(Buffer.from('a'.repeat(5)))).status).toBe(431);
  });

  it(`defaults maxHeaderBytes to ${DEFAULT_MAX_HEADER_BYTES}`, () => {
    const head = (n: number): string => `GET / HTTP/1.1\r\nX: ${'a'.repeat(n - 'GET / HTTP/1.1\r\nX: \r\n\r\n'.length)}\r\n\r\n`;
    expect(request(head(DEFAULT_MAX_HEADER_BYTES))!.headBytes).toBe(DEFAULT_MAX_HEADER_BYTES);
    expect(handshakeError(() => request(head(DEFAULT_MAX_HEADER_BYTES + 1))).status).toBe(431);
  });

  it('does not count the bytes after the head against maxHeaderBytes', () => {
    const head = request(`${UPGRADE_REQUEST}${'x'.repeat(10_000)}`, { maxHeaderBytes: UPGRADE_REQUEST.length });
    expect(head!.headBytes).toBe(UPGRADE_REQUEST.length);
  });

  it.each([
    [100, undefined, true],
    [101, undefined, false],
    [3, 3, true],
    [4, 3, false],
  ])('%i header lines with maxHeaders %s: accepted %s', (count, maxHeaders, accepted) => {
    const limits = maxHeaders === undefined ? undefined : { maxHeaders };
    if (accepted) {
      expect(Object.keys(request(headWithHeaders(count), limits)!.headers)).toHaveLength(count);
    } else {
      const error = handshakeError(() => request(headWithHeaders(count), limits));
      expect(error.status).toBe(431);
      expect(error.message).toBe(`HTTP head has more than maxHeaders ${maxHeaders ?? 100} header lines`);
    }
  });

  it.each([
    [8192, undefined, 'accepted'],
    [8193, undefined, 414],
    [50, 50, 'accepted'],
    [51, 50, 414],
  ])('request line of %i bytes with maxRequestLineBytes %s → %s', (length, max, outcome) => {
    const line = `GET /${'a'.repeat(length - 'GET / HTTP/1.1'.length)} HTTP/1.1`;
    expect(line).toHaveLength(length);
    const limits = max === undefined ? undefined : { maxRequestLineBytes: max };
    if (outcome === 'accepted') {
      expect(request(`${line}\r\n\r\n`, limits)!.target).toHaveLength(length - 'GET  HTTP/1.1'.length);
    } else {
      const error = handshakeError(() => request(`${line}\r\n\r\n`, limits));
      expect(error.status).toBe(414);
      expect(error.message).toBe(`request line exceeds maxRequestLineBytes ${max ?? 8192}`);
    }
  });

  it('refuses a long request line before its end has arrived', () => {
    const parser = new RequestHeadParser({ maxRequestLineBytes: 20 });
    expect(parser.push(Buffer.from('GET /aaaaaaaaaaaaaaa'))).toBeNull();
    expect(handshakeError(() => parser.push(Buffer.from('a'))).status).toBe(414);
  });
});

describe('checkRequestLimits: the same limits for a request another parser read', () => {
  const statusOf = (req: Parameters<typeof checkRequestLimits>[0], limits?: HeadLimits): number | null => {
    try {
      checkRequestLimits(req, limits);
      return null;
    } catch (error) {
      expect(error).toBeInstanceOf(HandshakeError);
      return (error as HandshakeError).status;
    }
  };
  const parsed = parseRequestHead(Buffer.from(UPGRADE_REQUEST))!;
  const asNode = { method: parsed.method, url: parsed.target, rawHeaders: parsed.rawHeaders };

  it('a request within the limits of the own-port parser is within them here too', () => {
    expect(statusOf(asNode)).toBeNull();
    const bytes = Buffer.byteLength(UPGRADE_REQUEST);
    expect(statusOf(asNode, { maxHeaderBytes: bytes, maxHeaders: 7, maxRequestLineBytes: 'GET /chat?room=1 HTTP/1.1'.length })).toBeNull();
  });

  it.each([
    ['one header line too many', { maxHeaders: 6 }, 431],
    ['a head one byte too large', { maxHeaderBytes: Buffer.byteLength(UPGRADE_REQUEST) - 1 }, 431],
    ['a request line one byte too long', { maxRequestLineBytes: 'GET /chat?room=1 HTTP/1.1'.length - 1 }, 414],
  ])('%s → %i', (_label, limits, status) => {
    expect(statusOf(asNode, limits)).toBe(status);
  });

  it('defaults: 100 header lines, 16 KiB', () => {
    const many = Array.from({ length: 101 }, (_, i) => [`x-h${i}`, 'v']).flat();
    expect(statusOf({ method: 'GET', url: '/', rawHeaders: many })).toBe(431);
    expect(statusOf({ method: 'GET', url: '/', rawHeaders: many.slice(0, 200) })).toBeNull();
    expect(statusOf({ method: 'GET', url: '/', rawHeaders: ['x-big', 'a'.repeat(DEFAULT_MAX_HEADER_BYTES)] })).toBe(431);
  });

  it('a request without raw headers is only checked for its request line', () => {
    expect(statusOf({ method: 'GET', url: '/' })).toBeNull();
  });
});

describe('incremental parsing', () => {
  it('stays failed: a push after an error throws the same error', () => {
    const parser = new RequestHeadParser();
    const error = handshakeError(() => parser.push(Buffer.from('GET / HTTP/1.1\n')));
    expect(() => parser.push(Buffer.from('\r\n'))).toThrow(error);
  });

  it('refuses a push after the head was returned', () => {
    const parser = new ResponseHeadParser();
    expect(parser.push(Buffer.from(SWITCHING_RESPONSE))).not.toBeNull();
    expect(() => parser.push(Buffer.from('x'))).toThrow(InvalidStateError);
  });

  it('finds a CRLFCRLF split across chunks at every position', () => {
    const bytes = Buffer.from(`${UPGRADE_REQUEST}rest`);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const parser = new RequestHeadParser();
      const first = parser.push(bytes.subarray(0, cut));
      const head = first ?? parser.push(bytes.subarray(cut));
      expect(head!.headBytes).toBe(UPGRADE_REQUEST.length);
      expect(Buffer.concat([parser.rest!, first === null ? Buffer.alloc(0) : bytes.subarray(cut)]).toString()).toBe('rest');
    }
  });

  it('finds the end of a head that arrives whole, at every length around the first KiB and beyond it, with a large frame after it', () => {
    // The head's end is looked for in its first KiB, then up to maxHeaderBytes.
    const frame = Buffer.alloc(64 * 1024, 0x78);
    for (const length of [...Array.from({ length: 12 }, (_, i) => 1016 + i), 3000, DEFAULT_MAX_HEADER_BYTES]) {
      const base = 'GET / HTTP/1.1\r\nHost: a\r\nX-Pad: \r\n\r\n';
      const head = base.replace('X-Pad: ', `X-Pad: ${'p'.repeat(length - base.length)}`);
      expect(head).toHaveLength(length);
      const parser = new RequestHeadParser();
      const parsed = parser.push(Buffer.concat([Buffer.from(head, 'latin1'), frame]))!;
      expect(parsed.headBytes).toBe(length);
      expect(parsed.headers['x-pad']).toBe('p'.repeat(length - base.length));
      expect(parser.rest!.equals(frame)).toBe(true);
    }
    // One byte over maxHeaderBytes, whole in one chunk and followed by more: still 431.
    const over = `GET / HTTP/1.1\r\nX-Pad: ${'p'.repeat(DEFAULT_MAX_HEADER_BYTES)}\r\n\r\n`;
    expect(handshakeError(() => new RequestHeadParser().push(Buffer.concat([Buffer.from(over), frame]))).status).toBe(431);
  });

  it('accepts Uint8Array views into a larger buffer', () => {
    const backing = new Uint8Array(Buffer.from(`xx${UPGRADE_REQUEST}yy`));
    const head = parseRequestHead(backing.subarray(2, backing.length - 2))!;
    expect(head.headers.host).toBe('server.example.com');
    expect(head.headBytes).toBe(UPGRADE_REQUEST.length);
  });

  const requestInputs = fc.oneof(
    fc.constant(UPGRADE_REQUEST),
    fc.constant(`\r\n${UPGRADE_REQUEST}\x81\x05hello`),
    fc.constant('GET / HTTP/1.1\r\nHost : a\r\n\r\n'),
    fc.constant('GET / HTTP/1.1\r\nX: a\rb\r\n\r\n'),
    fc.constant('GET / HTTP/1.1\nHost: a\r\n\r\n'),
    fc.constant(headWithHeaders(101)),
    fc.string({ unit: fc.constantFrom('G', 'E', 'T', ' ', '/', 'H', ':', '\r', '\n', 'a', '\t', '1', '.'), maxLength: 60 }),
    fc.array(fc.constantFrom('GET / HTTP/1.1', 'Host: a', 'X:b', ' c', '', 'Bad : d'), { maxLength: 6 }).map((lines) => lines.join('\r\n')),
  );

  it('property: any split of a request gives the same head, rest and errors', () => {
    fc.assert(
      fc.property(requestInputs, fc.array(fc.nat(), { maxLength: 8 }), (text, cuts) => {
        const bytes = Buffer.from(text, 'latin1');
        const limits = { maxHeaderBytes: 120, maxHeaders: 4, maxRequestLineBytes: 40 };
        const whole = feed(new RequestHeadParser(limits), bytes, []);
        expect(feed(new RequestHeadParser(limits), bytes, cuts)).toEqual(whole);
      }),
      { numRuns: 2000 },
    );
  });

  // A head that arrives whole is parsed after one search for its end; one that arrives
  // in pieces is scanned byte by byte first. Both must accept and refuse the same heads.
  const wholeHeads = fc.oneof(
    requestInputs,
    fc
      .array(
        fc.constantFrom('GET / HTTP/1.1', 'HTTP/1.1 101 X', `GET /${'x'.repeat(40)} HTTP/1.1`, 'Host: a', 'X:b', 'A: b\rc', 'A: b\nc', '\n', '\r', ' c', '', 'Y: \x7f'),
        { maxLength: 8 },
      )
      .map((lines) => `${lines.join('\r\n')}\r\n\r\n`),
    // A valid start line (after empty lines or not) and up to 6 header lines.
    fc
      .tuple(fc.constantFrom('', '\r\n', '\r\n\r\n'), fc.constantFrom('GET / HTTP/1.1', 'HTTP/1.1 101 X'), fc.array(fc.constantFrom('A: 1', 'B:2'), { maxLength: 6 }))
      .map(([before, start, headers]) => `${before}${[start, ...headers].join('\r\n')}\r\n\r\nrest`),
  );

  it('property: a head parsed whole (one search for its end) and one byte at a time agree', () => {
    fc.assert(
      fc.property(wholeHeads, fc.constantFrom(RequestHeadParser, ResponseHeadParser), (text, Parser) => {
        const bytes = Buffer.from(text, 'latin1');
        const limits = { maxHeaderBytes: 120, maxHeaders: 4, maxRequestLineBytes: 40 };
        const byteByByte = Array.from({ length: bytes.length }, (_, i) => i + 1);
        expect(feed(new Parser(limits), bytes, [])).toEqual(feed(new Parser(limits), bytes, byteByByte));
      }),
      { numRuns: 3000 },
    );
  });

  it('property: any split of a response gives the same head, rest and errors', () => {
    const responses = fc.oneof(
      fc.constant(`${SWITCHING_RESPONSE}\x81\x00`),
      fc.constant('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'),
      fc.constant('HTTP/1.1 101 X\r\nA : b\r\n\r\n'),
      fc.string({ unit: fc.constantFrom('H', 'T', 'P', '/', '1', '.', ' ', '0', '\r', '\n', ':', 'a'), maxLength: 40 }),
    );
    fc.assert(
      fc.property(responses, fc.array(fc.nat(), { maxLength: 8 }), (text, cuts) => {
        const bytes = Buffer.from(text, 'latin1');
        expect(feed(new ResponseHeadParser(), bytes, cuts)).toEqual(feed(new ResponseHeadParser(), bytes, []));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('header lines read in place', () => {
  /** What `visitHeaders` shows: each line's name and value, cut from the text at the offsets given. */
  function visited(head: { visitHeaders(visitor: HeaderVisitor): void }): string[] {
    const seen: string[] = [];
    head.visitHeaders({
      header(text, nameStart, nameEnd, valueStart, valueEnd) {
        expect(text.charCodeAt(nameEnd)).toBe(0x3a); // the colon
        seen.push(text.slice(nameStart, nameEnd), text.slice(valueStart, valueEnd));
      },
    });
    return seen;
  }

  it('shows the lines of a request and of a response in order, values without the whitespace around them', () => {
    const req = request('GET / HTTP/1.1\r\nHost:a\r\nX-Empty: \t\r\nx-two:  b c \t\r\nX-Empty:\r\n\r\n')!;
    expect(visited(req)).toEqual(['Host', 'a', 'X-Empty', '', 'x-two', 'b c', 'X-Empty', '']);
    expect(req.rawHeaders).toEqual(visited(req));
    expect(req.headers).toEqual({ host: 'a', 'x-empty': ', ', 'x-two': 'b c' });
    const res = response(SWITCHING_RESPONSE)!;
    expect(visited(res)).toEqual(['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', 'Sec-WebSocket-Protocol', 'chat']);
    expect(visited(request('GET / HTTP/1.1\r\n\r\n')!)).toEqual([]);
  });

  it('property: for any valid head, in any chunks, the lines shown are rawHeaders and the lines sent', () => {
    const name = fc.string({ unit: fc.constantFrom('a', 'B', '-', '1', '!', '~'), minLength: 1, maxLength: 6 });
    const value = fc.string({ unit: fc.constantFrom('v', ' ', '\t', ',', ':', '\xe9', '\x80'), maxLength: 8 });
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value, fc.constantFrom('', ' ', '\t ')), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 4 }), (lines, cuts) => {
        const text = `GET / HTTP/1.1\r\n${lines.map(([n, v, ows]) => `${n}:${ows}${v}${ows}\r\n`).join('')}\r\n`;
        const parsed = feed(new RequestHeadParser(), Buffer.from(text, 'latin1'), cuts) as { head: RequestHead };
        const expected = lines.flatMap(([n, v]) => [n, v.replace(/^[ \t]+|[ \t]+$/g, '')]);
        expect(visited(parsed.head)).toEqual(expected);
        expect(parsed.head.rawHeaders).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('parseWhole parses a head that arrived whole without changing the parser, else gives null', () => {
    const parser = new RequestHeadParser();
    const bytes = Buffer.from(`${UPGRADE_REQUEST}\x81\x00`, 'latin1');
    // One parser serves any number of heads.
    for (let i = 0; i < 3; i++) {
      const head = parser.parseWhole(bytes)!;
      expect(head.headBytes).toBe(UPGRADE_REQUEST.length);
      expect(head.target).toBe('/chat?room=1');
      expect(head.headers['sec-websocket-key']).toBe('dGhlIHNhbXBsZSBub25jZQ==');
    }
    expect(parser.rest).toBeUndefined();
    // Not whole, or refused: null, and `push` tells which.
    expect(parser.parseWhole(bytes.subarray(0, 40))).toBeNull();
    expect(parser.parseWhole(Buffer.from('GET / HTTP/1.1\r\nHost : a\r\n\r\n'))).toBeNull();
    expect(parser.parseWhole(Buffer.from(`\r\n${UPGRADE_REQUEST}`))).toBeNull();
    expect(parser.push(bytes)!.headBytes).toBe(UPGRADE_REQUEST.length);
    expect(parser.rest!.equals(Buffer.from([0x81, 0x00]))).toBe(true);
  });
});

/** The fastest of a few runs of `fn`, in ms, to see through a busy machine's pauses. */
function bestOfMs(fn: () => void, runs = 3): number {
  let best = Infinity;
  for (let run = 0; run < runs; run++) {
    const start = performance.now();
    fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

describe('linear time', () => {
  it('takes a 16 KiB head one byte at a time quickly', () => {
    const lines = `GET / HTTP/1.1\r\n${`X: ${'a'.repeat(150)}\r\n`.repeat(99)}`;
    const last = `Y: \r\n\r\n`;
    const head = Buffer.from(`${lines}Y: ${'b'.repeat(DEFAULT_MAX_HEADER_BYTES - lines.length - last.length)}\r\n\r\n`);
    expect(head.length).toBe(DEFAULT_MAX_HEADER_BYTES);
    const elapsed = bestOfMs(() => {
      const parser = new RequestHeadParser();
      for (let i = 0; i < head.length - 1; i++) {
        if (parser.push(head.subarray(i, i + 1)) !== null) throw new Error(`head complete early at ${i}`);
      }
      const parsed = parser.push(head.subarray(head.length - 1));
      expect(parsed!.headBytes).toBe(DEFAULT_MAX_HEADER_BYTES);
      expect(parsed!.rawHeaders).toHaveLength(200);
    });
    expect(elapsed).toBeLessThan(100);
  });

  it('refuses 16 KiB + 1 of unterminated head fed one byte at a time, quickly', () => {
    const elapsed = bestOfMs(() => {
      const parser = new RequestHeadParser();
      let error: unknown;
      try {
        for (const byte of Buffer.from('GET / HTTP/1.1\r\n')) parser.push(Uint8Array.of(byte));
        for (;;) parser.push(Uint8Array.of(0x61));
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ status: 431 });
    });
    expect(elapsed).toBeLessThan(100);
  });

  it('scales linearly: 256 KiB one byte at a time (raised limits) stays fast', () => {
    // A parser that rescanned its buffer on every push would do 2^35 byte steps here.
    const head = Buffer.from(`GET / HTTP/1.1\r\n${`X: ${'a'.repeat(250)}\r\n`.repeat(1000)}\r\n`);
    const limits = { maxHeaderBytes: 1 << 20, maxHeaders: 1000 };
    const elapsed = bestOfMs(() => {
      const parser = new RequestHeadParser(limits);
      let parsed = null;
      for (let i = 0; i < head.length; i++) parsed = parser.push(head.subarray(i, i + 1));
      expect(parsed!.headBytes).toBe(head.length);
    }, 2);
    expect(elapsed).toBeLessThan(1000);
  });

  it('parses a 1 MB head (with raised limits) in one chunk in linear time', () => {
    const big = Buffer.from(`GET / HTTP/1.1\r\n${'X-Header: value value value value\r\n'.repeat(30_000)}\r\n`);
    const limits = { maxHeaderBytes: 2 << 20, maxHeaders: 100_000 };
    const elapsed = bestOfMs(() => {
      expect(parseRequestHead(big, limits)!.rawHeaders).toHaveLength(60_000);
    });
    expect(elapsed).toBeLessThan(200);
  });
});
