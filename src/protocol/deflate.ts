/**
 * permessage-deflate (RFC 7692): parameter negotiation, pure and I/O-free.
 *
 * The server picks the first offer it can satisfy (`negotiate`), the client builds its
 * offer (`buildOffer`) and checks the server's answer (`acceptResponse`). Both produce
 * the same `DeflateParams`, the "agreed parameters" of RFC 7692 §7, from which the
 * codec (deflate-codec.ts) is configured. Offers and responses arrive as the
 * `ExtensionOffer` lists of headers.ts, which keep order and repeated parameters.
 *
 * Decisions, each enforced below:
 * - A malformed offer (unknown or repeated parameter, bad value) is declined, as RFC
 *   7692 §7 asks, and the next offer is tried (`ws` answers 400 instead).
 * - Window bits 8: zlib cannot compress with a 256-byte window (Node turns
 *   `windowBits: 8` into 9 for raw deflate). When this endpoint must compress with at
 *   most 8 bits, the codec uses zlib's run-length strategy, whose matches all have
 *   distance 1: the output never refers further back than 1 byte, so it respects any
 *   window. Offers asking for 8 are therefore accepted, not declined. Inflating always
 *   uses at least 9 bits: a bigger window than the peer's is always safe.
 */
import type { ZlibOptions } from 'node:zlib';
import { HandshakeError } from './errors.js';
import { formatExtensions, type ExtensionOffer } from './headers.js';

/** The extension's name in `Sec-WebSocket-Extensions` (RFC 7692 §7). */
export const EXTENSION_NAME = 'permessage-deflate';

/** RFC 7692 §7.1.2: window bits are integers from 8 to 15. */
export const MIN_WINDOW_BITS = 8;
export const MAX_WINDOW_BITS = 15;

/** Default size below which messages are sent uncompressed, in bytes. */
export const DEFAULT_THRESHOLD = 1024;
/** Default number of asynchronous zlib jobs running at once in the process. */
export const DEFAULT_CONCURRENCY_LIMIT = 10;
/** Default number of deflate contexts kept between messages in the process. */
export const DEFAULT_MAX_DEFLATE_CONTEXTS = 1024;

/**
 * Options of permessage-deflate, for `WebSocketServer` and the client. `true` stands
 * for `{}` (every default).
 */
export interface PerMessageDeflateOptions {
  /**
   * Server: never compress with the context of earlier messages (and say so in the
   * response). Saves the server's deflate memory between messages at some cost in
   * ratio. Client: ask the server for it. Default false.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Server: ask the client not to use context takeover. Client: promise not to use it.
   * Default false (a server still echoes it when the client offers it).
   */
  clientNoContextTakeover?: boolean;
  /**
   * Largest LZ77 window the server compresses with, as a power of two (8–15). Server:
   * the window it uses, at most what the client allows. Client: the window it asks
   * the server for. Default: no limit (15).
   */
  serverMaxWindowBits?: number;
  /**
   * Largest window the client compresses with (8–15). Server: ask the client for it
   * (offers that do not allow asking are declined). Client: the window it will use.
   * Default: no limit (15).
   */
  clientMaxWindowBits?: number;
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /** zlib compression level, 0 (none) to 9 (best); -1 is zlib's default (6). Default -1. */
  level?: number;
  /** zlib memory level, 1 to 9: memory used for compression state. Default 8. */
  memLevel?: number;
  /**
   * `ws`'s spelling of `level` and `memLevel` (its options for zlib's deflate), for code
   * that comes from `ws`; `level` and `memLevel` win. Other zlib options are not used.
   */
  zlibDeflateOptions?: {
    flush?: number;
    finishFlush?: number;
    chunkSize?: number;
    windowBits?: number;
    level?: number;
    memLevel?: number;
    strategy?: number;
    dictionary?: Buffer | Buffer[] | DataView;
    info?: boolean;
  };
  /** Taken for code that comes from `ws`, and not used: inflating needs no tuning here. */
  zlibInflateOptions?: ZlibOptions;
  /**
   * Asynchronous zlib jobs (large messages) running at once in the process; more
   * wait in line. Bounds thread-pool memory fragmentation. Default 10.
   */
  concurrencyLimit?: number;
  /**
   * Connections in the process that keep their deflate context between messages
   * (context takeover, about 256 KiB each with the default window and memLevel). Past
   * it, the least recently active connection gives its context up and compresses its
   * next message from an empty window. Default 1024.
   */
  maxDeflateContexts?: number;
}

