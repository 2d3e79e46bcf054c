/**
 * Target `deflate-params`: permessage-deflate parameter negotiation (RFC 7692 §7),
 * `negotiate` on the server and `acceptResponse` on the client, fed
 * `Sec-WebSocket-Extensions` values built from the grammar's pieces (extension names,
 * the four parameters and unknown ones, good and bad window values, repeats, quotes,
 * whitespace), mutated byte by byte, or made of long pathological repetitions; under
 * random options of both ends.
 *
 * Invariants:
 * - parsing and negotiation return or throw `HandshakeError` only: 400 on the server
 *   (`parseExtensions`; `negotiate` declines a malformed offer instead), 400 or 101 on
 *   the client (`parseExtensions` of the response is the handshake's 400 there,
 *   `acceptResponse` fails with 101);
 * - time is linear: no call takes more than 50 ms (see `timed`) on values of up to
 *   200 000 characters;
 * - an accepted offer was a well-formed one: its agreed window bits are integers within
 *   8–15, never more than the offer or the options allow; the response header parses
 *   back to one permessage-deflate element without a repeated parameter, and says
 *   `server_no_context_takeover` exactly when the server will not take over context,
 *   and names `client_max_window_bits` only when the offer did;
 * - the two ends agree: an offer built by `buildOffer(client options)` and accepted by
 *   `negotiate(server options)` is accepted by `acceptResponse` with the same agreed
 *   parameters; when the offer was changed on the way, each end can still inflate what
 *   the other compresses (windows within the inflating end's, no end dropping its
 *   inflate window while the other takes over context).
 */
import fc from 'fast-check';
import {
  EXTENSION_NAME,
  HandshakeError,
  acceptResponse,
  buildOffer,
  formatExtensions,
  negotiate,
  parseExtensions,
  type DeflateParams,
  type PerMessageDeflateOptions,
} from '../lib/deflate-api.js';
import { defect, invariant, timed } from '../lib/defect.js';
import { Prng } from '../lib/prng.js';
import type { FuzzTarget } from './target.js';

export type DeflateParamsInput =
  | { fn: 'negotiate'; header: string; options: PerMessageDeflateOptions }
  | { fn: 'acceptResponse'; header: string; options: PerMessageDeflateOptions }
  | { fn: 'agree'; client: PerMessageDeflateOptions; server: PerMessageDeflateOptions; mutation: number };

const PARAMS = ['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits'];
const NAMES = [EXTENSION_NAME, EXTENSION_NAME, EXTENSION_NAME, 'x-webkit-deflate-frame', 'permessage-foo', 'PERMESSAGE-DEFLATE', 'constructor', '__proto__'];
const VALUES = ['8', '9', '10', '11', '12', '13', '14', '15', '7', '16', '0', '08', '015', '1a', '-9', '+9', '9.0', '99999999999999999999', '"10"', '"1\\0"', '""', '"'];
const SEPARATORS = [';', '; ', ' ;', ';\t', ' ; '];
const JUNK = [',', ', ', ',,', ' ', '\t', '=', '"', '\\', '\0', '\r\n', 'é', '\u{1F600}', '(', '@'];
const REPEATS = [
  'permessage-deflate, ', 'permessage-deflate; client_max_window_bits, ', '; client_max_window_bits', ', ', ' ', ';', 'a;',
  'permessage-deflate; x="', '\\a', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover, ',
];

/** A well-formed permessage-deflate element: distinct parameters, valid values. */
function cleanElement(rng: Prng): string {
  let text = EXTENSION_NAME;
  for (const name of PARAMS) {
    if (!rng.chance(1, 2)) continue;
    text += '; ' + name;
    const isBits = name.endsWith('_bits');
    if (isBits && (name === 'server_max_window_bits' || rng.chance(2, 3))) text += `=${8 + rng.below(8)}`;
  }
  return text;
}

