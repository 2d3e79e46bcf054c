/**
 * A dependency-free JSON Web Token verifier (RFC 7519, JWS compact serialization
 * RFC 7515) for HS256, RS256 and ES256 over node:crypto, and an `authenticate` hook
 * built on it.
 *
 * What is checked, in order: size and shape (three strict, canonical base64url parts);
 * the header's `alg` against the caller's allow-list (the header never chooses the
 * algorithm on its own, and `none` is never accepted); no `crit` extension; the
 * signature, with a key of the type the algorithm needs (an HMAC secret is never
 * confused with a public key); then `exp`, `nbf`, `aud` and `iss`. HMAC tags are
 * compared in constant time.
 *
 * Every failure is a `TokenError`: an `UpgradeError` 401 carrying the RFC 6750 §3
 * `WWW-Authenticate: Bearer error="invalid_token"` challenge, so throwing it from
 * `authenticate` answers the upgrade correctly.
 */
import { createHmac, createPublicKey, createSecretKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { UpgradeError, type UpgradeRequest } from '../node/server.js';
import { extractToken, type ExtractTokenOptions, type TokenRequest, type TokenSource } from './tokens.js';
import { kClockTolerance } from './expiry.js';

/** The algorithms this verifier implements (RFC 7518 §3.1). */
export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

const SUPPORTED: ReadonlySet<string> = new Set<JwtAlgorithm>(['HS256', 'RS256', 'ES256']);

/** The JOSE header of a token. */
export interface JwtHeader {
  alg: string;
  typ?: string;
  kid?: string;
  [name: string]: unknown;
}

/** The registered claims (RFC 7519 §4.1) and any others. Times in seconds since the epoch. */
export interface JwtClaims {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  [name: string]: unknown;
}

/** A public key, as a KeyObject or PEM/DER text. */
export type PublicKeyInput = KeyObject | string | Buffer;

export interface VerifyJwtOptions {
  /** The algorithms accepted: required, no default. `none` is refused. */
  algorithms: readonly JwtAlgorithm[];
  /** The HS256 secret: at least 32 bytes (RFC 7518 §3.2). */
  secret?: string | Buffer | Uint8Array | KeyObject;
  /**
   * The RS256/ES256 public key (RSA of 2048 bits or more; EC on P-256), or a function
   * choosing it from the header (`kid`), returning undefined for an unknown key.
   */
  key?: PublicKeyInput | ((header: JwtHeader) => PublicKeyInput | undefined);
  /** Accepted audiences: the token's `aud` must contain one. Default: `aud` not checked. */
  audience?: string | readonly string[];
  /** Accepted issuers: the token's `iss` must be one. Default: `iss` not checked. */
  issuer?: string | readonly string[];
  /** Seconds of clock skew allowed on `exp` and `nbf`. Default 0. */
  clockTolerance?: number;
  /** Refuse tokens without `exp`. Default false. */
  requireExp?: boolean;
  /** Longest token accepted, in characters. Default 8 192. */
  maxLength?: number;
  /** `realm` of the `WWW-Authenticate` challenge. Default: none. */
  realm?: string;
  /** The clock, ms since the epoch (tests). Default `Date.now`. */
  now?: () => number;
}

/** Why a token was refused. */
export type TokenErrorReason = 'missing' | 'malformed' | 'algorithm' | 'signature' | 'expired' | 'not_yet_valid' | 'audience' | 'issuer';

/**
 * A token was missing or invalid: status 401 with an RFC 6750 `WWW-Authenticate`
 * challenge. Throw it from `authenticate` (or let `jwtAuthenticator` do so).
 */
export class TokenError extends UpgradeError {
  /** Machine-readable cause. */
  readonly reason: TokenErrorReason;

  constructor(reason: TokenErrorReason, message: string, realm?: string) {
    super(401, message, { 'WWW-Authenticate': challenge(reason, message, realm) });
    this.reason = reason;
  }
}

export const DEFAULT_MAX_TOKEN_LENGTH = 8_192;
/** RFC 7518 §3.2: a key of the same size as the hash output or larger MUST be used. */
const MIN_HMAC_SECRET_BYTES = 32;
/** RFC 7518 §3.3: a key of size 2048 bits or larger MUST be used with RS256. */
const MIN_RSA_BITS = 2048;
/** ES256 signatures are R || S, 32 bytes each (RFC 7518 §3.4). */
const ES256_SIGNATURE_BYTES = 64;
const HS256_TAG_BYTES = 32;

const BASE64URL = /^[A-Za-z0-9_-]*$/;

interface CompiledOptions {
  algorithms: ReadonlySet<string>;
  secret: KeyObject | null;
  key: KeyObject | ((header: JwtHeader) => PublicKeyInput | undefined) | null;
  audience: readonly string[] | null;
  issuer: readonly string[] | null;
  tolerance: number;
  requireExp: boolean;
  maxLength: number;
  realm: string | undefined;
  now: () => number;
}

// Options objects are usually created once: compile (parse keys, validate) once each.
const compiled = new WeakMap<VerifyJwtOptions, CompiledOptions>();

/**
 * Verifies a JWT and returns its claims.
 *
 * @param token the compact serialization `header.payload.signature`
 * @param options algorithms (required), the key material, and the claims to check.
 *   Checked and compiled (keys parsed) once per options object: pass a new object to
 *   change them.
 * @returns the payload's claims
 * @throws {TokenError} (401) for a malformed token, a disallowed algorithm, a bad
 *   signature, an expired or not yet valid token, or a wrong audience or issuer.
 * @throws {TypeError} / {RangeError} for invalid options (no algorithms, `none`, a
 *   missing or unsuitable key, a short secret).
 * @example
 * const claims = verifyJwt(token, { algorithms: ['HS256'], secret: process.env.JWT_SECRET, audience: 'chat' });
 */
export function verifyJwt<Claims extends JwtClaims = JwtClaims>(token: string, options: VerifyJwtOptions): Claims {
  let config = compiled.get(options);
  if (config === undefined) {
    config = compileOptions(options);
    compiled.set(options, config);
  }
  return verifyCompiled(token, config) as Claims;
}

export interface JwtAuthenticatorOptions<Data> extends VerifyJwtOptions, ExtractTokenOptions {
  /**
   * Turns the verified claims into `ws.data`. Default: the claims themselves (whose
   * `exp` `closeOnTokenExpiry: true` reads, plus `clockTolerance`; an object built here
   * carries no tolerance: give `closeOnTokenExpiry` a function for it).
   */
  map?: (claims: JwtClaims, req: UpgradeRequest, source: TokenSource) => Data | Promise<Data>;
}

/**
 * An `authenticate` hook: reads the token from the request (`from`, default header then
 * subprotocol), verifies it, and resolves to the claims (or what `map` makes of them).
 * A request without a token is answered 401 with a bare `Bearer` challenge; an invalid
 * token 401 with `error="invalid_token"`; tokens in two places 400.
 *
 * @throws {TypeError} / {RangeError} at once for invalid options.
 * @example
 * new WebSocketServer({
 *   port: 8080,
 *   authenticate: jwtAuthenticator({ algorithms: ['ES256'], key: publicKeyPem, issuer: 'https://auth.example.com' }),
 *   closeOnTokenExpiry: true,
 * });
 */
export function jwtAuthenticator<Data = JwtClaims>(options: JwtAuthenticatorOptions<Data>): (req: UpgradeRequest) => Data | Promise<Data> {
  const config = compileOptions(options);
  const extract: ExtractTokenOptions = { from: options.from, queryParameter: options.queryParameter, protocolMarker: options.protocolMarker };
  const map = options.map;
  return (req) => {
    const found = extractToken(req as TokenRequest, extract);
    if (found === null) throw new TokenError('missing', 'an access token is required', config.realm);
    const claims = verifyCompiled(found.token, config);
    // closeOnTokenExpiry: true closes at exp plus the skew this check allowed, so that a
    // token accepted within the tolerance is not closed the moment it is accepted (also
    // when `map` returns the claims themselves).
    if (config.tolerance > 0) Object.defineProperty(claims, kClockTolerance, { value: config.tolerance });
    if (map !== undefined) return map(claims, req, found.source);
    return claims as Data;
  };
}

function compileOptions(options: VerifyJwtOptions): CompiledOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('verifyJwt needs options with "algorithms" and a key');
  const { algorithms } = options;
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new TypeError('the "algorithms" option is required: list the algorithms you accept, such as ["HS256"]');
  }
  for (const alg of algorithms) {
    if (!SUPPORTED.has(alg)) {
      throw new TypeError(`algorithm ${JSON.stringify(alg)} is not supported: use HS256, RS256 or ES256 (never "none")`);
    }
  }
  const wantsHmac = algorithms.includes('HS256');
  const wantsPublic = algorithms.includes('RS256') || algorithms.includes('ES256');
  let secret: KeyObject | null = null;
  if (wantsHmac) {
    if (options.secret === undefined) throw new TypeError('HS256 needs the "secret" option');
    secret = toSecretKey(options.secret);
  } else if (options.secret !== undefined) {
    throw new TypeError('"secret" is only used with HS256, which "algorithms" does not list');
  }
  let key: CompiledOptions['key'] = null;
  if (wantsPublic) {
    if (options.key === undefined) throw new TypeError('RS256 and ES256 need the "key" option (a public key)');
    key = typeof options.key === 'function' ? options.key : toPublicKey(options.key);
    if (typeof key !== 'function') checkKeyFits(key, algorithms);
  } else if (options.key !== undefined) {
    throw new TypeError('"key" is only used with RS256 or ES256, which "algorithms" does not list');
  }
  const tolerance = options.clockTolerance ?? 0;
  if (!(tolerance >= 0) || !Number.isFinite(tolerance)) throw new RangeError(`clockTolerance must be a non-negative number of seconds, got ${tolerance}`);
  const maxLength = options.maxLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  if (!(maxLength > 0)) throw new RangeError(`maxLength must be positive, got ${maxLength}`);
  if (options.realm !== undefined && !/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(options.realm)) {
    throw new TypeError('realm must be printable ASCII without " or \\');
  }
  return {
    algorithms: new Set(algorithms),
    secret,
    key,
    audience: toList(options.audience, 'audience'),
    issuer: toList(options.issuer, 'issuer'),
    tolerance,
    requireExp: options.requireExp ?? false,
    maxLength,
    realm: options.realm,
    now: options.now ?? Date.now,
  };
}

