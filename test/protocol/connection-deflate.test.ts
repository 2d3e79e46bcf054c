/**
 * A Connection with permessage-deflate (RFC 7692 §6), without sockets: RSV1 on the
 * first frame only, never on control frames; inflating received messages (1007 for
 * bad data or text, 1009 beyond maxPayload); the threshold; and order when zlib works
 * on the thread pool (the parser waits, sends queue, pings may pass, close waits).
 */
import { describe, expect, it } from 'vitest';
import { Connection, ReadyState, type ConnectionHandler } from '../../src/protocol/connection.js';
import { PerMessageDeflate, type CodecCallback, type CodecOptions, type MessageCodec } from '../../src/protocol/deflate-codec.js';
import type { DeflateParams } from '../../src/protocol/deflate.js';
import { InternalError } from '../../src/protocol/errors.js';
import { Opcode } from '../../src/protocol/frame.js';
import { clientFrame, closeCodeOf, closePayload, decodeFrames, eventsOf, expectClosing, feed, fixedMask, framesSent, Rsv, type SentFrame } from './helpers.js';
import { broadcastMessage, compress, inflate, jsonText, params, waitFor } from './deflate-helpers.js';

const KiB = 1024;

/** A server Connection with permessage-deflate, and the client-side codec to talk to it. */
function serverWithDeflate(agreed: DeflateParams = params(), options: Omit<CodecOptions, 'role'> = {}, maxPayload?: number) {
  const conn = new Connection({ role: 'server', generateMask: fixedMask, maxPayload, compression: new PerMessageDeflate(agreed, { ...options, role: 'server' }) });
  const peer = new PerMessageDeflate(agreed, { ...options, role: 'client' });
  return { conn, peer };
}

/** Compressed client frames of one message: the first with RSV1, split into `size`-byte fragments (0: one frame). */
async function compressedFrames(peer: PerMessageDeflate, opcode: number, text: string | Buffer, size = 0): Promise<Buffer> {
  const payload = await compress(peer, typeof text === 'string' ? Buffer.from(text) : text);
  const pieces: Buffer[] = [];
  if (size === 0 || payload.length <= size) pieces.push(payload);
  else for (let i = 0; i < payload.length; i += size) pieces.push(payload.subarray(i, i + size));
  return Buffer.concat(
    pieces.map((piece, i) => clientFrame(i === 0 ? opcode : Opcode.Continuation, piece, { fin: i === pieces.length - 1, rsv: i === 0 ? Rsv.RSV1 : 0 })),
  );
}

/** Inflates the server's data frames in order (a client's view), returning the messages. */
async function readMessages(peer: PerMessageDeflate, frames: SentFrame[]): Promise<Array<[number, string]>> {
  const messages: Array<[number, string]> = [];
  let parts: Buffer[] = [];
  let opcode = 0;
  let isCompressed = false;
  for (const frame of frames) {
    if (frame.opcode >= Opcode.Close) continue;
    if (frame.opcode !== Opcode.Continuation) {
      opcode = frame.opcode;
      isCompressed = (frame.rsv & Rsv.RSV1) !== 0;
    } else {
      expect(frame.rsv, 'RSV1 only on the first frame').toBe(0);
    }
    parts.push(frame.payload);
    if (frame.fin) {
      const payload = Buffer.concat(parts);
      messages.push([opcode, (isCompressed ? await inflate(peer, payload) : payload).toString()]);
      parts = [];
    }
  }
  return messages;
}

