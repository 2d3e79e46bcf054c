/**
 * permessage-deflate negotiation (RFC 7692 §5, §7), both roles, table-driven: the
 * server's choice among offers, the client's offer and its check of the response, and
 * every combination of options agreeing on both ends.
 */
import { describe, expect, it } from 'vitest';
import {
  acceptResponse,
  buildOffer,
  negotiate,
  resolveDeflateOptions,
  type DeflateParams,
  type PerMessageDeflateOptions,
} from '../../src/protocol/deflate.js';
import { HandshakeError } from '../../src/protocol/errors.js';
import { formatExtensions, parseExtensions } from '../../src/protocol/headers.js';

const parse = parseExtensions;
const format = formatExtensions;

const DEFAULTS: DeflateParams = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

/** The server's answer to a request header: the response header and agreed parameters, or null. */
function serverAnswer(offer: string, options: true | PerMessageDeflateOptions = true): { header: string; params: DeflateParams } | null {
  return negotiate(parse(offer), options);
}

/** What the client makes of a response header, given the options its offer was built from. */
function clientAccepts(response: string, options: true | PerMessageDeflateOptions = true): DeflateParams | null {
  return acceptResponse(parse(response), options);
}

function handshakeError(run: () => unknown): HandshakeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(HandshakeError);
    return error as HandshakeError;
  }
  throw new Error('expected a HandshakeError');
}

