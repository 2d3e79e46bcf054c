/**
 * The package as users install it: the built `dist/` (run `npm run build` first; `npm
 * test` does), through its `exports` map, from CommonJS, ESM and TypeScript consumers.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let consumer = '';

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'index.cjs'))) throw new Error('dist/ is missing: run `npm run build` first');
  // A project that depends on the package: node_modules/volley is this repository.
  consumer = mkdtempSync(join(tmpdir(), 'volley-consumer-'));
  mkdirSync(join(consumer, 'node_modules'));
  symlinkSync(root, join(consumer, 'node_modules', 'volley'), 'dir');
});

afterAll(() => {
  if (consumer !== '') rmSync(consumer, { recursive: true, force: true });
});

async function node(file: string, source: string): Promise<string> {
  writeFileSync(join(consumer, file), source);
  const { stdout } = await run(process.execPath, [file], { cwd: consumer, timeout: 20_000 });
  return stdout.trim();
}

describe('CommonJS', () => {
  it("require('volley') is the WebSocket class with every export on it, as ws has it; a server and client talk", async () => {
    const out = await node(
      'echo.cjs',
      `const WebSocket = require('volley');
const { WebSocketServer, SendStatus } = require('volley');
const checks = [typeof WebSocket === 'function', WebSocket.Server === WebSocketServer, WebSocket.default === WebSocket,
  WebSocket.__esModule === true, typeof WebSocket.createWebSocketStream, SendStatus.SENT];
const wss = new WebSocket.Server({ port: 0, host: '127.0.0.1', heartbeat: false }, () => {
  const ws = new WebSocket('ws://127.0.0.1:' + wss.address().port);
  ws.on('open', () => ws.send('over CommonJS'));
  ws.on('message', (data) => { console.log(JSON.stringify([...checks, String(data)])); ws.close(); wss.close(); });
});
wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data, { binary: false })));`,
    );
    expect(JSON.parse(out)).toEqual([true, true, true, true, 'function', 1, 'over CommonJS']);
  });

  it("the subpaths are plain objects, sharing the root's classes", async () => {
    const out = await node(
      'subpaths.cjs',
      `const volley = require('volley');
const protocol = require('volley/protocol');
const metrics = require('volley/metrics');
console.log(JSON.stringify([typeof protocol, protocol.HandshakeError === volley.HandshakeError, typeof metrics.renderMetrics]));`,
    );
    expect(JSON.parse(out)).toEqual(['object', true, 'function']);
  });
});

describe('ESM', () => {
  it("'volley' and 'volley/protocol' share one copy of their classes and constants", async () => {
    const out = await node(
      'same.mjs',
      `import * as volley from 'volley';
import * as protocol from 'volley/protocol';
const shared = Object.keys(protocol).filter((key) => key in volley);
console.log(JSON.stringify([shared.length > 5, shared.filter((key) => protocol[key] !== volley[key])]));`,
    );
    expect(JSON.parse(out)).toEqual([true, []]);
  });
});

describe('names', () => {
  it('every exported class has its own name, in both builds and every entry (error.name, console.log and constructor.name show it)', async () => {
    // ws's names for WebSocket and WebSocketServer are aliases.
    const check = `
      const aliases = new Set(['default', 'Server']);
      const wrong = [];
      const seen = (entry, exports) => {
        for (const [key, value] of Object.entries(exports)) {
          if (typeof value === 'function' && !aliases.has(key) && /^[A-Z]/.test(key) && value.name !== key) wrong.push(entry + ' ' + key + ': ' + value.name);
        }
      };`;
    const esm = await node(
      'names.mjs',
      `${check}
      for (const entry of ['volley', 'volley/protocol', 'volley/metrics']) seen('esm ' + entry, await import(entry));
      const { HandshakeError } = await import('volley');
      wrong.push(new HandshakeError(400, 'no').name);
      console.log(JSON.stringify(wrong));`,
    );
    expect(JSON.parse(esm)).toEqual(['HandshakeError']);
    const cjs = await node(
      'names.cjs',
      `${check}
      for (const entry of ['volley', 'volley/protocol', 'volley/metrics']) seen('cjs ' + entry, require(entry));
      console.log(JSON.stringify(wrong));`,
    );
    expect(JSON.parse(cjs)).toEqual([]);
  });
});

describe('declarations against the run-time exports', () => {
  // A name the declarations export as a value (class, function, constant, enum) that the
  // module does not export compiles in a consumer and fails when it runs.
  const entries = [
    ['volley', 'index'],
    ['volley/protocol', 'protocol/index'],
    ['volley/metrics', 'metrics/index'],
  ] as const;

  async function declaredValues(file: string): Promise<string[]> {
    const ts = (await import('typescript')).default;
    const program = ts.createProgram([file], { strict: true, skipLibCheck: true, types: ['node'] });
    const checker = program.getTypeChecker();
    const module = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
    const values: string[] = [];
    for (const symbol of checker.getExportsOfModule(module)) {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      // An alias written `export { type X }` is a type only, whatever X is.
      const typeOnly = symbol.declarations?.some((d) => ts.isExportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly)) ?? false;
      if (!typeOnly && target.flags & ts.SymbolFlags.Value) values.push(symbol.name);
    }
    return values.sort();
  }

  it.each(entries)('every value %s declares exists at run time, in both builds', async (entry, path) => {
    const esm = await declaredValues(join(root, 'dist', `${path}.d.ts`));
    const cjs = await declaredValues(join(root, 'dist', `${path}.d.cts`));
    expect(esm.length).toBeGreaterThan(3);
    const out = await node(
      `values-${path.replace('/', '-')}.mjs`,
      `import { createRequire } from 'node:module';
const esm = await import(${JSON.stringify(entry)});
const cjs = createRequire(import.meta.url)(${JSON.stringify(entry)});
const missing = (names, exports) => names.filter((name) => name !== 'default' && exports[name] === undefined);
console.log(JSON.stringify([missing(${JSON.stringify(esm)}, esm), missing(${JSON.stringify(cjs)}, cjs)]));`,
    );
    expect(JSON.parse(out)).toEqual([[], []]);
  });
});

describe('what loading the package loads', () => {
  // process.moduleLoadList names the built-in modules loaded so far ('NativeModule tls').
  const probe = `const loaded = () => ['tls', 'http', 'https'].filter((name) => process.moduleLoadList.includes('NativeModule ' + name));
const before = loaded();
const ws = new WebSocket('wss://127.0.0.1:1');
ws.on('error', () => {});
console.log(JSON.stringify([before, loaded()]));`;

  it('node:tls, node:http and node:https only once a client needs them, from ESM and CommonJS', async () => {
    const esm = await node('lazy.mjs', `import { WebSocket, WebSocketServer } from 'volley';\n${probe}`);
    const cjs = await node('lazy.cjs', `const { WebSocket, WebSocketServer } = require('volley');\n${probe}`);
    for (const out of [esm, cjs]) expect(JSON.parse(out)).toEqual([[], ['tls']]);
  });
});

describe('both builds in one process (an ESM app, a CommonJS helper)', () => {
  it('an UpgradeError from the other copy keeps its status; servers attached from both copies answer other paths', async () => {
    const out = await node(
      'dual.mjs',
      `import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import * as esm from 'volley';
const cjs = createRequire(import.meta.url)('volley');
const results = [];
const refusal = (url) => new Promise((resolve) => {
  const ws = new esm.WebSocket(url);
  ws.on('error', (error) => resolve(error.message));
});
const wss = new esm.WebSocketServer({ port: 0, host: '127.0.0.1', heartbeat: false, authenticate: () => { throw new cjs.UpgradeError(401, 'no token'); } });
await new Promise((resolve) => wss.on('listening', resolve));
results.push(await refusal('ws://127.0.0.1:' + wss.address().port));
wss.close();
const http = createServer();
await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
const a = new esm.WebSocketServer({ server: http, path: '/a', heartbeat: false });
const b = new cjs.WebSocketServer({ server: http, path: '/b', heartbeat: false });
results.push(await refusal('ws://127.0.0.1:' + http.address().port + '/c'));
a.close(); b.close(); http.close();
console.log(JSON.stringify(results));`,
    );
    expect(JSON.parse(out)).toEqual(['Unexpected server response: 401', 'Unexpected server response: 400']);
  });
});

describe('TypeScript consumers', () => {
  const files = {
    'quick.ts': `import { WebSocketServer, WebSocket } from 'volley';
const wss = new WebSocketServer({ port: 8080 });
wss.on('connection', (ws, req) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  void req.url;
});
const ws = new WebSocket('ws://127.0.0.1:8080');
ws.on('open', () => ws.send('hello'));
ws.on('message', (data) => console.log(data.toString()));
`,
    'typed.ts': `import { WebSocketServer, WebSocket } from 'volley';
import { FrameParser } from 'volley/protocol';
import { renderMetrics } from 'volley/metrics';
interface User { name: string }
const wss = new WebSocketServer<User>({ noServer: true, authenticate: () => ({ name: 'a' }) });
wss.on('connection', (ws) => {
  const name: string = ws.data.name;
  // @ts-expect-error: not a field of the authenticate result
  void ws.data.missing;
  ws.on('close', (code, reason) => {
    const c: number = code;
    // @ts-expect-error: the reason is a Buffer
    const r: number = reason;
    void c; void r; void name;
  });
  // In a function listener, this is the connection with its data typed.
  ws.on('message', function () {
    const own: string = this.data.name;
    // @ts-expect-error: not a field of the authenticate result
    void this.data.missing;
    void own;
  });
});
const client = new WebSocket('ws://127.0.0.1:1');
client.on('message', (data, isBinary) => {
  const bytes: Buffer = data;
  // @ts-expect-error: isBinary is a boolean
  const text: string = isBinary;
  void bytes; void text;
});
client.on('message', (data: ArrayBuffer) => void data); // another binaryType: annotated
void FrameParser; void renderMetrics;
`,
    // Code written against @types/ws, with only the import changed (ws's README examples).
    'from-ws.ts': `import { createServer, type IncomingMessage } from 'node:http';
import { createConnection as createNetConnection } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { WebSocket, WebSocketServer, type RawData, type Data, type VerifyClientCallbackSync, type VerifyClientCallbackAsync, type EventListenerOptions, type AddressInfo } from 'volley';
const server = createServer();
const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: { zlibDeflateOptions: { chunkSize: 1024, memLevel: 7, level: 3 }, zlibInflateOptions: { chunkSize: 10 * 1024 }, threshold: 1024 },
});
server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});
wss.on('connection', (ws: WebSocket) => {
  ws.on('message', (data: RawData, isBinary: boolean) => void [data, isBinary]);
  ws.send('x', (err?: Error) => void err);
  ws.send('y', { binary: false }, (err?: Error) => void err);
  ws.send(Buffer.from('z'), { mask: false }); // ws's option, ignored
  ws.ping(undefined, undefined, (err?: Error) => void err);
});
// Options of ws that Volley accepts and ignores (it always validates text, and emits
// the messages of one read one after another as ws does by default).
new WebSocket('ws://127.0.0.1:1', { skipUTF8Validation: false, allowSynchronousEvents: true }).on('error', () => {});
new WebSocketServer({ noServer: true, skipUTF8Validation: false, allowSynchronousEvents: true });
const raw: WebSocket.RawData = Buffer.alloc(0);
const options: WebSocket.ServerOptions = { noServer: true };
const other: WebSocket.Server | undefined = new WebSocket.Server({ noServer: true });
void raw; void options; void other;
// A typed handleUpgrade callback gets the request it was given; req.connection; ping(cb).
function clientIp(req: IncomingMessage): string | undefined {
  return req.socket.remoteAddress;
}
server.on('upgrade', (request: IncomingMessage, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws: WebSocket, req: IncomingMessage) => {
    void clientIp(req);
    ws.ping(() => {});
    ws.pong(() => {});
  });
});
wss.on('connection', (ws, req) => void [ws, req.connection.remoteAddress]);
// The names @types/ws exports beside WebSocket.
const verifySync: VerifyClientCallbackSync = (info) => info.secure;
const verifyAsync: VerifyClientCallbackAsync = (info, done) => done(info.secure);
const data: Data = 'text';
const listenerOptions: EventListenerOptions = { once: true };
const address: AddressInfo | undefined = undefined;
void [verifySync, verifyAsync, data, listenerOptions, address];
// The response's headers are typed as node:http's (a missing one is undefined).
new WebSocket('ws://127.0.0.1:1').on('upgrade', (res) => {
  const cookies: string[] | undefined = res.headers['set-cookie'];
  const protocol: string | undefined = res.headers['sec-websocket-protocol'];
  void [cookies?.map((c) => c.length), protocol, res.httpVersionMajor];
});
// createConnection given node's own functions, or a function of the options.
new WebSocket('ws://127.0.0.1:1', { createConnection: createNetConnection }).on('error', () => {});
new WebSocket('wss://127.0.0.1:1', { createConnection: (options) => connectTls(options) }).on('error', () => {});
// Any tls.connect option may stand beside the others, as ws hands them all on.
new WebSocket('wss://127.0.0.1:1', { minDHSize: 2048, ALPNProtocols: ['http/1.1'] }).on('error', () => {});
`,
    // The WHATWG surface, client options, `this` in listeners and the request's headers:
    // typed as in @types/ws, and mistakes rejected (each @ts-expect-error must be used).
    'checked.ts': `import { WebSocket, WebSocketServer, type UpgradeRequest } from 'volley';
const ws = new WebSocket('wss://127.0.0.1:1', ['chat'], { handshakeTimeout: 5, rejectUnauthorized: false, ca: 'pem' });
// @ts-expect-error: a misspelt option
new WebSocket('ws://127.0.0.1:1', { handshakeTimout: 5 });
// @ts-expect-error: maxPayload is a number
new WebSocket('ws://127.0.0.1:1', ['chat'], { maxPayload: '1mb' });
ws.addEventListener('close', (event) => {
  const code: number = event.code;
  // @ts-expect-error: no such field on a close event
  void event.cod;
  void code;
});
ws.addEventListener('message', (event) => {
  const data: string | Buffer | ArrayBuffer | Buffer[] | Blob = event.data;
  ws.send(event.data instanceof Blob ? 'blob' : event.data);
  void data;
});
// @ts-expect-error: no such event
ws.addEventListener('mesage', () => {});
ws.addEventListener('open', () => {}, { once: true, signal: new AbortController().signal });
const onOpen = (): void => {};
ws.addEventListener('open', onOpen, { capture: false, passive: true });
ws.removeEventListener('open', onOpen, false);
ws.addEventListener('message', (event: WebSocket.MessageEvent) => {
  const received: WebSocket.Data = event.data;
  void received;
});
ws.onclose = (event) => void event.wasClean;
ws.onerror = (event) => void event.message;
// @ts-expect-error: an open event has no wasClean
ws.onopen = (event) => void event.wasClean;
const state: 0 | 1 | 2 | 3 = ws.readyState;
ws.on('open', function () {
  this.send('hi');
});
ws.send(42);
ws.send([Buffer.from('a'), Buffer.from('b')]);
const wss = new WebSocketServer({ noServer: true });
wss.on('connection', function (socket, req: UpgradeRequest) {
  const agent: string | undefined = req.headers['user-agent'];
  const cookies: string[] | undefined = req.headers['set-cookie'];
  void [this.clients, socket, agent, cookies, req.headersDistinct, req.httpVersionMajor];
});
const event: WebSocket.Event | undefined = undefined;
const options: WebSocket.EventListenerOptions = { once: true };
const verify: WebSocket.VerifyClientCallbackAsync = (info, done) => done(info.secure);
const address: WebSocket.AddressInfo | string | null = wss.address();
const data: WebSocket.Data = [Buffer.alloc(1)];
void [state, event, options, verify, address, data];
// A subclass given as the WebSocket option types the server's connections.
class Tracked extends WebSocket {
  isAlive = true;
}
const tracked = new WebSocketServer({ noServer: true, WebSocket: Tracked });
tracked.on('connection', (socket) => {
  socket.isAlive = false;
  // @ts-expect-error: not a field of the subclass
  socket.isDead = true;
});
for (const socket of tracked.clients) void socket.isAlive;
class UserSocket extends WebSocket<{ name: string }> {
  greet(): string {
    return this.data.name;
  }
}
const users = new WebSocketServer({ noServer: true, WebSocket: UserSocket, authenticate: () => ({ name: 'a' }) });
users.on('connection', (socket) => void [socket.greet(), socket.data.name]);
`,
  };

  // CommonJS code written for @types/ws: `require('volley')` typed as the class with
  // every export on it (under node16/nodenext, where the package's `exports` are read).
  const requireFiles = {
    'required.cts': `import WebSocket = require('volley');
import { WebSocketServer, prepare, type ServerOptions, type RawData } from 'volley';
const ws = new WebSocket('ws://127.0.0.1:1', ['chat'], { handshakeTimeout: 5 });
const wss = new WebSocket.Server({ noServer: true });
const named = new WebSocketServer<{ id: number }>({ noServer: true, authenticate: () => ({ id: 1 }) });
wss.on('connection', (socket: WebSocket, req) => {
  socket.on('message', (data: WebSocket.RawData, isBinary) => socket.send(data, { binary: isBinary }));
  void req.headers.host;
});
named.on('connection', (socket) => void socket.data.id);
const options: ServerOptions = { noServer: true };
const raw: RawData = Buffer.alloc(0);
const state: 0 | 1 | 2 | 3 = ws.readyState;
const other: WebSocket.ServerOptions = { port: 1 };
ws.send(prepare('x'));
void [options, raw, state, other, WebSocket.OPEN, WebSocket.WebSocketServer, WebSocket.createWebSocketStream, WebSocket.CloseCode.Normal];
// @ts-expect-error: a misspelt option
new WebSocket('ws://127.0.0.1:1', { handshakeTimout: 1 });
`,
  };

  async function tsc(options: Record<string, unknown>, extra: Record<string, string> = {}): Promise<string> {
    const dir = join(consumer, `ts-${String(options.moduleResolution)}`);
    mkdirSync(dir, { recursive: true });
    const all = { ...files, ...extra };
    for (const [name, text] of Object.entries(all)) writeFileSync(join(dir, name), text);
    const config = {
      compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', types: ['node'], typeRoots: [join(root, 'node_modules', '@types')], ...options },
      files: Object.keys(all),
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config));
    try {
      await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, timeout: 60_000 });
      return '';
    } catch (error) {
      return String((error as { stdout?: string }).stdout ?? error);
    }
  }

  it.each([
    ['nodenext', { module: 'nodenext', moduleResolution: 'nodenext' }, requireFiles],
    ['bundler', { module: 'esnext', moduleResolution: 'bundler' }, {}],
    ['node10 (CommonJS)', { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }, {}],
  ])('%s: the quick start compiles under strict, listeners are typed, the subpaths resolve', { timeout: 90_000 }, async (_, options, extra) => {
    expect(await tsc(options, extra)).toBe('');
  });
});
