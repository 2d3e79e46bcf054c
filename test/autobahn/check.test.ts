/**
 * The Autobahn checker (autobahn/check.mjs) on synthetic reports, and the suite configs
 * against the suite's list of cases (autobahn/cases.json, 517 cases).
 */
import { mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EXCLUDED,
  casePattern,
  checkReports,
  findExpectation,
  formatResult,
  main,
  selectCases,
  type Expectation,
  type ReportIndex,
  type SuiteConfig,
} from '../../autobahn/check.mjs';

const autobahnDir = fileURLToPath(new URL('../../autobahn/', import.meta.url));
const readJson = (file: string): any => JSON.parse(readFileSync(join(autobahnDir, file), 'utf8'));

const cases: Array<{ id: string; description: string; expectation: string }> = readJson('cases.json');
const allIds = cases.map((c) => c.id);

const OK = { behavior: 'OK', behaviorClose: 'OK', duration: 1, remoteCloseCode: 1000 };

/** A report in which `agent` has every case of `ids` with the given results (OK by default). */
function report(ids: string[], overrides: Record<string, object> = {}, agent = 'volley'): ReportIndex {
  const results: ReportIndex[string] = {};
  for (const id of ids) results[id] = { ...OK, reportfile: `${agent}_case_${id.replaceAll('.', '_')}.json`, ...overrides[id] };
  return { [agent]: results };
}

const few = ['1.1.1', '1.1.2', '2.1', '7.1.5', '12.1.1', '12.1.2'];

