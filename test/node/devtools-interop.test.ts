/**
 * Interoperability of Volley's client with a WebSocket server nobody on this project
 * wrote: the DevTools endpoint of headless Chromium (`--remote-debugging-port`), which
 * speaks the Chrome DevTools Protocol (JSON commands and answers) over WebSocket and
 * implements permessage-deflate on its own.
 *
 * Covered: a command and its answer, a 14 MiB answer (one unfragmented frame from
 * Chromium) and a 4 MiB command, with and without compression, a command in fragments,
 * a ping, and the close handshake. Chromium inflates slowly (a compressed 8 MiB command
 * took it over 3 s), hence 4 MiB. Skipped without Chromium (see chromium.ts), unless
 * `VOLLEY_REQUIRE_BROWSER=1`.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ClientOptions, WebSocket } from '../../src/index.js';
import { COMMAND_TIMEOUT, connectCdp, type Answer, type Cdp } from './cdp.js';
import { CHROMIUM_PATH, launchChromium, useChromium, type Chromium } from './chromium.js';
import { nextEvent, within } from './helpers.js';

const MiB = 1024 * 1024;

let chromium: Chromium | undefined;
/** `ws://127.0.0.1:port/devtools/browser/<id>`, as Chromium prints it. */
let endpoint: string;

useChromium(async () => {
  chromium = launchChromium('about:blank', ['--remote-debugging-port=0']);
  [, endpoint] = (await chromium.waitForStderr(/^DevTools listening on (ws:\/\/\S+)/)) as unknown as [string, string];
});

afterAll(() => chromium?.close());

const clients: WebSocket[] = [];
afterEach(() => {
  for (const ws of clients.splice(0)) ws.terminate();
});

/** A Volley client to the DevTools endpoint, closed after the test. */
async function connect(options: ClientOptions = {}): Promise<Cdp> {
  const cdp = await connectCdp(endpoint, options);
  clients.push(cdp.ws);
  return cdp;
}

describe("Volley's client with Chromium's DevTools WebSocket server", () => {
  it('Browser.getVersion: answered with the version Chromium reports on its command line', async () => {
    const { call } = await connect();
    const version = await call('Browser.getVersion');
    const printed = /\b(\d+\.\d+\.\d+\.\d+)\b/.exec(execFileSync(CHROMIUM_PATH, ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }))?.[1];
    expect(version.protocolVersion).toBe('1.3');
    expect(version.product).toBe(`Chrome/${printed}`);
    expect(version.userAgent).toMatch(/HeadlessChrome\//);
  });

  describe.each([
    ['compressed (permessage-deflate, as Volley offers it)', true],
    ['uncompressed', false],
  ])('large messages, %s', (_name, deflate) => {
    it(`the extension is ${deflate ? '' : 'not '}negotiated`, async () => {
      const { ws } = await connect({ perMessageDeflate: deflate });
      if (deflate) expect(ws.extensions).toMatch(/^permessage-deflate\b/);
      else expect(ws.extensions).toBe('');
    });

    it('a 14 MiB answer (a page evaluates a long string) and a 4 MiB command (the page checks it)', async () => {
      const { ws, call } = await connect({ perMessageDeflate: deflate });
      const { targetId } = await call('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await call('Target.attachToTarget', { targetId, flatten: true });

      const socket = ws.socket!;
      let before = socket.bytesRead;
      const answer = await call('Runtime.evaluate', { expression: `'volley ✓ '.repeat(${1 << 20})`, returnByValue: true }, sessionId);
      const read = socket.bytesRead - before;
      const expected = 'volley ✓ '.repeat(1 << 20);
      expect(answer.result.value.length).toBe(expected.length);
      expect(answer.result.value === expected).toBe(true); // not toBe: a failure would print 9 million characters
      // Chromium escapes ✓ in JSON (\u2713): 14 bytes per repetition, about 14 MiB.
      if (deflate) expect(read).toBeLessThan(MiB);
      else expect(read).toBeGreaterThan(14 * MiB);

      const long = Array.from({ length: 1 << 20 }, (_, i) => `${i}✓`).join(',').slice(0, 4 * MiB);
      let hash = 0;
      for (let i = 0; i < long.length; i++) hash = (Math.imul(hash, 31) + long.charCodeAt(i)) | 0;
      before = socket.bytesWritten;
      const checked = await call(
        'Runtime.evaluate',
        {
          expression: `(() => { const s = ${JSON.stringify(long)}; let h = 0; for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0; return [s.length, h]; })()`,
          returnByValue: true,
        },
        sessionId,
      );
      const written = socket.bytesWritten - before;
      expect(checked.result.value).toEqual([long.length, hash]);
      if (deflate) expect(written).toBeLessThan(Buffer.byteLength(long) / 2);
      else expect(written).toBeGreaterThan(Buffer.byteLength(long));
    });
  });

  it('a command sent in three fragments (fin: false) is understood as one message', async () => {
    const { ws } = await connect({ perMessageDeflate: false });
    const answered = nextEvent<[Buffer]>(ws, 'message', COMMAND_TIMEOUT);
    const command = JSON.stringify({ id: 7, method: 'Browser.getVersion' });
    ws.send(command.slice(0, 5), { fin: false });
    ws.send(command.slice(5, 20), { fin: false });
    ws.send(command.slice(20), { fin: true });
    const answer = JSON.parse(String((await answered)[0])) as Answer;
    expect([answer.id, answer.result?.protocolVersion]).toEqual([7, '1.3']);
  });

  it('a ping is answered with a pong carrying its payload', async () => {
    const { ws } = await connect();
    const ponged = nextEvent<[Buffer]>(ws, 'pong', COMMAND_TIMEOUT);
    ws.ping('are you there ✓');
    expect(String((await ponged)[0])).toBe('are you there ✓');
  });

  it('closing: Chromium answers the close frame, the close is clean with 1000', async () => {
    const { ws } = await connect();
    const closed = new Promise<{ code: number; wasClean: boolean }>((resolve) =>
      ws.addEventListener('close', (event) => resolve({ code: event.code, wasClean: event.wasClean })),
    );
    ws.close(1000, 'done ✓');
    expect(await within(closed, 'close', COMMAND_TIMEOUT)).toEqual({ code: 1000, wasClean: true });
  });
});
