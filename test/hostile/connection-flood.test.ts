/**
 * A client that opens connections by the thousand. Here it opens 1 600, from two
 * loopback addresses, in bursts of 100: both ends of every socket live in this process
 * and the test must stay short. `node test/hostile/measure.mjs` runs the full 10 000
 * from another process and measures the server's memory meanwhile.
 *
 * The caps refuse the flood with their documented statuses: 429 per address (open
 * connections over `maxConnectionsPerIp`, or upgrades in progress over
 * `maxPendingPerIp`, those answered at TCP accept), 503 once the server holds
 * `maxConnections`. A witness from a third address keeps exchanging messages all along,
 * a new client from a fourth connects while the per-address caps are hit, and once the
 * flood is gone every slot is back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from '../../src/index.js';
import { MS, Witness, closeAll, echoServer, nextEvent, rawConnect, track, until, upgradeRequest, type RawClient } from './helpers.js';

afterEach(closeAll);

/** Opens `count` raw connections from `localAddress` in bursts, each sending a valid upgrade request at once; returns their statuses. */
async function flood(port: number, localAddress: string, count: number): Promise<{ statuses: Map<number, number>; open: RawClient[] }> {
  const statuses = new Map<number, number>();
  const open: RawClient[] = [];
  for (let done = 0; done < count; done += 100) {
    const burst = await Promise.all(
      Array.from({ length: Math.min(100, count - done) }, async () => {
        const raw = await rawConnect(port, { localAddress });
        raw.write(upgradeRequest());
        return raw;
      }),
    );
    for (const raw of burst) {
      const response = await raw.readResponse(5000 * MS);
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      if (response.status === 101) open.push(raw);
    }
  }
  return { statuses, open };
}

describe('a client that opens connections by the thousand', () => {
  it('per-address caps answer 429, the server-wide cap 503; a witness and new clients from other addresses are served', { timeout: 60_000 * MS }, async () => {
    const { wss, port, url } = await echoServer({ maxConnections: 80, maxConnectionsPerIp: 50, maxPendingPerIp: 16, handshakeTimeout: 2000 * MS });
    const witness = await Witness.open(url, { localAddress: '127.0.0.2' });

    // One address: 50 connections open, everything else 429 (over the per-address caps).
    const first = await flood(port, '127.0.0.1', 800);
    expect(first.statuses.get(101)).toBe(50);
    expect(first.statuses.get(429)).toBe(750);
    expect(first.statuses.size).toBe(2);
    // A new client from another address connects meanwhile.
    const newcomer = track(new WebSocket(url, { localAddress: '127.0.0.4' }), (ws) => ws.terminate());
    await nextEvent(newcomer, 'open');
    newcomer.close();
    await nextEvent(newcomer, 'close');

    // A second address: the server fills up to maxConnections (80 = 50 + 29 + the witness), then 503.
    const second = await flood(port, '127.0.0.3', 800);
    expect(second.statuses.get(101)).toBe(29);
    expect((second.statuses.get(503) ?? 0) + (second.statuses.get(429) ?? 0)).toBe(771);
    expect(second.statuses.get(503)).toBeGreaterThan(0);
    expect(wss.clients.size).toBe(80);
    await witness.verify();

    // The flood leaves: every slot is given back.
    for (const raw of [...first.open, ...second.open]) raw.socket.destroy();
    await until(() => wss.clients.size === 1, 'the flood to be gone');
    const after = track(new WebSocket(url), (ws) => ws.terminate());
    await nextEvent(after, 'open');
    expect(wss.metrics().handshakes.rejected[429]).toBeGreaterThanOrEqual(750);
  });
});
