/**
 * The Autobahn testsuite's cases of categories 1–7 (framing, ping/pong, reserved bits,
 * opcodes, fragmentation, UTF-8, close), reproduced at byte level: what the suite's
 * client sends is fed to a server-role Connection with the case's chopping (whole, one
 * frame at a time, octet-wise), and the case's expectation is asserted on the events and
 * the bytes the server sends. "Echo" is asserted as the delivered message; "fail fast" as
 * the close code appearing before the later chunks are fed.
 *
 * Case ids, descriptions and expectations come from `autobahn/cases.json`; the last test
 * checks that every case of categories 1–7 has a test named after its id.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/protocol/index.js';
import { ErrorCode, Opcode } from '../../src/protocol/index.js';
import {
  Rsv,
  clientFrame,
  closePayload,
  eventsOf,
  expectCleanCloseFromClient,
  expectClosing,
  expectEvents,
  expectFrameSent,
  expectNothingSent,
  expectSame,
  feed,
  hex,
  server,
  serverFrame,
  type EventSummary,
} from './helpers.js';

interface AutobahnCase {
  id: string;
  description: string;
  expectation: string;
}

const CASES: AutobahnCase[] = JSON.parse(readFileSync(new URL('../../autobahn/cases.json', import.meta.url), 'utf8'));
const CATEGORIES = new Set(['1', '2', '3', '4', '5', '6', '7']);
const CORE_CASES = CASES.filter((c) => CATEGORIES.has(c.id.split('.')[0]!));

/** How the suite's client writes its frames to the TCP stream. */
type Chopping = 'whole' | 'per-frame' | 'octet-wise' | number;

/** Feeds frames to the server the way the suite sends them. */
function send(conn: Connection, frames: Buffer[], chopping: Chopping = 'per-frame'): void {
  if (chopping === 'per-frame') feed(conn, frames);
  else if (chopping === 'whole') feed(conn, Buffer.concat(frames));
  else feed(conn, Buffer.concat(frames), chopping === 'octet-wise' ? 1 : chopping);
}

/** The server delivered exactly these events, sent nothing beyond `sent`, and still closes cleanly. */
function expectDelivered(conn: Connection, events: EventSummary[], sent: Buffer[] = []): void {
  expectEvents(conn, events);
  if (sent.length === 0) expectNothingSent(conn);
  else expectFrameSent(conn, Buffer.concat(sent));
  expectCleanCloseFromClient(conn);
}

/** The server failed the connection with `code` after delivering `before` and sending no pong. */
function expectFailed(conn: Connection, code: number, before: EventSummary[] = [], errorCode?: string): void {
  const { events, sent, error } = expectClosing(conn, code);
  expectSame(events, before);
  expect(sent, 'no frame (pong) sent before the close frame').toEqual([]);
  if (errorCode !== undefined) expect(error.code).toBe(errorCode);
  expect(conn.transportEnded).toBe(true);
  expect(conn.transportClosed().wasClean).toBe(false);
}

const text = (payload: string | Buffer): Buffer => clientFrame(Opcode.Text, payload);
const binary = (payload: string | Buffer): Buffer => clientFrame(Opcode.Binary, payload);
const ping = (payload: string | Buffer = ''): Buffer => clientFrame(Opcode.Ping, payload);
const pong = (payload: string | Buffer = ''): Buffer => clientFrame(Opcode.Pong, payload);
const close = (code?: number, reason: string | Buffer = ''): Buffer => clientFrame(Opcode.Close, code === undefined ? '' : closePayload(code, reason));
const first = (opcode: number, payload: string | Buffer): Buffer => clientFrame(opcode, payload, { fin: false });
const more = (payload: string | Buffer): Buffer => clientFrame(Opcode.Continuation, payload, { fin: false });
const last = (payload: string | Buffer): Buffer => clientFrame(Opcode.Continuation, payload);
const pongSent = (payload: string | Buffer = ''): Buffer => serverFrame(Opcode.Pong, payload);
const bytes = (value: string | Buffer): Buffer => Buffer.from(value);

