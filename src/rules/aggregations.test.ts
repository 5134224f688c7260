/**
 * The loader on aggregations (cardinality, sum, max, new_value) and new_value rules: what compiles,
 * what each mistake is reported as (code, path, position), Datadog's `metric` vs `metrics`.
 */
import { describe, expect, it } from 'vitest';
import type { SourcePosition } from '../core/types.js';
import { checkNewValueOptions, checkQueryAggregation } from './aggregations.js';
import { loadRules } from './load.js';
import type { CompiledRule } from './model.js';

const THRESHOLD = `name: Many secrets
queries:
  - name: a
    query: source:cloudtrail @evt.name:GetSecretValue
    groupByFields: ['@userIdentity.arn']
cases:
  - name: many
    status: medium
    condition: a > 5
options:
  evaluationWindow: 600
  keepAlive: 600
  maxSignalDuration: 3600
`;

const NEW_VALUE = `name: New source IP
queries:
  - query: source:cloudtrail @evt.name:GetSecretValue
    metrics: ['@sourceIPAddress']
    groupByFields: ['@userIdentity.arn']
cases:
  - status: info
options:
  detectionMethod: new_value
  keepAlive: 3600
  maxSignalDuration: 86400
  newValueOptions:
    forgetAfter: 7
`;

function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`'${from}' is not in the text`);
  return text.replace(from, to);
}

/** Insert `lines` (YAML, indented as a query field) after the query line. */
function withQueryFields(text: string, lines: string): string {
  return edit(text, "    groupByFields: ['@userIdentity.arn']", `${lines}\n    groupByFields: ['@userIdentity.arn']`);
}

function at(text: string, needle: string): SourcePosition {
  const offset = text.indexOf(needle);
  if (offset < 0) throw new Error(`'${needle}' is not in the text`);
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before[before.length - 1] ?? '').length + 1 };
}

function load(text: string): { rule: CompiledRule | undefined; problems: [string, string | undefined][] } {
  const { rules, diagnostics } = loadRules([{ path: 'rules/test.yaml', text }]);
  return { rule: rules[0], problems: diagnostics.map((d) => [d.code, d.path]) };
}

