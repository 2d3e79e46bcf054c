/**
 * Prometheus text exposition (format 0.0.4) of `wss.metrics()` snapshots, and a request
 * handler to mount on `/metrics`. No dependency on prom-client.
 *
 * A snapshot becomes metric families (`metricFamilies`), which render as text
 * (`renderExposition`): one `# HELP` and one `# TYPE` line per family, then its samples,
 * each family contiguous. Counters end in `_total`; the ping round trip is a histogram
 * in seconds, the Prometheus base unit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PING_RTT_BUCKETS_MS, mergeSnapshots, type MetricsSnapshot } from './recorder.js';

/** The `Content-Type` of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

/** One sample line: `name{labels} value`. */
export interface MetricSample {
  /** The sample's name: the family's, or with `_bucket`, `_sum`, `_count` for histograms. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A metric family: what a `# HELP` and `# TYPE` line introduce. */
export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: MetricSample[];
}

/** Anything with a `metrics()` snapshot method: a `WebSocketServer`. */
export interface MetricsSource {
  metrics(): MetricsSnapshot;
}

/** A source and the labels that tell its samples apart from other sources'. */
export interface LabelledSource {
  server: MetricsSource;
  labels: Record<string, string>;
}

export interface ExpositionOptions {
  /** Prefix of every metric name. Default `volley_`. */
  prefix?: string;
  /** Labels added to every sample (such as `{ service: 'chat' }`). */
  labels?: Record<string, string>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Label names the families use themselves (`le` and `quantile` are the format's). */
const RESERVED_LABELS = new Set(['le', 'quantile', 'outcome', 'status', 'code', 'reason']);

/**
 * The metric families of a snapshot.
 *
 * @param snapshot `wss.metrics()`
 * @param labels labels added to every sample
 * @param prefix prefix of every metric name, default `volley_`
 * @returns families in a fixed order, ready for `renderExposition` (or for a registry
 *   of another client library).
 * @throws {TypeError} for an invalid prefix or label name.
 */
export function metricFamilies(snapshot: MetricsSnapshot, labels: Record<string, string> = {}, prefix = 'volley_'): MetricFamily[] {
  if (prefix !== '' && !METRIC_NAME.test(prefix)) throw new TypeError(`invalid metric name prefix ${JSON.stringify(prefix)}`);
  checkLabels(labels);
  const p = prefix;
  const l = (extra: Record<string, string> = {}) => ({ ...labels, ...extra });
  const one = (name: string, help: string, type: MetricType, value: number): MetricFamily => ({
    name: p + name,
    help,
    type,
    samples: [{ name: p + name, labels: l(), value }],
  });
  const rejected = Object.entries(snapshot.handshakes.rejected).map(([status, value]) => ({
    name: `${p}handshakes_total`,
    labels: l({ outcome: 'rejected', status }),
    value,
  }));
  const closeCodes = Object.entries(snapshot.closeCodes).map(([code, value]) => ({
    name: `${p}connections_closed_total`,
    labels: l({ code }),
    value,
  }));
  const rtt = snapshot.pingRtt;
  return [
    one('connections', 'WebSocket connections open now.', 'gauge', snapshot.connections.open),
    one('connections_opened_total', 'WebSocket connections accepted.', 'counter', snapshot.connections.opened),
    {
      name: `${p}connections_closed_total`,
      help: 'WebSocket connections closed, by close code: the one their close event reported (1005: none received, 1006: abnormal), or the code the server sent when it failed the connection.',
      type: 'counter',
      samples: closeCodes,
    },
    {
      name: `${p}handshakes_total`,
      help: 'Opening handshakes, by outcome and HTTP status.',
      type: 'counter',
      samples: [{ name: `${p}handshakes_total`, labels: l({ outcome: 'accepted', status: '101' }), value: snapshot.handshakes.accepted }, ...rejected],
    },
    one('messages_received_total', 'Data messages received.', 'counter', snapshot.messages.received),
    one('messages_sent_total', 'Data messages sent.', 'counter', snapshot.messages.sent),
    {
      name: `${p}messages_dropped_total`,
      help: 'Messages dropped, by reason.',
      type: 'counter',
      samples: [
        { name: `${p}messages_dropped_total`, labels: l({ reason: 'backpressure' }), value: snapshot.messages.dropped.backpressure },
        { name: `${p}messages_dropped_total`, labels: l({ reason: 'rate_limit' }), value: snapshot.messages.dropped.rateLimit },
      ],
    },
    one('received_bytes_total', 'Bytes received on WebSocket connections, frame headers included.', 'counter', snapshot.bytes.received),
    one('sent_bytes_total', 'Bytes of frames sent on WebSocket connections, frame headers included.', 'counter', snapshot.bytes.sent),
    {
      name: `${p}ping_rtt_seconds`,
      help: 'Round-trip time of heartbeat pings.',
      type: 'histogram',
      samples: [
        ...rtt.buckets.map((bucket) => ({
          name: `${p}ping_rtt_seconds_bucket`,
          labels: l({ le: bucket.le === Infinity ? '+Inf' : formatValue(bucket.le / 1000) }),
          value: bucket.count,
        })),
        { name: `${p}ping_rtt_seconds_sum`, labels: l(), value: rtt.sum / 1000 },
        { name: `${p}ping_rtt_seconds_count`, labels: l(), value: rtt.count },
      ],
    },
    one('publish_messages_total', 'Messages published to topics or broadcast to every connection.', 'counter', snapshot.publish.messages),
    one('publish_recipients_total', 'Deliveries of published messages (the fan-out).', 'counter', snapshot.publish.recipients),
  ];
}

/**
 * Renders families as text exposition format 0.0.4. Families with the same name are
 * written together under one HELP and TYPE (the format requires each family to be
 * contiguous); label values and help text are escaped.
 *
 * @throws {TypeError} for an invalid metric or label name, or one family name given
 *   two different types.
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  const merged = new Map<string, MetricFamily>();
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new TypeError(`invalid metric name ${JSON.stringify(family.name)}`);
    const existing = merged.get(family.name);
    if (existing === undefined) merged.set(family.name, { ...family, samples: [...family.samples] });
    else if (existing.type !== family.type) throw new TypeError(`metric ${family.name} given two types: ${existing.type} and ${family.type}`);
    else existing.samples.push(...family.samples);
  }
  let text = '';
  for (const family of merged.values()) {
    text += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      if (!METRIC_NAME.test(sample.name)) throw new TypeError(`invalid metric name ${JSON.stringify(sample.name)}`);
      text += `${sample.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}\n`;
    }
  }
  return text;
}

/**
 * The exposition of one or several servers. Servers given with the same labels (or
 * none) are added together; give each its own labels to tell them apart.
 *
 * @example
 * renderMetrics([{ server: chat, labels: { app: 'chat' } }, { server: feed, labels: { app: 'feed' } }]);
 */
export function renderMetrics(sources: MetricsSource | ReadonlyArray<MetricsSource | LabelledSource>, options: ExpositionOptions = {}): string {
  const list = Array.isArray(sources) ? sources : [sources as MetricsSource];
  const groups = new Map<string, { labels: Record<string, string>; snapshots: MetricsSnapshot[] }>();
  for (const source of list) {
    const { server, labels } = isLabelled(source) ? source : { server: source, labels: {} };
    const all = { ...options.labels, ...labels };
    checkLabels(all);
    const key = JSON.stringify(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { labels: all, snapshots: [] }));
    group.snapshots.push(server.metrics());
  }
  const families: MetricFamily[] = [];
  for (const group of groups.values()) {
    families.push(...metricFamilies(mergeSnapshots(group.snapshots), group.labels, options.prefix));
  }
  return renderExposition(families);
}

/**
 * A request handler for node:http or Express that answers with the exposition of
 * `sources`: mount it on `/metrics`. GET and HEAD get 200; other methods 405.
 *
 * @example
 * http.createServer(metricsHandler(wss)).listen(9100);
 * app.get('/metrics', metricsHandler([wss]));
 */
export function metricsHandler(
  sources: MetricsSource | ReadonlyArray<MetricsSource | LabelledSource>,
  options: ExpositionOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    let body: string;
    try {
      body = renderMetrics(sources, options);
    } catch {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('metrics unavailable\n');
      return;
    }
    res.writeHead(200, {
      'Content-Type': PROMETHEUS_CONTENT_TYPE,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/** Escapes a label value: backslash, double quote and line feed (format 0.0.4). */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** Escapes HELP text: backslash and line feed (format 0.0.4). */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  let text = '{';
  for (let i = 0; i < entries.length; i++) {
    const [name, value] = entries[i]!;
    if (!LABEL_NAME.test(name)) throw new TypeError(`invalid label name ${JSON.stringify(name)}`);
    text += `${i === 0 ? '' : ','}${name}="${escapeLabelValue(String(value))}"`;
  }
  return `${text}}`;
}

/** A sample value as Go's ParseFloat reads it: integers plain, +Inf, -Inf, NaN. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function checkLabels(labels: Record<string, string>): void {
  for (const [name, value] of Object.entries(labels)) {
    // `__` names are reserved by Prometheus; the others are used by the families.
    if (!LABEL_NAME.test(name) || name.startsWith('__') || RESERVED_LABELS.has(name)) {
      throw new TypeError(`invalid label name ${JSON.stringify(name)}`);
    }
    if (typeof value !== 'string') throw new TypeError(`label ${name} must have a string value`);
  }
}

function isLabelled(source: MetricsSource | LabelledSource): source is LabelledSource {
  return typeof (source as LabelledSource).server === 'object' && typeof (source as MetricsSource).metrics !== 'function';
}

// The bucket bounds, for documentation and for registries that want them.
export { PING_RTT_BUCKETS_MS };
