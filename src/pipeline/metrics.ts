/**
 * Counters and gauges for `trailhound watch` / `trailhound serve`, rendered in the Prometheus text
 * exposition format (version 0.0.4) for `GET /metrics`.
 *
 * - `MetricsRegistry` holds metrics by name; `counter()` and `gauge()` declare one (declaring the same
 *   name twice with the same type, help and labels returns the first: modules may share a registry).
 * - Every sample is plain in-memory arithmetic: counting on the hot path costs a Map lookup. Count
 *   per batch where you can.
 * - A metric keeps at most `maxSeriesPerMetric` label sets (default 1,000); samples for further label
 *   sets are dropped and counted in `trailhound_metric_series_dropped_total`, so a label value that an
 *   attacker can influence never grows memory without bound.
 * - `createLiveMetrics()` declares the metrics every live source, the HTTP intake and the engine
 *   wiring report (the names are documented in docs/intake.md).
 *
 * Label values are escaped (`\\`, `"`, line feed) and HELP text too (`\\`, line feed), as the format
 * requires; metric and label names are checked when declared.
 */
import { TrailhoundError } from '../core/errors.js';

/** The Content-Type of `MetricsRegistry.render()`'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label values keyed by label name; exactly the metric's declared label names. */
export type Labels<L extends string> = Readonly<Record<L, string>>;

export interface MetricDefinition<L extends string> {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total` by convention. */
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
}

export interface GaugeDefinition<L extends string> extends MetricDefinition<L> {
  /**
   * Computes the unlabelled value at render time (e.g. lag behind the wall clock). `undefined` leaves
   * the sample out. Only for gauges without labels; `set` then has no effect on the rendered value.
   */
  readonly collect?: () => number | undefined;
}

/** A value that only goes up (events counted since the process started). */
export interface Counter<L extends string = never> {
  readonly name: string;
  /** Adds `amount` (default 1; must be finite and >= 0) to the series of `labels`. */
  inc(labels?: Labels<L>, amount?: number): void;
  /** The current value of the series of `labels` (0 when never incremented). */
  get(labels?: Labels<L>): number;
}

/** A value that goes up and down (a level, a time). */
export interface Gauge<L extends string = never> {
  readonly name: string;
  set(labels: Labels<L> | undefined, value: number): void;
  inc(labels?: Labels<L>, amount?: number): void;
  dec(labels?: Labels<L>, amount?: number): void;
  /** The current value of the series (a `collect` gauge: what `collect` returns now). */
  get(labels?: Labels<L>): number | undefined;
}

export interface MetricsRegistryOptions {
  /** Label sets kept per metric before new ones are dropped. Default 1,000. */
  readonly maxSeriesPerMetric?: number;
}

type MetricType = 'counter' | 'gauge';

interface Series {
  readonly labelText: string;
  value: number;
}

class Metric {
  readonly series = new Map<string, Series>();

  constructor(
    readonly type: MetricType,
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly registry: MetricsRegistry,
    readonly collect: (() => number | undefined) | undefined,
  ) {
    if (labelNames.length === 0) this.series.set('', { labelText: '', value: 0 });
  }

  /** The series of `labels`, created on first use; undefined when the series cap drops it. */
  seriesFor(labels: Readonly<Record<string, string>> | undefined): Series | undefined {
    const values = this.labelValues(labels);
    const key = values.join('\u0000');
    let series = this.series.get(key);
    if (series === undefined) {
      if (this.series.size >= this.registry.maxSeriesPerMetric) {
        this.registry.noteDroppedSeries();
        return undefined;
      }
      const labelText = this.labelNames.length === 0 ? '' : `{${this.labelNames.map((n, i) => `${n}="${escapeLabelValue(values[i] ?? '')}"`).join(',')}}`;
      series = { labelText, value: 0 };
      this.series.set(key, series);
    }
    return series;
  }

  peek(labels: Readonly<Record<string, string>> | undefined): Series | undefined {
    return this.series.get(this.labelValues(labels).join('\u0000'));
  }

  private labelValues(labels: Readonly<Record<string, string>> | undefined): string[] {
    const given = labels ?? {};
    const names = Object.keys(given);
    if (names.length !== this.labelNames.length || !this.labelNames.every((n) => typeof given[n] === 'string')) {
      throw new TrailhoundError('E_METRIC_LABELS', `metric ${this.name} takes the labels [${this.labelNames.join(', ')}], got [${names.join(', ')}]`);
    }
    return this.labelNames.map((n) => given[n] ?? '');
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`);
    out.push(`# TYPE ${this.name} ${this.type}`);
    if (this.collect !== undefined) {
      let value: number | undefined;
      try {
        value = this.collect();
      } catch {
        value = undefined;
      }
      if (value !== undefined) out.push(`${this.name} ${formatSampleValue(value)}`);
      return;
    }
    for (const series of this.series.values()) out.push(`${this.name}${series.labelText} ${formatSampleValue(series.value)}`);
  }
}