function verifyCompiled(token: string, config: CompiledOptions): JwtClaims {
  const fail = (reason: TokenErrorReason, message: string): never => {
    throw new TokenError(reason, message, config.realm);
  };
  if (typeof token !== 'string' || token.length === 0) return fail('malformed', 'malformed token');
  if (token.length > config.maxLength) return fail('malformed', 'token too long');
  const first = token.indexOf('.');
  const second = first === -1 ? -1 : token.indexOf('.', first + 1);
  if (second === -1 || token.indexOf('.', second + 1) !== -1) return fail('malformed', 'malformed token');
  const headerPart = token.slice(0, first);
  const payloadPart = token.slice(first + 1, second);
  const signaturePart = token.slice(second + 1);
  const header = decodeJson(headerPart);
  if (header === null || typeof header.alg !== 'string') return fail('malformed', 'malformed token header');
  const alg = header.alg;
  // RFC 8725 §3.1: the algorithm is the verifier's choice; the header only names it.
  if (!config.algorithms.has(alg)) return fail('algorithm', 'token algorithm not allowed');
  // RFC 7515 §4.1.11: extensions in "crit" must be understood; we support none.
  if (header.crit !== undefined) return fail('malformed', 'unsupported critical header');
  const signature = decodeBase64url(signaturePart);
  if (signature === null) return fail('malformed', 'malformed token signature');
  const signingInput = Buffer.from(token.slice(0, second), 'ascii');
  if (!verifySignature(alg as JwtAlgorithm, signingInput, signature, header as JwtHeader, config)) {
    return fail('signature', 'invalid token signature');
  }
  const claims = decodeJson(payloadPart);
  if (claims === null) return fail('malformed', 'malformed token payload');
  const now = config.now() / 1000;
  const { exp, nbf } = claims;
  if (exp !== undefined && (typeof exp !== 'number' || !Number.isFinite(exp))) return fail('malformed', 'malformed exp claim');
  if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf))) return fail('malformed', 'malformed nbf claim');
  if (exp === undefined && config.requireExp) return fail('malformed', 'token has no exp claim');
  // RFC 7519 §4.1.4: the current time MUST be before exp.
  if (exp !== undefined && now >= exp + config.tolerance) return fail('expired', 'token expired');
  // §4.1.5: not accepted before nbf.
  if (nbf !== undefined && now + config.tolerance < nbf) return fail('not_yet_valid', 'token not yet valid');
  if (config.audience !== null) {
    const aud = claims.aud;
    const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (!list.some((value) => typeof value === 'string' && config.audience!.includes(value))) {
      return fail('audience', 'token audience not allowed');
    }
  }
  if (config.issuer !== null && (typeof claims.iss !== 'string' || !config.issuer.includes(claims.iss))) {
    return fail('issuer', 'token issuer not allowed');
  }
  return claims as JwtClaims;
}

