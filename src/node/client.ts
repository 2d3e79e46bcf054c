/**
 * The client side: `new WebSocket(url, protocols?, options?)` connects over node:net
 * (`ws:`, and `ws+unix:` to a Unix domain socket) or node:tls (`wss:`), sends the
 * opening handshake and reads the response itself, with a deadline for the whole
 * handshake, following redirects when asked to. With an `agent`, node:http sends the
 * handshake and reads the response (client-agent.ts); the response is validated here
 * either way, and the body of a refusal is streamed to `unexpected-response` listeners
 * from either source (upgrade-response.ts).
 */
import type { Agent, IncomingMessage } from 'node:http';
import { Socket as NetSocket, connect as netConnect, isIP, type IpcNetConnectOpts, type LookupFunction, type Socket, type TcpNetConnectOpts } from 'node:net';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { tlsModule } from './builtins.js';
import { EXTENSION_NAME, acceptResponse, buildOffer, resolveDeflateOptions, type PerMessageDeflateOptions } from '../protocol/deflate.js';
import { PerMessageDeflate } from '../protocol/deflate-codec.js';
import { HandshakeError } from '../protocol/errors.js';
import { buildUpgradeRequest, generateKey, validateUpgradeResponse, type HeaderValue } from '../protocol/handshake.js';
import { formatExtensions } from '../protocol/headers.js';
import { ResponseHeadParser, type ResponseHead } from '../protocol/http.js';
import {
  WebSocket,
  kAbortHandshake,
  SharedSettings,
  kAttach,
  kSetConnecting,
  type WebSocketOptions,
} from './websocket.js';
import { heartbeatSettings, watchClient, type HeartbeatOptions } from '../heartbeat/heartbeat.js';
import { callApplication, listenTo } from './events.js';
import { MAX_TIMER_DELAY, timeoutOption } from './timers.js';
import { closedBeforeResponse, requestThroughAgent } from './client-agent.js';
import { ResponseBody, UpgradeResponse } from './upgrade-response.js';

export { UpgradeResponse } from './upgrade-response.js';

/** Options of a client connection. */
/** The TLS options a client also takes beside the others, as in `ws` (see `tls`). */
export type ClientTlsOptions = Omit<TlsOptions, 'host' | 'port' | 'path' | 'socket' | 'timeout' | 'lookup'>;

