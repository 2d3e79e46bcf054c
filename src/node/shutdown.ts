/**
 * Graceful shutdown of a server's connections: send every open connection a close
 * frame, wait for the close handshakes (and for upgrades still in progress) until a
 * deadline, then terminate whatever is left.
 *
 * Connections keep delivering the messages that arrive before the peer's close frame:
 * a message the peer sent before it saw ours reaches `message` listeners as usual.
 */
import type { Socket } from 'node:net';
import { CloseCode, encodeClosePayload } from '../protocol/close.js';
import { MAX_TIMER_DELAY, timeoutOption } from './timers.js';
import type { WebSocket } from './websocket.js';

/** Options of `wss.close(options)`. */
export interface GracefulCloseOptions {
  /** Close code sent to every client. Default 1001 (Going Away). */
  code?: number;
  /** Close reason sent to every client (at most 123 bytes of UTF-8). Default ''. */
  reason?: string;
  /** Milliseconds to wait for clients to answer before terminating them; Infinity to wait for all. Default 5 000. */
  timeout?: number;
}

export const DEFAULT_SHUTDOWN_TIMEOUT = 5_000;

/** Resolved `GracefulCloseOptions`. */
export interface ShutdownSettings {
  code: number;
  reason: string;
  timeout: number;
}

/** Once terminated, sockets close within a few ticks; this bounds the wait for it. */
const TERMINATE_WAIT = 1_000;

/**
 * Validates the options of a graceful close.
 *
 * @throws {RangeError} for a code that may not be sent, a reason over 123 bytes, or a
 *   timeout that is NaN or negative.
 * @throws {TypeError} for a timeout that is not a number.
 */
export function shutdownSettings(options: GracefulCloseOptions = {}): ShutdownSettings {
  const code = options.code ?? CloseCode.GoingAway;
  const reason = options.reason ?? '';
  encodeClosePayload(code, reason); // throws for an unsendable code or a long reason
  // Infinity waits for every client (a timer of setTimeout's longest delay, about 24.8 days).
  const timeout = timeoutOption('timeout', options.timeout, DEFAULT_SHUTDOWN_TIMEOUT);
  return { code, reason, timeout };
}

/** What a server exposes to its shutdown. */
export interface ShutdownTarget {
  /** Open connections; the server removes each one when it closes. */
  readonly connections: ReadonlySet<WebSocket<any>>;
  /** Sockets whose upgrade is still in progress (reading the request, authenticating). */
  readonly pending: ReadonlySet<Socket>;
  /** Sets the function the server calls whenever either set shrinks (null to stop). */
  onChange(listener: (() => void) | null): void;
}

/**
 * Closes every open connection with `code` and `reason` and waits until all have
 * closed and no upgrade is in progress, or `timeout` ms have passed; then terminates
 * the connections that did not answer and destroys the pending upgrade sockets.
 *
 * @returns whether everything closed before the deadline
 */
export async function closeConnections(target: ShutdownTarget, settings: ShutdownSettings): Promise<boolean> {
  for (const ws of target.connections) {
    if (ws.readyState === OPEN) ws.close(settings.code, settings.reason);
  }
  const settled = await waitUntil(target, () => target.connections.size === 0 && target.pending.size === 0, settings.timeout);
  if (!settled) {
    for (const ws of target.connections) ws.terminate();
    for (const socket of target.pending) socket.destroy();
    await waitUntil(target, () => target.connections.size === 0, TERMINATE_WAIT);
  }
  return settled;
}

const OPEN = 1;

/** Resolves true once `done()` holds, false after `timeout` ms. */
function waitUntil(target: ShutdownTarget, done: () => boolean, timeout: number): Promise<boolean> {
  if (done()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(false), Math.min(timeout, MAX_TIMER_DELAY));
    const finish = (result: boolean) => {
      clearTimeout(timer);
      target.onChange(null);
      resolve(result);
    };
    target.onChange(() => {
      if (done()) finish(true);
    });
  });
}