const HELLO_WORLD = 'Hello, world!';
const NON_UTF8 = hex('00 ff fe fd fc fb 00 ff');
const MESSAGE = hex('48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d382121'); // Hello-µ@ßöäüàá-UTF-8!!
const KOSME = hex('cebae1bdb9cf83cebcceb5'); // Greek "kosme", as in Markus Kuhn's UTF-8 test file
const INVALID = hex('cebae1bdb9cf83cebcceb5eda080656469746564'); // kosme, a lone U+D800, "edited"

describe('Autobahn 1: framing', () => {
  it.each([
    ['1.1.1', 0],
    ['1.1.2', 125],
    ['1.1.3', 126],
    ['1.1.4', 127],
    ['1.1.5', 128],
    ['1.1.6', 65535],
    ['1.1.7', 65536],
  ])('%s text message of %i bytes is delivered whole', (_id, length) => {
    const conn = server();
    send(conn, [text('*'.repeat(length))]);
    expectDelivered(conn, [['text', '*'.repeat(length)]]);
  });

  it('1.1.8 text message of 65536 bytes sent in chops of 997 octets is delivered whole', () => {
    const conn = server();
    send(conn, [text('*'.repeat(65536))], 997);
    expectDelivered(conn, [['text', '*'.repeat(65536)]]);
  });

  it.each([
    ['1.2.1', 0],
    ['1.2.2', 125],
    ['1.2.3', 126],
    ['1.2.4', 127],
    ['1.2.5', 128],
    ['1.2.6', 65535],
    ['1.2.7', 65536],
  ])('%s binary message of %i bytes is delivered whole', (_id, length) => {
    const conn = server();
    send(conn, [binary(Buffer.alloc(length, 0xfe))]);
    expectDelivered(conn, [['binary', Buffer.alloc(length, 0xfe)]]);
  });

  it('1.2.8 binary message of 65536 bytes sent in chops of 997 octets is delivered whole', () => {
    const conn = server();
    send(conn, [binary(Buffer.alloc(65536, 0xfe))], 997);
    expectDelivered(conn, [['binary', Buffer.alloc(65536, 0xfe)]]);
  });
});

describe('Autobahn 2: ping and pong', () => {
  it.each([
    ['2.1', 'an empty ping', Buffer.alloc(0)],
    ['2.2', 'a ping with a small text payload', bytes(HELLO_WORLD)],
    ['2.3', 'a ping with a small binary (non UTF-8) payload', NON_UTF8],
    ['2.4', 'a ping with 125 bytes of binary payload', Buffer.alloc(125, 0xfe)],
  ])('%s %s is answered by a pong with the same payload', (_id, _label, payload) => {
    const conn = server();
    send(conn, [ping(payload)]);
    expectDelivered(conn, [['ping', payload]], [pongSent(payload)]);
  });

  it('2.5 ping with 126 bytes of payload fails the connection with 1002, no pong', () => {
    const conn = server();
    send(conn, [ping(Buffer.alloc(126, 0xfe))]);
    expectFailed(conn, 1002, [], ErrorCode.ControlFrameTooLong);
  });

  it('2.6 ping with 125 bytes sent octet-wise is answered by a pong with the same payload', () => {
    const conn = server();
    send(conn, [ping(Buffer.alloc(125, 0xfe))], 'octet-wise');
    expectDelivered(conn, [['ping', Buffer.alloc(125, 0xfe)]], [pongSent(Buffer.alloc(125, 0xfe))]);
  });

  it('2.7 unsolicited empty pong is not answered', () => {
    const conn = server();
    send(conn, [pong()]);
    expectDelivered(conn, [['pong', Buffer.alloc(0)]]);
  });

  it('2.8 unsolicited pong with payload is not answered', () => {
    const conn = server();
    send(conn, [pong('unsolicited pong payload')]);
    expectDelivered(conn, [['pong', bytes('unsolicited pong payload')]]);
  });

  it('2.9 unsolicited pong then ping: only the ping is answered, with its payload', () => {
    const conn = server();
    send(conn, [pong('unsolicited pong payload'), ping('ping payload')]);
    expectDelivered(
      conn,
      [
        ['pong', bytes('unsolicited pong payload')],
        ['ping', bytes('ping payload')],
      ],
      [pongSent('ping payload')],
    );
  });

  it.each([
    ['2.10', 'per-frame' as const],
    ['2.11', 'octet-wise' as const],
  ])('%s ten pings (%s) are each answered, in order', (_id, chopping) => {
    const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
    const conn = server();
    send(conn, payloads.map((payload) => ping(payload)), chopping);
    expectDelivered(
      conn,
      payloads.map((payload): EventSummary => ['ping', bytes(payload)]),
      payloads.map((payload) => pongSent(payload)),
    );
  });
});

