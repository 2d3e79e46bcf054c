/**
 * The demo `npm start` serves, as a person tries it: its page in two tabs of headless
 * Chromium, driven through the DevTools protocol (typing and sending as the form does),
 * and a Volley client in the same lobby. Each tab connects, its messages are echoed to it
 * and published to the others, and a SIGTERM closes every tab with 1001. Needs the build
 * (`npm test` builds first) and Chromium (skipped without it, see chromium.ts, unless
 * `VOLLEY_REQUIRE_BROWSER=1`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from '../../src/index.js';
import { connectCdp, type Cdp } from './cdp.js';
import { launchChromium, useChromium, type Chromium } from './chromium.js';
import { MS, nextEvent, until } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const WAIT = 10_000 * MS;
/** Within a DevTools command's own bound (COMMAND_TIMEOUT), so that the page says what it waited for. */
const PAGE_WAIT = 8_000 * MS;

let chromium: Chromium | undefined;
let cdp: Cdp | undefined;
let demo: ChildProcess | undefined;
let port = 0;

useChromium(async () => {
  if (!existsSync(`${root}/dist/index.js`)) throw new Error('dist/ is missing: run `npm run build` first');
  demo = spawn(process.execPath, ['examples/demo.mjs'], { cwd: root, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  demo.stdout!.on('data', (chunk) => (output += chunk));
  demo.stderr!.on('data', (chunk) => (output += chunk));
  await until(() => /ws:\/\/127\.0\.0\.1:\d+\/ws/.test(output), 'the demo to listen', WAIT);
  port = Number(/ws:\/\/127\.0\.0\.1:(\d+)\/ws/.exec(output)![1]);
  chromium = launchChromium('about:blank', ['--remote-debugging-port=0']);
  const [, endpoint] = (await chromium.waitForStderr(/^DevTools listening on (ws:\/\/\S+)/)) as unknown as [string, string];
  cdp = await connectCdp(endpoint);
});

afterAll(() => {
  cdp?.ws.terminate();
  chromium?.close();
  if (demo !== undefined && demo.exitCode === null) demo.kill('SIGKILL');
});

/** A tab showing the demo page. */
interface Tab {
  /** Evaluates `expression` in the page (awaiting a promise) and returns its value. */
  evaluate(expression: string): Promise<unknown>;
  /** Types `text` and sends it as a person would: the input, then the form's submit. */
  say(text: string): Promise<void>;
  /** Waits until the page's log has a line equal to `line`. */
  waitForLine(line: string): Promise<void>;
  /** Waits until the page's status line reads `status`. */
  waitForStatus(status: string): Promise<void>;
}

async function openTab(): Promise<Tab> {
  const { targetId } = await cdp!.call('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await cdp!.call('Target.attachToTarget', { targetId, flatten: true });
  // Answered once the navigation has committed: what is evaluated next runs in the demo's page.
  await cdp!.call('Page.navigate', { url: `http://127.0.0.1:${port}/` }, sessionId);
  const evaluate = async (expression: string) => {
    const { result, exceptionDetails } = await cdp!.call('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, sessionId);
    if (exceptionDetails !== undefined) throw new Error(`the page threw: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    return result.value;
  };
  // Polled in the page, bounded: the answer comes when the condition holds.
  const waitInPage = (condition: string, what: string) =>
    evaluate(`new Promise((resolve, reject) => {
      const deadline = Date.now() + ${PAGE_WAIT};
      const check = () => {
        if (${condition}) resolve(true);
        else if (Date.now() > deadline) reject(new Error(${JSON.stringify(`timed out waiting for ${what}`)}));
        else setTimeout(check, 10);
      };
      check();
    })`);
  const tab: Tab = {
    evaluate,
    async say(text) {
      await evaluate(`(() => {
        document.getElementById('text').value = ${JSON.stringify(text)};
        document.getElementById('form').requestSubmit();
      })()`);
    },
    async waitForLine(line) {
      await waitInPage(`[...document.querySelectorAll('#log div')].some((d) => d.textContent === ${JSON.stringify(line)})`, `the line ${JSON.stringify(line)}`);
    },
    async waitForStatus(status) {
      await waitInPage(`document.getElementById('status').textContent === ${JSON.stringify(status)}`, `the status ${JSON.stringify(status)}`);
    },
  };
  await waitInPage(`document.readyState === 'complete'`, 'the page to load');
  await tab.waitForStatus('connected');
  return tab;
}

/** The JSON messages a Volley client in the lobby receives. */
function lobbyClient(): { ws: WebSocket; received: Array<Record<string, unknown>> } {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const received: Array<Record<string, unknown>> = [];
  ws.on('message', (data) => received.push(JSON.parse(String(data)) as Record<string, unknown>));
  return { ws, received };
}

describe('the demo page in a browser (npm start)', () => {
  it('two tabs connect, each message is echoed to its tab and reaches the other tab and a client; SIGTERM closes the tabs with 1001', async () => {
    const observer = lobbyClient();
    await nextEvent(observer.ws, 'open', WAIT);
    await until(() => observer.received.length === 1, 'the welcome', WAIT);
    const me = observer.received[0]!.name as string;

    const first = await openTab();
    const second = await openTab();
    await until(() => observer.received.filter((m) => m.type === 'joined').length === 2, 'two tabs joining', WAIT);
    const [a, b] = observer.received.filter((m) => m.type === 'joined').map((m) => m.name as string);
    await first.waitForLine(`${b} joined; 3 online`);

    await first.say('hello from the first tab ✓');
    await first.waitForLine('you: hello from the first tab ✓');
    await second.waitForLine(`${a}: hello from the first tab ✓`);
    await until(() => observer.received.some((m) => m.type === 'message' && m.from === a && m.text === 'hello from the first tab ✓'), 'the message', WAIT);

    observer.ws.send('hello tabs');
    await first.waitForLine(`${me}: hello tabs`);
    await second.waitForLine(`${me}: hello tabs`);

    const exited = nextEvent<[number | null]>(demo!, 'exit', WAIT);
    demo!.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
    for (const tab of [first, second]) await tab.waitForStatus('closed (1001: server shutting down)');
  });
});
