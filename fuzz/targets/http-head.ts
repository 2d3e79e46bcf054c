/**
 * Target `http-head`: `RequestHeadParser` and `ResponseHeadParser` (the opening
 * handshake's HTTP heads read from a raw socket), fed random bytes and valid heads
 * (built with `buildUpgradeRequest`, `buildAcceptResponse`, `buildErrorResponse`)
 * mutated byte by byte and line by line, in any chunking, under default and tiny limits.
 * What they return then goes through `validateUpgradeRequest` / `validateUpgradeResponse`,
 * and requests through `validateUpgradeHead` too, which must agree.
 *
 * Invariants:
 * - `push` returns null or a head, or throws `HandshakeError` (request: 400, 414 or
 *   431; response: 0 or the status received), never anything else; once failed it
 *   throws the same error again; after a head it throws `InvalidStateError`;
 * - the outcome does not depend on the chunking: the same head or the same error;
 * - limits hold: the head is at most `maxHeaderBytes`, has at most `maxHeaders` header
 *   lines and a start line of at most `maxRequestLineBytes`;
 * - a head is well-formed: token method and header names, lower-case keys, values
 *   without CR, LF, NUL or surrounding whitespace, repeated headers joined with ", ";
 *   it ends with CRLFCRLF and `rest` is exactly the bytes after it in the last chunk;
 * - an unmutated valid head parses and validates;
 * - the validators throw only `HandshakeError`;
 * - parsing takes under 50 ms (all inputs are at most a few dozen KiB).
 */
import fc from 'fast-check';
import {
  HandshakeError,
  InvalidStateError,
  buildAcceptResponse,
  buildErrorResponse,
  buildUpgradeRequest,
  isToken,
  validateUpgradeHead,
  validateUpgradeRequest,
  validateUpgradeResponse,
  RequestHeadParser,
  ResponseHeadParser,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADERS,
  DEFAULT_MAX_REQUEST_LINE_BYTES,
  type HeadLimits,
  type RequestHead,
  type ResponseHead,
} from '../lib/handshake-api.js';
import { defect, invariant, sameBytes, timed } from '../lib/defect.js';
import { Prng } from '../lib/prng.js';
import { arbChunking, chunk, type Chunking } from '../lib/streams.js';
import type { FuzzTarget } from './target.js';

export interface HttpHeadInput {
  kind: 'request' | 'response';
  bytes: Uint8Array;
  chunking: Chunking;
  limits: HeadLimits | undefined;
  /** A valid head, unmutated, under the default limits: it must parse and validate. */
  intact: boolean;
}

/** The key the generated responses answer. */
export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const OFFERED_PROTOCOLS = ['chat', 'superchat'];
const OFFERED_EXTENSIONS = ['permessage-deflate'];

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function token(rng: Prng, max = 12): string {
  let out = '';
  const length = 1 + rng.below(max);
  for (let i = 0; i < length; i++) out += TOKEN_CHARS[rng.below(TOKEN_CHARS.length)];
  return out;
}

/** Characters of a registered name (RFC 3986 §3.2.2: unreserved and sub-delims; no comma, see validateUpgrade). */
const HOST_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+;=";

/** A host name of up to `max` characters, with now and then a percent-encoded octet. */
function hostName(rng: Prng, max: number): string {
  let out = '';
  const length = 1 + rng.below(max);
  for (let i = 0; i < length; i++) {
    out += rng.chance(1, 16) ? `%${rng.below(256).toString(16).padStart(2, '0')}` : HOST_CHARS[rng.below(HOST_CHARS.length)];
  }
  return out;
}

/** A header value: visible ASCII, inner spaces and tabs, some obs-text. */
function fieldValue(rng: Prng, max = 24): string {
  let out = '';
  const length = rng.below(max);
  for (let i = 0; i < length; i++) {
    const r = rng.below(20);
    out += r === 0 ? ' ' : r === 1 ? '\t' : r === 2 ? String.fromCharCode(0x80 + rng.below(0x80)) : String.fromCharCode(0x21 + rng.below(0x5e));
  }
  return out;
}

function extraHeaders(rng: Prng): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  const count = rng.below(4);
  for (let i = 0; i < count; i++) headers.push([`X-${token(rng, 8)}`, fieldValue(rng).trim()]);
  return headers;
}