export interface ClientOptions extends WebSocketOptions, ClientTlsOptions {
  /**
   * Extra request headers, such as `Authorization`; values that are not strings are sent
   * as their string (`String(value)`), as node:http does. A `Host` or `Origin` given here
   * replaces the computed one, as in `ws`.
   */
  headers?: Record<string, HeaderValue | ReadonlyArray<HeaderValue>>;
  /** The `Origin` header to send; wins over an `Origin` in `headers`. */
  origin?: string;
  /**
   * Milliseconds for the whole opening handshake (connect, TLS, response, and the body of
   * a refusal that `unexpected-response` listeners read). Default 10 000; 0 for no limit.
   */
  handshakeTimeout?: number;
  /**
   * Options passed to `tls.connect` for `wss:` (`ca`, `rejectUnauthorized`, `servername`, ...);
   * with an `agent`, to `https.request`, which gives them to the agent.
   * As in `ws`, the TLS options can also be given beside the others (`{ rejectUnauthorized: false }`);
   * those in `tls` win.
   */
  tls?: TlsOptions;
  /**
   * `'user:password'` for HTTP Basic authentication (`Authorization: Basic ...`), as in
   * `ws`; credentials in the URL (`wss://user:password@host/`) do the same. An
   * `Authorization` in `headers` wins.
   */
  auth?: string;
  /**
   * Follow 3xx answers to the upgrade request to their `Location`, as `ws` does with the
   * same option (emitting `redirect (url, response)` before each). Authorization and
   * cookies are not sent on to another host, nor from wss: to ws:. Default false.
   */
  followRedirects?: boolean;
  /** With `followRedirects`: how many redirects to follow before failing. Default 10. */
  maxRedirects?: number;
  /**
   * `Sec-WebSocket-Version`, as `ws` takes it: 13 (RFC 6455) is the only one; another
   * value throws a `RangeError` (`ws` also speaks the draft version 8). Default 13.
   */
  protocolVersion?: number;
  /** Largest response head accepted, in bytes (with an `agent`, node:http's `maxHeaderSize`). Default 16 KiB. */
  maxHeaderBytes?: number;
  /** IP family to connect with (4 or 6). */
  family?: number;
  /** Local address to connect from. */
  localAddress?: string;
  /** The host name lookup to connect with, as `net.connect` takes it (default: `dns.lookup`). */
  lookup?: LookupFunction;
  /**
   * Makes the connection instead of `net.connect` / `tls.connect`, as in `ws`: called with
   * what they would have been given (host, port, TLS options; `path` for `ws+unix:`), it
   * must return a `net.Socket` (or a `tls.TLSSocket`) that is connecting or connected.
   * Not used with an `agent`.
   */
  createConnection?: (options: ConnectOptions) => Socket;
  /**
   * Sends the opening handshake through this agent, as `ws` does: with node:http's
   * `request` (node:https's for `wss:`) given `agent`, so that it makes the connection.
   * An `http.Agent` for `ws:`, an `https.Agent` for `wss:` (node:https throws
   * `ERR_INVALID_PROTOCOL` for an `http.Agent`, from this constructor), or a proxy agent
   * (https-proxy-agent, socks-proxy-agent). The other options apply as without it; the TLS
   * options, `family`, `localAddress` and `lookup` are given to the request, which gives
   * them to the agent. `createConnection` is not used with an agent (as in `ws`, the
   * agent makes the connection). node:http reads the response: one it cannot parse fails
   * with its error (code `HPE_...`); one it reads is checked as without an agent.
   * Default: none (the client connects and reads the response itself).
   *
   * @example
   * new WebSocket('wss://example.com/feed', { agent: new HttpsProxyAgent('http://proxy:3128') });
   */
  agent?: Agent;
  /** Offer permessage-deflate (RFC 7692), as browsers do: `true` (default) or options; false to not offer it. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /**
   * Ping the server every `interval` ms and terminate the connection when nothing
   * arrives within `timeout` ms of a ping (`close` reports 1006). Off by default;
   * `true` uses 30 000 and 10 000.
   */
  heartbeat?: HeartbeatOptions | boolean;
}

/**
 * The opening handshake's request, as `unexpected-response` and `redirect` listeners get
 * it (where `ws` passes node:http's `ClientRequest`): method, path, host and headers.
 * In a `redirect` listener it is the request about to be sent to the new location, and
 * `setHeader`/`removeHeader` change the extra headers it goes with (the handshake's own
 * headers are computed when it is sent).
 */
export class UpgradeClientRequest {
  readonly method = 'GET';
  /** The request target: path and query. */
  readonly path: string;
  /** The host and port connected to. */
  readonly host: string;
  /** `ws:`, `wss:` or `ws+unix:`. */
  readonly protocol: string;
  readonly #headers = new Map<string, { name: string; value: string | string[] }>();
  readonly #onAbort: () => void;

  /** @internal */
  constructor(url: URL, headers: Iterable<readonly [string, HeaderValue | ReadonlyArray<HeaderValue>]>, onAbort: () => void) {
    this.path = (url.pathname || '/') + url.search;
    this.host = url.host;
    this.protocol = url.protocol;
    this.#onAbort = onAbort;
    for (const [name, value] of headers) this.setHeader(name, value);
  }

  /**
   * Ends the handshake here, as `ws` code does with its `http.ClientRequest` in an
   * `unexpected-response` or `redirect` listener: the same as `ws.terminate()` (error,
   * then close 1006; no redirect followed).
   */
  abort(): void {
    this.#onAbort();
  }

  /** `abort()`, as `http.ClientRequest`'s `destroy()`. */
  destroy(): this {
    this.#onAbort();
    return this;
  }