describe('RFC 7692 §6: receiving', () => {
  it('a compressed message (RSV1) is inflated and delivered', async () => {
    const { conn, peer } = serverWithDeflate();
    feed(conn, await compressedFrames(peer, Opcode.Text, 'Hello'));
    expect(eventsOf(conn)).toEqual([['text', 'Hello']]);
    feed(conn, await compressedFrames(peer, Opcode.Binary, Buffer.from([1, 2, 3])));
    expect(eventsOf(conn)).toEqual([['binary', Buffer.from([1, 2, 3])]]);
  });

  it('§6.1: a compressed message in many fragments, RSV1 on the first only', async () => {
    const { conn, peer } = serverWithDeflate();
    const text = jsonText(20 * KiB);
    feed(conn, await compressedFrames(peer, Opcode.Text, text, 37), 1000);
    expect(eventsOf(conn)).toEqual([['text', text]]);
  });

  it('uncompressed messages still pass', () => {
    const { conn } = serverWithDeflate();
    feed(conn, clientFrame(Opcode.Text, 'plain'));
    expect(eventsOf(conn)).toEqual([['text', 'plain']]);
  });

  it('§6.1: RSV1 on a continuation frame fails with 1002', async () => {
    const { conn } = serverWithDeflate();
    feed(conn, Buffer.concat([clientFrame(Opcode.Text, 'a', { fin: false }), clientFrame(Opcode.Continuation, 'b', { rsv: Rsv.RSV1 })]));
    expectClosing(conn, 1002);
  });

  it('§6.1: RSV1 on a control frame fails with 1002', () => {
    const { conn } = serverWithDeflate();
    feed(conn, clientFrame(Opcode.Ping, 'x', { rsv: Rsv.RSV1 }));
    expectClosing(conn, 1002);
  });

  it('RSV1 without the extension negotiated fails with 1002 (RFC 6455 §5.2)', () => {
    const conn = new Connection({ role: 'server' });
    feed(conn, clientFrame(Opcode.Text, 'x', { rsv: Rsv.RSV1 }));
    expectClosing(conn, 1002);
  });

  it('bad compressed data fails with 1007', () => {
    const { conn } = serverWithDeflate();
    feed(conn, clientFrame(Opcode.Binary, Buffer.from([0xff, 0xff, 0xff]), { rsv: Rsv.RSV1 }));
    const { error } = expectClosing(conn, 1007);
    expect(error.code).toBe('WS_ERR_INVALID_COMPRESSED_DATA');
  });

  it('RFC 6455 §8.1: inflated text that is not UTF-8 fails with 1007', async () => {
    const { conn, peer } = serverWithDeflate();
    feed(conn, await compressedFrames(peer, Opcode.Text, Buffer.from([0x48, 0xc3, 0x28])));
    const { error } = expectClosing(conn, 1007);
    expect(error.code).toBe('WS_ERR_INVALID_UTF8');
  });

  it('a message inflating beyond maxPayload fails with 1009', async () => {
    const { conn, peer } = serverWithDeflate(params(), {}, 64 * KiB);
    feed(conn, await compressedFrames(peer, Opcode.Binary, Buffer.alloc(64 * KiB + 1)));
    const { error } = expectClosing(conn, 1009);
    expect(error.message).toContain('maxPayload 65536');
  });

  it('nothing is processed after a failure, even frames that arrived with the bad message', async () => {
    const { conn, peer } = serverWithDeflate();
    const good = await compressedFrames(peer, Opcode.Text, 'after');
    feed(conn, Buffer.concat([clientFrame(Opcode.Binary, Buffer.from([0xff, 0xff, 0xff]), { rsv: Rsv.RSV1 }), good]));
    expectClosing(conn, 1007);
    feed(conn, good);
    expect(eventsOf(conn)).toEqual([]);
  });
});