describe('checkReports', () => {
  it('an all-OK report passes', () => {
    const result = checkReports(report(few), {}, { caseIds: few });
    expect(result.ok).toBe(true);
    expect(result.problems).toEqual([]);
    expect(result.verdicts.map((v) => v.status)).toEqual(few.map(() => 'ok'));
  });

  it('the full suite all OK passes', () => {
    expect(checkReports(report(allIds), {}, { caseIds: allIds }).ok).toBe(true);
  });

  it.each(['FAILED', 'UNIMPLEMENTED', 'WRONG CODE', 'UNCLEAN'])('behavior %s fails', (behavior) => {
    const result = checkReports(report(few, { '2.1': { behavior } }), {}, { caseIds: few });
    expect(result.ok).toBe(false);
    expect(result.verdicts.filter((v) => v.status === 'failed').map((v) => v.id)).toEqual(['2.1']);
  });

  it.each(['FAILED', 'WRONG CODE', 'UNCLEAN'])('behaviorClose %s fails even when behavior is OK', (behaviorClose) => {
    const result = checkReports(report(few, { '7.1.5': { behaviorClose } }), {}, { caseIds: few });
    expect(result.ok).toBe(false);
    expect(result.verdicts.find((v) => v.id === '7.1.5')).toMatchObject({ status: 'failed', behaviorClose });
  });

  it('UNIMPLEMENTED compression cases fail when not expected', () => {
    const index = report(few, { '12.1.1': { behavior: 'UNIMPLEMENTED' }, '12.1.2': { behavior: 'UNIMPLEMENTED' } });
    const result = checkReports(index, {}, { caseIds: few });
    expect(result.ok).toBe(false);
    expect(result.verdicts.filter((v) => v.status === 'failed').map((v) => v.id)).toEqual(['12.1.1', '12.1.2']);
  });

  it('a case missing from the report fails', () => {
    const result = checkReports(report(few.filter((id) => id !== '1.1.2')), {}, { caseIds: few });
    expect(result.ok).toBe(false);
    expect(result.verdicts.find((v) => v.id === '1.1.2')).toMatchObject({ status: 'failed', behavior: 'MISSING' });
  });

  it('without a case list, a case one agent lacks and another has fails', () => {
    const index = { ...report(few, {}, 'a'), ...report(few.slice(1), {}, 'b') };
    const result = checkReports(index);
    expect(result.ok).toBe(false);
    expect(result.verdicts.filter((v) => v.status === 'failed')).toMatchObject([{ agent: 'b', id: '1.1.1' }]);
  });

  it('an empty report fails', () => {
    const result = checkReports({}, {}, { caseIds: few });
    expect(result.ok).toBe(false);
    expect(result.problems.join()).toMatch(/no agent/);
  });

  it('NON-STRICT and INFORMATIONAL pass', () => {
    const index = report(few, {
      '2.1': { behavior: 'NON-STRICT' },
      '7.1.5': { behavior: 'INFORMATIONAL', behaviorClose: 'INFORMATIONAL' },
      '1.1.2': { behaviorClose: 'NON-STRICT' },
    });
    const result = checkReports(index, {}, { caseIds: few });
    expect(result.ok).toBe(true);
    expect(Object.fromEntries(result.verdicts.map((v) => [v.id, v.status]))).toMatchObject({
      '1.1.2': 'non-strict',
      '2.1': 'non-strict',
      '7.1.5': 'informational',
    });
  });

  it('expected failures with a reason pass, by id and by pattern', () => {
    const index = report(few, {
      '7.1.5': { behaviorClose: 'WRONG CODE' },
      '12.1.1': { behavior: 'UNIMPLEMENTED' },
      '12.1.2': { behavior: 'UNIMPLEMENTED' },
    });
    const expected: Record<string, Expectation> = {
      '7.1.5': { behavior: 'WRONG CODE', reason: 'answers a close mid-message with 1002' },
      '12.*': { behavior: ['UNIMPLEMENTED', 'FAILED'], reason: 'permessage-deflate not implemented yet' },
    };
    const result = checkReports(index, expected, { caseIds: few });
    expect(result.ok).toBe(true);
    expect(result.verdicts.filter((v) => v.status === 'expected').map((v) => [v.id, v.expectationKey])).toEqual([
      ['7.1.5', '7.1.5'],
      ['12.1.1', '12.*'],
      ['12.1.2', '12.*'],
    ]);
  });

  it('an expected entry without a behavior accepts any non-passing outcome', () => {
    const index = report(few, { '2.1': { behavior: 'FAILED' } });
    expect(checkReports(index, { '2.1': { reason: 'known' } }, { caseIds: few }).ok).toBe(true);
  });

  it('an expected failure without a reason fails', () => {
    const index = report(few, { '2.1': { behavior: 'FAILED' } });
    const result = checkReports(index, { '2.1': { behavior: 'FAILED' } }, { caseIds: few });
    expect(result.ok).toBe(false);
    expect(result.problems.join()).toMatch(/"2.1" has no reason/);
  });

  it('a different outcome than the expected one fails', () => {
    const index = report(few, { '2.1': { behavior: 'FAILED' } });
    const result = checkReports(index, { '2.1': { behavior: 'UNIMPLEMENTED', reason: 'x' } }, { caseIds: few });
    expect(result.ok).toBe(false);
    expect(result.verdicts.find((v) => v.id === '2.1')?.detail).toMatch(/expects UNIMPLEMENTED/);
  });

  it('an expected failure that passes now fails until the entry is removed', () => {
    const result = checkReports(report(few), { '2.1': { behavior: 'FAILED', reason: 'was broken' } }, { caseIds: few });
    expect(result.ok).toBe(false);
    expect(result.verdicts.find((v) => v.id === '2.1')).toMatchObject({ status: 'stale' });
  });

  it('an excluded case may be missing only when expected.json says EXCLUDED', () => {
    const index = report(few.filter((id) => id !== '2.1'));
    expect(checkReports(index, { '2.1': { behavior: EXCLUDED, reason: 'too slow' } }, { caseIds: few }).ok).toBe(true);
    expect(checkReports(index, { '2.1': { behavior: 'FAILED', reason: 'x' } }, { caseIds: few }).ok).toBe(false);
  });

  it('an entry that matches no case of the suite is a problem', () => {
    const result = checkReports(report(few), { '99.1': { reason: 'typo' } }, { caseIds: few });
    expect(result.ok).toBe(false);
    expect(result.problems.join()).toMatch(/"99.1" matches no case/);
  });

  it('every agent of the report is judged', () => {
    const index = { ...report(few, {}, 'volley'), ...report(few, { '1.1.1': { behavior: 'FAILED' } }, 'other') };
    const result = checkReports(index, {}, { caseIds: few });
    expect(result.ok).toBe(false);
    expect(result.verdicts.filter((v) => v.status === 'failed')).toMatchObject([{ agent: 'other', id: '1.1.1' }]);
  });

  it('formats a summary per category and the failing ids', () => {
    const index = report(few, { '12.1.1': { behavior: 'UNIMPLEMENTED' }, '2.1': { behavior: 'NON-STRICT' } });
    const text = formatResult(checkReports(index, {}, { caseIds: few }), { role: 'servers' });
    expect(text).toMatch(/servers: agent "volley", 6 cases/);
    expect(text).toMatch(/pass\s+1 Framing\s+2 ok/);
    expect(text).toMatch(/pass\s+2 Pings\/Pongs\s+1 non-strict/);
    expect(text).toMatch(/FAIL\s+12 WebSocket Compression \(different payloads\)\s+1 ok, 1 failed/);
    expect(text).toMatch(/failing cases \(1\):\n\s+12\.1\.1\s+UNIMPLEMENTED\/OK/);
    expect(text.trim().split('\n').at(-1)).toBe('servers: FAIL');
  });
});

