import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HandshakeError } from '../../src/protocol/errors.js';
import {
  type ExtensionOffer,
  MAX_LIST_ITEMS,
  formatExtensions,
  isToken,
  parseExtensions,
  parseProtocolList,
  parseTokenList,
} from '../../src/protocol/headers.js';

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** Runs `fn`, expecting a HandshakeError with status 400, and returns its message. */
function rejection(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).status).toBe(400);
    return (error as HandshakeError).message;
  }
  throw new Error('expected a HandshakeError');
}

/**
 * The fastest of a few runs of `fn`, in ms: the best run shows the algorithm's cost
 * without the pauses a busy machine adds (a quadratic scan of 1 MB takes minutes).
 */
function bestOfMs(fn: () => unknown, runs = 3): number {
  let best = Infinity;
  for (let run = 0; run < runs; run++) {
    const start = performance.now();
    try {
      fn();
    } catch {
      // Rejection is a valid outcome; only the time matters here.
    }
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

const token = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });
const offer: fc.Arbitrary<ExtensionOffer> = fc.record({
  name: token,
  params: fc.array(fc.tuple(token, fc.oneof(token, fc.constant(true as const))), { maxLength: 5 }),
});

describe('RFC 7230 §3.2.6 token', () => {
  it.each([
    ['websocket', true],
    ['permessage-deflate', true],
    ["!#$%&'*+-.^_`|~09azAZ", true],
    ['', false],
    ['a b', false],
    ['a,b', false],
    ['a"b', false],
    ['a/b', false],
    ['é', false],
    ['a\tb', false],
  ])('isToken(%j) → %s', (value, expected) => {
    expect(isToken(value)).toBe(expected);
  });
});

describe('RFC 7230 §7 comma-separated token lists', () => {
  it.each([
    ['Upgrade', ['Upgrade']],
    ['keep-alive, Upgrade', ['keep-alive', 'Upgrade']],
    ['keep-alive,Upgrade', ['keep-alive', 'Upgrade']],
    ['  keep-alive \t,\t  Upgrade  ', ['keep-alive', 'Upgrade']],
    ['a, , b,,', ['a', 'b']],
    [', a', ['a']],
    ['', []],
    ['  ,  ', []],
    ['chat, superchat', ['chat', 'superchat']],
  ])('parses %j', (value, expected) => {
    expect(parseTokenList(value, 'Connection')).toEqual(expected);
  });

  it('keeps the case of tokens', () => {
    expect(parseTokenList('UpGrAdE', 'Connection')).toEqual(['UpGrAdE']);
  });

  it.each([
    ['a b', 'expected "," after a token at offset 2, found "b"'],
    ['a;b', 'expected "," after a token at offset 1, found ";"'],
    ['a, "b"', 'expected a token at offset 3, found "\\""'],
    ['a/1', 'expected "," after a token at offset 1, found "/"'],
    ['a, é', 'expected a token at offset 3, found "é"'],
  ])('rejects %j naming the header and the offset', (value, message) => {
    expect(rejection(() => parseTokenList(value, 'Sec-WebSocket-Protocol'))).toBe(`Sec-WebSocket-Protocol: ${message}`);
  });

  it(`rejects more than ${MAX_LIST_ITEMS} elements`, () => {
    expect(parseTokenList('a,'.repeat(MAX_LIST_ITEMS), 'P')).toHaveLength(MAX_LIST_ITEMS);
    expect(rejection(() => parseTokenList('a,'.repeat(MAX_LIST_ITEMS + 1), 'P'))).toBe(`P: more than ${MAX_LIST_ITEMS} elements`);
  });
});

describe('RFC 7230 §6.7 Upgrade protocol list', () => {
  it.each([
    ['websocket', ['websocket']],
    ['HTTP/2.0, websocket', ['HTTP/2.0', 'websocket']],
    ['WebSocket ,h2c', ['WebSocket', 'h2c']],
  ])('parses %j', (value, expected) => {
    expect(parseProtocolList(value)).toEqual(expected);
  });

  it.each([['HTTP/'], ['/2'], ['a/b/c'], ['web socket']])('rejects %j', (value) => {
    expect(rejection(() => parseProtocolList(value))).toMatch(/^Upgrade: expected/);
  });
});