describe('threshold rules with cardinality, sum and max', () => {
  it.each<[string, string, { aggregation: string; distinctFields: readonly string[]; metrics: readonly string[] | undefined }]>([
    ['count stays the default', THRESHOLD, { aggregation: 'count', distinctFields: [], metrics: undefined }],
    ['cardinality with distinctFields', withQueryFields(THRESHOLD, "    aggregation: cardinality\n    distinctFields: ['@requestParameters.secretId']"), { aggregation: 'cardinality', distinctFields: ['@requestParameters.secretId'], metrics: undefined }],
    ['sum with metrics', withQueryFields(THRESHOLD, "    aggregation: sum\n    metrics: ['@responseElements.command.targetCount']"), { aggregation: 'sum', distinctFields: [], metrics: ['@responseElements.command.targetCount'] }],
    ['max with the deprecated metric', withQueryFields(THRESHOLD, '    aggregation: max\n    metric: "@responseElements.command.targetCount"'), { aggregation: 'max', distinctFields: [], metrics: ['@responseElements.command.targetCount'] }],
    ['metrics wins over metric, which may repeat it', withQueryFields(THRESHOLD, "    aggregation: sum\n    metric: '@responseElements.command.targetCount'\n    metrics: ['@responseElements.command.targetCount']"), { aggregation: 'sum', distinctFields: [], metrics: ['@responseElements.command.targetCount'] }],
    ['empty lists as Datadog exports them are fine on a count query', withQueryFields(THRESHOLD, '    distinctFields: []\n    metrics: []\n    metric: ""'), { aggregation: 'count', distinctFields: [], metrics: undefined }],
  ])('%s loads without a diagnostic', (_name, text, expected) => {
    const { rule, problems } = load(text);
    expect(problems).toEqual([]);
    const query = rule?.queries[0];
    expect({ aggregation: query?.aggregation, distinctFields: query?.distinctFields, metrics: query?.metrics }).toEqual(expected);
    expect(rule?.options.detectionMethod).toBe('threshold');
  });

  it.each<[string, string, string, string, string]>([
    ['cardinality without distinctFields', withQueryFields(THRESHOLD, '    aggregation: cardinality'), 'E_RULE_AGGREGATION', 'queries[0].aggregation', 'cardinality'],
    ['sum without metrics', withQueryFields(THRESHOLD, '    aggregation: sum'), 'E_RULE_AGGREGATION', 'queries[0].aggregation', 'sum'],
    ['max with empty metrics', withQueryFields(THRESHOLD, '    aggregation: max\n    metrics: []'), 'E_RULE_AGGREGATION', 'queries[0].aggregation', 'max'],
    ['new_value in a threshold rule', withQueryFields(THRESHOLD, "    aggregation: new_value\n    metrics: ['@sourceIPAddress']"), 'E_RULE_AGGREGATION', 'queries[0].aggregation', 'new_value'],
    ['metrics that is not a list', withQueryFields(THRESHOLD, '    metrics: 42'), 'E_RULE_SCHEMA', 'queries[0].metrics', '42'],
    ['an empty metric name', withQueryFields(THRESHOLD, "    aggregation: sum\n    metrics: ['']"), 'E_RULE_SCHEMA', 'queries[0].metrics[0]', "''"],
    ['the geo_data aggregation', withQueryFields(THRESHOLD, '    aggregation: geo_data'), 'E_RULE_UNSUPPORTED', 'queries[0].aggregation', 'geo_data'],
  ])('%s is an error and the rule is left out', (_name, text, code, path, needle) => {
    const { rules, diagnostics } = loadRules([{ path: 'rules/test.yaml', text }]);
    expect(rules).toEqual([]);
    const errors = diagnostics.filter((d) => d.severity === 'error');
    expect(errors.map((d) => [d.code, d.path])).toEqual([[code, path]]);
    expect(errors[0]?.position).toEqual(at(text, `${needle}`));
    expect(errors[0]?.hint?.length ?? 0).toBeGreaterThan(5);
  });

  it.each<[string, string, string]>([
    ['distinctFields on a sum query', withQueryFields(THRESHOLD, "    aggregation: sum\n    metrics: ['@responseElements.command.targetCount']\n    distinctFields: ['@requestParameters.secretId']"), 'queries[0].distinctFields'],
    ['metrics on a cardinality query', withQueryFields(THRESHOLD, "    aggregation: cardinality\n    distinctFields: ['@requestParameters.secretId']\n    metrics: ['@responseElements.command.targetCount']"), 'queries[0].metrics'],
    ['metric on a count query', withQueryFields(THRESHOLD, "    metric: '@responseElements.command.targetCount'"), 'queries[0].metric'],
    ['a metric that metrics does not include', withQueryFields(THRESHOLD, "    aggregation: sum\n    metric: '@responseElements.command.timeoutSeconds'\n    metrics: ['@responseElements.command.targetCount']"), 'queries[0].metric'],
  ])('%s only warns (W_RULE_AGGREGATION_FIELD_UNUSED): the rule loads', (_name, text, path) => {
    const { rule, problems } = load(text);
    expect(problems).toEqual([['W_RULE_AGGREGATION_FIELD_UNUSED', path]]);
    expect(rule).toBeDefined();
  });

  it('checks the attributes of distinctFields and metrics against the field catalogue', () => {
    const { problems } = load(withQueryFields(THRESHOLD, "    aggregation: max\n    metric: '@sourceIPAdress'\n    metrics: []\n    distinctFields: []"));
    expect(problems).toEqual([['W_RULE_UNKNOWN_FIELD', 'queries[0].metric']]);
    const cardinality = load(withQueryFields(THRESHOLD, "    aggregation: cardinality\n    distinctFields: ['@sourceIPAdress']"));
    expect(cardinality.problems).toEqual([['W_RULE_UNKNOWN_FIELD', 'queries[0].distinctFields[0]']]);
  });
});

