import type fc from 'fast-check';

/**
 * A fuzz target: an arbitrary of inputs and a check that throws only on a real defect
 * (a broken invariant, or an exception the code under test must never raise).
 */
export interface FuzzTarget<Input> {
  /** Name used on the command line and in seed file names. */
  name: string;
  /** One line: what is fuzzed. */
  description: string;
  /** Share of the default campaign, in millions of inputs. */
  defaultRuns: number;
  arbitrary: fc.Arbitrary<Input>;
  /** Runs one input; throws on a defect. Never mutates `input`. */
  check(input: Input): void;
  /**
   * For targets whose inputs create resources that Node frees only once the event loop
   * turns (a destroyed zlib stream keeps its buffers until its queued close callbacks
   * run): the long campaign lets the event loop run after this many inputs. A run of
   * inputs without a turn would otherwise hold all of them.
   */
  yieldEvery?: number;
}
