/**
 * Admission bookkeeping without sockets: client addresses behind proxies, slots given
 * back, and per-address tables that stay bounded.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Admission } from '../../src/limits/admission.js';
import { canonicalAddress, clientAddress, compileTrustProxy, getClientAddress, normalizeAddress } from '../../src/limits/client-address.js';

/** Enough of a socket for admission: an address, `destroyed`, and a 'close' event. */
/** A socket as admission sees it; `onLookup` is called each time its address is read. */
function fakeSocket(remoteAddress: string, onLookup?: () => void): Socket & { close(): void } {
  const socket = new EventEmitter() as EventEmitter & { readonly remoteAddress: string; destroyed: boolean; close(): void };
  Object.defineProperty(socket, 'remoteAddress', {
    get: () => {
      onLookup?.();
      return remoteAddress;
    },
  });
  socket.destroyed = false;
  socket.close = () => {
    socket.destroyed = true;
    socket.emit('close');
  };
  return socket as unknown as Socket & { close(): void };
}

describe('clientAddress', () => {
  const trusted = compileTrustProxy(['10.0.0.1', '10.0.0.2']);
  const addressOf = (peer: string, xff?: string | string[]) =>
    clientAddress({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }, trusted);

  it.each([
    ['an untrusted peer, whatever it claims', '192.0.2.1', '203.0.113.1', '192.0.2.1'],
    ['a trusted peer, one hop', '10.0.0.1', '203.0.113.1', '203.0.113.1'],
    ['the right-most untrusted address', '10.0.0.1', '6.6.6.6, 203.0.113.1, 10.0.0.2', '203.0.113.1'],
    ['every hop trusted → the left-most', '10.0.0.1', '10.0.0.2', '10.0.0.2'],
    ['garbage → the last trusted hop', '10.0.0.1', 'not-an-ip', '10.0.0.1'],
    ['garbage left of the client is ignored', '10.0.0.1', 'garbage, 203.0.113.1', '203.0.113.1'],
    ['ports and brackets', '10.0.0.1', '[2001:DB8::1]:443', '2001:db8::1'],
    ['IPv4 with a port', '10.0.0.1', '203.0.113.1:5555', '203.0.113.1'],
    ['IPv4-mapped peer', '::ffff:10.0.0.1', '203.0.113.1', '203.0.113.1'],
    ['no header', '10.0.0.1', undefined, '10.0.0.1'],
  ])('%s', (_, peer, xff, expected) => {
    expect(addressOf(peer, xff)).toBe(expected);
  });

  it('repeated headers are one list', () => {
    expect(addressOf('10.0.0.1', ['6.6.6.6', '203.0.113.9'])).toBe('203.0.113.9');
  });

  it('getClientAddress compiles the option', () => {
    expect(getClientAddress({ socket: { remoteAddress: '10.0.0.1' }, headers: { 'x-forwarded-for': '203.0.113.1' } }, ['10.0.0.1'])).toBe('203.0.113.1');
    expect(getClientAddress({ socket: { remoteAddress: '10.0.0.1' }, headers: { 'x-forwarded-for': '203.0.113.1' } })).toBe('10.0.0.1');
  });

  it('trustProxy entries and forwarded hops in any IPv6 spelling match the address the system reports', () => {
    const expanded = compileTrustProxy(['0:0:0:0:0:0:0:1', '2001:DB8:0:0:0:0:0:A'])!;
    expect(expanded('::1')).toBe(true);
    expect(expanded('2001:db8::a')).toBe(true);
    const viaLoopback = (xff: string) => clientAddress({ socket: { remoteAddress: '::1' }, headers: { 'x-forwarded-for': xff } }, expanded);
    expect(viaLoopback('2001:0db8:0000:0000:0000:0000:0000:0002')).toBe('2001:db8::2');
    expect(viaLoopback('0:0:0:0:0:ffff:c000:0201')).toBe('192.0.2.1');
    expect(canonicalAddress('fe80::1%eth0')).toBe('fe80::1%eth0');
    expect(canonicalAddress('203.0.113.1')).toBe('203.0.113.1');
  });

  it('normalizeAddress', () => {
    expect(normalizeAddress('::FFFF:192.0.2.1')).toBe('192.0.2.1');
    expect(normalizeAddress('2001:DB8::1')).toBe('2001:db8::1');
  });
});

