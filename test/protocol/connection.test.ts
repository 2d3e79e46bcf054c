import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Connection,
  ConnectionSettings,
  ErrorCode,
  InvalidStateError,
  Opcode,
  ReadyState,
  type ConnectionEvent,
  type ConnectionHandler,
  type WebSocketError,
} from '../../src/protocol/index.js';
import {
  CLOSE_CODE_TABLE,
  Rsv,
  arbSteps,
  client,
  clientFrame,
  closeCodeOf,
  closePayload,
  countingMask,
  cutAt,
  decodeFrames,
  eventsOf,
  expectClosing,
  expectEvents,
  expectFrameSent,
  expectNothingSent,
  expectSame,
  feed,
  filler,
  fixedMask,
  framesSent,
  hex,
  serializeAsClient,
  server,
  serverFrame,
  summarize,
  toHex,
} from './helpers.js';

describe('RFC 6455 §5.1 / §5.3 frames sent by each role', () => {
  it('a client masks its frames with the injected key: "Hello" is 81 85 37 fa 21 3d 7f 9f 4d 51 58', () => {
    const conn = client();
    conn.sendText('Hello');
    expectFrameSent(conn, hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'));
  });

  it('a client cannot send encoded frames (they go out as they are, unmasked), as it cannot send prepared ones', () => {
    const conn = client();
    expect(() => conn.sendEncoded(hex('81 02 68 69'))).toThrow(/only a server/);
    expectNothingSent(conn);
  });

  it('a server does not mask: "Hello" is 81 05 48 65 6c 6c 6f', () => {
    const conn = server();
    conn.sendText('Hello');
    expectFrameSent(conn, hex('81 05 48 65 6c 6c 6f'));
  });

  it('a client takes a fresh key from generateMask for every frame', () => {
    const keys: string[] = [];
    const generate = countingMask();
    const conn = client({
      generateMask: () => {
        const key = generate();
        keys.push(toHex(key));
        return key;
      },
    });
    conn.sendText('a');
    conn.sendBinary(Buffer.from('b'));
    conn.sendPing('c');
    const frames = framesSent(conn);
    expect(frames.map((f) => toHex(f.mask!))).toEqual(keys);
    expect(new Set(keys).size).toBe(3);
    expect(frames.map((f) => f.payload.toString())).toEqual(['a', 'b', 'c']);
  });

  it('sends binary, text from bytes, and 64 KiB messages in the right frame form', () => {
    const conn = server();
    const big = filler(65536, 1);
    conn.sendBinary(Buffer.from('bin'));
    conn.sendText(Buffer.from('txt'));
    conn.sendBinary(big);
    expectFrameSent(conn, Buffer.concat([serverFrame(Opcode.Binary, 'bin'), serverFrame(Opcode.Text, 'txt'), serverFrame(Opcode.Binary, big)]));
  });

  it('sends a fragmented message as a first frame and continuations, with control frames in between', () => {
    const conn = client();
    conn.sendText('Hel', false);
    conn.sendPing('p');
    conn.sendText('l', false);
    conn.sendText('o', true);
    expectFrameSent(
      conn,
      Buffer.concat([
        clientFrame(Opcode.Text, 'Hel', { fin: false }),
        clientFrame(Opcode.Ping, 'p'),
        clientFrame(Opcode.Continuation, 'l', { fin: false }),
        clientFrame(Opcode.Continuation, 'o'),
      ]),
    );
  });

  it('refuses to interleave a message of the other type into a fragmented message', () => {
    const conn = server();
    conn.sendBinary(Buffer.from('a'), false);
    expect(() => conn.sendText('b')).toThrow(InvalidStateError);
    expect(() => conn.sendEncoded(serverFrame(Opcode.Text, 'x'))).toThrow(InvalidStateError);
    conn.sendBinary(Buffer.from('c'));
    expectFrameSent(conn, Buffer.concat([serverFrame(Opcode.Binary, 'a', { fin: false }), serverFrame(Opcode.Continuation, 'c')]));
  });

  it('sendData sets RSV1 on the first frame of a compressed message only (RFC 7692 §6.1)', () => {
    const conn = server();
    conn.sendData(true, Buffer.from('ab'), false, true);
    conn.sendData(true, Buffer.from('cd'), true, true);
    conn.sendData(false, 'ef', true, false);
    expectFrameSent(
      conn,
      Buffer.concat([
        serverFrame(Opcode.Binary, 'ab', { fin: false, rsv: Rsv.RSV1 }),
        serverFrame(Opcode.Continuation, 'cd'),
        serverFrame(Opcode.Text, 'ef'),
      ]),
    );
  });

  it('sendEncoded writes prepared bytes as they are', () => {
    const conn = server();
    const prepared = serverFrame(Opcode.Text, 'broadcast');
    conn.sendEncoded(prepared);
    expectFrameSent(conn, prepared);
  });
});

describe('RFC 6455 §5.5.2 / §5.5.3 ping and pong', () => {
  it('a ping is answered by a pong with the same payload, and reported', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Ping, 'Hello'));
    expectEvents(conn, [['ping', Buffer.from('Hello')]]);
    expectFrameSent(conn, hex('8a 05 48 65 6c 6c 6f'));
  });

  it('a client answers a ping with a masked pong', () => {
    const conn = client();
    feed(conn, serverFrame(Opcode.Ping, 'Hello'));
    expectFrameSent(conn, hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'));
  });

  it('with autoPong: false a ping is reported but not answered', () => {
    const conn = server({ autoPong: false });
    feed(conn, clientFrame(Opcode.Ping, 'Hello'));
    expectEvents(conn, [['ping', Buffer.from('Hello')]]);
    expectNothingSent(conn);
  });

  it('an unsolicited pong is reported and not answered', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Pong, 'beat'));
    expectEvents(conn, [['pong', Buffer.from('beat')]]);
    expectNothingSent(conn);
  });

  it.each([
    ['125 bytes', filler(125, 1), true],
    ['126 bytes', filler(126, 1), false],
    ['a 125-byte string', 'p'.repeat(125), true],
    ['a string of 63 two-byte characters (126 bytes)', 'é'.repeat(63), false],
  ])('sendPing and sendPong with %s: allowed %s (else RangeError)', (_label, payload, allowed) => {
    const conn = server();
    if (allowed) {
      conn.sendPing(payload);
      conn.sendPong(payload);
      const frames = framesSent(conn);
      expect(frames.map((f) => [f.opcode, f.payload.length])).toEqual([
        [Opcode.Ping, 125],
        [Opcode.Pong, 125],
      ]);
    } else {
      expect(() => conn.sendPing(payload)).toThrow(RangeError);
      expect(() => conn.sendPong(payload)).toThrow(RangeError);
      expectNothingSent(conn);
    }
  });

  describe('pongs while the transport is backed up (handler.deferPong)', () => {
    /** A server connection whose handler says the transport is full while `full.value`. */
    function backedUp(role: 'server' | 'client' = 'server') {
      const writes: Buffer[] = [];
      const full = { value: true };
      const handler: ConnectionHandler = {
        onMessage: () => {},
        onPing: () => {},
        onPong: () => {},
        onClosing: () => {},
        onError: () => {},
        write: (data) => writes.push(Buffer.from(data)),
        end: () => {},
        deferPong: () => full.value,
      };
      const conn = new Connection({ role, generateMask: fixedMask }, handler);
      return { conn, writes, full, pongs: () => decodeFrames(Buffer.concat(writes)).map((f) => [f.opcode, f.payload.toString()]) };
    }

    it('pings while backed up are coalesced: only the most recent one is answered, once drained', () => {
      const { conn, full, pongs } = backedUp();
      for (let i = 0; i < 1000; i++) conn.receive(clientFrame(Opcode.Ping, `p${i}`));
      expect(pongs()).toEqual([]);
      expect(conn.hasDeferredPong).toBe(true);
      full.value = false;
      conn.writeDeferredPong();
      conn.writeDeferredPong(); // nothing more waits
      expect(pongs()).toEqual([[Opcode.Pong, 'p999']]);
    });

    it('a ping that arrives once the transport takes data again is answered at once, and answers the held one too', () => {
      const { conn, full, pongs } = backedUp();
      conn.receive(clientFrame(Opcode.Ping, 'old'));
      full.value = false;
      conn.receive(clientFrame(Opcode.Ping, 'new'));
      conn.writeDeferredPong();
      expect(pongs()).toEqual([[Opcode.Pong, 'new']]);
    });

    it('the held payload is a copy: the received chunk may be reused', () => {
      const { conn, full, pongs } = backedUp();
      const chunk = clientFrame(Opcode.Ping, 'keep');
      conn.receive(chunk);
      chunk.fill(0);
      full.value = false;
      conn.writeDeferredPong();
      expect(pongs()).toEqual([[Opcode.Pong, 'keep']]);
    });

    it('a held pong is still written after this end sent its close frame, as an immediate one is (RFC 6455 §5.5.2)', () => {
      for (const [before, after] of [['before', null], [null, 'after'], ['before', 'after']] as const) {
        const { conn, full, pongs } = backedUp();
        if (before !== null) conn.receive(clientFrame(Opcode.Ping, before));
        conn.close(1000);
        if (after !== null) conn.receive(clientFrame(Opcode.Ping, after));
        full.value = false;
        conn.writeDeferredPong();
        // The most recent ping is answered (RFC 6455 §5.5.3), whether it came before or after close().
        expect(pongs()).toEqual([
          [Opcode.Close, hex('03 e8').toString()],
          [Opcode.Pong, after ?? before],
        ]);
      }
    });

    it("no held pong is written once the peer's close frame arrived, this end failed, or the transport closed", () => {
      const received = backedUp();
      received.conn.receive(clientFrame(Opcode.Ping, 'p'));
      received.conn.receive(clientFrame(Opcode.Close, hex('03 e8')));
      received.full.value = false;
      received.conn.writeDeferredPong();
      expect(received.pongs().map(([opcode]) => opcode)).toEqual([Opcode.Close]);
      const failed = backedUp();
      failed.conn.receive(clientFrame(Opcode.Ping, 'p'));
      failed.conn.fail(1008, 'policy');
      failed.full.value = false;
      failed.conn.writeDeferredPong();
      expect(failed.pongs().map(([opcode]) => opcode)).toEqual([Opcode.Close]);
      const closed = backedUp();
      closed.conn.receive(clientFrame(Opcode.Ping, 'p'));
      closed.conn.transportClosed();
      closed.full.value = false;
      closed.conn.writeDeferredPong();
      expect(closed.pongs()).toEqual([]);
    });

    it("a client's held pong is not written once the server's close frame arrived, though the client leaves ending TCP to the server", () => {
      // A server ends the transport on the close handshake, which would hide the check;
      // a client keeps the transport open, waiting for the server to close it (§7.1.1).
      const { conn, full, pongs } = backedUp('client');
      conn.receive(serverFrame(Opcode.Ping, 'p'));
      conn.receive(serverFrame(Opcode.Close, hex('03 e8')));
      expect(conn.hasDeferredPong).toBe(true);
      full.value = false;
      conn.writeDeferredPong();
      // The echoed close frame is the last frame the client sends (RFC 6455 §5.5.1).
      expect(pongs()).toEqual([[Opcode.Close, hex('03 e8').toString()]]);
    });
  });

  it('sendPing and sendPong default to an empty payload', () => {
    const conn = server();
    conn.sendPing();
    conn.sendPong();
    expectFrameSent(conn, hex('89 00 8a 00'));
  });
});

