/**
 * The address a connection is counted against: the TCP peer, or, when that peer is a
 * trusted proxy, the client it reports in `X-Forwarded-For`.
 *
 * `X-Forwarded-For` is a list each proxy appends its own peer to, so only its right end
 * is trustworthy: walk it from the right, past the proxies we trust, and take the first
 * address that is not one (the right-most untrusted address). Anything to its left was
 * written by the client and is ignored. A peer that is not a trusted proxy is taken as
 * is, whatever headers it sends: spoofing from outside does nothing.
 */
import { isIP } from 'node:net';

/** Proxies whose `X-Forwarded-For` is believed: exact addresses, or a predicate. */
export type TrustProxy = readonly string[] | ((address: string) => boolean);

/** What the address is read from (an `IncomingMessage` fits). */
export interface AddressedRequest {
  headers: Record<string, string | string[] | undefined>;
  socket: { remoteAddress?: string | undefined };
}

/**
 * A predicate for `trustProxy`, with its addresses normalized.
 *
 * @returns null when no proxy is trusted.
 * @throws {TypeError} for an entry that is not an IP address.
 */
export function compileTrustProxy(option: TrustProxy | undefined): ((address: string) => boolean) | null {
  if (option === undefined) return null;
  if (typeof option === 'function') return option;
  if (!Array.isArray(option)) throw new TypeError('trustProxy must be a list of IP addresses or a function');
  const trusted = new Set<string>();
  for (const entry of option) {
    const address = typeof entry === 'string' ? canonicalAddress(entry) : '';
    if (isIP(address) === 0) {
      throw new TypeError(`trustProxy entries must be IP addresses (use a function for ranges), got ${JSON.stringify(entry)}`);
    }
    trusted.add(address);
  }
  return (address) => trusted.has(address);
}

/**
 * The client address of a request.
 *
 * @param isTrusted from `compileTrustProxy`; null to use the TCP peer only
 * @returns the normalized address, or '' when the socket has none (already closed).
 * @example
 * clientAddress(req, compileTrustProxy(['10.0.0.2'])); // '203.0.113.7'
 */
export function clientAddress(req: AddressedRequest, isTrusted: ((address: string) => boolean) | null): string {
  const peer = normalizeAddress(req.socket.remoteAddress ?? '');
  if (isTrusted === null || peer === '' || !isTrusted(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  if (header === undefined) return peer;
  const hops = (Array.isArray(header) ? header.join(',') : header).split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = canonicalAddress(stripPort(hops[i]!.trim()));
    // Not an address: what the last trusted hop reported cannot be used, so the
    // connection is counted against that hop.
    if (isIP(hop) === 0) break;
    client = hop;
    if (!isTrusted(hop)) break;
  }
  return client;
}

/**
 * An address written by a person or a proxy, as the operating system writes a peer's
 * (`normalizeAddress` of `socket.remoteAddress`): IPv6 in its shortest form (RFC 5952:
 * `0:0:0:0:0:0:0:1` is `::1`), an IPv4-mapped one as IPv4. Anything else as
 * `normalizeAddress` leaves it.
 */
export function canonicalAddress(address: string): string {
  const normalized = normalizeAddress(address);
  // A zone (fe80::1%eth0) is kept as written: URLs do not take one.
  if (isIP(normalized) !== 6 || normalized.includes('%')) return normalized;
  const host = new URL(`http://[${normalized}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped === null) return host;
  const high = parseInt(mapped[1]!, 16);
  const low = parseInt(mapped[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** Lower case, and IPv4-mapped IPv6 (`::ffff:192.0.2.1`) as plain IPv4. */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  return lower;
}

/** `[2001:db8::1]:443` → `2001:db8::1`; `192.0.2.1:80` → `192.0.2.1` (some proxies add ports). */
function stripPort(hop: string): string {
  if (hop.startsWith('[')) {
    const end = hop.indexOf(']');
    return end === -1 ? hop : hop.slice(1, end);
  }
  const colon = hop.indexOf(':');
  if (colon !== -1 && colon === hop.lastIndexOf(':')) return hop.slice(0, colon);
  return hop;
}

/**
 * The client address of an upgrade request, as the server's connection caps see it
 * (for logs, or your own limits).
 *
 * @param trustProxy the server's `trustProxy` option
 * @example
 * wss.on('connection', (ws, req) => log.info({ ip: getClientAddress(req, ['10.0.0.2']) }));
 */
export function getClientAddress(req: AddressedRequest, trustProxy?: TrustProxy): string {
  return clientAddress(req, compileTrustProxy(trustProxy));
}