/** The parameters both ends agreed on (RFC 7692 §7, "agreed parameters"). */
export interface DeflateParams {
  /** The server compresses each message with an empty window. */
  serverNoContextTakeover: boolean;
  /** The client compresses each message with an empty window. */
  clientNoContextTakeover: boolean;
  /** Largest window the server compresses with (15 when not limited). */
  serverMaxWindowBits: number;
  /** Largest window the client compresses with (15 when not limited). */
  clientMaxWindowBits: number;
}

/** What the server accepted: the agreed parameters and the response header value. */
export interface NegotiatedDeflate {
  params: DeflateParams;
  /** The `Sec-WebSocket-Extensions` value of the 101 response. */
  header: string;
}

/** One permessage-deflate offer or response, its parameters checked. */
interface DeflateRequest {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  /** `true`: present without a value (only in an offer). */
  clientMaxWindowBits: number | true | undefined;
}

/** Options with every default filled in (the window limits stay optional: unset means none). */
export type ResolvedDeflateOptions = Required<Omit<PerMessageDeflateOptions, 'serverMaxWindowBits' | 'clientMaxWindowBits' | 'zlibDeflateOptions' | 'zlibInflateOptions'>> &
  Pick<PerMessageDeflateOptions, 'serverMaxWindowBits' | 'clientMaxWindowBits'>;

/**
 * Checks the options of permessage-deflate and fills in the defaults.
 *
 * @param options `true` for the defaults, or the options.
 * @returns Every option with its value.
 * @throws {RangeError} for a window outside 8–15, a level outside -1–9, a memLevel
 *   outside 1–9, a negative threshold, or a concurrency limit or context count below 1.
 * @throws {TypeError} when `options` is neither `true` nor an object.
 */