  getHeader(name: string): string | string[] | undefined {
    return this.#headers.get(name.toLowerCase())?.value;
  }

  /** The headers by lower-case name. */
  getHeaders(): Record<string, string | string[]> {
    const headers: Record<string, string | string[]> = {};
    for (const [lower, { value }] of this.#headers) headers[lower] = value;
    return headers;
  }

  getHeaderNames(): string[] {
    return [...this.#headers.keys()];
  }

  hasHeader(name: string): boolean {
    return this.#headers.has(name.toLowerCase());
  }

  setHeader(name: string, value: HeaderValue | ReadonlyArray<HeaderValue>): this {
    this.#headers.set(name.toLowerCase(), { name, value: Array.isArray(value) ? value.map(String) : String(value) });
    return this;
  }

  removeHeader(name: string): void {
    this.#headers.delete(name.toLowerCase());
  }

  /** The headers with their names as set. */
  headersAsSet(): Record<string, string | string[]> {
    const headers: Record<string, string | string[]> = {};
    for (const { name, value } of this.#headers.values()) headers[name] = value;
    return headers;
  }
}

/** The header lines of a request built by buildUpgradeRequest, as name/value pairs. */
function headerLinesOf(request: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const line of request.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) pairs.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return pairs;
}

/** What the client connects with: `net.connect`'s and `tls.connect`'s options (`path` for a Unix domain socket). */
export type ConnectOptions = (TlsOptions & TcpNetConnectOpts) | IpcNetConnectOpts;

export const DEFAULT_CLIENT_HANDSHAKE_TIMEOUT = 10_000;
export const DEFAULT_MAX_REDIRECTS = 10;
/** Header lines accepted in the server's response, as node:http's client accepts. */
const CLIENT_MAX_HEADERS = 2000;

/**
 * The options for following a redirect from `from` to `to`: as `ws` does, credentials
 * (Authorization, cookies, `auth`) do not go on to another host, nor from wss: to ws:.
 */
function redirectOptions(options: ClientOptions, from: URL, to: URL): ClientOptions {
  const sameHost = from.host === to.host;
  if (sameHost && !(from.protocol === 'wss:' && to.protocol !== 'wss:')) {
    // The credentials go on as the Authorization header, which the 'redirect' listener
    // sees and may remove: those of an absolute Location, else those this request
    // carried (the URL's or `auth`).
    return { ...options, headers: withBasicAuth(withBasicAuth(options.headers, to, undefined), from, options.auth), auth: undefined };
  }
  const headers: NonNullable<ClientOptions['headers']> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower !== 'authorization' && lower !== 'cookie' && !(lower === 'host' && !sameHost)) headers[name] = value;
  }
  return { ...options, headers, auth: undefined };
}

/** `url` without its user and password: the redirect's credentials are in its headers. */
function withoutCredentials(url: URL): URL {
  if (url.username === '' && url.password === '') return url;
  const bare = new URL(url.href);
  bare.username = '';
  bare.password = '';
  return bare;
}

/**
 * The option names that are not handed on to the connection: Volley's own, and the
 * connection's fields that come from the URL or are set by the handshake. Every other
 * option given beside them (`ca`, `minDHSize`, `localPort`, ...) goes to `tls.connect`
 * or `net.connect` (with an `agent`, to `https.request`), as `ws` hands all its options
 * on: none is dropped unseen.
 */
const NOT_CONNECT_OPTIONS = new Set([
  // Volley's (ClientOptions and WebSocketOptions)
  'headers', 'origin', 'handshakeTimeout', 'tls', 'auth', 'followRedirects', 'maxRedirects', 'protocolVersion',
  'maxHeaderBytes', 'createConnection', 'agent', 'perMessageDeflate', 'heartbeat', 'maxPayload', 'closeTimeout',
  'autoPong', 'fragmentOverhead', 'generateMask', 'maxBackpressure', 'backpressurePolicy', 'allowSynchronousEvents',
  'skipUTF8Validation',
  // the connection's, from the URL or the handshake (ws overrides these too)
  'host', 'hostname', 'port', 'path', 'socketPath', 'protocol', 'method', 'timeout', 'signal', 'socket', 'fd',
  'setHost', 'defaultPort', 'maxHeaderSize', 'insecureHTTPParser', 'joinDuplicateHeaders', 'uniqueHeaders',
]);