describe('Autobahn 3: reserved bits', () => {
  it('3.1 text message with RSV = 1 fails the connection with 1002', () => {
    const conn = server();
    send(conn, [clientFrame(Opcode.Text, HELLO_WORLD, { rsv: 1 })]);
    expectFailed(conn, 1002, [], ErrorCode.UnexpectedRsv);
  });

  it.each([
    ['3.2', 2, 'per-frame' as const],
    ['3.3', 3, 'per-frame' as const],
    ['3.3', 3, 'octet-wise' as const],
    ['3.4', 4, 'octet-wise' as const],
  ])('%s text echoed, then text with RSV = %i (%s) fails with 1002 and the following ping gets no pong', (_id, rsv, chopping) => {
    const conn = server();
    send(conn, [text(HELLO_WORLD), clientFrame(Opcode.Text, HELLO_WORLD, { rsv }), ping()], chopping);
    expectFailed(conn, 1002, [['text', HELLO_WORLD]], ErrorCode.UnexpectedRsv);
  });

  it('3.5 binary message with RSV = 5 fails the connection with 1002', () => {
    const conn = server();
    send(conn, [clientFrame(Opcode.Binary, NON_UTF8, { rsv: 5 })]);
    expectFailed(conn, 1002, [], ErrorCode.UnexpectedRsv);
  });

  it('3.6 ping with RSV = 6 fails the connection with 1002, no pong', () => {
    const conn = server();
    send(conn, [clientFrame(Opcode.Ping, HELLO_WORLD, { rsv: 6 })]);
    expectFailed(conn, 1002, [], ErrorCode.UnexpectedRsv);
  });

  it('3.7 close with RSV = 7 fails the connection with 1002 (not a clean close)', () => {
    const conn = server();
    send(conn, [clientFrame(Opcode.Close, closePayload(1000), { rsv: 7 })]);
    expectFailed(conn, 1002, [], ErrorCode.UnexpectedRsv);
  });

  it('RSV1 is what Autobahn calls RSV = 4', () => {
    expect(Rsv.RSV1).toBe(4);
    expect(clientFrame(Opcode.Text, '', { rsv: Rsv.RSV1 })[0]).toBe(0xc1);
  });
});

describe('Autobahn 4: opcodes', () => {
  it.each([
    ['4.1.1', 3, ''],
    ['4.1.2', 4, 'reserved opcode payload'],
    ['4.2.1', 11, ''],
    ['4.2.2', 12, 'reserved opcode payload'],
  ])('%s frame with reserved opcode %i fails the connection with 1002', (_id, opcode, payload) => {
    const conn = server();
    send(conn, [clientFrame(opcode, payload)]);
    expectFailed(conn, 1002, [], ErrorCode.InvalidOpcode);
  });

  it.each([
    ['4.1.3', 5, ''],
    ['4.1.4', 6, 'reserved opcode payload'],
    ['4.1.5', 7, 'reserved opcode payload'],
    ['4.2.3', 13, ''],
    ['4.2.4', 14, 'reserved opcode payload'],
    ['4.2.5', 15, 'reserved opcode payload'],
  ])('%s text echoed, then reserved opcode %i fails with 1002 and the following ping gets no pong', (_id, opcode, payload) => {
    const conn = server();
    send(conn, [text(HELLO_WORLD), clientFrame(opcode, payload), ping()]);
    expectFailed(conn, 1002, [['text', HELLO_WORLD]], ErrorCode.InvalidOpcode);
  });
});