/** One extension element from pieces: a name and 0–5 parameters, sometimes with junk. */
function element(rng: Prng): string {
  if (rng.chance(1, 2)) return cleanElement(rng);
  let text = rng.pick(NAMES);
  const count = rng.below(6);
  for (let i = 0; i < count; i++) {
    text += rng.pick(SEPARATORS);
    text += rng.chance(1, 10) ? `x-unknown${rng.below(3)}` : rng.pick(PARAMS);
    if (rng.chance(1, 2)) text += `${rng.chance(1, 4) ? ' = ' : '='}${rng.pick(VALUES)}`;
  }
  if (rng.chance(1, 12)) text += rng.pick(JUNK);
  return text;
}

/** A header value: a few elements; sometimes a long repetition around them. */
function headerValue(rng: Prng): string {
  const parts: string[] = [];
  const count = 1 + rng.below(4);
  for (let i = 0; i < count; i++) parts.push(element(rng));
  let value = parts.join(rng.chance(1, 6) ? ',' : ', ');
  if (rng.chance(1, 15)) {
    const unit = rng.pick(REPEATS);
    const times = rng.pick([10, 1023, 1025, 5000, 50_000]);
    value = `${value}, ${unit.repeat(Math.min(times, Math.floor(200_000 / unit.length)))}${element(rng)}`;
  }
  return mutate(value, rng, rng.below(4) === 0 ? 1 + rng.below(3) : 0);
}

/** Applies `count` mutations: a character replaced, inserted or deleted, or the value cut. */
function mutate(value: string, rng: Prng, count: number): string {
  let out = value;
  for (let i = 0; i < count && out.length > 0; i++) {
    const at = rng.below(out.length);
    const r = rng.below(4);
    const ch = rng.chance(1, 2) ? rng.pick(JUNK) : String.fromCharCode(rng.below(128));
    if (r === 0) out = out.slice(0, at) + ch + out.slice(at + 1);
    else if (r === 1) out = out.slice(0, at) + ch + out.slice(at);
    else if (r === 2) out = out.slice(0, at) + out.slice(at + 1);
    else out = out.slice(0, at);
  }
  return out;
}

/** Options of one end; window bits mostly valid (invalid ones throw RangeError, tested elsewhere). */
function options(rng: Prng): PerMessageDeflateOptions {
  const bits = (): number | undefined => (rng.chance(1, 2) ? undefined : 8 + rng.below(8));
  return {
    serverNoContextTakeover: rng.chance(1, 3),
    clientNoContextTakeover: rng.chance(1, 3),
    serverMaxWindowBits: bits(),
    clientMaxWindowBits: bits(),
  };
}

const arbInput: fc.Arbitrary<DeflateParamsInput> = fc.tuple(fc.nat(99), fc.nat()).map(([selector, seed]): DeflateParamsInput => {
  const rng = new Prng(seed);
  if (selector < 45) return { fn: 'negotiate', header: headerValue(rng), options: options(rng) };
  if (selector < 75) return { fn: 'acceptResponse', header: headerValue(rng), options: options(rng) };
  return { fn: 'agree', client: options(rng), server: options(rng), mutation: rng.below(4) === 0 ? rng.next() : 0 };
});

function bitsOk(bits: number): boolean {
  return Number.isInteger(bits) && bits >= 8 && bits <= 15;
}

/** The value of a parameter in one parsed offer (true when present without a value), or undefined. */
function paramOf(offer: { params: Array<[string, string | true]> }, name: string): string | true | undefined {
  return offer.params.find(([key]) => key === name)?.[1];
}

