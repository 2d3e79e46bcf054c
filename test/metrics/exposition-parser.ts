/**
 * A strict parser of the Prometheus text exposition format 0.0.4, written for the tests
 * from the format's description (prometheus.io/docs/instrumenting/exposition_formats),
 * independently of the renderer. It rejects, with the line number:
 *
 * - lines that are not `# HELP`, `# TYPE`, another comment, a blank line or a sample;
 *   a body that does not end with a line feed;
 * - metric names outside `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names outside
 *   `[a-zA-Z_][a-zA-Z0-9_]*` (or starting with `__`), repeated labels, unterminated or
 *   badly escaped label values (only `\\`, `\"`, `\n`), bad HELP escapes (`\\`, `\n`);
 * - values that are not Go floats (`+Inf`, `-Inf`, `NaN` included), bad timestamps;
 * - a second HELP or TYPE for a name, a TYPE after the family's samples, an unknown type;
 * - a family whose lines are not contiguous, the same sample twice;
 * - histogram and summary rules: only `_bucket` (with `le`), `_sum`, `_count` (and the
 *   bare name with `quantile` for summaries); buckets cumulative, a `+Inf` bucket equal
 *   to `_count`; no `le` / `quantile` elsewhere; counters never negative.
 */

export type ParsedType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

export interface ParsedFamily {
  name: string;
  help?: string;
  type: ParsedType;
  samples: ParsedSample[];
}

export class ExpositionError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'ExpositionError';
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<ParsedType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Inf|inf)$/;
const TIMESTAMP = /^-?\d+$/;

/**
 * Parses an exposition body.
 *
 * @returns the families by name, in order of appearance.
 * @throws {ExpositionError} for anything the format does not allow.
 */
export function parseExposition(text: string): Map<string, ParsedFamily> {
  const families = new Map<string, ParsedFamily>();
  if (text === '') return families;
  if (!text.endsWith('\n')) throw new ExpositionError(text.split('\n').length, 'the body must end with a line feed');
  const lines = text.slice(0, -1).split('\n');
  /** Families whose samples have started, and the one whose lines we are in. */
  const closed = new Set<string>();
  let current: string | null = null;
  const seenSamples = new Set<string>();
  const enter = (family: string, lineNumber: number) => {
    if (current === family) return;
    if (closed.has(family)) throw new ExpositionError(lineNumber, `family ${family} is not contiguous`);
    if (current !== null) closed.add(current);
    current = family;
  };
  const family = (name: string): ParsedFamily => {
    let existing = families.get(name);
    if (existing === undefined) families.set(name, (existing = { name, type: 'untyped', samples: [] }));
    return existing;
  };
  const typed = new Set<string>();
  const helped = new Set<string>();

  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const line = lines[index]!;
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const match = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (match === null) {
        // Any other comment is ignored, but HELP/TYPE must be well formed.
        if (/^#[ \t]+(HELP|TYPE)\b/.test(line)) throw new ExpositionError(lineNumber, `malformed ${line.split(/\s+/)[1]} line`);
        continue;
      }
      const [, keyword, name, rest] = match as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
      if (!METRIC_NAME.test(name)) throw new ExpositionError(lineNumber, `invalid metric name ${JSON.stringify(name)}`);
      enter(name, lineNumber);
      const target = family(name);
      if (keyword === 'HELP') {
        if (helped.has(name)) throw new ExpositionError(lineNumber, `second HELP for ${name}`);
        helped.add(name);
        target.help = unescapeHelp(rest ?? '', lineNumber);
      } else {
        if (typed.has(name)) throw new ExpositionError(lineNumber, `second TYPE for ${name}`);
        if (target.samples.length > 0) throw new ExpositionError(lineNumber, `TYPE for ${name} after its samples`);
        const type = (rest ?? '').trim() as ParsedType;
        if (!TYPES.has(type)) throw new ExpositionError(lineNumber, `unknown type ${JSON.stringify(rest)}`);
        typed.add(name);
        target.type = type;
      }
      continue;
    }
    const sample = parseSample(line, lineNumber);
    const familyName = familyOf(sample.name, families);
    enter(familyName, lineNumber);
    const target = family(familyName);
    checkSampleFits(target, sample, lineNumber);
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
    if (seenSamples.has(key)) throw new ExpositionError(lineNumber, `duplicate sample ${sample.name}`);
    seenSamples.add(key);
    target.samples.push(sample);
  }
  for (const parsed of families.values()) checkFamily(parsed);
  return families;
}

/** The family a sample belongs to: histogram and summary samples carry suffixes. */
function familyOf(sampleName: string, families: Map<string, ParsedFamily>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = sampleName.slice(0, -suffix.length);
    const declared = families.get(base);
    if (declared !== undefined && (declared.type === 'histogram' || (declared.type === 'summary' && suffix !== '_bucket'))) return base;
  }
  return sampleName;
}

