/**
 * Admission control for upgrades: connection caps (server-wide and per client
 * address), a handshake rate per address, and the `origins` allowlist. Checked before
 * anything is allocated for a connection: before `authenticate` runs, before the 101.
 *
 * A connection holds a slot from the moment it is counted until its socket closes:
 * upgrades in progress (reading the request, authenticating) count as well as open
 * connections, so slow handshakes cannot overshoot a cap. On the server's own port the
 * slot is taken when the TCP connection is accepted; for an attached server or
 * `handleUpgrade`, when the upgrade request arrives.
 *
 * Upgrades in progress are also capped per address (`maxPendingPerIp`, on by default):
 * a client that opens connections and sends its requests slowly, or never, holds at
 * most that many sockets. On the server's own port the cap applies at TCP accept, to
 * connections that have not sent their request yet; a connection over it is answered
 * 429 at once, without reading its request. A pending slot is given back when the 101
 * is written or the socket closes. While fewer upgrades are in progress in all than one
 * address may have, none can be over the cap: with the default limits (nothing else
 * needs the address), the server's own port counts such connections without looking
 * their address up, and looks the addresses up only once the total reaches the cap. A
 * connection that completes its upgrade before then never pays for the lookup (a system
 * call) nor keeps the address Node caches on its socket.
 *
 * Memory stays bounded: per-address connection and pending counts exist only for
 * addresses with a slot (deleted at zero), and the handshake-rate table forgets idle
 * addresses and holds at most `maxTrackedAddresses` entries, evicting the least
 * recently seen.
 */
import type { Socket } from 'node:net';
import { HandshakeError } from '../protocol/errors.js';
import { TokenBucket } from '../rate-limit/token-bucket.js';
import { clientAddress, compileTrustProxy, normalizeAddress, type AddressedRequest, type TrustProxy } from './client-address.js';
import { compileOriginCheck, type OriginRule } from './origins.js';

/** Limits applied to upgrades (server options). */
export interface AdmissionOptions<Req = any> {
  /** Connections (open or upgrading) the server holds at most; more get 503. Default: no limit. */
  maxConnections?: number;
  /** Connections (open or upgrading) per client address; more get 429. Default: no limit. */
  maxConnectionsPerIp?: number;
  /**
   * Upgrade requests per client address: a number per second, or `{ handshakes, per }`
   * (per in ms). More get 429 with `Retry-After`. Default: no limit.
   */
  maxHandshakesPerIp?: number | { handshakes: number; per: number };
  /**
   * Proxies whose `X-Forwarded-For` gives the client address: exact IP addresses or a
   * predicate. Default: none (the TCP peer is the client).
   */
  trustProxy?: TrustProxy;
  /** Allowed `Origin` values (exact strings or predicates); others get 403. Default: any. */
  origins?: ReadonlyArray<OriginRule<Req>>;
  /** Refuse upgrades without an `Origin` header (403). Default false: non-browser clients send none. */
  requireOrigin?: boolean;
  /** Most client addresses the handshake-rate table remembers. Default 10 000. */
  maxTrackedAddresses?: number;
  /**
   * Upgrades in progress (from TCP accept on the own port, else from the upgrade
   * request, until the 101) per client address; more get 429. On the own port a
   * connection over the cap is answered at accept, before its request is read.
   * Default 32 for every address but loopback (127.0.0.0/8, ::1: a local proxy or load
   * test), which the default leaves unlimited; a number set here applies to every
   * address. 0 for no limit.
   */
  maxPendingPerIp?: number;
}

export const DEFAULT_MAX_TRACKED_ADDRESSES = 10_000;
/** Default `maxPendingPerIp` (loopback addresses excepted). */
export const DEFAULT_MAX_PENDING_PER_IP = 32;
const DEFAULT_HANDSHAKE_PERIOD = 1_000;
/** Idle entries examined (and forgotten if refilled) per new address. */
const PRUNE_PER_INSERT = 2;

/** The slot of one socket. */
interface Slot {
  /** The address counted per IP; null while deferred (a trusted proxy's socket before its request). */
  address: string | null;
  /** 0, or the status this socket's upgrade will be refused with. */
  refusal: number;
  /** Whether it counts against `maxConnections` (until its socket closes). */
  counted: boolean;
}

/** The pending slot of one socket: counted against `address` until released. */
interface PendingSlot {
  address: string;
  isReleased: boolean;
  /** Its socket's 'close' listener, removed once the upgrade is done. */
  onClose: () => void;
}

type UpgradeLike = Pick<AddressedRequest, 'headers'>;

/** Headers for `clientAddress` when no proxy is trusted: it does not read them then. */
const NO_HEADERS: AddressedRequest['headers'] = Object.freeze({});

