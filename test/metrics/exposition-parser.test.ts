/**
 * The strict exposition parser itself: it accepts well-formed bodies and rejects each
 * kind of malformed input, so that a renderer passing it means something.
 */
import { describe, expect, it } from 'vitest';
import { ExpositionError, parseExposition, parseFloatValue } from './exposition-parser.js';

const valid = `# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# A comment that is ignored.
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

# HELP metric_without_timestamp_and_labels Help with \\\\ and \\n escapes.
# TYPE metric_without_timestamp_and_labels gauge
metric_without_timestamp_and_labels 12.47
# TYPE special gauge
special{kind="a"} +Inf
special{kind="b"} -Inf
special{kind="c"} NaN
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.99",} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
`;

describe('accepts the format', () => {
  it('the example of the format documentation, with escapes, specials, histogram and summary', () => {
    const families = parseExposition(valid);
    expect([...families.keys()]).toEqual([
      'http_requests_total',
      'msdos_file_access_time_seconds',
      'metric_without_timestamp_and_labels',
      'special',
      'http_request_duration_seconds',
      'rpc_duration_seconds',
    ]);
    expect(families.get('http_requests_total')!.samples[1]).toEqual({ name: 'http_requests_total', labels: { method: 'post', code: '400' }, value: 3, timestamp: 1395066363000 });
    expect(families.get('msdos_file_access_time_seconds')!.samples[0]!.labels).toEqual({ path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"' });
    expect(families.get('metric_without_timestamp_and_labels')!.help).toBe('Help with \\ and \n escapes.');
    expect(families.get('special')!.samples.map((s) => s.value)).toEqual([Infinity, -Infinity, Number.NaN]);
    expect(families.get('http_request_duration_seconds')!.samples).toHaveLength(5);
    expect(families.get('rpc_duration_seconds')!.type).toBe('summary');
  });

  it('an empty body', () => {
    expect(parseExposition('').size).toBe(0);
  });

  it.each([
    ['1', 1],
    ['-1.5', -1.5],
    ['.5', 0.5],
    ['1e3', 1000],
    ['1E-3', 0.001],
    ['+Inf', Infinity],
    ['-Inf', -Infinity],
  ])('float %s', (text, value) => {
    expect(parseFloatValue(text)).toBe(value);
  });
});

describe('rejects malformed input', () => {
  const family = (samples: string, type = 'gauge') => `# HELP m help\n# TYPE m ${type}\n${samples}\n`;

  it.each([
    ['no final line feed', '# TYPE m gauge\nm 1'],
    ['a bad metric name', '0metric 1\n'],
    ['a dash in a metric name', 'my-metric 1\n'],
    ['a bad label name', 'm{0a="x"} 1\n'],
    ['a reserved label name', 'm{__name__="x"} 1\n'],
    ['a repeated label', 'm{a="x",a="y"} 1\n'],
    ['an unquoted label value', 'm{a=x} 1\n'],
    ['an unterminated label value', 'm{a="x} 1\n'],
    ['an unknown escape in a label value', 'm{a="\\t"} 1\n'],
    ['a missing closing brace', 'm{a="x" 1\n'],
    ['no value', 'm\n'],
    ['no blank before the value', 'm{a="x"}1\n'],
    ['a value that is not a float', 'm one\n'],
    ['a hexadecimal value', 'm 0x10\n'],
    ['three fields', 'm 1 2 3\n'],
    ['a float timestamp', 'm 1 1.5\n'],
    ['an unknown type', '# TYPE m meter\nm 1\n'],
    ['a TYPE line without a type', '# TYPE m\nm 1\n'],
    ['a HELP line without a name', '# HELP\n'],
    ['a second TYPE', '# TYPE m gauge\n# TYPE m gauge\nm 1\n'],
    ['a second HELP', '# HELP m a\n# HELP m b\nm 1\n'],
    ['TYPE after the samples', 'm 1\n# TYPE m gauge\n'],
    ['a bad escape in HELP', '# HELP m a \\t b\nm 1\n'],
    ['a family that is not contiguous', 'a 1\nb 1\na{x="y"} 2\n'],
    ['the same sample twice', 'm{a="1"} 1\nm{a="1"} 2\n'],
    ['a negative counter', family('m -1', 'counter')],
    ['le on a gauge', family('m{le="1"} 1')],
    ['a histogram without +Inf', family('m_bucket{le="1"} 1\nm_sum 1\nm_count 1', 'histogram')],
    ['a histogram with decreasing buckets', family('m_bucket{le="1"} 5\nm_bucket{le="2"} 4\nm_bucket{le="+Inf"} 5\nm_sum 1\nm_count 5', 'histogram')],
    ['a histogram whose +Inf differs from _count', family('m_bucket{le="+Inf"} 5\nm_sum 1\nm_count 6', 'histogram')],
    ['a histogram bucket without le', family('m_bucket 1\nm_bucket{le="+Inf"} 1\nm_sum 1\nm_count 1', 'histogram')],
    ['a histogram bucket with le not a float', family('m_bucket{le="x"} 1\nm_bucket{le="+Inf"} 1\nm_sum 1\nm_count 1', 'histogram')],
    ['a bare sample in a histogram', family('m 1', 'histogram')],
    ['a summary quantile sample without quantile', family('m 1\nm_sum 1\nm_count 1', 'summary')],
    ['a summary _bucket', family('m_bucket{le="1"} 1', 'summary')],
  ])('%s', (_, text) => {
    expect(() => parseExposition(text)).toThrow(ExpositionError);
  });
});
