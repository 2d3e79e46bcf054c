/**
 * Token signing for the tests, written independently of the verifier: JWS compact
 * serialization (RFC 7515 §7.1) over node:crypto.
 */
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export const SECRET = 'a-test-secret-of-at-least-32-bytes!!';

export function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/** Seconds since the epoch, the unit of `exp`, `nbf` and `iat`. */
export function seconds(offset = 0): number {
  return Math.floor(Date.now() / 1000) + offset;
}

export type SigningKey = { alg: 'HS256'; secret: string | Buffer } | { alg: 'RS256' | 'ES256'; privateKey: KeyObject } | { alg: 'none' };

/** Signs `payload` with `key`; `header` fields override the defaults (`alg`, `typ`). */
export function signJwt(payload: Record<string, unknown>, key: SigningKey, header: Record<string, unknown> = {}): string {
  const head = base64url(JSON.stringify({ alg: key.alg, typ: 'JWT', ...header }));
  const body = base64url(JSON.stringify(payload));
  const input = `${head}.${body}`;
  let signature: Buffer;
  if (key.alg === 'none') signature = Buffer.alloc(0);
  else if (key.alg === 'HS256') signature = createHmac('sha256', key.secret).update(input).digest();
  else if (key.alg === 'RS256') signature = sign('sha256', Buffer.from(input), key.privateKey);
  else signature = sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${base64url(signature)}`;
}

/** Fresh key pairs, generated at test time. */
export function keyPairs() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { rsa, ec };
}