export function resolveDeflateOptions(options: true | PerMessageDeflateOptions): ResolvedDeflateOptions {
  if (options !== true && (typeof options !== 'object' || options === null)) {
    throw new TypeError('perMessageDeflate must be a boolean or an options object');
  }
  const o = options === true ? {} : options;
  const integer = (name: string, value: number | undefined, min: number, max: number, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`perMessageDeflate.${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
    }
    return value;
  };
  const windowBits = (name: string, value: number | undefined): number | undefined =>
    value === undefined ? undefined : integer(name, value, MIN_WINDOW_BITS, MAX_WINDOW_BITS, MAX_WINDOW_BITS);
  return {
    serverNoContextTakeover: o.serverNoContextTakeover === true,
    clientNoContextTakeover: o.clientNoContextTakeover === true,
    serverMaxWindowBits: windowBits('serverMaxWindowBits', o.serverMaxWindowBits),
    clientMaxWindowBits: windowBits('clientMaxWindowBits', o.clientMaxWindowBits),
    threshold: integer('threshold', o.threshold, 0, Number.MAX_SAFE_INTEGER, DEFAULT_THRESHOLD),
    level: integer('level', o.level ?? o.zlibDeflateOptions?.level, -1, 9, -1),
    memLevel: integer('memLevel', o.memLevel ?? o.zlibDeflateOptions?.memLevel, 1, 9, 8),
    concurrencyLimit: integer('concurrencyLimit', o.concurrencyLimit, 1, Number.MAX_SAFE_INTEGER, DEFAULT_CONCURRENCY_LIMIT),
    maxDeflateContexts: integer('maxDeflateContexts', o.maxDeflateContexts, 1, Number.MAX_SAFE_INTEGER, DEFAULT_MAX_DEFLATE_CONTEXTS),
  };
}

/**
 * Parses a window-bits value: RFC 7692 §7.1.2.1/§7.1.2.2, "a decimal integer value
 * without leading zeroes between 8 to 15, inclusive". Returns undefined when invalid.
 */
function parseWindowBits(value: string): number | undefined {
  if (value.length === 1 && value >= '8' && value <= '9') return Number(value);
  if (value.length === 2 && value[0] === '1' && value[1]! >= '0' && value[1]! <= '5') return Number(value);
  return undefined;
}

/**
 * Checks the parameters of one permessage-deflate element. `isOffer` selects the rules
 * for an offer (client to server) or a response (server to client). Returns what is
 * wrong with it as a message when it is malformed: the server declines such an offer,
 * the client fails on such a response.
 */
function readRequest(extension: ExtensionOffer, isOffer: boolean): DeflateRequest | string {
  const request: DeflateRequest = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  const what = isOffer ? 'offer' : 'response';
  for (const [name, value] of extension.params) {
    // RFC 7692 §7: an offer or response with "multiple extension parameters with the
    // same name" is declined by the server / fails the connection on the client.
    if (seen.has(name)) return `permessage-deflate ${what} repeats parameter "${name}"`;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        // RFC 7692 §7.1.1.1/§7.1.1.2: "This extension parameter has no value."
        if (value !== true) return `permessage-deflate parameter "${name}" takes no value, got "${value}"`;
        if (name === 'server_no_context_takeover') request.serverNoContextTakeover = true;
        else request.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        // RFC 7692 §7.1.2.1: a decimal value from 8 to 15, in offers and responses alike.
        const bits = value === true ? undefined : parseWindowBits(value);
        if (bits === undefined) {
          return `permessage-deflate parameter "${name}" must be an integer from 8 to 15, got ${value === true ? 'no value' : `"${value}"`}`;
        }
        request.serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        // RFC 7692 §7.1.2.2: "This parameter has no value or a decimal integer value ...
        // between 8 to 15" in an offer; a response that includes it gives a value.
        if (value === true && isOffer) {
          request.clientMaxWindowBits = true;
          break;
        }
        const bits = value === true ? undefined : parseWindowBits(value);
        if (bits === undefined) {
          return `permessage-deflate parameter "${name}" must be an integer from 8 to 15, got ${value === true ? 'no value' : `"${value}"`}`;
        }
        request.clientMaxWindowBits = bits;
        break;
      }
      default:
        // RFC 7692 §7: "an extension parameter not defined for use in an offer/response".
        return `permessage-deflate ${what} has unknown parameter "${name}"`;
    }
  }
  return request;
}

/** The server's answer to one valid offer, or null to decline it. */
function acceptOffer(offer: DeflateRequest, options: ResolvedDeflateOptions): NegotiatedDeflate | null {
  const params: Array<[string, string | true]> = [];

  // RFC 7692 §7.1.1.1: a server accepts an offer with server_no_context_takeover by
  // including it in the response, and MAY include it even when not offered.
  const serverNoContextTakeover = offer.serverNoContextTakeover || options.serverNoContextTakeover;
  if (serverNoContextTakeover) params.push(['server_no_context_takeover', true]);

  // RFC 7692 §7.1.1.2: a server MAY include client_no_context_takeover in a response;
  // echoing the client's own offer lets this end drop its inflate window between messages.
  const clientNoContextTakeover = offer.clientNoContextTakeover || options.clientNoContextTakeover;
  if (clientNoContextTakeover) params.push(['client_no_context_takeover', true]);

  // RFC 7692 §7.1.2.1: accept server_max_window_bits "with the same or smaller value
  // as the offer"; a server MAY announce it unasked. A window of 8 is honoured with
  // distance-1 matches (see the file comment), so no value is declined.
  let serverMaxWindowBits = options.serverMaxWindowBits ?? MAX_WINDOW_BITS;
  if (offer.serverMaxWindowBits !== undefined) serverMaxWindowBits = Math.min(serverMaxWindowBits, offer.serverMaxWindowBits);
  if (offer.serverMaxWindowBits !== undefined || options.serverMaxWindowBits !== undefined) {
    params.push(['server_max_window_bits', String(serverMaxWindowBits)]);
  }

  // RFC 7692 §7.1.2.2: without client_max_window_bits in the offer the response "MUST
  // NOT include" it. A server configured to limit the client's window cannot, and
  // declines such an offer rather than inflate with more memory than it was told to.
  let clientMaxWindowBits = MAX_WINDOW_BITS;
  if (offer.clientMaxWindowBits === undefined) {
    if (options.clientMaxWindowBits !== undefined) return null;
  } else {
    // A value in the offer is the client's promise to stay within it (§7.1.2.2).
    if (offer.clientMaxWindowBits !== true) clientMaxWindowBits = offer.clientMaxWindowBits;
    if (options.clientMaxWindowBits !== undefined) clientMaxWindowBits = Math.min(clientMaxWindowBits, options.clientMaxWindowBits);
    // Named whenever this end inflates with a window the offer or the options set (as
    // ws does): without it the response would say this end takes 15 bits (§7.1.2.2),
    // and a client whose offer was changed on the way would compress with more than
    // this end inflates with. Named, it is what the client uses, or refuses.
    if (offer.clientMaxWindowBits !== true || options.clientMaxWindowBits !== undefined) {
      params.push(['client_max_window_bits', String(clientMaxWindowBits)]);
    }
  }

  return {
    params: { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits },
    header: formatExtensions([{ name: EXTENSION_NAME, params }]),
  };
}

/**
 * Server side: chooses among the client's offers (RFC 7692 §5, §7): the first
 * permessage-deflate offer that is well formed and that this server can satisfy is
 * accepted. A malformed offer (an unknown or repeated parameter, or a value that is not
 * allowed) is declined like one the server cannot satisfy, as §7 requires ("A server
 * MUST decline an extension negotiation offer ... if"), and the next one is tried.
 * Other extensions are ignored.
 *
 * @param offers The parsed `Sec-WebSocket-Extensions` of the request, in order (a
 *   header that does not follow RFC 6455 §9.1's grammar fails in `parseExtensions`).
 * @param options The server's permessage-deflate options (`true` for the defaults).
 * @returns The agreed parameters and the response header value, or null when no
 *   offer was acceptable (answer without the extension: compression stays off).
 * @example
 * const deflate = negotiate(parseExtensions('permessage-deflate; client_max_window_bits'), true);
 * // { params: { ..., serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, header: 'permessage-deflate' }
 */
export function negotiate(offers: readonly ExtensionOffer[], options: true | PerMessageDeflateOptions): NegotiatedDeflate | null {
  const resolved = resolveDeflateOptions(options);
  for (const offer of offers) {
    if (offer.name !== EXTENSION_NAME) continue;
    const request = readRequest(offer, true);
    if (typeof request === 'string') continue; // malformed: declined
    const accepted = acceptOffer(request, resolved);
    if (accepted !== null) return accepted;
  }
  return null;
}

/**
 * Client side: the permessage-deflate offer to send (RFC 7692 §7.1). It always
 * includes `client_max_window_bits`, with the configured value or none, which tells
 * the server it may limit the client's window (as browsers do).
 *
 * @param options The client's permessage-deflate options (`true` for the defaults).
 * @returns The extension offer; format it with `formatExtensions([offer])`.
 * @throws {RangeError} for invalid options (see `resolveDeflateOptions`).
 * @example
 * formatExtensions([buildOffer(true)]); // 'permessage-deflate; client_max_window_bits'
 */
export function buildOffer(options: true | PerMessageDeflateOptions): ExtensionOffer {
  const o = resolveDeflateOptions(options);
  const params: Array<[string, string | true]> = [];
  if (o.serverNoContextTakeover) params.push(['server_no_context_takeover', true]);
  if (o.clientNoContextTakeover) params.push(['client_no_context_takeover', true]);
  if (o.serverMaxWindowBits !== undefined) params.push(['server_max_window_bits', String(o.serverMaxWindowBits)]);
  params.push(['client_max_window_bits', o.clientMaxWindowBits === undefined ? true : String(o.clientMaxWindowBits)]);
  return { name: EXTENSION_NAME, params };
}

/**
 * Client side: checks the server's acceptance of the offer `buildOffer(options)` made
 * (RFC 7692 §7: the client "MUST _Fail the WebSocket Connection_" on a response it
 * does not support).
 *
 * @param extensions The extensions the response accepted, in order (from
 *   `validateUpgradeResponse`).
 * @param options The same options the offer was built from.
 * @returns The agreed parameters, or null when the server did not accept
 *   permessage-deflate (the connection goes on uncompressed).
 * @throws {HandshakeError} (status 101) when the response lists permessage-deflate
 *   more than once, has an unknown or repeated parameter or a bad value, enables
 *   something the offer did not allow (a client window larger than offered), or
 *   omits something the offer required (`server_no_context_takeover`,
 *   `server_max_window_bits` when requested).
 */
export function acceptResponse(extensions: readonly ExtensionOffer[], options: true | PerMessageDeflateOptions): DeflateParams | null {
  const o = resolveDeflateOptions(options);
  const fail = (message: string): HandshakeError => new HandshakeError(101, `Sec-WebSocket-Extensions: ${message}`);
  const matches = extensions.filter((extension) => extension.name === EXTENSION_NAME);
  if (matches.length === 0) return null;
  // One offer was made, so at most one acceptance can answer it.
  if (matches.length > 1) throw fail('server accepted permessage-deflate more than once');
  const response = readRequest(matches[0]!, false);
  if (typeof response === 'string') throw fail(response);

  // RFC 7692 §7.1.1.1: the server accepts server_no_context_takeover by including it;
  // included unasked, it is a hint the client can always honour.
  if (o.serverNoContextTakeover && !response.serverNoContextTakeover) {
    throw fail('server accepted the offer without server_no_context_takeover, which the offer required');
  }

  // RFC 7692 §7.1.2.1: "with the same or smaller value as the offer".
  let serverMaxWindowBits = response.serverMaxWindowBits ?? MAX_WINDOW_BITS;
  if (o.serverMaxWindowBits !== undefined) {
    if (response.serverMaxWindowBits === undefined) {
      throw fail(`server accepted the offer without server_max_window_bits, which the offer set to ${o.serverMaxWindowBits}`);
    }
    if (response.serverMaxWindowBits > o.serverMaxWindowBits) {
      throw fail(`server_max_window_bits=${response.serverMaxWindowBits} exceeds the ${o.serverMaxWindowBits} offered`);
    }
    serverMaxWindowBits = response.serverMaxWindowBits;
  }

  // RFC 7692 §7.1.2.2: the value is a limit on this client's window; the offer's own
  // value is this client's promise, so a larger one enables what was not allowed.
  let clientMaxWindowBits = o.clientMaxWindowBits ?? MAX_WINDOW_BITS;
  if (response.clientMaxWindowBits !== undefined) {
    const bits = response.clientMaxWindowBits as number; // responses always carry a value
    if (bits > clientMaxWindowBits) {
      throw fail(`client_max_window_bits=${bits} exceeds the ${clientMaxWindowBits} offered`);
    }
    clientMaxWindowBits = bits;
  }

  return {
    serverNoContextTakeover: response.serverNoContextTakeover,
    // RFC 7692 §7.1.1.2: an offer with client_no_context_takeover is a promise kept
    // whether or not the server repeats it.
    clientNoContextTakeover: response.clientNoContextTakeover || o.clientNoContextTakeover,
    serverMaxWindowBits,
    clientMaxWindowBits,
  };
}
