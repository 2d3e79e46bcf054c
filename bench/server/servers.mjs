// Echo servers under test, one per process:
//   node servers.mjs <volley|ws|raw|volley-deflate|ws-deflate> <port> [maxPayload] [flags]
// The -deflate kinds accept permessage-deflate with each library's defaults (the zlib
// level can be set for both with DEFLATE_LEVEL=n in the environment).
// Flags (volley only): --metrics=off creates the server with `metrics: false`.
// --report-impl prints "impl <what>" before "ready": for ws, which masking code it loaded
// (bufferutil's native addon, or its JS fallback under WS_NO_BUFFER_UTIL=1).
// VOLLEY_MODULE=<path> in the environment, or --module=<path>, loads Volley from that file
// instead of dist/ (--module lets variants.mjs compare two builds in one run).
// Prints "ready <port>" when listening. Lines on stdin: "rss" prints its RSS,
// "memory" prints `memory <process.memoryUsage() as JSON>`, "spaces" the V8 heap spaces, "snapshot <file>" writes a heap snapshot, "cpu" prints its CPU time
// (µs, user + system) and the messages it has echoed.
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';

const flags = new Set(process.argv.slice(2).filter((arg) => arg.startsWith('--')));
const [kind, portArg, maxPayloadArg] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const port = Number(portArg ?? 0);
const maxPayload = Number(maxPayloadArg ?? 64 * 1024 * 1024);
const require = createRequire(import.meta.url);
const level = process.env.DEFLATE_LEVEL === undefined ? undefined : Number(process.env.DEFLATE_LEVEL);
let echoed = 0;

let server;
if (kind === 'volley' || kind === 'volley-deflate') {
  const module = [...flags].find((flag) => flag.startsWith('--module='))?.slice('--module='.length) ?? process.env.VOLLEY_MODULE;
  const { WebSocketServer } = await import(module ? pathToFileURL(module).href : '../../dist/index.js');
  // No send budget, like ws: with many large messages in flight the default 1 MiB
  // maxBackpressure would drop echoes, and the load generator waits for every one.
  server = new WebSocketServer({
    port,
    host: '127.0.0.1',
    maxPayload,
    maxBackpressure: 0,
    metrics: !flags.has('--metrics=off'),
    perMessageDeflate: kind === 'volley-deflate' && (level === undefined ? true : { level }),
  });
  server.on('connection', (ws) =>
    ws.on('message', (data, isBinary) => {
      echoed++;
      ws.send(data, { binary: isBinary });
    }),
  );
  await new Promise((r) => server.on('listening', r));
} else if (kind === 'ws' || kind === 'ws-deflate') {
  const { WebSocketServer } = require('ws');
  server = new WebSocketServer({
    port,
    host: '127.0.0.1',
    maxPayload,
    perMessageDeflate: kind === 'ws-deflate' && (level === undefined ? true : { zlibDeflateOptions: { level } }),
  });
  server.on('connection', (ws) =>
    ws.on('message', (data, isBinary) => {
      echoed++;
      ws.send(data, { binary: isBinary });
    }),
  );
  await new Promise((r) => server.on('listening', r));
} else if (kind === 'raw') {
  // Not WebSocket: answers the upgrade with a fixed 101 and echoes bytes as they come.
  // The ceiling: what node:net does with the same bytes and no framing at all.
  server = createServer({ noDelay: true }, (socket) => {
    let upgraded = false;
    socket.on('data', (chunk) => {
      if (!upgraded) {
        upgraded = true;
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n');
        return;
      }
      // No parsing, no framing: the bytes go back as they came (the load generator
      // counts masked frames as well as unmasked ones).
      socket.write(chunk);
    });
    socket.on('error', () => {});
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
} else {
  console.error(`unknown server kind ${kind}`);
  process.exit(2);
}

if (flags.has('--report-impl')) {
  let impl = kind;
  if (kind.startsWith('ws')) {
    const { loadWs } = await import('../lib/ws.mjs');
    // loadWs throws unless ws really uses what the environment asked for.
    const wsImpl = loadWs(process.env.WS_NO_BUFFER_UTIL ? 'js' : 'native').impl;
    impl = `ws ${process.env.WS_NO_BUFFER_UTIL ? 'js' : 'native'}: ${wsImpl}`;
  }
  console.log(`impl ${impl}`);
}
const address = server.address();
console.log(`ready ${address.port}`);
process.stdin.on('data', (line) => {
  const text = line.toString().trim();
  if (text === 'rss') {
    globalThis.gc?.();
    console.log(`rss ${process.memoryUsage().rss}`);
  } else if (text === 'memory') {
    globalThis.gc?.();
    console.log(`memory ${JSON.stringify(process.memoryUsage())}`);
  } else if (text === 'spaces') {
    globalThis.gc?.();
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size, physical: s.physical_space_size }]));
    console.log(`spaces ${JSON.stringify(spaces)}`);
  } else if (text.startsWith('snapshot ')) {
    console.log(`snapshot ${writeHeapSnapshot(text.slice('snapshot '.length))}`);
  } else if (text === 'cpu') {
    const { user, system } = process.cpuUsage();
    console.log(`cpu ${user + system} ${echoed}`);
  }
});
// Exit normally on a signal so that --cpu-prof can write its profile.
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