/** Runs one input; returns its result or throws what the code under test threw. */
function run(input: DeflateParamsInput): unknown {
  switch (input.fn) {
    case 'negotiate':
      return negotiate(parseExtensions(input.header), input.options);
    case 'acceptResponse':
      return acceptResponse(parseExtensions(input.header), input.options);
    case 'agree': {
      let offer = formatExtensions([buildOffer(input.client)]);
      if (input.mutation !== 0) offer = mutate(offer, new Prng(input.mutation), 1);
      const accepted = negotiate(parseExtensions(offer), input.server);
      if (accepted === null) return { offer, accepted };
      return { offer, accepted, agreed: acceptResponse(parseExtensions(accepted.header), input.client) };
    }
  }
}

export function checkDeflateParams(input: DeflateParamsInput): void {
  const elapsed = timed(() => run(input), 50);
  invariant(elapsed <= 50, () => `${input.fn} took ${elapsed.toFixed(1)} ms (not linear time)`);
  let result: unknown;
  try {
    result = run(input);
  } catch (error) {
    invariant(error instanceof HandshakeError, () => `${input.fn} threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    // The client's acceptResponse fails with 101; everything else is the server's 400.
    const allowed = input.fn === 'acceptResponse' || input.fn === 'agree' ? [400, 101] : [400];
    invariant(allowed.includes(error.status), () => `${input.fn} failed with status ${error.status}: ${error.message}`);
    invariant(!(input.fn === 'agree' && input.mutation === 0), () => `an unmutated offer failed: ${error.message}`);
    return;
  }
  try {
    checkResult(input, result);
  } catch (error) {
    if (error instanceof Error && error.name === 'Defect') throw error;
    defect(`checking the result of ${input.fn} threw ${String(error)}`, { cause: error });
  }
}

function checkAccepted(header: string, params: DeflateParams, options: PerMessageDeflateOptions, offers: ReturnType<typeof parseExtensions>): void {
  for (const key of ['serverMaxWindowBits', 'clientMaxWindowBits'] as const) invariant(bitsOk(params[key]), () => `${key} ${params[key]}`);
  const parsed = parseExtensions(header);
  invariant(parsed.length === 1 && parsed[0]!.name === EXTENSION_NAME, () => `response header ${JSON.stringify(header)}`);
  const response = parsed[0]!;
  const names = response.params.map(([name]) => name);
  invariant(new Set(names).size === names.length, () => `response repeats a parameter: ${header}`);
  invariant((paramOf(response, 'server_no_context_takeover') !== undefined) === params.serverNoContextTakeover, () => `server_no_context_takeover in ${header} vs ${JSON.stringify(params)}`);
  if (options.serverNoContextTakeover) invariant(params.serverNoContextTakeover, () => 'serverNoContextTakeover option not applied');
  if (options.serverMaxWindowBits !== undefined) invariant(params.serverMaxWindowBits <= options.serverMaxWindowBits, () => 'server window over the option');
  if (options.clientMaxWindowBits !== undefined) invariant(params.clientMaxWindowBits <= options.clientMaxWindowBits, () => 'client window over the option');
  // The accepted offer is one of the permessage-deflate offers; it allowed what was agreed.
  const candidates = offers.filter((offer) => offer.name === EXTENSION_NAME);
  const fits = candidates.some((offer) => {
    const server = paramOf(offer, 'server_max_window_bits');
    const client = paramOf(offer, 'client_max_window_bits');
    if (typeof server === 'string' && params.serverMaxWindowBits > Number(server)) return false;
    if (typeof client === 'string' && params.clientMaxWindowBits > Number(client)) return false;
    // RFC 7692 §7.1.2.2: the response names client_max_window_bits only if the offer did.
    if (client === undefined && paramOf(response, 'client_max_window_bits') !== undefined) return false;
    if (paramOf(offer, 'server_no_context_takeover') !== undefined && !params.serverNoContextTakeover) return false;
    return true;
  });
  invariant(fits, () => `no offer allows ${JSON.stringify(params)} (response ${header})`);
}

/**
 * An offer RFC 7692 §7 lets a server accept: known parameters, none repeated, window
 * values 8 to 15 in decimal without a leading zero (`client_max_window_bits` may have none).
 */
function wellFormedOffer(offer: ReturnType<typeof parseExtensions>[number]): boolean {
  const names = offer.params.map(([name]) => name);
  if (new Set(names).size !== names.length) return false;
  const bits = (value: string | true): boolean => value !== true && /^(?:[89]|1[0-5])$/.test(value);
  return offer.params.every(([name, value]) => {
    if (name === 'server_no_context_takeover' || name === 'client_no_context_takeover') return value === true;
    if (name === 'server_max_window_bits') return bits(value);
    if (name === 'client_max_window_bits') return value === true || bits(value);
    return false;
  });
}

function checkResult(input: DeflateParamsInput, result: unknown): void {
  switch (input.fn) {
    case 'negotiate': {
      if (result === null) return;
      const accepted = result as NonNullable<ReturnType<typeof negotiate>>;
      // Malformed offers are declined (RFC 7692 §7): the accepted one is well formed.
      checkAccepted(accepted.header, accepted.params, input.options, parseExtensions(input.header).filter(wellFormedOffer));
      break;
    }
    case 'acceptResponse': {
      if (result === null) {
        invariant(!parseExtensions(input.header).some((e) => e.name === EXTENSION_NAME), () => 'a response with permessage-deflate gave null');
        return;
      }
      const params = result as DeflateParams;
      for (const key of ['serverMaxWindowBits', 'clientMaxWindowBits'] as const) invariant(bitsOk(params[key]), () => `${key} ${params[key]}`);
      const o = input.options;
      if (o.serverNoContextTakeover) invariant(params.serverNoContextTakeover, () => 'required server_no_context_takeover not enforced');
      if (o.serverMaxWindowBits !== undefined) invariant(params.serverMaxWindowBits <= o.serverMaxWindowBits, () => 'server window over the offer');
      if (o.clientMaxWindowBits !== undefined) invariant(params.clientMaxWindowBits <= o.clientMaxWindowBits, () => 'client window over the offer');
      if (o.clientNoContextTakeover) invariant(params.clientNoContextTakeover, () => 'promised client_no_context_takeover dropped');
      break;
    }
    case 'agree': {
      const { offer, accepted, agreed } = result as { offer: string; accepted: ReturnType<typeof negotiate>; agreed?: DeflateParams };
      if (accepted === null) {
        // A server declines only an offer without client_max_window_bits when it limits
        // the client's window; buildOffer always includes it.
        invariant(input.mutation !== 0, () => `an unmutated offer ${offer} was declined`);
        return;
      }
      checkAccepted(accepted.header, accepted.params, input.server, parseExtensions(offer));
      const server = accepted.params;
      const client = agreed!;
      const disagreement = () => `the ends disagree: server ${JSON.stringify(server)}, client ${JSON.stringify(client)} (offer ${offer}, response ${accepted.header})`;
      if (input.mutation === 0) {
        invariant(JSON.stringify(client) === JSON.stringify(server), disagreement);
      } else {
        // An offer changed on the way (another client's) may leave the ends with different
        // views, but each must still inflate what the other sends: every window at most
        // what the inflating end allows, and no end dropping its inflate window between
        // messages while the other compresses with context takeover.
        invariant(client.clientMaxWindowBits <= server.clientMaxWindowBits, disagreement);
        invariant(server.serverMaxWindowBits <= client.serverMaxWindowBits, disagreement);
        invariant(!client.serverNoContextTakeover || server.serverNoContextTakeover, disagreement);
        invariant(!server.clientNoContextTakeover || client.clientNoContextTakeover, disagreement);
      }
      break;
    }
  }
}

export const deflateParamsTarget: FuzzTarget<DeflateParamsInput> = {
  name: 'deflate-params',
  description: 'permessage-deflate negotiate/acceptResponse on random and mutated offers and responses; both ends agree; linear time',
  defaultRuns: 1,
  arbitrary: arbInput,
  check: checkDeflateParams,
};
