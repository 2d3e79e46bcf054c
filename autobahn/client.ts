/**
 * The client driver the Autobahn fuzzingserver tests: asks the suite how many cases it
 * has, runs each one by connecting to `/runCase?case=N&agent=AGENT` and echoing every
 * message back (text as text, binary as binary) until the suite closes, then asks it to
 * write its reports.
 *
 *   node autobahn/.build/client.mjs ws://127.0.0.1:9001 volley   (built by autobahn/run.mjs)
 *
 * Each case is bounded (AUTOBAHN_CASE_TIMEOUT_MS, default 60 000): a case that neither
 * closes nor fails by then is terminated and counted, and the run goes on. Exit status:
 * 0 when every case ended by itself and the reports were written, 1 otherwise, 2 for a
 * usage error. Whether the cases passed is the checker's verdict, not this driver's.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WebSocket } from '../src/index.js';

/** Large enough for the suite's biggest messages (9.1.6 and 9.2.6: 16 MiB). */
export const DRIVER_MAX_PAYLOAD = 64 * 1024 * 1024;
export const DEFAULT_CASE_TIMEOUT_MS = 60_000;
/** Writing the reports of 517 cases takes the suite a while. */
export const DEFAULT_REPORT_TIMEOUT_MS = 120_000;

export interface DriverOptions {
  /** The fuzzingserver, such as `ws://127.0.0.1:9001`. */
  url: string;
  /** The name the reports file our results under. */
  agent: string;
  /** Longest a case may run before it is terminated. Default 60 000 ms. */
  caseTimeoutMs?: number;
  /** Longest getCaseCount and updateReports may take. Default 120 000 ms. */
  controlTimeoutMs?: number;
  /** Progress lines. Default: console.log. */
  log?: (line: string) => void;
}

export interface CaseRun {
  /** The suite's case number, 1-based (not the case id such as 1.1.1). */
  index: number;
  /** How it ended: closed by either side, or terminated by our timeout. */
  outcome: 'closed' | 'timeout';
  closeCode: number;
  messages: number;
  durationMs: number;
  /** The first error the connection reported, if any (many cases provoke one on purpose). */
  error?: string;
}

export interface DriverResult {
  caseCount: number;
  cases: CaseRun[];
  timedOut: number[];
  reportsUpdated: boolean;
}

interface ConnectionResult {
  closeCode: number;
  messageCount: number;
  /** The first message received (the answer of getCaseCount). */
  firstMessage?: Buffer;
  timedOut: boolean;
  error?: Error;
}

/**
 * Opens one connection, optionally echoing its messages, and resolves when it closes or
 * when `timeoutMs` passes (then the connection is terminated).
 */
function runConnection(url: string, timeoutMs: number, echo: boolean): Promise<ConnectionResult> {
  return new Promise((resolve) => {
    const result: ConnectionResult = { closeCode: 0, messageCount: 0, timedOut: false };
    // Compression is offered with client_no_context_takeover: the suite's server accepts
    // cases 13.2, 13.5 and 13.6 only from offers that carry it (RFC 7692 §7.1.1.2 makes
    // it a hint, so the offer is still valid for every other case).
    const ws = new WebSocket(url, { maxPayload: DRIVER_MAX_PAYLOAD, perMessageDeflate: { clientNoContextTakeover: true } });
    let settled = false;
    let fallback: NodeJS.Timeout | undefined;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(fallback);
      resolve(result);
    };
    const timer = setTimeout(() => {
      result.timedOut = true;
      ws.terminate();
      // terminate() emits close; this is the backstop should it not.
      fallback = setTimeout(finish, 1_000);
    }, timeoutMs);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      result.messageCount++;
      if (!echo) result.firstMessage ??= data;
      if (echo && ws.readyState === WebSocket.OPEN) ws.send(data, { binary: isBinary });
    });
    ws.on('error', (error: Error) => {
      result.error ??= error;
    });
    ws.on('close', (code: number) => {
      result.closeCode = code;
      finish();
    });
  });
}

function describeError(error: Error | undefined): string | undefined {
  if (error === undefined) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
}

/**
 * Runs every case of a fuzzingserver and has it write the reports.
 *
 * @param options the suite's URL, our agent name, the per-case timeout
 * @returns what happened to each case (the verdict is in the suite's reports)
 * @throws {Error} when the case count cannot be read (suite not running, wrong URL)
 * @example
 * const result = await runDriver({ url: 'ws://127.0.0.1:9001', agent: 'volley' });
 * if (result.timedOut.length > 0) process.exitCode = 1;
 */
