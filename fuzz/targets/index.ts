/**
 * Every fuzz target, by name. `npm run fuzz` runs them all (or those named), the short
 * campaign in `test/fuzz/` runs each with fixed seeds, and committed seeds replay
 * through `check` by target name.
 *
 * TODO(redis): add the `redis-envelope` target once the Redis adapter exists.
 */
import { connectionTarget } from './connection.js';
import { deflateCodecTarget } from './deflate-codec.js';
import { deflateParamsTarget } from './deflate-params.js';
import { headerValuesTarget } from './header-values.js';
import { httpHeadTarget } from './http-head.js';
import { parserTarget } from './parser.js';
import type { FuzzTarget } from './target.js';

export type { FuzzTarget } from './target.js';

export const targets: ReadonlyArray<FuzzTarget<any>> = [
  parserTarget,
  connectionTarget,
  httpHeadTarget,
  headerValuesTarget,
  deflateParamsTarget,
  deflateCodecTarget,
];

/** The target called `name`, or undefined. */
export function findTarget(name: string): FuzzTarget<any> | undefined {
  return targets.find((target) => target.name === name);
}