/** A valid upgrade request head, possibly followed by the first bytes of the stream. */
function validRequest(rng: Prng): string {
  const path = `/${token(rng, 10)}${rng.chance(1, 3) ? `?q=${token(rng, 6)}` : ''}`;
  const host = `${hostName(rng, 10)}.example${rng.chance(1, 2) ? `:${rng.below(65536)}` : ''}`;
  const head = buildUpgradeRequest({
    host,
    path,
    key: KEY,
    protocols: rng.chance(1, 2) ? OFFERED_PROTOCOLS.slice(0, 1 + rng.below(2)) : undefined,
    extensions: rng.chance(1, 2) ? 'permessage-deflate; client_max_window_bits' : undefined,
    origin: rng.chance(1, 2) ? 'http://example.com' : undefined,
    headers: extraHeaders(rng),
  });
  return rng.chance(1, 4) ? `${head}\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58` : head;
}

function validResponse(rng: Prng): string {
  if (rng.chance(1, 4)) {
    const status = rng.pick([400, 401, 403, 404, 426, 429, 500, 503]);
    return buildErrorResponse(status, fieldValue(rng, 40), rng.chance(1, 2) ? { 'Retry-After': '1' } : undefined);
  }
  return buildAcceptResponse({
    key: KEY,
    protocol: rng.chance(1, 2) ? rng.pick(OFFERED_PROTOCOLS) : undefined,
    extensions: rng.chance(1, 3) ? 'permessage-deflate' : undefined,
    headers: extraHeaders(rng),
  });
}

/** Bytes worth inserting into a head: line ends, separators, controls, obs-text. */
const SPECIAL = ['\r', '\n', '\r\n', '\r\n\r\n', '\0', ' ', '\t', ':', ',', ';', '"', '\x7f', '\x80', '\xff', '\x01', 'HTTP/1.1', ' \r\n'];

/** Applies `count` random mutations: bytes changed, inserted, deleted; lines repeated, stretched, multiplied. */
function mutateHead(text: string, rng: Prng, count: number): string {
  for (let m = 0; m < count; m++) {
    const at = rng.below(text.length + 1);
    const kind = rng.below(10);
    if (kind === 0) text = text.slice(0, at) + String.fromCharCode(rng.below(256)) + text.slice(at + 1);
    else if (kind === 1) text = text.slice(0, at) + rng.pick(SPECIAL) + text.slice(at);
    else if (kind === 2) text = text.slice(0, at) + text.slice(at + 1 + rng.below(4));
    else if (kind === 3) text = text.slice(0, at);
    else if (kind === 4) text = text.slice(0, at) + rng.pick(SPECIAL) + text.slice(at + 1);
    else if (kind === 5 || kind === 6) {
      // Repeat, stretch or multiply one line.
      const lines = text.split('\r\n');
      const index = rng.below(lines.length);
      const line = lines[index]!;
      if (kind === 5) lines.splice(index, 0, ...Array<string>(1 + rng.below(rng.chance(1, 4) ? 120 : 3)).fill(line));
      else lines[index] = line + 'a'.repeat(rng.pick([1, 100, 8000, 8200, 16400]));
      text = lines.join('\r\n');
    } else if (kind === 7) {
      text = '\r\n'.repeat(1 + rng.below(3)) + text; // empty lines before the start line
    } else if (kind === 8) {
      const line = `${rng.chance(1, 2) ? token(rng) : fieldValue(rng, 8)}:${fieldValue(rng)}\r\n`;
      const lineStart = text.indexOf('\r\n') + 2;
      text = text.slice(0, lineStart) + line + text.slice(lineStart);
    } else {
      text = text.slice(0, at) + text.slice(at).replace('\r\n', rng.pick(['\n', '\r', '\r\n ', '\r\n\t', '\r\r\n']));
    }
  }
  return text;
}

function arbLimits(): fc.Arbitrary<HeadLimits | undefined> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    {
      weight: 1,
      arbitrary: fc.record(
        {
          maxHeaderBytes: fc.constantFrom(0, 1, 16, 64, 200, 1024, 16384),
          maxHeaders: fc.constantFrom(0, 1, 2, 5, 100),
          maxRequestLineBytes: fc.constantFrom(0, 1, 14, 16, 40, 8192),
        },
        { requiredKeys: [] },
      ),
    },
  );
}

function arbBytesFor(kind: 'request' | 'response'): fc.Arbitrary<{ bytes: Uint8Array; mutated: boolean }> {
  return fc.oneof(
    {
      weight: 1,
      arbitrary: fc.tuple(fc.nat(300), fc.nat()).map(([length, seed]) => ({ bytes: new Prng(seed).bytes(length), mutated: true })),
    },
    {
      weight: 6,
      arbitrary: fc.tuple(fc.nat(), fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 4 }) })).map(([seed, count]) => {
        const rng = new Prng(seed);
        const text = mutateHead(kind === 'request' ? validRequest(rng) : validResponse(rng), rng, count);
        return { bytes: new Uint8Array(Buffer.from(text, 'latin1')), mutated: count > 0 };
      }),
    },
  );
}