describe('RFC 7692 §6: sending', () => {
  it('a message at the threshold is compressed, RSV1 set; a smaller one is not', async () => {
    const { conn, peer } = serverWithDeflate();
    conn.sendText('x'.repeat(1024));
    conn.sendText('x'.repeat(1023));
    const frames = framesSent(conn);
    expect(frames.map((f) => [f.rsv, f.opcode])).toEqual([
      [Rsv.RSV1, Opcode.Text],
      [0, Opcode.Text],
    ]);
    expect(await readMessages(peer, frames)).toEqual([
      [Opcode.Text, 'x'.repeat(1024)],
      [Opcode.Text, 'x'.repeat(1023)],
    ]);
  });

  it('the threshold counts UTF-8 bytes of a string', () => {
    const { conn } = serverWithDeflate();
    conn.sendText('é'.repeat(512)); // 1024 bytes, 512 characters
    conn.sendText('é'.repeat(511));
    expect(framesSent(conn).map((f) => f.rsv)).toEqual([Rsv.RSV1, 0]);
  });

  it('the threshold counts UTF-8 bytes of a string of 3-byte characters (3 bytes per UTF-16 unit)', async () => {
    const { conn, peer } = serverWithDeflate();
    conn.sendText('€'.repeat(342)); // 1026 bytes, 342 characters: compressed
    conn.sendText('€'.repeat(341)); // 1023 bytes: not
    const frames = framesSent(conn);
    expect(frames.map((f) => f.rsv)).toEqual([Rsv.RSV1, 0]);
    expect(await readMessages(peer, frames)).toEqual([
      [Opcode.Text, '€'.repeat(342)],
      [Opcode.Text, '€'.repeat(341)],
    ]);
  });

  it('compress: false sends uncompressed', () => {
    const { conn } = serverWithDeflate();
    conn.sendMessage(true, Buffer.alloc(4096), true, false);
    expect(framesSent(conn).map((f) => [f.rsv, f.payload.length])).toEqual([[0, 4096]]);
  });

  it('the threshold option (0 compresses everything)', async () => {
    const { conn, peer } = serverWithDeflate(params(), { threshold: 0 });
    conn.sendText('');
    conn.sendText('Hello');
    const frames = framesSent(conn);
    expect(frames.map((f) => f.rsv)).toEqual([Rsv.RSV1, Rsv.RSV1]);
    expect(await readMessages(peer, frames)).toEqual([
      [Opcode.Text, ''],
      [Opcode.Text, 'Hello'],
    ]);
  });

  it('§6.1: a fragmented message has RSV1 on its first frame only; the decision is made there', async () => {
    const { conn, peer } = serverWithDeflate();
    const a = jsonText(2000, 1);
    const b = jsonText(10, 2);
    conn.sendMessage(false, a, false);
    conn.sendPing('between');
    conn.sendMessage(false, b, true);
    conn.sendMessage(false, b, false); // below the threshold: the whole message stays uncompressed
    conn.sendMessage(false, a, true);
    const frames = framesSent(conn);
    expect(frames.map((f) => [f.opcode, f.rsv, f.fin])).toEqual([
      [Opcode.Text, Rsv.RSV1, false],
      [Opcode.Ping, 0, true],
      [Opcode.Continuation, 0, true],
      [Opcode.Text, 0, false],
      [Opcode.Continuation, 0, true],
    ]);
    expect(await readMessages(peer, frames)).toEqual([
      [Opcode.Text, a + b],
      [Opcode.Text, b + a],
    ]);
  });

  it('control frames are never compressed', () => {
    const { conn } = serverWithDeflate(params(), { threshold: 0 });
    conn.sendPing('p'.repeat(125));
    conn.sendPong('q');
    conn.close(1000, 'bye');
    expect(framesSent(conn).map((f) => f.rsv)).toEqual([0, 0, 0]);
  });

  it('a client masks compressed frames', async () => {
    const peer = new PerMessageDeflate(params(), { role: 'server' });
    const conn = new Connection({ role: 'client', generateMask: fixedMask, compression: new PerMessageDeflate(params(), { role: 'client' }) });
    conn.sendText(jsonText(3000));
    const frames = framesSent(conn);
    expect(frames[0]!.mask).not.toBeNull();
    expect(await readMessages(peer, frames)).toEqual([[Opcode.Text, jsonText(3000)]]);
  });
});