export async function runDriver(options: DriverOptions): Promise<DriverResult> {
  const base = options.url.replace(/\/+$/, '');
  const agent = encodeURIComponent(options.agent);
  const caseTimeoutMs = options.caseTimeoutMs ?? DEFAULT_CASE_TIMEOUT_MS;
  const controlTimeoutMs = options.controlTimeoutMs ?? DEFAULT_REPORT_TIMEOUT_MS;
  const log = options.log ?? ((line: string) => console.log(line));

  const counting = await runConnection(`${base}/getCaseCount`, controlTimeoutMs, false);
  const first = counting.firstMessage?.toString('utf8');
  const caseCount = first === undefined || !/^\s*\d+\s*$/.test(first) ? NaN : Number(first);
  if (!Number.isInteger(caseCount) || caseCount < 0) {
    const why = counting.timedOut
      ? 'timed out'
      : first === undefined
        ? `no answer (${describeError(counting.error) ?? `closed with ${counting.closeCode}`})`
        : `answered ${JSON.stringify(first.slice(0, 100))}`;
    throw new Error(`cannot read the case count from ${base}/getCaseCount: ${why}`);
  }
  log(`autobahn driver: ${caseCount} cases from ${base} as agent "${options.agent}"`);

  const cases: CaseRun[] = [];
  const width = String(caseCount).length;
  for (let index = 1; index <= caseCount; index++) {
    const started = performance.now();
    const run = await runConnection(`${base}/runCase?case=${index}&agent=${agent}`, caseTimeoutMs, true);
    const record: CaseRun = {
      index,
      outcome: run.timedOut ? 'timeout' : 'closed',
      closeCode: run.closeCode,
      messages: run.messageCount,
      durationMs: Math.round(performance.now() - started),
    };
    const error = describeError(run.error);
    if (error !== undefined) record.error = error;
    cases.push(record);
    const what = run.timedOut ? `TIMEOUT after ${caseTimeoutMs} ms, terminated` : `closed ${run.closeCode}`;
    log(`[${String(index).padStart(width)}/${caseCount}] ${what}, ${record.messages} messages echoed, ${record.durationMs} ms`);
  }

  const reporting = await runConnection(`${base}/updateReports?agent=${agent}`, controlTimeoutMs, false);
  const reportsUpdated = !reporting.timedOut && reporting.error === undefined;
  log(
    reportsUpdated
      ? 'autobahn driver: reports updated'
      : `autobahn driver: updateReports failed: ${reporting.timedOut ? 'timed out' : describeError(reporting.error)}`,
  );

  const timedOut = cases.filter((c) => c.outcome === 'timeout').map((c) => c.index);
  if (timedOut.length > 0) log(`autobahn driver: ${timedOut.length} cases timed out: ${timedOut.join(', ')}`);
  return { caseCount, cases, timedOut, reportsUpdated };
}

async function main(argv: string[]): Promise<number> {
  const [url, agent = 'volley', ...rest] = argv;
  if (url === undefined || url === '-h' || url === '--help' || rest.length > 0 || !/^wss?:\/\//.test(url)) {
    console.error('usage: node autobahn/.build/client.mjs <ws://host:port> [agent]   (npm run autobahn:drive -- ws://127.0.0.1:9001 volley)');
    return 2;
  }
  const fromEnv = process.env.AUTOBAHN_CASE_TIMEOUT_MS;
  const caseTimeoutMs = fromEnv === undefined || fromEnv === '' ? DEFAULT_CASE_TIMEOUT_MS : Number(fromEnv);
  if (!Number.isFinite(caseTimeoutMs) || caseTimeoutMs <= 0) {
    console.error(`autobahn driver: AUTOBAHN_CASE_TIMEOUT_MS must be a positive number of milliseconds, got "${fromEnv}"`);
    return 2;
  }
  try {
    const result = await runDriver({ url, agent, caseTimeoutMs });
    return result.timedOut.length === 0 && result.reportsUpdated ? 0 : 1;
  } catch (error) {
    console.error(`autobahn driver: ${(error as Error).message}`);
    return 1;
  }
}

function isEntryPoint(): boolean {
  if (process.argv[1] === undefined) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
