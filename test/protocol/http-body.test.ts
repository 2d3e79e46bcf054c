import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HandshakeError } from '../../src/protocol/errors.js';
import { BodyLength, ResponseBodyDecoder, bodyLengthOf } from '../../src/protocol/http-body.js';
import { parseResponseHead, type ResponseHead } from '../../src/protocol/http.js';

/** The head of `status` with `headers` (lines without CRLF). */
function head(status: number, ...headers: string[]): ResponseHead {
  return parseResponseHead(Buffer.from(`HTTP/1.1 ${status} X\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`, 'latin1'))!;
}

/** Feeds `bytes` in `pieces` (split points), returns the body and whether it is done. */
function decode(decoder: ResponseBodyDecoder, bytes: Buffer, cuts: number[] = []): { body: string; isDone: boolean } {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  let body = '';
  let from = 0;
  for (const to of [...points, bytes.length]) {
    for (const part of decoder.push(bytes.subarray(from, to))) body += part.toString('latin1');
    from = to;
  }
  return { body, isDone: decoder.isDone };
}

describe('RFC 9112 §6.3: the length of a response body', () => {
  it.each([
    ['204 and 304 have none', head(204, 'Content-Length: 5'), BodyLength.None],
    ['304', head(304), BodyLength.None],
    ['Content-Length: 0 is none', head(403, 'Content-Length: 0'), BodyLength.None],
    ['Content-Length', head(403, 'Content-Length: 5'), BodyLength.Fixed],
    ['repeated identical Content-Length (RFC 9110 §8.6)', head(403, 'Content-Length: 5', 'Content-Length: 5'), BodyLength.Fixed],
    ['chunked', head(403, 'Transfer-Encoding: chunked'), BodyLength.Chunked],
    ['chunked wins over Content-Length', head(403, 'Content-Length: 5', 'Transfer-Encoding: gzip, Chunked'), BodyLength.Chunked],
    ['chunked not last: until close', head(403, 'Transfer-Encoding: chunked, gzip'), BodyLength.UntilClose],
    ['neither: until close', head(403), BodyLength.UntilClose],
  ])('%s', (_, response, kind) => {
    expect(bodyLengthOf(response).kind).toBe(kind);
  });

  it.each(['5, 6', 'x', '-1', '1e3', ''])('an invalid Content-Length %j cannot be delimited: HandshakeError', (value) => {
    expect(() => new ResponseBodyDecoder(head(403, `Content-Length: ${value}`))).toThrow(HandshakeError);
  });

  it('Content-Length: that many bytes, what follows ignored', () => {
    expect(decode(new ResponseBodyDecoder(head(403, 'Content-Length: 5')), Buffer.from('helloEXTRA'))).toEqual({ body: 'hello', isDone: true });
  });

  it('until close: complete at the close; a short Content-Length is not', () => {
    const untilClose = new ResponseBodyDecoder(head(403));
    expect(decode(untilClose, Buffer.from('all of it'))).toEqual({ body: 'all of it', isDone: false });
    expect(untilClose.end()).toBe(true);
    const short = new ResponseBodyDecoder(head(403, 'Content-Length: 10'));
    decode(short, Buffer.from('abc'));
    expect(short.end()).toBe(false);
  });
});

describe('RFC 9112 §7.1: chunked transfer coding', () => {
  const CHUNKED = Buffer.from('5\r\nhello\r\n1;name=value\r\n \r\nB ; x\r\nmaintenance\r\n000\r\nX-Trailer: t\r\n\r\nNEXT', 'latin1');

  it('decodes chunks, ignores extensions and trailers, stops at the last chunk', () => {
    expect(decode(new ResponseBodyDecoder(head(503, 'Transfer-Encoding: chunked')), CHUNKED)).toEqual({ body: 'hello maintenance', isDone: true });
  });

  it('any split of the stream gives the same body', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
        expect(decode(new ResponseBodyDecoder(head(503, 'Transfer-Encoding: chunked')), CHUNKED, cuts)).toEqual({ body: 'hello maintenance', isDone: true });
      }),
    );
  });

  it('any chunks round-trip', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 8 }), fc.array(fc.nat()), (chunks, cuts) => {
        const encoded = Buffer.concat([...chunks.flatMap((c) => [Buffer.from(`${c.length.toString(16)}\r\n`), Buffer.from(c), Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
        const expected = Buffer.concat(chunks).toString('latin1');
        expect(decode(new ResponseBodyDecoder(head(503, 'Transfer-Encoding: chunked')), encoded, cuts)).toEqual({ body: expected, isDone: true });
      }),
    );
  });

  it.each([
    ['a size that is not hex', 'zz\r\n', ''],
    ['a bare LF', '5\nhello\r\n', ''],
    ['data longer than its size', '2\r\nhello\r\n', 'he'],
    ['a size past 2^53', '10000000000000000\r\n', ''],
    ['a line past 4 KiB', `5;${'x'.repeat(5000)}\r\n`, ''],
    ['a bad size after a good chunk', '5\r\nhello\r\nzz\r\n', 'hello'],
  ])('%s is malformed: the data before it is given, failure says why, and nothing more is read', (_, text, before) => {
    const decoder = new ResponseBodyDecoder(head(503, 'Transfer-Encoding: chunked'));
    expect(decoder.failure).toBe(null);
    expect(Buffer.concat(decoder.push(Buffer.from(text, 'latin1'))).toString('latin1')).toBe(before);
    expect(decoder.failure).toBeInstanceOf(HandshakeError);
    expect(decoder.failure!.message).toMatch(/^malformed chunked response body: /);
    expect(decoder.push(Buffer.from('5\r\nhello\r\n0\r\n\r\n'))).toEqual([]);
    expect(decoder.isDone).toBe(false);
    expect(decoder.end()).toBe(false);
  });

  it('the 4 KiB line limit: a chunk-size line of 4096 bytes (CRLF included) is read, one of 4097 is malformed', () => {
    const line = (bytes: number): string => `5;${'x'.repeat(bytes - 4)}\r\n`; // "5;", extension, CRLF
    expect(line(4096).length).toBe(4096);
    const fits = new ResponseBodyDecoder(head(503, 'Transfer-Encoding: chunked'));
    expect(decode(fits, Buffer.from(`${line(4096)}hello\r\n0\r\n\r\n`, 'latin1'))).toEqual({ body: 'hello', isDone: true });
    expect(fits.failure).toBe(null);
    const over = new ResponseBodyDecoder(head(503, 'Transfer-Encoding: chunked'));
    expect(decode(over, Buffer.from(`${line(4097)}hello\r\n0\r\n\r\n`, 'latin1'))).toEqual({ body: '', isDone: false });
    expect(over.failure?.message).toMatch(/line longer than 4096 bytes/);
  });
});