describe('order while zlib works on the thread pool', () => {
  const onThreadPool = { syncLimit: 0 };

  it('received messages and control frames are delivered in order; the parser waits meanwhile', async () => {
    const { conn, peer } = serverWithDeflate(params(), onThreadPool);
    const bytes = Buffer.concat([
      await compressedFrames(peer, Opcode.Text, jsonText(5000, 1)),
      clientFrame(Opcode.Ping, 'p'),
      clientFrame(Opcode.Text, 'plain'),
      await compressedFrames(peer, Opcode.Text, jsonText(5000, 2), 100),
      clientFrame(Opcode.Close, closePayload(1000)),
    ]);
    feed(conn, bytes);
    expect(conn.parser.bufferedAmount).toBeGreaterThan(0); // held while the first message inflates
    const events: unknown[] = [];
    await waitFor(() => (events.push(...eventsOf(conn)), events.some((e) => (e as string[])[0] === 'end')), 'the close');
    expect(events).toEqual([
      ['text', jsonText(5000, 1)],
      ['ping', Buffer.from('p')],
      ['text', 'plain'],
      ['text', jsonText(5000, 2)],
      ['closing', 1000, ''],
      ['end'],
    ]);
  });

  it('asks the transport to stop reading while a message inflates, and to go on after', async () => {
    const calls: string[] = [];
    const handler: ConnectionHandler = {
      onMessage: () => calls.push('message'),
      onPing: () => {},
      onPong: () => {},
      onClosing: () => {},
      onError: () => {},
      write: () => {},
      end: () => {},
      pauseReading: () => calls.push('pause'),
      resumeReading: () => calls.push('resume'),
    };
    const agreed = params();
    const conn = new Connection({ role: 'server', compression: new PerMessageDeflate(agreed, { role: 'server', syncLimit: 0 }) }, handler);
    const peer = new PerMessageDeflate(agreed, { role: 'client' });
    conn.receive(await compressedFrames(peer, Opcode.Text, 'Hello'));
    expect(calls).toEqual(['pause']);
    await waitFor(() => calls.length === 3, 'delivery');
    expect(calls).toEqual(['pause', 'resume', 'message']);
  });

  it('sends and pings keep their order behind a pending compression, as in ws; close waits; whenSent tells when', async () => {
    const { conn, peer } = serverWithDeflate(params(), onThreadPool);
    const big = jsonText(8000, 1);
    let sent = false;
    conn.sendText(big);
    conn.sendText('small'); // below the threshold, yet behind the compression
    conn.sendData(true, Buffer.from([1]), true, false);
    conn.sendPing('ping');
    conn.whenSent(() => (sent = true));
    conn.close(1000);
    expect(conn.readyState).toBe(ReadyState.CLOSING);
    expect(conn.queuedBytes).toBeGreaterThanOrEqual(8000);
    expect(() => conn.sendText('late')).toThrow(/CLOSING/);
    // Everything waits, the ping too.
    expect(framesSent(conn)).toEqual([]);
    expect(sent).toBe(false);
    const frames: SentFrame[] = [];
    await waitFor(() => (frames.push(...framesSent(conn)), frames.some((f) => f.opcode === Opcode.Close)), 'the close frame');
    expect(sent).toBe(true);
    expect(conn.queuedBytes).toBe(0);
    expect(frames.map((f) => f.opcode)).toEqual([Opcode.Text, Opcode.Text, Opcode.Binary, Opcode.Ping, Opcode.Close]);
    expect(await readMessages(peer, frames)).toEqual([
      [Opcode.Text, big],
      [Opcode.Text, 'small'],
      [Opcode.Binary, '\u0001'],
    ]);
  });

  it('frames waiting behind a compression count in queuedBytes until they are written', async () => {
    const { conn } = serverWithDeflate(params(), onThreadPool);
    const big = jsonText(8000, 1);
    conn.sendText(big); // compressed on the thread pool
    const before = conn.queuedBytes;
    const prepared = broadcastMessage(Buffer.alloc(3000, 7));
    conn.sendPrepared(prepared);
    conn.sendData(true, Buffer.alloc(2000, 1), true, false); // not compressed: a framed send that waits
    expect(conn.queuedBytes).toBe(before + prepared.frame.length + 2000 + 4);
    const frames: SentFrame[] = [];
    await waitFor(() => (frames.push(...framesSent(conn)), frames.length === 3), 'three frames');
    expect(conn.queuedBytes).toBe(0);
  });

  it("the peer's close arriving meanwhile is answered after the queued messages, then the server ends", async () => {
    const { conn } = serverWithDeflate(params(), onThreadPool);
    conn.sendText(jsonText(4000));
    feed(conn, clientFrame(Opcode.Close, closePayload(1001)));
    expect(eventsOf(conn)).toEqual([['closing', 1001, '']]);
    expect(conn.transportEnded).toBe(false); // not before the echo is written
    const frames: SentFrame[] = [];
    await waitFor(() => (frames.push(...framesSent(conn)), conn.transportEnded), 'the end');
    expect(frames.map((f) => f.opcode)).toEqual([Opcode.Text, Opcode.Close]);
    expect(closeCodeOf(frames[1]!.payload)).toBe(1001);
  });

  it('failing stops input at once; messages sent before it still go, then the close frame, then the server ends', async () => {
    const { conn, peer } = serverWithDeflate(params(), onThreadPool);
    const first = jsonText(4000, 1);
    const second = jsonText(4000, 2);
    conn.sendText(first);
    conn.sendText(second);
    const heard: Array<Error | undefined> = [];
    conn.whenSent((error) => heard.push(error));
    conn.fail(1011, 'gone');
    expect(conn.readyState).toBe(ReadyState.CLOSING);
    feed(conn, clientFrame(Opcode.Text, 'late')); // not read
    expect(eventsOf(conn)).toEqual([]);
    expect(conn.transportEnded).toBe(false); // not before the close frame is written
    const frames: SentFrame[] = [];
    await waitFor(() => (frames.push(...framesSent(conn)), conn.transportEnded), 'the end');
    expect(frames.map((f) => f.opcode)).toEqual([Opcode.Text, Opcode.Text, Opcode.Close]);
    expect(closeCodeOf(frames[2]!.payload)).toBe(1011);
    expect(await readMessages(peer, frames.slice(0, 2))).toEqual([
      [Opcode.Text, first],
      [Opcode.Text, second],
    ]);
    expect(heard).toEqual([undefined]);
    expect(conn.queuedBytes).toBe(0);
  });

  it('a close frame already queued by close() is the one sent when the connection then fails', async () => {
    const { conn } = serverWithDeflate(params(), onThreadPool);
    conn.sendText(jsonText(4000, 1));
    conn.close(1001, 'bye');
    conn.fail(1011, 'gone');
    const frames: SentFrame[] = [];
    await waitFor(() => (frames.push(...framesSent(conn)), conn.transportEnded), 'the end');
    expect(frames.map((f) => f.opcode)).toEqual([Opcode.Text, Opcode.Close]);
    expect(closeCodeOf(frames[1]!.payload)).toBe(1001);
  });

  it.each([
    ['close()', (conn: Connection) => conn.close(1000, 'bye')],
    ["the peer's close frame", (conn: Connection) => feed(conn, clientFrame(Opcode.Close, closePayload(1000, 'bye')))],
  ])('a compression that fails drops the close frame queued by %s behind it: the failure sends its own, then the server ends', (_name, closeNow) => {
    // A codec whose compression completes later, with an error.
    let finish: CodecCallback | null = null;
    const codec: MessageCodec = {
      threshold: 0,
      compress: (_data, _isFinal, callback) => void (finish = callback),
      decompress: (data, _maxPayload, callback) => callback(null, data),
      preparedFrame: (message) => message.frame,
      close: () => {},
    };
    const conn = new Connection({ role: 'server', compression: codec });
    conn.sendText('lost');
    closeNow(conn);
    conn.takeEvents();
    expect(framesSent(conn)).toEqual([]);
    finish!(new InternalError('zlib failed'), Buffer.alloc(0));
    const frames = framesSent(conn);
    expect(frames.map((f) => [f.opcode, closeCodeOf(f.payload)])).toEqual([[Opcode.Close, 1011]]);
    expect(conn.transportEnded).toBe(true);
    expect(conn.transportClosed().wasClean).toBe(false);
  });

  it('a transport gone while the answer to the peer\'s close waits behind a compression: not a clean close', () => {
    const { conn } = serverWithDeflate(params(), onThreadPool);
    conn.sendText(jsonText(4000));
    feed(conn, clientFrame(Opcode.Close, closePayload(1000)));
    expect(conn.closeSent).toBe(true);
    expect(framesSent(conn)).toEqual([]); // our close frame has not gone
    expect(conn.transportClosed()).toEqual({ code: 1000, reason: '', wasClean: false });
  });

  it('a transport gone during an inflate delivers nothing afterwards', async () => {
    const { conn, peer } = serverWithDeflate(params(), onThreadPool);
    feed(conn, await compressedFrames(peer, Opcode.Text, jsonText(4000)));
    conn.transportClosed();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(eventsOf(conn)).toEqual([]);
  });

  it('prepared messages wait behind compressions too', async () => {
    const { conn, peer } = serverWithDeflate(params(), onThreadPool);
    conn.sendText(jsonText(4000, 1));
    conn.sendPrepared(broadcastMessage(jsonText(3000, 2)));
    conn.sendText(jsonText(4000, 3));
    const frames: SentFrame[] = [];
    await waitFor(() => (frames.push(...framesSent(conn)), frames.length === 3), 'three frames');
    expect(await readMessages(peer, frames)).toEqual([
      [Opcode.Text, jsonText(4000, 1)],
      [Opcode.Text, jsonText(3000, 2)],
      [Opcode.Text, jsonText(4000, 3)],
    ]);
  });
});

describe('prepared messages', () => {
  it('are compressed for a peer that negotiated permessage-deflate, and not otherwise', async () => {
    const message = broadcastMessage(jsonText(2000));
    const { conn, peer } = serverWithDeflate();
    conn.sendPrepared(message);
    const plain = new Connection({ role: 'server' });
    plain.sendPrepared(message);
    const frames = framesSent(conn);
    expect(frames[0]!.rsv).toBe(Rsv.RSV1);
    expect(await readMessages(peer, frames)).toEqual([[Opcode.Text, jsonText(2000)]]);
    expect(framesSent(plain).map((f) => [f.rsv, f.payload.toString()])).toEqual([[0, jsonText(2000)]]);
  });

  it('only a server sends them', async () => {
    const conn = new Connection({ role: 'client' });
    expect(() => conn.sendPrepared(broadcastMessage('x'))).toThrow(/only a server/);
  });
});