describe('RFC 6455 §9.1 Sec-WebSocket-Extensions', () => {
  it.each<[string, ExtensionOffer[]]>([
    ['permessage-deflate', [{ name: 'permessage-deflate', params: [] }]],
    [
      'permessage-deflate; client_max_window_bits',
      [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }],
    ],
    [
      'permessage-deflate; client_max_window_bits="10"',
      [{ name: 'permessage-deflate', params: [['client_max_window_bits', '10']] }],
    ],
    [
      'permessage-deflate;server_no_context_takeover;client_max_window_bits=15',
      [{ name: 'permessage-deflate', params: [['server_no_context_takeover', true], ['client_max_window_bits', '15']] }],
    ],
    [
      'foo ; a = 1 ;\tb= "2" , bar',
      [
        { name: 'foo', params: [['a', '1'], ['b', '2']] },
        { name: 'bar', params: [] },
      ],
    ],
    ['a, , b,', [{ name: 'a', params: [] }, { name: 'b', params: [] }]],
    ['x; p="\\a\\b"', [{ name: 'x', params: [['p', 'ab']] }]],
  ])('parses %j', (value, expected) => {
    expect(parseExtensions(value)).toEqual(expected);
  });

  it('keeps repeated parameters and repeated extensions, in order', () => {
    expect(parseExtensions('permessage-deflate; a; a=1, permessage-deflate')).toEqual([
      { name: 'permessage-deflate', params: [['a', true], ['a', '1']] },
      { name: 'permessage-deflate', params: [] },
    ]);
  });

  it.each([
    ['', 'lists no extension'],
    [' , ', 'lists no extension'],
    [';a', 'expected an extension name at offset 0, found ";"'],
    ['foo;', 'expected a parameter name at offset 4, found end of input'],
    ['foo;;a', 'expected a parameter name at offset 4, found ";"'],
    ['foo; =1', 'expected a parameter name at offset 5, found "="'],
    ['foo; a=', 'expected a value for parameter "a" at offset 7, found end of input'],
    ['foo; a=,', 'expected a value for parameter "a" at offset 7, found ","'],
    ['foo bar', 'expected ";" or "," at offset 4, found "b"'],
    ['foo; a b', 'expected ";" or "," at offset 7, found "b"'],
    ['foo; a=1 2', 'expected ";" or "," at offset 9, found "2"'],
    ['foo; a="10', 'unterminated quoted-string starting at offset 7'],
    ['foo; a="1\\', 'unterminated quoted-string starting at offset 7'],
    ['foo; a=""', 'quoted value of parameter "a" at offset 7 is empty'],
    ['foo; a="1 0"', 'quoted value of parameter "a" must be a token, found " " at offset 9'],
    ['foo; a="\\""', 'quoted value of parameter "a" must be a token, found "\\"" at offset 9'],
    ['foo; a="\\\\"', 'quoted value of parameter "a" must be a token, found "\\\\" at offset 9'],
    ['foo; a="1"2', 'expected ";" or "," at offset 10, found "2"'],
    ['foo; a=1=2', 'expected ";" or "," at offset 8, found "="'],
    ['"foo"', 'expected an extension name at offset 0, found "\\""'],
    ['foo\u0000', 'expected ";" or "," at offset 3, found "\\u0000"'],
  ])('rejects %j', (value, message) => {
    expect(rejection(() => parseExtensions(value))).toBe(`Sec-WebSocket-Extensions: ${message}`);
  });

  it(`rejects more than ${MAX_LIST_ITEMS} extensions and parameters together`, () => {
    const atLimit = `x${'; p'.repeat(MAX_LIST_ITEMS - 1)}`;
    expect(parseExtensions(atLimit)[0]!.params).toHaveLength(MAX_LIST_ITEMS - 1);
    expect(rejection(() => parseExtensions(`${atLimit}, y`))).toMatch(/more than 1024 elements/);
  });

  it('formats offers with "; " and ", "', () => {
    expect(
      formatExtensions([
        { name: 'permessage-deflate', params: [['client_max_window_bits', true], ['server_max_window_bits', '10']] },
        { name: 'x-foo', params: [] },
      ]),
    ).toBe('permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-foo');
    expect(formatExtensions([])).toBe('');
  });

  it.each<[ExtensionOffer]>([
    [{ name: 'a b', params: [] }],
    [{ name: '', params: [] }],
    [{ name: 'x', params: [['a=b', true]] }],
    [{ name: 'x', params: [['a', '1 0']] }],
    [{ name: 'x', params: [['a', '']] }],
  ])('formatExtensions refuses a non-token in %j', (bad) => {
    expect(() => formatExtensions([bad])).toThrow(TypeError);
  });

  it('property: any string parses or throws HandshakeError 400, nothing else', () => {
    const alphabet = fc.constantFrom(...'a=;, \t"\\\u0000é/', ...TCHARS.slice(0, 20));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: alphabet, maxLength: 40 })), (value) => {
        try {
          const offers = parseExtensions(value);
          expect(offers.length).toBeGreaterThan(0);
        } catch (error) {
          expect(error).toBeInstanceOf(HandshakeError);
          expect((error as HandshakeError).status).toBe(400);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('property: format then parse gives the offers back', () => {
    fc.assert(
      fc.property(fc.array(offer, { minLength: 1, maxLength: 5 }), (offers) => {
        expect(parseExtensions(formatExtensions(offers))).toEqual(offers);
      }),
    );
  });

  it('property: quoting a token value, escaped or not, parses to the same value', () => {
    fc.assert(
      fc.property(token, token, fc.boolean(), (name, value, escapeAll) => {
        const quoted = escapeAll ? [...value].map((c) => `\\${c}`).join('') : value;
        expect(parseExtensions(`${name}; p = "${quoted}"`)).toEqual([{ name, params: [['p', value]] }]);
      }),
    );
  });
});

