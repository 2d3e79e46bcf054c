/**
 * verifyJwt without sockets: signature, algorithm allow-list, claims, strict parsing,
 * and option validation. The socket-level behaviour is in authenticate.test.ts.
 */
import { createHmac, createPublicKey, createSecretKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TokenError, verifyJwt, type VerifyJwtOptions } from '../../src/auth/jwt.js';
import { SECRET, base64url, keyPairs, seconds, signJwt } from './sign.js';

const { rsa, ec } = keyPairs();
const hs: VerifyJwtOptions = { algorithms: ['HS256'], secret: SECRET };

function refusal(token: string, options: VerifyJwtOptions): TokenError {
  try {
    verifyJwt(token, options);
  } catch (error) {
    expect(error).toBeInstanceOf(TokenError);
    return error as TokenError;
  }
  throw new Error('the token was accepted');
}

describe('signatures', () => {
  it('HS256 token with the right secret → claims', () => {
    const token = signJwt({ sub: 'alice', exp: seconds(60) }, { alg: 'HS256', secret: SECRET });
    expect(verifyJwt(token, hs)).toMatchObject({ sub: 'alice' });
  });

  it('RS256 token with the public key (KeyObject or PEM) → claims', () => {
    const token = signJwt({ sub: 'bob' }, { alg: 'RS256', privateKey: rsa.privateKey });
    expect(verifyJwt(token, { algorithms: ['RS256'], key: rsa.publicKey }).sub).toBe('bob');
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(verifyJwt(token, { algorithms: ['RS256'], key: pem }).sub).toBe('bob');
  });

  it('ES256 token (raw R||S signature) → claims', () => {
    const token = signJwt({ sub: 'carol' }, { alg: 'ES256', privateKey: ec.privateKey });
    expect(verifyJwt(token, { algorithms: ['ES256'], key: ec.publicKey }).sub).toBe('carol');
  });

  it('a key chosen by kid', () => {
    const token = signJwt({ sub: 'dave' }, { alg: 'ES256', privateKey: ec.privateKey }, { kid: 'k1' });
    const options: VerifyJwtOptions = { algorithms: ['ES256'], key: (header) => (header.kid === 'k1' ? ec.publicKey : undefined) };
    expect(verifyJwt(token, options).sub).toBe('dave');
    const other = signJwt({ sub: 'dave' }, { alg: 'ES256', privateKey: ec.privateKey }, { kid: 'k2' });
    expect(refusal(other, options).reason).toBe('signature');
  });

  it('a key function that returns a promise is a TypeError, not an invalid token', () => {
    const token = signJwt({ sub: 'dave' }, { alg: 'ES256', privateKey: ec.privateKey }, { kid: 'k1' });
    const options = { algorithms: ['ES256'], key: async () => ec.publicKey } as unknown as VerifyJwtOptions;
    expect(() => verifyJwt(token, options)).toThrow(/returned a promise/);
  });

  it.each([
    ['HS256 signed with another secret', () => signJwt({}, { alg: 'HS256', secret: 'another-secret-of-at-least-32-bytes!!' }), hs],
    ['RS256 signed with another key', () => signJwt({}, { alg: 'RS256', privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey }), { algorithms: ['RS256'], key: rsa.publicKey }],
    ['ES256 signed with another key', () => signJwt({}, { alg: 'ES256', privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }), { algorithms: ['ES256'], key: ec.publicKey }],
  ] as const)('forged: %s → signature', (_, make, options) => {
    expect(refusal(make(), options as VerifyJwtOptions).reason).toBe('signature');
  });

  it('a changed payload with the original signature → signature', () => {
    const token = signJwt({ sub: 'alice', admin: false }, { alg: 'HS256', secret: SECRET });
    const [head, , signature] = token.split('.');
    const forged = `${head}.${base64url(JSON.stringify({ sub: 'alice', admin: true }))}.${signature}`;
    expect(refusal(forged, hs).reason).toBe('signature');
  });

  it('ES256 with a DER signature instead of raw R||S → signature', () => {
    const token = signJwt({}, { alg: 'ES256', privateKey: ec.privateKey });
    const [head, body] = token.split('.');
    const der = cryptoSign('sha256', Buffer.from(`${head}.${body}`), ec.privateKey);
    expect(refusal(`${head}.${body}.${base64url(der)}`, { algorithms: ['ES256'], key: ec.publicKey }).reason).toBe('signature');
  });
});