describe('Admission', () => {
  it('nothing to check (maxPendingPerIp: 0 turns off the one default) → null', () => {
    expect(Admission.create({ maxPendingPerIp: 0 })).toBeNull();
    expect(Admission.create({ trustProxy: ['10.0.0.1'], maxPendingPerIp: 0 })).toBeNull();
    expect(Admission.create({})).not.toBeNull();
  });

  it('pending upgrades: 32 per address by default, refused at accept, given back at the 101 or on close', () => {
    const admission = Admission.create({})!;
    const sockets = Array.from({ length: 33 }, () => fakeSocket('192.0.2.1'));
    for (const socket of sockets.slice(0, 32)) expect(admission.accept(socket)).toBeNull();
    expect(admission.accept(sockets[32]!)?.status).toBe(429);
    expect(admission.pendingFrom('192.0.2.1')).toBe(32);
    expect(admission.accept(fakeSocket('192.0.2.2'))).toBeNull(); // another address
    expect(sockets[0]!.listenerCount('close')).toBe(1);
    admission.upgraded(sockets[0]!);
    expect(sockets[0]!.listenerCount('close')).toBe(0); // an open connection keeps no listener for it
    sockets[0]!.close(); // given back once only
    sockets[1]!.close();
    expect(admission.pendingFrom('192.0.2.1')).toBe(30);
    expect(admission.admit({ headers: {} }, sockets[2]!)).toBeNull(); // counted at accept, not again
    expect(admission.pendingFrom('192.0.2.1')).toBe(30);
    for (const socket of sockets) socket.close();
    expect(admission.pendingFrom('192.0.2.1')).toBe(0);
  });

  it('pending upgrades: addresses are looked up only once the upgrades in progress reach the cap', () => {
    const admission = Admission.create({ maxPendingPerIp: 4 })!;
    let lookups = 0;
    const counted = (address: string) => fakeSocket(address, () => lookups++);
    // Below the cap in all, no address can be over it: nothing is looked up.
    const early = Array.from({ length: 3 }, () => counted('192.0.2.1'));
    for (const socket of early) expect(admission.accept(socket)).toBeNull();
    admission.upgraded(early[0]!);
    early[1]!.close();
    expect(lookups).toBe(0);
    expect(early[0]!.listenerCount('close')).toBe(0); // an open connection keeps no listener
    // Reaching the cap: the waiting ones are looked up and counted, and the cap holds.
    const more = Array.from({ length: 4 }, () => counted('192.0.2.1'));
    for (const socket of more.slice(0, 3)) expect(admission.accept(socket)).toBeNull();
    expect(admission.accept(more[3]!)?.status).toBe(429);
    expect(lookups).toBe(5); // early[2], more[0..2], then more[3] itself
    expect(admission.pendingFrom('192.0.2.1')).toBe(4);
    expect(admission.accept(counted('192.0.2.9'))).toBeNull(); // another address
    for (const socket of [...early, ...more]) socket.close();
    expect(admission.pendingFrom('192.0.2.1')).toBe(0);
  });

  it('pending upgrades: loopback is exempt from the default, not from a number set', () => {
    const byDefault = Admission.create({})!;
    for (let i = 0; i < 100; i++) expect(byDefault.accept(fakeSocket(i % 2 ? '127.0.0.1' : '::1'))).toBeNull();
    expect(byDefault.pendingAddresses).toBe(0);
    const set = Admission.create({ maxPendingPerIp: 2 })!;
    expect(set.accept(fakeSocket('127.0.0.1'))).toBeNull();
    expect(set.accept(fakeSocket('::ffff:127.0.0.1'))).toBeNull();
    expect(set.accept(fakeSocket('127.0.0.1'))?.status).toBe(429);
  });

  it('pending upgrades: a listener bound to loopback leaves the default nothing to check', () => {
    const byDefault = Admission.create({})!;
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(byDefault.isIdleOn(address)).toBe(true);
    for (const address of ['0.0.0.0', '::', '192.0.2.1', '::ffff:192.0.2.1']) expect(byDefault.isIdleOn(address)).toBe(false);
    // Anything else asked for keeps the checks, even on loopback.
    for (const options of [
      { maxPendingPerIp: 32 },
      { trustProxy: ['127.0.0.1'] },
      { maxConnections: 10 },
      { maxConnectionsPerIp: 10 },
      { maxHandshakesPerIp: 10 },
      { origins: ['https://example.com'] },
    ]) {
      expect(Admission.create(options)!.isIdleOn('127.0.0.1')).toBe(false);
    }
  });

  it('pending upgrades behind a trusted proxy are counted per forwarded address at admit', () => {
    const admission = Admission.create({ maxPendingPerIp: 1, trustProxy: ['10.0.0.1'] })!;
    const first = fakeSocket('10.0.0.1');
    const second = fakeSocket('10.0.0.1');
    const third = fakeSocket('10.0.0.1');
    for (const socket of [first, second, third]) expect(admission.accept(socket)).toBeNull();
    expect(admission.admit({ headers: { 'x-forwarded-for': '203.0.113.1' } }, first)).toBeNull();
    expect(admission.admit({ headers: { 'x-forwarded-for': '203.0.113.1' } }, second)?.status).toBe(429);
    expect(admission.admit({ headers: { 'x-forwarded-for': '203.0.113.2' } }, third)).toBeNull();
    admission.upgraded(first);
    expect(admission.pendingFrom('203.0.113.1')).toBe(0);
    for (const socket of [first, second, third]) socket.close();
    expect(admission.pendingAddresses).toBe(0);
  });

  it('maxPendingPerIp must be a number >= 0', () => {
    expect(() => Admission.create({ maxPendingPerIp: -1 })).toThrow(/maxPendingPerIp must be a positive number \(or 0 to turn the cap off\), got -1/);
    expect(() => Admission.create({ maxPendingPerIp: Number.NaN })).toThrow(RangeError);
  });

  it('slots: counted from accept, given back on close, per-address entries deleted at zero', () => {
    const admission = Admission.create({ maxConnections: 2, maxConnectionsPerIp: 1 })!;
    const a = fakeSocket('192.0.2.1');
    const b = fakeSocket('192.0.2.2');
    const c = fakeSocket('192.0.2.3');
    admission.accept(a);
    admission.accept(b);
    admission.accept(c);
    expect(admission.connections).toBe(2);
    expect(admission.admit({ headers: {} }, a)).toBeNull();
    expect(admission.admit({ headers: {} }, c)?.status).toBe(503);
    expect(admission.trackedAddresses).toBe(2);
    a.close();
    b.close();
    c.close();
    expect(admission.connections).toBe(0);
    expect(admission.trackedAddresses).toBe(0);
  });

  it('a trusted proxy socket: counted at accept, per address at admit; a per-address refusal still gives back the slot', () => {
    const admission = Admission.create({ maxConnections: 10, maxConnectionsPerIp: 1, trustProxy: ['10.0.0.1'] })!;
    const first = fakeSocket('10.0.0.1');
    const second = fakeSocket('10.0.0.1');
    admission.accept(first);
    admission.accept(second);
    expect(admission.connections).toBe(2);
    expect(admission.connectionsFrom('10.0.0.1')).toBe(0);
    expect(admission.admit({ headers: { 'x-forwarded-for': '203.0.113.1' } }, first)).toBeNull();
    expect(admission.admit({ headers: { 'x-forwarded-for': '203.0.113.1' } }, second)?.status).toBe(429);
    expect(admission.connectionsFrom('203.0.113.1')).toBe(1);
    second.close();
    expect(admission.connections).toBe(1);
    first.close();
    expect(admission.connections).toBe(0);
    expect(admission.trackedAddresses).toBe(0);
  });

  it('closing twice, or a socket already destroyed, never miscounts', () => {
    const admission = Admission.create({ maxConnections: 1 })!;
    const dead = fakeSocket('192.0.2.1');
    (dead as { destroyed: boolean }).destroyed = true;
    expect(admission.admit({ headers: {} }, dead)?.status).toBe(503);
    expect(admission.connections).toBe(0);
    const live = fakeSocket('192.0.2.1');
    expect(admission.admit({ headers: {} }, live)).toBeNull();
    live.close();
    live.emit('close');
    expect(admission.connections).toBe(0);
  });

  it('handshake rate: the number form is per second; Retry-After in whole seconds', () => {
    let now = 0;
    const admission = Admission.create({ maxHandshakesPerIp: 2 }, () => now)!;
    const socket = fakeSocket('192.0.2.1');
    expect(admission.admit({ headers: {} }, socket)).toBeNull();
    expect(admission.admit({ headers: {} }, socket)).toBeNull();
    const refused = admission.admit({ headers: {} }, socket)!;
    expect(refused.status).toBe(429);
    expect(refused.headers['Retry-After']).toBe('1');
    now = 500;
    expect(admission.admit({ headers: {} }, socket)).toBeNull();
    expect(admission.admit({ headers: {} }, socket)?.status).toBe(429);
  });

  it('handshake rate: Retry-After rounds a wait of several seconds up, not down', () => {
    let now = 0;
    const admission = Admission.create({ maxHandshakesPerIp: { handshakes: 1, per: 5000 } }, () => now)!;
    const socket = fakeSocket('192.0.2.1');
    expect(admission.admit({ headers: {} }, socket)).toBeNull();
    now = 100;
    const refused = admission.admit({ headers: {} }, socket)!;
    expect(refused.status).toBe(429);
    expect(refused.headers['Retry-After']).toBe('5'); // 4.9 s to wait: asking again after 4 s would be refused
  });

  it('the handshake table stays within maxTrackedAddresses and forgets refilled addresses', () => {
    let now = 0;
    const admission = Admission.create({ maxHandshakesPerIp: { handshakes: 5, per: 1000 }, maxTrackedAddresses: 100 }, () => now)!;
    for (let i = 0; i < 1000; i++) admission.admit({ headers: {} }, fakeSocket(`198.51.${i >> 8}.${i & 255}`));
    expect(admission.trackedAddresses).toBe(100);
    // Once idle addresses have refilled, new ones push them out a few at a time.
    now = 10_000;
    for (let i = 0; i < 60; i++) admission.admit({ headers: {} }, fakeSocket(`203.0.113.${i}`));
    expect(admission.trackedAddresses).toBeLessThanOrEqual(61);
  });

  it('handshake rate: Infinity is no limit; a fraction is one handshake per per/handshakes ms; a bad period throws at once', () => {
    expect(Admission.create({ maxHandshakesPerIp: Infinity, maxPendingPerIp: 0 })).toBeNull();
    expect(() => Admission.create({ maxHandshakesPerIp: { handshakes: 5, per: Infinity } })).toThrow(RangeError);
    let now = 0;
    const admission = Admission.create({ maxHandshakesPerIp: { handshakes: 0.5, per: 1000 } }, () => now)!;
    const socket = fakeSocket('192.0.2.1');
    expect(admission.admit({ headers: {} }, socket)).toBeNull();
    const refused = admission.admit({ headers: {} }, socket)!;
    expect(refused.status).toBe(429);
    expect(refused.headers['Retry-After']).toBe('2');
    now = 2000;
    expect(admission.admit({ headers: {} }, socket)).toBeNull();
  });

  it('a flood from one address does not grow the table', () => {
    const admission = Admission.create({ maxHandshakesPerIp: 1 }, () => 0)!;
    const socket = fakeSocket('192.0.2.1');
    for (let i = 0; i < 100; i++) admission.admit({ headers: {} }, socket);
    expect(admission.trackedAddresses).toBe(1);
  });
});
