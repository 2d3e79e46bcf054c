/**
 * Peers that hold a connection without playing their part: one that never answers the
 * close handshake, one that goes silent (a half-open TCP connection: the peer is gone
 * and nothing says so). Both are cut off by a timer, `close` reports 1006, and a
 * witness on the same server goes on exchanging messages.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from '../../src/index.js';
import { MS, Op, attacker, closeAll, closeCodeOf, nextEvent, underAttack } from './helpers.js';

afterEach(closeAll);

describe('connections held open', () => {
  it('a peer that never answers the close handshake is cut off after closeTimeout (1006)', async () => {
    await underAttack({ closeTimeout: 200 * MS }, async (started) => {
      const { raw, ws } = await attacker(started);
      const closed = nextEvent<[number]>(ws, 'close');
      const startedAt = performance.now();
      ws.close(1000, 'bye');
      const frame = await raw.readFrame();
      expect([frame.opcode, closeCodeOf(frame.payload)]).toEqual([Op.Close, 1000]);
      // The raw client reads but never sends its close frame.
      const [code] = await closed;
      expect(code).toBe(1006);
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual(180 * MS);
    });
  });

  it('a peer that goes silent (half-open TCP) is terminated by the heartbeat (1006)', async () => {
    await underAttack({ heartbeat: { interval: 60 * MS, timeout: 60 * MS } }, async (started) => {
      const { raw, ws } = await attacker(started);
      // The raw client stops reading and never answers a ping: as if its host vanished.
      raw.socket.pause();
      const startedAt = performance.now();
      const [code] = await nextEvent<[number]>(ws as WebSocket, 'close');
      expect(code).toBe(1006);
      expect(performance.now() - startedAt).toBeLessThan(2000 * MS);
    });
  });
});
