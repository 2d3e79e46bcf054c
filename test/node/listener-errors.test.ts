import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from '../../src/index.js';
import { encodeFrame, FIN, Opcode } from '../../src/protocol/frame.js';
import { closeAll, TIMEOUT } from './helpers.js';

afterEach(closeAll);

describe('exceptions thrown by listeners', () => {
  it('regression: a throwing message listener became a silent 1011 close instead of an exception', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    const thrown = new Error('listener bug');
    const received: string[] = [];
    const connected = new Promise<WebSocket>((resolve) => wss.on('connection', resolve));
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    await new Promise((resolve) => client.once('open', resolve));
    const server = await connected;
    server.on('message', (data) => {
      received.push(data.toString());
      if (data.toString() === 'boom') throw thrown;
    });
    // Feed a client frame the way the socket would, to catch what its 'data' emit throws.
    const frame = encodeFrame(FIN | Opcode.Text, 'boom', Buffer.from([1, 2, 3, 4])) as Buffer;
    expect(() => server.socket!.emit('data', frame)).toThrow(thrown);
    // The connection goes on: the application's error did not fail the parser.
    client.send('after');
    await expect.poll(() => received, { timeout: TIMEOUT }).toEqual(['boom', 'after']);
    expect(server.readyState).toBe(WebSocket.OPEN);
    client.close();
    await wss.close();
  });
});
