/**
 * Interoperability with a real browser: headless Chromium's own `WebSocket` against
 * Volley servers (the suite is browser-interop-suite.ts). Chromium offers
 * `permessage-deflate; client_max_window_bits`.
 *
 * One Chromium serves the whole file. Without Chromium the tests are skipped (see
 * chromium.ts), unless `VOLLEY_REQUIRE_BROWSER=1`.
 */
import { browserInteropSuite } from './browser-interop-suite.js';
import { launchChromium, useChromium } from './chromium.js';

browserInteropSuite({
  name: 'Chromium',
  use: useChromium,
  launch: (url) => launchChromium(url),
  deflate: { offer: 'permessage-deflate; client_max_window_bits', agreed: 'permessage-deflate' },
});
