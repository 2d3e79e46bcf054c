/**
 * Heartbeat and idle timeout: one timer for a whole set of connections.
 *
 * Every sweep reads and clears each connection's activity bits, which the connection
 * sets when a chunk arrives (any frame: a pong, a message, anything) and when a data
 * message arrives. No clock is read per message: times are counted in sweeps.
 *
 * - Every `interval` every open connection is pinged (all in the same sweep). A
 *   connection from which nothing at all arrived within `timeout` of its ping is
 *   terminated: the socket is destroyed without a close frame (the peer is presumed
 *   gone, a close frame would only wait in a dead socket's buffer) and `close` reports
 *   1006. A peer that goes silent is therefore cut off after at least `timeout` and at
 *   most `interval + timeout`.
 * - With `idleTimeout`, a connection that sent no message (text or binary; pings and
 *   pongs do not count) for that long is closed with 1001 and the reason
 *   "idle timeout".
 *
 * The sweep period is the greatest common divisor of the times in use, at most a
 * quarter of the smallest, so that every deadline falls on a sweep (30 s and 10 s
 * sweep every 2.5 s), in whole milliseconds; a deadline that does not fall on a sweep
 * is rounded up to the next.
 */
import type { WebSocket } from '../node/websocket.js';
import { CloseCode } from '../protocol/close.js';
import { MAX_TIMER_DELAY, timeoutOption } from '../node/timers.js';

// What a heartbeat keeps per connection: small integers in fields of the connection
// itself, no object of its own.
/** @internal On a connection: bit ACTIVITY_ANY when bytes arrived, ACTIVITY_MESSAGE when a message did. */
export const kActivity = Symbol('volley.activity');
/** @internal On a connection: the sweep that sent its unanswered ping, or NO_PING. */
export const kPingSweep = Symbol('volley.pingSweep');
/** @internal On a connection: the sweep at which its last data message was seen; 0 before a sweep has seen it. */
export const kMessageSweep = Symbol('volley.messageSweep');
/** @internal On a connection: the round trip of its last answered heartbeat ping in µs, or NO_LATENCY. */
export const kLatency = Symbol('volley.latency');
/** @internal On a connection: closes it for a policy (idle, backpressure), counted under that code in the metrics. */
export const kPolicyClose = Symbol('volley.policyClose');
export const ACTIVITY_ANY = 1;
export const ACTIVITY_MESSAGE = 2;
export const NO_PING = -1;
export const NO_LATENCY = -1;

export interface HeartbeatOptions {
  /** Milliseconds between pings. Default 30 000. */
  interval?: number;
  /** Milliseconds a peer has to answer a ping (with anything) before it is terminated. Default 10 000. */
  timeout?: number;
}

export const DEFAULT_HEARTBEAT_INTERVAL = 30_000;
export const DEFAULT_HEARTBEAT_TIMEOUT = 10_000;
/** Close code and reason of connections closed by `idleTimeout`. */
export const IDLE_CLOSE_CODE = CloseCode.GoingAway;
export const IDLE_CLOSE_REASON = 'idle timeout';

const OPEN = 1;
const CLOSED = 3;
/** Ping payload: the sweep's `performance.now()` as a float64, echoed by the pong. */
const PING_PAYLOAD_BYTES = 8;

/** Resolved heartbeat settings: null fields are off. */
export interface HeartbeatSettings {
  heartbeat: { interval: number; timeout: number } | null;
  /** Milliseconds without a message before closing; 0 for no idle timeout. */
  idleTimeout: number;
}

/**
 * Resolves the `heartbeat` option: `true`/undefined (when on by default) gives the
 * defaults, `false` turns it off, an object overrides them.
 *
 * @throws {TypeError} for an interval, timeout or idleTimeout that is not a number.
 * @throws {RangeError} for an interval or timeout that is not a positive finite number,
 *   or an idleTimeout that is NaN or negative (Infinity, as 0, is no limit).
 */
export function heartbeatSettings(option: HeartbeatOptions | boolean | undefined, onByDefault: boolean, idleTimeoutOption?: number): HeartbeatSettings {
  const idle = timeoutOption('idleTimeout', idleTimeoutOption, 0);
  const idleTimeout = idle === Infinity ? 0 : idle;
  const on = option === undefined ? onByDefault : option !== false;
  if (!on) return { heartbeat: null, idleTimeout };
  const options = typeof option === 'object' ? option : {};
  const interval = options.interval ?? DEFAULT_HEARTBEAT_INTERVAL;
  const timeout = options.timeout ?? DEFAULT_HEARTBEAT_TIMEOUT;
  for (const [name, value] of [
    ['interval', interval],
    ['timeout', timeout],
  ] as const) {
    if (typeof value !== 'number') throw new TypeError(`heartbeat.${name} must be a number of ms, got ${typeof value}`);
    if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`heartbeat.${name} must be a positive number of ms, got ${value}`);
  }
  return { heartbeat: { interval, timeout }, idleTimeout };
}

/**
 * Watches a live collection of connections with one unref'd timer. The collection is
 * the owner's (the server's set of open connections): the heartbeat neither adds nor
 * removes connections, and skips those that are not open.
 */
export class Heartbeat {
  readonly #connections: { readonly size: number } & Iterable<WebSocket<any>>;
  readonly #period: number;
  readonly #pingEvery: number;
  readonly #timeoutSweeps: number;
  readonly #idleSweeps: number;
  #timer: NodeJS.Timeout | null = null;
  #sweep = 0;
  /** `performance.now()` of the last sweep that pinged: every ping of a sweep carries it. */
  #pingSentAt = 0;

