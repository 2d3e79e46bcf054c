/**
 * Headless Firefox for the browser interoperability tests (see browser-launcher.ts for
 * how it is run, killed and skipped): Debian's `firefox-esr`, or `VOLLEY_FIREFOX`.
 *
 * Its temporary directory holds the profile, with a `user.js` that turns off everything
 * Firefox would fetch on its own (updates, telemetry, safe browsing, captive-portal and
 * connectivity checks, remote settings, first-run pages), and a home directory, since
 * Firefox writes crash-report folders under `$HOME/.mozilla` even with `--profile`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { browserMissing, launchBrowser, useBrowser, type Browser, type BrowserKind } from './browser-launcher.js';

export { BROWSER_REQUIRED, LAUNCH_TIMEOUT } from './browser-launcher.js';

/** The Firefox executable: `VOLLEY_FIREFOX`, or Debian's ESR. */
export const FIREFOX_PATH = process.env.VOLLEY_FIREFOX ?? '/usr/bin/firefox-esr';

/** How to get Firefox, for the skip note. */
export const FIREFOX_INSTALL_HINT = 'apt-get install -y --no-install-recommends firefox-esr (as root)';

const FIREFOX: BrowserKind = { name: 'Firefox', path: FIREFOX_PATH, pathVariable: 'VOLLEY_FIREFOX', installHint: FIREFOX_INSTALL_HINT };

/**
 * Preferences that keep Firefox to itself on a machine without a network, where
 * anything it tried to fetch would fail, slowly or noisily.
 */
const PREFS: Record<string, boolean | number | string> = {
  'app.update.enabled': false,
  'app.update.auto': false,
  'app.normandy.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'browser.startup.page': 0,
  'browser.aboutwelcome.enabled': false,
  'browser.newtabpage.enabled': false,
  'browser.newtabpage.activity-stream.feeds.section.topstories': false,
  'browser.newtabpage.activity-stream.feeds.topsites': false,
  'browser.newtabpage.activity-stream.feeds.telemetry': false,
  'browser.newtabpage.activity-stream.telemetry': false,
  'browser.ping-centre.telemetry': false,
  'browser.discovery.enabled': false,
  'browser.search.update': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.downloads.remote.enabled': false,
  'browser.safebrowsing.provider.google.updateURL': '',
  'browser.safebrowsing.provider.google4.updateURL': '',
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  'browser.sessionstore.resume_from_crash': false,
  'browser.tabs.warnOnClose': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.archive.enabled': false,
  'toolkit.telemetry.server': '',
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'extensions.blocklist.enabled': false,
  'extensions.systemAddon.update.enabled': false,
  'services.settings.server': 'http://127.0.0.1:9/', // remote settings: refused at once
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.http.speculative-parallel-limit': 0,
  'network.proxy.type': 0, // no proxy, whatever the environment says
  'dom.push.enabled': false,
  'media.gmp-manager.updateEnabled': false,
  'media.gmp-gmpopenh264.enabled': false,
  'geo.provider.network.url': '',
  'identity.fxaccounts.enabled': false,
  'security.OCSP.enabled': 0,
  'security.remote_settings.crlite_filters.enabled': false,
  'signon.rememberSignons': false,
};

/** Why Firefox cannot be run here, or undefined when its executable is there. */
export function firefoxMissing(): string | undefined {
  return browserMissing(FIREFOX);
}

/**
 * Makes the tests of the calling file depend on Firefox (see `useBrowser`).
 *
 * @returns whether Firefox is there, for the file's own hooks.
 */
export function useFirefox(start: () => Promise<void>): { readonly available: boolean } {
  return useBrowser(FIREFOX, start);
}

/** A running Firefox. */
export type Firefox = Browser;

/**
 * Launches headless Firefox with a fresh profile, showing `url`.
 *
 * @throws when the profile cannot be written (a missing executable is reported at spawn).
 */
export function launchFirefox(url: string): Firefox {
  return launchBrowser(
    FIREFOX,
    (dir) => {
      const profile = join(dir, 'profile');
      mkdirSync(profile);
      mkdirSync(join(dir, 'home'));
      const lines = Object.entries(PREFS).map(([name, value]) => `user_pref(${JSON.stringify(name)}, ${JSON.stringify(value)});`);
      writeFileSync(join(profile, 'user.js'), `${lines.join('\n')}\n`);
      return ['--headless', '--no-remote', '--profile', profile, url];
    },
    (dir) => ({ MOZ_HEADLESS: '1', HOME: join(dir, 'home'), MOZ_CRASHREPORTER_DISABLE: '1' }),
  );
}
