/**
 * A small Chrome DevTools Protocol client on Volley's own WebSocket client: connects to
 * the endpoint Chromium prints with `--remote-debugging-port` and sends commands with a
 * bounded wait for each answer.
 */
import { WebSocket, type ClientOptions } from '../../src/index.js';
import { MS, nextEvent, within } from './helpers.js';

/** The bound of one command; a 14 MiB answer takes well under a second. */
export const COMMAND_TIMEOUT = 10_000 * MS;

export interface Answer {
  id: number;
  result?: any;
  error?: { code: number; message: string };
}

/** A connection to a DevTools endpoint. */
export interface Cdp {
  ws: WebSocket;
  /** Sends a command (to a target's session when `sessionId` is given) and resolves with its result. */
  call(method: string, params?: object, sessionId?: string): Promise<any>;
}

/** Opens a Volley client to `endpoint` (`ws://127.0.0.1:port/devtools/browser/<id>`). */
export async function connectCdp(endpoint: string, options: ClientOptions = {}): Promise<Cdp> {
  const ws = new WebSocket(endpoint, [], { maxPayload: 64 * 1024 * 1024, ...options });
  await nextEvent(ws, 'open', COMMAND_TIMEOUT);
  let lastId = 0;
  const waiting = new Map<number, (answer: Answer) => void>();
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as Partial<Answer>;
    if (message.id !== undefined) waiting.get(message.id)?.(message as Answer);
  });
  return {
    ws,
    async call(method, params = {}, sessionId) {
      const id = ++lastId;
      const answer = new Promise<Answer>((resolve) => waiting.set(id, resolve));
      ws.send(JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) }));
      const { result, error } = await within(answer, `the answer to ${method}`, COMMAND_TIMEOUT).finally(() => waiting.delete(id));
      if (error !== undefined) throw new Error(`${method} failed: ${error.message}`);
      return result;
    },
  };
}
