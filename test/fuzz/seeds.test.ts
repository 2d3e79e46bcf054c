/**
 * Replays every committed seed in `fuzz/seeds/`: inputs that once failed a fuzz target
 * must pass it now, so that a fixed defect stays fixed.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromJson, toJson, type SeedFile } from '../../fuzz/lib/seed-format.js';
import { findTarget, targets } from '../../fuzz/targets/index.js';

const seedsDir = join(import.meta.dirname, '../../fuzz/seeds');
const files = readdirSync(seedsDir)
  .filter((file) => file.endsWith('.json'))
  .sort();
const seeds = files.map((file) => ({ file, seed: JSON.parse(readFileSync(join(seedsDir, file), 'utf8')) as SeedFile }));

describe('committed fuzz seeds', () => {
  it('each names a known target and holds an input', () => {
    for (const { file, seed } of seeds) {
      expect(findTarget(seed.target), `${file}: target ${seed.target}`).toBeDefined();
      expect(file.startsWith(`${seed.target}-`), file).toBe(true);
      expect(seed.input, file).toBeDefined();
    }
  });

  it.each(seeds.map(({ file, seed }) => [file, seed] as const))('%s passes its target now', (_file, seed) => {
    findTarget(seed.target)!.check(fromJson(seed.input));
  });

  it('any input of any target survives the trip through a seed file', () => {
    for (const target of targets) {
      for (const input of fc.sample(target.arbitrary, { numRuns: 30, seed: 7 })) {
        const stored = JSON.parse(JSON.stringify(toJson(input)));
        expect(JSON.stringify(toJson(fromJson(stored)))).toBe(JSON.stringify(toJson(input)));
      }
    }
  });
});