describe('Autobahn 5: fragmentation', () => {
  it.each([
    ['5.1', Opcode.Ping],
    ['5.2', Opcode.Pong],
  ])('%s control frame (opcode %i) fragmented into 2 fails the connection with 1002', (_id, opcode) => {
    const conn = server();
    send(conn, [first(opcode, 'fragment1'), last('fragment2')]);
    expectFailed(conn, 1002, [], ErrorCode.FragmentedControlFrame);
  });

  it.each([
    ['5.3', 'whole' as const],
    ['5.4', 'per-frame' as const],
    ['5.5', 'octet-wise' as const],
  ])('%s text message in 2 fragments (%s) is delivered whole', (_id, chopping) => {
    const conn = server();
    send(conn, [first(Opcode.Text, 'fragment1'), last('fragment2')], chopping);
    expectDelivered(conn, [['text', 'fragment1fragment2']]);
  });

  it.each([
    ['5.6', 'whole' as const],
    ['5.7', 'per-frame' as const],
    ['5.8', 'octet-wise' as const],
  ])('%s text message in 2 fragments with a ping in between (%s): pong first, then the message', (_id, chopping) => {
    const conn = server();
    send(conn, [first(Opcode.Text, 'fragment1'), ping('ping payload'), last('fragment2')], chopping);
    expectDelivered(
      conn,
      [
        ['ping', bytes('ping payload')],
        ['text', 'fragment1fragment2'],
      ],
      [pongSent('ping payload')],
    );
  });

  it.each([
    ['5.9', true, 'whole' as const],
    ['5.10', true, 'per-frame' as const],
    ['5.11', true, 'octet-wise' as const],
    ['5.12', false, 'whole' as const],
    ['5.13', false, 'per-frame' as const],
    ['5.14', false, 'octet-wise' as const],
  ])('%s continuation (FIN = %s) with nothing to continue, then a text message (%s), fails with 1002', (_id, fin, chopping) => {
    const conn = server();
    send(conn, [clientFrame(Opcode.Continuation, 'non-continuation payload', { fin }), text(HELLO_WORLD)], chopping);
    expectFailed(conn, 1002, [], ErrorCode.UnexpectedContinuation);
  });

  it('5.15 text in 2 fragments delivered, then a continuation with nothing to continue fails with 1002', () => {
    const conn = server();
    send(conn, [first(Opcode.Text, 'fragment1'), last('fragment2'), more('fragment3'), text('fragment4')], 'whole');
    expectFailed(conn, 1002, [['text', 'fragment1fragment2']], ErrorCode.UnexpectedContinuation);
  });

  it.each([
    ['5.16', false],
    ['5.17', true],
  ])('%s (continuation with FIN = %s, then text in 2 fragments) twice fails with 1002 at the first frame', (_id, fin) => {
    const conn = server();
    const round = [clientFrame(Opcode.Continuation, 'fragment1', { fin }), first(Opcode.Text, 'fragment2'), last('fragment3')];
    send(conn, [...round, ...round]);
    expectFailed(conn, 1002, [], ErrorCode.UnexpectedContinuation);
  });

  it('5.18 text in 2 fragments, both with the text opcode, fails with 1002', () => {
    const conn = server();
    send(conn, [first(Opcode.Text, 'fragment1'), text('fragment2')], 'whole');
    expectFailed(conn, 1002, [], ErrorCode.ExpectedContinuation);
  });

  it.each([
    ['5.19', 'whole' as const],
    ['5.20', 'per-frame' as const],
  ])('%s text in 5 fragments with 2 pings between (%s): each ping answered before the message ends', (_id, chopping) => {
    const conn = server();
    send(conn, [first(Opcode.Text, 'fragment1'), more('fragment2'), ping('pongme 1!')], chopping);
    expectEvents(conn, [['ping', bytes('pongme 1!')]]);
    expectFrameSent(conn, pongSent('pongme 1!'));
    send(conn, [more('fragment3'), more('fragment4'), ping('pongme 2!'), last('fragment5')], chopping);
    expectDelivered(
      conn,
      [
        ['ping', bytes('pongme 2!')],
        ['text', 'fragment1fragment2fragment3fragment4fragment5'],
      ],
      [pongSent('pongme 2!')],
    );
  });
});

