/**
 * The client's opening handshake through an `agent` (an `http.Agent`, or a proxy agent
 * such as https-proxy-agent's): sent with node:http's `request` (node:https's for wss:),
 * as `ws` sends every handshake, so that the agent makes the connection. node:http reads
 * the response; its head is handed on as the `ResponseHead` the client's own parser
 * gives, so that both ways validate it with the same code and the same messages.
 */
import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { parseResponseHead, type ResponseHead } from '../protocol/http.js';
import { httpModule, httpsModule } from './builtins.js';
import type { ConnectOptions } from './client.js';

/** The error of a handshake whose connection closed before the response head was read. */
const CLOSED_BEFORE_RESPONSE = 'the connection closed before the opening handshake completed';

/**
 * The error of a connection the server closed before its response: with node:http's
 * code for it (ECONNRESET, as `ws`'s "socket hang up" has), for retry logic that tests it.
 */
export function closedBeforeResponse(cause?: Error): Error {
  return Object.assign(new Error(CLOSED_BEFORE_RESPONSE, cause === undefined ? undefined : { cause }), { code: 'ECONNRESET' });
}

/** The request to send through an agent. */
export interface AgentRequest {
  agent: Agent;
  /** node:https (wss:) or node:http. */
  isSecure: boolean;
  /** What the connection is made with, as without an agent (`path`: a Unix domain socket). */
  connect: ConnectOptions;
  /** The request target: path and query. */
  target: string;
  /** Header names and values, alternating, in the order they are sent (as `rawHeaders`). */
  headers: string[];
  /** Largest response head accepted, in bytes (node:http's `maxHeaderSize`). */
  maxHeaderBytes: number | undefined;
  /** Header lines kept of the response, as node:http's client keeps 2,000. */
  maxHeaders: number;
}

/** What becomes of the request; one of `response` and `error` is called, once. */
export interface AgentHandlers {
  /** The agent gave the request a socket (made or reused). */
  socket(socket: Socket): void;
  /**
   * The final response: a 101 with the upgraded socket and the bytes read past its head
   * (the start of the WebSocket stream), any other status without them but with
   * node:http's `message`, whose body is still to be read (or left).
   */
  response(head: ResponseHead, socket: Socket | null, rest: Buffer | null, message?: IncomingMessage): void;
  error(error: Error): void;
}

/** The fields of node:http's `IncomingMessage` (or of its `information` event) that make a response head. */
type MessageHead = Pick<IncomingMessage, 'httpVersion' | 'statusCode' | 'statusMessage' | 'rawHeaders'>;

/**
 * Sends the opening handshake through `request.agent`. Destroy the returned request to
 * abort it; nothing is reported after `response` or `error` has been.
 *
 * @throws what node:http's `request` throws synchronously, such as `ERR_INVALID_PROTOCOL`
 *   for an `http.Agent` given a wss: URL (as with `ws`).
 */
export function requestThroughAgent(request: AgentRequest, handlers: AgentHandlers): ClientRequest {
  const { path: socketPath, ...connect } = request.connect;
  const req = (request.isSecure ? httpsModule() : httpModule()).request({
    ...connect,
    socketPath,
    agent: request.agent,
    method: 'GET',
    path: request.target,
    headers: request.headers,
    maxHeaderSize: request.maxHeaderBytes,
  });
  let isSettled = false;
  const settle = (message: MessageHead, socket: Socket | null, rest: Buffer | null, body?: IncomingMessage) => {
    if (isSettled) return;
    isSettled = true;
    let head;
    try {
      head = headOf(message, request.maxHeaders);
    } catch (error) {
      socket?.destroy();
      handlers.error(error as Error);
      return;
    }
    handlers.response(head, socket, rest, body);
  };
  req.on('socket', (socket: Socket) => {
    if (!isSettled) handlers.socket(socket);
  });
  req.on('upgrade', (res: IncomingMessage, socket: Socket, rest: Buffer) => settle(res, socket, rest));
  req.on('response', (res: IncomingMessage) => settle(res, null, null, res));
  // A 101 without `Upgrade` and `Connection: upgrade` is no upgrade to node:http, which
  // takes it for an interim response and reads on: here it fails validation, as it does
  // on the client's own parser. Other interim responses are skipped, as there.
  req.on('information', (info: MessageHead) => {
    if (info.statusCode === 101) settle(info, null, null);
  });
  // Stays on after settling: destroying the request may still emit an error.
  req.on('error', (error: Error & { code?: string }) => {
    if (isSettled) return;
    isSettled = true;
    // node:http's name for a connection that closed before the response: said as
    // without an agent.
    handlers.error(error.code === 'ECONNRESET' && error.message === 'socket hang up' ? closedBeforeResponse(error) : error);
  });
  req.end();
  return req;
}

/**
 * The head of a response node:http has read, parsed again from its text by the client's
 * own parser: the same kind of object, with headers combined the same way, and held to
 * the same grammar, as a response the client reads itself.
 *
 * @throws {HandshakeError} where that grammar is stricter than node:http's.
 */
function headOf(message: MessageHead, maxHeaders: number): ResponseHead {
  const raw = message.rawHeaders;
  let text = `HTTP/${message.httpVersion} ${message.statusCode} ${message.statusMessage ?? ''}\r\n`;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  // node:http decodes heads as latin1: encoding them so gives back the bytes received.
  const bytes = Buffer.from(`${text}\r\n`, 'latin1');
  // node:http has held the head to maxHeaderSize already: the limits here only let it through.
  return parseResponseHead(bytes, { maxHeaderBytes: bytes.length + 1, maxRequestLineBytes: bytes.length + 1, maxHeaders })!;
}