/**
 * One server's admission state.
 *
 * @example
 * const admission = Admission.create(options);       // null when nothing is limited
 * admission?.accept(socket);                          // own port, at TCP accept
 * const refusal = admission?.admit(req, socket) ?? null; // when the request head is known
 * if (refusal !== null) reject(refusal);
 */
export class Admission {
  readonly #maxConnections: number;
  readonly #maxPerAddress: number;
  readonly #countsSlots: boolean;
  readonly #isTrusted: ((address: string) => boolean) | null;
  readonly #checkOrigin: ((req: any) => HandshakeError | null) | null;
  readonly #handshakes: { capacity: number; per: number } | null;
  readonly #maxTracked: number;
  readonly #maxPending: number;
  /** Loopback addresses are not limited by the default `maxPendingPerIp`. */
  readonly #isLoopbackExempt: boolean;
  readonly #now: () => number;

  #connections = 0;
  readonly #perAddress = new Map<string, number>();
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #slots = new WeakMap<Socket, Slot>();
  readonly #pendingPerAddress = new Map<string, number>();
  /** The sum of #pendingPerAddress. */
  #pendingCounted = 0;
  /**
   * Own port: upgrades in progress counted before their address is known (see the
   * module comment); only used when nothing but `maxPendingPerIp` needs addresses.
   */
  readonly #unresolved = new Set<Socket>();
  readonly #defersLookups: boolean;
  readonly #onUnresolvedClose: (this: Socket) => void;
  /** Sockets whose pending status is settled: a slot, or null (exempt, or counted nowhere). */
  readonly #pendingSlots = new WeakMap<Socket, PendingSlot | null>();

  /**
   * @returns null when none of the options asks for a check.
   * @throws {RangeError} / {TypeError} for invalid options.
   */
  static create(options: AdmissionOptions, now?: () => number): Admission | null {
    const admission = new Admission(options, now);
    return admission.#checksBeyondPending() || admission.#maxPending !== Infinity ? admission : null;
  }

