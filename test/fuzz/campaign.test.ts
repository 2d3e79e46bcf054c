/**
 * The short fuzz campaign of `npm test`: every target of `fuzz/targets/` with a fixed
 * seed and a few thousand inputs, so that it is deterministic and takes seconds. The
 * long campaign is `npm run fuzz` (see fuzz/README.md).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { toJson } from '../../fuzz/lib/seed-format.js';
import { targets } from '../../fuzz/targets/index.js';

/** Inputs per target and the seed of each: change a seed only on purpose. */
const PLAN: Record<string, { runs: number; seed: number }> = {
  parser: { runs: 3000, seed: 0x5eed0001 },
  connection: { runs: 2000, seed: 0x5eed0002 },
  'http-head': { runs: 2000, seed: 0x5eed0003 },
  'header-values': { runs: 3000, seed: 0x5eed0004 },
  'deflate-params': { runs: 2000, seed: 0x5eed0005 },
  'deflate-codec': { runs: 1000, seed: 0x5eed0006 },
};

describe('fuzz targets, short deterministic campaign', () => {
  it('plans every target', () => {
    const missing = targets.map((t) => t.name).filter((name) => PLAN[name] === undefined);
    if (missing.length > 0) throw new Error(`no short campaign planned for ${missing.join(', ')}`);
  });

  for (const target of targets) {
    const plan = PLAN[target.name] ?? { runs: 1000, seed: 1 };
    it(`${target.name}: ${plan.runs} inputs end in documented outcomes`, () => {
      // Stack traces are most of the cost of the errors bad input makes the library
      // create; a failing input is checked again below with them.
      const stackLimit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      let details;
      try {
        details = fc.check(fc.property(target.arbitrary, (input) => target.check(input)), { numRuns: plan.runs, seed: plan.seed });
      } finally {
        Error.stackTraceLimit = stackLimit;
      }
      if (details.failed) {
        const input = (details.counterexample as unknown[] | null)?.[0];
        const where = `seed ${details.seed}, path "${details.counterexamplePath}"; input: ${JSON.stringify(toJson(input))}`;
        try {
          target.check(input);
        } catch (error) {
          throw new Error(`${target.name} failed (${where})`, { cause: error });
        }
        throw new Error(`${target.name} failed (${where}): ${String(details.errorInstance)}`);
      }
    });
  }
});