/** `\`, `"` and line feed escaped, as the text format requires inside a label value. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (ch) => (ch === '\n' ? '\\n' : `\\${ch}`));
}

/** `\` and line feed escaped, as the text format requires in HELP text. */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (ch) => (ch === '\n' ? '\\n' : '\\\\'));
}

/** A sample value as the text format writes it: `NaN`, `+Inf`, `-Inf` or a decimal number. */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function checkAmount(metric: string, amount: number): void {
  if (!Number.isFinite(amount)) throw new TrailhoundError('E_METRIC_VALUE', `metric ${metric}: the amount must be a finite number, got ${String(amount)}`);
}

export class MetricsRegistry {
  readonly maxSeriesPerMetric: number;
  private readonly metrics = new Map<string, Metric>();
  private droppedSeries = 0;

  constructor(options: MetricsRegistryOptions = {}) {
    const max = options.maxSeriesPerMetric ?? 1000;
    if (!Number.isInteger(max) || max < 1) throw new TrailhoundError('E_CONFIG', `maxSeriesPerMetric must be a positive integer, got ${String(max)}`);
    this.maxSeriesPerMetric = max;
  }

  counter<L extends string = never>(definition: MetricDefinition<L>): Counter<L> {
    const metric = this.declare('counter', definition, undefined);
    return {
      name: metric.name,
      inc: (labels, amount = 1) => {
        checkAmount(metric.name, amount);
        if (amount < 0) throw new TrailhoundError('E_METRIC_VALUE', `counter ${metric.name} cannot go down (amount ${amount})`);
        const series = metric.seriesFor(labels);
        if (series !== undefined) series.value += amount;
      },
      get: (labels) => metric.peek(labels)?.value ?? 0,
    };
  }

  gauge<L extends string = never>(definition: GaugeDefinition<L>): Gauge<L> {
    if (definition.collect !== undefined && (definition.labelNames?.length ?? 0) > 0) {
      throw new TrailhoundError('E_METRIC_DEFINITION', `gauge ${definition.name}: a collect function is only for gauges without labels`);
    }
    const metric = this.declare('gauge', definition, definition.collect);
    const add = (labels: Labels<L> | undefined, amount: number): void => {
      checkAmount(metric.name, amount);
      const series = metric.seriesFor(labels);
      if (series !== undefined) series.value += amount;
    };
    return {
      name: metric.name,
      set: (labels, value) => {
        if (typeof value !== 'number') throw new TrailhoundError('E_METRIC_VALUE', `gauge ${metric.name}: the value must be a number`);
        const series = metric.seriesFor(labels);
        if (series !== undefined) series.value = value;
      },
      inc: (labels, amount = 1) => add(labels, amount),
      dec: (labels, amount = 1) => add(labels, -amount),
      get: (labels) => {
        if (metric.collect !== undefined) {
          try {
            return metric.collect();
          } catch {
            return undefined;
          }
        }
        return metric.peek(labels)?.value;
      },
    };
  }

  /** Every metric, in declaration order, in the Prometheus text format (ends with a line feed). */
  render(): string {
    const out: string[] = [];
    for (const metric of this.metrics.values()) metric.render(out);
    if (this.droppedSeries > 0) {
      out.push('# HELP trailhound_metric_series_dropped_total Samples dropped because a metric already had as many label sets as it may keep.');
      out.push('# TYPE trailhound_metric_series_dropped_total counter');
      out.push(`trailhound_metric_series_dropped_total ${this.droppedSeries}`);
    }
    return out.length === 0 ? '' : `${out.join('\n')}\n`;
  }

  /** @internal Called by a metric when the series cap drops a sample. */
  noteDroppedSeries(): void {
    this.droppedSeries++;
  }