describe('Autobahn 6: UTF-8 handling', () => {
  it('6.1.1 empty text message is delivered', () => {
    const conn = server();
    send(conn, [text('')]);
    expectDelivered(conn, [['text', '']]);
  });

  it('6.1.2 text message in 3 empty fragments is delivered empty', () => {
    const conn = server();
    send(conn, [first(Opcode.Text, ''), more(''), last('')]);
    expectDelivered(conn, [['text', '']]);
  });

  it('6.1.3 text message in 3 fragments, first and last empty, is delivered with the middle payload', () => {
    const conn = server();
    send(conn, [first(Opcode.Text, ''), more('middle frame payload'), last('')]);
    expectDelivered(conn, [['text', 'middle frame payload']]);
  });

  it('6.2.1 valid UTF-8 in one frame is delivered', () => {
    const conn = server();
    send(conn, [text(MESSAGE)]);
    expectDelivered(conn, [['text', 'Hello-µ@ßöäüàá-UTF-8!!']]);
  });

  it('6.2.2 valid UTF-8 in two fragments split on a code point boundary is delivered', () => {
    const conn = server();
    send(conn, [first(Opcode.Text, hex('48656c6c6f2dc2b540c39fc3b6c3a4')), last(hex('c3bcc3a0c3a12d5554462d382121'))]);
    expectDelivered(conn, [['text', 'Hello-µ@ßöäüàá-UTF-8!!']]);
  });

  /** One frame per octet of `payload`. */
  function octetFragments(payload: Buffer): Buffer[] {
    return [...payload].map((byte, i) =>
      clientFrame(i === 0 ? Opcode.Text : Opcode.Continuation, Uint8Array.of(byte), { fin: i === payload.length - 1 }),
    );
  }

  it.each([
    ['6.2.3', MESSAGE, 'Hello-µ@ßöäüàá-UTF-8!!'],
    ['6.2.4', KOSME, KOSME.toString('utf8')],
  ])('%s valid UTF-8 in fragments of 1 octet (not on code point ends) is delivered', (_id, payload, expected) => {
    const conn = server();
    send(conn, octetFragments(payload));
    expectDelivered(conn, [['text', expected]]);
  });

  it('6.3.1 invalid UTF-8 (a surrogate) in one frame fails with 1007', () => {
    const conn = server();
    send(conn, [text(INVALID)]);
    expectFailed(conn, 1007, [], ErrorCode.InvalidUtf8);
  });

  it('6.3.2 invalid UTF-8 in fragments of 1 octet fails fast, on the fragment with A0 after ED', () => {
    const conn = server();
    const fragments = octetFragments(INVALID);
    const failing = INVALID.indexOf(0xa0);
    send(conn, fragments.slice(0, failing));
    expectEvents(conn, []);
    expectNothingSent(conn);
    send(conn, [fragments[failing]!]);
    expectFailed(conn, 1007, [], ErrorCode.InvalidUtf8);
  });

  it.each([
    ['6.4.1', 'cebae1bdb9cf83cebcceb5', 'f4908080', '656469746564'],
    ['6.4.2', 'cebae1bdb9cf83cebcceb5f4', '90', '8080656469746564'],
  ])('%s invalid UTF-8 in 3 fragments fails fast on the 2nd fragment, before the 3rd is sent', (_id, part1, part2, part3) => {
    const conn = server();
    send(conn, [first(Opcode.Text, hex(part1))]);
    expectEvents(conn, []);
    expectNothingSent(conn);
    send(conn, [more(hex(part2))]);
    expectFailed(conn, 1007, [], ErrorCode.InvalidUtf8);
    send(conn, [last(hex(part3))]);
    expectEvents(conn, []);
  });

  it.each([
    ['6.4.3', 'cebae1bdb9cf83cebcceb5', 'f4908080', '656469746564'],
    ['6.4.4', 'cebae1bdb9cf83cebcceb5f4', '90', ''],
  ])('%s invalid UTF-8 in one frame sent in 3 chops fails fast on the 2nd chop', (_id, part1, part2, part3) => {
    const conn = server();
    const payload = hex('cebae1bdb9cf83cebcceb5f4908080656469746564');
    const frame = text(payload);
    const header = frame.length - payload.length;
    const cut1 = header + hex(part1).length;
    const cut2 = cut1 + hex(part2).length;
    feed(conn, frame.subarray(0, cut1));
    expectEvents(conn, []);
    expectNothingSent(conn);
    feed(conn, frame.subarray(cut1, cut2));
    expectFailed(conn, 1007, [], ErrorCode.InvalidUtf8);
    if (part3 !== '') {
      feed(conn, frame.subarray(cut2));
      expectEvents(conn, []);
    }
  });

  // 6.5.1 onwards: one text frame each, with the payload and its validity stated in the
  // case description (Markus Kuhn's UTF-8 decoder stress test, as the suite encodes it).
  const PAYLOAD_CASES = CORE_CASES.filter((c) => /^6\.(\d+)\./.test(c.id) && Number(c.id.split('.')[1]) >= 5).map((c) => {
    const match = /Payload: 0x([0-9a-f]*)/.exec(c.description);
    if (match === null) throw new Error(`no payload in the description of case ${c.id}`);
    const isValid = c.description.includes('which is valid UTF-8');
    if (!isValid && !c.description.includes('which is not valid UTF-8')) throw new Error(`no validity in case ${c.id}`);
    return { id: c.id, payload: hex(match[1]!), isValid };
  });

  it('the UTF-8 payload cases are all found in the case list', () => {
    expect(PAYLOAD_CASES.length).toBe(
      CORE_CASES.filter((c) => c.id.startsWith('6.') && Number(c.id.split('.')[1]) >= 5).length,
    );
    expect(PAYLOAD_CASES.length).toBeGreaterThan(130);
    // The suite's own verdicts agree with a fatal TextDecoder.
    for (const { id, payload, isValid } of PAYLOAD_CASES) {
      let decodes = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(payload);
      } catch {
        decodes = false;
      }
      expect(decodes, id).toBe(isValid);
    }
  });

  for (const { id, payload, isValid } of PAYLOAD_CASES) {
    const shown = payload.toString('hex');
    if (isValid) {
      it(`${id} valid UTF-8 0x${shown} in one frame is delivered`, () => {
        const conn = server();
        send(conn, [text(payload)]);
        expectDelivered(conn, [['text', payload.toString('utf8')]]);
        expect(Buffer.from(payload.toString('utf8')).equals(payload)).toBe(true);
      });
    } else {
      it(`${id} invalid UTF-8 0x${shown} in one frame fails with 1007`, () => {
        const conn = server();
        send(conn, [text(payload)]);
        expectFailed(conn, 1007, [], ErrorCode.InvalidUtf8);
      });
    }
  }
});

