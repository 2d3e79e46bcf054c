/**
 * The hostile-input battery's common parts: a server that echoes, a well-behaved
 * witness connection that exchanges messages with it throughout an attack, and raw
 * attackers that write hand-made bytes.
 *
 * Every test asserts two things: the attack ends in its documented outcome (a close
 * code read from the server's close frame, or an HTTP status), and the witness, on the
 * same server, kept working: every message it sent during the attack came back, in
 * order, and it is still open at the end.
 */
import { expect } from 'vitest';
import type { WebSocket as PeerWebSocket } from 'ws';
import type { ServerOptions, WebSocket } from '../../src/index.js';
import {
  MS,
  Op,
  closeCodeOf,
  delay,
  nextEvent,
  peerClient,
  rawUpgrade,
  startServer,
  until,
  type RawClient,
  type Started,
} from '../node/helpers.js';

export * from '../node/helpers.js';

/** A server on 127.0.0.1 whose connections echo every message. */
export async function echoServer<Data = unknown>(options: Omit<ServerOptions<Data>, 'port' | 'host'> = {}): Promise<Started<Data>> {
  const started = await startServer<Data>(options);
  started.wss.on('connection', (ws: WebSocket<Data>) => {
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  return started;
}

/**
 * A well-behaved `ws` client on the server under attack: it sends a numbered message
 * every `every` ms and expects each echoed, in order.
 */
export class Witness {
  readonly ws: PeerWebSocket;
  sent = 0;
  echoed = 0;
  readonly problems: string[] = [];
  #timer: NodeJS.Timeout | null = null;

  private constructor(ws: PeerWebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const expected = `witness ${this.echoed}`;
      if (String(data) !== expected) this.problems.push(`echo #${this.echoed} was ${JSON.stringify(String(data).slice(0, 40))}`);
      this.echoed++;
    });
    ws.on('close', (code) => this.problems.push(`closed with ${code}`));
    ws.on('error', (error) => this.problems.push(`error: ${error.message}`));
  }

  /**
   * Opens the witness and starts its exchange.
   * @param localAddress another loopback address (127.0.0.2) when the attack comes from 127.0.0.1 and per-address limits apply
   */
  static async open(url: string, options: { localAddress?: string; every?: number } = {}): Promise<Witness> {
    const ws = peerClient(url, undefined, { localAddress: options.localAddress, perMessageDeflate: false });
    await nextEvent(ws, 'open');
    const witness = new Witness(ws);
    witness.#timer = setInterval(() => witness.#send(), options.every ?? 10 * MS);
    witness.#send();
    return witness;
  }

  #send(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(`witness ${this.sent++}`);
  }

  /**
   * Stops the exchange and checks that it went on through the attack: every message
   * came back in order, no error, still open, and one more round trip now.
   */
  async verify(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await until(() => this.echoed >= this.sent || this.problems.length > 0, `the witness's ${this.sent} echoes`);
    this.#send();
    await until(() => this.echoed >= this.sent || this.problems.length > 0, 'one more round trip of the witness');
    expect(this.problems).toEqual([]);
    expect(this.sent).toBeGreaterThan(1);
    expect(this.echoed).toBe(this.sent);
    expect(this.ws.readyState).toBe(this.ws.OPEN);
  }
}

/** An attacker past the handshake, with the server's side of its connection. */
export async function attacker<Data>(started: Started<Data>, headers: Record<string, string> = {}): Promise<{ raw: RawClient; ws: WebSocket<Data> }> {
  const connection = nextEvent<[WebSocket<Data>]>(started.wss, 'connection');
  const { raw } = await rawUpgrade(started.port, { headers });
  const [ws] = await connection;
  return { raw, ws };
}

/**
 * Reads frames until the server's close frame and returns its code; checks that the
 * server then closes the TCP connection too (a server fails a connection at once).
 */
export async function expectServerCloses(raw: RawClient, code: number, options: { endsTcp?: boolean } = {}): Promise<Buffer> {
  for (let i = 0; i < 10_000; i++) {
    const frame = await raw.readFrame();
    if (frame.opcode !== Op.Close) continue; // pongs and echoes before the failure
    expect(closeCodeOf(frame.payload)).toBe(code);
    if (options.endsTcp ?? true) await raw.waitEnd();
    return frame.payload.subarray(2);
  }
  throw new Error('no close frame');
}

/** Waits `ms` scaled milliseconds: lets an attack and the witness run side by side. */
export function during(ms: number): Promise<void> {
  return delay(ms * MS);
}

/**
 * Runs `attack` against an echo server with `options` while a witness exchanges
 * messages with the same server, then checks the witness.
 */
export async function underAttack<Data = unknown>(
  options: Omit<ServerOptions<Data>, 'port' | 'host'>,
  attack: (started: Started<Data>) => Promise<void>,
  witnessOptions: { localAddress?: string } = {},
): Promise<void> {
  const started = await echoServer<Data>(options);
  const witness = await Witness.open(started.url, witnessOptions);
  await attack(started);
  await witness.verify();
}
