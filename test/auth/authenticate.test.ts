/**
 * Authentication at the upgrade, through real sockets: every refused token is answered
 * 401 with a `WWW-Authenticate` challenge before any 101, and never reaches
 * `connection`; valid tokens put their claims in `ws.data`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { jwtAuthenticator, type JwtAuthenticatorOptions, type JwtClaims, type WebSocket } from '../../src/index.js';
import { closeAll, nextEvent, openClient, rawUpgrade, startAttachedServer, startServer } from '../helpers/sockets.js';
import { SECRET, keyPairs, seconds, signJwt, type SigningKey } from './sign.js';

afterEach(closeAll);

const { rsa, ec } = keyPairs();
const claims = () => ({ sub: 'alice', aud: 'chat', iss: 'https://auth.test', exp: seconds(60) });
const hsKey: SigningKey = { alg: 'HS256', secret: SECRET };
const hsOptions: JwtAuthenticatorOptions<JwtClaims> = { algorithms: ['HS256'], secret: SECRET, audience: 'chat', issuer: 'https://auth.test' };

/** A server that counts connections, so a refused upgrade can be shown never to reach it. */
async function authServer(options: JwtAuthenticatorOptions<JwtClaims> = hsOptions, attached = false) {
  const server = attached
    ? await startAttachedServer<JwtClaims>({ authenticate: jwtAuthenticator(options) })
    : await startServer<JwtClaims>({ authenticate: jwtAuthenticator(options) });
  const connections: Array<WebSocket<JwtClaims>> = [];
  server.wss.on('connection', (ws: WebSocket<JwtClaims>) => connections.push(ws));
  return { ...server, connections };
}

describe('refused tokens → 401 before any 101', () => {
  const cases: Array<[string, () => string, RegExp]> = [
    ['expired', () => signJwt({ ...claims(), exp: seconds(-1) }, hsKey), /error="invalid_token", error_description="token expired"/],
    ['forged (another secret)', () => signJwt(claims(), { alg: 'HS256', secret: 'not-the-server-secret-but-32-bytes-long' }), /error_description="invalid token signature"/],
    ['tampered payload', () => {
      const [h, , s] = signJwt(claims(), hsKey).split('.');
      return `${h}.${Buffer.from(JSON.stringify({ ...claims(), sub: 'root' })).toString('base64url')}.${s}`;
    }, /invalid token signature/],
    ['wrong algorithm (RS256 where HS256 is required)', () => signJwt(claims(), { alg: 'RS256', privateKey: rsa.privateKey }), /token algorithm not allowed/],
    ['alg none', () => signJwt(claims(), { alg: 'none' }), /token algorithm not allowed/],
    ['wrong audience', () => signJwt({ ...claims(), aud: 'billing' }, hsKey), /token audience not allowed/],
    ['wrong issuer', () => signJwt({ ...claims(), iss: 'https://evil.test' }, hsKey), /token issuer not allowed/],
    ['nbf in the future', () => signJwt({ ...claims(), nbf: seconds(120) }, hsKey), /token not yet valid/],
    ['malformed', () => 'not.a.jwt', /error="invalid_token"/],
  ];

  it.each(cases)('%s', async (_, token, challenge) => {
    const { port, connections } = await authServer();
    const response = await rawUpgrade(port, { headers: { Authorization: `Bearer ${token()}` } });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(response.headers['www-authenticate']).toMatch(challenge);
    expect(response.headers['sec-websocket-accept']).toBeUndefined();
    expect(connections).toHaveLength(0);
  });

  it('missing token → 401 with a bare Bearer challenge (RFC 6750 §3.1: no error code)', async () => {
    const { port, connections } = await authServer();
    const response = await rawUpgrade(port);
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.body).toBe('an access token is required\n');
    expect(connections).toHaveLength(0);
  });

  it('another Authorization scheme counts as missing', async () => {
    const { port } = await authServer();
    const response = await rawUpgrade(port, { headers: { Authorization: 'Basic YWxpY2U6c2VjcmV0' } });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
  });

  it.each([false, true])('two Authorization lines → 401, though each token is valid (attached to node:http: %s)', async (attached) => {
    const { port, connections } = await authServer(hsOptions, attached);
    // Two spellings of the name: two lines. node:http (and the own port's req) keep only the first in req.headers.
    const response = await rawUpgrade(port, { headers: { Authorization: `Bearer ${signJwt(claims(), hsKey)}`, authorization: `Bearer ${signJwt({ ...claims(), sub: 'bob' }, hsKey)}` } });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(connections).toHaveLength(0);
  });

  it('a token in two places → 400 invalid_request (RFC 6750 §2: one method only)', async () => {
    const { port } = await authServer();
    const token = signJwt(claims(), hsKey);
    const response = await rawUpgrade(port, { headers: { Authorization: `Bearer ${token}`, 'Sec-WebSocket-Protocol': `bearer, ${token}` } });
    expect(response.status).toBe(400);
    expect(response.headers['www-authenticate']).toMatch(/error="invalid_request"/);
  });

  it('the attached (http server) path refuses the same way', async () => {
    const { port, connections } = await authServer(hsOptions, true);
    const response = await rawUpgrade(port, { headers: { Authorization: `Bearer ${signJwt({ ...claims(), exp: seconds(-1) }, hsKey)}` } });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/token expired/);
    expect(connections).toHaveLength(0);
  });
});