function verifySignature(alg: JwtAlgorithm, input: Buffer, signature: Buffer, header: JwtHeader, config: CompiledOptions): boolean {
  if (alg === 'HS256') {
    if (signature.length !== HS256_TAG_BYTES) return false;
    const expected = createHmac('sha256', config.secret!).update(input).digest();
    return timingSafeEqual(expected, signature);
  }
  let key: KeyObject;
  if (typeof config.key === 'function') {
    const chosen = config.key(header);
    if (chosen === undefined) return false;
    if (typeof (chosen as { then?: unknown }).then === 'function') {
      // Not an invalid token: a programming error, reported as such (500 at an upgrade).
      throw new TypeError('the key function returned a promise: it must return the key itself (fetch and cache remote keys beforehand)');
    }
    try {
      key = toPublicKey(chosen);
      checkKeyFits(key, [alg]);
    } catch {
      return false;
    }
  } else {
    key = config.key!;
    // A key of the other family (an EC key for an RS256 token, ...) cannot verify it.
    if (!keyFits(key, alg)) return false;
  }
  try {
    if (alg === 'RS256') return verify('sha256', input, key, signature);
    // JWS carries ECDSA signatures as raw R || S, not DER.
    if (signature.length !== ES256_SIGNATURE_BYTES) return false;
    return verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

function keyFits(key: KeyObject, alg: JwtAlgorithm): boolean {
  if (alg === 'RS256') return key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS;
  if (alg === 'ES256') return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  return false;
}

function checkKeyFits(key: KeyObject, algorithms: readonly string[]): void {
  const asymmetric = algorithms.filter((alg): alg is JwtAlgorithm => alg === 'RS256' || alg === 'ES256');
  if (!asymmetric.some((alg) => keyFits(key, alg))) {
    throw new TypeError(`the key (${key.asymmetricKeyType ?? key.type}) fits none of ${asymmetric.join(', ')}: RS256 needs an RSA key of 2048 bits or more, ES256 a P-256 key`);
  }
}

function toSecretKey(secret: NonNullable<VerifyJwtOptions['secret']>): KeyObject {
  let key: KeyObject;
  if (typeof secret === 'string' || secret instanceof Uint8Array) {
    key = createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret));
  } else if (isKeyObject(secret)) {
    if (secret.type !== 'secret') throw new TypeError('the HS256 secret must be a secret key, not a public or private key');
    key = secret;
  } else {
    throw new TypeError('secret must be a string, a Buffer or a secret KeyObject');
  }
  if (key.symmetricKeySize! < MIN_HMAC_SECRET_BYTES) {
    throw new RangeError(`the HS256 secret has ${key.symmetricKeySize} bytes: at least ${MIN_HMAC_SECRET_BYTES} are required (RFC 7518 §3.2)`);
  }
  return key;
}

