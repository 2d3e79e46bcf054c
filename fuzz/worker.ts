/**
 * Runs one fuzz target in a worker thread for `fuzz/run.mjs` (bundled to
 * `fuzz/.build/worker.mjs`). Modes:
 * - `run`: fast-check over the target's arbitrary for `runs` inputs or `seconds`,
 *   counting inputs in a shared Int32Array so the main thread can report progress
 *   and notice a hang; posts the result (and the shrunk counterexample on failure);
 * - `input`: regenerates the input of run `index` of `seed` without checking it (to
 *   save the input that hung or ran out of memory);
 * - `replay`: checks stored inputs (seed files) and posts each outcome.
 */
import { parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { fromJson, toJson } from './lib/seed-format.js';
import { findTarget } from './targets/index.js';

interface RunData {
  mode: 'run';
  target: string;
  runs: number;
  seconds: number;
  seed: number;
  /** [0]: inputs started so far, [1]: 1 while shrinking. */
  progress: SharedArrayBuffer;
}
interface InputData {
  mode: 'input';
  target: string;
  seed: number;
  index: number;
}
interface ReplayData {
  mode: 'replay';
  files: Array<{ file: string; target: string; input: never }>;
}

const data = workerData as RunData | InputData | ReplayData;
const port = parentPort!;

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? `\nCaused by: ${cause.stack ?? cause.message}` : '';
    return `${error.stack ?? `${error.name}: ${error.message}`}${causeText}`;
  }
  return String(error);
}

if (data.mode === 'run') {
  const target = findTarget(data.target);
  if (target === undefined) throw new Error(`unknown target ${data.target}`);
  const counters = new Int32Array(data.progress);
  let shrinking = false;
  // Stack traces are most of the cost of the errors the library creates for bad input;
  // none are needed to decide pass or fail. The counterexample is re-run with them.
  const stackLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const started = performance.now();
  const predicate = (input: unknown): void => {
    if (!shrinking) Atomics.add(counters, 0, 1);
    try {
      target.check(input);
    } catch (error) {
      if (!shrinking) {
        shrinking = true;
        Atomics.store(counters, 1, 1);
      }
      throw error;
    }
  };
  const parameters = {
    numRuns: data.runs,
    seed: data.seed,
    plugins: data.seconds > 0 ? [fc.interruptAfterTimeLimit(data.seconds * 1000)] : [],
  };
  const yieldEvery = target.yieldEvery;
  let sinceYield = 0;
  const details =
    yieldEvery === undefined
      ? fc.check(fc.property(target.arbitrary, predicate), parameters)
      : await fc.check(
          fc.asyncProperty(target.arbitrary, async (input) => {
            predicate(input);
            // Let the event loop free what the last inputs released (see FuzzTarget.yieldEvery).
            if (++sinceYield >= yieldEvery) {
              sinceYield = 0;
              await new Promise((resolve) => setImmediate(resolve));
            }
          }),
          parameters,
        );
  const elapsed = (performance.now() - started) / 1000;
  Error.stackTraceLimit = stackLimit;
  if (details.failed && details.counterexample !== null) {
    const input = (details.counterexample as unknown[])[0];
    let error = details.errorInstance;
    try {
      target.check(input);
    } catch (again) {
      error = again; // the same failure, now with stack traces
    }
    port.postMessage({
      failed: true,
      inputs: details.numRuns,
      seconds: elapsed,
      seed: details.seed,
      path: details.counterexamplePath,
      error: describeError(error),
      input: toJson(input),
    });
  } else {
    port.postMessage({ failed: false, inputs: details.numRuns, seconds: elapsed, seed: details.seed, interrupted: details.interrupted });
  }
} else if (data.mode === 'input') {
  const target = findTarget(data.target)!;
  let captured: unknown;
  fc.check(
    fc.property(target.arbitrary, (input) => {
      captured = input;
    }),
    { seed: data.seed, path: String(data.index), numRuns: 1 },
  );
  port.postMessage({ input: toJson(captured) });
} else {
  const results = [];
  for (const { file, target: name, input } of data.files) {
    const target = findTarget(name);
    if (target === undefined) {
      results.push({ file, ok: false, error: `unknown target ${name}` });
      continue;
    }
    try {
      target.check(fromJson(input));
      results.push({ file, ok: true });
    } catch (error) {
      results.push({ file, ok: false, error: describeError(error) });
    }
  }
  port.postMessage({ results });
}
