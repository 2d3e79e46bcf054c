// The demo server: `npm start`, then open http://127.0.0.1:8080 in two browser tabs.
// Every message typed is echoed to its sender and published to everyone else in the lobby.
// SIGTERM or SIGINT shuts down gracefully: every client gets a close frame (1001).
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { WebSocketServer } from '../dist/index.js';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const page = readFileSync(new URL('./demo.html', import.meta.url));

const server = createServer((req, res) => {
  if (req.url === '/' || req.url === '/index.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
});

const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 64 * 1024 });
let nextId = 1;

wss.on('connection', (ws, req) => {
  const name = `guest-${nextId++}`;
  ws.send(JSON.stringify({ type: 'welcome', name, online: wss.clients.size }));
  ws.subscribe('lobby');
  // ws.publish reaches every subscriber but the sender; the message is framed once.
  ws.publish('lobby', JSON.stringify({ type: 'joined', name, online: wss.clients.size }));
  ws.on('message', (data, isBinary) => {
    if (isBinary) return ws.send(data, { binary: true }); // binary: plain echo
    const text = data.toString().slice(0, 1000);
    ws.send(JSON.stringify({ type: 'echo', text }));
    ws.publish('lobby', JSON.stringify({ type: 'message', from: name, text }));
  });
  // Subscriptions end with the connection: this reaches the others.
  ws.on('close', () => wss.publish('lobby', JSON.stringify({ type: 'left', name, online: wss.clients.size })));
});

server.on('error', (error) => {
  // A port in use (EADDRINUSE) or not allowed: say so, and how to choose another.
  console.error(`Volley demo: cannot listen on ${host}:${port}: ${error.message} (set PORT or HOST)`);
  process.exit(1);
});
server.listen(port, host, () => {
  const { port: bound } = server.address();
  console.log(`Volley demo: open http://${host}:${bound} (WebSocket endpoint ws://${host}:${bound}/ws)`);
});

process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
async function shutdown(signal) {
  console.log(`${signal}: closing connections`);
  // New upgrades get 503; clients get 1001 and have 5 s to answer before being cut off.
  await wss.close({ code: 1001, reason: 'server shutting down', timeout: 5000 });
  server.closeAllConnections(); // idle keep-alive HTTP connections
  server.close(() => process.exit(0));
}
