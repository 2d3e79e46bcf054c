/**
 * Target `header-values`: the header grammars of the opening handshake,
 * `parseExtensions`, `parseProtocolList`, `parseTokenList`, and the validators
 * `validateUpgradeRequest` / `validateUpgradeResponse` on whole header records, with
 * values assembled from the grammar's own pieces (tokens, `,` `;` `=` quotes,
 * backslashes, whitespace, controls, non-ASCII) and pathological repetitions up to
 * 200 000 characters.
 *
 * Invariants:
 * - every call returns or throws `HandshakeError` (400 for the parsers; 400, 405, 426
 *   or 505 for a request; the received status for a response), never anything else;
 * - time is linear: no call takes more than 50 ms (see `timed`);
 * - parsed lists hold only tokens (or `token/token` for `Upgrade`), at most
 *   `MAX_LIST_ITEMS`; extensions round-trip through `formatExtensions`;
 * - an accepted request has a canonical 16-byte key, version 13, distinct token
 *   subprotocols and well-formed extensions.
 */
import fc from 'fast-check';
import {
  HandshakeError,
  MAX_LIST_ITEMS,
  formatExtensions,
  isToken,
  parseExtensions,
  parseProtocolList,
  parseTokenList,
  validateUpgradeRequest,
  validateUpgradeResponse,
  type IncomingHeaders,
} from '../lib/handshake-api.js';
import { defect, invariant, timed } from '../lib/defect.js';
import { Prng } from '../lib/prng.js';
import type { FuzzTarget } from './target.js';

export type HeaderValuesInput =
  | { fn: 'extensions' | 'protocols' | 'tokens'; value: string }
  | { fn: 'request'; method: string; httpVersion: string; headers: IncomingHeaders }
  | { fn: 'response'; status: number; headers: IncomingHeaders };

/** Pieces of header values: the grammar's tokens and separators, and what breaks them. */
const PIECES = [
  'permessage-deflate', 'x-webkit-deflate-frame', 'client_max_window_bits', 'server_no_context_takeover', 'websocket', 'Upgrade',
  'chat', 'HTTP/2.0', 'a', 'Z9', '15', '8', '10',
  ',', ', ', ',,', ';', '; ', '=', ' = ', '"', '"10"', '"a\\"b"', '\\', '\\\\', '\\"', '/', ' ', '\t', '  ', '',
  '\0', '\r', '\n', '\x7f', '\x01', 'é', '\u00ff', '\u0100', '\u{1F600}', '\uD800', '(', ')', '<', '@', '[', '{', '?',
];

/** Pathological shapes, repeated many times: each must still be parsed in linear time. */
const REPEATS = [
  'a,', ',', ' ', '\t,', 'a;', 'a; b', 'a;b=', 'a;b="', 'a;b="\\', '\\a', 'x=', ';', '"', 'a/b,', 'a/', 'ext; p="v", ',
];

function composed(rng: Prng): string {
  let out = '';
  const count = rng.below(16);
  for (let i = 0; i < count; i++) out += rng.pick(PIECES);
  return out;
}