describe('RFC 6455 §5.5.1 / §7.4 close frames received', () => {
  it('an empty close payload is reported as 1005 and an empty close frame is echoed', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Close));
    expectEvents(conn, [['closing', 1005, ''], ['end']]);
    expectFrameSent(conn, hex('88 00'));
    expect(conn.transportClosed()).toEqual({ code: 1005, reason: '', wasClean: true });
  });

  it('a 1-byte close payload → 1002', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Close, hex('03')));
    const { error } = expectClosing(conn, 1002);
    expect(error.code).toBe(ErrorCode.InvalidClosePayload);
  });

  it.each(CLOSE_CODE_TABLE)('a close frame with code %i is echoed as received: %s (else 1002)', (code, allowed) => {
    const conn = server();
    const payload = closePayload(code, 'bye');
    feed(conn, clientFrame(Opcode.Close, payload));
    if (allowed) {
      expectEvents(conn, [['closing', code, 'bye'], ['end']]);
      expectFrameSent(conn, serverFrame(Opcode.Close, payload));
    } else {
      const { error, events } = expectClosing(conn, 1002);
      expect(error.code).toBe(ErrorCode.InvalidCloseCode);
      expect(events).toEqual([]);
    }
  });

  it('a close reason that is not valid UTF-8 → 1007', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Close, closePayload(1000, hex('ce ba ed a0 80'))));
    expectClosing(conn, 1007);
  });

  it('a close reason of 123 bytes is echoed byte for byte', () => {
    const conn = server();
    const payload = closePayload(4000, '€'.repeat(41));
    feed(conn, clientFrame(Opcode.Close, payload));
    expectEvents(conn, [['closing', 4000, '€'.repeat(41)], ['end']]);
    expectFrameSent(conn, serverFrame(Opcode.Close, payload));
  });
});