function toPublicKey(input: PublicKeyInput): KeyObject {
  if (isKeyObject(input)) {
    if (input.type === 'secret') throw new TypeError('RS256 and ES256 need a public key, not a secret');
    return input.type === 'private' ? createPublicKey(input) : input;
  }
  if (typeof input === 'string' || Buffer.isBuffer(input)) return createPublicKey(input);
  throw new TypeError('key must be a KeyObject or a PEM string');
}

function isKeyObject(value: unknown): value is KeyObject {
  return typeof value === 'object' && value !== null && typeof (value as KeyObject).export === 'function' && typeof (value as KeyObject).type === 'string';
}

function toList(value: string | readonly string[] | undefined, name: string): readonly string[] | null {
  if (value === undefined) return null;
  const list = typeof value === 'string' ? [value] : [...value];
  if (list.length === 0 || list.some((item) => typeof item !== 'string')) throw new TypeError(`${name} must be a string or a non-empty list of strings`);
  return list;
}

/** Strict base64url: the alphabet only, no padding, and the canonical encoding of its bytes. */
function decodeBase64url(part: string): Buffer | null {
  if (!BASE64URL.test(part) || part.length % 4 === 1) return null;
  const bytes = Buffer.from(part, 'base64url');
  // Non-zero unused bits would make several strings decode to the same bytes.
  if (bytes.toString('base64url') !== part) return null;
  return bytes;
}

function decodeJson(part: string): Record<string, unknown> | null {
  const bytes = decodeBase64url(part);
  if (bytes === null || bytes.length === 0) return null;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** RFC 6750 §3: no error code when the request had no token; `invalid_token` otherwise. */
function challenge(reason: TokenErrorReason, description: string, realm: string | undefined): string {
  const params: string[] = [];
  if (realm !== undefined) params.push(`realm="${realm}"`);
  if (reason !== 'missing') {
    // §3: error_description is %x20-21 / %x23-5B / %x5D-7E.
    params.push('error="invalid_token"', `error_description="${description.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '')}"`);
  }
  return params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`;
}
