/**
 * The counters of one WebSocketServer, read with `wss.metrics()`.
 *
 * The message path increments plain integer fields of one object per server: no map
 * lookup, no allocation and no clock read per message, so counting costs a field
 * increment behind the null check that skips it when `metrics: false`. Rare events
 * (handshake rejections, closes) go through `observe*` methods and may use maps, whose
 * keys are bounded (HTTP statuses, close codes).
 *
 * Features that live outside the message path report through methods: the heartbeat
 * calls `observePingRtt(ms)`, publish calls `observePublish(recipients)`, the
 * backpressure policy calls `observeBackpressureDrop()`.
 */

/** Upper bounds (ms) of the ping round-trip histogram buckets; +Inf is implied. */
export const PING_RTT_BUCKETS_MS: readonly number[] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

/** A point-in-time copy of a server's counters. Times in ms, sizes in bytes. */
export interface MetricsSnapshot {
  connections: {
    /** Connections open now. */
    open: number;
    /** Connections accepted since the server started. */
    opened: number;
    /** Connections that have closed. */
    closed: number;
  };
  handshakes: {
    /** Upgrades answered 101. */
    accepted: number;
    /** Upgrades answered with an HTTP error, by status (`{ 401: 3, 429: 1 }`). */
    rejected: Record<number, number>;
  };
  messages: {
    /** Data messages received (whole messages, including those then dropped). */
    received: number;
    /** Data messages sent with `send` (fragments count once, at the last one). */
    sent: number;
    dropped: {
      /** Messages not sent because the connection's send buffer was full. */
      backpressure: number;
      /** Messages received and discarded by the `rateLimit`. */
      rateLimit: number;
    };
  };
  bytes: {
    /** Bytes read from the sockets of open connections (frame headers included). */
    received: number;
    /** Bytes of frames written to them (frame headers included). */
    sent: number;
  };
  /**
   * Closed connections by the code their `close` event reported (1005, 1006 included),
   * except that a connection the server failed (1002, 1008, 1009, ...) counts under the
   * code it sent, though its `close` event reports 1006.
   */
  closeCodes: Record<number, number>;
  /** Ping round-trip times reported by the heartbeat. */
  pingRtt: RttSummary;
  publish: {
    /** Calls to publish. */
    messages: number;
    /** Deliveries: the sum of the subscriber counts of every publish. */
    recipients: number;
  };
}

/** Count, sum, extremes and a cumulative histogram of ping round-trip times, in ms. */
export interface RttSummary {
  count: number;
  sum: number;
  /** Smallest sample; 0 when there is none. */
  min: number;
  /** Largest sample; 0 when there is none. */
  max: number;
  /** Cumulative counts: samples ≤ `le`, the last with `le: Infinity` (equal to `count`). */
  buckets: Array<{ le: number; count: number }>;
}

/**
 * The live counters of a server. Read them through `snapshot()`; the fields are public
 * so that the message path can increment them directly.
 */
export class MetricsRecorder {
  /** @internal */ messagesReceived = 0;
  /** @internal */ messagesSent = 0;
  /** @internal */ bytesReceived = 0;
  /** @internal */ bytesSent = 0;
  /** @internal */ messagesDroppedRateLimit = 0;
  /** @internal */ messagesDroppedBackpressure = 0;
  /** @internal */ connectionsOpened = 0;
  /** @internal */ connectionsClosed = 0;
  /** @internal */ handshakesAccepted = 0;
  /** @internal */ publishes = 0;
  /** @internal */ publishRecipients = 0;

  readonly #rejected = new Map<number, number>();
  readonly #closeCodes = new Map<number, number>();
  #rttCount = 0;
  #rttSum = 0;
  #rttMin = Infinity;
  #rttMax = 0;
  /** Per-bucket (non-cumulative) counts; the last slot is the +Inf bucket. */
  readonly #rttBuckets = new Array<number>(PING_RTT_BUCKETS_MS.length + 1).fill(0);

  /** An upgrade was answered with HTTP `status` instead of 101. */
  observeHandshakeRejected(status: number): void {
    this.#rejected.set(status, (this.#rejected.get(status) ?? 0) + 1);
  }

  /** A connection closed; `code` is what its `close` event reports, or the code the server failed it with. */
  observeClose(code: number): void {
    this.connectionsClosed++;
    this.#closeCodes.set(code, (this.#closeCodes.get(code) ?? 0) + 1);
  }

