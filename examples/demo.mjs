// The demo server: `npm start`, then open http://127.0.0.1:8080 in two browser tabs.
// Every message typed is echoed to its sender and broadcast to everyone connected.
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
  broadcast({ type: 'joined', name, online: wss.clients.size }, ws);
  ws.on('message', (data, isBinary) => {
    if (isBinary) return ws.send(data, { binary: true }); // binary: plain echo
    const text = data.toString().slice(0, 1000);
    ws.send(JSON.stringify({ type: 'echo', text }));
    broadcast({ type: 'message', from: name, text }, ws);
  });
  ws.on('close', () => broadcast({ type: 'left', name, online: wss.clients.size }));
});

function broadcast(message, except) {
  const text = JSON.stringify(message);
  for (const client of wss.clients) if (client !== except && client.readyState === 1) client.send(text);
}

server.listen(port, host, () => {
  console.log(`Volley demo: open http://${host}:${port} (WebSocket endpoint ws://${host}:${port}/ws)`);
});

process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
function shutdown() {
  for (const client of wss.clients) client.close(1001, 'server shutting down');
  wss.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
