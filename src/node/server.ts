/**
 * WebSocketServer: accepts upgrades on its own port, on an existing http/https server,
 * or through `handleUpgrade` (noServer), and turns them into WebSocket connections.
 *
 * On its own port the server reads the upgrade request itself from the raw socket
 * (src/protocol/http.ts) with bounded size, header count and time; plain HTTP requests
 * there are answered 426. Attached to an http server it answers that server's
 * `upgrade` events.
 *
 * Around the connections: topics and broadcast (src/pubsub), the heartbeat and idle
 * timeout (src/heartbeat), and graceful shutdown (./shutdown.ts).
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { negotiate, resolveDeflateOptions, type NegotiatedDeflate, type PerMessageDeflateOptions, type ResolvedDeflateOptions } from '../protocol/deflate.js';
import { PerMessageDeflate } from '../protocol/deflate-codec.js';
import { ErrorCode, HandshakeError, WebSocketError } from '../protocol/errors.js';
import { CONTINUE_RESPONSE, STATUS_TEXT, buildAcceptResponse, buildErrorResponse, plainAcceptResponse, validateUpgradeHead, validateUpgradeRequest } from '../protocol/handshake.js';
import { RequestHeadParser, checkRequestLimits, distinctHeaderRecord, incomingHeaderRecord, type HeadLimits, type HeaderVisitor, type RequestHead } from '../protocol/http.js';
import { SharedSettings, WebSocket, checkSubclass, kAttach, markUpgrade, type WebSocketOptions } from './websocket.js';
import { callApplication, throwUncaught } from './events.js';
import { Heartbeat, heartbeatSettings, type HeartbeatOptions } from '../heartbeat/heartbeat.js';
import type { PrepareData, PreparedMessage } from '../pubsub/prepared.js';
import { TopicRegistry, broadcast, type Except, type PublishOptions } from '../pubsub/topics.js';
import { checkBackpressureOptions, type PublishResult } from './send-status.js';
import { closeConnections, shutdownSettings, type GracefulCloseOptions } from './shutdown.js';
import { tokenExpiryReader, type TokenExpiryOption } from '../auth/expiry.js';
import { Admission, type AdmissionOptions } from '../limits/admission.js';
import { MAX_TIMER_DELAY, timeoutOption } from './timers.js';
import { MetricsRecorder, type MetricsSnapshot } from '../metrics/recorder.js';
import { MessageLimiter, normalizeRateLimit, type RateLimitConfig, type RateLimitOptions } from '../rate-limit/message-limiter.js';

/**
 * Throw from `authenticate` (or `handleProtocols`) to answer the upgrade with an HTTP
 * error instead of a WebSocket: 401 with `WWW-Authenticate`, 403, 429, ...
 *
 * @example
 * throw new UpgradeError(401, 'token required', { 'WWW-Authenticate': 'Bearer' });
 *
 * @throws {RangeError} when `status` is not an integer from 300 to 599.
 * @throws {TypeError} when a header name is not a token or one the answer computes, or a
 *   value holds a control character or one above U+00FF: a refusal that could not be
 *   sent is refused where it is made.
 */
export class UpgradeError extends HandshakeError {
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    buildErrorResponse(status, '', headers);
    super(status, message, headers);
    // A refusal of the application's, told apart from the handshake's own (WS_ERR_HANDSHAKE).
    (this as { code: string }).code = ErrorCode.Upgrade;
  }
}

/** The request an upgrade arrived with: an `IncomingMessage`, or on the server's own port a light equivalent. */
export interface UpgradeRequest {
  method: string;
  url: string;
  httpVersion: string;
  httpVersionMajor: number;
  httpVersionMinor: number;
  /** As node:http builds it: repeated names joined with ", " (`set-cookie` an array, `cookie` joined with "; "). */
  headers: IncomingHttpHeaders;
  /** Every header's values, one array per name, as `IncomingMessage.headersDistinct`. */
  headersDistinct: Record<string, string[] | undefined>;
  rawHeaders: string[];
  socket: Socket;
  /** `socket`, under the older name `IncomingMessage` still has (`req.connection.remoteAddress` in code from `ws`). */
  connection: Socket;
}

/** What `verifyClient` is given, as in `ws`. */
export interface VerifyClientInfo {
  /** The request's `Origin` header. */
  origin: string | undefined;
  /** Whether the connection is TLS (an https server's). */
  secure: boolean;
  req: UpgradeRequest;
}

