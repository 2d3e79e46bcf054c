// Instructions per handshake, server and client in one process under valgrind: the
// user-space work of accepting an upgrade (JavaScript, libuv, OpenSSL's SHA-1), with
// the kernel's share left out, so that on a busy machine the servers' own costs can
// still be compared exactly.
//
//   node bench/server/handshake-path.mjs [--contenders volley,ws,raw] [--from 3000 --to 4000] [--module file]
//
// Each contender runs `from` and then `to` handshakes, one after the other, from a
// minimal node:net client (the same for every contender), each client closing its
// connection once it has the 101 and the server seeing the close; the difference in
// instructions divided by the extra handshakes is the cost of one handshake, start-up
// and warm-up excluded. The client's share is included and the same for every
// contender: the raw server (a fixed 101, no parsing) shows that floor. The default
// window starts late: before about 2,000 handshakes V8 is still compiling (a window
// of 200 to 1,200 counted Volley 363 k instructions above raw, against 59 k from 2,000
// to 5,000), and a late compilation can still land in any window: repeat a run whose
// figure stands out.
//
// Internal role: `handshake-path.mjs child <contender> <count>`.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildVolley } from '../lib/build.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? fallback : argv[i + 1];
};

const REQUEST = Buffer.from(
  'GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
    'User-Agent: handshake-path\r\nOrigin: http://127.0.0.1\r\n\r\n',
);

async function startServer(contender, volleyModule) {
  if (contender === 'volley') {
    const { WebSocketServer } = await import(pathToFileURL(volleyModule).href);
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    let closed = 0;
    wss.on('connection', (ws) => ws.on('close', () => closed++));
    await new Promise((resolve) => wss.on('listening', resolve));
    return { port: wss.address().port, closed: () => closed };
  }
  if (contender === 'ws') {
    const { WebSocketServer } = require('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    let closed = 0;
    wss.on('connection', (ws) => ws.on('close', () => closed++));
    await new Promise((resolve) => wss.on('listening', resolve));
    return { port: wss.address().port, closed: () => closed };
  }
  let closed = 0;
  const server = createServer({ noDelay: true }, (socket) => {
    socket.once('data', () => socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n'));
    socket.on('close', () => closed++);
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, closed: () => closed };
}

/** One handshake: connect, send the request, wait for the 101, close; then wait for the server to see it. */
function handshake(port) {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    socket.on('error', reject);
    socket.once('data', (chunk) => {
      if (chunk[9] !== 0x31 || chunk[10] !== 0x30 || chunk[11] !== 0x31) reject(new Error(`not a 101: ${chunk.toString().split('\r\n')[0]}`));
      socket.destroy();
      resolve();
    });
    socket.write(REQUEST);
  });
}

async function child(contender, count, volleyModule) {
  const server = await startServer(contender, volleyModule);
  for (let i = 0; i < count; i++) {
    await handshake(server.port);
    // Let the server finish with this connection before the next one.
    for (let spin = 0; server.closed() < i + 1 && spin < 1000; spin++) await new Promise((resolve) => setImmediate(resolve));
  }
  if (server.closed() !== count) throw new Error(`${contender}: ${server.closed()} of ${count} connections closed`);
  process.exit(0);
}

function instructions(contender, count, volleyModule) {
  const result = spawnSync(
    'valgrind',
    ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', process.execPath, '--single-threaded', '--random-seed=1', '--hash-seed=1', fileURLToPath(import.meta.url), 'child', contender, String(count), volleyModule],
    { encoding: 'utf8', timeout: 1_800_000 },
  );
  const match = /I\s+refs:\s+([\d,]+)/.exec(result.stderr ?? '');
  if (result.status !== 0 || match === null) throw new Error(`${contender}: ${result.error ?? result.stderr.slice(-800)}`);
  return Number(match[1].replaceAll(',', ''));
}

if (argv[0] === 'child') {
  await child(argv[1], Number(argv[2]), argv[3]);
} else {
  // --module <file>: a Volley bundle built beforehand (to compare two builds), else src/.
  const volleyModule = option('module', null) ?? (await buildVolley({ sourcemap: false }));
  const from = Number(option('from', 3000));
  const to = Number(option('to', 4000));
  const contenders = option('contenders', 'volley,ws,raw').split(',');
  const per = {};
  for (const contender of contenders) {
    per[contender] = (instructions(contender, to, volleyModule) - instructions(contender, from, volleyModule)) / (to - from);
    process.stderr.write(`${contender}: ${Math.round(per[contender])} instructions per handshake\n`);
  }
  process.stdout.write(`| Server | instructions per handshake | vs ws | above raw | vs ws above raw |\n| --- | --- | --- | --- | --- |\n`);
  for (const contender of contenders) {
    const above = per.raw === undefined ? NaN : per[contender] - per.raw;
    const wsAbove = per.raw === undefined ? NaN : per.ws - per.raw;
    process.stdout.write(`| ${contender} | ${Math.round(per[contender])} | ${(per[contender] / per.ws).toFixed(2)}× | ${Math.round(above)} | ${(above / wsAbove).toFixed(2)}× |\n`);
  }
}