  private declare(type: MetricType, definition: MetricDefinition<string>, collect: (() => number | undefined) | undefined): Metric {
    const { name, help } = definition;
    const labelNames = [...(definition.labelNames ?? [])];
    if (!METRIC_NAME.test(name)) throw new TrailhoundError('E_METRIC_DEFINITION', `${JSON.stringify(name)} is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__')) throw new TrailhoundError('E_METRIC_DEFINITION', `metric ${name}: ${JSON.stringify(label)} is not a valid label name`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new TrailhoundError('E_METRIC_DEFINITION', `metric ${name}: a label name is repeated`);
    const existing = this.metrics.get(name);
    if (existing !== undefined) {
      const isSame = existing.type === type && existing.help === help && existing.labelNames.join(',') === labelNames.join(',') && existing.collect === collect;
      if (!isSame) throw new TrailhoundError('E_METRIC_DEFINITION', `metric ${name} is already declared differently`);
      return existing;
    }
    const metric = new Metric(type, name, help, labelNames, this, collect);
    this.metrics.set(name, metric);
    return metric;
  }
}

// ---------------------------------------------------------------------------------------------
// The metrics of live detection

/** Where records came from, as the `source` label says it. */
export type RecordSourceLabel = 'firehose' | 'http' | 's3' | 'sqs' | 'file';

export interface LiveMetrics {
  readonly registry: MetricsRegistry;
  /** `trailhound_records_total{source}`: CloudTrail records read. */
  readonly recordsIn: Counter<'source'>;
  /** `trailhound_records_late_total`: records that arrived after the watermark had passed their time. */
  readonly recordsLate: Counter;
  /** `trailhound_records_bad_total{source}`: inputs that were not readable CloudTrail (each reported once). */
  readonly recordsBad: Counter<'source'>;
  /** `trailhound_signals_created_total`. */
  readonly signalsCreated: Counter;
  /** `trailhound_signals_updated_total`. */
  readonly signalsUpdated: Counter;
  /** `trailhound_objects_processed_total{source}`: S3 objects, files or intake requests fully processed. */
  readonly objectsProcessed: Counter<'source'>;
  /** `trailhound_objects_failed_total{source}`: objects given up on (reported, left to the queue's redrive). */
  readonly objectsFailed: Counter<'source'>;
  /** `trailhound_http_requests_total{route,status}`: intake requests answered. */
  readonly httpRequests: Counter<'route' | 'status'>;
  /** `trailhound_duplicate_requests_total{source}`: deliveries recognised as retries of a request processed or in progress. */
  readonly duplicateRequests: Counter<'source'>;
  /** `trailhound_lag_seconds`: wall clock minus the newest event time seen (absent before the first event). */
  readonly lagSeconds: Gauge;
  /** Notes the time of an event (epoch ms); the newest one drives `trailhound_lag_seconds`. */
  observeEventTime(timeMs: number): void;
}

export interface LiveMetricsOptions {
  readonly registry?: MetricsRegistry;
  /** Wall clock in epoch ms, for the lag gauge. Default `Date.now`. */
  readonly now?: () => number;
}

/** Declares the live-detection metrics on `registry` (a new one by default). */
export function createLiveMetrics(options: LiveMetricsOptions = {}): LiveMetrics {
  const registry = options.registry ?? new MetricsRegistry();
  const now = options.now ?? Date.now;
  let newestEventMs: number | undefined;
  return {
    registry,
    recordsIn: registry.counter({ name: 'trailhound_records_total', help: 'CloudTrail records read, by source.', labelNames: ['source'] }),
    recordsLate: registry.counter({ name: 'trailhound_records_late_total', help: 'Records whose event time was already behind the watermark when they arrived (evaluated against the state kept).' }),
    recordsBad: registry.counter({ name: 'trailhound_records_bad_total', help: 'Inputs that were not readable CloudTrail records (bad JSON, bad gzip, not CloudTrail), by source.', labelNames: ['source'] }),
    signalsCreated: registry.counter({ name: 'trailhound_signals_created_total', help: 'Signals created.' }),
    signalsUpdated: registry.counter({ name: 'trailhound_signals_updated_total', help: 'Updates of signals already created.' }),
    objectsProcessed: registry.counter({ name: 'trailhound_objects_processed_total', help: 'S3 objects, files and intake requests fully processed, by source.', labelNames: ['source'] }),
    objectsFailed: registry.counter({ name: 'trailhound_objects_failed_total', help: 'Objects given up on after an error, by source.', labelNames: ['source'] }),
    httpRequests: registry.counter({ name: 'trailhound_http_requests_total', help: 'HTTP requests answered, by route and status code.', labelNames: ['route', 'status'] }),
    duplicateRequests: registry.counter({ name: 'trailhound_duplicate_requests_total', help: 'Deliveries recognised as retries of a request already processed or still in progress (not processed again), by source.', labelNames: ['source'] }),
    lagSeconds: registry.gauge({
      name: 'trailhound_lag_seconds',
      help: 'Wall clock minus the newest event time seen, in seconds.',
      collect: () => (newestEventMs === undefined ? undefined : (now() - newestEventMs) / 1000),
    }),
    observeEventTime(timeMs: number): void {
      if (Number.isFinite(timeMs) && (newestEventMs === undefined || timeMs > newestEventMs)) newestEventMs = timeMs;
    },
  };
}