/** How an asynchronous `verifyClient` answers: a refusal with `code` (default 401), `message` and extra `headers`. */
export type VerifyClientCallback = (verified: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;

/** `ws`'s `verifyClient` hook: synchronous (or a promise), or with a callback. */
export type VerifyClient = ((info: VerifyClientInfo) => boolean | Promise<boolean>) | ((info: VerifyClientInfo, callback: VerifyClientCallback) => void);

export interface ServerOptions<Data = unknown, WS extends WebSocket<any> = WebSocket<Data>> extends WebSocketOptions, HeadLimits, AdmissionOptions<UpgradeRequest> {
  /** Listen on this port (0 for any free port): the server creates and owns its listener. */
  port?: number;
  /** Host to listen on with `port`. Default: all interfaces. */
  host?: string;
  /** Listen backlog with `port`. */
  backlog?: number;
  /** Attach to this http/https server's `upgrade` events. */
  server?: HttpServer | { on: HttpServer['on']; off: HttpServer['off']; listeners: HttpServer['listeners'] };
  /** Create no listener: call `handleUpgrade` yourself. */
  noServer?: boolean;
  /** Only accept upgrades for this path (the URL's pathname). */
  path?: string;
  /**
   * Checks the upgrade request before it is accepted. Its return value (or the value
   * its promise resolves to) becomes `ws.data`. Throw an `UpgradeError` to answer
   * with that status; any other error answers 500.
   */
  authenticate?: (req: UpgradeRequest) => Data | Promise<Data>;
  /**
   * `ws`'s hook for refusing upgrades, for code that comes from `ws` (`authenticate`
   * does the same and more). `verifyClient(info)` returns whether to accept, or a
   * promise of it; declared with a second parameter, it answers through
   * `callback(verified, code?, message?, headers?)`. A refusal is answered with `code`
   * (default 401). Runs before `handleProtocols` and `authenticate`; an answer that
   * takes longer than `authenticateTimeout` is answered 503.
   */
  verifyClient?: VerifyClient;
  /** Picks a subprotocol from those offered (in the client's order); return false for none. */
  handleProtocols?: (protocols: Set<string>, req: UpgradeRequest) => string | false;
  /** Extra response headers for every accepted upgrade, or a function returning them. */
  headers?: Record<string, string> | ((req: UpgradeRequest) => Record<string, string>);
  /** Keep the set of open connections in `clients`. Default true. */
  clientTracking?: boolean;
  /** Milliseconds a client has to send its whole upgrade request (own port only). Default 10 000. */
  handshakeTimeout?: number;
  /**
   * Milliseconds an asynchronous `authenticate` may take: then the upgrade is answered
   * 503 and what the hook settles to later is ignored. Default 10 000; 0 for no limit.
   */
  authenticateTimeout?: number;
  /** Accept permessage-deflate (RFC 7692) offers: `true` for the defaults, or options. Default false. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /**
   * Ping every connection every `interval` ms and terminate those from which nothing
   * arrived within `timeout` ms of a ping (`close` reports 1006). On by default
   * (30 000 and 10 000); `false` turns it off.
   */
  heartbeat?: HeartbeatOptions | boolean;
  /**
   * Close connections that sent no message (pings and pongs do not count) for this
   * many ms, with 1001 "idle timeout". Default 0: never.
   */
  idleTimeout?: number;
  /** Per-connection limits on received messages and bytes. Default: none. */
  rateLimit?: RateLimitOptions<WebSocket<Data>>;
  /**
   * Close connections with 1008 "token expired" when their credentials expire: `true`
   * reads the JWT `exp` claim (seconds) of `ws.data`; a function returns the expiry in
   * ms since the epoch (null for none). Extend with `ws.reauthenticate`. Default false.
   */
  closeOnTokenExpiry?: TokenExpiryOption<Data>;
  /** Count connections, handshakes, messages and bytes for `metrics()`. Default true. */
  metrics?: boolean;
  /** The class of the connections the server makes: `WebSocket` or a subclass of it, as in `ws`. */
  // Any subclass; inferred as the connections' type when the server's type is (a union, so
  // that an explicit `WebSocketServer<Data>` takes any subclass, as before).
  WebSocket?: new (...args: any[]) => WS | WebSocket<any>;
}

/** Options of `broadcast`. */
export interface BroadcastOptions extends PublishOptions {
  /** A connection, or a set or an array of them, that should not get the message. */
  except?: Except;
}

type ConnectionCallback<WS> = (ws: WS, req: UpgradeRequest) => void;

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;

export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** Default `authenticateTimeout`, ms. */
export const DEFAULT_AUTHENTICATE_TIMEOUT = 10_000;
/** Milliseconds a refused connection is kept to read (and discard) what its client still sends. */
const REFUSAL_LINGER = 1_000;

/**
 * The servers attached to each HTTP server (`{ server }`), in the order they were
 * created; one table per process, shared by every copy of this package loaded in it.
 */
const attachedServers: WeakMap<object, WebSocketServer<any, any>[]> = ((globalThis as Record<symbol, unknown>)[Symbol.for('volley.attachedServers')] ??=
  new WeakMap()) as WeakMap<object, WebSocketServer<any, any>[]>;

/** What follows a request that arrived whole and alone in its chunk. */
const NO_BYTES = Buffer.alloc(0);

/** The events of a WebSocketServer and their listeners. */
export interface WebSocketServerEvents<Data = unknown, WS extends WebSocket<any> = WebSocket<Data>> {
  connection: (this: WebSocketServer<Data, WS>, ws: WS, req: UpgradeRequest) => void;
  listening: (this: WebSocketServer<Data, WS>) => void;
  error: (this: WebSocketServer<Data, WS>, error: Error) => void;
  close: (this: WebSocketServer<Data, WS>) => void;
  /** The lines of a 101 about to be written (push more); as in ws. */
  headers: (this: WebSocketServer<Data, WS>, headers: string[], req: UpgradeRequest) => void;
  /** An upgrade that failed validation; with a listener, the listener answers it. */
  wsClientError: (this: WebSocketServer<Data, WS>, error: HandshakeError, socket: Socket, req: UpgradeRequest) => void;
}

// Typed listeners (declaration merging with the class below); EventEmitter's untyped
// signatures stay as the last overload.
export interface WebSocketServer<Data = unknown, WS extends WebSocket<any> = WebSocket<Data>> {
  on<E extends keyof WebSocketServerEvents<Data, WS>>(event: E, listener: WebSocketServerEvents<Data, WS>[E]): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<E extends keyof WebSocketServerEvents<Data, WS>>(event: E, listener: WebSocketServerEvents<Data, WS>[E]): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  off<E extends keyof WebSocketServerEvents<Data, WS>>(event: E, listener: WebSocketServerEvents<Data, WS>[E]): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;
  addListener<E extends keyof WebSocketServerEvents<Data, WS>>(event: E, listener: WebSocketServerEvents<Data, WS>[E]): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  removeListener<E extends keyof WebSocketServerEvents<Data, WS>>(event: E, listener: WebSocketServerEvents<Data, WS>[E]): this;
  removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependListener<E extends keyof WebSocketServerEvents<Data, WS>>(event: E, listener: WebSocketServerEvents<Data, WS>[E]): this;
  prependListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependOnceListener<E extends keyof WebSocketServerEvents<Data, WS>>(event: E, listener: WebSocketServerEvents<Data, WS>[E]): this;
  prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this;
}

/**
 * A WebSocket server.
 *
 * @typeParam Data the type of `ws.data`, what `authenticate` returns.
 * @example
 * const wss = new WebSocketServer({ port: 8080 });
 * wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
 */
export class WebSocketServer<Data = unknown, WS extends WebSocket<any> = WebSocket<Data>> extends EventEmitter {
  /** Open connections (when `clientTracking` is on). */
  readonly clients: Set<WS> = new Set();
  readonly options: Readonly<ServerOptions<Data, WS>>;

  #listener: NetServer | null = null;
  #httpServer: ServerOptions<Data, WS>['server'] | null = null;
  #detach: (() => void) | null = null;
  #state = RUNNING;
  /** Open connections, tracked or not: `clients` itself when `clientTracking` is on. */
  readonly #connections: Set<WS>;
  readonly #topics = new TopicRegistry();
  readonly #heartbeat: Heartbeat;
  /** The listener has been closed (or is closing) and the server detached. */
  #released = false;
  #shutdown: Promise<void> | null = null;
  /** Called when a connection closes or an upgrade ends, while shutdown waits. */
  #onChange: (() => void) | null = null;
  /** Emits 'close' once the last tracked connection has closed (a closed server without a listener of its own, as in ws). */
  #finishWhenEmpty: (() => void) | null = null;
  readonly #onClose = (ws: WebSocket<any>, code: number) => {
    this.#connections.delete(ws as WS);
    this.#topics.unsubscribeAll(ws);
    this.#metrics?.observeClose(code);
    this.#onChange?.();
    if (this.#finishWhenEmpty !== null && this.#connections.size === 0) {
      process.nextTick(this.#finishWhenEmpty);
      this.#finishWhenEmpty = null;
    }
  };
  readonly #deflateOptions: ResolvedDeflateOptions | null;
  /** What every connection of this server shares (its options are read once, here). */
  readonly #shared: SharedSettings;
  #admission: Admission | null;
  readonly #metrics: MetricsRecorder | null;
  readonly #rateLimit: RateLimitConfig | null;
  readonly #tokenExpiry: ((data: Data) => number | null) | null;
  /** Sockets whose upgrade is in progress (reading the request or authenticating). */
  readonly #pending = new Set<Socket>();
  /**
   * Own port: sockets reading their request, oldest first, with the performance.now()
   * by which it must have arrived. The deadlines come in the same order, so one timer,
   * armed for the oldest, serves them all (see #expireReads).
   */
  readonly #reading = new Map<Socket, number>();
  /**
   * Parses requests that arrive whole in the socket's first chunk, as nearly all do;
   * a parser of its own for each socket whose first chunk was not enough (#partial).
   */
  readonly #wholeParser: RequestHeadParser;
  readonly #partial = new Map<Socket, RequestHeadParser>();
  #readTimer: NodeJS.Timeout | null = null;
  /** Resolves the promises of close() and terminate() once the server has closed. */
  readonly #onClosed: Array<() => void> = [];
  /** `handshakeTimeout` in ms, 0 for none. */
  readonly #handshakeTimeout: number;
  /** `authenticateTimeout` in ms; 0, or beyond setTimeout's range, for none. */
  readonly #authenticateTimeout: number;
  /** Shared by every socket reading its request: no closures per connection. */
  readonly #onRequestData: (this: Socket, chunk: Buffer) => void;
  readonly #onRequestClose: (this: Socket) => void;
  /** Refused sockets, answered and ended, that are read until their client closes (see #endAndLinger). */
  readonly #lingering = new Set<Socket>();
  /**
   * The head limits for a request node:http read (attached, noServer). Its
   * `maxHeaderSize`, the application's to set, already bounds the bytes: Volley's byte
   * limits apply only when given. The line count always does: Node 20 drops the lines
   * beyond `maxHeadersCount` instead of refusing the request.
   */
  readonly #readLimits: HeadLimits;
  /** What `#accept` makes connections of (the `WebSocket` option). */
  readonly #WebSocketClass: new (url: null, protocols: undefined, options: Readonly<ServerOptions<Data, WS>>) => WebSocket<any>;

  constructor(options: ServerOptions<Data, WS>, callback?: () => void) {
    super();
    const server = this;
    this.#onRequestData = function (chunk) {
      server.#readChunk(this, chunk);
    };
    this.#onRequestClose = function () {
      server.#endRead(this);
    };
    // As in ws: a `port` of null, a falsy `server` or `noServer` count as not given.
    const modes = Number(options.port != null) + Number(Boolean(options.server)) + Number(Boolean(options.noServer));
    if (modes !== 1) {
      throw new TypeError('exactly one of the "port", "server" or "noServer" options must be given');
    }
    checkBackpressureOptions(options);
    const WebSocketClass = options.WebSocket ?? WebSocket;
    if (WebSocketClass !== WebSocket && !(typeof WebSocketClass === 'function' && (WebSocketClass.prototype as unknown) instanceof WebSocket)) {
      throw new TypeError('the "WebSocket" option must be WebSocket or a class that extends it');
    }
    if (WebSocketClass !== WebSocket) checkSubclass(WebSocketClass);
    this.#WebSocketClass = WebSocketClass;
    this.#connections = (options.clientTracking ?? true) ? this.clients : new Set();
    this.#heartbeat = new Heartbeat(this.#connections, heartbeatSettings(options.heartbeat, true, options.idleTimeout));
    this.options = { ...options };
    this.#wholeParser = new RequestHeadParser(this.options);
    this.#readLimits = {
      maxHeaderBytes: options.maxHeaderBytes ?? Number.POSITIVE_INFINITY,
      maxRequestLineBytes: options.maxRequestLineBytes ?? Number.POSITIVE_INFINITY,
      maxHeaders: options.maxHeaders,
    };
    // Bad options throw here rather than at the first upgrade.
    this.#deflateOptions = options.perMessageDeflate ? resolveDeflateOptions(options.perMessageDeflate) : null;
    this.#admission = Admission.create(options);
    this.#metrics = options.metrics === false ? null : new MetricsRecorder();
    this.#shared = new SharedSettings('server', options, { metrics: this.#metrics, onClose: this.#onClose, registry: this.#topics, heartbeat: this.#heartbeat });
    this.#rateLimit = normalizeRateLimit(options.rateLimit);
    this.#tokenExpiry = tokenExpiryReader(options.closeOnTokenExpiry);
    const timeout = timeoutOption('handshakeTimeout', options.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT);
    this.#authenticateTimeout = timeoutOption('authenticateTimeout', options.authenticateTimeout, DEFAULT_AUTHENTICATE_TIMEOUT);
    // 0, and anything beyond setTimeout's range (about 24.8 days), is no limit, as for
    // authenticateTimeout and node:http's requestTimeout.
    this.#handshakeTimeout = timeout > 0 && timeout <= MAX_TIMER_DELAY ? timeout : 0;
    const metrics = this.#metrics;
    if (metrics !== null) this.#topics.onPublish = (result) => metrics.observePublish(result.sent + result.backpressure);
    if (options.port != null) {
      const listener = createNetServer({ noDelay: true }, (socket) => this.#readRequest(socket));
      this.#listener = listener;
      listener.on('listening', () => {
        // Bound to a loopback address, the default limits have nothing to check.
        const bound = listener.address();
        if (this.#admission !== null && typeof bound === 'object' && bound !== null && this.#admission.isIdleOn(bound.address)) {
          this.#admission = null;
        }
        this.emit('listening');
      });
      listener.on('error', (error) => this.emit('error', error));
      if (callback) this.once('listening', callback);
      listener.listen(options.port, options.host, options.backlog);
    } else if (options.server) {
      const server = options.server;
      this.#httpServer = server;
      let attached = attachedServers.get(server);
      if (attached === undefined) attachedServers.set(server, (attached = []));
      const peers = attached;
      peers.push(this);
      const onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer) => {
        if (!this.shouldHandle(req)) {
          if (!this.#answersUnhandled(peers, server.listeners('upgrade').length, req)) return;
          this.#reject(socket, 400, `no WebSocket endpoint at ${pathOf(req.url)}`, undefined, req);
          return;
        }
        // Servers attached with the same path: the first one attached answers (ws would
        // have each answer, and the second throw out of the 'upgrade' event).
        for (const peer of peers) {
          if (peer === this) break;
          if (peer.shouldHandle(req)) return;
        }
        this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req));
      };
      const onListening = () => this.emit('listening');
      const onError = (error: Error) => this.emit('error', error);
      server.on('upgrade', onUpgrade);
      server.on('listening', onListening);
      server.on('error', onError);
      this.#detach = () => {
        peers.splice(peers.indexOf(this), 1);
        if (peers.length === 0) attachedServers.delete(server);
        server.off('upgrade', onUpgrade);
        server.off('listening', onListening);
        server.off('error', onError);
      };
    }
  }

  /** The bound address of the server's own listener (or of the attached server); null once closed. */
  address(): AddressInfo | string | null {
    if (this.#listener !== null) return this.#listener.address();
    const server = this.#httpServer as HttpServer | null;
    // As in ws: once closed, a server attached to an http server has no address.
    if (server !== null && this.#released) return null;
    if (server !== null && typeof server.address === 'function') return server.address();
    throw new Error('The server is operating in "noServer" mode'); // ws's message
  }

  /**
   * A snapshot of the server's counters: connections, handshakes by outcome, messages
   * and bytes in and out, close codes, dropped messages, ping round trips, publish
   * fan-out. `volley/metrics` renders it for Prometheus.
   *
   * @throws {Error} when the server was created with `metrics: false`.
   */
  metrics(): MetricsSnapshot {
    if (this.#metrics === null) throw new Error('metrics are disabled on this server (metrics: false)');
    return this.#metrics.snapshot();
  }

  /**
   * The live counters behind `metrics()`, for features that report to them
   * (`observePingRtt`, `observePublish`, `observeBackpressureDrop`); null with
   * `metrics: false`.
   */
  get metricsRecorder(): MetricsRecorder | null {
    return this.#metrics;
  }

  /**
   * An attached server's upgrade for a path it does not serve: true when this server
   * answers it (400). Another server attached to the same HTTP server may serve the
   * path, or a listener that is not a WebSocketServer may take the request; otherwise
   * the first attached server answers, so that the request is never left unanswered.
   */
  #answersUnhandled(peers: readonly WebSocketServer<any, any>[], listeners: number, req: IncomingMessage): boolean {
    if (listeners > peers.length) return false;
    if (peers[0] !== this) return false;
    for (const peer of peers) if (peer !== this && peer.shouldHandle(req)) return false;
    return true;
  }

  /** Whether an upgrade request is for this server (its `path`). */
  shouldHandle(req: { url?: string }): boolean {
    const path = this.options.path;
    return path === undefined || pathOf(req.url) === path;
  }

  /**
   * Completes an upgrade: checks its path (`shouldHandle`, 400 otherwise, as in ws),
   * validates the request, runs `authenticate` and `handleProtocols`, answers 101 and
   * calls `callback` with the new WebSocket. A request that fails is answered with an
   * HTTP error and never reaches `callback`.
   *
   * @throws {Error} when an upgrade was already started on `socket` (two servers, or a
   *   server and an `upgrade` listener, answering one request), as in ws.
   */
  handleUpgrade<R extends UpgradeRequest | IncomingMessage>(req: R, duplex: Duplex, head: Buffer, callback: (ws: WS, req: R) => void): void {
    // node:http's 'upgrade' event types its socket as a Duplex (as ws takes it); it is
    // the connection's net.Socket or tls.TLSSocket.
    const socket = duplex as Socket;
    if (!markUpgrade(socket)) {
      throw new Error('server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration');
    }
    socket.on('error', destroySocket);
    // As in ws: `path` (or a subclass's shouldHandle) holds for noServer too.
    if (!this.shouldHandle(req)) {
      this.#reject(socket, 400, `no WebSocket endpoint at ${pathOf(req.url)}`, undefined, req);
      return;
    }
    this.#upgrade(req as UpgradeRequest, socket, head, callback as ConnectionCallback<WS>, false);
  }

  /**
   * `handleUpgrade` for a socket that already has its 'error' listener (destroySocket).
   * `readHere` is true for requests this server read itself: they are within the limits
   * already, and validated from their head as received (see ReadRequest).
   */
  #upgrade(request: UpgradeRequest, socket: Socket, head: Buffer, callback: ConnectionCallback<WS>, readHere: boolean): void {
    if (this.#state !== RUNNING) {
      this.#reject(socket, 503, 'the server is shutting down', undefined, request);
      return;
    }
    if (!readHere) {
      // Requests read by node:http (or given to handleUpgrade): the head limits (see
      // #readLimits) at the same point as on the own port, where the parser enforces
      // them before admission, so a head over them is never counted.
      try {
        checkRequestLimits(request, this.#readLimits);
      } catch (error) {
        this.#refuseInvalid(socket, request, error);
        return;
      }
    }
    // Caps, handshake rate and origin: before anything is allocated for the connection.
    let refusal;
    try {
      refusal = this.#admission?.admit(request, socket) ?? null;
    } catch (error) {
      // An `origins` predicate or `trustProxy` function threw: 500, as for other hooks.
      this.#rejectWith(socket, error, request);
      return;
    }
    if (refusal !== null) {
      this.#rejectWith(socket, refusal, request);
      return;
    }
    let info;
    let deflate: NegotiatedDeflate | null = null;
    try {
      info = readHere ? validateUpgradeHead(request) : validateUpgradeRequest(request);
      if (this.#deflateOptions !== null) deflate = negotiate(info.extensions, this.#deflateOptions);
    } catch (error) {
      this.#refuseInvalid(socket, request, error, readHere);
      return;
    }
    // RFC 9110 §7.8: before the 101 (the hooks may still refuse it: an interim answer).
    if (info.expectContinue) socket.write(CONTINUE_RESPONSE, 'latin1');
    const verifyClient = this.options.verifyClient;
    if (verifyClient === undefined) {
      this.#choose(request, socket, head, info.key, info.protocols, deflate, callback);
      return;
    }
    let verdict: void | Promise<void>;
    try {
      verdict = askVerifyClient(verifyClient, request);
    } catch (error) {
      this.#rejectWith(socket, error, request);
      return;
    }
    const next = (): void => this.#choose(request, socket, head, info.key, info.protocols, deflate, callback);
    if (isPromiseLike(verdict)) this.#whenSettled(socket, verdict, 'verifyClient', next);
    else next();
  }

  /** Answers an upgrade request that failed validation (or the head limits). */
  #refuseInvalid(socket: Socket, request: UpgradeRequest, error: unknown, readHere = false): void {
    // As in ws: with a 'wsClientError' listener, the listener answers an invalid upgrade.
    // On the own port, a request that is no upgrade at all (node:http would not have
    // emitted 'upgrade' for it) is the server's to answer, as ws's own port does (426).
    if (error instanceof HandshakeError && this.listenerCount('wsClientError') > 0 && !(readHere && !isUpgradeAttempt(request))) {
      this.#metrics?.observeHandshakeRejected(error.status);
      try {
        this.emit('wsClientError', error, socket, request);
      } catch (thrown) {
        // Whether the listener answered is unknown: the socket is not left open for ever.
        socket.destroy();
        throwUncaught(thrown);
      }
      return;
    }
    this.#rejectWith(socket, error, request);
  }

  /** The request is valid and verified: chooses the subprotocol, then authenticates and accepts. */
  #choose(
    request: UpgradeRequest,
    socket: Socket,
    head: Buffer,
    key: string,
    protocols: readonly string[],
    deflate: NegotiatedDeflate | null,
    callback: ConnectionCallback<WS>,
  ): void {
    let protocol: string | undefined;
    if (protocols.length > 0 && this.options.handleProtocols !== undefined) {
      try {
        const chosen = this.options.handleProtocols(new Set(protocols), request);
        // As in ws: any falsy choice (false, undefined, null, '') selects none.
        if (chosen) {
          // RFC 6455 §4.2.2: the server selects one of the values the client offered.
          if (!protocols.includes(chosen)) {
            throw new Error(`handleProtocols chose "${chosen}", which the client did not offer`);
          }
          protocol = chosen;
        }
      } catch (error) {
        this.#rejectWith(socket, error, request);
        return;
      }
    } else if (protocols.length > 0 && this.options.handleProtocols === undefined) {
      // Like ws: without a chooser, the first offered subprotocol is selected.
      protocol = protocols[0];
    }
    const authenticate = this.options.authenticate;
    if (authenticate === undefined) {
      this.#accept(request, socket, head, key, protocol, deflate, undefined as Data, callback);
      return;
    }
    let result: Data | Promise<Data>;
    try {
      result = authenticate(request);
    } catch (error) {
      this.#rejectWith(socket, error, request);
      return;
    }
    if (!isPromiseLike(result)) {
      this.#accept(request, socket, head, key, protocol, deflate, result, callback);
      return;
    }
    this.#whenSettled(socket, result, 'authenticate', (data) => this.#accept(request, socket, head, key, protocol, deflate, data, callback));
  }

  /**
   * Waits for a hook's promise (`what` names the hook), then goes on with `then`. The
   * socket may close, the hook take too long (authenticateTimeout), or the server shut
   * down meanwhile: whichever comes first settles the upgrade. Bytes that arrive
   * meanwhile stay in the socket until the WebSocket takes it over.
   */
  #whenSettled<T>(socket: Socket, promise: Promise<T>, what: string, then: (value: T) => void): void {
    if (socket.destroyed) {
      // Gone before the hook was asked (handleUpgrade called late): its 'close', which
      // would settle the upgrade, may have come already. Nothing is kept waiting for it,
      // and a later rejection of the hook is not left unhandled.
      Promise.resolve(promise).catch(() => {});
      return;
    }
    socket.pause();
    this.#pending.add(socket);
    const limit = this.#authenticateTimeout;
    // Beyond setTimeout's range (about 24.8 days) there is no limit rather than 1 ms.
    const timer =
      limit > 0 && limit <= MAX_TIMER_DELAY
        ? setTimeout(() => {
            if (settle()) this.#reject(socket, 503, `${what} did not settle within ${limit} ms`);
          }, limit)
        : undefined;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      this.#endPending(socket);
      socket.off('close', onClose);
      socket.off('end', onEnd);
      return !socket.destroyed;
    };
    const onClose = () => {
      settle(); // dropped cleanly: no late 101
    };
    // A client that half-closes has gone: node:http's sockets allow half-open
    // connections, so only its FIN says so (the own port's socket closes itself).
    const onEnd = () => socket.destroy();
    socket.once('close', onClose);
    socket.once('end', onEnd);
    const onRejected = (error: unknown): void => {
      // What the application's 'error' listener throws is uncaught, as after a synchronous hook.
      if (settle()) callApplication(() => this.#rejectWith(socket, error));
    };
    try {
      promise.then(
        (value) => {
          if (!settle()) return;
          if (this.#state !== RUNNING) {
            this.#reject(socket, 503, 'the server is shutting down');
            return;
          }
          // What the application's 'connection' listener or handleUpgrade callback
          // throws is uncaught, as after a synchronous authenticate (not a rejection
          // here, nor lost to the catch below for a synchronous thenable).
          callApplication(() => then(value));
        },
        onRejected,
      );
    } catch (error) {
      // A thenable whose `then` throws: a rejection.
      onRejected(error);
    }
  }

  #accept(
    req: UpgradeRequest,
    socket: Socket,
    head: Buffer,
    key: string,
    protocol: string | undefined,
    deflate: NegotiatedDeflate | null,
    data: Data,
    callback: ConnectionCallback<WS>,
  ): void {
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    if (this.#state !== RUNNING) {
      // close() or terminate() called from a synchronous hook of this very upgrade: the
      // shutdown has gone over the connections already and would never close this one.
      this.#reject(socket, 503, 'the server is shutting down');
      return;
    }
    let response: string | Buffer;
    let expiresAt: number | null = null;
    try {
      expiresAt = this.#tokenExpiry?.(data) ?? null;
      if (expiresAt !== null && !Number.isFinite(expiresAt)) throw new RangeError(`closeOnTokenExpiry gave ${expiresAt}, not a time in ms`);
      response = this.#buildResponse(req, key, protocol, deflate?.header);
    } catch (error) {
      this.#rejectWith(socket, error);
      return;
    }
    socket.off('error', destroySocket);
    socket.write(response, 'latin1'); // as node:http writes heads (a Buffer is bytes already)
    this.#admission?.upgraded(socket);
    // With ws's arguments: a subclass may read the server's options from the third.
    const ws = new this.#WebSocketClass(null, undefined, this.options) as WS;
    ws.data = data;
    const metrics = this.#metrics;
    ws[kAttach](
      socket,
      head,
      this.#shared,
      protocol,
      deflate?.header,
      deflate === null ? null : new PerMessageDeflate(deflate.params, { role: 'server', ...this.#deflateOptions }),
      this.#rateLimit === null ? null : new MessageLimiter(this.#rateLimit, metrics),
    );
    if (metrics !== null) {
      metrics.handshakesAccepted++;
      metrics.connectionsOpened++;
    }
    this.#connections.add(ws);
    this.#heartbeat.start();
    if (expiresAt !== null) ws.reauthenticate(expiresAt);
    callback(ws, req);
  }

  #endPending(socket: Socket): void {
    this.#pending.delete(socket);
    this.#onChange?.();
  }

  #buildResponse(req: UpgradeRequest, key: string, protocol: string | undefined, extensions: string | undefined): string | Buffer {
    const option = this.options.headers;
    if (option === undefined && protocol === undefined && extensions === undefined && this.listenerCount('headers') === 0) {
      const plain = plainAcceptResponse(key);
      if (plain !== null) return plain;
    }
    const extra = typeof option === 'function' ? option(req) : option;
    const response = buildAcceptResponse({ key, protocol, extensions, headers: extra });
    if (this.listenerCount('headers') === 0) return response;
    // ws compatibility: listeners get the response lines and may push more.
    const lines = response.slice(0, -4).split('\r\n');
    this.emit('headers', lines, req);
    for (const line of lines) {
      if (/[\r\n\0]/.test(line)) throw new TypeError('a header line added in the headers event contains CR, LF or NUL');
      // Written as latin1, as node:http writes heads (see checkValue in the handshake).
      if (/[^\t\x20-\x7e\x80-\xff]/.test(line)) throw new TypeError('a header line added in the headers event holds a control character or one above U+00FF');
    }
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  #rejectWith(socket: Socket, error: unknown, request?: { method?: string }): void {
    if (error instanceof HandshakeError) {
      this.#reject(socket, error.status, error.message, error.headers, request);
    } else {
      // Not a deliberate rejection: a bug in a hook. Say nothing about it on the wire.
      this.#reject(socket, 500, 'internal server error', undefined, request);
      if (this.listenerCount('error') > 0) this.emit('error', error);
    }
  }

  /** `request`, when known: the answer to a HEAD request has no body (RFC 9110 §9.3.2). */
  #reject(socket: Socket, status: number, message: string, headers?: Record<string, string>, request?: { method?: string }): void {
    if (socket.destroyed) return;
    let response: string;
    try {
      response = buildErrorResponse(status, message, headers);
    } catch (error) {
      // A HandshakeError from a hook that cannot be sent (a header value with CR or LF,
      // a status that is no refusal; an UpgradeError cannot be made so): a bug to
      // report, not bytes to write.
      status = 500;
      response = buildErrorResponse(500, 'internal server error');
      if (this.listenerCount('error') > 0) this.emit('error', error);
    }
    // The head as latin1 (as node:http writes heads), the body (the message) as UTF-8.
    const headEnd = response.indexOf('\r\n\r\n') + 4;
    const head = Buffer.from(response.slice(0, headEnd), 'latin1');
    const bytes = request?.method === 'HEAD' ? head : Buffer.concat([head, Buffer.from(response.slice(headEnd))]);
    this.#metrics?.observeHandshakeRejected(status);
    // The peer may reset the connection while the answer is written: that error must
    // not escape as an uncaught exception (the own-port paths have removed theirs).
    if (socket.listenerCount('error') === 0) socket.on('error', destroySocket);
    this.#endAndLinger(socket, bytes);
  }

  /**
   * Writes a refusal and ends the socket. What the client sends meanwhile is read and
   * discarded until it closes its side, for at most REFUSAL_LINGER ms: closing a socket
   * with unread input makes TCP send a reset, which can make the client lose the answer
   * (a client still sending its request, or more than the limits allow).
   */
  #endAndLinger(socket: Socket, response: string | Buffer): void {
    const lingering = this.#lingering;
    lingering.add(socket);
    // A deadline, not an idle timeout: a client that keeps sending must not keep the
    // socket (and the slot it holds under maxConnections) open.
    const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER);
    socket.once('close', () => {
      clearTimeout(timer);
      lingering.delete(socket);
    });
    socket.resume();
    socket.end(response);
  }

  /** Own port: reads the upgrade request from the raw socket, bounded in size and time. */
  #readRequest(socket: Socket): void {
    // While a graceful close waits for clients, new requests are still read: they are
    // answered 503.
    if (this.#released) {
      socket.destroy();
      return;
    }
    // Counted from TCP accept: connections still sending their request hold a slot.
    let refusal;
    try {
      refusal = this.#admission?.accept(socket) ?? null;
    } catch (error) {
      // A `trustProxy` function threw: nothing was counted for this socket.
      this.#refuseAtAccept(socket, new HandshakeError(500, 'internal server error'));
      if (this.listenerCount('error') > 0) this.emit('error', error);
      return;
    }
    if (refusal !== null) {
      this.#refuseAtAccept(socket, refusal);
      return;
    }
    const timeout = this.#handshakeTimeout;
    this.#reading.set(socket, timeout === 0 ? Infinity : performance.now() + timeout);
    this.#pending.add(socket);
    // One timer for every read in progress instead of a timer per socket; unref'd, as
    // the sockets it watches keep the process alive themselves.
    if (this.#readTimer === null && timeout !== 0) this.#armReadTimer(timeout);
    socket.on('error', destroySocket);
    socket.on('data', this.#onRequestData);
    socket.on('close', this.#onRequestClose);
  }

  #readChunk(socket: Socket, chunk: Buffer): void {
    let parser = this.#partial.size === 0 ? undefined : this.#partial.get(socket);
    let head;
    try {
      if (parser === undefined) {
        head = this.#wholeParser.parseWhole(chunk);
        if (head === null) {
          parser = new RequestHeadParser(this.options);
          this.#partial.set(socket, parser);
          head = parser.push(chunk);
        }
      } else {
        head = parser.push(chunk);
      }
    } catch (error) {
      this.#endRead(socket);
      this.#rejectWith(socket, error);
      return;
    }
    if (head === null) return;
    this.#endRead(socket);
    let rest: Buffer;
    if (parser !== undefined) rest = parser.rest!;
    else rest = head.headBytes === chunk.length ? NO_BYTES : chunk.subarray(head.headBytes);
    // Hold the bytes that came after the request (and any that follow) in the socket
    // until the WebSocket takes it over. Without such bytes there is nothing to hold:
    // the upgrade either completes within this call or pauses the socket itself.
    if (rest.length > 0) socket.pause();
    const req = new ReadRequest(head, socket);
    if (!this.shouldHandle(req)) {
      this.#reject(socket, 400, `no WebSocket endpoint at ${pathOf(req.url)}`, undefined, req);
      return;
    }
    this.#upgrade(req, socket, rest, (ws) => this.emit('connection', ws, req), true);
  }

  /** The request of `socket` is read, refused or abandoned: stop reading it. Keeps its 'error' listener. */
  #endRead(socket: Socket): void {
    if (!this.#reading.delete(socket)) return;
    if (this.#partial.size > 0) this.#partial.delete(socket);
    socket.off('data', this.#onRequestData);
    socket.off('close', this.#onRequestClose);
    this.#endPending(socket);
  }

  #armReadTimer(delay: number): void {
    this.#readTimer = setTimeout(this.#expireReads, delay);
    this.#readTimer.unref();
  }

  /** Answers 408 to the requests whose time is up, then waits for the oldest left. */
  readonly #expireReads = (): void => {
    this.#readTimer = null;
    const now = performance.now();
    for (const [socket, deadline] of this.#reading) {
      if (deadline > now) {
        this.#armReadTimer(deadline - now);
        return;
      }
      this.#endRead(socket);
      this.#reject(socket, 408, 'the upgrade request was not received in time');
    }
  };

  /**
   * Answers a connection refused at TCP accept (too many upgrades in progress from its
   * address) without reading its request: the answer is written and the socket ended
   * at once (see #endAndLinger).
   */
  #refuseAtAccept(socket: Socket, refusal: HandshakeError): void {
    this.#metrics?.observeHandshakeRejected(refusal.status);
    socket.on('error', destroySocket);
    this.#endAndLinger(socket, buildErrorResponse(refusal.status, refusal.message, refusal.headers)); // ASCII: the server's own
  }

  // ---- Topics and broadcast ------------------------------------------------------

  /**
   * Sends `data` to every open connection subscribed to `topic`. The message is framed
   * once and the same bytes are queued for every subscriber; each one gets it in order
   * with whatever else is sent to it. Subscribers over their `maxBackpressure` do not
   * get it (see `backpressurePolicy`).
   *
   * @param topic an exact string (no wildcards)
   * @param data a string (text), binary data, or a `PreparedMessage`
   * @param options `binary` to choose the message type
   * @returns per-call counts of recipients: `{ sent, backpressure, dropped }`
   * @example
   * wss.on('connection', (ws) => ws.subscribe('news'));
   * wss.publish('news', JSON.stringify({ headline }));
   */
  publish(topic: string, data: PrepareData | PreparedMessage, options?: PublishOptions): PublishResult {
    return this.#topics.publish(topic, data, options, null);
  }

  /**
   * Sends `data` to every open connection (but `options.except`), framed once.
   *
   * @returns per-call counts of recipients: `{ sent, backpressure, dropped }`
   */
  broadcast(data: PrepareData | PreparedMessage, options?: BroadcastOptions): PublishResult {
    const result = broadcast(this.#connections, data, options, options?.except ?? null);
    this.#metrics?.observePublish(result.sent + result.backpressure);
    return result;
  }

  /** Number of connections subscribed to `topic`. */
  subscriberCount(topic: string): number {
    return this.#topics.subscriberCount(topic);
  }

  // ---- Closing -------------------------------------------------------------------

  /**
   * With a callback (the `ws` signature): stops accepting connections and closes the
   * server's own listener (an attached http server is left running). Open connections
   * are not closed, as in `ws`: close them, or use the graceful form or `terminate`.
   * As in `ws`, 'close' is emitted (and `callback` called) once they have all closed
   * (at once with `clientTracking: false` and no listener of its own), and `callback`
   * gets an error when the server was closed already. Upgrades in progress are answered
   * 503, as in `ws`, once their request is read or their hook settles.
   */
  close(callback: (error?: Error) => void): void;
  /**
   * Graceful shutdown: stops accepting (new upgrades are answered 503), sends every
   * client a close frame with `code` (default 1001) and `reason`, waits for their close
   * frames and for upgrades in progress, terminates whatever is left after `timeout` ms
   * (default 5 000), closes the server's own listener (an attached http server is only
   * detached from), then resolves. Calling it again returns the same promise.
   *
   * Unlike `ws`'s `close()`, this closes the clients.
   *
   * @throws {RangeError} (synchronously) for a code that may not be sent, a reason
   *   over 123 bytes or a negative timeout.
   * @example
   * process.on('SIGTERM', async () => { await wss.close({ reason: 'restarting' }); process.exit(0); });
   */
  close(options?: GracefulCloseOptions): Promise<void>;
  close(arg?: ((error?: Error) => void) | GracefulCloseOptions): void | Promise<void> {
    if (typeof arg === 'function') {
      this.#closeListener(arg);
      return;
    }
    if (this.#shutdown !== null) return this.#shutdown;
    const settings = shutdownSettings(arg);
    if (this.#state === RUNNING) this.#state = CLOSING;
    this.#shutdown = closeConnections(
      { connections: this.#connections, pending: this.#pending, onChange: (listener) => (this.#onChange = listener) },
      settings,
    ).then(() => {
      this.#heartbeat.stop();
      return this.#release();
    });
    return this.#shutdown;
  }

  /**
   * Immediate shutdown: destroys every connection (each reports 1006) and upgrade in
   * progress, and closes the server's own listener. Resolves once it is closed.
   */
  terminate(): Promise<void> {
    if (this.#state === RUNNING) this.#state = CLOSING;
    this.#heartbeat.stop();
    for (const ws of this.#connections) ws.terminate();
    for (const socket of this.#pending) socket.destroy();
    for (const socket of this.#lingering) socket.destroy();
    return this.#release();
  }

  #closeListener(callback: (error?: Error) => void): void {
    if (this.#state === CLOSED) {
      process.nextTick(() => callback(new Error('The server is not running')));
      return;
    }
    this.once('close', () => callback());
    if (this.#state !== RUNNING) return;
    this.#state = CLOSING;
    // As in ws, upgrades in progress are answered 503 (when their request is read, or
    // their verifyClient or authenticate settles) rather than cut off.
    void this.#release(false);
  }

  /**
   * Detaches and closes the own listener; resolves on 'close'. `destroyPending`: upgrades
   * in progress and refusals still being written are destroyed; otherwise they end on
   * their own (answered 503, or at their timeouts) and the own listener waits for them.
   */
  #release(destroyPending = true): Promise<void> {
    if (this.#state === CLOSED) return Promise.resolve();
    // Resolved where 'close' is emitted, not by a listener of it: one of the
    // application's that throws first must not leave the promise pending.
    const closed = new Promise<void>((resolve) => this.#onClosed.push(resolve));
    if (this.#released) return closed;
    this.#released = true;
    this.#detach?.();
    this.#detach = null;
    if (destroyPending) {
      for (const socket of this.#pending) socket.destroy();
      this.#pending.clear();
      if (this.#readTimer !== null) clearTimeout(this.#readTimer);
      this.#readTimer = null;
      for (const socket of this.#lingering) socket.destroy();
    }
    const finish = () => {
      this.#state = CLOSED;
      for (const resolve of this.#onClosed.splice(0)) resolve();
      this.emit('close');
    };
    // The own listener closes once its connections have; otherwise, as in ws, 'close'
    // waits for the tracked connections.
    if (this.#listener !== null) this.#listener.close(() => finish());
    else if (this.#connections === this.clients && this.clients.size > 0) this.#finishWhenEmpty = finish;
    else process.nextTick(finish);
    return closed;
  }
}

/**
 * A request this server read itself. Like Node's `IncomingMessage`, it builds `headers`
 * (with node:http's rules for repeated names: see `incomingHeaderRecord`) and
 * `headersDistinct` from `rawHeaders` when first read, and `rawHeaders` are cut from the
 * head's text when first read: the upgrade is validated from the head's lines in place
 * (`visitHeaders`), so a handshake whose hooks never look at the headers makes strings
 * only of the few it needs.
 */
class ReadRequest implements UpgradeRequest {
  method: string;
  url: string;
  httpVersion: string;
  socket: Socket;
  readonly #head: RequestHead;
  #rawHeaders: string[] | undefined;
  #headers: IncomingHttpHeaders | undefined;
  #headersDistinct: Record<string, string[] | undefined> | undefined;

  constructor(head: RequestHead, socket: Socket) {
    this.method = head.method;
    this.url = head.target;
    this.httpVersion = head.httpVersion;
    this.socket = socket;
    this.#head = head;
  }

  // The parser takes versions of one digit each, "DIGIT.DIGIT".
  /** 1 for HTTP/1.1, as `IncomingMessage.httpVersionMajor`. */
  get httpVersionMajor(): number {
    return this.httpVersion.charCodeAt(0) - 0x30;
  }

  /** 1 for HTTP/1.1, as `IncomingMessage.httpVersionMinor`. */
  get httpVersionMinor(): number {
    return this.httpVersion.charCodeAt(2) - 0x30;
  }

  /** `socket`, under the older name `IncomingMessage` still has (code from `ws` reads `req.connection.remoteAddress`). */
  get connection(): Socket {
    return this.socket;
  }

  set connection(socket: Socket) {
    this.socket = socket;
  }

  get rawHeaders(): string[] {
    return (this.#rawHeaders ??= this.#head.rawHeaders);
  }

  set rawHeaders(rawHeaders: string[]) {
    this.#rawHeaders = rawHeaders;
  }

  get headers(): IncomingHttpHeaders {
    return (this.#headers ??= incomingHeaderRecord(this.rawHeaders) as IncomingHttpHeaders);
  }

  set headers(headers: IncomingHttpHeaders) {
    this.#headers = headers;
  }

  get headersDistinct(): Record<string, string[] | undefined> {
    return (this.#headersDistinct ??= distinctHeaderRecord(this.rawHeaders));
  }

  set headersDistinct(headers: Record<string, string[] | undefined>) {
    this.#headersDistinct = headers;
  }

  /** The header lines as received (see `HeaderVisitor`). */
  visitHeaders(visitor: HeaderVisitor): void {
    this.#head.visitHeaders(visitor);
  }
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  if (url[0] !== '/') {
    // The absolute form (RFC 9112 §3.2.2: "GET http://host/chat HTTP/1.1"), which a
    // server must accept: its path.
    const authority = ABSOLUTE_FORM.exec(url);
    if (authority !== null) {
      url = url.slice(authority[0].length);
      if (url === '' || url[0] === '?') return '/';
    }
  }
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** The scheme and authority of an absolute-form request target. */
const ABSOLUTE_FORM = /^[a-z][a-z\d+.-]*:\/\/[^/?]*/i;

/** Whether node:http takes `req` for an upgrade: an `Upgrade` header, and `upgrade` in `Connection`. */
function isUpgradeAttempt(req: UpgradeRequest): boolean {
  const { upgrade, connection } = req.headers;
  return upgrade !== undefined && typeof connection === 'string' && /(?:^|,)\s*upgrade\s*(?:,|$)/i.test(connection);
}

function destroySocket(this: Socket): void {
  this.destroy();
}

/**
 * Asks `ws`'s `verifyClient` hook about `req`: returns when it accepts, throws the
 * refusal (an UpgradeError) when it refuses; a promise of either when it answers later.
 */
function askVerifyClient(verify: VerifyClient, req: UpgradeRequest): void | Promise<void> {
  const origin = req.headers.origin;
  const socket = req.socket as Socket & { authorized?: boolean; encrypted?: boolean };
  const info: VerifyClientInfo = { origin: Array.isArray(origin) ? origin[0] : origin, secure: Boolean(socket.authorized || socket.encrypted), req };
  if (verify.length >= 2) {
    return new Promise((resolve, reject) => {
      (verify as (info: VerifyClientInfo, callback: VerifyClientCallback) => void)(info, (verified, code, message, headers) => {
        if (verified) resolve();
        else reject(verifyClientRefusal(code, message, headers));
      });
    });
  }
  const verdict = (verify as (info: VerifyClientInfo) => boolean | Promise<boolean>)(info);
  if (isPromiseLike(verdict)) {
    return verdict.then((verified) => {
      if (!verified) throw verifyClientRefusal();
    });
  }
  if (!verdict) throw verifyClientRefusal();
}

/** The answer to an upgrade `verifyClient` refused: as `ws` answers it, `code` or 401 with the status text as the body. */
function verifyClientRefusal(code?: number, message?: string, headers?: Record<string, string>): Error {
  const status = code || 401;
  try {
    return new UpgradeError(status, message || (STATUS_TEXT[status] ?? 'refused'), headers);
  } catch (error) {
    // A refusal that cannot be sent (a status that is no refusal, a header with CR or
    // LF) is a bug in the hook: answered 500 and reported, as a throw from it is.
    return error as Error;
  }
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return value !== null && typeof value === 'object' && typeof (value as any).then === 'function';
}

export { WebSocketError };