describe('check.mjs command line', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function run(args: string[]): { code: number; out: string } {
    const lines: string[] = [];
    const code = main(args, { log: (l) => lines.push(l), error: (l) => lines.push(l) });
    return { code, out: lines.join('\n') };
  }

  function writeReport(role: string, index: ReportIndex): void {
    dir ??= mkdtempSync(join(tmpdir(), 'volley-autobahn-'));
    mkdirSync(join(dir, role), { recursive: true });
    writeFileSync(join(dir, role, 'index.json'), JSON.stringify(index));
  }

  it('exits 0 for a passing report, 1 for a failing one, 2 for none', () => {
    writeReport('servers', report(allIds));
    expect(run(['--reports', dir!])).toMatchObject({ code: 0 });
    writeReport('clients', report(allIds, { '6.4.1': { behavior: 'FAILED' } }));
    const failing = run(['--reports', dir!]);
    expect(failing.code).toBe(1);
    expect(failing.out).toMatch(/6\.4\.1\s+FAILED\/OK/);
    expect(failing.out).toMatch(/servers: PASS/);
    expect(failing.out).toMatch(/clients: FAIL/);
    expect(run(['--reports', join(dir!, 'nothing')]).code).toBe(2);
    expect(run(['servers', '--reports', join(dir!, 'nothing')]).code).toBe(2);
  });

  it('rejects unknown arguments', () => {
    expect(run(['--bogus']).code).toBe(2);
  });
});

describe('suite configs', () => {
  const expected: { comment: unknown; servers: Record<string, Expectation>; clients: Record<string, Expectation> } =
    readJson('expected.json');
  const readme = readFileSync(join(autobahnDir, 'README.md'), 'utf8');
  const configs: Array<[string, 'servers' | 'clients', SuiteConfig]> = [
    ['fuzzingclient.json', 'servers', readJson('fuzzingclient.json')],
    ['fuzzingserver.json', 'clients', readJson('fuzzingserver.json')],
  ];

  it('autobahn/cases.json lists the 517 cases of the suite, each once', () => {
    expect(allIds).toHaveLength(517);
    expect(new Set(allIds).size).toBe(517);
    for (const c of cases) expect(c.id).toMatch(/^\d+(\.\d+)+$/);
  });

  it('the fuzzingclient tests the echo server on 127.0.0.1:9001 as agent volley', () => {
    const config: any = readJson('fuzzingclient.json');
    expect(config.servers).toEqual([{ agent: 'volley', url: 'ws://127.0.0.1:9001' }]);
    expect(config.outdir).toBe('./reports/servers');
  });

  it('the fuzzingserver listens on 127.0.0.1:9001 and reports to ./reports/clients', () => {
    const config: any = readJson('fuzzingserver.json');
    expect(config.url).toBe('ws://127.0.0.1:9001');
    expect(config.outdir).toBe('./reports/clients');
  });

  it.each(configs)('%s runs every case; any exclusion is expected with a reason', (_file, role, config) => {
    expect(config.cases).toEqual(['*']);
    const { selected, excluded, notSelected, agentExcluded } = selectCases(config, allIds);
    expect(notSelected).toEqual([]);
    expect(selected.length + excluded.length).toBe(517);
    const unexplained = [...excluded, ...Object.values(agentExcluded).flat()].filter((id) => {
      const found = findExpectation(expected[role], id);
      const behaviors = [found?.entry?.behavior ?? []].flat();
      return !behaviors.includes(EXCLUDED) || !found?.entry?.reason?.trim();
    });
    expect(unexplained).toEqual([]);
  });

  it('expected.json explains its format, and every entry has a reason and is in the README', () => {
    expect(expected.comment).toBeDefined();
    for (const role of ['servers', 'clients'] as const) {
      expect(typeof expected[role]).toBe('object');
      for (const [key, entry] of Object.entries(expected[role])) {
        expect(entry.reason?.trim(), `${role} ${key}`).toBeTruthy();
        expect(allIds.some(casePattern(key)), `${role} ${key} matches a case`).toBe(true);
        expect(readme.includes(key), `${role} ${key} in autobahn/README.md`).toBe(true);
      }
    }
  });

  it('casePattern follows the suite: "*" anywhere, anchored at the start', () => {
    expect(allIds.filter(casePattern('1.*'))).toHaveLength(16);
    expect(allIds.filter(casePattern('12.*'))).toHaveLength(90);
    expect(allIds.filter(casePattern('*'))).toHaveLength(517);
    expect(allIds.filter(casePattern('7.1.5'))).toEqual(['7.1.5']);
  });
});
