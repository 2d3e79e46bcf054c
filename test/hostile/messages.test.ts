/**
 * Hostile messages and hostile rates: fragment floods, decompression bombs, control
 * frame floods and peers that never read. Each must end in its documented outcome with
 * memory bounded, while a witness on the same server goes on exchanging messages.
 */
import { createHash } from 'node:crypto';
import { constants, deflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { SendStatus, type WebSocket } from '../../src/index.js';
import {
  MS,
  Op,
  attacker,
  closeAll,
  echoServer,
  expectServerCloses,
  frame,
  nextEvent,
  underAttack,
  until,
  Witness,
  type RawClient,
} from './helpers.js';

afterEach(closeAll);

const KiB = 1024;
const MiB = 1024 * KiB;

/** Waits until the server's side of a connection has more than its socket's high-water mark unwritten. */
async function fillUntilBackedUp(ws: WebSocket, raw: RawClient): Promise<number> {
  raw.socket.pause();
  const chunk = Buffer.alloc(MiB, 0x61);
  let sent = 0;
  for (let i = 0; i < 256 && !ws.socket!.writableNeedDrain; i++) {
    ws.send(chunk);
    sent++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(ws.socket!.writableNeedDrain).toBe(true);
  return sent;
}

describe('fragment floods', () => {
  it('a message in millions of 1-byte fragments fails with 1009 after 16 385 of them (1 MiB / 64 bytes counted per fragment after the first)', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      const fragments: Buffer[] = [frame(Op.Binary, 'x', { fin: false })];
      for (let i = 0; i < 20_000; i++) fragments.push(frame(Op.Continuation, 'x', { fin: false }));
      raw.write(Buffer.concat(fragments));
      const reason = await expectServerCloses(raw, 1009);
      // The 16 386th fragment is the first over.
      expect(reason.toString()).toMatch(/^message of 16386 bytes in 16386 fragments exceeds maxPayload 1048576/);
    });
  });

  it('empty fragments count too: 20 000 of them fail with 1009', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      const fragments: Buffer[] = [frame(Op.Text, '', { fin: false })];
      for (let i = 0; i < 20_000; i++) fragments.push(frame(Op.Continuation, '', { fin: false }));
      raw.write(Buffer.concat(fragments));
      await expectServerCloses(raw, 1009);
    });
  });

  it('legitimate fragmentation passes: 4 MiB in 64-byte fragments (Autobahn 9.3.1) with maxPayload 4 MiB', async () => {
    const started = await echoServer({ maxPayload: 4 * MiB });
    // Binary messages are answered with their length and hash (text is echoed, for the witness).
    started.wss.removeAllListeners('connection');
    started.wss.on('connection', (ws) => {
      ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(isBinary ? `${data.length} ${createHash('sha256').update(data).digest('hex')}` : data.toString()));
    });
    const witness = await Witness.open(started.url);
    const { raw } = await attacker(started);
    const message = Buffer.alloc(4 * MiB);
    for (let i = 0; i < message.length; i++) message[i] = (i * 31) & 0xff;
    const frames: Buffer[] = [];
    for (let offset = 0; offset < message.length; offset += 64) {
      frames.push(frame(offset === 0 ? Op.Binary : Op.Continuation, message.subarray(offset, offset + 64), { fin: offset + 64 >= message.length }));
    }
    expect(frames).toHaveLength(65_536);
    raw.write(Buffer.concat(frames));
    const answer = await raw.readFrame(10_000 * MS);
    expect(answer.payload.toString()).toBe(`${message.length} ${createHash('sha256').update(message).digest('hex')}`);
    await witness.verify();
  });
});