describe('algorithms: the verifier chooses', () => {
  it('alg "none" with an empty signature → algorithm', () => {
    const token = signJwt({ sub: 'mallory' }, { alg: 'none' });
    expect(refusal(token, hs).reason).toBe('algorithm');
  });

  it.each(['none', 'None', 'NONE', 'HS384', 'HS512', 'RS512', 'PS256', 'EdDSA'])('alg %s → algorithm', (alg) => {
    const token = signJwt({}, { alg: 'HS256', secret: SECRET }, { alg });
    expect(refusal(token, hs).reason).toBe('algorithm');
  });

  it('an algorithm valid but not in the allow-list → algorithm', () => {
    const token = signJwt({}, { alg: 'RS256', privateKey: rsa.privateKey });
    expect(refusal(token, hs).reason).toBe('algorithm');
  });

  it('key confusion: HS256 signed with the RSA public key as the secret → refused', () => {
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const token = signJwt({ sub: 'mallory' }, { alg: 'HS256', secret: pem });
    // Only RS256 allowed: the header's HS256 is refused.
    expect(refusal(token, { algorithms: ['RS256'], key: pem }).reason).toBe('algorithm');
    // Both allowed: the HMAC secret is the configured one, never the public key.
    expect(refusal(token, { algorithms: ['HS256', 'RS256'], secret: SECRET, key: pem }).reason).toBe('signature');
  });

  it('an ES256 token against an RSA key, with both algorithms allowed → signature', () => {
    const token = signJwt({}, { alg: 'ES256', privateKey: ec.privateKey });
    expect(refusal(token, { algorithms: ['RS256', 'ES256'], key: rsa.publicKey }).reason).toBe('signature');
  });

  it('a crit header → malformed', () => {
    const token = signJwt({}, { alg: 'HS256', secret: SECRET }, { crit: ['b64'], b64: false });
    expect(refusal(token, hs).reason).toBe('malformed');
  });
});

describe('claims', () => {
  const sign = (payload: Record<string, unknown>) => signJwt(payload, { alg: 'HS256', secret: SECRET });

  it('exp in the past → expired; exactly now → expired (RFC 7519: now MUST be before exp)', () => {
    expect(refusal(sign({ exp: seconds(-10) }), hs).reason).toBe('expired');
    const now = 1_700_000_000;
    expect(refusal(sign({ exp: now }), { ...hs, now: () => now * 1000 }).reason).toBe('expired');
    expect(verifyJwt(sign({ exp: now + 1 }), { ...hs, now: () => now * 1000 }).exp).toBe(now + 1);
  });

  it('clockTolerance extends exp and nbf by that many seconds', () => {
    const now = 1_700_000_000;
    const options = { ...hs, clockTolerance: 30, now: () => now * 1000 };
    expect(verifyJwt(sign({ exp: now - 29 }), options)).toBeTruthy();
    expect(refusal(sign({ exp: now - 30 }), options).reason).toBe('expired');
    expect(verifyJwt(sign({ nbf: now + 30 }), options)).toBeTruthy();
    expect(refusal(sign({ nbf: now + 31 }), options).reason).toBe('not_yet_valid');
  });

  it('nbf in the future → not_yet_valid', () => {
    expect(refusal(sign({ nbf: seconds(60) }), hs).reason).toBe('not_yet_valid');
  });

  it('exp or nbf that are not numbers → malformed', () => {
    expect(refusal(sign({ exp: String(seconds(60)) }), hs).reason).toBe('malformed');
    expect(refusal(sign({ nbf: null }), hs).reason).toBe('malformed');
  });

  it('requireExp refuses tokens without exp', () => {
    expect(verifyJwt(sign({}), hs)).toEqual({});
    expect(refusal(sign({}), { ...hs, requireExp: true }).reason).toBe('malformed');
  });

  it('audience: a string or a list, matched against aud string or array', () => {
    const options = { ...hs, audience: ['chat', 'feed'] };
    expect(verifyJwt(sign({ aud: 'feed' }), options)).toBeTruthy();
    expect(verifyJwt(sign({ aud: ['other', 'chat'] }), options)).toBeTruthy();
    expect(refusal(sign({ aud: 'billing' }), options).reason).toBe('audience');
    expect(refusal(sign({}), options).reason).toBe('audience');
    expect(refusal(sign({ aud: [1, 2] }), options).reason).toBe('audience');
  });

  it('issuer: exact match', () => {
    const options = { ...hs, issuer: 'https://auth.example.com' };
    expect(verifyJwt(sign({ iss: 'https://auth.example.com' }), options)).toBeTruthy();
    expect(refusal(sign({ iss: 'https://evil.example.com' }), options).reason).toBe('issuer');
    expect(refusal(sign({}), options).reason).toBe('issuer');
  });
});

