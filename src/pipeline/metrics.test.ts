import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLiveMetrics, formatSampleValue, MetricsRegistry } from './metrics.js';

interface ParsedMetric {
  help?: string;
  type?: string;
  samples: { labels: Record<string, string>; value: number }[];
}

/**
 * A strict reader of the Prometheus text format (0.0.4), written from the format's description:
 * HELP/TYPE comment lines, then `name{label="value",…} value` samples. Throws on anything else.
 */
function parseExposition(text: string): Map<string, ParsedMetric> {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the text must end with a line feed');
  const metrics = new Map<string, ParsedMetric>();
  const entry = (name: string): ParsedMetric => {
    let m = metrics.get(name);
    if (m === undefined) {
      m = { samples: [] };
      metrics.set(name, m);
    }
    return m;
  };
  const unescape = (s: string, isLabel: boolean): string =>
    s.replace(/\\(.)/gs, (_all, ch: string) => {
      if (ch === 'n') return '\n';
      if (ch === '\\') return '\\';
      if (ch === '"' && isLabel) return '"';
      throw new Error(`bad escape \\${ch}`);
    });
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/s.exec(line);
    if (help) {
      entry(help[1] ?? '').help = unescape(help[2] ?? '', false);
      continue;
    }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      const m = entry(type[1] ?? '');
      if (m.samples.length > 0) throw new Error('TYPE after samples');
      m.type = type[2] ?? '';
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/s.exec(line);
    if (!sample) throw new Error(`not a valid line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    let rest = sample[2] ?? '';
    while (rest !== '') {
      const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)/s.exec(rest);
      if (!label) throw new Error(`bad labels: ${JSON.stringify(rest)}`);
      labels[label[1] ?? ''] = unescape(label[2] ?? '', true);
      rest = rest.slice(label[0].length);
    }
    const raw = sample[3] ?? '';
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : raw === 'NaN' ? NaN : Number(raw);
    if (raw !== 'NaN' && Number.isNaN(value)) throw new Error(`bad value ${raw}`);
    entry(sample[1] ?? '').samples.push({ labels, value });
  }
  return metrics;
}

describe('metrics registry, Prometheus text format', () => {
  /** Strings heavy in the characters the format escapes, and any Unicode. */
  const tricky = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('a', 'n', ' ', '\\', '"', '\n', '{', '}', ',', '=') }));

  it('an unlabelled counter is rendered with HELP, TYPE and 0 before it is first incremented', () => {
    const registry = new MetricsRegistry();
    registry.counter({ name: 'x_total', help: 'Things.' });
    expect(registry.render()).toBe('# HELP x_total Things.\n# TYPE x_total counter\nx_total 0\n');
  });

  it('a labelled counter has one sample per label set, labels in declaration order', () => {
    const registry = new MetricsRegistry();
    const c = registry.counter({ name: 'req_total', help: 'Requests.', labelNames: ['route', 'status'] });
    c.inc({ status: '200', route: 'firehose' });
    c.inc({ route: 'firehose', status: '200' }, 2);
    c.inc({ route: 'cloudtrail', status: '401' });
    expect(registry.render()).toBe(['# HELP req_total Requests.', '# TYPE req_total counter', 'req_total{route="firehose",status="200"} 3', 'req_total{route="cloudtrail",status="401"} 1', ''].join('\n'));
    expect(c.get({ route: 'firehose', status: '200' })).toBe(3);
    expect(c.get({ route: 'other', status: '500' })).toBe(0);
  });

  it('any label value and HELP text survive escaping (parsed back equal)', () => {
    fc.assert(
      fc.property(fc.array(tricky, { minLength: 1, maxLength: 5 }), tricky, (values, help) => {
        const registry = new MetricsRegistry();
        const c = registry.counter({ name: 'v_total', help, labelNames: ['value'] });
        const distinct = [...new Set(values)];
        distinct.forEach((value, i) => c.inc({ value }, i + 1));
        const parsed = parseExposition(registry.render()).get('v_total');
        expect(parsed?.help).toBe(help);
        expect(parsed?.type).toBe('counter');
        expect(parsed?.samples).toEqual(distinct.map((value, i) => ({ labels: { value }, value: i + 1 })));
      }),
    );
  });

  it.each([
    ['a backslash', 'a\\b', 'a\\\\b'],
    ['a double quote', 'say "hi"', 'say \\"hi\\"'],
    ['a line feed', 'two\nlines', 'two\\nlines'],
  ])('%s in a label value is escaped', (_name, value, escaped) => {
    const registry = new MetricsRegistry();
    registry.counter({ name: 'e_total', help: 'h', labelNames: ['v'] }).inc({ v: value });
    expect(registry.render()).toContain(`e_total{v="${escaped}"} 1\n`);
  });

  it('gauges go up, down and to a set value', () => {
    const registry = new MetricsRegistry();
    const g = registry.gauge({ name: 'level', help: 'Level.', labelNames: ['queue'] });
    g.set({ queue: 'a' }, 10);
    g.inc({ queue: 'a' }, 5);
    g.dec({ queue: 'a' }, 2);
    g.dec({ queue: 'b' });
    const parsed = parseExposition(registry.render()).get('level');
    expect(parsed?.type).toBe('gauge');
    expect(parsed?.samples).toEqual([
      { labels: { queue: 'a' }, value: 13 },
      { labels: { queue: 'b' }, value: -1 },
    ]);
  });

  it('a collected gauge is computed at render time and left out while it has no value', () => {
    const registry = new MetricsRegistry();
    const source: { value?: number } = {};
    registry.gauge({ name: 'computed', help: 'C.', collect: () => source.value });
    expect(parseExposition(registry.render()).get('computed')?.samples).toEqual([]);
    source.value = 4.5;
    expect(parseExposition(registry.render()).get('computed')?.samples).toEqual([{ labels: {}, value: 4.5 }]);
  });

  it.each([
    [NaN, 'NaN'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [0.25, '0.25'],
    [-3, '-3'],
    [1e21, '1e+21'],
  ])('the sample value %d is written %s', (value, text) => {
    expect(formatSampleValue(value)).toBe(text);
  });

  it.each([
    ['a negative amount', (r: MetricsRegistry) => r.counter({ name: 'n_total', help: 'h' }).inc(undefined, -1), /cannot go down/],
    ['a non-finite amount', (r: MetricsRegistry) => r.counter({ name: 'n_total', help: 'h' }).inc(undefined, NaN), /finite/],
    ['a missing label', (r: MetricsRegistry) => r.counter({ name: 'n_total', help: 'h', labelNames: ['a', 'b'] }).inc({ a: 'x' } as never), /takes the labels \[a, b\]/],
    ['an undeclared label', (r: MetricsRegistry) => r.counter({ name: 'n_total', help: 'h' }).inc({ a: 'x' }), /takes the labels \[\]/],
    ['an invalid metric name', (r: MetricsRegistry) => r.counter({ name: '9lives', help: 'h' }), /not a valid metric name/],
    ['a reserved label name', (r: MetricsRegistry) => r.counter({ name: 'n_total', help: 'h', labelNames: ['__name'] }), /not a valid label name/],
    ['a repeated label name', (r: MetricsRegistry) => r.counter({ name: 'n_total', help: 'h', labelNames: ['a', 'a'] }), /repeated/],
    [
      'a name declared twice differently',
      (r: MetricsRegistry) => {
        r.counter({ name: 'n_total', help: 'h' });
        r.gauge({ name: 'n_total', help: 'h' });
      },
      /already declared differently/,
    ],
  ])('%s is a programming error', (_name, misuse, message) => {
    expect(() => misuse(new MetricsRegistry())).toThrow(message);
  });

  it('declaring the same metric twice gives the same series', () => {
    const registry = new MetricsRegistry();
    registry.counter({ name: 's_total', help: 'h', labelNames: ['a'] }).inc({ a: '1' });
    registry.counter({ name: 's_total', help: 'h', labelNames: ['a'] }).inc({ a: '1' });
    expect(parseExposition(registry.render()).get('s_total')?.samples).toEqual([{ labels: { a: '1' }, value: 2 }]);
  });

  it('label sets beyond the cap are dropped and counted, so memory stays bounded', () => {
    const registry = new MetricsRegistry({ maxSeriesPerMetric: 3 });
    const c = registry.counter({ name: 'cap_total', help: 'h', labelNames: ['v'] });
    for (let i = 0; i < 10; i++) c.inc({ v: String(i) });
    c.inc({ v: '0' });
    const parsed = parseExposition(registry.render());
    expect(parsed.get('cap_total')?.samples.map((s) => [s.labels.v, s.value])).toEqual([
      ['0', 2],
      ['1', 1],
      ['2', 1],
    ]);
    expect(parsed.get('trailhound_metric_series_dropped_total')?.samples[0]?.value).toBe(7);
  });
});

describe('live metrics', () => {
  it('declares every metric with HELP and TYPE, counters named *_total', () => {
    const metrics = createLiveMetrics();
    const parsed = parseExposition(metrics.registry.render());
    expect([...parsed.keys()]).toEqual([
      'trailhound_records_total',
      'trailhound_records_late_total',
      'trailhound_records_bad_total',
      'trailhound_signals_created_total',
      'trailhound_signals_updated_total',
      'trailhound_objects_processed_total',
      'trailhound_objects_failed_total',
      'trailhound_http_requests_total',
      'trailhound_duplicate_requests_total',
      'trailhound_lag_seconds',
    ]);
    for (const [name, m] of parsed) {
      expect(m.help, name).toMatch(/\S/);
      expect(m.type === 'counter' ? name.endsWith('_total') : m.type === 'gauge').toBe(true);
    }
  });

  it('the lag is the wall clock minus the newest event time, in seconds, absent before any event', () => {
    let now = Date.parse('2024-08-01T12:20:00Z');
    const metrics = createLiveMetrics({ now: () => now });
    expect(metrics.lagSeconds.get()).toBeUndefined();
    metrics.observeEventTime(Date.parse('2024-08-01T12:04:19Z'));
    metrics.observeEventTime(Date.parse('2024-08-01T12:03:30Z'));
    metrics.observeEventTime(NaN);
    expect(metrics.lagSeconds.get()).toBe(941);
    now += 60_000;
    expect(parseExposition(metrics.registry.render()).get('trailhound_lag_seconds')?.samples).toEqual([{ labels: {}, value: 1001 }]);
  });
});
