#!/usr/bin/env node
// The Autobahn verdict: reads the suite's reports (reports/servers/index.json for the
// server role, reports/clients/index.json for the client role), diffs every case against
// expected.json and exits 0 when all pass, 1 when any does not, 2 when there is nothing
// to judge (no report, unreadable file).
//
//   node autobahn/check.mjs                  every role that has a report
//   node autobahn/check.mjs servers clients  these roles; a missing report is an error
//   node autobahn/check.mjs --reports DIR --expected FILE --cases FILE
//
// A case passes when both `behavior` and `behaviorClose` are OK, NON-STRICT or
// INFORMATIONAL. Anything else (FAILED, UNIMPLEMENTED, WRONG CODE, UNCLEAN, a case absent
// from the report) fails unless expected.json lists it with a reason. The pure part,
// `checkReports`, is what test/autobahn/check.test.ts exercises; types in check.d.mts.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Outcomes of `behavior` / `behaviorClose` that pass. */
export const PASSING = Object.freeze(['OK', 'NON-STRICT', 'INFORMATIONAL']);

/** The `behavior` an expected.json entry gives for a case left out of the run. */
export const EXCLUDED = 'EXCLUDED';

/** The two roles, named as the suite names its report folders. */
export const ROLES = Object.freeze(['servers', 'clients']);

/** The suite's chapter titles, by the first number of the case id. */
export const CATEGORIES = Object.freeze({
  1: 'Framing',
  2: 'Pings/Pongs',
  3: 'Reserved Bits',
  4: 'Opcodes',
  5: 'Fragmentation',
  6: 'UTF-8 Handling',
  7: 'Close Handling',
  9: 'Limits/Performance',
  10: 'Miscellaneous',
  12: 'WebSocket Compression (different payloads)',
  13: 'WebSocket Compression (different parameters)',
});

/**
 * Compares case ids numerically, part by part ('2.10' after '2.9'), as the suite orders them.
 * @param {string} a
 * @param {string} b
 */