describe('close() arguments (RFC 6455 §7.4: 1005, 1006 and 1015 are never sent)', () => {
  it('close() with no code sends an empty close frame; with a code and reason sends them', () => {
    const a = server();
    a.close();
    expectFrameSent(a, hex('88 00'));
    const b = server();
    b.close(1000, 'bye');
    expectFrameSent(b, hex('88 05 03 e8 62 79 65'));
    const c = client();
    c.close(1001);
    expectFrameSent(c, clientFrame(Opcode.Close, closePayload(1001)));
  });

  it.each(CLOSE_CODE_TABLE.filter(([, allowed]) => !allowed))('close(%i) throws RangeError and sends nothing', (code) => {
    const conn = server();
    expect(() => conn.close(code)).toThrow(RangeError);
    expectNothingSent(conn);
    expect(conn.readyState).toBe(ReadyState.OPEN);
  });

  it('a reason of 123 bytes is sent; 124 bytes throws RangeError', () => {
    const conn = server();
    expect(() => conn.close(1000, 'x'.repeat(124))).toThrow(RangeError);
    expect(() => conn.close(1000, 'é'.repeat(62))).toThrow(RangeError);
    expectNothingSent(conn);
    conn.close(1000, 'é'.repeat(61) + 'x');
    expect(framesSent(conn)[0]!.payload.length).toBe(125);
  });

  it('a reason without a code is sent with 1000 (WHATWG close())', () => {
    const conn = server();
    conn.close(undefined, 'why');
    expect(framesSent(conn)[0]!.payload).toEqual(Buffer.from([0x03, 0xe8, ...Buffer.from('why')]));
  });

  it('arguments are validated even when a close frame was already sent', () => {
    const conn = server();
    conn.close(1000);
    conn.takeOutput();
    expect(() => conn.close(1006)).toThrow(RangeError);
    conn.close(1001);
    expectNothingSent(conn);
  });
});

