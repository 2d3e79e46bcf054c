/**
 * The echo server the Autobahn fuzzingclient tests: every message goes back as it came,
 * text as text and binary as binary.
 *
 *   PORT=9001 HOST=127.0.0.1 node autobahn/.build/server.mjs   (built by autobahn/run.mjs)
 *
 * `PORT` defaults to 9001 (0 picks a free port), `HOST` to 127.0.0.1; `HOST=0.0.0.0` when
 * the suite reaches it over a Docker bridge. Prints exactly one line once it listens, and
 * nothing per connection: the suite's report is where the cases are judged.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from '../src/index.js';

/** Large enough for the suite's biggest messages (9.1.6 and 9.2.6: 16 MiB). */
export const ECHO_MAX_PAYLOAD = 64 * 1024 * 1024;

export interface EchoServerOptions {
  port?: number;
  host?: string;
  maxPayload?: number;
}

export interface EchoServer {
  /** The URL it listens on, `ws://host:port`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Starts the echo server and resolves once it listens.
 *
 * @param options port (default 9001), host (default 127.0.0.1), maxPayload (default 64 MiB)
 * @returns the server's URL, port and a `close` that stops it
 * @throws the listen error (such as EADDRINUSE) as a rejection
 */
export function startEchoServer(options: EchoServerOptions = {}): Promise<EchoServer> {
  const host = options.host ?? '127.0.0.1';
  // permessage-deflate is accepted when the peer offers it (the 12.* and 13.* cases), as
  // soon as the library has the option. Passed through a variable so that the option
  // type-checks before it exists; unknown options are ignored.
  const serverOptions = {
    port: options.port ?? 9001,
    host,
    maxPayload: options.maxPayload ?? ECHO_MAX_PAYLOAD,
    perMessageDeflate: true,
  };
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer(serverOptions);
    wss.on('connection', (ws) => {
      // Peer violations close the connection with the right code; the error event only
      // reports the cause, and many cases provoke one on purpose.
      ws.on('error', () => {});
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (ws.readyState === ws.OPEN) ws.send(data, { binary: isBinary });
      });
    });
    const onError = (error: Error) => reject(error);
    wss.once('error', onError);
    wss.once('listening', () => {
      wss.off('error', onError);
      const address = wss.address();
      const port = typeof address === 'object' && address !== null ? address.port : serverOptions.port;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `ws://${shownHost}:${port}`,
        port,
        close: () =>
          new Promise<void>((done) => {
            for (const client of wss.clients) client.terminate();
            wss.close(() => done());
          }),
      });
    });
  });
}

async function main(): Promise<void> {
  const port = process.env.PORT === undefined || process.env.PORT === '' ? 9001 : Number(process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`autobahn echo server: PORT must be a port number, got "${process.env.PORT}"`);
    process.exit(2);
  }
  const host = process.env.HOST || '127.0.0.1';
  let server: EchoServer;
  try {
    server = await startEchoServer({ port, host });
  } catch (error) {
    console.error(`autobahn echo server: cannot listen on ${host}:${port}: ${(error as Error).message}`);
    process.exit(1);
  }
  console.log(`autobahn echo server listening on ${server.url}`);
  const stop = () => {
    void server.close().then(() => process.exit(0));
    // A connection that will not close must not keep the process alive.
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function isEntryPoint(): boolean {
  if (process.argv[1] === undefined) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) void main();
