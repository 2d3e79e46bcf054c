// Types of check.mjs, for the TypeScript tests that import it.

/** One entry of expected.json: the outcome a case is expected to have, and why. */
export interface Expectation {
  /** One outcome or several (FAILED, UNIMPLEMENTED, WRONG CODE, ..., or EXCLUDED); absent: any non-passing outcome. */
  behavior?: string | string[];
  /** Why the case does not pass. Required. */
  reason?: string;
}

/** One case of a report, as the suite writes it into index.json. */
export interface CaseResult {
  behavior?: string;
  behaviorClose?: string;
  duration?: number;
  remoteCloseCode?: number | null;
  reportfile?: string;
  [key: string]: unknown;
}

/** The suite's index.json: agent → case id → result. */
export type ReportIndex = Record<string, Record<string, CaseResult>>;

export type VerdictStatus = 'ok' | 'non-strict' | 'informational' | 'expected' | 'failed' | 'stale';

export interface CaseVerdict {
  agent: string;
  id: string;
  /** As reported, or MISSING when the report has no result for the case. */
  behavior: string;
  behaviorClose: string;
  status: VerdictStatus;
  remoteCloseCode?: number | null;
  reportfile?: string;
  /** The matching expected.json entry, when there is one. */
  expectationKey?: string;
  expectedBehavior?: string[];
  reason?: string;
  detail?: string;
}

export interface CheckResult {
  /** True when every case passes or is expected, and expected.json is well formed. */
  ok: boolean;
  /** Problems with the report or expected.json as a whole. */
  problems: string[];
  verdicts: CaseVerdict[];
}

export interface SuiteConfig {
  cases?: string[];
  'exclude-cases'?: string[];
  'exclude-agent-cases'?: Record<string, string[]>;
  [key: string]: unknown;
}

export declare const PASSING: readonly string[];
export declare const EXCLUDED: 'EXCLUDED';
export declare const ROLES: readonly ['servers', 'clients'];
export declare const CATEGORIES: Readonly<Record<number, string>>;

export declare function compareCaseIds(a: string, b: string): number;
export declare function casePattern(pattern: string): (id: string) => boolean;
export declare function selectCases(
  config: SuiteConfig,
  allIds: string[],
): { selected: string[]; excluded: string[]; notSelected: string[]; agentExcluded: Record<string, string[]> };
export declare function findExpectation(
  expected: Record<string, Expectation>,
  id: string,
): { key: string; entry: Expectation | undefined } | undefined;
export declare function checkReports(
  index: ReportIndex,
  expected?: Record<string, Expectation>,
  options?: { caseIds?: string[] },
): CheckResult;
export declare function isFailure(verdict: { status: string }): boolean;
export declare function summarize(verdicts: CaseVerdict[]): Record<string, Record<string, Record<string, number>>>;
export declare function formatResult(
  result: CheckResult,
  options?: { role?: string; descriptions?: Record<string, string> },
): string;
export declare function main(
  argv: string[],
  io?: { log?: (line: string) => void; error?: (line: string) => void },
): number;
