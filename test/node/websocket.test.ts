/**
 * One WebSocket connection over real sockets: state and attributes, sending every kind
 * of data, backpressure, ping/pong, closing (clean, timed out, terminated), both event
 * surfaces, the batched write path, and peer protocol violations.
 */
import type { Socket } from 'node:net';
import { getEventListeners } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { collectingRejections, collectingUncaught } from '../support/sockets.js';
import { CloseEvent, ErrorEvent, InvalidStateError, MessageEvent, SendStatus, UpgradeError, WebSocket, prepare, type WebSocketServer } from '../../src/index.js';
import {
  MS,
  Op,
  client,
  closeAll,
  closeCodeOf,
  closePayload,
  connectPair,
  delay,
  frame,
  nextEvent,
  parseFrame,
  rawUpgrade,
  recordEvents,
  startRawServer,
  startServer,
  switchingProtocols,
  until,
  watchTimers,
  type RawClient,
} from './helpers.js';

afterEach(closeAll);

/** A server and a raw client upgraded to it; `server` is the server's WebSocket. */
async function rawPair(
  options: ConstructorParameters<typeof WebSocketServer>[0] = {},
  socketOptions: { allowHalfOpen?: boolean } = {},
): Promise<{
  raw: RawClient;
  server: WebSocket;
  wss: WebSocketServer;
}> {
  const { wss, port } = await startServer(options as any);
  const connection = nextEvent<[WebSocket]>(wss, 'connection');
  const { raw } = await rawUpgrade(port, {}, socketOptions);
  const [server] = await connection;
  return { raw, server, wss };
}

/** Counts the `write` calls made on a socket and keeps their arguments. */
function spyWrites(socket: Socket): Array<string | Uint8Array> {
  const writes: Array<string | Uint8Array> = [];
  const write = socket.write;
  socket.write = function (this: Socket, chunk: any, ...rest: any[]) {
    writes.push(chunk);
    return write.call(this, chunk, ...rest);
  } as typeof socket.write;
  return writes;
}

describe('state and attributes', () => {
  it('readyState constants are on the class and on instances', () => {
    expect([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED]).toEqual([0, 1, 2, 3]);
    const ws = new WebSocket(null);
    expect([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED]).toEqual([0, 1, 2, 3]);
  });

  it('readyState goes CONNECTING → OPEN → CLOSING → CLOSED', async () => {
    const { url } = await startServer();
    const ws = client(url);
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
    await nextEvent(ws, 'open');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close(1000);
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    await nextEvent(ws, 'close');
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });

  it('protocol, extensions, url, isServer', async () => {
    const { wss, url } = await startServer({ handleProtocols: () => 'v2' });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const ws = client(`${url}/path?q=1`, ['v1', 'v2']);
    expect(ws.url).toBe(`${url}/path?q=1`);
    expect(ws.protocol).toBe('');
    await nextEvent(ws, 'open');
    const [server] = await connection;
    expect(ws.protocol).toBe('v2');
    expect(server.protocol).toBe('v2');
    expect(ws.extensions).toBe('');
    expect(server.extensions).toBe('');
    expect(server.url).toBe('');
    expect(ws.isServer).toBe(false);
    expect(server.isServer).toBe(true);
    expect(ws.url).toBe(new URL(`${url}/path?q=1`).href);
  });

  it.each([
    ['nodebuffer', (data: unknown) => Buffer.isBuffer(data) && (data as Buffer).equals(Buffer.from([1, 2, 3]))],
    ['arraybuffer', (data: unknown) => data instanceof ArrayBuffer && Buffer.from(data).equals(Buffer.from([1, 2, 3]))],
    [
      'fragments',
      (data: unknown) => Array.isArray(data) && Buffer.concat(data as Buffer[]).equals(Buffer.from([1, 2, 3])),
    ],
    ['blob', (data: unknown) => data instanceof Blob && data.size === 3],
  ] as const)('binaryType %s', async (type, check) => {
    const { server, client: ws } = await connectPair();
    expect(ws.binaryType).toBe('nodebuffer');
    ws.binaryType = type;
    expect(ws.binaryType).toBe(type);
    const received = nextEvent(ws, 'message');
    server.send(Buffer.from([1, 2, 3]));
    const [data, isBinary] = await received;
    expect(isBinary).toBe(true);
    expect(check(data)).toBe(true);
    if (data instanceof Blob) expect(Buffer.from(await data.arrayBuffer())).toEqual(Buffer.from([1, 2, 3]));
    // Text is never converted.
    const text = nextEvent(ws, 'message');
    server.send('text');
    const [textData, textIsBinary] = await text;
    expect(textIsBinary).toBe(false);
    expect(String(textData)).toBe('text');
  });

  it('listeners of any event name work as on any EventEmitter (the listener table inherits no keys)', () => {
    const ws = new WebSocket(null);
    const calls: string[] = [];
    expect(ws.listenerCount('toString')).toBe(0);
    const onConstructor = () => calls.push('constructor');
    ws.on('constructor', onConstructor);
    ws.on('toString', () => calls.push('toString'));
    ws.on('message', () => calls.push('message'));
    ws.on('message', () => calls.push('message again'));
    expect(ws.emit('constructor')).toBe(true);
    expect(ws.emit('hasOwnProperty')).toBe(false);
    ws.emit('toString');
    ws.emit('message');
    expect(calls).toEqual(['constructor', 'toString', 'message', 'message again']);
    expect(ws.eventNames()).toEqual(['constructor', 'toString', 'message']);
    ws.off('constructor', onConstructor);
    expect(ws.eventNames()).toEqual(['toString', 'message']);
    ws.removeAllListeners();
    expect(ws.eventNames()).toEqual([]);
  });

  it('an unknown binaryType is ignored', () => {
    const ws = new WebSocket(null);
    ws.binaryType = 'string' as any;
    expect(ws.binaryType).toBe('nodebuffer');
  });

  it('bufferedAmount counts queued bytes and returns to 0 once written', async () => {
    const { server } = await connectPair();
    expect(server.bufferedAmount).toBe(0);
    server.send(Buffer.alloc(1000));
    expect(server.bufferedAmount).toBeGreaterThanOrEqual(1000);
    await until(() => server.bufferedAmount === 0, 'the send buffer is empty');
  });

  it('bufferedAmount grows by what is sent once closing, as WHATWG and ws have it, and nothing goes out', async () => {
    const { server, client: ws } = await connectPair();
    const received = recordEvents(server, ['message']);
    ws.close(1000);
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    // Before: the close frame itself, while it is being written.
    let before = ws.bufferedAmount;
    expect(ws.send('héllo')).toBe(SendStatus.DROPPED);
    expect(ws.bufferedAmount - before).toBe(6);
    await nextEvent(ws, 'close');
    before = ws.bufferedAmount;
    expect(before).toBeGreaterThanOrEqual(6);
    ws.send(new Uint16Array(2));
    expect(ws.bufferedAmount - before).toBe(4);
    ws.send(12345 as unknown as string); // a number counts as its text, as in ws
    expect(ws.bufferedAmount - before).toBe(9);
    server.close();
    await nextEvent(server, 'close');
    const serverBefore = server.bufferedAmount;
    const errors: unknown[] = [];
    expect(server.send(prepare('prepared'), (error) => errors.push(error))).toBe(SendStatus.DROPPED);
    expect(server.bufferedAmount - serverBefore).toBe(8);
    await until(() => errors.length === 1, 'the callback');
    expect(errors[0]).toBeInstanceOf(InvalidStateError);
    expect(received).toEqual([]);
  });

  it('data send() does not take throws TypeError once closed too, as when open, and its callback is not called', async () => {
    const { client: ws } = await connectPair();
    ws.close();
    await nextEvent(ws, 'close');
    const before = ws.bufferedAmount;
    const called: unknown[] = [];
    for (const data of [{}, null, undefined, [1, 2, 3], ['text']]) {
      expect(() => ws.send(data as never, (error) => called.push(error))).toThrow(TypeError);
    }
    expect(ws.send([Buffer.from('ab'), new Uint8Array(3)])).toBe(SendStatus.DROPPED);
    expect(ws.bufferedAmount - before).toBe(5);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(called).toEqual([]);
  });
});

