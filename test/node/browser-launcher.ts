/**
 * Headless browsers for the interoperability tests, driven without any dependency:
 * spawned directly, in a process group of their own with a fresh profile in a temporary
 * directory, and always killed (the whole group) and removed afterwards. chromium.ts
 * and firefox.ts say how to start each.
 *
 * Where a browser is missing, or does not start, the tests are skipped with a note
 * naming the command that installs it; with `VOLLEY_REQUIRE_BROWSER=1` (set by
 * `.ci/run`) they fail instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach } from 'vitest';
import { MS, within } from './helpers.js';

/** Whether a missing or broken browser fails the tests instead of skipping them. */
export const BROWSER_REQUIRED = process.env.VOLLEY_REQUIRE_BROWSER === '1';

/** Time for a browser to start and reach what it was asked to show. */
export const LAUNCH_TIMEOUT = 20_000 * MS;

/** A browser the tests can use. */
export interface BrowserKind {
  /** 'Chromium', 'Firefox': for messages. */
  readonly name: string;
  /** The executable. */
  readonly path: string;
  /** The environment variable that names another executable. */
  readonly pathVariable: string;
  /** How to get it, for the skip note. */
  readonly installHint: string;
}

/** Why the browser cannot be run here, or undefined when its executable is there. */
export function browserMissing(kind: BrowserKind): string | undefined {
  try {
    accessSync(kind.path, constants.X_OK);
    return undefined;
  } catch {
    return `no ${kind.name} at ${kind.path} (set ${kind.pathVariable}, or install it: ${kind.installHint})`;
  }
}

/**
 * Makes the tests of the calling file depend on a browser: `start` (which launches it)
 * runs once before them, bounded by LAUNCH_TIMEOUT. When the browser is missing or
 * `start` fails, each test is skipped with a note saying why and how to install it, or,
 * with `VOLLEY_REQUIRE_BROWSER=1`, fails with that message.
 *
 * @returns whether the browser is there, for the file's own hooks.
 */
export function useBrowser(kind: BrowserKind, start: () => Promise<void>): { readonly available: boolean } {
  let reason = browserMissing(kind);
  beforeAll(async () => {
    if (reason === undefined) {
      try {
        await within(start(), `${kind.name} to start`, LAUNCH_TIMEOUT);
      } catch (error) {
        reason = `${kind.name} did not start (${kind.installHint} installs it): ${(error as Error).message}`;
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

/** A running browser. */
export interface Browser {
  readonly process: ChildProcess;
  /** The temporary directory of its profile, removed by `close`. */
  readonly userDataDir: string;
  /** The last 8 KiB of what the browser wrote to stderr, for failure messages. */
  stderr(): string;
  /** Resolves with the first line of stderr that matches, bounded by LAUNCH_TIMEOUT; rejects if the browser exits first. */
  waitForStderr(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Rejects when the browser exits (for racing against what a test waits for). */
  readonly exited: Promise<never>;
  /** Kills the browser's process group, waits for it to exit and removes the profile. Idempotent. */
  close(): Promise<void>;
}

/** Every browser started by this process, killed on exit if a test run is cut short. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL', true);
});

/** Signals the browser's process group; `evenIfExited` reaches children that outlived the browser process. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals, evenIfExited = false): void {
  if (child.pid === undefined) return;
  if (!evenIfExited && (child.exitCode !== null || child.signalCode !== null)) return;
  try {
    process.kill(-child.pid, signal); // the group: the browser and its content, network and utility processes
  } catch {
    // already gone
  }
}

/**
 * Launches a browser with a fresh temporary directory.
 *
 * @param args its command line, given that directory.
 * @param env variables added to the environment, given that directory.
 * @throws when the directory cannot be made (a missing executable is reported at spawn).
 */
export function launchBrowser(
  kind: BrowserKind,
  args: (userDataDir: string) => string[],
  env: (userDataDir: string) => Record<string, string> = () => ({}),
): Browser {
  const userDataDir = mkdtempSync(join(tmpdir(), `volley-${kind.name.toLowerCase()}-`));
  const child = spawn(kind.path, args(userDataDir), {
    detached: true, // a process group of its own, so that killing it reaches every child
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env(userDataDir) },
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
      `${kind.name} exited (${spawnError?.message ?? `code ${child.exitCode}, signal ${child.signalCode}`}); its stderr ended with:\n${stderr}`,
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
      return within(Promise.race([found, exited]), `${kind.name} to print ${pattern}`, LAUNCH_TIMEOUT).finally(() =>
        lineListeners.delete(listener),
      );
    },
    close() {
      closing ??= (async () => {
        killGroup(child, 'SIGTERM');
        const late = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
        await exit;
        clearTimeout(late);
        // Children that outlived the browser process. (Crash handlers run in a session of
        // their own, out of reach, but exit with the browser: Chromium's crashpad, which
        // --disable-crashpad-for-testing would avoid but crashes its utility processes,
        // and Firefox's crashhelper.)
        killGroup(child, 'SIGKILL', true);
        running.delete(child);
        rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 });
      })();
      return closing;
    },
  };
}