describe('RFC 6455 §7 closing handshake and states', () => {
  it('starts OPEN and does not expect a close', () => {
    const conn = server();
    expect(conn.readyState).toBe(ReadyState.OPEN);
    expect(conn.closeExpected()).toBe(false);
    expect(conn.closeSent).toBe(false);
    expect(conn.closeReceived).toBe(null);
    expect(conn.closeInfo).toBe(null);
  });

  it('close initiated locally: OPEN → CLOSING, then the peer\'s close makes a server end the transport', () => {
    const conn = server();
    conn.close(1000, 'done');
    expect(conn.readyState).toBe(ReadyState.CLOSING);
    expect(conn.closeExpected()).toBe(true);
    expect(conn.closeSent).toBe(true);
    expect(conn.transportEnded).toBe(false);
    expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(1000, 'done')));
    feed(conn, clientFrame(Opcode.Close, closePayload(1000, 'done')));
    expectEvents(conn, [['closing', 1000, 'done'], ['end']]);
    expect(conn.transportEnded).toBe(true);
    expectNothingSent(conn); // no second close frame
    expect(conn.transportClosed()).toEqual({ code: 1000, reason: 'done', wasClean: true });
    expect(conn.readyState).toBe(ReadyState.CLOSED);
    expect(conn.closeExpected()).toBe(false);
  });

  it('close initiated locally by a client: the peer\'s close does not end the transport, the client waits for the server to', () => {
    const conn = client();
    conn.close(1000);
    conn.takeOutput();
    feed(conn, serverFrame(Opcode.Close, closePayload(1000)));
    expectEvents(conn, [['closing', 1000, '']]);
    expect(conn.transportEnded).toBe(false);
    expect(conn.readyState).toBe(ReadyState.CLOSING);
    expect(conn.closeExpected()).toBe(true);
    expect(conn.closeReceived).toEqual({ code: 1000, reason: '' });
    expect(conn.transportClosed()).toEqual({ code: 1000, reason: '', wasClean: true });
  });

  it('close initiated by the peer: a server echoes it and ends the transport', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Close, closePayload(1001, 'away')));
    expectEvents(conn, [['closing', 1001, 'away'], ['end']]);
    expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(1001, 'away')));
    expect(conn.readyState).toBe(ReadyState.CLOSING);
    expect(conn.transportClosed()).toEqual({ code: 1001, reason: 'away', wasClean: true });
  });

  it('close initiated by the peer: a client echoes it (masked) and waits for the server to end the transport', () => {
    const conn = client();
    feed(conn, serverFrame(Opcode.Close, closePayload(1001, 'away')));
    expectEvents(conn, [['closing', 1001, 'away']]);
    expectFrameSent(conn, clientFrame(Opcode.Close, closePayload(1001, 'away')));
    expect(conn.transportEnded).toBe(false);
    expect(conn.closeExpected()).toBe(true);
  });

  it('messages received after we sent close are still delivered', () => {
    const conn = server();
    conn.close(1000);
    conn.takeOutput();
    feed(conn, [clientFrame(Opcode.Text, 'still'), clientFrame(Opcode.Binary, 'here'), clientFrame(Opcode.Close, closePayload(1000))]);
    expectEvents(conn, [['text', 'still'], ['binary', Buffer.from('here')], ['closing', 1000, ''], ['end']]);
  });

  it('a ping received after we sent close is still answered (the peer has not closed yet)', () => {
    const conn = server();
    conn.close(1000);
    conn.takeOutput();
    feed(conn, clientFrame(Opcode.Ping, 'p'));
    expectFrameSent(conn, serverFrame(Opcode.Pong, 'p'));
  });

  it('input after the peer\'s close frame is discarded: a ping after close is not answered (Autobahn 7.1.3)', () => {
    const conn = server();
    feed(conn, Buffer.concat([clientFrame(Opcode.Close, closePayload(1000)), clientFrame(Opcode.Ping, 'late')]));
    expectEvents(conn, [['closing', 1000, ''], ['end']]);
    expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(1000)));
    feed(conn, clientFrame(Opcode.Ping, 'later'));
    expectEvents(conn, []);
    expectNothingSent(conn);
  });

  it('a second close frame is ignored (Autobahn 7.1.2)', () => {
    const conn = server();
    feed(conn, [clientFrame(Opcode.Close, closePayload(1000)), clientFrame(Opcode.Close, closePayload(1001))]);
    expectEvents(conn, [['closing', 1000, ''], ['end']]);
    expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(1000)));
  });

  it('transportClosed() without a close frame gives 1006 and wasClean false', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Text, 'hi'));
    expect(conn.transportClosed()).toEqual({ code: 1006, reason: '', wasClean: false });
    expect(conn.readyState).toBe(ReadyState.CLOSED);
    expect(conn.closeInfo).toEqual({ code: 1006, reason: '', wasClean: false });
  });

  it('transportClosed() after we sent close but before the peer answered gives 1006', () => {
    const conn = client();
    conn.close(1000);
    expect(conn.transportClosed()).toEqual({ code: 1006, reason: '', wasClean: false });
  });

  it('transportClosed() is idempotent, and a closed connection ignores input', () => {
    const conn = server();
    const first = conn.transportClosed();
    feed(conn, clientFrame(Opcode.Close, closePayload(1000)));
    expect(conn.transportClosed()).toBe(first);
    expectEvents(conn, []);
    expectNothingSent(conn);
  });

  it.each([
    ['sendText', (conn: Connection) => conn.sendText('x')],
    ['sendBinary', (conn: Connection) => conn.sendBinary(Buffer.from('x'))],
    ['sendData', (conn: Connection) => conn.sendData(true, 'x', true, false)],
    ['sendEncoded', (conn: Connection) => conn.sendEncoded(serverFrame(Opcode.Text, 'x'))],
    ['sendPing', (conn: Connection) => conn.sendPing('x')],
    ['sendPong', (conn: Connection) => conn.sendPong('x')],
  ])('%s after close() throws InvalidStateError, also once CLOSED', (_name, send) => {
    const conn = server();
    conn.close();
    expect(() => send(conn)).toThrow(InvalidStateError);
    conn.transportClosed();
    expect(() => send(conn)).toThrow(InvalidStateError);
    conn.takeOutput();
    expect(() => send(conn)).toThrow(/CLOSED/);
  });

  it('close() after CLOSED sends nothing', () => {
    const conn = server();
    conn.transportClosed();
    conn.close(1000);
    expectNothingSent(conn);
  });

  it('close() while a fragmented message is being sent closes; sending the rest then throws', () => {
    const conn = server();
    conn.sendText('part', false);
    conn.close(1000);
    expect(() => conn.sendText('rest')).toThrow(InvalidStateError);
    expect(framesSent(conn).map((f) => f.opcode)).toEqual([Opcode.Text, Opcode.Close]);
  });
});