describe('calls that do nothing in the state they are made in (as in ws)', () => {
  it('close() and terminate() once CLOSED: nothing, no throw, but invalid arguments still throw (as the WHATWG close(); ws does not look at them)', async () => {
    const { server, client: ws } = await connectPair();
    const closes = recordEvents(ws, ['close']);
    ws.close();
    await nextEvent(server, 'close');
    await until(() => closes.length === 1, 'the close event');
    ws.close(1000);
    ws.close(4000, 'late');
    expect(() => ws.close(999)).toThrow(RangeError);
    expect(() => ws.close(1000, 'x'.repeat(124))).toThrow(RangeError);
    ws.terminate();
    await delay(10 * MS);
    expect(closes).toHaveLength(1);
  });

  it('terminate() once CLOSED leaves readyState CLOSED, on both sides', async () => {
    const { server, client: ws } = await connectPair();
    ws.close();
    await Promise.all([nextEvent(ws, 'close'), nextEvent(server, 'close')]);
    ws.terminate();
    server.terminate();
    expect([ws.readyState, server.readyState]).toEqual([WebSocket.CLOSED, WebSocket.CLOSED]);
  });

  it('close() with invalid arguments while CONNECTING throws and leaves the handshake going on', async () => {
    const { wss, url } = await startServer();
    const ws = client(url);
    expect(() => ws.close(1006)).toThrow(RangeError);
    expect(() => ws.close(1000, 'é'.repeat(62))).toThrow(RangeError);
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
    await nextEvent(ws, 'open');
    expect(wss.clients.size).toBe(1);
  });

  it('close() with invalid arguments after a failed handshake throws; valid ones do nothing', async () => {
    const { url } = await startServer({ authenticate: () => { throw new UpgradeError(403, 'no'); } });
    const ws = client(url);
    const seen: unknown[] = [];
    ws.on('error', () => {
      seen.push(ws.readyState);
      try {
        ws.close(1005);
      } catch (error) {
        seen.push(error);
      }
      ws.close(1000);
    });
    const [code] = await nextEvent<[number]>(ws, 'close');
    expect(code).toBe(1006);
    expect(seen).toEqual([WebSocket.CLOSING, expect.any(RangeError)]);
  });

  it('pause() and resume() while CONNECTING change nothing: messages flow once open', async () => {
    const { wss, url } = await startServer();
    wss.on('connection', (ws) => ws.send('welcome'));
    const ws = client(url);
    ws.pause();
    expect(ws.isPaused).toBe(false);
    ws.resume();
    const [data] = await nextEvent<[Buffer]>(ws, 'message');
    expect(String(data)).toBe('welcome');
  });

  it('pause() and resume() once CLOSED change nothing (isPaused stays false), as in ws', async () => {
    const { client: ws } = await connectPair();
    ws.close();
    await nextEvent(ws, 'close');
    ws.pause();
    expect(ws.isPaused).toBe(false);
    ws.resume();
    expect(ws.isPaused).toBe(false);
  });

  it('ping and pong once closing count their data in bufferedAmount, as send does (and ws)', async () => {
    const { client: ws } = await connectPair();
    ws.close();
    const before = ws.bufferedAmount;
    ws.ping('abc');
    ws.pong(Buffer.alloc(4));
    ws.ping();
    expect(ws.bufferedAmount - before).toBe(7);
    expect(() => ws.ping({} as never)).toThrow(TypeError);
  });

  it('reauthenticate() once CLOSED sets no deadline', async () => {
    const { server } = await connectPair();
    server.terminate();
    await nextEvent(server, 'close');
    server.reauthenticate(Date.now() + 60_000);
    expect(server.tokenExpiresAt).toBe(null);
  });
});