function checkSampleFits(family: ParsedFamily, sample: ParsedSample, lineNumber: number): void {
  const suffix = sample.name.slice(family.name.length);
  const has = (label: string) => Object.hasOwn(sample.labels, label);
  if (family.type === 'histogram') {
    if (suffix === '_bucket') {
      if (!has('le')) throw new ExpositionError(lineNumber, `${sample.name} without an le label`);
      if (parseFloatValue(sample.labels.le!) === null) throw new ExpositionError(lineNumber, `le="${sample.labels.le}" is not a float`);
    } else if (suffix === '_sum' || suffix === '_count') {
      if (has('le')) throw new ExpositionError(lineNumber, `le label on ${sample.name}`);
    } else {
      throw new ExpositionError(lineNumber, `histogram ${family.name} has a sample ${sample.name}`);
    }
  } else if (family.type === 'summary') {
    if (suffix === '') {
      if (!has('quantile')) throw new ExpositionError(lineNumber, `${sample.name} without a quantile label`);
    } else if (suffix !== '_sum' && suffix !== '_count') {
      throw new ExpositionError(lineNumber, `summary ${family.name} has a sample ${sample.name}`);
    } else if (has('quantile')) {
      throw new ExpositionError(lineNumber, `quantile label on ${sample.name}`);
    }
  } else {
    if (suffix !== '') throw new ExpositionError(lineNumber, `sample ${sample.name} in family ${family.name}`);
    if (has('le') || has('quantile')) throw new ExpositionError(lineNumber, `le/quantile label on a ${family.type}`);
    if (family.type === 'counter' && (sample.value < 0 || Number.isNaN(sample.value))) {
      throw new ExpositionError(lineNumber, `counter ${sample.name} is ${sample.value}`);
    }
  }
}

/** Histogram buckets cumulative, +Inf present and equal to _count, per label set. */
function checkFamily(family: ParsedFamily): void {
  if (family.type !== 'histogram') return;
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1)));
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { buckets: [] }));
    if (sample.name.endsWith('_bucket')) group.buckets.push([parseFloatValue(le!)!, sample.value]);
    else if (sample.name.endsWith('_count')) group.count = sample.value;
  }
  for (const group of groups.values()) {
    const buckets = group.buckets.sort((a, b) => a[0] - b[0]);
    const inf = buckets.at(-1);
    if (inf === undefined || inf[0] !== Infinity) throw new ExpositionError(0, `histogram ${family.name} has no +Inf bucket`);
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]![1] < buckets[i - 1]![1]) throw new ExpositionError(0, `histogram ${family.name} buckets are not cumulative`);
    }
    if (group.count === undefined || group.count !== inf[1]) throw new ExpositionError(0, `histogram ${family.name}: +Inf bucket ${inf[1]} differs from _count ${group.count}`);
  }
}

function parseSample(line: string, lineNumber: number): ParsedSample {
  let i = 0;
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (nameMatch === null) throw new ExpositionError(lineNumber, `not a sample: ${JSON.stringify(line)}`);
  const name = nameMatch[0];
  i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      i = skipBlanks(line, i);
      if (line[i] === '}') {
        i++;
        break;
      }
      const labelMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
      if (labelMatch === null) throw new ExpositionError(lineNumber, `invalid label name at column ${i + 1}`);
      const label = labelMatch[0];
      if (!LABEL_NAME.test(label) || label.startsWith('__')) throw new ExpositionError(lineNumber, `invalid label name ${label}`);
      if (Object.hasOwn(labels, label)) throw new ExpositionError(lineNumber, `label ${label} repeated`);
      i = skipBlanks(line, i + label.length);
      if (line[i] !== '=') throw new ExpositionError(lineNumber, `expected = after ${label}`);
      i = skipBlanks(line, i + 1);
      if (line[i] !== '"') throw new ExpositionError(lineNumber, `expected " to open the value of ${label}`);
      i++;
      let value = '';
      for (;;) {
        if (i >= line.length) throw new ExpositionError(lineNumber, `unterminated value of ${label}`);
        const c = line[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\') {
          const next = line[i + 1];
          if (next === '\\') value += '\\';
          else if (next === '"') value += '"';
          else if (next === 'n') value += '\n';
          else throw new ExpositionError(lineNumber, `invalid escape \\${next ?? ''} in the value of ${label}`);
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      labels[label] = value;
      i = skipBlanks(line, i);
      if (line[i] === ',') {
        i++;
        continue;
      }
      if (line[i] === '}') {
        i++;
        break;
      }
      throw new ExpositionError(lineNumber, `expected , or } after the value of ${label}`);
    }
  }
  const rest = line.slice(i);
  if (!/^[ \t]/.test(rest)) throw new ExpositionError(lineNumber, `expected a blank before the value of ${name}`);
  const fields = rest.trim().split(/[ \t]+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === '') throw new ExpositionError(lineNumber, `expected a value and an optional timestamp, got ${JSON.stringify(rest)}`);
  const value = parseFloatValue(fields[0]!);
  if (value === null) throw new ExpositionError(lineNumber, `invalid value ${JSON.stringify(fields[0])}`);
  const sample: ParsedSample = { name, labels, value };
  if (fields.length === 2) {
    if (!TIMESTAMP.test(fields[1]!)) throw new ExpositionError(lineNumber, `invalid timestamp ${JSON.stringify(fields[1])}`);
    sample.timestamp = Number(fields[1]);
  }
  return sample;
}

/** A Go float: decimal or exponent notation, `NaN`, `+Inf`, `-Inf` (and `Inf`). */
export function parseFloatValue(text: string): number | null {
  if (text === 'NaN') return Number.NaN;
  if (!FLOAT.test(text)) return null;
  if (/inf$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  return Number(text);
}

function unescapeHelp(text: string, lineNumber: number): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === '\\') out += '\\';
    else if (next === 'n') out += '\n';
    else throw new ExpositionError(lineNumber, `invalid escape \\${next ?? ''} in HELP`);
    i++;
  }
  return out;
}

function skipBlanks(line: string, i: number): number {
  while (line[i] === ' ' || line[i] === '\t') i++;
  return i;
}
