/**
 * Hostile frames (RFC 6455 §5): each is sent by a raw client after a valid handshake,
 * and the server must fail that connection with the exact close code, before reading
 * anything more, while a witness on the same server goes on exchanging messages.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from '../../src/index.js';
import {
  Op,
  attacker,
  closeAll,
  closeCodeOf,
  closePayload,
  expectServerCloses,
  frame,
  nextEvent,
  parseFrame,
  startRawServer,
  switchingProtocols,
  track,
  underAttack,
  until,
} from './helpers.js';

afterEach(closeAll);

/** A frame header written byte by byte: masked, with an explicit 64-bit length. */
function header64(firstByte: number, length: bigint): Buffer {
  const bytes = Buffer.alloc(14);
  bytes[0] = firstByte;
  bytes[1] = 0x80 | 127;
  bytes.writeBigUInt64BE(length, 2);
  randomBytes(4).copy(bytes, 10);
  return bytes;
}

describe('frame headers', () => {
  it('a length field announcing more than maxPayload → 1009 at once, before any payload is read', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(header64(0x82, 1n << 40n)); // 1 TiB, and not one byte of it
      const reason = await expectServerCloses(raw, 1009);
      expect(reason.toString()).toBe('payload of 1099511627776 bytes exceeds maxPayload 1048576');
    });
  });

  it('a 16-bit length over a small maxPayload → 1009', async () => {
    await underAttack({ maxPayload: 1000 }, async (started) => {
      const { raw } = await attacker(started);
      raw.write(Buffer.from([0x82, 0x80 | 126, 0x03, 0xe9, 1, 2, 3, 4])); // 1001 bytes announced
      await expectServerCloses(raw, 1009);
    });
  });

  it('a 64-bit length with the most significant bit set → 1002 (RFC 6455 §5.2)', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(header64(0x82, (1n << 63n) + 5n));
      await expectServerCloses(raw, 1002);
    });
  });

  it('a length over 2^53 - 1 (but under 2^63) → 1009 even with no maxPayload', async () => {
    await underAttack({ maxPayload: 0 }, async (started) => {
      const { raw } = await attacker(started);
      raw.write(header64(0x82, 1n << 60n));
      await expectServerCloses(raw, 1009);
    });
  });

  it('an unmasked client frame → 1002 (RFC 6455 §5.1)', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(frame(Op.Text, 'hello', { mask: null }));
      await expectServerCloses(raw, 1002);
    });
  });

  it.each([
    ['RSV1 without permessage-deflate', 4],
    ['RSV2', 2],
    ['RSV3', 1],
    ['all three', 7],
  ])('%s → 1002', async (_label, rsv) => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(frame(Op.Text, 'hello', { rsv }));
      await expectServerCloses(raw, 1002);
    });
  });

  it('RSV1 on a control frame, with permessage-deflate negotiated → 1002', async () => {
    await underAttack({ perMessageDeflate: true }, async (started) => {
      const { raw } = await attacker(started, { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
      raw.write(frame(Op.Ping, 'x', { rsv: 4 }));
      await expectServerCloses(raw, 1002);
    });
  });

  it.each([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf])('reserved opcode 0x%s → 1002', async (opcode) => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(frame(opcode, 'x'));
      await expectServerCloses(raw, 1002);
    });
  });
});

describe('control frames', () => {
  it('a ping of 126 bytes → 1002 (RFC 6455 §5.5: at most 125)', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(frame(Op.Ping, Buffer.alloc(126, 0x61)));
      await expectServerCloses(raw, 1002);
    });
  });

  it('a fragmented ping → 1002 (RFC 6455 §5.5: control frames are not fragmented)', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(frame(Op.Ping, 'pi', { fin: false }));
      await expectServerCloses(raw, 1002);
    });
  });

  it('a close frame with a 1-byte payload → 1002', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(frame(Op.Close, Buffer.from([0x03])));
      await expectServerCloses(raw, 1002);
    });
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])('a close frame with code %i → 1002', async (code) => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(frame(Op.Close, closePayload(code, 'bye')));
      await expectServerCloses(raw, 1002);
    });
  });
});

describe('fragmentation', () => {
  it('a continuation frame without a message to continue → 1002', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(frame(Op.Continuation, 'orphan'));
      await expectServerCloses(raw, 1002);
    });
  });

  it('a new data frame while a fragmented message is open → 1002', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(Buffer.concat([frame(Op.Text, 'first', { fin: false }), frame(Op.Text, 'second')]));
      await expectServerCloses(raw, 1002);
    });
  });
});