describe('send', () => {
  const bytes = [0, 1, 2, 3, 250, 255];
  const inputs: Array<[string, () => Parameters<WebSocket['send']>[0], boolean, Buffer]> = [
    ['string', () => 'héllo ✓', false, Buffer.from('héllo ✓')],
    ['empty string', () => '', false, Buffer.alloc(0)],
    ['Buffer', () => Buffer.from(bytes), true, Buffer.from(bytes)],
    ['ArrayBuffer', () => Uint8Array.from(bytes).buffer, true, Buffer.from(bytes)],
    ['Uint8Array', () => Uint8Array.from(bytes), true, Buffer.from(bytes)],
    [
      'Uint8Array view into a larger buffer',
      () => Uint8Array.from([9, 9, ...bytes, 9]).subarray(2, 2 + bytes.length),
      true,
      Buffer.from(bytes),
    ],
    ['Uint16Array', () => Uint16Array.from([0x0102, 0xfffe]), true, Buffer.from(Uint16Array.from([0x0102, 0xfffe]).buffer)],
    [
      'DataView',
      () => new DataView(Uint8Array.from([7, ...bytes, 7]).buffer, 1, bytes.length),
      true,
      Buffer.from(bytes),
    ],
    ['empty Buffer', () => Buffer.alloc(0), true, Buffer.alloc(0)],
    ['SharedArrayBuffer', () => Object.assign(new Uint8Array(new SharedArrayBuffer(bytes.length)), bytes).buffer, true, Buffer.from(bytes)],
    // As in ws: a number goes as its text.
    ['number', () => 42.5 as unknown as string, false, Buffer.from('42.5')],
  ];

  it.each(inputs)('%s, both directions', async (_name, make, isBinary, expected) => {
    const { server, client: ws } = await connectPair();
    for (const [from, to] of [
      [ws, server],
      [server, ws],
    ] as const) {
      const received = nextEvent<[Buffer, boolean]>(to, 'message');
      expect(from.send(make())).toBe(SendStatus.SENT);
      const [data, binary] = await received;
      expect(binary).toBe(isBinary);
      expect(Buffer.from(data)).toEqual(expected);
    }
  });

  it('a Blob is sent as binary, and what is sent, pinged or closed after it waits behind it, in order (as in ws)', async () => {
    const { server, client: ws } = await connectPair();
    const log: string[] = [];
    server.on('message', (data: Buffer, isBinary: boolean) => log.push(`${isBinary ? 'binary' : 'text'} ${data.toString()}`));
    server.on('ping', (data: Buffer) => log.push(`ping ${data.toString()}`));
    const closed = nextEvent<[number, Buffer]>(server, 'close');
    const sent: string[] = [];
    ws.send('first', () => sent.push('first'));
    expect(ws.send(new Blob(['blob ', Buffer.from('one')]), () => sent.push('blob one'))).toBe(SendStatus.SENT);
    expect(ws.bufferedAmount).toBeGreaterThanOrEqual(8);
    ws.send('second', () => sent.push('second'));
    ws.send(new Blob(['blob two']), { binary: false });
    ws.ping('p');
    ws.send('third');
    ws.close(1000, 'done');
    expect(() => ws.close(1005)).toThrow(RangeError); // checked at once, even while held
    const [code, reason] = await closed;
    expect([code, String(reason)]).toEqual([1000, 'done']);
    expect(log).toEqual(['text first', 'binary blob one', 'text second', 'text blob two', 'ping p', 'text third']);
    expect(sent).toEqual(['first', 'blob one', 'second']);
  });

  it('behind a Blob, what would throw sent now throws now (a long ping, data send() does not take), and the rest still goes out', async () => {
    const { server, client: ws } = await connectPair();
    const log: string[] = [];
    server.on('message', (data: Buffer) => log.push(`message ${data.toString()}`));
    server.on('ping', (data: Buffer) => log.push(`ping ${data.toString()}`));
    await collectingRejections(async (rejections) => {
      ws.send(new Blob(['blob']));
      expect(() => ws.ping('x'.repeat(126))).toThrow(RangeError);
      expect(() => ws.pong(Buffer.alloc(200))).toThrow(RangeError);
      expect(() => ws.send({} as never)).toThrow(TypeError);
      expect(() => ws.send([1, 2] as never)).toThrow(TypeError);
      ws.ping('p');
      ws.send('after');
      await until(() => log.length === 3, 'what waited behind the Blob');
      expect(log).toEqual(['message blob', 'ping p', 'message after']);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(rejections).toEqual([]);
      expect(ws.readyState).toBe(WebSocket.OPEN);
    });
  });

  /** A Blob whose bytes come when `open()` is called (Volley reads a Blob with arrayBuffer()). */
  function gatedBlob(text: string): { blob: Blob; open: () => void } {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    class GatedBlob extends Blob {
      override async arrayBuffer(): Promise<ArrayBuffer> {
        await gate;
        return super.arrayBuffer();
      }
    }
    return { blob: new GatedBlob([text]), open };
  }

  it('a Blob among the operations held behind another leaves the fragmented message where the operations after it leave it', async () => {
    await collectingRejections(async (rejections) => {
      const { wss, server, client: ws } = await connectPair();
      const received = recordEvents(ws, ['message']);
      const texts = () => received.map((event) => String(event.args[0]));
      server.subscribe('room');
      // A fragmented message begun behind the second Blob: nothing else may go in between.
      const second = gatedBlob('second');
      server.send(new Blob(['first']));
      server.send(second.blob);
      server.send('a', { fin: false });
      await until(() => received.length === 1, 'the first Blob');
      expect(() => server.send(prepare('prepared'))).toThrow(InvalidStateError);
      expect(wss.publish('room', 'published')).toMatchObject({ sent: 0, dropped: 1 });
      server.send('b');
      second.open();
      await until(() => received.length === 3, 'the second Blob and the fragmented message');
      expect(texts()).toEqual(['first', 'second', 'ab']);
      // The other way round: a fragmented message begun by a held Blob and finished behind it.
      const fourth = gatedBlob('fourth ');
      server.send(new Blob(['third']));
      server.send(fourth.blob, { fin: false, binary: false });
      server.send('end');
      await until(() => received.length === 4, 'the third Blob');
      expect(wss.publish('room', 'published').dropped).toBe(0);
      fourth.open();
      await until(() => received.length === 6, 'the rest');
      expect(texts().slice(3)).toEqual(['third', 'fourth end', 'published']);
      await delay(20);
      expect(rejections).toEqual([]);
    });
  });

  it('what is held behind a Blob still goes out when a callback or listener run before it throws; the exception is uncaught', async () => {
    await collectingRejections(async (rejections) => {
      await collectingUncaught(async (errors) => {
        const { server, client: ws } = await connectPair();
        const log: string[] = [];
        server.on('message', (data: Buffer) => log.push(`message ${data.toString()}`));
        server.on('ping', (data: Buffer) => log.push(`ping ${data.toString()}`));
        const gated = gatedBlob('blob');
        ws.send(gated.blob, () => {
          throw new Error('bug in a send callback');
        });
        ws.send('after', (error) => log.push(`after sent ${error ?? 'ok'}`));
        ws.ping('p');
        gated.open();
        await until(() => log.length === 4, 'what was held');
        expect(log.sort()).toEqual(['after sent ok', 'message after', 'message blob', 'ping p']);
        await until(() => errors.length === 1, 'the exception');
        expect(errors[0]!.message).toBe('bug in a send callback');
        expect(rejections).toEqual([]);
      });
    });
  });

  it('a Blob that cannot be read: a callback that throws leaves the callbacks of what was held behind it called', async () => {
    await collectingRejections(async (rejections) => {
      await collectingUncaught(async (errors) => {
        const { client: ws } = await connectPair();
        ws.on('error', () => {});
        class UnreadableBlob extends Blob {
          override arrayBuffer(): Promise<ArrayBuffer> {
            return Promise.reject(new Error('unreadable'));
          }
        }
        const called: string[] = [];
        ws.send(new UnreadableBlob(['x']), () => {
          throw new Error('bug in a send callback');
        });
        ws.send('behind', (error) => called.push(`send ${error instanceof Error}`));
        ws.ping('p', undefined, (error) => called.push(`ping ${error instanceof Error}`));
        await until(() => called.length === 2, 'both callbacks');
        expect(called).toEqual(['send true', 'ping true']);
        await until(() => errors.length === 1, 'the exception');
        expect(errors[0]!.message).toBe('bug in a send callback');
        expect(rejections).toEqual([]);
      });
    });
  });

  it('a callback that is no function (null, as ws takes it) is none: send and ping work, in every state', async () => {
    await collectingUncaught(async (errors) => {
      const { server, client: ws } = await connectPair();
      const received = recordEvents(server, ['message', 'ping']);
      expect(ws.send('one', {}, null as never)).toBe(SendStatus.SENT);
      expect(ws.send('two', null as never)).toBe(SendStatus.SENT);
      ws.ping('p', undefined, null as never);
      await until(() => received.length === 3, 'the messages and the ping');
      ws.close();
      expect(ws.send('late', {}, null as never)).toBe(SendStatus.DROPPED);
      ws.ping('late', undefined, null as never);
      await nextEvent(ws, 'close');
      await delay(20);
      expect(errors).toEqual([]);
    });
  });

  it('behind a Blob that begins a fragmented message, a prepared message throws at once and a publish counts the connection dropped', async () => {
    const { wss, server, client: ws } = await connectPair();
    const received = recordEvents(ws, ['message']);
    await collectingRejections(async (rejections) => {
      server.subscribe('room');
      server.send(new Blob(['first half, ']), { fin: false });
      expect(() => server.send(prepare('prepared'))).toThrow(InvalidStateError);
      expect(wss.publish('room', 'published')).toMatchObject({ sent: 0, dropped: 1 });
      server.send('second half');
      // Once the fragmented message is finished, behind the Blob still, a prepared message may follow.
      server.send(prepare('prepared'));
      await until(() => received.length === 2, 'both messages');
      expect(received.map((event) => String(event.args[0]))).toEqual(['first half, second half', 'prepared']);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(rejections).toEqual([]);
    });
  });

  it('a Blob that cannot be read fails the connection (1011) and its callback; what waited behind it is not sent', async (context) => {
    const { openAsBlob } = (await import('node:fs')) as { openAsBlob?: (path: string) => Promise<Blob> };
    if (openAsBlob === undefined) return context.skip();
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const file = join(mkdtempSync(join(tmpdir(), 'volley-blob-')), 'data');
    writeFileSync(file, 'original');
    const blob = await openAsBlob(file);
    writeFileSync(file, 'changed, longer'); // a file-backed Blob is unreadable once its file changed
    const { server, client: ws } = await connectPair();
    const messages = recordEvents(server, ['message']);
    const closed = nextEvent<[number]>(server, 'close');
    const errors: Array<Error | null | undefined> = [];
    ws.on('error', () => {});
    ws.send(blob, (error) => errors.push(error));
    ws.send('after', (error) => errors.push(error));
    expect((await closed)[0]).toBe(1011);
    await until(() => errors.length === 2, 'both callbacks');
    expect(errors.every((error) => error instanceof Error)).toBe(true);
    expect(messages).toEqual([]);
  });

  it('ping and pong take a number as its text, as in ws', async () => {
    const { server, client: ws } = await connectPair();
    const ping = nextEvent<[Buffer]>(server, 'ping');
    const answer = nextEvent<[Buffer]>(ws, 'pong');
    ws.ping(7);
    expect(String((await ping)[0])).toBe('7');
    expect(String((await answer)[0])).toBe('7');
    const pong = nextEvent<[Buffer]>(ws, 'pong');
    server.pong(8);
    expect(String((await pong)[0])).toBe('8');
  });

  it("an array of Buffers or Uint8Arrays (what binaryType 'fragments' gives) goes out as one binary message; other arrays throw", async () => {
    const { server, client: ws } = await connectPair();
    server.binaryType = 'fragments';
    const echoed = recordEvents(ws, ['message']);
    server.on('message', (fragments: Buffer[]) => server.send(fragments));
    ws.send([Buffer.from('ab'), new Uint8Array([0x63, 0x64]), Buffer.alloc(0)]);
    await until(() => echoed.length === 1, 'the echo');
    expect(echoed[0]!.args).toEqual([Buffer.from('abcd'), true]);
    expect(() => ws.send(['text'] as never)).toThrow(TypeError);
    expect(() => ws.send([1, 2] as never)).toThrow(TypeError);
    expect(server.readyState).toBe(WebSocket.OPEN);
  });

  it('the binary option overrides the type', async () => {
    const { server, client: ws } = await connectPair();
    const received = recordEvents(server, ['message']);
    ws.send('as binary', { binary: true });
    ws.send(Buffer.from('as text'), { binary: false });
    await until(() => received.length === 2, 'two messages');
    expect(received.map((e) => [String(e.args[0]), e.args[1]])).toEqual([
      ['as binary', true],
      ['as text', false],
    ]);
  });

  it('fin: false sends fragments of one message', async () => {
    const { server, client: ws } = await connectPair();
    const received = nextEvent(server, 'message');
    ws.send('frag', { fin: false });
    ws.send('men', { fin: false });
    ws.send('ted', { fin: true });
    const [data, isBinary] = await received;
    expect(String(data)).toBe('fragmented');
    expect(isBinary).toBe(false);
  });

  it.each([
    ['a text message continued with a Buffer and a binary option', 'frag', [Buffer.from('men'), ['ted', { binary: true }]], false],
    ['a binary message continued with strings', Buffer.from('frag'), ['men', ['ted', { binary: false }]], true],
  ] as const)('the first fragment decides the type (as in ws): %s', async (_name, first, rest, binary) => {
    for (const compress of [false, true]) {
      const { server, client: ws } = await connectPair({ perMessageDeflate: compress }, { perMessageDeflate: compress });
      const received = nextEvent(server, 'message');
      ws.send(first, { fin: false });
      ws.send(rest[0], { fin: false });
      ws.send(rest[1][0], { ...rest[1][1], fin: true });
      const [data, isBinary] = await received;
      expect([compress, String(data), isBinary]).toEqual([compress, 'fragmented', binary]);
      ws.send('next');
      expect(String((await nextEvent(server, 'message'))[0])).toBe('next');
    }
  });

  it('the callback is called once the data is written', async () => {
    const { server } = await connectPair();
    const done = await new Promise((resolve) => server.send('x', resolve));
    expect(done).toBeFalsy();
    const withOptions = await new Promise((resolve) => server.send('y', { binary: true }, resolve));
    expect(withOptions).toBeFalsy();
  });

  it('sending while CONNECTING throws', async () => {
    const { url } = await startServer();
    const ws = client(url);
    expect(() => ws.send('too early')).toThrow(InvalidStateError);
    expect(() => ws.ping()).toThrow(InvalidStateError);
    expect(() => ws.pong()).toThrow(InvalidStateError);
    await nextEvent(ws, 'open');
  });

  it('sending while CLOSING or CLOSED calls back with an error and does not throw', async () => {
    const { server, client: ws } = await connectPair();
    const received = recordEvents(server, ['message']);
    ws.close(1000);
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    const closingError = await new Promise<Error | null | undefined>((resolve) => {
      expect(ws.send('while closing', resolve)).toBe(SendStatus.DROPPED);
    });
    expect(closingError).toBeInstanceOf(InvalidStateError);
    expect(closingError!.message).toMatch(/CLOSING/);
    expect(() => ws.send('no callback')).not.toThrow();
    await nextEvent(ws, 'close');
    const closedError = await new Promise<Error | null | undefined>((resolve) => ws.send('while closed', resolve));
    expect(closedError).toBeInstanceOf(InvalidStateError);
    expect(closedError!.message).toMatch(/CLOSED/);
    const pingError = await new Promise<Error | null | undefined>((resolve) => ws.ping('p', undefined, resolve));
    expect(pingError).toBeInstanceOf(InvalidStateError);
    expect(received).toEqual([]);
  });

  it('anything else is a TypeError, thrown by send, as in ws; the connection stays open', async () => {
    const { server, client: ws } = await connectPair();
    for (const data of [{}, null, undefined, Symbol('x'), [1, 2]]) expect(() => ws.send(data as any)).toThrow(TypeError);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    const received = nextEvent<[Buffer]>(server, 'message');
    ws.send('still fine');
    expect(String((await received)[0])).toBe('still fine');
  });

  it("binaryType 'arraybuffer': a message assembled from fragments (its own ArrayBuffer) and one sliced from a read arrive whole", async () => {
    const { server, client: ws } = await connectPair();
    ws.binaryType = 'arraybuffer';
    const big = Buffer.alloc(100 * 1024, 7);
    big[0] = 1;
    big[big.length - 1] = 2;
    const first = nextEvent<[ArrayBuffer]>(ws, 'message');
    server.send(big.subarray(0, 60 * 1024), { fin: false });
    server.send(big.subarray(60 * 1024));
    const [data] = await first;
    expect(data).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.from(data).equals(big)).toBe(true);
    const second = nextEvent<[ArrayBuffer]>(ws, 'message');
    server.send(Buffer.from([1, 2, 3]));
    const [small] = await second;
    expect(small.byteLength).toBe(3);
    expect([...new Uint8Array(small)]).toEqual([1, 2, 3]);
  });

  it('a message sent before the peer closed is delivered with its callbacks', async () => {
    const { server, client: ws } = await connectPair();
    const messages = recordEvents(ws, ['message']);
    const results: unknown[] = [];
    for (let i = 0; i < 5; i++) server.send(`m${i}`, (error) => results.push(error ?? null));
    server.close(1000);
    await nextEvent(ws, 'close');
    expect(messages.map((e) => String(e.args[0]))).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    await until(() => results.length === 5, 'every callback');
    expect(results).toEqual([null, null, null, null, null]);
  });
});

