/**
 * `createWebSocketStream`: a WebSocket as a Node.js duplex stream, as `ws` has it.
 *
 * Each message received is one chunk on the readable side, and each chunk written is
 * sent as one message (binary for Buffers, text for strings written with
 * `decodeStrings: false`). A readable side that is not read pauses the WebSocket, which
 * stops reading its socket: backpressure reaches the peer. Ending the writable side
 * closes the WebSocket (code 1005, a clean close handshake); the readable side ends when
 * the WebSocket closes; destroying the stream terminates the WebSocket.
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import { ReadyState } from '../protocol/connection.js';
import type { WebSocket } from './websocket.js';

/**
 * Wraps `ws` (open, or still connecting) in a duplex stream.
 *
 * @param ws the WebSocket to wrap
 * @param options options for the `Duplex` constructor (default: not in object mode, and
 *   neither `autoDestroy` nor `emitClose`: the stream is destroyed, and emits `close`,
 *   once both of its sides are done)
 * @example
 * const duplex = createWebSocketStream(ws);
 * duplex.pipe(process.stdout);
 * process.stdin.pipe(duplex);
 */
export function createWebSocketStream(ws: WebSocket<any>, options?: DuplexOptions): Duplex {
  /** Set while the WebSocket is paused because the readable side is full. */
  let pausedForReader = false;
  /** Whether destroying the stream terminates the WebSocket (not after its own error). */
  let terminateOnDestroy = true;

  // The stream's own choices win over the caller's, as in ws: 'close' is emitted by
  // hand below (once), and what is written is bytes; the readable side may be in
  // object mode (messages as they are).
  const duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false,
  });

  /**
   * Runs `then` once the WebSocket is open (at once unless it is still connecting), or
   * once it closed without opening (then `then` meets a closed WebSocket).
   */
  const whenOpen = (then: () => void): void => {
    if (ws.readyState !== ReadyState.CONNECTING) {
      then();
      return;
    }
    const onOpen = (): void => {
      ws.off('close', onClose);
      then();
    };
    const onClose = (): void => {
      ws.off('open', onOpen);
      then();
    };
    ws.once('open', onOpen);
    ws.once('close', onClose);
  };

  ws.on('message', (data: unknown, isBinary: boolean) => {
    // Whatever the WebSocket's binaryType, a byte stream gets Buffers; an object-mode
    // readable side gets a text message as a string (as in ws) and a binary one as
    // the WebSocket delivers it.
    if (!duplex.readableObjectMode) data = asBuffer(data);
    else if (!isBinary) data = String(asBuffer(data));
    if (!duplex.push(data) && !pausedForReader) {
      pausedForReader = true;
      ws.pause();
    }
  });
  ws.once('error', (error: Error) => {
    if (duplex.destroyed) return;
    // The WebSocket failed and is closing itself (its close frame is on its way): the
    // stream ends with the error, without cutting the connection short, as in ws.
    terminateOnDestroy = false;
    duplex.destroy(error);
  });
  ws.once('close', () => {
    if (!duplex.destroyed) duplex.push(null);
  });

  duplex._read = () => {
    // Paused by the stream, or by the application before it wrapped the WebSocket: the
    // reader asks for data, so reading goes on (as in ws).
    if ((pausedForReader || ws.isPaused) && ws.readyState !== ReadyState.CLOSED) {
      pausedForReader = false;
      ws.resume();
    }
  };

  duplex._write = (chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void) => {
    whenOpen(() => ws.send(chunk, callback));
  };

  duplex._final = (callback: (error?: Error | null) => void) => {
    whenOpen(() => {
      if (ws.readyState === ReadyState.CLOSED) {
        callback();
        return;
      }
      // Our side of the close handshake; the readable side ends when it is complete.
      ws.once('close', () => callback());
      if (ws.readyState === ReadyState.OPEN) ws.close();
    });
  };

  duplex._destroy = (error: Error | null, callback: (error?: Error | null) => void) => {
    const done = (): void => {
      callback(error);
      process.nextTick(() => duplex.emit('close'));
    };
    if (ws.readyState === ReadyState.CLOSED) {
      done();
      return;
    }
    ws.once('close', done);
    if (terminateOnDestroy) ws.terminate();
  };

  // Both sides done, in either order: the stream is finished (autoDestroy is off by
  // default, so it does not destroy itself).
  const destroyIfDone = (): void => {
    if (!duplex.destroyed && duplex.readableEnded && duplex.writableFinished) duplex.destroy();
  };
  duplex.on('end', destroyIfDone);
  duplex.on('finish', destroyIfDone);
  // An error destroys the stream; with no other listener it is thrown, as streams do.
  const onError = (error: Error): void => {
    duplex.off('error', onError);
    duplex.destroy();
    if (duplex.listenerCount('error') === 0) duplex.emit('error', error);
  };
  duplex.on('error', onError);
  return duplex;
}

/** A message as one Buffer: for binaryType 'arraybuffer' (an ArrayBuffer) and 'fragments' (an array of Buffers). */
function asBuffer(data: unknown): unknown {
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (Array.isArray(data)) return data.length === 1 ? data[0] : Buffer.concat(data as Buffer[]);
  return data;
}