describe('Autobahn 7: close handling', () => {
  it('7.1.1 message then close: the message is delivered, the close echoed, a clean close', () => {
    const conn = server();
    send(conn, [text('Hello World!'), close(1000)]);
    expectEvents(conn, [['text', 'Hello World!'], ['closing', 1000, ''], ['end']]);
    expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(1000)));
    expect(conn.transportClosed()).toEqual({ code: 1000, reason: '', wasClean: true });
  });

  it.each([
    ['7.1.2', 'a second close frame', close(1000)],
    ['7.1.3', 'a ping', ping('Hello World!')],
    ['7.1.4', 'a text message', text('Hello World!')],
  ])('%s close then %s: clean close, what follows the close is ignored', (_id, _label, after) => {
    const conn = server();
    send(conn, [close(1000), after]);
    expectEvents(conn, [['closing', 1000, ''], ['end']]);
    expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(1000)));
    expect(conn.transportClosed()).toEqual({ code: 1000, reason: '', wasClean: true });
  });

  it('7.1.5 first fragment, close, last fragment: clean close, the message is not delivered', () => {
    const conn = server();
    send(conn, [first(Opcode.Text, 'fragment1'), close(1000), last('fragment2')]);
    expectEvents(conn, [['closing', 1000, ''], ['end']]);
    expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(1000)));
    expect(conn.transportClosed().wasClean).toBe(true);
  });

  it('7.1.6 256 KiB message, message, close, ping: both messages delivered in order, no pong after the close', () => {
    const big = 'BAsd7&jh23'.repeat(26215).slice(0, 256 * 1024);
    const conn = server();
    send(conn, [text(big), text('Hello World!'), close(1000), ping()]);
    expectEvents(conn, [['text', big], ['text', 'Hello World!'], ['closing', 1000, ''], ['end']]);
    expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(1000)));
  });

  it('7.3.1 close with an empty payload: 1005 reported, an empty close echoed, a clean close', () => {
    const conn = server();
    send(conn, [close()]);
    expectEvents(conn, [['closing', 1005, ''], ['end']]);
    expectFrameSent(conn, hex('88 00'));
    expect(conn.transportClosed()).toEqual({ code: 1005, reason: '', wasClean: true });
  });

  it('7.3.2 close with a 1-byte payload fails the connection with 1002', () => {
    const conn = server();
    send(conn, [clientFrame(Opcode.Close, hex('03'))]);
    expectFailed(conn, 1002, [], ErrorCode.InvalidClosePayload);
  });

  it.each([
    ['7.3.3', 'a code only', ''],
    ['7.3.4', 'a code and a reason', 'Hello World!'],
    ['7.3.5', 'a reason of the maximum 123 bytes', '*'.repeat(123)],
  ])('%s close with %s is echoed, a clean close', (_id, _label, reason) => {
    const conn = server();
    send(conn, [close(1000, reason)]);
    expectEvents(conn, [['closing', 1000, reason], ['end']]);
    expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(1000, reason)));
    expect(conn.transportClosed()).toEqual({ code: 1000, reason, wasClean: true });
  });

  it('7.3.6 close with a 124-byte reason (126-byte payload) fails the connection with 1002', () => {
    const conn = server();
    send(conn, [close(1000, '*'.repeat(124))]);
    expectFailed(conn, 1002, [], ErrorCode.ControlFrameTooLong);
  });

  it('7.5.1 close with an invalid UTF-8 reason fails the connection with 1007', () => {
    const conn = server();
    send(conn, [close(1000, INVALID)]);
    expectFailed(conn, 1007, [], ErrorCode.InvalidUtf8);
  });

  it.each([
    ['7.7.1', 1000],
    ['7.7.2', 1001],
    ['7.7.3', 1002],
    ['7.7.4', 1003],
    ['7.7.5', 1007],
    ['7.7.6', 1008],
    ['7.7.7', 1009],
    ['7.7.8', 1010],
    ['7.7.9', 1011],
    ['7.7.10', 3000],
    ['7.7.11', 3999],
    ['7.7.12', 4000],
    ['7.7.13', 4999],
  ])('%s close with valid code %i is echoed, a clean close', (_id, code) => {
    const conn = server();
    send(conn, [close(code)]);
    expectEvents(conn, [['closing', code, ''], ['end']]);
    expectFrameSent(conn, serverFrame(Opcode.Close, closePayload(code)));
    expect(conn.transportClosed()).toEqual({ code, reason: '', wasClean: true });
  });

  it.each([
    ['7.9.1', 0],
    ['7.9.2', 999],
    ['7.9.3', 1004],
    ['7.9.4', 1005],
    ['7.9.5', 1006],
    ['7.9.6', 1016],
    ['7.9.7', 1100],
    ['7.9.8', 2000],
    ['7.9.9', 2999],
    ['7.13.1', 5000],
    ['7.13.2', 65535],
  ])('%s close with invalid code %i fails the connection with 1002', (_id, code) => {
    const conn = server();
    send(conn, [close(code)]);
    expectFailed(conn, 1002, [], ErrorCode.InvalidCloseCode);
  });
});

describe('Autobahn coverage', () => {
  it('every case of categories 1–7 in autobahn/cases.json has a test named after its id', ({ task }) => {
    const names: string[] = [];
    const walk = (tasks: ReadonlyArray<{ name: string; type: string; tasks?: unknown }>): void => {
      for (const t of tasks) {
        if (t.type === 'test') names.push(t.name);
        if (Array.isArray(t.tasks)) walk(t.tasks);
      }
    };
    walk(task.file.tasks);
    const ids = CORE_CASES.map((c) => c.id);
    expect(ids.length).toBe(246);
    const missing = ids.filter((id) => !names.some((name) => name.startsWith(`${id} `)));
    expect(missing).toEqual([]);
    // And no test claims a case that does not exist.
    const claimed = names.map((name) => /^(\d+(?:\.\d+)+) /.exec(name)?.[1]).filter((id): id is string => id !== undefined);
    expect(claimed.filter((id) => !ids.includes(id))).toEqual([]);
  });
});
