// The metrics fed by the other features: publish fan-out, backpressure drops and the
// heartbeat's ping round trips, observed through real sockets.
import { afterEach, describe, expect, it } from 'vitest';
import { SendStatus, type WebSocket } from '../../src/index.js';
import { closeAll, nextEvent, openClient, rawUpgrade, startServer, until } from '../helpers/sockets.js';

afterEach(closeAll);

describe('metrics fed by pub/sub, backpressure and the heartbeat', () => {
  it('counts every publish and broadcast with its recipients', async () => {
    const { wss, url } = await startServer();
    const connected: WebSocket[] = [];
    wss.on('connection', (ws) => {
      ws.subscribe('room');
      connected.push(ws);
    });
    const clients = await Promise.all([openClient(url), openClient(url), openClient(url)]);
    await until(() => connected.length === 3, 'three connections');
    const received = clients.map((client) => nextEvent(client, 'message'));
    wss.publish('room', 'to all three');
    await Promise.all(received);
    connected[0]!.publish('room', 'to the other two');
    wss.publish('empty room', 'to nobody');
    wss.broadcast('to everyone', { except: connected[1] });
    expect(wss.metrics().publish).toEqual({ messages: 4, recipients: 3 + 2 + 0 + 2 });
  });

  it('counts messages dropped for a full send buffer', async () => {
    const { wss, port } = await startServer({ maxBackpressure: 64 * 1024 });
    const connection = nextEvent<[WebSocket]>(wss, 'connection');
    const raw = await rawUpgrade(port);
    raw.socket.pause(); // never reads
    const [ws] = await connection;
    const chunk = Buffer.alloc(32 * 1024);
    let dropped = 0;
    for (let i = 0; i < 200 && dropped < 3; i++) {
      if (ws.send(chunk) === SendStatus.DROPPED) dropped++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(dropped).toBe(3);
    expect(wss.metrics().messages.dropped.backpressure).toBe(3);
  });

  it('records the round trip of heartbeat pings', async () => {
    const { wss, url } = await startServer({ heartbeat: { interval: 40, timeout: 1000 } });
    await openClient(url);
    await until(() => wss.metrics().pingRtt.count >= 1, 'a ping answered');
    const rtt = wss.metrics().pingRtt;
    expect(rtt.min).toBeGreaterThanOrEqual(0);
    expect(rtt.max).toBeLessThan(1000);
    expect(rtt.sum).toBeGreaterThanOrEqual(rtt.min);
  });
});