/** A value: composed from pieces, or a long repetition wrapped in a prefix and a suffix. */
function headerValue(rng: Prng): string {
  if (!rng.chance(1, 12)) return composed(rng);
  const unit = rng.pick(REPEATS);
  const times = rng.pick([100, 1023, 1024, 1025, 5000, 20000, 100000]);
  return `${rng.chance(1, 2) ? 'permessage-deflate; p="' : composed(rng)}${unit.repeat(Math.min(times, Math.floor(200000 / unit.length)))}${composed(rng)}`;
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const VALID_REQUEST: Record<string, string> = {
  host: 'example.com',
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-key': KEY,
  'sec-websocket-version': '13',
};
const NAMES = [
  'host', 'Host', 'upgrade', 'UPGRADE', 'connection', 'sec-websocket-key', 'Sec-WebSocket-Key', 'sec-websocket-version',
  'sec-websocket-protocol', 'Sec-WebSocket-Protocol', 'sec-websocket-extensions', 'sec-websocket-accept', 'origin', 'x-other',
];
const SPECIAL_VALUES = [KEY, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', 'dGhlIHNhbXBsZSBub25jZQ=', 'dGhlIHNhbXBsZSBub25jZR==', '13', '8', '13, 13', 'chat', 'chat, chat', 'websocket, h2c', 'Upgrade, keep-alive', 'permessage-deflate'];

/** A header record: the valid request's, with some names overridden, repeated in other case, or removed. */
function headerRecord(rng: Prng, base: Record<string, string>): IncomingHeaders {
  const headers: IncomingHeaders = { ...base };
  const changes = rng.below(5);
  for (let i = 0; i < changes; i++) {
    const name = rng.pick(NAMES);
    const r = rng.below(10);
    if (r === 0) delete headers[name];
    else if (r < 3) headers[name] = [rng.chance(1, 2) ? rng.pick(SPECIAL_VALUES) : headerValue(rng), headerValue(rng)];
    else if (r < 5) headers[name] = rng.pick(SPECIAL_VALUES);
    else if (r === 5) headers[name] = undefined;
    else headers[name] = headerValue(rng);
  }
  return headers;
}

const arbInput: fc.Arbitrary<HeaderValuesInput> = fc.tuple(fc.nat(99), fc.nat()).map(([selector, seed]): HeaderValuesInput => {
  const rng = new Prng(seed);
  if (selector < 30) return { fn: 'extensions', value: headerValue(rng) };
  if (selector < 45) return { fn: 'protocols', value: headerValue(rng) };
  if (selector < 60) return { fn: 'tokens', value: headerValue(rng) };
  if (selector < 90) {
    return {
      fn: 'request',
      method: rng.chance(9, 10) ? 'GET' : rng.pick(['POST', 'get', '', 'GET ', 'CONNECT']),
      httpVersion: rng.chance(9, 10) ? '1.1' : rng.pick(['1.0', '2.0', '0.9', '1.10', '', 'a.b', '1', '11.1', '1.1.1', '.1']),
      headers: headerRecord(rng, VALID_REQUEST),
    };
  }
  return {
    fn: 'response',
    status: rng.chance(9, 10) ? 101 : rng.pick([0, 100, 200, 400, 426, 999, -1, 101.5]),
    headers: headerRecord(rng, { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' }),
  };
});

function run(input: HeaderValuesInput): unknown {
  switch (input.fn) {
    case 'extensions':
      return parseExtensions(input.value);
    case 'protocols':
      return parseProtocolList(input.value, 'Upgrade');
    case 'tokens':
      return parseTokenList(input.value, 'Connection');
    case 'request':
      return validateUpgradeRequest({ method: input.method, httpVersion: input.httpVersion, headers: input.headers });
    case 'response':
      return validateUpgradeResponse({ status: input.status, headers: input.headers }, { key: KEY, protocols: ['chat'], extensionNames: ['permessage-deflate'] });
  }
}

const ALLOWED_STATUSES: Record<HeaderValuesInput['fn'], readonly number[] | null> = {
  extensions: [400],
  protocols: [400],
  tokens: [400],
  request: [400, 405, 426, 505],
  response: null, // the received status
};

export function checkHeaderValues(input: HeaderValuesInput): void {
  const elapsed = timed(() => run(input), 50);
  invariant(elapsed <= 50, () => `${input.fn} took ${elapsed.toFixed(1)} ms (not linear time)`);
  let result: unknown;
  try {
    result = run(input);
  } catch (error) {
    invariant(error instanceof HandshakeError, () => `${input.fn} threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    const allowed = ALLOWED_STATUSES[input.fn];
    const expected = allowed ?? [(input as { status: number }).status];
    invariant(expected.includes(error.status), () => `${input.fn} failed with status ${error.status}: ${error.message}`);
    return;
  }
  try {
    checkResult(input, result);
  } catch (error) {
    if (error instanceof Error && error.name === 'Defect') throw error;
    defect(`checking the result of ${input.fn} threw ${String(error)}`, { cause: error });
  }
}

function checkResult(input: HeaderValuesInput, result: unknown): void {
  switch (input.fn) {
    case 'tokens': {
      const items = result as string[];
      invariant(items.length <= MAX_LIST_ITEMS && items.every(isToken), () => `token list ${JSON.stringify(items).slice(0, 200)}`);
      invariant(JSON.stringify(parseTokenList(items.join(', '), 'Connection')) === JSON.stringify(items), () => 'token list does not round-trip');
      break;
    }
    case 'protocols': {
      const items = result as string[];
      invariant(items.length <= MAX_LIST_ITEMS, () => `${items.length} items exceed MAX_LIST_ITEMS`);
      for (const item of items) {
        const [name, version, extra] = item.split('/');
        invariant(isToken(name!) && (version === undefined || isToken(version)) && extra === undefined, () => `protocol ${JSON.stringify(item)}`);
      }
      break;
    }
    case 'extensions': {
      const offers = result as ReturnType<typeof parseExtensions>;
      invariant(offers.length >= 1, () => 'no extension in a successful parse');
      const items = offers.reduce((sum, offer) => sum + 1 + offer.params.length, 0);
      invariant(items <= MAX_LIST_ITEMS, () => `${items} extensions and parameters exceed MAX_LIST_ITEMS`);
      for (const offer of offers) {
        invariant(isToken(offer.name), () => `extension name ${JSON.stringify(offer.name)}`);
        for (const [name, value] of offer.params) {
          invariant(isToken(name) && (value === true || isToken(value)), () => `parameter ${JSON.stringify([name, value])}`);
        }
      }
      const again = parseExtensions(formatExtensions(offers));
      invariant(JSON.stringify(again) === JSON.stringify(offers), () => 'extensions do not round-trip through formatExtensions');
      break;
    }
    case 'request': {
      const info = result as ReturnType<typeof validateUpgradeRequest>;
      invariant(info.version === 13, () => `version ${info.version}`);
      invariant(info.key.length === 24 && Buffer.from(info.key, 'base64').length === 16 && Buffer.from(info.key, 'base64').toString('base64') === info.key, () => `key ${JSON.stringify(info.key)}`);
      invariant(info.protocols.every(isToken) && new Set(info.protocols).size === info.protocols.length, () => `protocols ${JSON.stringify(info.protocols)}`);
      invariant(info.extensions.every((offer) => isToken(offer.name)), () => 'extensions');
      invariant(input.method === 'GET', () => `method ${JSON.stringify(input.method)} accepted`);
      break;
    }
    case 'response': {
      const info = result as ReturnType<typeof validateUpgradeResponse>;
      invariant(input.status === 101, () => `status ${input.status} accepted`);
      invariant(info.protocol === '' || info.protocol === 'chat', () => `protocol ${JSON.stringify(info.protocol)} was not offered`);
      invariant(info.extensions.every((offer) => offer.name === 'permessage-deflate'), () => 'an extension that was not offered was accepted');
      break;
    }
  }
}

// The permessage-deflate negotiation of these values is the `deflate-params` target.
// Not fuzzed yet, because the code does not exist yet:
// TODO(redis): likewise a `redis-envelope` target for the Redis adapter's envelope
//   decoder (untrusted input): random and mutated envelopes decode or are dropped,
//   never throw, never allocate beyond the message size limit.

export const headerValuesTarget: FuzzTarget<HeaderValuesInput> = {
  name: 'header-values',
  description: 'parseExtensions, parseProtocolList, parseTokenList, validateUpgradeRequest/Response; linear time',
  defaultRuns: 2,
  arbitrary: arbInput,
  check: checkHeaderValues,
};