  /** Whether a limit or check other than `maxPendingPerIp` is set (connection counts, handshake rate, origins). */
  #checksBeyondPending(): boolean {
    return this.#countsSlots || this.#handshakes !== null || this.#checkOrigin !== null;
  }

  constructor(options: AdmissionOptions, now: () => number = performance.now.bind(performance)) {
    this.#maxConnections = limit(options.maxConnections, 'maxConnections');
    this.#maxPerAddress = limit(options.maxConnectionsPerIp, 'maxConnectionsPerIp');
    this.#countsSlots = this.#maxConnections !== Infinity || this.#maxPerAddress !== Infinity;
    this.#isTrusted = compileTrustProxy(options.trustProxy);
    this.#checkOrigin = compileOriginCheck(options.origins, options.requireOrigin ?? false);
    this.#handshakes = handshakeRate(options.maxHandshakesPerIp);
    this.#maxTracked = limit(options.maxTrackedAddresses ?? DEFAULT_MAX_TRACKED_ADDRESSES, 'maxTrackedAddresses');
    const pending = options.maxPendingPerIp;
    this.#maxPending = pending === 0 ? Infinity : limit(pending ?? DEFAULT_MAX_PENDING_PER_IP, 'maxPendingPerIp', ' (or 0 to turn the cap off)');
    this.#isLoopbackExempt = pending === undefined;
    this.#now = now;
    this.#defersLookups = this.#maxPending !== Infinity && this.#isTrusted === null && !this.#countsSlots;
    const unresolved = this.#unresolved;
    this.#onUnresolvedClose = function () {
      unresolved.delete(this);
    };
  }

  /**
   * Whether this admission checks nothing for a server whose listener is bound to
   * `address`: only the default `maxPendingPerIp` is in force, which leaves loopback
   * peers alone, and a listener bound to a loopback address has no other peers (with no
   * trusted proxy, nothing counts a forwarded address either).
   */
  isIdleOn(address: string): boolean {
    return this.#isLoopbackExempt && this.#isTrusted === null && !this.#checksBeyondPending() && isLoopback(normalizeAddress(address));
  }

  /** Connections (open or upgrading) holding a slot. */
  get connections(): number {
    return this.#connections;
  }

  /** Connections holding a slot for `address`. */
  connectionsFrom(address: string): number {
    return this.#perAddress.get(normalizeAddress(address)) ?? 0;
  }

  /** Upgrades in progress counted for `address` (see `maxPendingPerIp`). */
  pendingFrom(address: string): number {
    this.#resolveAll();
    return this.#pendingPerAddress.get(normalizeAddress(address)) ?? 0;
  }

  /** Addresses with upgrades in progress counted (entries of the pending table). */
  get pendingAddresses(): number {
    this.#resolveAll();
    return this.#pendingPerAddress.size;
  }

  /** Entries in the per-address tables (connection counts and handshake rates). */
  get trackedAddresses(): number {
    return this.#perAddress.size + this.#buckets.size;
  }

  /**
   * Own port: counts a TCP connection as soon as it is accepted. Over a cap, no slot is
   * taken and the refusal is remembered: the request is still read (answering before
   * it arrives would make the peer's TCP reset the answer away), then refused.
   *
   * Upgrades in progress are capped here too (`maxPendingPerIp`): over that cap the
   * connection takes no slot at all and the refusal is returned, to be answered at once.
   *
   * @returns the 429 to answer right away, or null.
   */
  accept(socket: Socket): HandshakeError | null {
    if (this.#defersLookups) {
      if (!socket.destroyed && this.#unresolved.size + this.#pendingCounted < this.#maxPending) {
        this.#unresolved.add(socket);
        socket.on('close', this.#onUnresolvedClose);
        return null;
      }
      this.#resolveAll();
    }
    const peer = normalizeAddress(socket.remoteAddress ?? '');
    // Behind a trusted proxy the client address is only known from the request.
    const address = this.#isTrusted !== null && this.#isTrusted(peer) ? null : peer;
    if (address !== null && this.#maxPending !== Infinity && !this.#takePending(socket, address)) return pendingRefusal();
    if (this.#countsSlots) this.#take(socket, address);
    return null;
  }

  /** The upgrade of `socket` was accepted (the 101 is written): it is no longer pending. */
  upgraded(socket: Socket): void {
    if (this.#unresolved.delete(socket)) {
      socket.off('close', this.#onUnresolvedClose);
      return;
    }
    const slot = this.#pendingSlots.get(socket);
    if (slot === undefined) return;
    // An open connection keeps no entry here (a WeakMap entry costs memory and GC work).
    this.#pendingSlots.delete(socket);
    if (slot === null) return;
    this.#releasePending(slot);
    socket.off('close', slot.onClose); // an open connection keeps no closure for this
  }

  /**
   * Checks an upgrade request: handshake rate, connection caps, origin.
   *
   * @returns the error to refuse the upgrade with (429, 503, 403), or null.
   */
  admit(req: UpgradeLike, socket: Socket): HandshakeError | null {
    const countsPending = this.#maxPending !== Infinity && !this.#pendingSlots.has(socket) && !this.#unresolved.has(socket);
    const address = this.#handshakes !== null || this.#countsSlots || countsPending ? this.#addressOf(req, socket) : '';
    if (this.#handshakes !== null) {
      const refusal = this.#countHandshake(address);
      if (refusal !== null) return refusal;
    }
    if (this.#countsSlots) {
      let slot = this.#slots.get(socket);
      if (slot === undefined) slot = this.#take(socket, address);
      else if (slot.refusal === 0 && slot.address === null) this.#takeAddress(slot, address);
      if (slot.refusal !== 0) return refusalError(slot.refusal);
    }
    if (countsPending && !this.#takePending(socket, address)) return pendingRefusal();
    return this.#checkOrigin?.(req) ?? null;
  }

  /** The address `socket` is counted against. Reads the headers only behind a trusted proxy (reading them may build them). */
  #addressOf(req: UpgradeLike, socket: Socket): string {
    return clientAddress({ headers: this.#isTrusted === null ? NO_HEADERS : req.headers, socket }, this.#isTrusted);
  }

  /**
   * Looks up the addresses of the upgrades in progress counted without one and counts
   * each for its address. They were admitted while the total was below the cap, so no
   * address is over it.
   */
  #resolveAll(): void {
    const unresolved = this.#unresolved;
    if (unresolved.size === 0) return;
    for (const socket of unresolved) {
      socket.off('close', this.#onUnresolvedClose);
      this.#takePending(socket, normalizeAddress(socket.remoteAddress ?? ''));
    }
    unresolved.clear();
  }

  /** Counts `socket` as an upgrade in progress from `address`; false when over the cap. */
  #takePending(socket: Socket, address: string): boolean {
    if (socket.destroyed || (this.#isLoopbackExempt && isLoopback(address))) {
      // A destroyed socket's 'close' may have been emitted already: nothing to count.
      this.#pendingSlots.set(socket, null);
      return true;
    }
    const count = this.#pendingPerAddress.get(address) ?? 0;
    if (count >= this.#maxPending) {
      this.#pendingSlots.set(socket, null);
      return false;
    }
    this.#pendingPerAddress.set(address, count + 1);
    this.#pendingCounted++;
    const slot: PendingSlot = { address, isReleased: false, onClose: () => this.#releasePending(slot) };
    this.#pendingSlots.set(socket, slot);
    socket.once('close', slot.onClose);
    return true;
  }

  #releasePending(slot: PendingSlot): void {
    if (slot.isReleased) return;
    slot.isReleased = true;
    this.#pendingCounted--;
    const count = this.#pendingPerAddress.get(slot.address)! - 1;
    if (count <= 0) this.#pendingPerAddress.delete(slot.address);
    else this.#pendingPerAddress.set(slot.address, count);
  }

  #take(socket: Socket, address: string | null): Slot {
    const slot: Slot = { address: null, refusal: 0, counted: false };
    this.#slots.set(socket, slot);
    if (socket.destroyed) {
      // Its 'close' may have been emitted already: a slot could never be given back.
      slot.refusal = 503;
      return slot;
    }
    if (this.#connections >= this.#maxConnections) {
      slot.refusal = 503;
      return slot;
    }
    if (address !== null) {
      this.#takeAddress(slot, address);
      if (slot.refusal !== 0) return slot;
    }
    this.#connections++;
    slot.counted = true;
    socket.once('close', () => this.#release(slot));
    return slot;
  }

  #takeAddress(slot: Slot, address: string): void {
    const count = this.#perAddress.get(address) ?? 0;
    if (count >= this.#maxPerAddress) {
      slot.refusal = 429;
      return;
    }
    this.#perAddress.set(address, count + 1);
    slot.address = address;
  }

  #release(slot: Slot): void {
    // A deferred address refused at admit counted here, though never per address.
    if (!slot.counted) return;
    slot.counted = false;
    this.#connections--;
    const address = slot.address;
    if (address === null) return;
    const count = this.#perAddress.get(address)! - 1;
    if (count <= 0) this.#perAddress.delete(address);
    else this.#perAddress.set(address, count);
  }

  #countHandshake(address: string): HandshakeError | null {
    const now = this.#now();
    const buckets = this.#buckets;
    let bucket = buckets.get(address);
    if (bucket === undefined) {
      this.#prune(now);
      bucket = new TokenBucket(this.#handshakes!.capacity, this.#handshakes!.per, now);
    } else {
      buckets.delete(address); // re-inserted below: the map stays ordered by last use
    }
    buckets.set(address, bucket);
    if (bucket.take(1, now)) return null;
    const seconds = Math.max(1, Math.ceil(bucket.msUntil(1, now) / 1000));
    return new HandshakeError(429, 'too many connection attempts from this address', { 'Retry-After': String(seconds) });
  }

  /** Forgets addresses whose bucket has refilled (they are at their initial state) and keeps the table bounded. */
  #prune(now: number): void {
    const buckets = this.#buckets;
    let examined = 0;
    for (const [address, bucket] of buckets) {
      if (examined++ >= PRUNE_PER_INSERT) break;
      if (bucket.isFull(now)) buckets.delete(address);
      else break; // the oldest in use is still limited: so are younger ones, mostly
    }
    while (buckets.size >= this.#maxTracked) {
      // Least recently seen first. Forgetting it resets its limit: bounded memory wins.
      buckets.delete(buckets.keys().next().value!);
    }
  }
}

function refusalError(status: number): HandshakeError {
  return status === 503
    ? new HandshakeError(503, 'the server has reached its connection limit')
    : new HandshakeError(429, 'too many connections from this address');
}

function pendingRefusal(): HandshakeError {
  return new HandshakeError(429, 'too many connections in progress from this address');
}

/** Whether a normalized address is a loopback address (127.0.0.0/8 or ::1). */
function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/**
 * `maxHandshakesPerIp` as a bucket's size and period, checked here rather than at the
 * first upgrade. Infinity handshakes is no limit; a fraction is one handshake per
 * `per / handshakes` ms (a bucket holds at least one).
 */
function handshakeRate(rate: AdmissionOptions['maxHandshakesPerIp']): { capacity: number; per: number } | null {
  if (rate === undefined) return null;
  const handshakes = typeof rate === 'number' ? limit(rate, 'maxHandshakesPerIp') : limit(rate.handshakes, 'maxHandshakesPerIp.handshakes');
  const per = typeof rate === 'number' ? DEFAULT_HANDSHAKE_PERIOD : limit(rate.per, 'maxHandshakesPerIp.per');
  if (handshakes === Infinity) return null;
  if (per === Infinity) throw new RangeError('maxHandshakesPerIp.per must be a finite number of ms, got Infinity');
  return handshakes >= 1 ? { capacity: handshakes, per } : { capacity: 1, per: per / handshakes };
}

function limit(value: number | undefined, name: string, alternative = ''): number {
  if (value === undefined) return Infinity;
  if (typeof value !== 'number' || !(value > 0) || Number.isNaN(value)) {
    throw new RangeError(`${name} must be a positive number${alternative}, got ${String(value)}`);
  }
  return value;
}