describe('compressed messages', () => {
  /** `total` zero bytes, deflated (a 16 MiB piece flushed and repeated). */
  function bomb(total: number): Buffer {
    const piece = deflateRawSync(Buffer.alloc(Math.min(total, 16 * MiB)), { finishFlush: constants.Z_SYNC_FLUSH });
    const pieces = Math.ceil(total / (16 * MiB));
    const all = Buffer.concat(Array.from({ length: pieces }, () => piece));
    return all.subarray(0, all.length - 4); // RFC 7692 §7.2.1: without the final tail
  }

  it('a decompression bomb (100 KiB that inflate to 100 MiB) → 1009 at maxPayload, not at 100 MiB', async () => {
    await underAttack({ perMessageDeflate: true }, async (started) => {
      const { raw, ws } = await attacker(started, { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
      expect(ws.extensions).toBe('permessage-deflate');
      const payload = bomb(100 * MiB);
      expect(payload.length).toBeLessThan(120 * KiB);
      raw.write(frame(Op.Binary, payload, { rsv: 4 }));
      const reason = await expectServerCloses(raw, 1009);
      expect(reason.toString()).toBe('message inflates to more than maxPayload 1048576 bytes');
    });
  });

  it('the same bomb split into 1 000 fragments → 1009', async () => {
    await underAttack({ perMessageDeflate: true }, async (started) => {
      const { raw } = await attacker(started, { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
      const payload = bomb(100 * MiB);
      const size = Math.ceil(payload.length / 1000);
      const frames: Buffer[] = [];
      for (let i = 0; i * size < payload.length; i++) {
        const last = (i + 1) * size >= payload.length;
        frames.push(frame(i === 0 ? Op.Text : Op.Continuation, payload.subarray(i * size, (i + 1) * size), { fin: last, rsv: i === 0 ? 4 : 0 }));
      }
      raw.write(Buffer.concat(frames));
      await expectServerCloses(raw, 1009);
    });
  });

  it('data that does not inflate → 1007', async () => {
    await underAttack({ perMessageDeflate: true }, async (started) => {
      const { raw } = await attacker(started, { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
      raw.write(frame(Op.Text, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]), { rsv: 4 }));
      await expectServerCloses(raw, 1007);
    });
  });

  it('compressed text that inflates to invalid UTF-8 → 1007', async () => {
    await underAttack({ perMessageDeflate: true }, async (started) => {
      const { raw } = await attacker(started, { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
      const payload = deflateRawSync(Buffer.from([0x61, 0xff, 0x62]), { finishFlush: constants.Z_SYNC_FLUSH });
      raw.write(frame(Op.Text, payload.subarray(0, payload.length - 4), { rsv: 4 }));
      await expectServerCloses(raw, 1007);
    });
  });
});

describe('control frame floods', () => {
  it('a peer that reads gets a pong for every ping, in order', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      const pings: Buffer[] = [];
      for (let i = 0; i < 1000; i++) pings.push(frame(Op.Ping, `ping ${i}`));
      raw.write(Buffer.concat(pings));
      for (let i = 0; i < 1000; i++) {
        const pong = await raw.readFrame();
        expect([pong.opcode, pong.payload.toString()]).toEqual([Op.Pong, `ping ${i}`]);
      }
    });
  });

  it('a peer that pings without reading: pongs are coalesced, the server buffers no pong per ping, and the latest ping is answered', async () => {
    await underAttack({ maxBackpressure: 0 }, async (started) => {
      const { raw, ws } = await attacker(started);
      const filled = await fillUntilBackedUp(ws, raw);
      const before = ws.bufferedAmount;
      const PINGS = 50_000; // 6.5 MB of pings: one pong each would be 6.3 MB more
      const payload = (i: number) => `${String(i).padStart(8, '0')}${'p'.repeat(117)}`;
      const batch: Buffer[] = [];
      for (let i = 0; i < PINGS; i++) {
        batch.push(frame(Op.Ping, payload(i)));
        if (batch.length === 5000) raw.write(Buffer.concat(batch.splice(0)));
      }
      let pings = 0;
      ws.on('ping', () => pings++);
      await until(() => pings === PINGS, 'every ping to reach the server', 10_000 * MS);
      // At most the high-water mark's worth of pongs went out before the socket was full.
      expect(ws.bufferedAmount - before).toBeLessThan(ws.socket!.writableHighWaterMark + 64 * KiB);
      raw.socket.resume();
      const pongs: string[] = [];
      for (let i = 0; i < filled + 10_000 && pongs.at(-1) !== payload(PINGS - 1); i++) {
        const received = await raw.readFrame(10_000 * MS);
        if (received.opcode === Op.Pong) pongs.push(received.payload.toString());
      }
      expect(pongs.at(-1)).toBe(payload(PINGS - 1));
      expect(pongs.length).toBeLessThan(1000);
    });
  });

  it('a flood of unsolicited pongs is read and dropped: nothing is queued for them', async () => {
    await underAttack({}, async (started) => {
      const { raw, ws } = await attacker(started);
      let pongs = 0;
      ws.on('pong', () => pongs++);
      raw.write(Buffer.concat(Array.from({ length: 20_000 }, () => frame(Op.Pong, 'unsolicited'))));
      await until(() => pongs === 20_000, 'every pong read');
      expect(ws.bufferedAmount).toBe(0);
    });
  });
});

describe('a reader that never reads (maxBackpressure)', () => {
  it("'drop': a subscriber that stops reading holds at most its budget plus one message; the others get everything", async () => {
    await underAttack({ maxBackpressure: 256 * KiB }, async (started) => {
      const { raw, ws } = await attacker(started);
      raw.socket.pause();
      ws.subscribe('feed');
      const message = Buffer.alloc(16 * KiB, 0x62);
      let dropped = 0;
      let maxBuffered = 0;
      for (let tick = 0; tick < 2000 && dropped < 500; tick++) {
        for (let i = 0; i < 8; i++) dropped += started.wss.publish('feed', message).dropped;
        maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(dropped).toBeGreaterThanOrEqual(500);
      expect(ws.droppedMessages).toBe(dropped);
      expect(maxBuffered).toBeLessThanOrEqual(256 * KiB + message.length + 4);
      expect(ws.readyState).toBe(ws.OPEN);
    });
  });

  it("'close': the connection is closed with 1013 behind what is buffered; a peer that never reads again is cut off after closeTimeout", async () => {
    await underAttack({ maxBackpressure: 64 * KiB, backpressurePolicy: 'close', closeTimeout: 300 * MS }, async (started) => {
      const { raw, ws } = await attacker(started);
      const closed = nextEvent<[number]>(ws, 'close');
      raw.socket.pause();
      const message = Buffer.alloc(32 * KiB);
      let status: number = SendStatus.SENT;
      for (let tick = 0; tick < 2000 && status !== SendStatus.DROPPED; tick++) {
        status = ws.send(message);
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(status).toBe(SendStatus.DROPPED);
      expect(ws.readyState).toBe(ws.CLOSING);
      const [code] = await closed;
      expect(code).toBe(1006); // the peer never read our close frame, nor answered it
    });
  });

  it("'close': a peer that reads again finds the 1013 close frame after the data", async () => {
    await underAttack({ maxBackpressure: 64 * KiB, backpressurePolicy: 'close' }, async (started) => {
      const { raw, ws } = await attacker(started);
      raw.socket.pause();
      const message = Buffer.alloc(32 * KiB);
      for (let tick = 0; tick < 2000 && ws.send(message) !== SendStatus.DROPPED; tick++) await new Promise((resolve) => setImmediate(resolve));
      raw.socket.resume();
      const reason = await expectServerCloses(raw, 1013, { endsTcp: false });
      expect(reason.toString()).toBe('send buffer full');
    });
  });
});
