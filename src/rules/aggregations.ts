/**
 * Loader checks for query aggregations (`count`, `cardinality`, `sum`, `max`, `new_value`) and for the
 * new_value method's options. Pure: each check returns the compiled values and its problems, with
 * paths relative to the query (or to `options`); the loader locates them in the file.
 *
 * Datadog's model (API v2 `SecurityMonitoringStandardRuleQuery`): `distinctFields` are the fields
 * whose distinct values `cardinality` counts; `metrics` are the fields `sum` and `max` aggregate and
 * `new_value` learns; `metric` is the deprecated single-field form of `metrics`, used only when
 * `metrics` is absent or empty. `options.newValueOptions` (`SecurityMonitoringRuleNewValueOptions`):
 * `learningDuration` 0, 1 or 7 days (default 0), `forgetAfter` 1, 2, 7, 14, 21 or 28 days,
 * `learningMethod` `duration` (default) or `threshold`, `learningThreshold` 0 or 1 (default 0),
 * `instantaneousBaseline` (accepted; trailhound always learns from the events it reads).
 */
import type { Aggregation, CompiledCondition, NewValueOptions } from './model.js';
import type { DocumentPath } from './read.js';
import type { RuleQueryDocument } from './schema.js';
import { closestName } from './suggest.js';

export const NEW_VALUE_LEARNING_DURATIONS: readonly number[] = [0, 1, 7];
export const NEW_VALUE_FORGET_AFTER: readonly number[] = [1, 2, 7, 14, 21, 28];
export const NEW_VALUE_LEARNING_METHODS: readonly string[] = ['duration', 'threshold'];
export const NEW_VALUE_LEARNING_THRESHOLDS: readonly number[] = [0, 1];

/** Aggregations trailhound runs. */
export const RUNNABLE_AGGREGATIONS: readonly Aggregation[] = ['count', 'cardinality', 'sum', 'max', 'new_value'];

/** Aggregations Datadog has that trailhound does not run. */
export const UNSUPPORTED_AGGREGATIONS: readonly string[] = ['geo_data', 'event_count', 'none'];

/** The fields of `options.newValueOptions`, with what each means. */
export const NEW_VALUE_OPTION_FIELDS: Readonly<Record<string, string>> = {
  learningDuration: 'Days from the rule’s first value during which values are learned without signals: 0, 1 or 7 (default 0: only the first value).',
  forgetAfter: 'Days after which a value not seen again is forgotten, so that it is new again: 1, 2, 7, 14, 21 or 28. Required.',
  learningMethod: '`duration` (learn for learningDuration days; the default) or `threshold` (learn the first learningThreshold events of each group).',
  learningThreshold: 'With learningMethod threshold: how many events of each group are learned before new values raise signals: 0 or 1 (default 0).',
  instantaneousBaseline: 'Accepted and ignored: trailhound always learns from the events it reads, starting with the first.',
};

/** A problem found by a check; `path` is relative to what was checked. */
export interface RuleProblem {
  readonly code: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly path: DocumentPath;
  readonly hint?: string;
  /** Point at the key rather than at its value. */
  readonly atKey?: boolean;
}