function arbInputFor(kind: 'request' | 'response'): fc.Arbitrary<HttpHeadInput> {
  return fc.record({ kind: fc.constant(kind), head: arbBytesFor(kind), chunking: arbChunking, limits: arbLimits() }).map(({ kind, head, chunking, limits }) => ({
    kind,
    bytes: head.bytes,
    chunking,
    limits,
    intact: !head.mutated && limits === undefined,
  }));
}

type Outcome = { head: RequestHead | ResponseHead; rest: Buffer; restEnd: number } | { error: HandshakeError } | { pending: true };

function newParser(input: HttpHeadInput): RequestHeadParser | ResponseHeadParser {
  return input.kind === 'request' ? new RequestHeadParser(input.limits) : new ResponseHeadParser(input.limits);
}

/** Feeds the chunks; returns the outcome, checking the after-failure and after-head behaviour. */
function feed(input: HttpHeadInput, chunks: Buffer[]): Outcome {
  const parser = newParser(input);
  let consumed = 0;
  for (const piece of chunks) {
    let head: RequestHead | ResponseHead | null;
    try {
      head = parser.push(piece);
    } catch (error) {
      invariant(error instanceof HandshakeError, () => `push threw ${String(error)}`);
      let again: unknown = null;
      try {
        parser.push(Buffer.from('x'));
      } catch (second) {
        again = second;
      }
      invariant(again === error, () => 'a failed parser did not throw the same error again');
      return { error };
    }
    consumed += piece.length;
    if (head !== null) {
      let after: unknown = null;
      try {
        parser.push(Buffer.from('x'));
      } catch (error) {
        after = error;
      }
      invariant(after instanceof InvalidStateError, () => `push after the head gave ${String(after)}`);
      return { head, rest: Buffer.from(parser.rest ?? []), restEnd: consumed };
    }
  }
  return { pending: true };
}

function checkHead(input: HttpHeadInput, head: RequestHead | ResponseHead): void {
  const maxHeaderBytes = input.limits?.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const maxHeaders = input.limits?.maxHeaders ?? DEFAULT_MAX_HEADERS;
  const maxStartLine = input.limits?.maxRequestLineBytes ?? DEFAULT_MAX_REQUEST_LINE_BYTES;
  const bytes = Buffer.from(input.bytes);
  invariant(head.headBytes <= maxHeaderBytes, () => `head of ${head.headBytes} bytes exceeds maxHeaderBytes ${maxHeaderBytes}`);
  invariant(head.headBytes >= 4 && bytes.toString('latin1', head.headBytes - 4, head.headBytes) === '\r\n\r\n', () => 'head does not end with CRLFCRLF');
  invariant(head.rawHeaders.length / 2 <= maxHeaders, () => `${head.rawHeaders.length / 2} header lines exceed maxHeaders ${maxHeaders}`);
  let start = 0;
  while (bytes[start] === 0x0d) start += 2;
  const startLine = bytes.indexOf('\r\n', start) - start;
  invariant(startLine <= maxStartLine, () => `start line of ${startLine} bytes exceeds ${maxStartLine}`);
  invariant(/^\d\.\d$/.test(head.httpVersion), () => `httpVersion ${JSON.stringify(head.httpVersion)}`);
  const joined = new Map<string, string>();
  for (let i = 0; i < head.rawHeaders.length; i += 2) {
    const name = head.rawHeaders[i]!;
    const value = head.rawHeaders[i + 1]!;
    invariant(isToken(name), () => `header name ${JSON.stringify(name)} is not a token`);
    // RFC 9110 §5.5: no CR, LF or NUL; OWS (SP, HTAB only: obs-text such as 0xA0 is
    // part of the value) trimmed from both ends.
    invariant(!/[\r\n\0]/.test(value) && !/^[ \t]|[ \t]$/.test(value), () => `header value ${JSON.stringify(value)}`);
    const key = name.toLowerCase();
    const previous = joined.get(key);
    joined.set(key, previous === undefined ? value : `${previous}, ${value}`);
  }
  const keys = Object.keys(head.headers);
  invariant(keys.length === joined.size && keys.every((key) => joined.get(key) === head.headers[key]), () => 'headers do not match rawHeaders');
  if ('method' in head) {
    invariant(isToken(head.method), () => `method ${JSON.stringify(head.method)} is not a token`);
    invariant(head.target.length > 0 && !/[\x00-\x20\x7f]/.test(head.target), () => `target ${JSON.stringify(head.target)}`);
  } else {
    invariant(Number.isInteger(head.status) && head.status >= 0 && head.status <= 999, () => `status ${head.status}`);
    invariant(!/[\r\n\0]/.test(head.statusText), () => `statusText ${JSON.stringify(head.statusText)}`);
  }
}

