/**
 * WebSocketServer: accepts upgrades on its own port, on an existing http/https server,
 * or through `handleUpgrade` (noServer), and turns them into WebSocket connections.
 *
 * On its own port the server reads the upgrade request itself from the raw socket
 * (src/protocol/http.ts) with bounded size, header count and time; plain HTTP requests
 * there are answered 426. Attached to an http server it answers that server's
 * `upgrade` events.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { HandshakeError, WebSocketError } from '../protocol/errors.js';
import { buildAcceptResponse, buildErrorResponse, validateUpgradeRequest } from '../protocol/handshake.js';
import { RequestHeadParser, type HeadLimits } from '../protocol/http.js';
import { WebSocket, kAttach, kOnClose, type WebSocketOptions } from './websocket.js';
import { tokenExpiryReader, type TokenExpiryOption } from '../auth/expiry.js';
import { Admission, type AdmissionOptions } from '../limits/admission.js';
import { MetricsRecorder, type MetricsSnapshot } from '../metrics/recorder.js';
import { MessageLimiter, normalizeRateLimit, type RateLimitConfig, type RateLimitOptions } from '../rate-limit/message-limiter.js';

/**
 * Throw from `authenticate` (or `handleProtocols`) to answer the upgrade with an HTTP
 * error instead of a WebSocket: 401 with `WWW-Authenticate`, 403, 429, ...
 *
 * @example
 * throw new UpgradeError(401, 'token required', { 'WWW-Authenticate': 'Bearer' });
 */
export class UpgradeError extends HandshakeError {
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(status, message, headers);
  }
}

/** The request an upgrade arrived with: an `IncomingMessage`, or on the server's own port a light equivalent. */
export interface UpgradeRequest {
  method: string;
  url: string;
  httpVersion: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  socket: Socket;
}

export interface ServerOptions<Data = unknown> extends WebSocketOptions, HeadLimits, AdmissionOptions<UpgradeRequest> {
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
  /** Picks a subprotocol from those offered (in the client's order); return false for none. */
  handleProtocols?: (protocols: Set<string>, req: UpgradeRequest) => string | false;
  /** Extra response headers for every accepted upgrade, or a function returning them. */
  headers?: Record<string, string> | ((req: UpgradeRequest) => Record<string, string>);
  /** Keep the set of open connections in `clients`. Default true. */
  clientTracking?: boolean;
  /** Milliseconds a client has to send its whole upgrade request (own port only). Default 10 000. */
  handshakeTimeout?: number;
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
}

type ConnectionCallback<Data> = (ws: WebSocket<Data>, req: UpgradeRequest) => void;

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;

export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/**
 * A WebSocket server.
 *
 * @typeParam Data the type of `ws.data`, what `authenticate` returns.
 * @example
 * const wss = new WebSocketServer({ port: 8080 });
 * wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
 */
export class WebSocketServer<Data = unknown> extends EventEmitter {
  /** Open connections (when `clientTracking` is on). */
  readonly clients: Set<WebSocket<Data>> = new Set();
  readonly options: Readonly<ServerOptions<Data>>;

