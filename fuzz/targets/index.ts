/**
 * Every fuzz target, by name. `npm run fuzz` runs them all (or those named), the short
 * campaign in `test/fuzz/` runs each with fixed seeds, and committed seeds replay
 * through `check` by target name.
 *
 * TODO(permessage-deflate): add the `deflate-params` target here once
 * `src/protocol/deflate.ts` exists (see the note at the end of `header-values.ts`).
 * TODO(redis): add the `redis-envelope` target once the Redis adapter exists.
 */
import { connectionTarget } from './connection.js';
import { headerValuesTarget } from './header-values.js';
import { httpHeadTarget } from './http-head.js';
import { parserTarget } from './parser.js';
import type { FuzzTarget } from './target.js';

export type { FuzzTarget } from './target.js';

export const targets: ReadonlyArray<FuzzTarget<any>> = [parserTarget, connectionTarget, httpHeadTarget, headerValuesTarget];

/** The target called `name`, or undefined. */
export function findTarget(name: string): FuzzTarget<any> | undefined {
  return targets.find((target) => target.name === name);
}
