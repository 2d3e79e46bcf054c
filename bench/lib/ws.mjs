// Loads ws's internals and reports which masking and UTF-8 code it really uses, so a
// run can prove that the "ws (JS)" contender runs ws's pure-JS fallback and that the
// "ws + bufferutil" contender runs the native addon.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
// ws's package "exports" hide lib/; load its files by path (the same module instances
// ws itself uses).
const wsDir = dirname(require.resolve('ws/package.json'));
const wsLib = (name) => require(join(wsDir, 'lib', name));

function isNative(fn) {
  return /\{\s*\[native code\]\s*\}/.test(Function.prototype.toString.call(fn));
}

/**
 * @param {'native' | 'js'} expected which masking implementation ws must have picked
 */
export function loadWs(expected) {
  const bufferUtil = wsLib('buffer-util.js');
  // Without an addon ws exports its own `_mask`/`_unmask`; with bufferutil it exports
  // wrappers that call the addon above a size threshold.
  const isJs = bufferUtil.unmask.name === '_unmask' && bufferUtil.mask.name === '_mask';
  if (expected === 'js' && !isJs) throw new Error('ws did not fall back to its JS mask: is WS_NO_BUFFER_UTIL=1 set?');
  if (expected === 'native') {
    if (isJs) throw new Error('ws did not load bufferutil');
    if (!isNative(require('bufferutil').unmask)) throw new Error('bufferutil loaded its JS fallback, not the native addon');
  }
  return {
    Receiver: wsLib('receiver.js'),
    Sender: wsLib('sender.js'),
    bufferUtil,
    impl: isJs ? 'ws buffer-util _mask/_unmask (JS)' : 'bufferutil native addon (size ≥ 32/48 B), JS below',
  };
}

/** bufferutil's native functions, refusing its JS fallback. */
export function loadBufferutil() {
  const addon = require('bufferutil');
  if (!isNative(addon.unmask) || !isNative(addon.mask)) throw new Error('bufferutil loaded its JS fallback, not the native addon');
  return addon;
}