describe('valid tokens → ws.data holds the claims', () => {
  it.each([
    ['HS256', hsOptions, hsKey],
    ['RS256', { algorithms: ['RS256'], key: rsa.publicKey, audience: 'chat' }, { alg: 'RS256', privateKey: rsa.privateKey }],
    ['ES256', { algorithms: ['ES256'], key: ec.publicKey, issuer: 'https://auth.test' }, { alg: 'ES256', privateKey: ec.privateKey }],
  ] as Array<[string, JwtAuthenticatorOptions<JwtClaims>, SigningKey]>)('%s in the Authorization header', async (_, options, key) => {
    const { url, wss } = await authServer(options);
    const connection = nextEvent<[WebSocket<JwtClaims>]>(wss, 'connection');
    const token = signJwt(claims(), key);
    await openClient(url, [], { headers: { Authorization: `Bearer ${token}` } });
    const [ws] = await connection;
    expect(ws.data).toMatchObject({ sub: 'alice', aud: 'chat' });
  });

  it('a key pair of one algorithm does not open the other', async () => {
    const { port } = await authServer({ algorithms: ['RS256', 'ES256'], key: rsa.publicKey });
    const response = await rawUpgrade(port, { headers: { Authorization: `Bearer ${signJwt(claims(), { alg: 'ES256', privateKey: ec.privateKey })}` } });
    expect(response.status).toBe(401);
  });

  it('the browser carrier: subprotocols ["bearer", token]; the 101 selects "bearer", never the token', async () => {
    const { port, url, wss } = await authServer();
    const token = signJwt(claims(), hsKey);
    const raw = await rawUpgrade(port, { headers: { 'Sec-WebSocket-Protocol': `bearer, ${token}` } });
    expect(raw.status).toBe(101);
    expect(raw.headers['sec-websocket-protocol']).toBe('bearer');
    raw.socket.destroy();
    const connection = nextEvent<[WebSocket<JwtClaims>]>(wss, 'connection');
    const client = await openClient(url, ['bearer', token]);
    expect(client.protocol).toBe('bearer');
    expect((await connection)[0].data.sub).toBe('alice');
  });

  it('an application subprotocol offered first is the one selected', async () => {
    const { port } = await authServer();
    const token = signJwt(claims(), hsKey);
    const raw = await rawUpgrade(port, { headers: { 'Sec-WebSocket-Protocol': `chat.v1, bearer, ${token}` } });
    expect(raw.status).toBe(101);
    expect(raw.headers['sec-websocket-protocol']).toBe('chat.v1');
  });

  it('a query parameter when enabled (from: ["query"])', async () => {
    const { url, wss } = await authServer({ ...hsOptions, from: ['query'], queryParameter: 'access_token' });
    const connection = nextEvent<[WebSocket<JwtClaims>]>(wss, 'connection');
    await openClient(`${url}/?access_token=${signJwt(claims(), hsKey)}`);
    expect((await connection)[0].data.iss).toBe('https://auth.test');
  });

  it('the query parameter is ignored unless enabled', async () => {
    const { port } = await authServer();
    const response = await rawUpgrade(port, { path: `/?token=${signJwt(claims(), hsKey)}` });
    expect(response.status).toBe(401);
  });

  it('map turns claims into ws.data, and may be async', async () => {
    const { url, wss } = await startServer<{ user: string }>({
      authenticate: jwtAuthenticator({ ...hsOptions, map: async (c) => ({ user: String(c.sub) }) }),
    });
    const connection = nextEvent<[WebSocket<{ user: string }>]>(wss, 'connection');
    await openClient(url, [], { headers: { Authorization: `Bearer ${signJwt(claims(), hsKey)}` } });
    expect((await connection)[0].data).toEqual({ user: 'alice' });
  });
});