describe('RFC 6455 §7.1.7 failing the connection', () => {
  it('a server fails on a protocol error: close frame with the code, transport ended at once, 1006 when the transport closes', () => {
    const conn = server();
    feed(conn, clientFrame(3, 'x'));
    const events = summarize(conn.takeEvents());
    expect(events).toHaveLength(2);
    expect(events).toEqual(expect.arrayContaining([['end'], ['error', 1002, ErrorCode.InvalidOpcode]]));
    expect(conn.transportEnded).toBe(true);
    const [closeFrame] = framesSent(conn);
    expect(closeCodeOf(closeFrame!.payload)).toBe(1002);
    expect(conn.closeExpected()).toBe(true);
    expect(conn.transportClosed()).toEqual({ code: 1006, reason: '', wasClean: false });
  });

  it('a client fails on a protocol error: close frame sent, waits for the server to end the transport', () => {
    const conn = client();
    feed(conn, serverFrame(3, 'x'));
    expectEvents(conn, [['error', 1002, ErrorCode.InvalidOpcode]]);
    expect(conn.transportEnded).toBe(false);
    expect(framesSent(conn).map((f) => [f.opcode, closeCodeOf(f.payload), f.mask !== null])).toEqual([[Opcode.Close, 1002, true]]);
    expect(conn.closeExpected()).toBe(true);
  });

  it('a failure after we sent close sends no second close frame', () => {
    const conn = server();
    conn.close(1000);
    conn.takeOutput();
    feed(conn, clientFrame(3, 'x'));
    const events = eventsOf(conn);
    expect(events).toHaveLength(2);
    expect(events).toEqual(expect.arrayContaining([['end'], ['error', 1002, ErrorCode.InvalidOpcode]]));
    expectNothingSent(conn);
  });

  it('the close reason of a failure is the error message', () => {
    const conn = server({ maxPayload: 10 });
    feed(conn, clientFrame(Opcode.Binary, filler(11, 1)));
    const frames = framesSent(conn);
    const reason = frames[0]!.payload.subarray(2);
    expect(reason.toString()).toBe('payload of 11 bytes exceeds maxPayload 10');
  });

  it('fail(code, reason) closes from this side, truncating the reason to 123 bytes without splitting a character', () => {
    const conn = server();
    conn.fail(1008, 'é'.repeat(100));
    const [closeFrame] = framesSent(conn);
    expect(closeCodeOf(closeFrame!.payload)).toBe(1008);
    const reason = closeFrame!.payload.subarray(2);
    expect(reason.length).toBe(122);
    expect(isUtf8(reason)).toBe(true);
    expect(conn.transportEnded).toBe(true);
    feed(conn, clientFrame(Opcode.Text, 'ignored'));
    expectEvents(conn, [['end']]);
  });

  it.each([1005, 1006, 1015, 999, 5000])(
    'fail(%i) throws RangeError and leaves the connection open and parsing (regression: it stopped the parser first)',
    (code) => {
      const conn = server();
      expect(() => conn.fail(code)).toThrow(RangeError);
      expect(conn.readyState).toBe(ReadyState.OPEN);
      expectNothingSent(conn);
      feed(conn, clientFrame(Opcode.Text, 'still parsing'));
      expectEvents(conn, [['text', 'still parsing']]);
      conn.close(1000);
      feed(conn, clientFrame(Opcode.Close, closePayload(1000)));
      expect(conn.transportClosed()).toEqual({ code: 1000, reason: '', wasClean: true });
    },
  );

  it('fail() keeps a reason of exactly 123 bytes and cuts a 4-byte character that would cross the limit', () => {
    const a = server();
    a.fail(1011, 'x'.repeat(123));
    expect(framesSent(a)[0]!.payload.length).toBe(125);
    const b = server();
    b.fail(1011, 'x'.repeat(121) + '😀');
    expect(framesSent(b)[0]!.payload.subarray(2).toString()).toBe('x'.repeat(121));
  });

  it('fail() once both close frames were exchanged changes nothing: the close stays clean', () => {
    const conn = server();
    feed(conn, clientFrame(Opcode.Close, closePayload(1000, 'bye')));
    expectEvents(conn, [['closing', 1000, 'bye'], ['end']]);
    expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(1000, 'bye')));
    conn.fail(1008, 'too late');
    expectEvents(conn, []);
    expectNothingSent(conn);
    expect(conn.transportClosed()).toEqual({ code: 1000, reason: 'bye', wasClean: true });
  });
});

