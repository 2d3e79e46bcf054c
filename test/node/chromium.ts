/**
 * Headless Chromium for the browser interoperability tests (see browser-launcher.ts for
 * how it is run, killed and skipped): Debian's, or `VOLLEY_CHROMIUM`.
 */
import { browserMissing, launchBrowser, useBrowser, type Browser, type BrowserKind } from './browser-launcher.js';

export { BROWSER_REQUIRED, LAUNCH_TIMEOUT } from './browser-launcher.js';

/** The Chromium executable: `VOLLEY_CHROMIUM`, or Debian's. */
export const CHROMIUM_PATH = process.env.VOLLEY_CHROMIUM ?? '/usr/bin/chromium';

/** How to get Chromium, for the skip note. */
export const INSTALL_HINT = 'apt-get install -y --no-install-recommends chromium (as root)';

const CHROMIUM: BrowserKind = { name: 'Chromium', path: CHROMIUM_PATH, pathVariable: 'VOLLEY_CHROMIUM', installHint: INSTALL_HINT };

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
  return browserMissing(CHROMIUM);
}

/**
 * Makes the tests of the calling file depend on Chromium (see `useBrowser`).
 *
 * @returns whether Chromium is there, for the file's own hooks.
 */
export function useChromium(start: () => Promise<void>): { readonly available: boolean } {
  return useBrowser(CHROMIUM, start);
}

/** A running Chromium. */
export type Chromium = Browser;

/**
 * Launches headless Chromium with a fresh profile, showing `url`.
 *
 * @param extraFlags more command-line flags (`--remote-debugging-port=0`).
 * @throws when the profile directory cannot be made (a missing executable is reported at spawn).
 */
export function launchChromium(url: string, extraFlags: string[] = []): Chromium {
  return launchBrowser(CHROMIUM, (userDataDir) => [...FLAGS, ...extraFlags, `--user-data-dir=${userDataDir}`, url]);
}
