/**
 * Headless Chromium for the browser interoperability tests, driven without any
 * dependency: spawned directly, in a process group of its own with a fresh profile in a
 * temporary directory, and always killed (the whole group) and removed afterwards.
 *
 * Where Chromium is missing, or does not start, the tests are skipped with a note naming
 * the command that installs it; with `VOLLEY_REQUIRE_BROWSER=1` (set by `.ci/run`) they
 * fail instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach } from 'vitest';
import { MS, within } from './helpers.js';

/** The Chromium executable: `VOLLEY_CHROMIUM`, or Debian's. */
export const CHROMIUM_PATH = process.env.VOLLEY_CHROMIUM ?? '/usr/bin/chromium';

/** Whether a missing or broken Chromium fails the tests instead of skipping them. */
export const BROWSER_REQUIRED = process.env.VOLLEY_REQUIRE_BROWSER === '1';

/** How to get Chromium, for the skip note. */
export const INSTALL_HINT = 'apt-get install -y --no-install-recommends chromium (as root)';

/** Time for Chromium to start and reach what it was asked to show. */
export const LAUNCH_TIMEOUT = 20_000 * MS;

/**
 * Flags that keep headless Chromium to itself: no sandbox (it runs as root in CI), no
 * GPU, and none of its background requests, which a machine without a network answers
 * by refusing connections (QUIC and the component updater in particular).
 */
const FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-breakpad',
  '--disable-dev-shm-usage',
];

/** Why Chromium cannot be run here, or undefined when its executable is there. */
export function chromiumMissing(): string | undefined {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return undefined;
  } catch {
    return `no Chromium at ${CHROMIUM_PATH} (set VOLLEY_CHROMIUM, or install it: ${INSTALL_HINT})`;
  }
}

/**
 * Makes the tests of the calling file depend on Chromium: `start` (which launches it)
 * runs once before them, bounded by LAUNCH_TIMEOUT. When Chromium is missing or `start`
 * fails, each test is skipped with a note saying why and how to install it, or, with
 * `VOLLEY_REQUIRE_BROWSER=1`, fails with that message.
 *
 * @returns whether Chromium is there, for the file's own hooks.
 */
export function useChromium(start: () => Promise<void>): { readonly available: boolean } {
  let reason = chromiumMissing();
  beforeAll(async () => {
    if (reason === undefined) {
      try {
        await within(start(), 'Chromium to start', LAUNCH_TIMEOUT);
      } catch (error) {
        reason = `Chromium did not start (${INSTALL_HINT} installs it): ${(error as Error).message}`;
      }
    }
    if (reason !== undefined && !BROWSER_REQUIRED) console.warn(`browser tests skipped: ${reason}`);
  }, LAUNCH_TIMEOUT + 5000 * MS);
  beforeEach((context) => {
    if (reason === undefined) return;
    if (BROWSER_REQUIRED) throw new Error(`VOLLEY_REQUIRE_BROWSER=1 and ${reason}`);
    context.skip(reason);
  });
  return {
    get available() {
      return reason === undefined;
    },
  };
}

/** A running Chromium. */
export interface Chromium {
  readonly process: ChildProcess;
  readonly userDataDir: string;
  /** The last 8 KiB of what Chromium wrote to stderr, for failure messages. */
  stderr(): string;
  /** Resolves with the first line of stderr that matches, bounded by LAUNCH_TIMEOUT; rejects if Chromium exits first. */
  waitForStderr(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Rejects when Chromium exits (for racing against what a test waits for). */
  readonly exited: Promise<never>;
  /** Kills Chromium's process group, waits for it to exit and removes the profile. Idempotent. */
  close(): Promise<void>;
}

/** Every Chromium started by this process, killed on exit if a test run is cut short. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL', true);
});

/** Signals Chromium's process group; `evenIfExited` reaches children that outlived the browser process. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals, evenIfExited = false): void {
  if (child.pid === undefined) return;
  if (!evenIfExited && (child.exitCode !== null || child.signalCode !== null)) return;
  try {
    process.kill(-child.pid, signal); // the group: the browser, its zygote, renderers and utilities
  } catch {
    // already gone
  }
}

/**
 * Launches headless Chromium with a fresh profile, showing `url`.
 *
 * @param extraFlags more command-line flags (`--remote-debugging-port=0`).
 * @throws when the executable is missing (a missing file is reported at spawn).
 */
export function launchChromium(url: string, extraFlags: string[] = []): Chromium {
  const userDataDir = mkdtempSync(join(tmpdir(), 'volley-chromium-'));
  const child = spawn(CHROMIUM_PATH, [...FLAGS, ...extraFlags, `--user-data-dir=${userDataDir}`, url], {
    detached: true, // a process group of its own, so that killing it reaches every child
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  const lineListeners = new Set<(line: string) => void>();
  let partial = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8192);
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) for (const listener of lineListeners) listener(line);
  });
  const exit = new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    child.on('error', () => resolve()); // spawn failed: there is nothing to wait for
  });
  let spawnError: Error | undefined;
  child.on('error', (error) => (spawnError = error));
  const exited = exit.then(() => {
    throw new Error(
      `Chromium exited (${spawnError?.message ?? `code ${child.exitCode}, signal ${child.signalCode}`}); its stderr ended with:\n${stderr}`,
    );
  });
  exited.catch(() => {}); // only those who race against it report it

  let closing: Promise<void> | undefined;
  return {
    process: child,
    userDataDir,
    stderr: () => stderr,
    exited,
    waitForStderr(pattern) {
      let listener!: (line: string) => void;
      const found = new Promise<RegExpMatchArray>((resolve) => {
        listener = (line) => {
          const match = pattern.exec(line);
          if (match !== null) resolve(match);
        };
        lineListeners.add(listener);
      });
      return within(Promise.race([found, exited]), `Chromium to print ${pattern}`, LAUNCH_TIMEOUT).finally(() =>
        lineListeners.delete(listener),
      );
    },
    close() {
      closing ??= (async () => {
        killGroup(child, 'SIGTERM');
        const late = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
        await exit;
        clearTimeout(late);
        // Children that outlived the browser process. (Its crash handler runs in a session
        // of its own, out of reach, but exits with the browser; --disable-crashpad-for-testing
        // would avoid it, but crashes Chromium's utility processes.)
        killGroup(child, 'SIGKILL', true);
        running.delete(child);
        rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 });
      })();
      return closing;
    },
  };
}