describe('handlers', () => {
  it('a connection with a handler calls it synchronously and has no queue', () => {
    const calls: string[] = [];
    const handler: ConnectionHandler = {
      onMessage: (data, isBinary) => calls.push(`message:${data.toString()}:${isBinary}`),
      onPing: (data) => calls.push(`ping:${data.toString()}`),
      onPong: (data) => calls.push(`pong:${data.toString()}`),
      onClosing: (code, reason) => calls.push(`closing:${code}:${reason}`),
      onError: (error) => calls.push(`error:${error.closeCode}`),
      write: (data) => calls.push(`write:${toHex(data)}`),
      end: () => calls.push('end'),
    };
    const conn = new Connection({ role: 'server' }, handler);
    conn.receive(clientFrame(Opcode.Text, 'hi'));
    conn.receive(clientFrame(Opcode.Ping, 'p'));
    conn.receive(clientFrame(Opcode.Close, closePayload(1000)));
    expect(calls).toEqual(['message:hi:false', 'write:8a 01 70', 'ping:p', 'closing:1000:', 'write:88 02 03 e8', 'end']);
    expect(() => conn.takeEvents()).toThrow(InvalidStateError);
    expect(() => conn.takeOutput()).toThrow(InvalidStateError);
  });

  it('passes maxPayload and fragmentOverhead to the parser', () => {
    const conn = server({ maxPayload: 20, fragmentOverhead: 0 });
    feed(conn, [clientFrame(Opcode.Binary, filler(10, 1), { fin: false }), clientFrame(Opcode.Continuation, filler(10, 2))]);
    expect(eventsOf(conn).map((e) => e[0])).toEqual(['binary']);
    feed(conn, clientFrame(Opcode.Binary, filler(21, 1)).subarray(0, 2));
    expectClosing(conn, 1009);
  });
});

describe('settings shared by several connections (ConnectionSettings)', () => {
  it('connections built from one settings object keep their own state and apply its limits', () => {
    const settings = new ConnectionSettings({ role: 'server', maxPayload: 8, autoPong: false });
    const a = new Connection(settings);
    const b = new Connection(settings);
    feed(a, clientFrame(Opcode.Text, 'hi'));
    feed(b, clientFrame(Opcode.Ping, 'p'));
    expect(eventsOf(a)).toEqual([['text', 'hi']]);
    expect(eventsOf(b)).toEqual([['ping', Buffer.from('p')]]);
    expectNothingSent(b); // autoPong: false
    feed(a, clientFrame(Opcode.Binary, filler(9, 1)));
    expectClosing(a, 1009);
    expect(b.readyState).toBe(ReadyState.OPEN);
    expect(Object.isFrozen(settings)).toBe(true);
  });

  it('takes compression from the third argument with settings (RSV1 accepted only then)', () => {
    const settings = new ConnectionSettings({ role: 'server' });
    const plain = new Connection(settings);
    feed(plain, clientFrame(Opcode.Text, 'x', { rsv: Rsv.RSV1 }));
    expectClosing(plain, 1002);
  });
});