describe('backpressure', () => {
  it('send returns false when the peer does not read, and drain follows once it reads again', async () => {
    const { raw, server } = await rawPair();
    const before = raw.received; // the 101 response
    raw.socket.pause();
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    let backedUp = false;
    // Send until the socket itself is full, not just this tick's queue: a bounded loop.
    for (let i = 0; i < 2000 && !backedUp; i++) {
      const ok = server.send(chunk);
      sent++;
      if (!ok) {
        await delay(1);
        backedUp = server.bufferedAmount > 0 && !server.send(chunk);
        if (backedUp) sent++;
      }
    }
    expect(backedUp).toBe(true);
    expect(server.bufferedAmount).toBeGreaterThan(0);
    const drains = recordEvents(server, ['drain']);
    const drained = nextEvent(server, 'drain');
    raw.socket.resume();
    await drained;
    expect(server.bufferedAmount).toBe(0);
    const frameBytes = before + sent * (chunk.length + 10);
    await raw.waitReceived(frameBytes);
    expect(raw.received).toBe(frameBytes);
    await delay(10 * MS);
    expect(drains).toHaveLength(1);
  });

  // Every flush while the socket was still full added another 'drain' listener to it:
  // listeners piled up (MaxListenersExceededWarning) and one drain of the socket
  // emitted as many 'drain' events as there had been flushes.
  it('regression: drain listeners stacked on a full socket; one drain per backpressure episode', async () => {
    // No send budget: every send is queued, however much is buffered.
    const { raw, server } = await rawPair({ maxBackpressure: 0 } as any);
    raw.socket.pause();
    const chunk = Buffer.alloc(64 * 1024);
    // Fill the socket, then keep sending over many ticks while it is backed up.
    for (let i = 0; i < 2000 && !(server.bufferedAmount > 1 << 20); i++) {
      server.send(chunk);
      await delay(0);
    }
    for (let i = 0; i < 20; i++) {
      expect(server.send(chunk)).toBe(SendStatus.BACKPRESSURE);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(server.socket!.listenerCount('drain')).toBeLessThanOrEqual(1);
    const drains = recordEvents(server, ['drain']);
    raw.socket.resume();
    await until(() => server.bufferedAmount === 0, 'the send buffer drained');
    await delay(10 * MS);
    expect(drains).toHaveLength(1);
  });
});

describe('ping and pong', () => {
  it('ping(data) is answered by a pong with the same data; both sides see the events', async () => {
    const { server, client: ws } = await connectPair();
    const ping = nextEvent<[Buffer]>(server, 'ping');
    const pong = nextEvent<[Buffer]>(ws, 'pong');
    ws.ping('are you there?');
    expect(String((await ping)[0])).toBe('are you there?');
    expect(String((await pong)[0])).toBe('are you there?');

    const serverPong = nextEvent<[Buffer]>(server, 'pong');
    server.ping(Buffer.from([1, 2, 3]));
    expect((await serverPong)[0]).toEqual(Buffer.from([1, 2, 3]));

    const empty = nextEvent<[Buffer]>(ws, 'pong');
    ws.ping();
    expect((await empty)[0].length).toBe(0);
  });

  it('an unsolicited pong reaches the peer as a pong event', async () => {
    const { server, client: ws } = await connectPair();
    const pong = nextEvent<[Buffer]>(server, 'pong');
    ws.pong('heartbeat');
    expect(String((await pong)[0])).toBe('heartbeat');
  });

  it('ping/pong data of 125 bytes is fine, 126 bytes is a RangeError', async () => {
    const { server, client: ws } = await connectPair();
    const ping = nextEvent<[Buffer]>(server, 'ping');
    ws.ping(Buffer.alloc(125, 1));
    expect((await ping)[0].length).toBe(125);
    expect(() => ws.ping(Buffer.alloc(126))).toThrow(RangeError);
    expect(() => ws.pong('x'.repeat(126))).toThrow(RangeError);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it("ping and pong take a callback in ws's places, called without an error once the frame is written", async () => {
    const { server, client: ws } = await connectPair();
    const received = recordEvents(ws, ['message', 'ping', 'pong']);
    const calls: string[] = [];
    const callback = (name: string) => (error?: Error | null) => calls.push(`${name} ${error ?? 'ok'}`);
    server.ping(callback('ping(cb)') as any);
    server.ping('a', true, callback('ping(data, mask, cb)'));
    server.pong(undefined, undefined, callback('pong(undefined, undefined, cb)'));
    await until(() => calls.length === 3, 'the callbacks');
    // Behind a message sent in the same tick (the frames wait in the queue together).
    server.send('m');
    server.ping('b', undefined, callback('queued ping'));
    await until(() => calls.length === 4 && received.length === 5, 'the last callback and frames');
    expect(calls).toEqual(['ping(cb) ok', 'ping(data, mask, cb) ok', 'pong(undefined, undefined, cb) ok', 'queued ping ok']);
    expect(received.map((e) => `${e.event} ${String(e.args[0])}`)).toEqual(['ping ', 'ping a', 'pong ', 'message m', 'ping b']);
  });

  it('frames sent in the tick of terminate() go to the socket first, as ws writes each at once: the peer gets them, their callbacks no error', async () => {
    const { server, client: ws } = await connectPair();
    const received = recordEvents(ws, ['message', 'ping']);
    const closed = nextEvent<[number]>(ws, 'close');
    const results: Array<Error | null | undefined> = [];
    server.send('bye', (error) => results.push(error));
    server.ping('y', undefined, (error) => results.push(error));
    server.terminate();
    expect((await closed)[0]).toBe(1006);
    await until(() => results.length === 2, 'both callbacks');
    expect(results.every((error) => error == null)).toBe(true);
    expect(received.map((e) => `${e.event} ${String(e.args[0])}`)).toEqual(['message bye', 'ping y']);
  });

  it('close(code) then terminate() in one tick: the peer still sees the code', async () => {
    const { server, client: ws } = await connectPair();
    const closed = nextEvent<[number]>(ws, 'close');
    server.close(4000);
    server.terminate();
    expect((await closed)[0]).toBe(4000);
  });

  it('the callbacks of frames the socket cannot write before terminate() (the peer does not read) get an error', async () => {
    const { raw, server } = await rawPair();
    raw.socket.pause();
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    // Until the socket itself is full, not just this tick's queue: a bounded loop.
    for (let i = 0; i < 2000 && server.bufferedAmount < 4 * 1024 * 1024; i++) {
      if (!server.send(chunk)) await delay(1);
    }
    expect(server.bufferedAmount).toBeGreaterThan(0);
    const errors: Array<Error | null | undefined> = [];
    server.send('x', (error) => errors.push(error));
    server.ping('y', undefined, (error) => errors.push(error));
    server.terminate();
    await until(() => errors.length === 2, 'both callbacks');
    for (const error of errors) expect(error).toBeInstanceOf(Error);
  });

  it('autoPong: false leaves pings unanswered', async () => {
    const { server, client: ws } = await connectPair({}, { autoPong: false });
    const pongs = recordEvents(server, ['pong']);
    const ping = nextEvent(ws, 'ping');
    server.ping('x');
    await ping;
    await delay(20 * MS);
    expect(pongs).toEqual([]);
  });
});

describe('closing', () => {
  it('close(code, reason): both sides see the code and reason, cleanly', async () => {
    const { server, client: ws } = await connectPair();
    const serverClosed = nextEvent<[number, Buffer]>(server, 'close');
    const clientClosed = nextEvent<[number, Buffer]>(ws, 'close');
    ws.close(4001, 'done ✓');
    const [serverCode, serverReason] = await serverClosed;
    const [clientCode, clientReason] = await clientClosed;
    expect([serverCode, String(serverReason)]).toEqual([4001, 'done ✓']);
    expect([clientCode, String(clientReason)]).toEqual([4001, 'done ✓']);
    expect(server.wasClean).toBe(true);
    expect(ws.wasClean).toBe(true);
  });

  it('close() without a code is seen as 1005', async () => {
    const { server, client: ws } = await connectPair();
    const closed = nextEvent<[number, Buffer]>(server, 'close');
    ws.close();
    expect((await closed)[0]).toBe(1005);
  });

  it.each([999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 1000.5, -1])('close(%s) throws RangeError', async (code) => {
    const { client: ws } = await connectPair();
    expect(() => ws.close(code)).toThrow(RangeError);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it('a reason over 123 bytes throws RangeError synchronously; 123 bytes is fine', async () => {
    const { server, client: ws } = await connectPair();
    expect(() => ws.close(1000, 'x'.repeat(124))).toThrow(RangeError);
    expect(() => ws.close(1000, 'é'.repeat(62))).toThrow(RangeError); // 124 bytes
    expect(ws.readyState).toBe(WebSocket.OPEN);
    const closed = nextEvent<[number, Buffer]>(server, 'close');
    ws.close(1000, 'x'.repeat(123));
    expect(String((await closed)[1])).toHaveLength(123);
  });

  it('terminate() closes with 1006 on both sides', async () => {
    const { server, client: ws } = await connectPair();
    const serverClosed = nextEvent<[number]>(server, 'close');
    const clientClosed = nextEvent<[number]>(ws, 'close');
    ws.terminate();
    expect((await clientClosed)[0]).toBe(1006);
    expect((await serverClosed)[0]).toBe(1006);
    expect(ws.wasClean).toBe(false);
  });

  it('a peer that half-closes without reading what is queued for it is cut off by closeTimeout', async () => {
    const { raw, server } = await rawPair({ closeTimeout: 300 * MS, heartbeat: false, maxBackpressure: 0 }, { allowHalfOpen: true });
    raw.pause();
    // More than the kernel buffers take: the server's socket holds the rest.
    const chunk = Buffer.alloc(256 * 1024);
    for (let i = 0; i < 40 && server.bufferedAmount < 2 * 1024 * 1024; i++) {
      server.send(chunk);
      await delay(10);
    }
    expect(server.bufferedAmount).toBeGreaterThan(0);
    const closed = nextEvent<[number]>(server, 'close', 2000 * MS);
    raw.socket.end(); // FIN, and still not reading
    expect((await closed)[0]).toBe(1006);
  });

  it('a peer that half-closes with nothing queued for it gets our FIN and the close at once, not after closeTimeout', async () => {
    const { raw, server } = await rawPair({ closeTimeout: 60_000, heartbeat: false }, { allowHalfOpen: true });
    const closed = nextEvent<[number]>(server, 'close', 2000 * MS);
    raw.socket.end(); // FIN without a close frame
    await raw.waitEnd(); // the server ends its side too
    expect((await closed)[0]).toBe(1006);
    expect(server.wasClean).toBe(false);
  });

  it('after a clean close the server ends TCP first', async () => {
    const { raw, server } = await rawPair({}, { allowHalfOpen: true });
    const closed = nextEvent<[number, Buffer]>(server, 'close');
    raw.write(frame(Op.Close, closePayload(1000, 'bye')));
    const reply = await raw.readFrame();
    expect(reply.opcode).toBe(Op.Close);
    expect(reply.masked).toBe(false);
    expect(reply.payload).toEqual(closePayload(1000, 'bye')); // echoed as received
    await raw.waitEnd(); // the raw client has not ended its side
    expect(raw.socket.writableEnded).toBe(false);
    raw.socket.end();
    const [code, reason] = await closed;
    expect([code, String(reason)]).toEqual([1000, 'bye']);
    expect(server.wasClean).toBe(true);
  });

  it('server-initiated close: the server ends TCP once the client answers', async () => {
    const { raw, server } = await rawPair();
    server.close(1001, 'going away');
    const sent = await raw.readFrame();
    expect(sent.opcode).toBe(Op.Close);
    expect(closeCodeOf(sent.payload)).toBe(1001);
    expect(raw.ended).toBe(false);
    const closed = nextEvent<[number]>(server, 'close');
    raw.write(frame(Op.Close, closePayload(1001)));
    await raw.waitEnd();
    expect((await closed)[0]).toBe(1001);
    expect(server.wasClean).toBe(true);
  });

  it('close handshake timeout: a peer that never answers is cut off after closeTimeout with 1006', async () => {
    const { raw, server } = await rawPair({ closeTimeout: 100 * MS });
    const closed = nextEvent<[number]>(server, 'close');
    const started = Date.now();
    server.close(1000);
    expect((await raw.readFrame()).opcode).toBe(Op.Close);
    const [code] = await closed;
    expect(code).toBe(1006);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90 * MS);
    await raw.waitClosed();
  });

  it('closeTimeout: Infinity waits for the peer (setTimeout would have fired after 1 ms)', async () => {
    const { raw, server } = await rawPair({ closeTimeout: Number.POSITIVE_INFINITY });
    const closes = recordEvents(server, ['close']);
    server.close(1000);
    expect((await raw.readFrame()).opcode).toBe(Op.Close);
    await delay(50 * MS);
    expect(closes).toHaveLength(0);
    raw.write(frame(Op.Close, closePayload(1000)));
    await until(() => closes.length === 1, 'the close');
    expect(closes[0]!.args[0]).toBe(1000);
  });

  it('a close timer armed while paused goes with the connection: it is cleared when close fires, not left to hold the process', async () => {
    const { server, client: ws } = await connectPair({}, { closeTimeout: 60_000 });
    const armed = watchTimers(60_000);
    try {
      ws.pause();
      ws.close(1000); // armed while paused: this timer keeps the process until the close comes
      ws.resume();
      await Promise.all([nextEvent(ws, 'close'), nextEvent(server, 'close')]);
      expect(armed.cleared()).toEqual([true]);
    } finally {
      armed.restore();
    }
  });

  it('close handshake timeout on the client: a server that never closes TCP is cut off', async () => {
    // A raw server that answers the close frame but never ends the connection.
    const { port } = await startRawServer((socket, _head, key) => {
      socket.write(switchingProtocols(key));
      let buffer = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        buffer = Buffer.concat([buffer, chunk]);
        const parsed = parseFrame(buffer);
        if (parsed?.frame.opcode === Op.Close) socket.write(frame(Op.Close, parsed.frame.payload, { mask: null }));
      });
    });
    const ws = client(`ws://127.0.0.1:${port}`, undefined, { closeTimeout: 100 * MS });
    await nextEvent(ws, 'open');
    const closed = nextEvent<[number, Buffer]>(ws, 'close');
    const started = Date.now();
    ws.close(1000, 'bye');
    const [code, reason] = await closed;
    // The server's close frame arrived, so the code is its code even though TCP was cut.
    expect([code, String(reason)]).toEqual([1000, 'bye']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90 * MS);
  });

  it('close handshake timeout after the peer starts it: a client that sends its close frame but keeps TCP open is cut off', async () => {
    const { raw, server, wss } = await rawPair({ closeTimeout: 100 * MS }, { allowHalfOpen: true });
    const closed = nextEvent<[number, Buffer]>(server, 'close');
    const started = Date.now();
    raw.write(frame(Op.Close, closePayload(1000, 'done')));
    expect((await raw.readFrame()).opcode).toBe(Op.Close);
    // The server ended its side; this client never ends its own.
    await raw.waitEnd();
    const [code, reason] = await closed;
    expect([code, String(reason)]).toEqual([1000, 'done']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90 * MS);
    expect(wss.clients.size).toBe(0);
    raw.socket.destroy();
  });

  it('close handshake timeout on the client after the server starts it: a server that sends its close frame but never closes TCP is cut off', async () => {
    const { port } = await startRawServer((socket, _head, key) => {
      socket.write(switchingProtocols(key));
      socket.write(frame(Op.Close, closePayload(1001, 'going'), { mask: null }));
      socket.on('data', () => {}); // reads the client's answer, never ends
    });
    const ws = client(`ws://127.0.0.1:${port}`, undefined, { closeTimeout: 100 * MS });
    await nextEvent(ws, 'open');
    const started = Date.now();
    const [code, reason] = await nextEvent<[number, Buffer]>(ws, 'close');
    expect([code, String(reason)]).toEqual([1001, 'going']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90 * MS);
  });

  it("readyState is CLOSING from the peer's close frame until TCP closes: send() then drops", async () => {
    const { raw, server } = await rawPair({}, { allowHalfOpen: true });
    raw.write(frame(Op.Close, closePayload(1000)));
    expect((await raw.readFrame()).opcode).toBe(Op.Close); // the answer: the close frame has been read
    expect(server.readyState).toBe(WebSocket.CLOSING);
    expect(server.send('late')).toBe(SendStatus.DROPPED);
    const closed = nextEvent(server, 'close');
    raw.socket.destroy();
    await closed;
  });

  it('the callback of a send whose socket is destroyed in the same tick gets an error once the connection closes', async () => {
    const { server } = await connectPair();
    const results: unknown[] = [];
    server.send('lost', (error) => results.push(error));
    server.socket!.destroy();
    await until(() => results.length === 1, 'the send callback');
    expect(results[0]).toBeInstanceOf(InvalidStateError);
  });

  it('close fires exactly once, whatever ends the connection', async () => {
    const endings: Array<[string, (server: WebSocket, ws: WebSocket) => void]> = [
      ['client close', (_server, ws) => ws.close(1000)],
      ['server close', (server) => server.close(1000)],
      ['both close at once', (server, ws) => (ws.close(1000), server.close(1000))],
      ['client terminate', (_server, ws) => ws.terminate()],
      ['server terminate', (server) => server.terminate()],
      ['transport destroyed', (server) => server.socket!.destroy()],
      ['close then terminate', (_server, ws) => (ws.close(1000), ws.terminate())],
    ];
    for (const [name, end] of endings) {
      const { server, client: ws } = await connectPair();
      const serverLog = recordEvents(server, ['close']);
      const clientLog = recordEvents(ws, ['close']);
      end(server, ws);
      await until(() => serverLog.length > 0 && clientLog.length > 0, `both sides closed (${name})`);
      await delay(10 * MS);
      expect([name, serverLog.length, clientLog.length]).toEqual([name, 1, 1]);
      expect([server.readyState, ws.readyState]).toEqual([WebSocket.CLOSED, WebSocket.CLOSED]);
      await closeAll();
    }
  });

  it('the transport dying reports 1006 on the other side', async () => {
    const { raw, server } = await rawPair();
    const closed = nextEvent<[number, Buffer]>(server, 'close');
    raw.socket.destroy();
    const [code, reason] = await closed;
    expect(code).toBe(1006);
    expect(reason.length).toBe(0);
    expect(server.wasClean).toBe(false);
  });
});

describe('the WHATWG event surface', () => {
  it('onopen, onmessage, onclose with event objects; text arrives as a string', async () => {
    const { wss, url } = await startServer();
    wss.on('connection', (server) => {
      server.send('text');
      server.send(Buffer.from([1, 2]));
      server.close(4000, 'the end');
    });
    const ws = client(url);
    const events: unknown[] = [];
    ws.onopen = (event: any) => events.push(['open', event.type, event.target === ws]);
    ws.onmessage = (event: MessageEvent) => events.push(['message', event.data]);
    ws.onclose = (event: CloseEvent) => events.push(['close', event.code, event.reason, event.wasClean, event instanceof CloseEvent]);
    expect(typeof ws.onmessage).toBe('function');
    await nextEvent(ws, 'close');
    expect(events).toEqual([
      ['open', 'open', true],
      ['message', 'text'],
      ['message', Buffer.from([1, 2])],
      ['close', 4000, 'the end', true, true],
    ]);
  });

  it('binaryType arraybuffer reaches onmessage as an ArrayBuffer', async () => {
    const { server, client: ws } = await connectPair();
    ws.binaryType = 'arraybuffer';
    const received = new Promise<MessageEvent>((resolve) => (ws.onmessage = resolve));
    server.send(Buffer.from([5, 6, 7]));
    const event = await received;
    expect(event).toBeInstanceOf(MessageEvent);
    expect(event.data).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(event.data as ArrayBuffer)]).toEqual([5, 6, 7]);
  });

  it('addEventListener: once, handleEvent objects, no duplicates, removeEventListener', async () => {
    const { server, client: ws } = await connectPair();
    const calls: string[] = [];
    const listener = (event: MessageEvent) => calls.push(`fn:${event.data}`);
    ws.addEventListener('message', listener);
    ws.addEventListener('message', listener); // a duplicate is ignored
    ws.addEventListener('message', { handleEvent: (event: MessageEvent) => calls.push(`obj:${event.data}`) });
    ws.addEventListener('message', (event: MessageEvent) => calls.push(`once:${event.data}`), { once: true });
    const both = recordEvents(ws, ['message']);
    server.send('a');
    server.send('b');
    await until(() => both.length === 2, 'two messages');
    ws.removeEventListener('message', listener);
    server.send('c');
    await until(() => both.length === 3, 'a third message');
    expect(calls).toEqual(['fn:a', 'obj:a', 'once:a', 'fn:b', 'obj:b', 'obj:c']);
  });

  it('addEventListener: an aborted signal removes the listener (also when an abort listener before it stops immediate propagation, as DOM abort algorithms run); boolean and null options are accepted', async () => {
    const { server, client: ws } = await connectPair();
    const calls: string[] = [];
    const controller = new AbortController();
    controller.signal.addEventListener('abort', (event) => event.stopImmediatePropagation());
    ws.addEventListener('message', (event: MessageEvent) => calls.push(`signal:${event.data}`), { signal: controller.signal });
    ws.addEventListener('message', (event: MessageEvent) => calls.push(`capture:${event.data}`), true);
    ws.addEventListener('message', (event: MessageEvent) => calls.push(`null:${event.data}`), null);
    ws.addEventListener('message', () => calls.push('never'), { signal: AbortSignal.abort() });
    const log = recordEvents(ws, ['message']);
    server.send('a');
    await until(() => log.length === 1, 'one message');
    controller.abort();
    server.send('b');
    await until(() => log.length === 2, 'two messages');
    expect(calls).toEqual(['signal:a', 'capture:a', 'null:a', 'capture:b', 'null:b']);
  });

  it('addEventListener with a signal already aborted adds nothing, not even until the next tick', async () => {
    const { server, client: ws } = await connectPair();
    const before = ws.listenerCount('message');
    const calls: string[] = [];
    ws.addEventListener('message', () => calls.push('never'), { signal: AbortSignal.abort() });
    expect(ws.listenerCount('message')).toBe(before);
    ws.emit('message', Buffer.from('now'), false); // a message dispatched in this same tick
    server.send('later');
    await nextEvent(ws, 'message');
    expect(calls).toEqual([]);
  });

  it('addEventListener: a signal keeps no closed connection alive, and an unused signal holds no listener after close', async () => {
    const controller = new AbortController();
    const signalListeners = (): number => {
      // Node's AbortSignal is an EventTarget: its listeners are counted by events.getEventListeners.
      return getEventListeners(controller.signal, 'abort').length;
    };
    const { server, client: ws } = await connectPair();
    ws.addEventListener('message', () => {}, { signal: controller.signal });
    ws.addEventListener('close', () => {}, { signal: controller.signal, once: true });
    expect(signalListeners()).toBe(2);
    ws.removeEventListener('message', (() => {}) as never); // not that one: nothing changes
    expect(signalListeners()).toBe(2);
    server.close();
    await nextEvent(ws, 'close');
    expect(signalListeners()).toBe(0);
  });

  it('close lets go of the signal also when its listener was removed with EventEmitter methods; none is taken after close', async () => {
    const { server, client: ws } = await connectPair();
    const controller = new AbortController();
    ws.addEventListener('open', () => {}, { signal: controller.signal });
    ws.addEventListener('message', () => {}, { signal: controller.signal });
    ws.removeAllListeners('message');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(2);
    server.close();
    await nextEvent(ws, 'close');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    ws.addEventListener('message', () => {}, { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('an on-attribute replaced during a dispatch: the old handler still gets that event (as in ws), the new one the next', async () => {
    const { server, client: ws } = await connectPair();
    const calls: string[] = [];
    ws.addEventListener('message', () => {
      calls.push('early');
      ws.onmessage = () => calls.push('h2');
    });
    ws.onmessage = () => calls.push('h1');
    const log = recordEvents(ws, ['message']);
    server.send('a');
    await until(() => log.length === 1, 'one message');
    server.send('b');
    await until(() => log.length === 2, 'two messages');
    expect(calls).toEqual(['early', 'h1', 'early', 'h2']);
  });

  it('addEventListener: removing a listener, or the signal it was added with aborting, lets go of the signal', async () => {
    const { client: ws } = await connectPair();
    const controller = new AbortController();
    const listener = (): void => {};
    ws.addEventListener('message', listener, { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    ws.removeEventListener('message', listener);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(ws.listenerCount('message')).toBe(0);
  });

  it('addEventListener refuses a listener that is no function or object, and a signal that is no AbortSignal, adding nothing', async () => {
    const { client: ws } = await connectPair();
    for (const listener of ['onClose', 42, true]) {
      expect(() => ws.addEventListener('message', listener as never)).toThrow(TypeError);
    }
    for (const signal of [{}, 'yes', null]) {
      expect(() => ws.addEventListener('message', () => {}, { signal } as never)).toThrow(TypeError);
    }
    expect(ws.listenerCount('message')).toBe(0);
    // null and undefined listeners are ignored, as in the DOM.
    ws.addEventListener('message', null);
    expect(ws.listenerCount('message')).toBe(0);
  });

  it('a listener removed while an event is dispatched is not called for it (DOM), however it was removed', async () => {
    const { server, client: ws } = await connectPair();
    const calls: string[] = [];
    const controller = new AbortController();
    const later = (): number => calls.push('removed');
    ws.addEventListener('message', () => {
      calls.push('first');
      ws.removeEventListener('message', later);
      controller.abort();
      ws.onmessage = null;
    });
    ws.addEventListener('message', later);
    ws.addEventListener('message', () => calls.push('aborted'), { signal: controller.signal });
    ws.onmessage = () => calls.push('attribute');
    ws.addEventListener('message', () => calls.push('last'));
    const log = recordEvents(ws, ['message']);
    server.send('a');
    await until(() => log.length === 1, 'one message');
    expect(calls).toEqual(['first', 'last']);
  });

  it('the readyState constants cannot be changed, on the class or its instances', async () => {
    'use strict';
    for (const [name, value] of [['CONNECTING', 0], ['OPEN', 1], ['CLOSING', 2], ['CLOSED', 3]] as const) {
      expect(Object.getOwnPropertyDescriptor(WebSocket, name)).toEqual({ value, writable: false, enumerable: true, configurable: false });
      expect(() => {
        (WebSocket as unknown as Record<string, number>)[name] = 99;
      }).toThrow(TypeError);
      expect(WebSocket[name]).toBe(value);
    }
    const { client: ws } = await connectPair();
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it('setting an on-attribute replaces the previous handler; null removes it', async () => {
    const { server, client: ws } = await connectPair();
    const calls: string[] = [];
    ws.onmessage = () => calls.push('first');
    ws.onmessage = () => calls.push('second');
    const log = recordEvents(ws, ['message']);
    server.send('1');
    await until(() => log.length === 1, 'one message');
    ws.onmessage = null;
    expect(ws.onmessage).toBeNull();
    server.send('2');
    await until(() => log.length === 2, 'two messages');
    expect(calls).toEqual(['second']);
  });

  it('onerror gets an ErrorEvent, then onclose 1006, for a failed connection', async () => {
    const { port } = await startServer({ path: '/only-here' });
    const ws = client(`ws://127.0.0.1:${port}/elsewhere`);
    const events: unknown[] = [];
    ws.onerror = (event: ErrorEvent) => events.push(['error', event instanceof ErrorEvent, event.message]);
    ws.onclose = (event: CloseEvent) => events.push(['close', event.code, event.wasClean]);
    await nextEvent(ws, 'close');
    expect(events).toEqual([
      ['error', true, expect.stringMatching(/400/)],
      ['close', 1006, false],
    ]);
  });

  it('on(...) listeners and WHATWG listeners see the same message in their own shape', async () => {
    const { server, client: ws } = await connectPair();
    const node = nextEvent<[Buffer, boolean]>(ws, 'message');
    const web = new Promise<MessageEvent>((resolve) => ws.addEventListener('message', resolve, { once: true }));
    server.send('same');
    const [data, isBinary] = await node;
    expect(Buffer.isBuffer(data)).toBe(true);
    expect(isBinary).toBe(false);
    expect((await web).data).toBe('same');
  });
});

describe('write path', () => {
  it('frames sent in one tick go out in one write', async () => {
    const { raw, server } = await rawPair();
    const writes = spyWrites(server.socket!);
    for (let i = 0; i < 10; i++) server.send(`message ${i}`);
    expect(writes).toHaveLength(0); // nothing is written before the end of the tick
    const frames = [];
    for (let i = 0; i < 10; i++) frames.push(await raw.readFrame());
    expect(writes).toHaveLength(1);
    expect(frames.map((f) => String(f.payload))).toEqual(Array.from({ length: 10 }, (_, i) => `message ${i}`));
  });

  it('a small frame is one buffer in one write', async () => {
    const { raw, server } = await rawPair();
    const writes = spyWrites(server.socket!);
    server.send(Buffer.from('small'));
    const received = await raw.readFrame();
    expect(writes).toHaveLength(1);
    expect(Buffer.from(writes[0] as Uint8Array)).toEqual(Buffer.from([0x82, 5, ...Buffer.from('small')]));
    expect(String(received.payload)).toBe('small');
  });

  it('sends in different ticks go out in separate writes, in order', async () => {
    const { raw, server } = await rawPair();
    const writes = spyWrites(server.socket!);
    server.send('one');
    await delay(1);
    server.send('two');
    const frames = [await raw.readFrame(), await raw.readFrame()];
    expect(writes).toHaveLength(2);
    expect(frames.map((f) => String(f.payload))).toEqual(['one', 'two']);
  });

  it('a payload that starts where its header ends, in another ArrayBuffer, is not joined to the header', async () => {
    // The write path joins frames that are adjacent slices of one ArrayBuffer (a publish
    // burst's slab) into one view. A large payload is written as a header from Node's
    // buffer pool followed by the caller's own bytes; here those bytes start at the very
    // offset where the header ends, but in another ArrayBuffer. Joined by offsets alone,
    // the view would cover the pool's memory instead (and past its end).
    const { raw, server } = await rawPair();
    const size = 20_000; // above the size under which payloads are copied into the frame
    let probe = Buffer.allocUnsafe(1);
    if (probe.byteOffset + 64 > probe.buffer.byteLength) {
      // Near the pool's end: more than is left starts a new pool, and the probe goes there.
      Buffer.allocUnsafe(64);
      probe = Buffer.allocUnsafe(1);
    }
    // The pool hands out 8-byte-aligned slices: the header (4 bytes) is the next one.
    const headerAt = probe.byteOffset + 8;
    const payload = new Uint8Array(new ArrayBuffer(headerAt + 4 + size), headerAt + 4, size).fill(0x61);
    server.send(payload);
    // What the test relies on: the header was the pool's next slice.
    expect(Buffer.allocUnsafe(1).byteOffset).toBe(headerAt + 8);
    const received = await raw.readFrame();
    expect(received.payload.length).toBe(size);
    expect(received.payload.every((byte) => byte === 0x61)).toBe(true);
  });

  it('a large burst in one tick arrives whole and in order', async () => {
    const { raw, server } = await rawPair();
    const payloads = Array.from({ length: 8 }, (_, i) => Buffer.alloc(40_000, i));
    for (const payload of payloads) server.send(payload);
    // Buffer.equals: vitest's deep equality is slow on large buffers.
    for (const payload of payloads) expect((await raw.readFrame()).payload.equals(payload)).toBe(true);
  });
});

describe('peer protocol violations', () => {
  const violations: Array<[string, number, () => Buffer, Record<string, unknown>?]> = [
    ['an unmasked frame', 1002, () => frame(Op.Text, 'hello', { mask: null })],
    ['invalid UTF-8 in a text message', 1007, () => frame(Op.Text, Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xff]))],
    ['a 126-byte ping', 1002, () => frame(Op.Ping, Buffer.alloc(126))],
    ['a message over maxPayload', 1009, () => frame(Op.Binary, Buffer.alloc(2000)), { maxPayload: 1000 }],
    ['RSV bits without an extension', 1002, () => frame(Op.Text, 'x', { rsv: 0b100 })],
    ['a reserved opcode', 1002, () => frame(0x3, 'x')],
    ['a continuation with no message', 1002, () => frame(Op.Continuation, 'x')],
    ['a fragmented ping', 1002, () => frame(Op.Ping, 'x', { fin: false })],
    ['a close frame with a bad code', 1002, () => frame(Op.Close, closePayload(1005))],
    ['a close frame of one byte', 1002, () => frame(Op.Close, Buffer.from([3]))],
  ];

  it.each(violations)('%s: error and close on the server, close frame %i to the peer', async (_name, code, make, options) => {
    const { raw, server } = await rawPair(options);
    const events = recordEvents(server, ['error', 'close']);
    raw.write(make());
    const reply = await raw.readFrame();
    expect(reply.opcode).toBe(Op.Close);
    expect(closeCodeOf(reply.payload)).toBe(code);
    await raw.waitEnd(); // the server closes TCP after failing
    await until(() => events.some((e) => e.event === 'close'), 'close');
    expect(events.map((e) => e.event)).toEqual(['error', 'close']);
    expect((events[0]!.args[0] as { closeCode: number }).closeCode).toBe(code);
  });

  it.each(violations)('%s (close %i) with no error listener: no crash, close still fires', async (_name, _code, make, options) => {
    const { raw, server } = await rawPair(options);
    expect(server.listenerCount('error')).toBe(0);
    const closed = nextEvent(server, 'close');
    raw.write(make());
    await closed;
    await raw.waitEnd();
  });

  it('nothing after the violation is delivered', async () => {
    const { raw, server } = await rawPair();
    server.on('error', () => {});
    const messages = recordEvents(server, ['message']);
    raw.write(Buffer.concat([frame(Op.Text, 'before'), frame(Op.Text, 'bad', { mask: null }), frame(Op.Text, 'after')]));
    await nextEvent(server, 'close');
    expect(messages.map((e) => String(e.args[0]))).toEqual(['before']);
  });

  it('a server that sends a masked frame fails the client with 1002', async () => {
    const received: Buffer[] = [];
    const { port } = await startRawServer((socket, _head, key) => {
      socket.on('data', (chunk) => received.push(chunk));
      socket.write(switchingProtocols(key));
      socket.write(frame(Op.Text, 'masked')); // masked: servers must not
    });
    const ws = client(`ws://127.0.0.1:${port}`, undefined, { closeTimeout: 100 * MS });
    const events = recordEvents(ws, ['open', 'message', 'error', 'close']);
    await nextEvent(ws, 'close');
    expect(events.map((e) => e.event)).toEqual(['open', 'error', 'close']);
    expect((events[1]!.args[0] as { closeCode: number }).closeCode).toBe(1002);
    const closeFrame = parseFrame(Buffer.concat(received))!.frame;
    expect(closeFrame.opcode).toBe(Op.Close);
    expect(closeFrame.masked).toBe(true); // client frames are masked, the close frame too
    expect(closeCodeOf(closeFrame.payload)).toBe(1002);
  });
});

describe('pause and resume', () => {
  it('pause() holds messages back until resume()', async () => {
    const { server, client: ws } = await connectPair();
    const messages = recordEvents(server, ['message']);
    server.pause();
    ws.send('held');
    await delay(20 * MS);
    expect(messages).toEqual([]);
    server.resume();
    await until(() => messages.length === 1, 'the held message');
  });
});

/** A server whose 'message' listener throws for "boom" (or a message that starts with it) and echoes the rest. */
function throwOnBoom(server: WebSocket): void {
  server.on('message', (data, isBinary) => {
    if (String(data).startsWith('boom')) throw new Error('boom in a listener');
    server.send(data, { binary: isBinary });
  });
}

describe('a message listener that throws', () => {
  // As with any EventEmitter (and ws), the exception is the application's: it is
  // uncaught. The connection is not failed for it, and what arrived after the message
  // is still delivered, without waiting for more bytes from the peer.
  it('the exception is uncaught; the message after it, in the same read, is still delivered', async () => {
    await collectingUncaught(async (errors) => {
      const { raw, server } = await rawPair({ heartbeat: false });
      throwOnBoom(server);
      raw.write(Buffer.concat([frame(Op.Text, 'boom'), frame(Op.Text, 'after')])); // one write
      const echo = await raw.readFrame();
      expect(String(echo.payload)).toBe('after');
      expect(errors.map((e) => e.message)).toEqual(['boom in a listener']);
      expect(server.readyState).toBe(WebSocket.OPEN);
    });
  });

  for (const [name, size] of [
    ['inflated at once', 20],
    ['inflated asynchronously', 4 * 1024 * 1024],
  ] as const) {
    it(`the same for a compressed message ${name}, and the message queued behind it`, async () => {
      await collectingUncaught(async (errors) => {
        const { server, client: ws } = await connectPair({ perMessageDeflate: true, maxPayload: 64 * 1024 * 1024, heartbeat: false }, { perMessageDeflate: true });
        throwOnBoom(server);
        const echo = nextEvent<[Buffer]>(ws, 'message', 5000 * MS);
        ws.send(`boom${'x'.repeat(size)}`); // compresses to a few KiB at most
        ws.send('after');
        expect(String((await echo)[0])).toBe('after');
        expect(errors.map((e) => e.message)).toEqual(['boom in a listener']);
        expect(server.readyState).toBe(WebSocket.OPEN);
        ws.send('still open');
        expect(String((await nextEvent<[Buffer]>(ws, 'message'))[0])).toBe('still open');
      });
    });
  }
});

describe('a send callback that throws', () => {
  // As a listener's: the exception is uncaught. It must not keep the other callbacks,
  // or the connection's 'close', from happening.
  it('the other callbacks of the same write are still called', async () => {
    await collectingUncaught(async (errors) => {
      const { raw, server } = await rawPair({ heartbeat: false });
      const called: number[] = [];
      server.send('1', () => {
        called.push(1);
        throw new Error('boom in a callback');
      });
      server.send('2', () => called.push(2));
      server.send('3', () => called.push(3));
      for (const text of ['1', '2', '3']) expect(String((await raw.readFrame()).payload)).toBe(text);
      await until(() => called.length === 3 && errors.length === 1, 'the callbacks');
      expect(called).toEqual([1, 2, 3]);
      expect(errors.map((e) => e.message)).toEqual(['boom in a callback']);
    });
  });

  it("callbacks of frames terminate() hands to the socket are all called, and 'close' fires once and the server forgets the connection", async () => {
    await collectingUncaught(async (errors) => {
      const { server, wss } = await rawPair({ heartbeat: false });
      const closes = recordEvents(server, ['close']);
      const results: unknown[] = [];
      server.send('1', (error) => {
        results.push(error);
        throw new Error('boom in a callback');
      });
      server.send('2', (error) => results.push(error));
      server.terminate();
      await until(() => closes.length === 1 && errors.length === 1, "'close' and the exception");
      expect(results).toHaveLength(2);
      expect(errors.map((e) => e.message)).toEqual(['boom in a callback']);
      expect(wss.clients.size).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(closes).toHaveLength(1);
    });
  });

  it('a callback for a frame already written that throws does not hold up the close handshake', async () => {
    await collectingUncaught(async (errors) => {
      const { raw, server } = await rawPair({ heartbeat: false, closeTimeout: 60_000 });
      server.send('1');
      await raw.readFrame();
      server.ping(undefined, undefined, () => {
        throw new Error('boom in a callback');
      });
      await raw.readFrame();
      await until(() => errors.length === 1, 'the exception');
      const closed = nextEvent<[number]>(server, 'close');
      server.close(1000);
      expect((await raw.readFrame()).opcode).toBe(Op.Close);
      raw.write(frame(Op.Close, Buffer.from([0x03, 0xe8])));
      expect((await closed)[0]).toBe(1000);
      await raw.waitClosed();
    });
  });
});