/**
 * Runs the validator on a parsed head: it may only return or throw HandshakeError. A
 * request is validated from its header record and from its rawHeaders (as the server
 * does with the requests it reads itself): both must come to the same result.
 */
function validate(input: HttpHeadInput, head: RequestHead | ResponseHead): void {
  if ('method' in head) {
    const fromRecord = validation(input, head, () => validateUpgradeRequest(head));
    const fromRaw = validation(input, head, () => validateUpgradeHead(head));
    invariant(JSON.stringify(fromRaw) === JSON.stringify(fromRecord), () => `from rawHeaders ${JSON.stringify(fromRaw)}, from the record ${JSON.stringify(fromRecord)}`);
  } else {
    validation(input, head, () => validateUpgradeResponse(head, { key: KEY, protocols: OFFERED_PROTOCOLS, extensionNames: OFFERED_EXTENSIONS }));
  }
}

/** What `run` returns, or the status and message of the HandshakeError it throws. */
function validation(input: HttpHeadInput, head: RequestHead | ResponseHead, run: () => unknown): unknown {
  try {
    return run();
  } catch (error) {
    invariant(error instanceof HandshakeError, () => `validator threw ${String(error)}`);
    // An intact 101 is valid, but for one that selects no subprotocol: the client
    // offered some (OFFERED_PROTOCOLS), so it fails, as browsers and ws fail it.
    const selectsNone = 'status' in head && head.headers['sec-websocket-protocol'] === undefined && error.message.startsWith('server selected no subprotocol');
    invariant(!input.intact || ('status' in head && head.status !== 101) || selectsNone, () => `a valid head failed validation: ${error.message}`);
    return { status: error.status, message: error.message };
  }
}

export function checkHttpHead(input: HttpHeadInput): void {
  const box: { outcome?: Outcome } = {};
  const elapsed = timed(() => {
    box.outcome = feed(input, [Buffer.from(input.bytes)]);
  }, 50);
  const whole = box.outcome!;
  invariant(elapsed <= 50, () => `parsing ${input.bytes.length} bytes took ${elapsed.toFixed(1)} ms`);
  const chunked = feed(input, chunk(input.bytes, input.chunking));

  const describe = (o: Outcome): string =>
    'error' in o ? `HandshakeError ${o.error.status}: ${o.error.message}` : 'head' in o ? `head of ${o.head.headBytes} bytes` : 'no head yet';
  if ('error' in whole) {
    const statuses = input.kind === 'request' ? [400, 414, 431] : null;
    const { status } = whole.error;
    invariant(statuses === null ? Number.isInteger(status) && status >= 0 && status <= 999 : statuses.includes(status), () => `error status ${status}`);
    invariant('error' in chunked && chunked.error.status === status && chunked.error.message === whole.error.message, () => `chunking changed the outcome: ${describe(whole)} vs ${describe(chunked)}`);
    invariant(!input.intact, () => `a valid head was rejected: ${whole.error.message}`);
    return;
  }
  if ('pending' in whole) {
    invariant('pending' in chunked, () => `chunking changed the outcome: ${describe(whole)} vs ${describe(chunked)}`);
    invariant(!input.intact, () => 'a valid head was not recognised');
    return;
  }
  invariant('head' in chunked, () => `chunking changed the outcome: ${describe(whole)} vs ${describe(chunked)}`);
  invariant(JSON.stringify(whole.head) === JSON.stringify(chunked.head), () => 'chunking changed the parsed head');
  invariant(sameBytes(whole.rest, input.bytes.subarray(whole.head.headBytes)), () => 'rest is not what follows the head');
  invariant(sameBytes(chunked.rest, input.bytes.subarray(chunked.head.headBytes, chunked.restEnd)), () => 'rest is not what follows the head in its chunk');
  try {
    checkHead(input, whole.head);
  } catch (error) {
    if (error instanceof Error && error.name === 'Defect') throw error;
    defect(`checking the head threw ${String(error)}`, { cause: error });
  }
  validate(input, whole.head);
}

export const httpHeadTarget: FuzzTarget<HttpHeadInput> = {
  name: 'http-head',
  description: 'RequestHeadParser/ResponseHeadParser and the upgrade validators, any chunking and limits',
  defaultRuns: 2,
  arbitrary: fc.oneof(arbInputFor('request'), arbInputFor('response')),
  check: checkHttpHead,
};
