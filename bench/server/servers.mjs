// Echo servers under test, one per process:
//   node servers.mjs <volley|ws|raw|volley-deflate|ws-deflate> <port> [maxPayload] [flags]
// The -deflate kinds accept permessage-deflate with each library's defaults (the zlib
// level can be set for both with DEFLATE_LEVEL=n in the environment).
// Flags (volley only): --metrics=off creates the server with `metrics: false`.
// Prints "ready <port>" when listening. Lines on stdin: "rss" prints its RSS,
// "memory" prints `memory <process.memoryUsage() as JSON>`, "cpu" prints its CPU time
// (µs, user + system) and the messages it has echoed.
import { createServer } from 'node:net';
import { createRequire } from 'node:module';

const flags = new Set(process.argv.slice(2).filter((arg) => arg.startsWith('--')));
const [kind, portArg, maxPayloadArg] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const port = Number(portArg ?? 0);
const maxPayload = Number(maxPayloadArg ?? 64 * 1024 * 1024);
const require = createRequire(import.meta.url);
const level = process.env.DEFLATE_LEVEL === undefined ? undefined : Number(process.env.DEFLATE_LEVEL);
let echoed = 0;

let server;
if (kind === 'volley' || kind === 'volley-deflate') {
  const { WebSocketServer } = await import('../../dist/index.js');
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
  } else if (text === 'cpu') {
    const { user, system } = process.cpuUsage();
    console.log(`cpu ${user + system} ${echoed}`);
  }
});
// Exit normally on a signal so that --cpu-prof can write its profile.
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