describe('strict parsing', () => {
  const good = signJwt({ sub: 'alice' }, { alg: 'HS256', secret: SECRET });
  const [head, body, sig] = good.split('.') as [string, string, string];

  it.each([
    ['empty', ''],
    ['two parts', `${head}.${body}`],
    ['four parts', `${good}.x`],
    ['padding', `${head}.${body}.${sig}=`],
    ['standard base64 characters', `${head}.${body}.${sig.replace(/-/g, '+').replace(/_/g, '/')}+`],
    ['header not JSON', `${base64url('{alg:HS256}')}.${body}.${sig}`],
    ['header an array', `${base64url('["HS256"]')}.${body}.${sig}`],
    ['whitespace', ` ${good}`],
  ])('%s → malformed or refused', (_, token) => {
    expect(['malformed', 'signature', 'algorithm']).toContain(refusal(token, hs).reason);
  });

  it('a payload that is not a JSON object, correctly signed → malformed', () => {
    const h = base64url(JSON.stringify({ alg: 'HS256' }));
    const p = base64url('[1,2]');
    const s = createHmac('sha256', SECRET).update(`${h}.${p}`).digest('base64url');
    expect(refusal(`${h}.${p}.${s}`, hs).reason).toBe('malformed');
  });

  it('a non-canonical signature encoding (changed unused bits) → malformed', () => {
    // 32 bytes encode as 43 characters whose last one carries 2 unused bits.
    const last = sig[sig.length - 1]!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
    expect(refusal(`${head}.${body}.${sig.slice(0, -1)}${twin}`, hs).reason).toBe('malformed');
  });

  it('a token longer than maxLength → malformed', () => {
    expect(refusal(good, { ...hs, maxLength: good.length - 1 }).reason).toBe('malformed');
  });
});

describe('errors answer the upgrade', () => {
  it('401 with an RFC 6750 invalid_token challenge, and a realm when configured', () => {
    const error = refusal(signJwt({ exp: seconds(-5) }, { alg: 'HS256', secret: SECRET }), { ...hs, realm: 'chat' });
    expect(error.status).toBe(401);
    expect(error.message).toBe('token expired');
    expect(error.headers['WWW-Authenticate']).toBe('Bearer realm="chat", error="invalid_token", error_description="token expired"');
  });
});

describe('options', () => {
  it.each([
    ['no algorithms', { secret: SECRET }],
    ['empty algorithms', { algorithms: [], secret: SECRET }],
    ['"none" allowed', { algorithms: ['none'], secret: SECRET }],
    ['unsupported algorithm', { algorithms: ['HS512'], secret: SECRET }],
    ['HS256 without a secret', { algorithms: ['HS256'] }],
    ['RS256 without a key', { algorithms: ['RS256'] }],
    ['a secret without HS256', { algorithms: ['RS256'], key: rsa.publicKey, secret: SECRET }],
    ['an EC key for RS256', { algorithms: ['RS256'], key: ec.publicKey }],
    ['an RSA key for ES256', { algorithms: ['ES256'], key: rsa.publicKey }],
    ['a secret KeyObject as the public key', { algorithms: ['RS256'], key: createSecretKey(Buffer.alloc(32)) }],
    ['a public key as the HMAC secret', { algorithms: ['HS256'], secret: createPublicKey(rsa.privateKey) }],
    ['no options', null],
    ['a key without RS256 or ES256', { algorithms: ['HS256'], secret: SECRET, key: rsa.publicKey }],
    ['a secret that is a number', { algorithms: ['HS256'], secret: 42 }],
    ['a key that is a number', { algorithms: ['ES256'], key: 42 }],
    ['a realm with a double quote', { algorithms: ['HS256'], secret: SECRET, realm: 'say "hi"' }],
    ['a realm with a backslash', { algorithms: ['HS256'], secret: SECRET, realm: 'a\\b' }],
  ])('%s → TypeError', (_, options) => {
    expect(() => verifyJwt('a.b.c', options as unknown as VerifyJwtOptions)).toThrow(TypeError);
  });

  it.each([
    ['a negative clockTolerance', { clockTolerance: -1 }],
    ['a clockTolerance of NaN', { clockTolerance: Number.NaN }],
    ['an infinite clockTolerance', { clockTolerance: Infinity }],
    ['maxLength 0', { maxLength: 0 }],
  ])('%s → RangeError', (_, extra) => {
    expect(() => verifyJwt('a.b.c', { algorithms: ['HS256'], secret: SECRET, ...extra })).toThrow(RangeError);
  });

  it('an HS256 secret under 32 bytes → RangeError (RFC 7518 §3.2)', () => {
    expect(() => verifyJwt('a.b.c', { algorithms: ['HS256'], secret: 'short' })).toThrow(RangeError);
  });

  it('an RSA key under 2048 bits → TypeError (RFC 7518 §3.3)', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => verifyJwt('a.b.c', { algorithms: ['RS256'], key: small.publicKey })).toThrow(TypeError);
  });

  it('a private key is accepted and used as its public half', () => {
    const token = signJwt({ sub: 'x' }, { alg: 'ES256', privateKey: ec.privateKey });
    expect(verifyJwt(token, { algorithms: ['ES256'], key: ec.privateKey }).sub).toBe('x');
  });
});
