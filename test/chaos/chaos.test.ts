/**
 * The short chaos run of `npm test`: a few hundred connection lives cut at random
 * points (see chaos/harness.ts), with a fixed seed. `npm run chaos` runs 10 000.
 */
import { describe, expect, it } from 'vitest';
import { runChaos } from '../../chaos/harness.js';

const MS = Number(process.env.VOLLEY_TEST_MS_SCALE ?? 1);

describe('chaos', () => {
  it('400 lives cut at random byte offsets leave no exception, no leak and clean bookkeeping', { timeout: 60_000 * MS }, async () => {
    const report = await runChaos({ lives: 400, concurrency: 32, seed: 0xc4a05, seconds: 40 * MS });
    expect(report.failures).toEqual([]);
    expect(report.lives).toBe(400);
    for (const count of Object.values(report.byPhase)) expect(count).toBeGreaterThan(20);
    expect(report.connections).toBeGreaterThan(100);
    expect(report.ok).toBe(true);
  });
});