/** `text` with its %XX escapes decoded; as it is where they do not form UTF-8. */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The options given for the connection beside Volley's own (see NOT_CONNECT_OPTIONS). */
function connectOptionsBeside(options: ClientOptions): TlsOptions {
  const found: Record<string, unknown> = {};
  const given = options as Record<string, unknown>;
  for (const name of Object.keys(given)) if (given[name] !== undefined && !NOT_CONNECT_OPTIONS.has(name)) found[name] = given[name];
  return found as TlsOptions;
}

/**
 * `headers` with `Authorization: Basic ...` for the URL's credentials (percent-decoded)
 * or the `auth` option, as ws sends it; unless `headers` has an Authorization already.
 */
function withBasicAuth(headers: ClientOptions['headers'], url: URL, auth: string | undefined): ClientOptions['headers'] {
  const credentials = url.username !== '' || url.password !== '' ? `${percentDecoded(url.username)}:${percentDecoded(url.password)}` : auth;
  if (credentials === undefined) return headers;
  if (headers !== undefined && Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) return headers;
  return { ...headers, Authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}

/**
 * The URL a client connects to: `address` (relative to `base`, for a redirect) with
 * http: and https: made ws: and wss:.
 *
 * @throws {SyntaxError} for an invalid URL, a scheme other than ws:, wss:, ws+unix:,
 *   http: or https:, or a fragment.
 */
function clientUrl(address: string | URL | undefined, base?: URL): URL {
  let url: URL;
  try {
    url = address instanceof URL ? new URL(address.href) : new URL(String(address), base);
  } catch {
    throw new SyntaxError(`invalid URL: ${String(address)}`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:' && url.protocol !== 'ws+unix:') {
    throw new SyntaxError(`the URL's scheme must be "ws:", "wss:" or "ws+unix:", got "${url.protocol}"`);
  }
  // An empty fragment ("ws://host/#") is a fragment too, though `hash` is '' for it.
  if (url.hash !== '' || url.href.endsWith('#')) throw new SyntaxError('the URL must not contain a fragment');
  if (url.protocol === 'ws+unix:' && url.pathname === '') throw new SyntaxError("the ws+unix: URL's socket path is empty");
  return url;
}

/**
 * Connects `ws` (a new client WebSocket) to `address`. Called by the WebSocket constructor.
 *
 * @throws {SyntaxError} for a URL that is not ws:, wss:, ws+unix:, http: or https:, has a
 *   fragment, or for invalid subprotocols.
 */
export function connectClient(
  ws: WebSocket<any>,
  address: string | URL | undefined,
  protocols: string | string[] | undefined,
  options: ClientOptions,
  redirects = 0,
): void {
  const url = clientUrl(address);
  const isIpc = url.protocol === 'ws+unix:';
  const isSecure = url.protocol === 'wss:';
  let path = (url.pathname || '/') + url.search;
  // ws+unix:/path/of/the/socket:/request/path?query, as ws has it: a Unix domain socket.
  let socketPath = '';
  if (isIpc) {
    const colon = path.indexOf(':');
    socketPath = colon === -1 ? path : path.slice(0, colon);
    path = colon === -1 ? '/' : path.slice(colon + 1);
    if (socketPath === '') throw new SyntaxError("the ws+unix: URL's socket path is empty");
  }
  // Made here, where a RangeError for a limit reaches the caller, not when the 101 arrives.
  const settings = new SharedSettings('client', options);
  const handshakeTimeout = timeoutOption('handshakeTimeout', options.handshakeTimeout, DEFAULT_CLIENT_HANDSHAKE_TIMEOUT);
  if (options.protocolVersion !== undefined && options.protocolVersion !== 13) {
    throw new RangeError(`Unsupported protocol version: ${String(options.protocolVersion)} (supported versions: 13)`);
  }
  // ws's hook to finish its http.ClientRequest: there is none here, and what it would
  // have added must not be dropped without a word.
  if ((options as { finishRequest?: unknown }).finishRequest !== undefined) {
    throw new TypeError('the finishRequest option of ws is not supported: give extra request headers in options.headers');
  }
  const heartbeat = heartbeatSettings(options.heartbeat, false); // throws RangeError for bad times
  const given: unknown[] = protocols === undefined ? [] : Array.isArray(protocols) ? [...protocols] : [protocols];
  // As in ws: null, a number or any other value that is not a string is no subprotocol.
  for (const protocol of given) {
    if (typeof protocol !== 'string') throw new SyntaxError(`subprotocol must be a string, got ${protocol === null ? 'null' : typeof protocol}`);
  }
  const offered = given as string[];
  const key = generateKey();
  // Throws RangeError for bad options, synchronously.
  const deflateOptions = options.perMessageDeflate === false ? null : resolveDeflateOptions(options.perMessageDeflate ?? true);
  // Throws SyntaxError/TypeError for bad subprotocols or headers, synchronously, as browsers do.
  const request = buildUpgradeRequest({
    // A Unix domain socket has no host: Host is what node:http sends there.
    host: isIpc ? 'localhost' : url.host,
    path,
    key,
    protocols: offered,
    extensions: deflateOptions === null ? undefined : formatExtensions([buildOffer(deflateOptions)]),
    origin: options.origin,
    headers: withBasicAuth(options.headers, url, options.auth),
  });

  // IPv6 literals come bracketed in URLs; sockets want them bare.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (isSecure ? 443 : 80) : Number(url.port);
  // The options beside Volley's own carry family, localAddress and lookup too.
  let connectOptions: ConnectOptions;
  if (isSecure) {
    connectOptions = {
      host,
      port,
      servername: isIP(host) === 0 ? host : undefined,
      ALPNProtocols: ['http/1.1'],
      ...connectOptionsBeside(options),
      ...options.tls,
    };
  } else if (isIpc) {
    connectOptions = { path: socketPath };
  } else {
    connectOptions = { ...connectOptionsBeside(options), host, port };
  }
  /** What the handshake goes over: the socket, or node:http's request through the agent. */
  let transport: { destroy(): unknown };
  /** Removes the listeners the handshake has on the socket. */
  let detach: (() => void) | undefined;
  /** Armed once the connection is under way. */
  let timer: NodeJS.Timeout | undefined;
  /** What the handshake timer does: fail, or end the body being read (see readBody). */
  let onTimeout = () => fail(new Error('Opening handshake has timed out'));
  const fail = (error: Error) => {
    cleanup();
    ws[kAbortHandshake](error);
  };
  const cleanup = () => {
    clearTimeout(timer);
    detach?.();
  };
  /**
   * A refused handshake's response whose `unexpected-response` listeners may read the
   * body: it streams in from `socket` after `rest` (or from node:http's `message`), and
   * the connection fails with `error` once it has ended, been cut short (64 KiB, the
   * handshake timeout, the connection's close, `response.destroy()`), or close() or
   * terminate() was called.
   */
  const readBody = (error: Error, head: ResponseHead, response: UpgradeResponse, socket: Socket | null, rest: Buffer | null, message: IncomingMessage | undefined) => {
    const body = new ResponseBody(response, () => fail(error));
    // close() and terminate() abort the handshake: the body stops there.
    ws[kSetConnecting](url.href, socket ?? message?.socket ?? null, () => {
      body.stop();
      transport.destroy();
    });
    onTimeout = () => body.stop();
    try {
      ws.emit('unexpected-response', new UpgradeClientRequest(url, headerLinesOf(request), () => ws.terminate()), response);
    } finally {
      // Read on even past a listener that threw, so that the connection still ends; not
      // after one that called close() or terminate().
      if (ws.readyState === WebSocket.CONNECTING) {
        if (message !== undefined) body.readMessage(message);
        else if (socket !== null) {
          detach?.(); // the head's listeners: the body's take over
          detach = undefined;
          body.readSocket(head, socket, rest);
        } else body.end(false);
      }
    }
  };
  /**
   * The final response: validated, then either followed (a redirect), failed, or the
   * WebSocket opens over `socket` with `rest`, the bytes that came after the 101's head.
   * `message` is node:http's response through an agent, for a status other than 101.
   */
  const onResponse = (head: ResponseHead, socket: Socket | null, rest: Buffer | null, message?: IncomingMessage) => {
    const response = new UpgradeResponse(head);
    const location = head.status >= 300 && head.status < 400 && options.followRedirects === true ? response.headers.location : undefined;
    // An empty Location names no other place (following it would ask the same URL again
    // until maxRedirects): the response is unexpected, as in ws.
    if (typeof location === 'string' && location !== '') {
      cleanup();
      transport.destroy();
      follow(location, response);
      return;
    }
    if (head.status === 101) {
      // As in ws: for any 101, before it is checked, while still CONNECTING (send()
      // throws; close() or terminate() in a listener fails the handshake: 'error', then
      // 'close' 1006, and no 'open').
      callApplication(() => ws.emit('upgrade', response));
      if (ws.readyState !== WebSocket.CONNECTING) {
        cleanup();
        return;
      }
    }
    let selected;
    let deflate = null;
    try {
      selected = validateUpgradeResponse(head, { key, protocols: offered, extensionNames: deflateOptions === null ? [] : [EXTENSION_NAME] });
      if (deflateOptions !== null) deflate = acceptResponse(selected.extensions, deflateOptions);
    } catch (error) {
      if (error instanceof HandshakeError && error.status !== 101 && error.status !== 0) {
        // As in ws: (request, response), the body for listeners to read. Unlike ws, the
        // connection fails after it all the same: the listener need not abort it.
        if (ws.listenerCount('unexpected-response') > 0) {
          readBody(error, head, response, socket, rest, message);
          return;
        }
      }
      fail(error as Error);
      return;
    }
    if (socket === null) {
      // Only through an agent: a 101 that node:http did not take for an upgrade.
      fail(new HandshakeError(101, 'the 101 response was not taken as an upgrade by node:http'));
      return;
    }
    cleanup();
    socket.pause();
    ws[kAttach](
      socket,
      rest,
      settings,
      selected.protocol,
      deflate === null ? '' : formatExtensions(selected.extensions),
      deflate === null ? null : new PerMessageDeflate(deflate, { role: 'client', ...deflateOptions }),
    );
    if (heartbeat.heartbeat !== null) settings.heartbeat = watchClient(ws, heartbeat);
    ws.emit('open');
  };
  /** Connects again to `location` (relative to this URL), as `ws` follows a redirect. */
  const follow = (location: string, response: UpgradeResponse) => {
    if (redirects >= (options.maxRedirects ?? DEFAULT_MAX_REDIRECTS)) {
      ws[kAbortHandshake](new Error('Maximum redirects exceeded'));
      return;
    }
    let next: URL;
    try {
      // Checked before 'redirect', which reports the URL connected to next, as in ws.
      next = clientUrl(location, url);
    } catch (error) {
      ws[kAbortHandshake](new SyntaxError(`invalid redirect URL ${JSON.stringify(location)}: ${(error as Error).message}`));
      return;
    }
    if (next.protocol === 'ws+unix:' && url.protocol !== 'ws+unix:') {
      // A server on the network must not steer the client to a socket on this machine
      // (as fetch follows no redirect to another scheme).
      ws[kAbortHandshake](new Error(`a redirect from ${url.protocol} to a ws+unix: socket is not followed: ${JSON.stringify(location)}`));
      return;
    }
    const nextOptions = redirectOptions(options, url, next);
    const nextRequest = new UpgradeClientRequest(next, Object.entries(nextOptions.headers ?? {}), () => ws.terminate());
    // As in ws: (url, request), the request about to go to the new location. A listener
    // that throws is the application's (uncaught): the redirect is followed all the same.
    callApplication(() => ws.emit('redirect', next.href, nextRequest, response));
    // A 'redirect' listener may have called close() or terminate().
    if (ws.readyState !== WebSocket.CONNECTING) return;
    try {
      connectClient(ws, withoutCredentials(next), protocols, { ...nextOptions, headers: nextRequest.headersAsSet() }, redirects + 1);
    } catch (error) {
      ws[kAbortHandshake](error as Error);
    }
  };

  // Falsy is no agent: node:http takes `agent: false` for a connection of its own, which
  // is what the client makes without one.
  if (options.agent) {
    const agentRequest = requestThroughAgent(
      {
        agent: options.agent,
        isSecure,
        connect: connectOptions,
        target: path,
        headers: headerLinesOf(request).flat(),
        maxHeaderBytes: options.maxHeaderBytes,
        maxHeaders: CLIENT_MAX_HEADERS,
      },
      {
        // ws.socket while connecting, as without an agent; aborting destroys the request too.
        socket: (socket) => {
          if (ws.readyState === WebSocket.CONNECTING) ws[kSetConnecting](url.href, socket, abort);
        },
        // From the 101 on, the connection is the socket alone.
        response: (head, socket, rest, message) => {
          if (socket !== null) ws[kSetConnecting](url.href, socket);
          onResponse(head, socket, rest, message);
        },
        error: (error) => fail(error),
      },
    );
    const abort = () => agentRequest.destroy();
    ws[kSetConnecting](url.href, null, abort);
    transport = agentRequest;
  } else {
    const socket: Socket =
      options.createConnection !== undefined
        ? options.createConnection(connectOptions)
        : isSecure
          ? tlsModule().connect(connectOptions)
          : netConnect(connectOptions);
    if (!(socket instanceof NetSocket)) {
      (socket as { destroy?: () => void } | null)?.destroy?.();
      const got = socket === null || typeof socket !== 'object' ? String(socket) : ((socket as object).constructor?.name ?? 'an object');
      throw new TypeError(`createConnection must return a net.Socket or tls.TLSSocket, got ${got}`);
    }
    ws[kSetConnecting](url.href, socket);
    socket.setNoDelay(true);
    transport = socket;
    // As node:http's client: up to 2,000 header lines, within maxHeaderBytes.
    const limits = { maxHeaderBytes: options.maxHeaderBytes, maxHeaders: CLIENT_MAX_HEADERS };
    let parser = new ResponseHeadParser(limits);
    const onError = (error: Error) => fail(error);
    const onClose = () => fail(closedBeforeResponse());
    const onData = (chunk: Buffer) => {
      let head;
      try {
        head = parser.push(chunk);
        // RFC 9110 §15.2: interim responses (1xx but 101: 100 Continue, 103 Early Hints)
        // may come before the final one; a client skips them.
        while (head !== null && head.status >= 100 && head.status < 200 && head.status !== 101) {
          const rest = parser.rest;
          parser = new ResponseHeadParser(limits);
          head = rest === undefined || rest.length === 0 ? null : parser.push(rest);
        }
      } catch (error) {
        fail(error as Error);
        return;
      }
      if (head !== null) onResponse(head, socket, parser.rest ?? null);
    };
    // A socket made with allowHalfOpen (createConnection) stays open after the server's
    // FIN: its end is the end of the handshake too.
    detach = listenTo(socket, { error: onError, close: onClose, end: onClose, data: onData });
    socket.write(request, 'latin1'); // as node:http writes heads
  }

  // As in ws: 0 (or a delay beyond setTimeout's range) is no limit.
  if (handshakeTimeout > 0 && handshakeTimeout <= MAX_TIMER_DELAY) timer = setTimeout(() => onTimeout(), handshakeTimeout);
}
