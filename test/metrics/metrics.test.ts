/**
 * `wss.metrics()` after a scripted session through real sockets, the Prometheus
 * exposition of it (checked by the strict parser), and the `/metrics` handler.
 */
import { createServer, request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket, WebSocketServer } from '../../src/index.js';
import { MetricsRecorder, mergeSnapshots, type MetricsSnapshot } from '../../src/metrics/recorder.js';
import { PROMETHEUS_CONTENT_TYPE, escapeLabelValue, metricFamilies, metricsHandler, renderExposition, renderMetrics } from '../../src/metrics/index.js';
import { closeAll, nextEvent, openClient, rawUpgrade, startServer, track, until, within } from '../helpers/sockets.js';
import { parseExposition, type ParsedFamily } from './exposition-parser.js';

afterEach(closeAll);

/** The value of the sample of `family` whose labels include `labels`. */
function valueOf(families: Map<string, ParsedFamily>, family: string, sample: string, labels: Record<string, string> = {}): number | undefined {
  return families.get(family)?.samples.find((s) => s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** A session: one client through the rate limit, two refused upgrades, heartbeat and publish reports. */
async function scriptedSession(): Promise<{ wss: WebSocketServer; clientReceived: Buffer[] }> {
  const { wss, url, port } = await startServer({
    rateLimit: { messages: 3, per: 60_000 },
    origins: ['https://ok.example'],
  });
  wss.on('connection', (ws: WebSocket) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  const client = await openClient(url);
  const clientReceived: Buffer[] = [];
  client.on('message', (data: Buffer) => clientReceived.push(data));
  for (let i = 0; i < 5; i++) client.send('hello');
  await until(() => clientReceived.length === 4, 'three echoes and the rate-limit message');
  const closed = nextEvent(client, 'close');
  client.close(1000);
  await closed;
  await until(() => wss.metrics().connections.closed === 1, 'the server side to close');
  expect((await rawUpgrade(port, { headers: { Origin: 'https://evil.example' } })).status).toBe(403);
  expect((await rawUpgrade(port, { plain: true })).status).toBe(426);
  const recorder = wss.metricsRecorder!;
  recorder.observePingRtt(3);
  recorder.observePingRtt(40);
  recorder.observePingRtt(-1); // ignored
  recorder.observePublish(5);
  recorder.observePublish(0);
  recorder.observeBackpressureDrop(2);
  return { wss, clientReceived };
}

describe('wss.metrics()', () => {
  it('counts a scripted session exactly', async () => {
    const { wss, clientReceived } = await scriptedSession();
    const snapshot = wss.metrics();
    // Frames as sent: a masked client frame has 6 header bytes, a server frame 2.
    const clientFrames = 5 * (6 + 'hello'.length) + (6 + 2); // five messages, close 1000
    const serverFrames = clientReceived.reduce((sum, data) => sum + 2 + data.length, 0) + (2 + 2); // echoes, notice, close echo
    expect(snapshot).toEqual<MetricsSnapshot>({
      connections: { open: 0, opened: 1, closed: 1 },
      handshakes: { accepted: 1, rejected: { 403: 1, 426: 1 } },
      messages: { received: 5, sent: 4, dropped: { backpressure: 2, rateLimit: 2 } },
      bytes: { received: clientFrames, sent: serverFrames },
      closeCodes: { 1000: 1 },
      pingRtt: {
        count: 2,
        sum: 43,
        min: 3,
        max: 40,
        buckets: [
          { le: 1, count: 0 },
          { le: 2.5, count: 0 },
          { le: 5, count: 1 },
          { le: 10, count: 1 },
          { le: 25, count: 1 },
          { le: 50, count: 2 },
          { le: 100, count: 2 },
          { le: 250, count: 2 },
          { le: 500, count: 2 },
          { le: 1000, count: 2 },
          { le: 2500, count: 2 },
          { le: 5000, count: 2 },
          { le: 10000, count: 2 },
          { le: Infinity, count: 2 },
        ],
      },
      publish: { messages: 2, recipients: 5 },
    });
  });

  it('open connections and abnormal closes', async () => {
    const { wss, url } = await startServer();
    const a = await openClient(url);
    await openClient(url);
    await until(() => wss.metrics().connections.open === 2, 'two open');
    a.terminate();
    await until(() => wss.metrics().connections.open === 1, 'one open');
    expect(wss.metrics().closeCodes).toEqual({ 1006: 1 });
  });

  it("connections closed for a policy whose peer never answers count under the code sent: backpressure's 1013, idleTimeout's 1001", async () => {
    const { wss, port } = await startServer({ maxBackpressure: 1024, backpressurePolicy: 'close', idleTimeout: 150, closeTimeout: 100 });
    const idle = await rawUpgrade(port); // says nothing and never answers the close
    const flooded = await rawUpgrade(port); // never reads
    flooded.socket.pause();
    await until(() => wss.clients.size === 2, 'two connections');
    const [, floodedSide] = [...wss.clients];
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 64 && floodedSide!.readyState === floodedSide!.OPEN; i++) floodedSide!.send(big);
    expect(floodedSide!.readyState).toBe(floodedSide!.CLOSING);
    await until(() => wss.metrics().connections.closed === 2, 'both closed', 5_000);
    expect(wss.metrics().closeCodes).toEqual({ 1001: 1, 1013: 1 });
    void idle;
  });

  it('connections the server failed count under the code it sent, not 1006', async () => {
    const { wss, url } = await startServer({ maxPayload: 10, rateLimit: { messages: 1, per: 60_000, action: 'close' } });
    const big = await openClient(url);
    big.send('more than ten bytes'); // 1009
    const chatty = await openClient(url);
    chatty.send('one');
    chatty.send('two'); // over the rate limit: 1008
    await until(() => wss.metrics().connections.closed === 2, 'both closed');
    expect(wss.metrics().closeCodes).toEqual({ 1008: 1, 1009: 1 });
    // The exposition says so too: its HELP must not promise the code the close event reported (1006 here).
    const closedFamily = parseExposition(renderMetrics(wss)).get('volley_connections_closed_total')!;
    expect(closedFamily.samples.map((sample) => sample.labels.code)).toEqual(['1008', '1009']);
    expect(closedFamily.help).toMatch(/code the server sent/);
  });

  it('a fragmented message counts as one message sent; a publish counts the recipients it reached, not those it dropped', async () => {
    const { wss, url } = await startServer({ maxBackpressure: 1 });
    const clients = [await openClient(url), await openClient(url)];
    await until(() => wss.clients.size === 2, 'two connections');
    const [a, b] = [...wss.clients] as WebSocket[];
    const received = nextEvent<[Buffer]>(clients[0]!, 'message');
    a!.send('one ', { fin: false });
    a!.send('message');
    expect(String((await received)[0])).toBe('one message');
    expect(wss.metrics().messages.sent).toBe(1);
    a!.subscribe('t');
    b!.subscribe('t');
    expect(wss.publish('t', 'x').dropped).toBe(0);
    expect(wss.publish('t', 'y')).toEqual({ sent: 0, backpressure: 0, dropped: 2 }); // same tick: over the 1-byte budget
    const snapshot = wss.metrics();
    expect(snapshot.publish).toEqual({ messages: 2, recipients: 2 });
    expect(snapshot.messages.sent).toBe(3);
    expect(snapshot.messages.dropped.backpressure).toBe(2);
  });

  it('a snapshot is a copy', async () => {
    const { wss, url } = await startServer();
    const before = wss.metrics();
    await openClient(url);
    await until(() => wss.metrics().connections.open === 1, 'one open');
    expect(before.connections.open).toBe(0);
  });

  it('metrics: false → nothing counted, metrics() throws, connections work', async () => {
    const { wss, url } = await startServer({ metrics: false });
    wss.on('connection', (ws: WebSocket) => ws.on('message', (data: Buffer) => ws.send(data)));
    const client = await openClient(url);
    const echo = nextEvent<[Buffer]>(client, 'message');
    client.send('ping');
    expect((await echo)[0].toString()).toBe('ping');
    expect(wss.metricsRecorder).toBeNull();
    expect(() => wss.metrics()).toThrow(/disabled/);
  });
});

describe('MetricsRecorder', () => {
  it('buckets use le as an inclusive upper bound', () => {
    const recorder = new MetricsRecorder();
    for (const ms of [0, 1, 1.0001, 10_000, 10_001]) recorder.observePingRtt(ms);
    const buckets = recorder.snapshot().pingRtt.buckets;
    expect(buckets[0]).toEqual({ le: 1, count: 2 });
    expect(buckets[1]).toEqual({ le: 2.5, count: 3 });
    expect(buckets.at(-2)).toEqual({ le: 10_000, count: 4 });
    expect(buckets.at(-1)).toEqual({ le: Infinity, count: 5 });
  });

  it('ignores NaN, negative and infinite samples', () => {
    const recorder = new MetricsRecorder();
    for (const ms of [Number.NaN, -5, Infinity]) recorder.observePingRtt(ms);
    expect(recorder.snapshot().pingRtt).toMatchObject({ count: 0, sum: 0, min: 0, max: 0 });
  });

  it('mergeSnapshots adds counters, keeps extremes, adds buckets', () => {
    const a = new MetricsRecorder();
    const b = new MetricsRecorder();
    a.messagesReceived = 2;
    b.messagesReceived = 3;
    a.observeHandshakeRejected(401);
    b.observeHandshakeRejected(401);
    b.observeHandshakeRejected(429);
    a.observePingRtt(7);
    b.observePingRtt(2);
    const merged = mergeSnapshots([a.snapshot(), b.snapshot()]);
    expect(merged.messages.received).toBe(5);
    expect(merged.handshakes.rejected).toEqual({ 401: 2, 429: 1 });
    expect(merged.pingRtt).toMatchObject({ count: 2, sum: 9, min: 2, max: 7 });
    expect(mergeSnapshots([new MetricsRecorder().snapshot(), a.snapshot()]).pingRtt.min).toBe(7);
  });
});

describe('Prometheus exposition', () => {
  it('the scripted session parses strictly, with the right types and values', async () => {
    const { wss } = await scriptedSession();
    const text = renderMetrics(wss);
    const families = parseExposition(text);
    const types = Object.fromEntries([...families.values()].map((f) => [f.name, f.type]));
    expect(types).toEqual({
      volley_connections: 'gauge',
      volley_connections_opened_total: 'counter',
      volley_connections_closed_total: 'counter',
      volley_handshakes_total: 'counter',
      volley_messages_received_total: 'counter',
      volley_messages_sent_total: 'counter',
      volley_messages_dropped_total: 'counter',
      volley_received_bytes_total: 'counter',
      volley_sent_bytes_total: 'counter',
      volley_ping_rtt_seconds: 'histogram',
      volley_publish_messages_total: 'counter',
      volley_publish_recipients_total: 'counter',
    });
    for (const family of families.values()) {
      expect(family.help).toBeTruthy();
      if (family.type === 'counter') expect(family.name).toMatch(/_total$/);
    }
    expect(valueOf(families, 'volley_connections', 'volley_connections')).toBe(0);
    expect(valueOf(families, 'volley_handshakes_total', 'volley_handshakes_total', { outcome: 'accepted', status: '101' })).toBe(1);
    expect(valueOf(families, 'volley_handshakes_total', 'volley_handshakes_total', { outcome: 'rejected', status: '403' })).toBe(1);
    expect(valueOf(families, 'volley_connections_closed_total', 'volley_connections_closed_total', { code: '1000' })).toBe(1);
    expect(valueOf(families, 'volley_messages_dropped_total', 'volley_messages_dropped_total', { reason: 'rate_limit' })).toBe(2);
    expect(valueOf(families, 'volley_messages_dropped_total', 'volley_messages_dropped_total', { reason: 'backpressure' })).toBe(2);
    expect(valueOf(families, 'volley_ping_rtt_seconds', 'volley_ping_rtt_seconds_bucket', { le: '0.005' })).toBe(1);
    expect(valueOf(families, 'volley_ping_rtt_seconds', 'volley_ping_rtt_seconds_bucket', { le: '+Inf' })).toBe(2);
    expect(valueOf(families, 'volley_ping_rtt_seconds', 'volley_ping_rtt_seconds_sum')).toBeCloseTo(0.043, 10);
    expect(valueOf(families, 'volley_ping_rtt_seconds', 'volley_ping_rtt_seconds_count')).toBe(2);
    expect(valueOf(families, 'volley_publish_recipients_total', 'volley_publish_recipients_total')).toBe(5);
  });

  it('a fresh server renders valid families (empty label sets, empty families)', async () => {
    const { wss } = await startServer();
    const families = parseExposition(renderMetrics(wss));
    expect(families.get('volley_connections_closed_total')!.samples).toEqual([]);
  });

  it('label values are escaped: backslash, double quote, line feed', async () => {
    const { wss } = await startServer();
    const tricky = 'a\\b "quoted"\nnext line, {braces} = ü';
    const families = parseExposition(renderMetrics([{ server: wss, labels: { service: tricky } }]));
    expect(families.get('volley_connections')!.samples[0]!.labels).toEqual({ service: tricky });
    expect(escapeLabelValue(tricky)).toBe('a\\\\b \\"quoted\\"\\nnext line, {braces} = ü');
  });

  it('HELP text is escaped', () => {
    const text = renderExposition([{ name: 'x', help: 'back\\slash\nnewline "quotes"', type: 'gauge', samples: [{ name: 'x', labels: {}, value: 1 }] }]);
    expect(text).toBe('# HELP x back\\\\slash\\nnewline "quotes"\n# TYPE x gauge\nx 1\n');
    expect(parseExposition(text).get('x')!.help).toBe('back\\slash\nnewline "quotes"');
  });

  it('special values', () => {
    const text = renderExposition([
      { name: 'v', help: 'h', type: 'gauge', samples: [1, 0.5, 1e21, Infinity, -Infinity, Number.NaN].map((value, i) => ({ name: 'v', labels: { i: String(i) }, value })) },
    ]);
    expect(parseExposition(text).get('v')!.samples.map((s) => s.value)).toEqual([1, 0.5, 1e21, Infinity, -Infinity, Number.NaN]);
  });

  it('several servers: labelled ones apart, each family contiguous; unlabelled ones summed', async () => {
    const chat = (await startServer()).wss;
    const feed = (await startServer()).wss;
    await openClient(`ws://127.0.0.1:${(chat.address() as { port: number }).port}`);
    await until(() => chat.metrics().connections.open === 1, 'one open');
    const apart = parseExposition(renderMetrics([{ server: chat, labels: { app: 'chat' } }, { server: feed, labels: { app: 'feed' } }]));
    expect(apart.get('volley_connections')!.samples.map((s) => [s.labels.app, s.value])).toEqual([['chat', 1], ['feed', 0]]);
    const summed = parseExposition(renderMetrics([chat, feed], { labels: { instance: 'a' } }));
    expect(summed.get('volley_connections')!.samples).toEqual([{ name: 'volley_connections', labels: { instance: 'a' }, value: 1 }]);
  });

  it('a custom prefix', async () => {
    const { wss } = await startServer();
    expect([...parseExposition(renderMetrics(wss, { prefix: 'chat_ws_' })).keys()][0]).toBe('chat_ws_connections');
    expect(() => renderMetrics(wss, { prefix: 'bad-prefix' })).toThrow(TypeError);
  });

  it.each(['0bad', 'with-dash', '__reserved', 'le', 'quantile', 'status'])('label name %j → TypeError', (name) => {
    expect(() => metricFamilies(new MetricsRecorder().snapshot(), { [name]: 'x' })).toThrow(TypeError);
  });

  it('one name with two types → TypeError', () => {
    expect(() =>
      renderExposition([
        { name: 'x', help: 'h', type: 'gauge', samples: [] },
        { name: 'x', help: 'h', type: 'counter', samples: [] },
      ]),
    ).toThrow(TypeError);
  });
});

describe('metricsHandler', () => {
  async function get(handler: ReturnType<typeof metricsHandler>, method = 'GET') {
    const server = track(createServer(handler));
    server.listen(0, '127.0.0.1');
    await nextEvent(server, 'listening');
    const port = (server.address() as { port: number }).port;
    return within(
      new Promise<{ status: number; type: string | undefined; body: string; allow: string | undefined }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: '/metrics', method }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body, allow: res.headers.allow }));
        });
        req.on('error', reject);
        req.end();
      }),
      'the metrics response',
    );
  }

  it('GET → 200, text/plain; version=0.0.4, a strictly valid body', async () => {
    const { wss, url } = await startServer();
    await openClient(url);
    await until(() => wss.metrics().connections.open === 1, 'one open');
    const response = await get(metricsHandler(wss));
    expect(response.status).toBe(200);
    expect(response.type).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(response.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(valueOf(parseExposition(response.body), 'volley_connections', 'volley_connections')).toBe(1);
  });

  it('HEAD → 200 without a body; POST → 405 with Allow', async () => {
    const { wss } = await startServer();
    const head = await get(metricsHandler([wss]), 'HEAD');
    expect([head.status, head.body]).toEqual([200, '']);
    const post = await get(metricsHandler(wss), 'POST');
    expect([post.status, post.allow]).toEqual([405, 'GET, HEAD']);
  });

  it('a server with metrics off → 500, no details', async () => {
    const { wss } = await startServer({ metrics: false });
    const response = await get(metricsHandler(wss));
    expect([response.status, response.body]).toEqual([500, 'metrics unavailable\n']);
  });
});
