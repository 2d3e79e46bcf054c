/**
 * Interoperability with a second browser engine: headless Firefox's own `WebSocket`
 * (Necko, an implementation independent of Chromium's) against Volley servers, the same
 * suite as Chromium's (browser-interop-suite.ts). Firefox offers plain
 * `permessage-deflate`, no parameters, and both sides agree on just that.
 *
 * One Firefox serves the whole file. Without Firefox the tests are skipped (see
 * firefox.ts), unless `VOLLEY_REQUIRE_BROWSER=1`.
 */
import { browserInteropSuite } from './browser-interop-suite.js';
import { launchFirefox, useFirefox } from './firefox.js';

browserInteropSuite({
  name: 'Firefox',
  use: useFirefox,
  launch: launchFirefox,
  deflate: { offer: 'permessage-deflate', agreed: 'permessage-deflate' },
});