  #listener: NetServer | null = null;
  #httpServer: ServerOptions<Data>['server'] | null = null;
  #detach: (() => void) | null = null;
  #state = RUNNING;
  #tracking: boolean;
  readonly #onClose = (ws: WebSocket<any>, code: number) => {
    this.clients.delete(ws);
    this.#metrics?.observeClose(code);
  };
  readonly #admission: Admission | null;
  readonly #metrics: MetricsRecorder | null;
  readonly #rateLimit: RateLimitConfig | null;
  readonly #tokenExpiry: ((data: Data) => number | null) | null;
  /** Sockets whose upgrade is in progress (reading the request or authenticating). */
  readonly #pending = new Set<Socket>();

  constructor(options: ServerOptions<Data>, callback?: () => void) {
    super();
    const modes = Number(options.port !== undefined) + Number(options.server !== undefined) + Number(options.noServer === true);
    if (modes !== 1) {
      throw new TypeError('exactly one of the "port", "server" or "noServer" options must be given');
    }
    this.options = { ...options };
    this.#tracking = options.clientTracking ?? true;
    this.#admission = Admission.create(options);
    this.#metrics = options.metrics === false ? null : new MetricsRecorder();
    this.#rateLimit = normalizeRateLimit(options.rateLimit);
    this.#tokenExpiry = tokenExpiryReader(options.closeOnTokenExpiry);
    if (options.port !== undefined) {
      const listener = createNetServer({ noDelay: true }, (socket) => this.#readRequest(socket));
      this.#listener = listener;
      listener.on('listening', () => this.emit('listening'));
      listener.on('error', (error) => this.emit('error', error));
      if (callback) this.once('listening', callback);
      listener.listen(options.port, options.host, options.backlog);
    } else if (options.server !== undefined) {
      const server = options.server;
      this.#httpServer = server;
      const onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer) => {
        if (!this.shouldHandle(req)) {
          // Leave it to another upgrade handler if there is one.
          if (server.listeners('upgrade').length > 1) return;
          this.#reject(socket, 400, `no WebSocket endpoint at ${pathOf(req.url)}`);
          return;
        }
        this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req));
      };
      const onListening = () => this.emit('listening');
      const onError = (error: Error) => this.emit('error', error);
      server.on('upgrade', onUpgrade);
      server.on('listening', onListening);
      server.on('error', onError);
      this.#detach = () => {
        server.off('upgrade', onUpgrade);
        server.off('listening', onListening);
        server.off('error', onError);
      };
    }
  }

  /** The bound address of the server's own listener (or of the attached server). */
  address(): AddressInfo | string | null {
    if (this.#listener !== null) return this.#listener.address();
    const server = this.#httpServer as HttpServer | null;
    if (server !== null && typeof server.address === 'function') return server.address();
    throw new Error('the server is in noServer mode: it has no address');
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

  /** Whether an upgrade request is for this server (its `path`). */
  shouldHandle(req: { url?: string }): boolean {
    const path = this.options.path;
    return path === undefined || pathOf(req.url) === path;
  }

  /**
   * Completes an upgrade: validates the request, runs `authenticate` and
   * `handleProtocols`, answers 101 and calls `callback` with the new WebSocket. A
   * request that fails is answered with an HTTP error and never reaches `callback`.
   */
  handleUpgrade(req: UpgradeRequest | IncomingMessage, socket: Socket, head: Buffer, callback: ConnectionCallback<Data>): void {
    socket.on('error', destroySocket);
    const request = req as UpgradeRequest;
    if (this.#state !== RUNNING) {
      this.#reject(socket, 503, 'the server is shutting down');
      return;
    }
    // Caps, handshake rate and origin: before anything is allocated for the connection.
    const refusal = this.#admission?.admit(request, socket) ?? null;
    if (refusal !== null) {
      this.#rejectWith(socket, refusal);
      return;
    }
    let info;
    try {
      info = validateUpgradeRequest(request);
    } catch (error) {
      this.#rejectWith(socket, error);
      return;
    }
    let protocol: string | undefined;
    if (info.protocols.length > 0 && this.options.handleProtocols !== undefined) {
      try {
        const chosen = this.options.handleProtocols(new Set(info.protocols), request);
        if (chosen !== false && chosen !== undefined) {
          // RFC 6455 §4.2.2: the server selects one of the values the client offered.
          if (!info.protocols.includes(chosen)) {
            throw new Error(`handleProtocols chose "${chosen}", which the client did not offer`);
          }
          protocol = chosen;
        }
      } catch (error) {
        this.#rejectWith(socket, error);
        return;
      }
    } else if (info.protocols.length > 0 && this.options.handleProtocols === undefined) {
      // Like ws: without a chooser, the first offered subprotocol is selected.
      protocol = info.protocols[0];
    }
    const key = info.key;
    const authenticate = this.options.authenticate;
    if (authenticate === undefined) {
      this.#accept(request, socket, head, key, protocol, undefined as Data, callback);
      return;
    }
    let result: Data | Promise<Data>;
    try {
      result = authenticate(request);
    } catch (error) {
      this.#rejectWith(socket, error);
      return;
    }
    if (!isPromiseLike(result)) {
      this.#accept(request, socket, head, key, protocol, result, callback);
      return;
    }
    // Asynchronous: the socket may close, or the server shut down, while we wait.
    this.#pending.add(socket);
    let closed = false;
    const onClose = () => {
      closed = true;
    };
    socket.once('close', onClose);
    result.then(
      (data) => {
        this.#pending.delete(socket);
        socket.off('close', onClose);
        if (closed || socket.destroyed) return; // dropped cleanly: no late 101
        if (this.#state !== RUNNING) {
          this.#reject(socket, 503, 'the server is shutting down');
          return;
        }
        this.#accept(request, socket, head, key, protocol, data, callback);
      },
      (error: unknown) => {
        this.#pending.delete(socket);
        socket.off('close', onClose);
        if (closed || socket.destroyed) return;
        this.#rejectWith(socket, error);
      },
    );
  }

  #accept(
    req: UpgradeRequest,
    socket: Socket,
    head: Buffer,
    key: string,
    protocol: string | undefined,
    data: Data,
    callback: ConnectionCallback<Data>,
  ): void {
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    let response: string;
    let expiresAt: number | null = null;
    try {
      expiresAt = this.#tokenExpiry?.(data) ?? null;
      if (expiresAt !== null && !Number.isFinite(expiresAt)) throw new RangeError(`closeOnTokenExpiry gave ${expiresAt}, not a time in ms`);
      response = this.#buildResponse(req, key, protocol);
    } catch (error) {
      this.#rejectWith(socket, error);
      return;
    }
    socket.off('error', destroySocket);
    socket.write(response);
    const ws = new WebSocket<Data>(null);
    ws.data = data;
    const metrics = this.#metrics;
    ws[kAttach](socket, head, {
      role: 'server',
      protocol,
      maxPayload: this.options.maxPayload,
      closeTimeout: this.options.closeTimeout,
      autoPong: this.options.autoPong,
      fragmentOverhead: this.options.fragmentOverhead,
      metrics,
      rateLimiter: this.#rateLimit === null ? null : new MessageLimiter(this.#rateLimit, metrics),
    });
    if (metrics !== null) {
      metrics.handshakesAccepted++;
      metrics.connectionsOpened++;
    }
    if (this.#tracking) this.clients.add(ws);
    ws[kOnClose] = this.#onClose;
    if (expiresAt !== null) ws.reauthenticate(expiresAt);
    callback(ws, req);
  }

  #buildResponse(req: UpgradeRequest, key: string, protocol: string | undefined): string {
    const option = this.options.headers;
    const extra = typeof option === 'function' ? option(req) : option;
    const response = buildAcceptResponse({ key, protocol, headers: extra });
    if (this.listenerCount('headers') === 0) return response;
    // ws compatibility: listeners get the response lines and may push more.
    const lines = response.slice(0, -4).split('\r\n');
    this.emit('headers', lines, req);
    for (const line of lines) {
      if (/[\r\n\0]/.test(line)) throw new TypeError('a header line added in the headers event contains CR, LF or NUL');
    }
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  #rejectWith(socket: Socket, error: unknown): void {
    if (error instanceof HandshakeError) {
      this.#reject(socket, error.status, error.message, error.headers);
    } else {
      // Not a deliberate rejection: a bug in a hook. Say nothing about it on the wire.
      this.#reject(socket, 500, 'internal server error');
      if (this.listenerCount('error') > 0) this.emit('error', error);
    }
  }

  #reject(socket: Socket, status: number, message: string, headers?: Record<string, string>): void {
    if (socket.destroyed) return;
    let response: string;
    try {
      response = buildErrorResponse(status, message, headers);
    } catch {
      status = 500;
      response = buildErrorResponse(500, 'internal server error');
    }
    this.#metrics?.observeHandshakeRejected(status);
    // The peer may reset the connection while the answer is written: that error must
    // not escape as an uncaught exception (the own-port paths have removed theirs).
    if (socket.listenerCount('error') === 0) socket.on('error', destroySocket);
    socket.once('finish', () => socket.destroy());
    socket.end(response);
  }

  /** Own port: reads the upgrade request from the raw socket, bounded in size and time. */
  #readRequest(socket: Socket): void {
    if (this.#state !== RUNNING) {
      socket.destroy();
      return;
    }
    // Counted from TCP accept: connections still sending their request hold a slot.
    this.#admission?.accept(socket);
    const parser = new RequestHeadParser(this.options);
    this.#pending.add(socket);
    const timer = setTimeout(() => {
      cleanup();
      this.#reject(socket, 408, 'the upgrade request was not received in time');
    }, this.options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT);
    const cleanup = () => {
      clearTimeout(timer);
      this.#pending.delete(socket);
      socket.off('data', onData);
      socket.off('close', cleanup);
      socket.off('error', destroySocket);
    };
    const onData = (chunk: Buffer) => {
      let head;
      try {
        head = parser.push(chunk);
      } catch (error) {
        cleanup();
        this.#rejectWith(socket, error);
        return;
      }
      if (head === null) return;
      cleanup();
      // Hold further bytes in the socket until the WebSocket takes it over.
      socket.pause();
      const req: UpgradeRequest = {
        method: head.method,
        url: head.target,
        httpVersion: head.httpVersion,
        headers: head.headers,
        rawHeaders: head.rawHeaders,
        socket,
      };
      if (!this.shouldHandle(req)) {
        this.#reject(socket, 400, `no WebSocket endpoint at ${pathOf(req.url)}`);
        return;
      }
      this.handleUpgrade(req, socket, parser.rest ?? Buffer.alloc(0), (ws) => this.emit('connection', ws, req));
    };
    socket.on('error', destroySocket);
    socket.on('data', onData);
    socket.on('close', cleanup);
  }

  /**
   * Stops accepting connections and closes the server's own listener (an attached
   * http server is left running). Open connections are not closed: close them, or
   * use `terminate`.
   */
  close(callback?: (error?: Error) => void): void {
    if (callback) this.once('close', () => callback());
    if (this.#state !== RUNNING) {
      if (this.#state === CLOSED) process.nextTick(() => callback?.());
      return;
    }
    this.#state = CLOSING;
    this.#detach?.();
    this.#detach = null;
    for (const socket of this.#pending) socket.destroy();
    this.#pending.clear();
    const finish = () => {
      this.#state = CLOSED;
      this.emit('close');
    };
    if (this.#listener !== null) this.#listener.close(() => finish());
    else process.nextTick(finish);
  }
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function destroySocket(this: Socket): void {
  this.destroy();
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return value !== null && typeof value === 'object' && typeof (value as any).then === 'function';
}

export { WebSocketError };