describe('options checked where the connection or settings are made', () => {
  it.each<[string, Record<string, unknown>, typeof TypeError | typeof RangeError]>([
    ['a role that is neither server nor client', { role: 'Server' }, TypeError],
    ['no role', {}, TypeError],
    ['a negative maxPayload', { role: 'server', maxPayload: -1 }, RangeError],
    ['a maxPayload that is not a number', { role: 'server', maxPayload: Number.NaN }, RangeError],
    ['a negative fragmentOverhead', { role: 'client', fragmentOverhead: -1 }, RangeError],
    ['a maxPayload given as a string', { role: 'server', maxPayload: '1000' }, TypeError],
    ['a fragmentOverhead given as a string', { role: 'server', fragmentOverhead: '64' }, TypeError],
  ])('refuses %s', (_label, options, type) => {
    expect(() => new ConnectionSettings(options as never)).toThrow(type);
    expect(() => new Connection(options as never)).toThrow(type);
  });
});

describe('input as Uint8Array (bytes from a Web stream or a MessagePort)', () => {
  it('parses every split of a masked frame given as plain Uint8Array chunks, as it does Buffers', () => {
    const frame = clientFrame(Opcode.Binary, filler(300, 7));
    for (let split = 1; split < 12; split++) {
      const conn = server();
      conn.receive(new Uint8Array(frame.subarray(0, split)));
      conn.receive(new Uint8Array(frame.subarray(split)));
      expect(eventsOf(conn), `split at ${split}`).toEqual([['binary', filler(300, 7)]]);
    }
  });
});

describe('a connection that ends before its first bytes (the parser is made on first input)', () => {
  it('reads nothing after failing', () => {
    const conn = server();
    conn.fail(1008, 'policy');
    expect(conn.readyState).toBe(ReadyState.CLOSING);
    conn.receive(clientFrame(Opcode.Text, 'late'));
    expect(eventsOf(conn).filter((e) => e[0] !== 'end')).toEqual([]);
    expect(framesSent(conn).map((f) => closeCodeOf(f.payload))).toEqual([1008]);
  });

  it('reads nothing after the transport closed, and reports 1006', () => {
    const conn = server();
    expect(conn.transportClosed()).toEqual({ code: 1006, reason: '', wasClean: false });
    conn.receive(clientFrame(Opcode.Text, 'late'));
    expect(eventsOf(conn)).toEqual([]);
  });

  it('a parser asked for after failing is stopped too', () => {
    const conn = server();
    conn.fail(1011);
    conn.parser.receive(clientFrame(Opcode.Text, 'late'));
    expect(eventsOf(conn).filter((e) => e[0] !== 'end')).toEqual([]);
  });
});

