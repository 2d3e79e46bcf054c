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
  /** Share of the default campaign's 10 million inputs, in millions. */
  defaultRuns: number;
  arbitrary: fc.Arbitrary<Input>;
  /** Runs one input; throws on a defect. Never mutates `input`. */
  check(input: Input): void;
}