describe('invalid UTF-8 (RFC 6455 §8.1) → 1007', () => {
  it('in a text message', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(frame(Op.Text, Buffer.from([0x68, 0x69, 0xc0, 0xaf])));
      await expectServerCloses(raw, 1007);
    });
  });

  it('in a close reason', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(frame(Op.Close, Buffer.concat([closePayload(1000), Buffer.from([0xed, 0xa0, 0x80])])));
      await expectServerCloses(raw, 1007);
    });
  });

  it('split across fragments: a sequence started in one fragment and broken in the next, failed at that fragment', async () => {
    await underAttack({}, async (started) => {
      const { raw, ws } = await attacker(started);
      const messages: unknown[] = [];
      ws.on('message', (data) => messages.push(data));
      // A valid 4-byte sequence split over two fragments is fine...
      raw.write(Buffer.concat([frame(Op.Text, Buffer.from([0x61, 0xf0, 0x9f]), { fin: false }), frame(Op.Continuation, Buffer.from([0x98, 0x80]))]));
      const echo = await raw.readFrame();
      expect(echo.payload.toString()).toBe('a😀');
      // ...a broken one fails at the fragment that breaks it, before the message ends.
      raw.write(Buffer.concat([frame(Op.Text, Buffer.from([0x61, 0xf0, 0x9f]), { fin: false }), frame(Op.Continuation, Buffer.from([0x41]), { fin: false })]));
      await expectServerCloses(raw, 1007);
      expect(messages).toHaveLength(1);
    });
  });

  it('a text message that ends inside a sequence', async () => {
    await underAttack({}, async (started) => {
      const { raw } = await attacker(started);
      raw.write(Buffer.concat([frame(Op.Text, Buffer.from([0x61]), { fin: false }), frame(Op.Continuation, Buffer.from([0xe2, 0x82]))]));
      await expectServerCloses(raw, 1007);
    });
  });
});

describe('a hostile server (the client side)', () => {
  it('a masked server frame → the client fails with 1002; a second client of the same server goes on', async () => {
    // A raw server: a client asking for /victim gets a masked frame, others an honest echo.
    const fromVictim: Array<{ opcode: number; payload: Buffer }> = [];
    const { port } = await startRawServer((socket, head, key, rest) => {
      const isVictim = head.startsWith('GET /victim ');
      socket.write(switchingProtocols(key));
      let buffered = rest;
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        for (let parsed = parseFrame(buffered); parsed !== undefined; parsed = parseFrame(buffered)) {
          buffered = buffered.subarray(parsed.size);
          if (isVictim) fromVictim.push({ opcode: parsed.frame.opcode, payload: parsed.frame.payload });
          else if (parsed.frame.opcode === Op.Text) socket.write(frame(Op.Text, parsed.frame.payload, { mask: null }));
        }
      });
      if (isVictim) socket.write(frame(Op.Text, 'masked')); // masked: servers must not mask
    });
    const witness = track(new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false }), (ws) => ws.terminate());
    await nextEvent(witness, 'open');
    const echoes: string[] = [];
    witness.on('message', (data) => echoes.push(String(data)));
    let sent = 0;
    const timer = setInterval(() => witness.send(`w${sent++}`), 5);
    try {
      const victim = track(new WebSocket(`ws://127.0.0.1:${port}/victim`, { perMessageDeflate: false, closeTimeout: 200 }), (ws) => ws.terminate());
      const errors: Error[] = [];
      victim.on('error', (error) => errors.push(error));
      const [code] = await nextEvent<[number]>(victim, 'close');
      expect(code).toBe(1006); // the hostile server never answers the close frame
      expect(fromVictim.map((f) => [f.opcode, closeCodeOf(f.payload)])).toEqual([[Op.Close, 1002]]);
      expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['WS_ERR_UNEXPECTED_MASK']);
    } finally {
      clearInterval(timer);
    }
    await until(() => echoes.length === sent, 'the second client to get its echoes');
    expect(echoes).toEqual(Array.from({ length: sent }, (_, i) => `w${i}`));
    expect(sent).toBeGreaterThan(1);
    expect(witness.readyState).toBe(WebSocket.OPEN);
  });
});
