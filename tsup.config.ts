import { readdir, readFile, writeFile } from 'node:fs/promises';
import { defineConfig } from 'tsup';

/**
 * CommonJS, as ws has it: `require('volley')` is the WebSocket class, with every named
 * export on it too (`new (require('volley').Server)(...)`, `const { WebSocketServer } =
 * require('volley')`), `default` and `__esModule` for TypeScript's interop. Only for
 * the entry that exports WebSocket; the subpaths stay plain objects.
 */
const CJS_LIKE_WS = `
if (typeof module.exports.WebSocket === 'function' && module.exports.default === module.exports.WebSocket) {
  const named = module.exports;
  const WebSocket = named.WebSocket;
  for (const key of Object.keys(named)) {
    if (!(key in WebSocket)) Object.defineProperty(WebSocket, key, { enumerable: true, get: () => named[key] });
  }
  Object.defineProperty(WebSocket, '__esModule', { value: true });
  module.exports = WebSocket;
}`;

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'protocol/index': 'src/protocol/index.ts',
    'metrics/index': 'src/metrics/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  // One copy of what the entry points share (classes, registries): `instanceof` and
  // module state agree between `volley` and `volley/protocol`.
  splitting: true,
  treeshake: true,
  // After the build (esbuild's footer does not survive the tree-shaking pass): the
  // CommonJS entry made ws-like, and each file's source map comment once (the
  // tree-shaking pass writes it a second time).
  async onSuccess() {
    const files = (await readdir('dist', { recursive: true })).filter((name) => /\.c?js$/.test(name)).map((name) => `dist/${name}`);
    for (const file of files) {
      const code = await readFile(file, 'utf8');
      const map = code.indexOf('\n//# sourceMappingURL=');
      const body = map === -1 ? code : code.slice(0, map);
      const name = file.slice(file.lastIndexOf('/') + 1);
      const interop = file === 'dist/index.cjs' ? `\n${CJS_LIKE_WS}` : '';
      await writeFile(file, `${body}${interop}\n//# sourceMappingURL=${name}.map\n`);
    }
  },
});