  /**
   * A ping was answered after `ms` milliseconds. Negative or non-finite values are
   * ignored.
   */
  observePingRtt(ms: number): void {
    if (!(ms >= 0) || ms === Infinity) return;
    this.#rttCount++;
    this.#rttSum += ms;
    if (ms < this.#rttMin) this.#rttMin = ms;
    if (ms > this.#rttMax) this.#rttMax = ms;
    let i = 0;
    while (i < PING_RTT_BUCKETS_MS.length && ms > PING_RTT_BUCKETS_MS[i]!) i++;
    this.#rttBuckets[i]!++;
  }

  /** A message was published to `recipients` subscribers. */
  observePublish(recipients: number): void {
    this.publishes++;
    if (recipients > 0) this.publishRecipients += recipients;
  }

  /** `count` messages were dropped because a connection's send buffer was full. */
  observeBackpressureDrop(count = 1): void {
    if (count > 0) this.messagesDroppedBackpressure += count;
  }

  /** A copy of every counter now. */
  snapshot(): MetricsSnapshot {
    const buckets: RttSummary['buckets'] = [];
    let cumulative = 0;
    for (let i = 0; i <= PING_RTT_BUCKETS_MS.length; i++) {
      cumulative += this.#rttBuckets[i]!;
      buckets.push({ le: PING_RTT_BUCKETS_MS[i] ?? Infinity, count: cumulative });
    }
    return {
      connections: {
        open: this.connectionsOpened - this.connectionsClosed,
        opened: this.connectionsOpened,
        closed: this.connectionsClosed,
      },
      handshakes: { accepted: this.handshakesAccepted, rejected: toRecord(this.#rejected) },
      messages: {
        received: this.messagesReceived,
        sent: this.messagesSent,
        dropped: { backpressure: this.messagesDroppedBackpressure, rateLimit: this.messagesDroppedRateLimit },
      },
      bytes: { received: this.bytesReceived, sent: this.bytesSent },
      closeCodes: toRecord(this.#closeCodes),
      pingRtt: {
        count: this.#rttCount,
        sum: this.#rttSum,
        min: this.#rttCount === 0 ? 0 : this.#rttMin,
        max: this.#rttMax,
        buckets,
      },
      publish: { messages: this.publishes, recipients: this.publishRecipients },
    };
  }
}

/**
 * Adds snapshots together (several servers in one process). Histogram buckets must
 * have the same bounds, which is the case for snapshots of this version.
 *
 * @throws {RangeError} when the ping histogram bounds differ.
 */
export function mergeSnapshots(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  const empty = new MetricsRecorder().snapshot();
  return snapshots.reduce((a, b) => {
    if (a.pingRtt.buckets.length !== b.pingRtt.buckets.length || a.pingRtt.buckets.some((x, i) => x.le !== b.pingRtt.buckets[i]!.le)) {
      throw new RangeError('cannot merge snapshots whose ping histograms have different buckets');
    }
    const count = a.pingRtt.count + b.pingRtt.count;
    return {
      connections: {
        open: a.connections.open + b.connections.open,
        opened: a.connections.opened + b.connections.opened,
        closed: a.connections.closed + b.connections.closed,
      },
      handshakes: { accepted: a.handshakes.accepted + b.handshakes.accepted, rejected: addRecords(a.handshakes.rejected, b.handshakes.rejected) },
      messages: {
        received: a.messages.received + b.messages.received,
        sent: a.messages.sent + b.messages.sent,
        dropped: {
          backpressure: a.messages.dropped.backpressure + b.messages.dropped.backpressure,
          rateLimit: a.messages.dropped.rateLimit + b.messages.dropped.rateLimit,
        },
      },
      bytes: { received: a.bytes.received + b.bytes.received, sent: a.bytes.sent + b.bytes.sent },
      closeCodes: addRecords(a.closeCodes, b.closeCodes),
      pingRtt: {
        count,
        sum: a.pingRtt.sum + b.pingRtt.sum,
        min: a.pingRtt.count === 0 ? b.pingRtt.min : b.pingRtt.count === 0 ? a.pingRtt.min : Math.min(a.pingRtt.min, b.pingRtt.min),
        max: Math.max(a.pingRtt.max, b.pingRtt.max),
        buckets: a.pingRtt.buckets.map((bucket, i) => ({ le: bucket.le, count: bucket.count + b.pingRtt.buckets[i]!.count })),
      },
      publish: {
        messages: a.publish.messages + b.publish.messages,
        recipients: a.publish.recipients + b.publish.recipients,
      },
    };
  }, empty);
}

function toRecord(map: Map<number, number>): Record<number, number> {
  const record: Record<number, number> = {};
  for (const key of [...map.keys()].sort((x, y) => x - y)) record[key] = map.get(key)!;
  return record;
}

function addRecords(a: Record<number, number>, b: Record<number, number>): Record<number, number> {
  const sum = new Map<number, number>();
  for (const record of [a, b]) {
    for (const [key, value] of Object.entries(record)) sum.set(Number(key), (sum.get(Number(key)) ?? 0) + value);
  }
  return toRecord(sum);
}