  constructor(connections: { readonly size: number } & Iterable<WebSocket<any>>, settings: HeartbeatSettings) {
    this.#connections = connections;
    const times: number[] = [];
    if (settings.heartbeat !== null) times.push(settings.heartbeat.interval, settings.heartbeat.timeout);
    if (settings.idleTimeout > 0) times.push(settings.idleTimeout);
    this.#period = times.length === 0 ? 0 : sweepPeriod(times);
    // Deadlines are rounded up to sweeps, so that a peer always has at least its time.
    const pingSweeps = (ms: number) => Math.max(1, Math.round(ms / this.#period));
    const deadlineSweeps = (ms: number) => Math.max(1, Math.ceil(ms / this.#period));
    this.#pingEvery = settings.heartbeat === null ? 0 : pingSweeps(settings.heartbeat.interval);
    this.#timeoutSweeps = settings.heartbeat === null ? 0 : deadlineSweeps(settings.heartbeat.timeout);
    this.#idleSweeps = settings.idleTimeout > 0 ? deadlineSweeps(settings.idleTimeout) : 0;
  }

  /** Milliseconds between sweeps (0 when there is nothing to do). */
  get period(): number {
    return this.#period;
  }

  /** Starts the timer if it is not running (call when a connection is added). */
  start(): void {
    if (this.#timer !== null || this.#period === 0) return;
    this.#timer = setInterval(() => this.sweep(), this.#period);
    this.#timer.unref();
  }

  /** Stops the timer. `start` resumes it. */
  stop(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * A pong arrived on `ws`: if it echoes this heartbeat's last ping, its round trip is
   * recorded on `ws` (see `ws.latency`) and returned, in ms.
   */
  onPong(ws: WebSocket<any>, payload: Buffer): number | undefined {
    if (payload.length !== PING_PAYLOAD_BYTES || this.#pingSentAt === 0) return undefined;
    if (payload.readDoubleBE(0) !== this.#pingSentAt) return undefined; // not ours (or an old one)
    const latency = performance.now() - this.#pingSentAt;
    ws[kLatency] = Math.round(latency * 1000);
    return latency;
  }

  /** One pass over the connections (the timer calls it; tests may too). */
  sweep(): void {
    if (this.#connections.size === 0) {
      this.stop(); // restarted by the next connection
      return;
    }
    const sweep = ++this.#sweep;
    const pingNow = this.#pingEvery !== 0 && sweep % this.#pingEvery === 0;
    let payload: Buffer | null = null;
    let sentAt = 0;
    if (pingNow) {
      sentAt = performance.now();
      payload = Buffer.allocUnsafe(PING_PAYLOAD_BYTES);
      payload.writeDoubleBE(sentAt, 0);
      this.#pingSentAt = sentAt;
    }
    for (const ws of this.#connections) {
      if (ws.readyState !== OPEN) continue;
      if (ws.isPaused) {
        // The application stopped reading (pause(), a full stream): pongs and messages
        // wait in the kernel. Neither silent nor idle; watched again once resumed.
        ws[kPingSweep] = NO_PING;
        ws[kMessageSweep] = sweep;
        continue;
      }
      if (ws[kMessageSweep] === 0) ws[kMessageSweep] = sweep; // the first sweep that sees it
      const activity = ws[kActivity];
      if (activity !== 0) {
        ws[kActivity] = 0;
        ws[kPingSweep] = NO_PING; // anything from the peer answers the ping
        if ((activity & ACTIVITY_MESSAGE) !== 0) ws[kMessageSweep] = sweep;
      }
      const pingSweep = ws[kPingSweep];
      if (this.#timeoutSweeps !== 0 && pingSweep !== NO_PING && sweep - pingSweep >= this.#timeoutSweeps) {
        ws.terminate(); // close reports 1006: no close frame is waited for
        continue;
      }
      if (this.#idleSweeps !== 0 && sweep - ws[kMessageSweep] >= this.#idleSweeps) {
        ws[kPolicyClose](IDLE_CLOSE_CODE, IDLE_CLOSE_REASON);
        continue;
      }
      if (payload !== null && pingSweep === NO_PING) {
        ws[kPingSweep] = sweep;
        ws.ping(payload);
      }
    }
  }
}

/**
 * Watches one client connection with a heartbeat of its own; the WebSocket stops it
 * when its connection closes.
 * @internal
 */
export function watchClient(ws: WebSocket<any>, settings: HeartbeatSettings): Heartbeat {
  const heartbeat = new Heartbeat(new Set([ws]), settings);
  if (ws.readyState !== CLOSED) heartbeat.start();
  return heartbeat;
}

function gcd(a: number, b: number): number {
  a = Math.round(a);
  b = Math.round(b);
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * The sweep period in whole ms: the GCD of the times (so deadlines fall on sweeps), at
 * most a quarter of the smallest. Whole, because timers drop a delay's fraction: a
 * period of 1.5625 ms would sweep every 1 ms and bring every deadline early.
 */
function sweepPeriod(times: number[]): number {
  const smallest = Math.min(...times);
  let period = times.reduce(gcd);
  if (period > smallest / 4) period = period / Math.ceil(period / (smallest / 4));
  // Times without a useful common divisor (30 001 and 10 000) are rounded to sweeps.
  return Math.min(Math.round(Math.max(period, smallest / 64, 1)), MAX_TIMER_DELAY);
}