export function compareCaseIds(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Compiles a case pattern as the suite does for `cases` and `exclude-cases`: '.' is
 * literal, '*' matches anything, and the match is anchored at the start only ('1.*'
 * selects '1.1.1' but not '10.1.1'). A pattern without '*' is an exact id.
 * @param {string} pattern
 * @returns {(id: string) => boolean}
 */
export function casePattern(pattern) {
  if (!pattern.includes('*')) return (id) => id === pattern;
  const source = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  const regex = new RegExp('^' + source);
  return (id) => regex.test(id);
}

/**
 * The cases a fuzzingclient/fuzzingserver config runs out of `allIds`: `cases` minus
 * `exclude-cases` (exclude-agent-cases are reported separately, per agent pattern).
 * @param {{ cases?: string[], 'exclude-cases'?: string[], 'exclude-agent-cases'?: Record<string, string[]> }} config
 * @param {string[]} allIds
 */
export function selectCases(config, allIds) {
  const include = (config.cases ?? []).map(casePattern);
  const exclude = (config['exclude-cases'] ?? []).map(casePattern);
  const included = allIds.filter((id) => include.some((match) => match(id)));
  const excluded = included.filter((id) => exclude.some((match) => match(id)));
  const selected = included.filter((id) => !excluded.includes(id));
  const notSelected = allIds.filter((id) => !included.includes(id));
  /** @type {Record<string, string[]>} */
  const agentExcluded = {};
  for (const [agent, patterns] of Object.entries(config['exclude-agent-cases'] ?? {})) {
    const matches = patterns.map(casePattern);
    agentExcluded[agent] = selected.filter((id) => matches.some((match) => match(id)));
  }
  return { selected, excluded, notSelected, agentExcluded };
}

/**
 * The expected.json entry that applies to `id`: the exact id first, else the first
 * pattern that matches.
 * @param {Record<string, { behavior?: string | string[], reason?: string }>} expected
 * @param {string} id
 */
export function findExpectation(expected, id) {
  if (Object.hasOwn(expected, id)) return { key: id, entry: expected[id] };
  for (const [key, entry] of Object.entries(expected)) {
    if (key.includes('*') && casePattern(key)(id)) return { key, entry };
  }
  return undefined;
}

/** @param {unknown} value */
function behaviorsOf(value) {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

/** @param {unknown} value */
function isPassing(value) {
  return typeof value === 'string' && PASSING.includes(value);
}

/**
 * Judges a suite report against the expected non-passing cases.
 *
 * Pure: takes the parsed index.json and the role's section of expected.json and returns
 * a verdict per agent and case. Nothing is read or printed.
 *
 * @param {Record<string, Record<string, { behavior?: string, behaviorClose?: string, remoteCloseCode?: number | null, reportfile?: string }>>} index
 *   the report, `{ agent: { caseId: { behavior, behaviorClose, ... } } }`
 * @param {Record<string, { behavior?: string | string[], reason?: string }>} [expected]
 *   case id or pattern → the expected outcome and why
 * @param {{ caseIds?: string[] }} [options] the cases every agent must have a result for
 *   (default: every case any agent of the report has)
 * @returns {import('./check.d.mts').CheckResult}
 * @example
 * const result = checkReports(JSON.parse(readFileSync('reports/servers/index.json', 'utf8')), expected.servers);
 * if (!result.ok) console.log(formatResult(result));
 */
export function checkReports(index, expected = {}, options = {}) {
  /** @type {string[]} */
  const problems = [];
  if (index === null || typeof index !== 'object' || Array.isArray(index)) {
    return { ok: false, problems: ['the report is not an object of agents'], verdicts: [] };
  }
  const agents = Object.keys(index).sort();
  if (agents.length === 0) problems.push('the report has no agent: the suite ran no case');

  const caseIds =
    options.caseIds !== undefined
      ? [...options.caseIds]
      : [...new Set(agents.flatMap((agent) => Object.keys(index[agent] ?? {})))];
  caseIds.sort(compareCaseIds);

  for (const [key, entry] of Object.entries(expected)) {
    if (entry === null || typeof entry !== 'object' || typeof entry.reason !== 'string' || entry.reason.trim() === '') {
      problems.push(`expected.json: "${key}" has no reason`);
    }
    if (options.caseIds !== undefined && !caseIds.some(casePattern(key))) {
      problems.push(`expected.json: "${key}" matches no case of the suite`);
    }
  }

  /** @type {import('./check.d.mts').CaseVerdict[]} */
  const verdicts = [];
  for (const agent of agents) {
    const results = index[agent] ?? {};
    // A case the report has beyond the suite's list (another version of the suite) is judged too.
    const ids = [...new Set([...caseIds, ...Object.keys(results)])].sort(compareCaseIds);
    for (const id of ids) {
      const result = Object.hasOwn(results, id) ? results[id] : undefined;
      const found = findExpectation(expected, id);
      const wanted = behaviorsOf(found?.entry?.behavior);
      /** @type {import('./check.d.mts').CaseVerdict} */
      const verdict = { agent, id, behavior: 'MISSING', behaviorClose: 'MISSING', status: 'failed' };
      if (found !== undefined) {
        verdict.expectedBehavior = wanted ?? [];
        verdict.reason = found.entry?.reason ?? '';
        verdict.expectationKey = found.key;
      }
      if (result === undefined) {
        verdict.status = wanted?.includes(EXCLUDED) ? 'expected' : 'failed';
        verdict.detail = 'not in the report';
        verdicts.push(verdict);
        continue;
      }
      verdict.behavior = String(result.behavior ?? 'MISSING');
      verdict.behaviorClose = String(result.behaviorClose ?? 'MISSING');
      if (result.remoteCloseCode !== undefined) verdict.remoteCloseCode = result.remoteCloseCode;
      if (result.reportfile !== undefined) verdict.reportfile = result.reportfile;
      if (isPassing(verdict.behavior) && isPassing(verdict.behaviorClose)) {
        if (found !== undefined) {
          verdict.status = 'stale';
          verdict.detail = `passes now: remove "${found.key}" from expected.json`;
        } else if (verdict.behavior !== 'OK') {
          verdict.status = verdict.behavior === 'NON-STRICT' ? 'non-strict' : 'informational';
        } else if (verdict.behaviorClose !== 'OK') {
          verdict.status = verdict.behaviorClose === 'NON-STRICT' ? 'non-strict' : 'informational';
        } else {
          verdict.status = 'ok';
        }
      } else if (found === undefined) {
        verdict.status = 'failed';
      } else {
        const actual = [verdict.behavior, verdict.behaviorClose].filter((b) => !isPassing(b));
        const matches = wanted === undefined ? true : actual.every((b) => wanted.includes(b));
        verdict.status = matches ? 'expected' : 'failed';
        if (!matches) verdict.detail = `expected.json "${found.key}" expects ${wanted.join(' or ')}`;
      }
      verdicts.push(verdict);
    }
  }

  const ok = problems.length === 0 && verdicts.every((v) => !isFailure(v));
  return { ok, problems, verdicts };
}

/**
 * Whether a verdict fails the check.
 * @param {{ status: string }} verdict
 */
export function isFailure(verdict) {
  return verdict.status === 'failed' || verdict.status === 'stale';
}

/**
 * Counts the verdicts of each agent per chapter of the suite.
 * @param {import('./check.d.mts').CaseVerdict[]} verdicts
 */
export function summarize(verdicts) {
  /** @type {Record<string, Record<string, Record<string, number>>>} */
  const summary = {};
  for (const verdict of verdicts) {
    const category = verdict.id.split('.')[0] ?? '?';
    const byCategory = (summary[verdict.agent] ??= {});
    const counts = (byCategory[category] ??= {});
    counts[verdict.status] = (counts[verdict.status] ?? 0) + 1;
  }
  return summary;
}

const STATUS_ORDER = ['ok', 'non-strict', 'informational', 'expected', 'failed', 'stale'];

/**
 * The human-readable report of one role's check.
 * @param {import('./check.d.mts').CheckResult} result
 * @param {{ role?: string, descriptions?: Record<string, string> }} [options]
 */
export function formatResult(result, options = {}) {
  const lines = [];
  const title = options.role ?? 'report';
  for (const problem of result.problems) lines.push(`${title}: ${problem}`);
  const summary = summarize(result.verdicts);
  for (const [agent, byCategory] of Object.entries(summary)) {
    const verdicts = result.verdicts.filter((v) => v.agent === agent);
    lines.push(`${title}: agent "${agent}", ${verdicts.length} cases`);
    const categories = Object.keys(byCategory).sort((a, b) => Number(a) - Number(b));
    for (const category of categories) {
      const counts = byCategory[category] ?? {};
      const name = CATEGORIES[/** @type {keyof typeof CATEGORIES} */ (Number(category))] ?? '';
      const parts = STATUS_ORDER.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`);
      const bad = (counts.failed ?? 0) + (counts.stale ?? 0);
      lines.push(`  ${bad > 0 ? 'FAIL' : 'pass'}  ${category.padStart(2)} ${name.padEnd(46)} ${parts.join(', ')}`);
    }
    const failures = verdicts.filter(isFailure);
    if (failures.length > 0) {
      lines.push(`  failing cases (${failures.length}):`);
      for (const v of failures) lines.push('    ' + describe(v, options.descriptions));
    }
    const expected = verdicts.filter((v) => v.status === 'expected');
    if (expected.length > 0) {
      lines.push(`  expected non-passing cases (${expected.length}, see expected.json):`);
      for (const v of expected) lines.push(`    ${v.id}  ${outcome(v)}  (${v.reason})`);
    }
  }
  lines.push(`${title}: ${result.ok ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}

/** @param {import('./check.d.mts').CaseVerdict} v */
function outcome(v) {
  if (v.behavior === 'MISSING') return 'MISSING';
  return v.behavior === v.behaviorClose ? v.behavior : `${v.behavior}/${v.behaviorClose}`;
}

/**
 * @param {import('./check.d.mts').CaseVerdict} v
 * @param {Record<string, string> | undefined} descriptions
 */
function describe(v, descriptions) {
  const parts = [v.id.padEnd(8), outcome(v)];
  if (v.remoteCloseCode !== undefined && v.remoteCloseCode !== null) parts.push(`close ${v.remoteCloseCode}`);
  if (v.detail !== undefined) parts.push(`— ${v.detail}`);
  const description = descriptions?.[v.id];
  if (description !== undefined) parts.push(`— ${description.length > 90 ? description.slice(0, 87) + '...' : description}`);
  if (v.reportfile !== undefined) parts.push(`[${v.reportfile}]`);
  return parts.join('  ');
}

// ---- Command line ----------------------------------------------------------------

const autobahnDir = dirname(fileURLToPath(import.meta.url));

/** @param {string} file */
function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/**
 * Runs the check from files and prints it; returns the exit code (0 pass, 1 fail,
 * 2 nothing to judge).
 * @param {string[]} argv arguments after the script name
 * @param {{ log?: (line: string) => void, error?: (line: string) => void }} [io]
 */
export function main(argv, io = {}) {
  const log = io.log ?? ((line) => console.log(line));
  const error = io.error ?? ((line) => console.error(line));
  let reportsDir = join(autobahnDir, 'reports');
  let expectedFile = join(autobahnDir, 'expected.json');
  let casesFile = join(autobahnDir, 'cases.json');
  /** @type {string[]} */
  const roles = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    try {
      if (arg === '--reports') reportsDir = value();
      else if (arg === '--expected') expectedFile = value();
      else if (arg === '--cases') casesFile = value();
      else if (arg === '-h' || arg === '--help') {
        log('usage: node autobahn/check.mjs [servers] [clients] [--reports DIR] [--expected FILE] [--cases FILE]');
        return 0;
      } else if (ROLES.includes(arg)) roles.push(arg);
      else throw new Error(`unknown argument "${arg}" (roles: ${ROLES.join(', ')})`);
    } catch (e) {
      error(`check: ${/** @type {Error} */ (e).message}`);
      return 2;
    }
  }

  let expectedFileContent;
  /** @type {string[]} */
  let caseIds;
  /** @type {Record<string, string>} */
  const descriptions = {};
  try {
    expectedFileContent = readJson(expectedFile);
    const cases = readJson(casesFile);
    caseIds = cases.map((/** @type {{ id: string }} */ c) => c.id);
    for (const c of cases) descriptions[c.id] = c.description;
  } catch (e) {
    error(`check: ${/** @type {Error} */ (e).message}`);
    return 2;
  }

  const explicit = roles.length > 0;
  const toCheck = explicit ? roles : ROLES.filter((role) => existsSync(join(reportsDir, role, 'index.json')));
  if (toCheck.length === 0) {
    error(`check: no report in ${relative(process.cwd(), reportsDir) || '.'}/{servers,clients}/index.json:`);
    error('  run `npm run autobahn:server` or `npm run autobahn:client` (needs Docker) first, or pass --reports DIR');
    return 2;
  }

  let code = 0;
  for (const role of toCheck) {
    const file = join(reportsDir, role, 'index.json');
    if (!existsSync(file)) {
      error(`check: ${role}: no report at ${file}`);
      code = 2;
      continue;
    }
    let index;
    try {
      index = readJson(file);
    } catch (e) {
      error(`check: ${role}: cannot read ${file}: ${/** @type {Error} */ (e).message}`);
      code = 2;
      continue;
    }
    const section = expectedFileContent?.[role] ?? {};
    const result = checkReports(index, section, { caseIds });
    log(formatResult(result, { role, descriptions }));
    if (!result.ok && code === 0) code = 1;
  }
  return code;
}

function isEntryPoint() {
  if (process.argv[1] === undefined) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) process.exitCode = main(process.argv.slice(2));
