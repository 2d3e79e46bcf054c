// What the end-to-end benchmark scripts share: their command lines, medians, bounded
// waits, and the server and idle-connection processes they start.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * `--name value`, `--name=value` and a bare `--flag` (true); other arguments, in order,
 * in `_`. A value never starts with `--`.
 */
export function parseArgs(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      out._.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    if (equals > 0) out[arg.slice(2, equals)] = arg.slice(equals + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[arg.slice(2)] = argv[++i];
    else out[arg.slice(2)] = true;
  }
  return out;
}

/** Median of the finite values; NaN when there are none. */
export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a rejection naming `what` once `ms` have passed. */
export function withTimeout(promise, what, ms) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]);
}

/** A child process's stdout as lines: each call waits (at most `ms`) for the next; null once the child has exited. */
export function lineReader(child, what, ms) {
  const lines = createInterface({ input: child.stdout });
  const queue = [];
  let waiter = null;
  let exited = false;
  lines.on('line', (line) => {
    if (waiter !== null) {
      const resolve = waiter;
      waiter = null;
      resolve(line);
    } else queue.push(line);
  });
  child.once('exit', () => {
    exited = true;
    if (waiter !== null) waiter(null);
  });
  return () =>
    withTimeout(
      new Promise((resolve) => {
        if (queue.length > 0) resolve(queue.shift());
        else if (exited) resolve(null);
        else waiter = resolve;
      }),
      what,
      ms,
    );
}

/**
 * Stops a child process (`signal`, or closing its stdin when `signal` is null);
 * SIGKILL if it has not exited within `ms`.
 */
export function stopChild(child, what, ms, signal = 'SIGTERM') {
  return withTimeout(
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      if (signal === null) child.stdin.end('\n');
      else child.kill(signal);
    }),
    `${what} exit`,
    ms,
  ).catch(() => child.kill('SIGKILL'));
}

/**
 * Starts `node --expose-gc ...nodeArgs servers.mjs <kind> 0 ...serverArgs`. Resolves once
 * it listens, with its port, what it printed before "ready" (the `--report-impl` line),
 * `nextLine()` for the answers to other commands, `memory()` (its
 * process.memoryUsage() after a forced GC, with V8's young generation and old space
 * added) and `stop()`.
 */
export async function startServer(kind, { nodeArgs = [], serverArgs = [], env = process.env, ms }) {
  const child = spawn(process.execPath, ['--expose-gc', ...nodeArgs, join(here, 'servers.mjs'), kind, '0', ...serverArgs], { stdio: ['pipe', 'pipe', 'inherit'], env });
  const nextLine = lineReader(child, `${kind} server`, ms);
  const before = [];
  let line = null;
  try {
    for (line = await nextLine(); line !== null && !line.startsWith('ready '); line = await nextLine()) before.push(line);
    if (line === null) throw new Error(`${kind} server did not start (${before.join('; ')})`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const memory = async () => {
    child.stdin.write('memory\n');
    const usage = JSON.parse((await nextLine()).replace('memory ', ''));
    child.stdin.write('spaces\n');
    const spaces = JSON.parse((await nextLine()).replace('spaces ', ''));
    // The V8 heap by generation: physical size of the young one, used and physical old.
    usage.youngPhysical = spaces.new_space.physical;
    usage.oldUsed = spaces.old_space.used;
    usage.oldPhysical = spaces.old_space.physical;
    return usage;
  };
  return { child, port: Number(line.slice('ready '.length)), printed: before, nextLine, memory, stop: () => stopChild(child, `${kind} server`, 10_000) };
}

/**
 * Runs `loadgen.mjs ...loadArgs` once and resolves with its result (the JSON line it
 * prints last). With `onMark`, the generator is asked for its marks and `onMark('start')`
 * / `onMark('end')` is awaited when its timed part begins and ends, so that the caller
 * samples the server then. The generator is killed if it has not exited by then.
 */
export async function runLoadgen(loadArgs, { onMark = null, ms }) {
  const marks = onMark === null ? [] : ['--marks', '1'];
  const child = spawn(process.execPath, [join(here, 'loadgen.mjs'), ...loadArgs, ...marks], { stdio: ['ignore', 'pipe', 'inherit'] });
  const nextLine = lineReader(child, 'load generator', ms);
  let result = null;
  try {
    for (let line = await nextLine(); line !== null; line = await nextLine()) {
      if (line === 'mark start') await onMark('start');
      else if (line === 'mark end') await onMark('end');
      else if (line.startsWith('{')) result = JSON.parse(line);
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  if (result === null) throw new Error('the load generator gave no result');
  return result;
}

/**
 * Opens `count` connections to `port` from a load generator process (`loadgen.mjs idle`,
 * with `loadArgs`) that holds them; resolves once all are open with a function that
 * closes them.
 */
export async function openIdle(port, count, { loadArgs = [], ms }) {
  const child = spawn(process.execPath, [join(here, 'loadgen.mjs'), 'idle', '--port', String(port), '--connections', String(count), ...loadArgs], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const first = await lineReader(child, 'idle load generator', ms)();
  const opened = first === null ? 0 : JSON.parse(first).opened;
  const close = () => stopChild(child, 'idle load generator', 30_000, null);
  if (opened !== count) {
    await close();
    throw new Error(`opened ${opened} of ${count} connections`);
  }
  return close;
}