describe('RFC 7692 §7: the server accepts an offer', () => {
  it.each<[string, string, PerMessageDeflateOptions | true, string, Partial<DeflateParams>]>([
    ['plain offer', 'permessage-deflate', true, 'permessage-deflate', {}],
    ['client_max_window_bits without value: nothing to answer', 'permessage-deflate; client_max_window_bits', true, 'permessage-deflate', {}],
    ["client_max_window_bits=10: the client's promise, named in the response (as ws does)", 'permessage-deflate; client_max_window_bits=10', true, 'permessage-deflate; client_max_window_bits=10', { clientMaxWindowBits: 10 }],
    ['§7.1.1.1 server_no_context_takeover is accepted by echoing it', 'permessage-deflate; server_no_context_takeover', true, 'permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }],
    ['§7.1.1.2 client_no_context_takeover is echoed', 'permessage-deflate; client_no_context_takeover', true, 'permessage-deflate; client_no_context_takeover', { clientNoContextTakeover: true }],
    ['§7.1.2.1 server_max_window_bits=10 is accepted with the same value', 'permessage-deflate; server_max_window_bits=10', true, 'permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }],
    ['server_max_window_bits=8 is accepted (distance-1 matches)', 'permessage-deflate; server_max_window_bits=8', true, 'permessage-deflate; server_max_window_bits=8', { serverMaxWindowBits: 8 }],
    ['server_max_window_bits=15', 'permessage-deflate; server_max_window_bits=15', true, 'permessage-deflate; server_max_window_bits=15', {}],
    ['a quoted value is a value', 'permessage-deflate; server_max_window_bits="12"', true, 'permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 12 }],
    ['a smaller server window than offered', 'permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 9 }, 'permessage-deflate; server_max_window_bits=9', { serverMaxWindowBits: 9 }],
    ['the offered server window when smaller than configured', 'permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 13 }, 'permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }],
    ['§7.1.2.1 a server window announced unasked', 'permessage-deflate', { serverMaxWindowBits: 11 }, 'permessage-deflate; server_max_window_bits=11', { serverMaxWindowBits: 11 }],
    ['§7.1.1.1 server_no_context_takeover announced unasked', 'permessage-deflate', { serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }],
    ['§7.1.1.2 client_no_context_takeover requested', 'permessage-deflate', { clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover', { clientNoContextTakeover: true }],
    ['§7.1.2.2 a client window requested of a client that allows it', 'permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=10', { clientMaxWindowBits: 10 }],
    ["the client's smaller promise wins", 'permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 12 }, 'permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 9 }],
    ['a smaller window than the client promised', 'permessage-deflate; client_max_window_bits=14', { clientMaxWindowBits: 8 }, 'permessage-deflate; client_max_window_bits=8', { clientMaxWindowBits: 8 }],
    [
      'everything at once',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits',
      { clientMaxWindowBits: 11 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11',
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
    ],
    ['parameters in any order', 'permessage-deflate; client_max_window_bits; server_max_window_bits=9; client_no_context_takeover', true, 'permessage-deflate; client_no_context_takeover; server_max_window_bits=9', { clientNoContextTakeover: true, serverMaxWindowBits: 9 }],
    ['other extensions are ignored', 'x-webkit-deflate-frame, permessage-deflate; client_max_window_bits, foo; bar=1', true, 'permessage-deflate', {}],
  ])('%s', (_name, offer, options, header, params) => {
    const answer = serverAnswer(offer, options);
    expect(answer?.header).toBe(header);
    expect(answer?.params).toEqual({ ...DEFAULTS, ...params });
  });

  it('§5: answers without the extension when none is offered', () => {
    expect(negotiate([], true)).toBeNull();
    expect(serverAnswer('x-webkit-deflate-frame')).toBeNull();
  });

  it('§7.1.2.2: declines an offer without client_max_window_bits when configured to limit the client', () => {
    expect(serverAnswer('permessage-deflate', { clientMaxWindowBits: 10 })).toBeNull();
    expect(serverAnswer('permessage-deflate; server_no_context_takeover', { clientMaxWindowBits: 9 })).toBeNull();
  });

  it('§5.1: accepts the first offer it can satisfy among several', () => {
    const offers = 'permessage-deflate; server_max_window_bits=10, permessage-deflate; client_max_window_bits; server_no_context_takeover, permessage-deflate';
    expect(serverAnswer(offers)?.header).toBe('permessage-deflate; server_max_window_bits=10');
    // Limiting the client's window declines the first offer (it does not allow it).
    expect(serverAnswer(offers, { clientMaxWindowBits: 12 })?.header).toBe('permessage-deflate; server_no_context_takeover; client_max_window_bits=12');
  });

  it('§5.1: declines every offer when none can be satisfied', () => {
    expect(serverAnswer('permessage-deflate, permessage-deflate; server_no_context_takeover', { clientMaxWindowBits: 10 })).toBeNull();
  });
});

describe('RFC 7692 §7: the server declines a malformed offer', () => {
  it.each([
    ['a repeated parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['a repeated window', 'permessage-deflate; server_max_window_bits=10; server_max_window_bits=11'],
    ['a repeated client window', 'permessage-deflate; client_max_window_bits; client_max_window_bits=9'],
    ['an unknown parameter', 'permessage-deflate; foo'],
    ['an unknown parameter with a value', 'permessage-deflate; mem_level=5'],
    ['server_max_window_bits without value', 'permessage-deflate; server_max_window_bits'],
    ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7'],
    ['server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=16'],
    ['server_max_window_bits=0', 'permessage-deflate; server_max_window_bits=0'],
    ['a leading zero', 'permessage-deflate; server_max_window_bits=09'],
    ['a sign', 'permessage-deflate; server_max_window_bits=+9'],
    ['not a number', 'permessage-deflate; server_max_window_bits=abc'],
    ['client_max_window_bits=7', 'permessage-deflate; client_max_window_bits=7'],
    ['client_max_window_bits=16', 'permessage-deflate; client_max_window_bits=16'],
    ['client_max_window_bits=010', 'permessage-deflate; client_max_window_bits=010'],
    ['server_no_context_takeover with a value', 'permessage-deflate; server_no_context_takeover=1'],
    ['client_no_context_takeover with a value', 'permessage-deflate; client_no_context_takeover=true'],
  ])('%s: answered without the extension', (_name, offer) => {
    expect(serverAnswer(offer)).toBeNull();
    // The same offer made valid is accepted: it is the malformed part that declines it.
    expect(serverAnswer('permessage-deflate')).not.toBeNull();
  });

  it('accepts the next offer after a malformed one', () => {
    const answer = serverAnswer('permessage-deflate; x=1, permessage-deflate; server_max_window_bits=20, permessage-deflate; server_no_context_takeover');
    expect(answer?.header).toBe('permessage-deflate; server_no_context_takeover');
  });

  it('accepts a valid first offer whatever follows it', () => {
    expect(serverAnswer('permessage-deflate, permessage-deflate; x=1')?.header).toBe('permessage-deflate');
  });

  it('checks window values 8 to 15 exactly', () => {
    for (let bits = 0; bits <= 20; bits++) {
      const offer = `permessage-deflate; server_max_window_bits=${bits}; client_max_window_bits=${bits}`;
      if (bits >= 8 && bits <= 15) expect(serverAnswer(offer)?.params.serverMaxWindowBits).toBe(bits);
      else expect(serverAnswer(offer)).toBeNull();
    }
  });
});

describe('RFC 7692 §7.1: the client offer', () => {
  it.each<[PerMessageDeflateOptions | true, string]>([
    [true, 'permessage-deflate; client_max_window_bits'],
    [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover; client_max_window_bits'],
    [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover; client_max_window_bits'],
    [{ serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=10; client_max_window_bits'],
    [{ clientMaxWindowBits: 9 }, 'permessage-deflate; client_max_window_bits=9'],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 12 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=12',
    ],
  ])('%j → %s', (options, header) => {
    expect(formatExtensions([buildOffer(options)])).toBe(header);
  });
});

describe('RFC 7692 §7: the client checks the response', () => {
  it.each<[string, PerMessageDeflateOptions | true, string, Partial<DeflateParams>]>([
    ['the plain response', true, 'permessage-deflate', {}],
    ['§7.1.1.1 server_no_context_takeover sent unasked (a hint, errata 4982)', true, 'permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }],
    ['§7.1.1.1 server_no_context_takeover as asked', { serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }],
    ['§7.1.1.2 client_no_context_takeover required by the server', true, 'permessage-deflate; client_no_context_takeover', { clientNoContextTakeover: true }],
    ['§7.1.1.2 client_no_context_takeover promised and not repeated', { clientNoContextTakeover: true }, 'permessage-deflate', { clientNoContextTakeover: true }],
    ['§7.1.2.1 server_max_window_bits announced unasked', true, 'permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }],
    ['§7.1.2.1 the offered server window', { serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }],
    ['§7.1.2.1 a smaller server window', { serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=8', { serverMaxWindowBits: 8 }],
    ['§7.1.2.2 a client window set by the server', true, 'permessage-deflate; client_max_window_bits=10', { clientMaxWindowBits: 10 }],
    ['§7.1.2.2 a client window of 8', true, 'permessage-deflate; client_max_window_bits=8', { clientMaxWindowBits: 8 }],
    ['§7.1.2.2 the promised client window, not repeated', { clientMaxWindowBits: 11 }, 'permessage-deflate', { clientMaxWindowBits: 11 }],
    ['§7.1.2.2 a smaller client window than promised', { clientMaxWindowBits: 11 }, 'permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 9 }],
    [
      'everything at once',
      { serverNoContextTakeover: true, serverMaxWindowBits: 12 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=10',
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 10 },
    ],
  ])('%s', (_name, options, response, params) => {
    expect(clientAccepts(response, options)).toEqual({ ...DEFAULTS, ...params });
  });

  it('§5: a response without the extension leaves compression off', () => {
    expect(acceptResponse([], true)).toBeNull();
  });

  it.each<[string, PerMessageDeflateOptions | true, string, string]>([
    ['§7: a repeated parameter', true, 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', 'repeats parameter'],
    ['§7: an unknown parameter', true, 'permessage-deflate; mem_level=8', 'unknown parameter "mem_level"'],
    ['§7: a parameter with a value it cannot have', true, 'permessage-deflate; client_no_context_takeover=1', 'takes no value'],
    ['§7.1.2.2: client_max_window_bits without a value', true, 'permessage-deflate; client_max_window_bits', 'got no value'],
    ['§7.1.2.1: server_max_window_bits without a value', true, 'permessage-deflate; server_max_window_bits', 'got no value'],
    ['§7.1.2.1: server_max_window_bits out of range', true, 'permessage-deflate; server_max_window_bits=16', 'got "16"'],
    ['§7.1.2.2: client_max_window_bits out of range', true, 'permessage-deflate; client_max_window_bits=7', 'got "7"'],
    ['permessage-deflate accepted twice', true, 'permessage-deflate, permessage-deflate', 'more than once'],
    ['§7.1.1.1: the required server_no_context_takeover is missing', { serverNoContextTakeover: true }, 'permessage-deflate', 'without server_no_context_takeover'],
    ['§7.1.2.1: the requested server_max_window_bits is missing', { serverMaxWindowBits: 10 }, 'permessage-deflate', 'without server_max_window_bits'],
    ['§7.1.2.1: a larger server window than offered', { serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=11', 'exceeds the 10 offered'],
    ['§7.1.2.2: a larger client window than promised', { clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=12', 'exceeds the 10 offered'],
  ])('fails on %s', (_name, options, response, message) => {
    const error = handshakeError(() => clientAccepts(response, options));
    expect(error.status).toBe(101);
    expect(error.message).toContain(message);
  });
});

describe('options', () => {
  it('fills in the defaults', () => {
    expect(resolveDeflateOptions(true)).toEqual({
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: undefined,
      clientMaxWindowBits: undefined,
      threshold: 1024,
      level: -1,
      memLevel: 8,
      concurrencyLimit: 10,
      maxDeflateContexts: 1024,
    });
  });

  it.each<[PerMessageDeflateOptions, string]>([
    [{ serverMaxWindowBits: 7 }, 'serverMaxWindowBits must be an integer from 8 to 15'],
    [{ serverMaxWindowBits: 16 }, 'serverMaxWindowBits'],
    [{ clientMaxWindowBits: 9.5 }, 'clientMaxWindowBits'],
    [{ threshold: -1 }, 'threshold'],
    [{ level: 10 }, 'level'],
    [{ level: -2 }, 'level'],
    [{ memLevel: 0 }, 'memLevel'],
    [{ memLevel: 10 }, 'memLevel'],
    [{ concurrencyLimit: 0 }, 'concurrencyLimit'],
    [{ maxDeflateContexts: 0 }, 'maxDeflateContexts'],
  ])('rejects %j', (options, message) => {
    expect(() => resolveDeflateOptions(options)).toThrow(RangeError);
    expect(() => resolveDeflateOptions(options)).toThrow(message);
  });

  it("takes ws's zlibDeflateOptions for level and memLevel; its own names win", () => {
    expect(resolveDeflateOptions({ zlibDeflateOptions: { level: 1, memLevel: 9 } })).toMatchObject({ level: 1, memLevel: 9 });
    expect(resolveDeflateOptions({ level: 3, zlibDeflateOptions: { level: 1, memLevel: 9 } })).toMatchObject({ level: 3, memLevel: 9 });
    expect(() => resolveDeflateOptions({ zlibDeflateOptions: { level: 12 } })).toThrow('level');
  });

  it('rejects something that is not an object', () => {
    expect(() => resolveDeflateOptions('yes' as never)).toThrow(TypeError);
  });
});

describe('both ends agree on the same parameters', () => {
  const windows = [undefined, 8, 9, 12, 15];
  const flags = [false, true];
  const combinations: PerMessageDeflateOptions[] = [];
  for (const serverNoContextTakeover of flags)
    for (const clientNoContextTakeover of flags)
      for (const serverMaxWindowBits of windows)
        for (const clientMaxWindowBits of windows) combinations.push({ serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits });

  it(`for every pair of ${combinations.length} client and ${combinations.length} server configurations`, () => {
    const problems: string[] = [];
    const within = (bits: number, limit: number | undefined): boolean => limit === undefined || bits <= limit;
    for (const client of combinations) {
      const offer = parseExtensions(formatExtensions([buildOffer(client)]));
      for (const server of combinations) {
        const pair = `client ${JSON.stringify(client)}, server ${JSON.stringify(server)}`;
        // The client always allows client_max_window_bits, so no offer is declined.
        const answer = negotiate(offer, server);
        if (answer === null) {
          problems.push(`${pair}: declined`);
          continue;
        }
        const agreed = acceptResponse(parseExtensions(answer.header), client);
        if (JSON.stringify(agreed) !== JSON.stringify(answer.params)) problems.push(`${pair}: client ${JSON.stringify(agreed)} ≠ server ${JSON.stringify(answer.params)}`);
        // Each end's limits and requests hold.
        const p = answer.params;
        if (!within(p.serverMaxWindowBits, client.serverMaxWindowBits) || !within(p.serverMaxWindowBits, server.serverMaxWindowBits)) problems.push(`${pair}: server window ${p.serverMaxWindowBits}`);
        if (!within(p.clientMaxWindowBits, client.clientMaxWindowBits) || !within(p.clientMaxWindowBits, server.clientMaxWindowBits)) problems.push(`${pair}: client window ${p.clientMaxWindowBits}`);
        if (p.serverNoContextTakeover !== (client.serverNoContextTakeover || server.serverNoContextTakeover)) problems.push(`${pair}: server takeover`);
        if (p.clientNoContextTakeover !== (client.clientNoContextTakeover || server.clientNoContextTakeover)) problems.push(`${pair}: client takeover`);
      }
    }
    expect(problems).toEqual([]);
  });

  // The fuzzer's case: an offer of client_max_window_bits=13 reached the server as =11
  // (a proxy, another client's header). An answer without the parameter would say the
  // server takes 15 bits while it inflates with 11, and the client would compress with 13.
  it('an offer changed on the way: the client uses the window the answer names, or refuses one over its offer', () => {
    const changed = (client: PerMessageDeflateOptions, from: string, to: string) => {
      const offer = formatExtensions([buildOffer(client)]);
      expect(offer).toContain(from);
      const answer = negotiate(parseExtensions(offer.replace(from, to)), true)!;
      return { answer, agreed: () => acceptResponse(parseExtensions(answer.header), client) };
    };
    const down = changed({ clientMaxWindowBits: 13 }, '=13', '=11');
    expect(down.answer.header).toBe('permessage-deflate; client_max_window_bits=11');
    expect(down.agreed()!.clientMaxWindowBits).toBe(down.answer.params.clientMaxWindowBits);
    const up = changed({ clientMaxWindowBits: 11 }, '=11', '=13');
    expect(up.agreed).toThrow(/client_max_window_bits=13 exceeds the 11 offered/);
  });

  it('formatting the answer and parsing it back is lossless', () => {
    const answer = serverAnswer('permessage-deflate; server_max_window_bits=9; client_max_window_bits', { clientMaxWindowBits: 10, serverNoContextTakeover: true })!;
    expect(format(parse(answer.header))).toBe(answer.header);
  });
});

describe('volley/protocol exports what the negotiation needs', () => {
  it('a transport of its own negotiates permessage-deflate from the subpath alone', async () => {
    const core = await import('../../src/protocol/index.js');
    const key = core.generateKey();
    const offer = core.formatExtensions([core.buildOffer(true)]);
    expect(offer).toBe('permessage-deflate; client_max_window_bits');
    const request = core.parseRequestHead(Buffer.from(core.buildUpgradeRequest({ host: 'a', path: '/', key, extensions: offer })))!;
    const info = core.validateUpgradeHead(request);
    const agreed = core.negotiate(info.extensions, true)!;
    expect(core.negotiate(core.parseExtensions(offer), true)).toEqual(agreed);
    const response = core.parseResponseHead(Buffer.from(core.buildAcceptResponse({ key, extensions: agreed.header })))!;
    const { extensions } = core.validateUpgradeResponse(response, { key, protocols: [], extensionNames: ['permessage-deflate'] });
    expect(core.acceptResponse(extensions, true)).toEqual(agreed.params);
  });
});