describe('new_value rules', () => {
  it('load with Datadog’s defaults: aggregation new_value, no condition (any new value), window 0', () => {
    const { rule, problems } = load(NEW_VALUE);
    expect(problems).toEqual([]);
    expect(rule?.options).toEqual({ detectionMethod: 'new_value', evaluationWindow: 0, keepAlive: 3600, maxSignalDuration: 86400, newValueOptions: { learningDuration: 0, forgetAfter: 7, learningMethod: 'duration', learningThreshold: 0 } });
    expect(rule?.queries[0]?.aggregation).toBe('new_value');
    expect(rule?.queries[0]?.metrics).toEqual(['@sourceIPAddress']);
    expect(rule?.cases[0]?.condition.holds({})).toBe(true);
    expect(rule?.cases[0]?.status).toBe('info');
  });

  it('a case may still carry a condition, compiled as in threshold rules', () => {
    const { rule } = load(edit(NEW_VALUE, '  - status: info', '  - status: info\n    condition: a > 1'));
    expect(rule?.cases[0]?.condition.text).toBe('a > 1');
    expect(rule?.cases[0]?.condition.holds({ a: 1 })).toBe(false);
  });

  it.each<[string, string, string, string]>([
    ['no newValueOptions', edit(NEW_VALUE, '  newValueOptions:\n    forgetAfter: 7\n', ''), 'E_RULE_SCHEMA', 'options'],
    ['no forgetAfter', edit(NEW_VALUE, '    forgetAfter: 7', '    learningDuration: 1'), 'E_RULE_SCHEMA', 'options.newValueOptions'],
    ['a forgetAfter Datadog does not offer', edit(NEW_VALUE, 'forgetAfter: 7', 'forgetAfter: 30'), 'E_RULE_SCHEMA', 'options.newValueOptions.forgetAfter'],
    ['a learningDuration Datadog does not offer', edit(NEW_VALUE, 'forgetAfter: 7', 'forgetAfter: 7\n    learningDuration: 3'), 'E_RULE_SCHEMA', 'options.newValueOptions.learningDuration'],
    ['an unknown learningMethod', edit(NEW_VALUE, 'forgetAfter: 7', 'forgetAfter: 7\n    learningMethod: count'), 'E_RULE_SCHEMA', 'options.newValueOptions.learningMethod'],
    ['a learningThreshold of 2', edit(NEW_VALUE, 'forgetAfter: 7', 'forgetAfter: 7\n    learningThreshold: 2'), 'E_RULE_SCHEMA', 'options.newValueOptions.learningThreshold'],
    ['a misspelt option', edit(NEW_VALUE, 'forgetAfter: 7', 'forgetAfter: 7\n    forgetafter: 7'), 'E_RULE_UNKNOWN_FIELD', 'options.newValueOptions.forgetafter'],
    ['newValueOptions that is not a mapping', edit(NEW_VALUE, '  newValueOptions:\n    forgetAfter: 7\n', '  newValueOptions: 7\n'), 'E_RULE_SCHEMA', 'options.newValueOptions'],
    ['no metrics', edit(NEW_VALUE, "    metrics: ['@sourceIPAddress']\n", ''), 'E_RULE_AGGREGATION', 'queries[0]'],
    ['a count query', edit(NEW_VALUE, "    metrics: ['@sourceIPAddress']", "    metrics: ['@sourceIPAddress']\n    aggregation: count"), 'E_RULE_AGGREGATION', 'queries[0].aggregation'],
    ['a case without status', edit(NEW_VALUE, '  - status: info', '  - name: x'), 'E_RULE_SCHEMA', 'cases[0].status'],
  ])('%s is an error', (_name, text, code, path) => {
    const { rule, problems } = load(text);
    expect(rule).toBeUndefined();
    expect(problems.filter(([c]) => c.startsWith('E_'))).toEqual([[code, path]]);
  });

  it('instantaneousBaseline is accepted and changes nothing', () => {
    const { rule, problems } = load(edit(NEW_VALUE, 'forgetAfter: 7', 'forgetAfter: 7\n    instantaneousBaseline: true'));
    expect(problems).toEqual([]);
    expect(rule?.options.newValueOptions).toEqual({ learningDuration: 0, forgetAfter: 7, learningMethod: 'duration', learningThreshold: 0 });
  });

  it('a threshold rule ignores newValueOptions, as Datadog does', () => {
    const text = edit(THRESHOLD, '  maxSignalDuration: 3600', '  maxSignalDuration: 3600\n  newValueOptions: {forgetAfter: 99}');
    const { rule, problems } = load(text);
    expect(problems).toEqual([]);
    expect(rule?.options.newValueOptions).toBeUndefined();
  });

  it('a threshold rule still needs a condition on every case', () => {
    const { rule, problems } = load(edit(THRESHOLD, '    condition: a > 5\n', ''));
    expect(rule).toBeUndefined();
    expect(problems).toEqual([['E_RULE_SCHEMA', 'cases[0].condition']]);
  });
});

describe('the checks on their own', () => {
  it.each<[string, Parameters<typeof checkQueryAggregation>[0], string, string | undefined]>([
    ['absent aggregation in a threshold rule is count', { query: 'x' }, 'threshold', 'count'],
    ['absent aggregation in a new_value rule is new_value', { query: 'x', metrics: ['@a'] }, 'new_value', 'new_value'],
    ['a sequence rule counts like a threshold rule', { query: 'x' }, 'sequence_detection', 'count'],
    ['an aggregation with a problem does not run', { query: 'x', aggregation: 'sum' }, 'threshold', undefined],
    ['a sequence rule cannot sum yet (its steps count)', { query: 'x', aggregation: 'sum', metrics: ['@a'] }, 'sequence_detection', undefined],
  ])('%s', (_name, doc, method, expected) => {
    expect(checkQueryAggregation(doc, method).aggregation).toBe(expected);
  });

  it.each<[string, unknown, object | undefined]>([
    ['only forgetAfter: the defaults fill the rest', { forgetAfter: 28 }, { learningDuration: 0, forgetAfter: 28, learningMethod: 'duration', learningThreshold: 0 }],
    ['every field', { forgetAfter: 1, learningDuration: 7, learningMethod: 'threshold', learningThreshold: 1 }, { learningDuration: 7, forgetAfter: 1, learningMethod: 'threshold', learningThreshold: 1 }],
    ['nulls are absent', { forgetAfter: 2, learningDuration: null, learningMethod: null }, { learningDuration: 0, forgetAfter: 2, learningMethod: 'duration', learningThreshold: 0 }],
    ['a string number is not a number', { forgetAfter: '7' }, undefined],
  ])('checkNewValueOptions: %s', (_name, raw, expected) => {
    expect(checkNewValueOptions(raw).options).toEqual(expected);
  });
});