describe('linear time on adversarial 1 MB values', () => {
  const MB = 1 << 20;
  const BUDGET_MS = 100;

  it.each<[string, string]>([
    ['a single 1 MB token', 'a'.repeat(MB)],
    ['1 MB of commas', ','.repeat(MB)],
    ['1 MB of whitespace', ' '.repeat(MB)],
    ['an element flood "a,"', 'a,'.repeat(MB / 2)],
    ['a parameter flood ";a"', `x${';a'.repeat(MB / 2)}`],
    ['a ";" flood', `x${';'.repeat(MB)}`],
    ['unterminated escaped quotes "\\"', `x; p="${'\\"'.repeat(MB / 2)}`],
    ['a 1 MB quoted token', `x; p="${'a'.repeat(MB)}"`],
    ['a 1 MB escaped quoted token', `x; p="${'\\a'.repeat(MB / 2)}"`],
    ['an unterminated quoted token', `x; p="${'a'.repeat(MB)}`],
    ['whitespace around "="', `x; p${' '.repeat(MB / 2)}=${' '.repeat(MB / 2)}1`],
  ])('parseExtensions on %s', (_label, value) => {
    expect(bestOfMs(() => parseExtensions(value))).toBeLessThan(BUDGET_MS);
  });

  it.each<[string, string]>([
    ['an element flood "a,"', 'a,'.repeat(MB / 2)],
    ['1 MB of ", "', ', '.repeat(MB / 2)],
    ['a single 1 MB token', 'a'.repeat(MB)],
    ['"a " floods', 'a '.repeat(MB / 2)],
  ])('parseTokenList on %s', (_label, value) => {
    expect(bestOfMs(() => parseTokenList(value, 'Sec-WebSocket-Protocol'))).toBeLessThan(BUDGET_MS);
  });
});
