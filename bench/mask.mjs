// Masking throughput, in place (the receive path): Volley's maskInPlace, ws's pure-JS
// fallback, bufferutil's native addon, and Buffer#copy of the same size as the
// memory-bandwidth ceiling.
import { loadProtocol } from './lib/build.mjs';
import { prng, makeMask, binaryPayload } from './lib/frames.mjs';
import { measure, subjectCli } from './lib/harness.mjs';
import { loadWs, loadBufferutil } from './lib/ws.mjs';

const KiB = 1024;
const MiB = 1024 * KiB;

const scenarios = [
  { id: '1k', label: '1 KiB', size: KiB },
  { id: '64k', label: '64 KiB', size: 64 * KiB },
  { id: '64k-unaligned', label: '64 KiB, odd address', size: 64 * KiB, unaligned: true },
  { id: '1m', label: '1 MiB', size: MiB },
  { id: '16m', label: '16 MiB', size: 16 * MiB },
].map((s) => ({ ...s, metric: 'bytes' }));

async function makeMasker(contender) {
  switch (contender) {
    case 'volley': {
      const { maskInPlace } = await loadProtocol();
      return { impl: 'Volley maskInPlace', run: (buffer, mask) => maskInPlace(buffer, mask) };
    }
    case 'ws-js': {
      const { bufferUtil } = loadWs('js');
      return { impl: 'ws buffer-util _unmask (JS fallback)', run: (buffer, mask) => bufferUtil.unmask(buffer, mask) };
    }
    case 'bufferutil': {
      const addon = loadBufferutil();
      return { impl: 'bufferutil native unmask', run: (buffer, mask) => addon.unmask(buffer, mask) };
    }
    case 'copy': {
      let target = null;
      return {
        impl: 'Buffer#copy into a second buffer of the same size',
        run: (buffer) => {
          if (target === null || target.length !== buffer.length) target = Buffer.alloc(buffer.length);
          buffer.copy(target);
        },
      };
    }
  }
  throw new Error(`unknown contender ${contender}`);
}

async function sample(scenario, contender, { quick }) {
  const next = prng(0xa5a5 ^ scenario.size);
  const mask = makeMask(next);
  // Buffer.alloc is never pooled: the data starts 8-byte aligned (odd when asked).
  const backing = Buffer.alloc(scenario.size + 1);
  const data = scenario.unaligned ? backing.subarray(1) : backing.subarray(0, scenario.size);
  binaryPayload(next, scenario.size).copy(data);
  const { impl, run } = await makeMasker(contender);

  if (contender !== 'copy') {
    // Check against the definition (RFC 6455 §5.3), then restore.
    const expected = Buffer.from(data);
    for (let i = 0; i < expected.length; i++) expected[i] ^= mask[i & 3];
    run(data, mask);
    if (!data.equals(expected)) throw new Error('wrong masking result');
    run(data, mask);
  }

  const repeats = Math.max(1, Math.floor((64 * MiB) / scenario.size));
  const stats = measure(
    {
      pass() {
        for (let i = 0; i < repeats; i++) run(data, mask);
      },
    },
    quick,
  );
  return { ...stats, framesPerPass: repeats, bytesPerPass: repeats * scenario.size, impl };
}

export const subject = {
  name: 'mask',
  title: 'Masking in place',
  note: 'Median over runs (± half the range); GB = 10^9 bytes masked (or copied) per second.',
  unit: 'GB/s',
  file: new URL(import.meta.url).pathname,
  contenders: [
    { id: 'volley', label: 'Volley' },
    { id: 'ws-js', label: 'ws JS fallback', env: { WS_NO_BUFFER_UTIL: '1' } },
    { id: 'bufferutil', label: 'bufferutil (native)' },
    { id: 'copy', label: 'Buffer#copy (ceiling)' },
  ],
  scenarios,
  sample,
};

await subjectCli(subject, import.meta.url);