describe('arbitrary input never throws and ends in documented outcomes (property)', () => {
  const DOCUMENTED = [1002, 1007, 1009];

  /** Feeds `pieces` to a fresh server and checks every invariant; returns the event summary. */
  function checkRun(pieces: Buffer[], maxPayload: number): ReturnType<typeof summarize> {
    const conn = server({ maxPayload });
    for (const piece of pieces) expect(() => conn.receive(piece)).not.toThrow();
    const events: ConnectionEvent[] = conn.takeEvents();
    const summary = summarize(events);
    const output = decodeFrames(conn.takeOutput());
    const endIndex = events.findIndex((e) => e.type === 'error' || e.type === 'closing');
    // Nothing is delivered after an error or the peer's close; 'end' may accompany them.
    if (endIndex >= 0) {
      expect(events.slice(endIndex + 1).every((e) => e.type === 'end' || e.type === 'error')).toBe(true);
      expect(events.filter((e) => e.type === 'error' || e.type === 'closing').length).toBe(1);
      expect(conn.transportEnded).toBe(true);
      expect(output.at(-1)?.opcode).toBe(Opcode.Close);
      expect(conn.readyState).toBe(ReadyState.CLOSING);
    } else {
      expect(conn.readyState).toBe(ReadyState.OPEN);
      expect(output.every((f) => f.opcode === Opcode.Pong)).toBe(true);
    }
    for (const event of events) {
      if (event.type === 'error') {
        expect(DOCUMENTED).toContain(event.error.closeCode);
        expect(closeCodeOf(output.at(-1)!.payload)).toBe(event.error.closeCode);
      }
      if (event.type === 'message') {
        expect(event.data.length).toBeLessThanOrEqual(maxPayload);
        if (!event.isBinary) expect(isUtf8(event.data)).toBe(true);
      }
    }
    // Every frame sent is a valid server frame: unmasked, FIN set, no RSV bits.
    expect(output.every((f) => f.mask === null && f.fin && f.rsv === 0)).toBe(true);
    const info = conn.transportClosed();
    expect(info.wasClean).toBe(summary.some((e) => e[0] === 'closing'));
    return summary;
  }

  it('arbitrary bytes, cut anywhere', () => {
    const arbBytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      // Bytes that look like masked frame headers more often than chance.
      fc
        .array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x80, 0x81, 0x85, 0xfd, 0xfe, 0xff), fc.uint8Array({ maxLength: 12 })), {
          maxLength: 10,
        })
        .map((parts) => Buffer.concat(parts.map(([b0, b1, rest]) => Buffer.concat([Uint8Array.of(b0, b1), rest])))),
    );
    fc.assert(
      fc.property(arbBytes, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const whole = checkRun([Buffer.from(bytes)], 1000);
        const cut = checkRun(cutAt(bytes, cuts.map((c) => c % (bytes.length + 1))), 1000);
        expectSame(cut, whole);
      }),
      { numRuns: 600, seed: 0xbad },
    );
  });

  type Mutation =
    | { kind: 'flip'; at: number; bit: number }
    | { kind: 'truncate'; at: number }
    | { kind: 'length'; frame: number; form: 7 | 16 | 64; value: bigint }
    | { kind: 'byte'; at: number; value: number };

  const EXTREME_LENGTHS = [0n, 1n, 125n, 126n, 127n, 65535n, 65536n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];

  const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.oneof(
      fc.record({ kind: fc.constant('length' as const), frame: fc.nat(), form: fc.constant(64 as const), value: fc.constantFrom(...EXTREME_LENGTHS) }),
      fc.record({ kind: fc.constant('length' as const), frame: fc.nat(), form: fc.constant(16 as const), value: fc.constantFrom(0n, 125n, 126n, 65535n) }),
      fc.record({ kind: fc.constant('length' as const), frame: fc.nat(), form: fc.constant(7 as const), value: fc.bigInt({ min: 0n, max: 125n }) }),
    ),
  );

  /** Rewrites the header of one frame to declare another length (the payload is left as it was). */
  function withLength(frameBytes: Buffer, form: 7 | 16 | 64, value: bigint): Buffer {
    // Read the header structurally: an earlier mutation may already have changed the length.
    const length7 = frameBytes[1]! & 0x7f;
    const isMasked = (frameBytes[1]! & 0x80) !== 0;
    const lengthEnd = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0);
    const mask = isMasked ? frameBytes.subarray(lengthEnd, lengthEnd + 4) : Buffer.alloc(0);
    const masked = frameBytes.subarray(lengthEnd + mask.length);
    const head = [frameBytes[0]!];
    const maskBit = isMasked ? 0x80 : 0;
    if (form === 7) head.push(maskBit | Number(value));
    else if (form === 16) head.push(maskBit | 126, Number(value >> 8n) & 0xff, Number(value) & 0xff);
    else {
      head.push(maskBit | 127);
      for (let shift = 56n; shift >= 0n; shift -= 8n) head.push(Number((value >> shift) & 0xffn));
    }
    return Buffer.concat([Buffer.from(head), mask, masked]);
  }

  function mutate(frames: Buffer[], mutations: Mutation[]): Buffer {
    const list: Buffer[] = frames.map((f) => Buffer.from(f));
    for (const m of mutations) {
      if (m.kind === 'length' && list.length > 0) {
        const index = m.frame % list.length;
        list[index] = withLength(list[index]!, m.form, m.value);
      }
    }
    let bytes = Buffer.concat(list);
    for (const m of mutations) {
      if (bytes.length === 0) break;
      if (m.kind === 'flip') bytes[m.at % bytes.length]! ^= 1 << m.bit;
      else if (m.kind === 'byte') bytes[m.at % bytes.length] = m.value;
      else if (m.kind === 'truncate') bytes = bytes.subarray(0, m.at % (bytes.length + 1));
    }
    return Buffer.from(bytes);
  }

  it('mutated valid streams (bit flips, truncations, extreme length fields), cut anywhere', () => {
    fc.assert(
      fc.property(arbSteps, fc.array(arbMutation, { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { maxLength: 8 }), (steps, mutations, cuts) => {
        const { frames } = serializeAsClient(steps);
        const bytes = mutate(frames, mutations);
        const whole = checkRun([Buffer.from(bytes)], 70000);
        const cut = checkRun(cutAt(bytes, cuts.map((c) => c % (bytes.length + 1))), 70000);
        expectSame(cut, whole);
      }),
      { numRuns: 300, seed: 0xf00d },
    );
  });

  it('the invariants catch an undocumented outcome (the property can fail)', () => {
    // A close frame with code 1000 is valid: it must end in 'closing', not in an error.
    const conn = server();
    feed(conn, clientFrame(Opcode.Close, closePayload(1000)));
    expect(eventsOf(conn).map((e) => e[0])).not.toContain('error');
    // A server-role connection fed client frames with the wrong role fails with 1002, a documented code.
    const wrongRole = client();
    feed(wrongRole, clientFrame(Opcode.Text, 'masked'));
    const { error } = expectClosing(wrongRole, 1002);
    expect((error as WebSocketError).code).toBe(ErrorCode.UnexpectedMask);
  });
});
