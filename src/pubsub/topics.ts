/**
 * Topics (rooms): which connections subscribe to what, and delivery of one prepared
 * message to many connections.
 *
 * A topic is an exact string: no wildcards, no hierarchy, no normalisation ('Room' and
 * 'room' are two topics). A topic exists while it has subscribers. Subscriptions belong
 * to a connection and end with it.
 *
 * Delivery frames the message once (`prepareTransient`) and hands the same
 * `PreparedMessage` to every recipient's `send`, which queues the same bytes: nothing
 * is allocated per recipient.
 */
import type { WebSocket } from '../node/websocket.js';
import { SendStatus, type PublishResult } from '../node/send-status.js';
import { InvalidStateError } from '../protocol/errors.js';
import { throwUncaught } from '../node/events.js';
import { checkMessageData, prepareTransient, type PrepareData, type PrepareOptions, type PreparedMessage } from './prepared.js';

/** @internal On a connection: the topics it subscribes to (null for none yet). */
export const kTopics = Symbol('volley.topics');

/** Options of `publish` and `broadcast`. */
export type PublishOptions = PrepareOptions;

/** Who a `broadcast` skips: one connection, or a set or an array of them. */
export type Except = WebSocket<any> | ReadonlySet<WebSocket<any>> | ReadonlyArray<WebSocket<any>>;

// readyState values (as in ReadyState; not imported, to keep this module free of the node layer).
const OPEN = 1;
const CLOSED = 3;

/**
 * The topics of one server: topic → subscribers, and connection → topics (on the
 * connection itself, for `ws.topics` and for unsubscribing everything at close).
 */
export class TopicRegistry {
  readonly #subscribers = new Map<string, Set<WebSocket<any>>>();
  /** Told the outcome of every publish (the server's metrics). */
  onPublish: ((result: PublishResult) => void) | null = null;

  /** Number of topics with at least one subscriber. */
  get size(): number {
    return this.#subscribers.size;
  }

  /** Subscribes `ws` to `topic`; returns false if it already was (or is closed). */
  subscribe(ws: WebSocket<any>, topic: string): boolean {
    checkTopic(topic);
    if (ws.readyState === CLOSED) return false; // its subscriptions are gone for good
    const topics = (ws[kTopics] ??= new Set());
    if (topics.has(topic)) return false;
    topics.add(topic);
    let subscribers = this.#subscribers.get(topic);
    if (subscribers === undefined) {
      subscribers = new Set();
      this.#subscribers.set(topic, subscribers);
    }
    subscribers.add(ws);
    return true;
  }

  /** Unsubscribes `ws` from `topic`; returns false if it was not subscribed. */
  unsubscribe(ws: WebSocket<any>, topic: string): boolean {
    checkTopic(topic);
    const topics = ws[kTopics];
    if (topics === null || !topics.delete(topic)) return false;
    this.#remove(ws, topic);
    return true;
  }

  /** Ends every subscription of `ws` (when it closes). */
  unsubscribeAll(ws: WebSocket<any>): void {
    const topics = ws[kTopics];
    if (topics === null) return;
    ws[kTopics] = null;
    for (const topic of topics) this.#remove(ws, topic);
  }

  /** Number of connections subscribed to `topic`. */
  subscriberCount(topic: string): number {
    return this.#subscribers.get(topic)?.size ?? 0;
  }

  /**
   * Sends `data` to every open subscriber of `topic` (but `except`), framed once.
   *
   * @returns how many recipients got it queued, queued above their high-water mark,
   *   or dropped it (over `maxBackpressure`)
   */
  publish(topic: string, data: PrepareData | PreparedMessage, options: PublishOptions | undefined, except: Except | null): PublishResult {
    checkTopic(topic);
    const subscribers = this.#subscribers.get(topic);
    // Without subscribers nothing is framed, but bad data is refused all the same.
    if (subscribers === undefined) checkMessageData(data);
    const result = subscribers === undefined ? { sent: 0, backpressure: 0, dropped: 0 } : deliver(subscribers, prepareTransient(data, options), except);
    this.onPublish?.(result);
    return result;
  }

  #remove(ws: WebSocket<any>, topic: string): void {
    const subscribers = this.#subscribers.get(topic);
    if (subscribers === undefined) return;
    subscribers.delete(ws);
    if (subscribers.size === 0) this.#subscribers.delete(topic);
  }
}

/**
 * Sends one prepared message to every open connection of `recipients` but `except`.
 * The loop does no allocation: `send` queues `message.frame` itself. A recipient in the
 * middle of sending a fragmented message is counted as dropped.
 */
export function deliver(recipients: Iterable<WebSocket<any>>, message: PreparedMessage, except: Except | null): PublishResult {
  let sent = 0;
  let backpressure = 0;
  let dropped = 0;
  const exceptSet = except instanceof Set ? (except as ReadonlySet<WebSocket<any>>) : Array.isArray(except) ? new Set<WebSocket<any>>(except) : null;
  const exceptOne = except !== null && exceptSet === null ? (except as WebSocket<any>) : null;
  // A 'dropped' listener (emitted within send) that unsubscribes and subscribes its
  // connection again moves it to the end of the set, where the loop would meet it again,
  // and again: at most as many visits as there were recipients when the publish began.
  let left = recipients instanceof Set ? recipients.size : Infinity;
  for (const ws of recipients) {
    if (left-- === 0) break;
    if (ws === exceptOne || ws.readyState !== OPEN || (exceptSet !== null && exceptSet.has(ws))) continue;
    let status: number;
    try {
      status = ws.send(message);
    } catch (error) {
      // It is sending a fragmented message (fin: false), which no other message may
      // interrupt (RFC 6455 §5.4): it does not get this one. Anything else is a throw
      // from the application's 'dropped' listener: uncaught, as a listener's is, once
      // the others have their message.
      if (!(error instanceof InvalidStateError)) throwUncaught(error);
      status = SendStatus.DROPPED;
    }
    if (status === SendStatus.SENT) sent++;
    else if (status === SendStatus.BACKPRESSURE) backpressure++;
    else dropped++;
  }
  return { sent, backpressure, dropped };
}

/** Frames `data` once and sends it to every open connection of `recipients` but `except`. */
export function broadcast(
  recipients: Iterable<WebSocket<any>>,
  data: PrepareData | PreparedMessage,
  options: PublishOptions | undefined,
  except: Except | null,
): PublishResult {
  return deliver(recipients, prepareTransient(data, options), except);
}

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string') throw new TypeError(`a topic must be a string, got ${typeof topic}`);
}