export interface QueryAggregationCheck {
  /** The aggregation to run, or undefined when the query cannot run. */
  readonly aggregation: Aggregation | undefined;
  readonly distinctFields: readonly string[];
  readonly metrics: readonly string[];
  /** The attributes named (for the loader's field-catalogue check), each with where it is written. */
  readonly attributes: readonly { readonly field: string; readonly path: DocumentPath }[];
  readonly problems: readonly RuleProblem[];
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** The condition of a new_value rule's case written without one: it holds whenever a new value arrives. */
export const ANY_NEW_VALUE: CompiledCondition = { text: '', queryNames: [], holds: () => true };

/**
 * Check a query's aggregation against its fields and the rule's detection method. The query's
 * `aggregation` defaults to `new_value` in a new_value rule and to `count` otherwise.
 */
export function checkQueryAggregation(doc: RuleQueryDocument, detectionMethod: string): QueryAggregationCheck {
  const problems: RuleProblem[] = [];
  const isNewValueRule = detectionMethod === 'new_value';
  const written = doc.aggregation ?? undefined;
  const aggregation = written ?? (isNewValueRule ? 'new_value' : 'count');
  const at: DocumentPath = written !== undefined ? ['aggregation'] : [];

  // metrics (a list) wins over the deprecated metric (one field).
  let metrics: string[] = [];
  if (doc.metrics !== undefined && doc.metrics !== null) {
    if (isStringList(doc.metrics)) metrics = doc.metrics;
    else problems.push({ code: 'E_RULE_SCHEMA', severity: 'error', message: "'metrics' must be a list of attribute names", path: ['metrics'], hint: "write metrics: ['@attribute']" });
  }
  let metric: string | undefined;
  if (doc.metric !== undefined && doc.metric !== null && doc.metric !== '') {
    if (typeof doc.metric === 'string') metric = doc.metric;
    else problems.push({ code: 'E_RULE_SCHEMA', severity: 'error', message: "'metric' must be an attribute name", path: ['metric'], hint: "write metrics: ['@attribute'] (metric is deprecated)" });
  }
  const hasMetricsList = metrics.length > 0;
  if (!hasMetricsList && metric !== undefined) metrics = [metric];
  else if (metric !== undefined && !metrics.includes(metric)) {
    problems.push({
      code: 'W_RULE_AGGREGATION_FIELD_UNUSED',
      severity: 'warning',
      message: `'metric' (${metric}) is ignored: 'metrics' is given and does not include it`,
      path: ['metric'],
      atKey: true,
      hint: "metric is Datadog's deprecated form of metrics; remove it or make it one of metrics",
    });
  }
  const distinctFields = doc.distinctFields ?? [];
  const fieldLists: readonly [string, readonly string[]][] = [
    ['distinctFields', distinctFields],
    ['metrics', metrics],
  ];
  for (const [key, list] of fieldLists) {
    list.forEach((field, j) => {
      if (field === '' || field === '@') problems.push({ code: 'E_RULE_SCHEMA', severity: 'error', message: `'${key}[${j}]' is empty`, path: [key, j], hint: 'write an attribute such as @userIdentity.arn' });
    });
  }

  const attributes = [
    ...distinctFields.map((field, j) => ({ field, path: ['distinctFields', j] })),
    ...metrics.map((field, j) => ({ field, path: hasMetricsList ? ['metrics', j] : ['metric'] })),
  ];

  if (UNSUPPORTED_AGGREGATIONS.includes(aggregation)) {
    problems.push({ code: 'E_RULE_UNSUPPORTED', severity: 'error', message: `aggregation '${aggregation}' is not supported yet`, path: at, hint: 'use count, cardinality, sum, max (threshold rules) or new_value (new_value rules)' });
    return { aggregation: undefined, distinctFields, metrics, attributes, problems };
  }
  if (isNewValueRule && aggregation !== 'new_value') {
    problems.push({ code: 'E_RULE_AGGREGATION', severity: 'error', message: `the queries of a new_value rule use aggregation new_value, not '${aggregation}'`, path: at, hint: 'set aggregation: new_value (or leave it out), or use another detection method' });
    return { aggregation: undefined, distinctFields, metrics, attributes, problems };
  }
  if (detectionMethod === 'sequence_detection' && aggregation !== 'count') {
    // Sequence steps compare counts (src/engine/sequence.ts): another aggregation would silently count.
    problems.push({ code: 'E_RULE_UNSUPPORTED', severity: 'error', message: `aggregation '${aggregation}' is not supported in sequence_detection rules yet (their steps count events)`, path: at, hint: 'use aggregation: count (or leave it out)' });
    return { aggregation: undefined, distinctFields, metrics, attributes, problems };
  }
  if (!isNewValueRule && aggregation === 'new_value') {
    problems.push({ code: 'E_RULE_AGGREGATION', severity: 'error', message: `aggregation new_value needs options.detectionMethod new_value (the rule uses ${detectionMethod})`, path: at, hint: 'set options.detectionMethod: new_value, or use count, cardinality, sum or max' });
    return { aggregation: undefined, distinctFields, metrics, attributes, problems };
  }

  const needs = (key: 'distinctFields' | 'metrics', what: string): void => {
    problems.push({ code: 'E_RULE_AGGREGATION', severity: 'error', message: `aggregation ${aggregation} ${what}, but the query has no ${key}`, path: at, hint: `add ${key}: ['@attribute']` });
  };
  const unused = (key: 'distinctFields' | 'metrics' | 'metric', usedBy: string): void => {
    problems.push({
      code: 'W_RULE_AGGREGATION_FIELD_UNUSED',
      severity: 'warning',
      message: `'${key}' is ignored by aggregation ${aggregation} (only ${usedBy} use it)`,
      path: [key],
      atKey: true,
      hint: `remove ${key}, or choose the aggregation that uses it`,
    });
  };
  const usesDistinct = aggregation === 'cardinality';
  const usesMetrics = aggregation === 'sum' || aggregation === 'max' || aggregation === 'new_value';
  if (usesDistinct && distinctFields.length === 0) needs('distinctFields', 'counts the distinct values of distinctFields');
  if (aggregation === 'sum' && metrics.length === 0) needs('metrics', 'adds up the numbers found at metrics');
  if (aggregation === 'max' && metrics.length === 0) needs('metrics', 'takes the largest number found at metrics');
  if (aggregation === 'new_value' && metrics.length === 0) needs('metrics', 'learns the values of metrics');
  if (!usesDistinct && distinctFields.length > 0) unused('distinctFields', 'cardinality queries');
  if (!usesMetrics && metrics.length > 0) unused(hasMetricsList ? 'metrics' : 'metric', 'sum, max and new_value queries');
  const isUsable = !problems.some((p) => p.severity === 'error');
  const runnable: Aggregation | undefined = RUNNABLE_AGGREGATIONS.find((a) => a === aggregation);
  return { aggregation: isUsable ? runnable : undefined, distinctFields, metrics, attributes, problems };
}

export interface NewValueOptionsCheck {
  readonly options: NewValueOptions | undefined;
  readonly problems: readonly RuleProblem[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Check `options.newValueOptions` (path relative to `options`) of a new_value rule and fill in
 * Datadog's defaults. `forgetAfter` is required: no default would be right for every rule.
 */
export function checkNewValueOptions(raw: unknown): NewValueOptionsCheck {
  const problems: RuleProblem[] = [];
  const base: DocumentPath = ['newValueOptions'];
  if (raw === undefined || raw === null) {
    problems.push({ code: 'E_RULE_SCHEMA', severity: 'error', message: "'options.newValueOptions.forgetAfter' is required for detectionMethod new_value", path: [], hint: 'add newValueOptions: {forgetAfter: 28} (days: 1, 2, 7, 14, 21 or 28)' });
    return { options: undefined, problems };
  }
  if (!isObject(raw)) {
    problems.push({ code: 'E_RULE_SCHEMA', severity: 'error', message: "'options.newValueOptions' must be a mapping", path: base, hint: 'write newValueOptions: {forgetAfter: 28, learningDuration: 7}' });
    return { options: undefined, problems };
  }
  const known = Object.keys(NEW_VALUE_OPTION_FIELDS);
  for (const key of Object.keys(raw)) {
    if (known.includes(key)) continue;
    const suggestion = closestName(key, known);
    problems.push({ code: 'E_RULE_UNKNOWN_FIELD', severity: 'error', message: `unknown field '${key}' in newValueOptions`, path: [...base, key], atKey: true, hint: suggestion !== undefined ? `did you mean '${suggestion}'?` : `the fields of newValueOptions are: ${known.join(', ')}` });
  }
  const pick = <T extends string | number>(key: string, allowed: readonly T[], unit: string): T | undefined => {
    const value = raw[key];
    if (value === undefined || value === null) return undefined;
    const found = allowed.find((a) => a === value);
    if (found === undefined) {
      problems.push({ code: 'E_RULE_SCHEMA', severity: 'error', message: `'options.newValueOptions.${key}' ${JSON.stringify(value)} is not one of Datadog's values${unit}: ${allowed.join(', ')}`, path: [...base, key], hint: `use one of ${allowed.join(', ')}` });
    }
    return found;
  };
  const learningDuration = pick('learningDuration', NEW_VALUE_LEARNING_DURATIONS, ' (days)');
  const forgetAfter = pick('forgetAfter', NEW_VALUE_FORGET_AFTER, ' (days)');
  const learningMethod = pick('learningMethod', NEW_VALUE_LEARNING_METHODS, '');
  const learningThreshold = pick('learningThreshold', NEW_VALUE_LEARNING_THRESHOLDS, '');
  const baseline = raw['instantaneousBaseline'];
  if (baseline !== undefined && baseline !== null && typeof baseline !== 'boolean') {
    problems.push({ code: 'E_RULE_SCHEMA', severity: 'error', message: "'options.newValueOptions.instantaneousBaseline' must be true or false", path: [...base, 'instantaneousBaseline'], hint: 'write true or false' });
  }
  if ((raw['forgetAfter'] === undefined || raw['forgetAfter'] === null) && forgetAfter === undefined) {
    problems.push({ code: 'E_RULE_SCHEMA', severity: 'error', message: "'options.newValueOptions.forgetAfter' is required for detectionMethod new_value", path: base, hint: 'add forgetAfter: 28 (days: 1, 2, 7, 14, 21 or 28)' });
  }
  if (problems.some((p) => p.severity === 'error') || forgetAfter === undefined) return { options: undefined, problems };
  return {
    options: {
      learningDuration: learningDuration ?? 0,
      forgetAfter,
      learningMethod: learningMethod === 'threshold' ? 'threshold' : 'duration',
      learningThreshold: learningThreshold ?? 0,
    },
    problems,
  };
}
