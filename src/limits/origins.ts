/**
 * The `origins` allowlist: the defence against cross-site WebSocket hijacking. Browsers
 * send cookies with a WebSocket upgrade from any site, and the same-origin policy does
 * not apply to WebSockets; only the `Origin` header, which a page cannot forge, tells
 * the server which site opened the connection (RFC 6455 §10.2).
 *
 * A request whose `Origin` is not allowed is answered 403. A request without `Origin`
 * comes from a non-browser client (browsers always send it), which no third-party page
 * can drive: it is allowed unless `requireOrigin` is set.
 */
import { HandshakeError } from '../protocol/errors.js';

/** An allowed origin (`https://app.example.com`, `null`), or a predicate. */
export type OriginRule<Req = any> = string | ((origin: string, req: Req) => boolean);

/**
 * Compiles the allowlist into a check.
 *
 * @param origins exact origins (ASCII case-insensitive; `https://a.example:443` is
 *   stored as `https://a.example`, as browsers send it) or predicates
 * @param requireOrigin refuse requests without an `Origin` header
 * @returns a function returning the error to answer with, or null to go on; null
 *   when there is nothing to check.
 * @throws {TypeError} for a string that is not an origin (a path, a query, `*`).
 */
export function compileOriginCheck<Req extends { headers: Record<string, string | string[] | undefined> }>(
  origins: ReadonlyArray<OriginRule<Req>> | undefined,
  requireOrigin = false,
): ((req: Req) => HandshakeError | null) | null {
  if (origins === undefined && !requireOrigin) return null;
  const exact = new Set<string>();
  const predicates: Array<(origin: string, req: Req) => boolean> = [];
  for (const rule of origins ?? []) {
    if (typeof rule === 'function') predicates.push(rule);
    else if (typeof rule === 'string') exact.add(normalizeOrigin(rule));
    else throw new TypeError('origins must contain strings or functions');
  }
  const checkAll = origins !== undefined;
  return (req) => {
    const header = req.headers.origin;
    if (header === undefined) {
      return requireOrigin ? new HandshakeError(403, 'an Origin header is required') : null;
    }
    if (!checkAll) return null;
    // Repeated headers arrive joined or as a list: never an allowed origin.
    const origin = typeof header === 'string' ? header : '';
    if (exact.has(origin.toLowerCase())) return null;
    for (const predicate of predicates) if (predicate(origin, req)) return null;
    return new HandshakeError(403, 'origin not allowed');
  };
}

function normalizeOrigin(rule: string): string {
  if (rule === 'null') return rule; // opaque origins: sandboxed frames, file: pages
  let url: URL;
  try {
    url = new URL(rule);
  } catch {
    throw new TypeError(`origins: ${JSON.stringify(rule)} is not an origin such as "https://app.example.com"`);
  }
  if (url.origin === 'null' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new TypeError(`origins: ${JSON.stringify(rule)} is not an origin such as "https://app.example.com" (no path or query)`);
  }
  return url.origin.toLowerCase();
}
