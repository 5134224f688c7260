/**
 * Aggregations other than count: the pieces (value keys, metric numbers, exact sums, running window
 * aggregates) and the engine running cardinality / sum / max rules over real CloudTrail records
 * (Stratus Red Team detonations: 20 real GetSecretValue calls, a real SendCommand, a real StopInstances).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue, Signal, TrailEvent } from '../core/types.js';
import type { CompiledCondition, CompiledRule, RuleQuery } from '../rules/model.js';
import { ExactSum, MAX_VALUES_PER_EVENT, WindowAggregates, compileMetricValues, compileQueryAggregator, compileValueKeys, isUsableMetric, valueKey } from './aggregate.js';
import { createEngine, restoreEngine } from './engine.js';
import { parseEngineState } from './state.js';
import { STRATUS_USER_DATA_FIXTURE, at, attackRecords, eventFrom, eventNameQuery, isJsonObject, otherUser, ruleCase, ruleQuery, thresholdRule } from './test-support.js';
import type { EngineState } from './types.js';

function fixture(name: string): JsonObject[] {
  const parsed: unknown = JSON.parse(readFileSync(new URL(`../../test/fixtures/cloudtrail/stratus-detonation-logs/${name}`, import.meta.url), 'utf8'));
  if (!Array.isArray(parsed)) throw new Error(`${name} is not a JSON array`);
  return parsed.filter(isJsonObject);
}

const SECRETS = fixture('aws.credential-access.secretsmanager-retrieve-secrets.json').filter((r) => r.eventName === 'GetSecretValue');
const SEND_COMMAND = fixture('aws.execution.ssm-send-command.json').find((r) => r.eventName === 'SendCommand');
const ATTACK = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8')));
if (SECRETS.length < 12 || !SEND_COMMAND) throw new Error('the Stratus fixtures changed');
const SEND: JsonObject = SEND_COMMAND;

/** `name > n` over whatever the engine passes (a count or an aggregate). */
function above(name: string, n: number): CompiledCondition {
  return { text: `${name} > ${n}`, queryNames: [name], holds: (values) => (values[name] ?? 0) > n };
}

function aggregated(name: string, events: readonly string[], extra: Partial<RuleQuery>): RuleQuery {
  return { ...ruleQuery(name, eventNameQuery(events)), ...extra };
}

/** Distinct secrets read by one caller in 10 minutes: more than 5 is a signal. */
const SECRETS_RULE = thresholdRule({
  id: 'many-secrets',
  queries: [aggregated('secrets', ['GetSecretValue'], { aggregation: 'cardinality', distinctFields: ['@requestParameters.secretId'] })],
  cases: [ruleCase('many secrets', 'medium', above('secrets', 5))],
  options: { evaluationWindow: 600, keepAlive: 600, maxSignalDuration: 3600 },
});

function secretEvent(index: number, seconds: number, patch: JsonObject = {}, id = `secret-${index}-${seconds}`): TrailEvent {
  const record = SECRETS[index % SECRETS.length] ?? SECRETS[0];
  if (!record) throw new Error('no secret record');
  return eventFrom(record, { time: at(seconds), id, patch });
}

function run(rules: readonly CompiledRule[], events: readonly TrailEvent[]): Signal[] {
  const engine = createEngine(rules);
  for (const e of events) engine.ingest(e);
  engine.finish();
  return engine.signals();
}

describe('valueKey and compileValueKeys: what a distinct value is', () => {
  it.each<[string, JsonValue, string | undefined]>([
    ['a string is itself', 'arn:aws:iam::1:user/a', 'arn:aws:iam::1:user/a'],
    ['a number is its JSON text', 64, '64'],
    ['a boolean is its JSON text', true, 'true'],
    ['an object is compact JSON', { code: 16, name: 'running' }, '{"code":16,"name":"running"}'],
    ['null is missing', null, undefined],
    ['the empty string is missing', '', undefined],
  ])('%s', (_name, value, expected) => {
    expect(valueKey(value)).toBe(expected);
  });

  const stop = ATTACK.stop;
  const items = (ids: readonly JsonValue[]): JsonObject => ({ requestParameters: { instancesSet: { items: ids.map((instanceId) => ({ instanceId })) } } });
  it.each<[string, readonly string[], JsonObject, readonly string[]]>([
    ['one field of a real record', ['@userIdentity.arn'], stop, ['arn:aws:iam::309303190113:user/christophe']],
    ['an array is fanned out, each element a value', ['@requestParameters.instancesSet.items.instanceId'], { ...stop, ...items(['i-1', 'i-2', 'i-3']) }, ['i-1', 'i-2', 'i-3']],
    ['repeated values in one event count once', ['@requestParameters.instancesSet.items.instanceId'], { ...stop, ...items(['i-1', 'i-1', 'i-2']) }, ['i-1', 'i-2']],
    ['null and empty elements are skipped', ['requestParameters.instancesSet.items.instanceId'], { ...stop, ...items([null, '', 'i-9']) }, ['i-9']],
    ['a missing field gives nothing', ['@requestParameters.secretId'], stop, []],
    ['two fields give their combinations', ['@userIdentity.userName', '@requestParameters.instancesSet.items.instanceId'], { ...stop, ...items(['i-1', 'i-2']) }, ['["christophe","i-1"]', '["christophe","i-2"]']],
    ['two fields, one missing, give nothing', ['@userIdentity.userName', '@requestParameters.secretId'], stop, []],
    ['no field gives nothing', [], stop, []],
  ])('%s', (_name, fields, record, expected) => {
    expect(compileValueKeys(fields)(record)).toEqual(expected);
  });

  it(`keeps at most ${MAX_VALUES_PER_EVENT} values of one event, the first found`, () => {
    const ids = Array.from({ length: MAX_VALUES_PER_EVENT + 500 }, (_, i) => `i-${i}`);
    const keys = compileValueKeys(['@requestParameters.instancesSet.items.instanceId'])({ ...stop, ...items(ids) });
    expect(keys).toHaveLength(MAX_VALUES_PER_EVENT);
    expect(keys[0]).toBe('i-0');
    const combos = compileValueKeys(['@requestParameters.instancesSet.items.instanceId', '@requestParameters.instancesSet.items.instanceId'])({ ...stop, ...items(ids.slice(0, 100)) });
    expect(combos).toHaveLength(MAX_VALUES_PER_EVENT);
  });
});

describe('compileMetricValues: which numbers sum and max use', () => {
  const command = (patch: Record<string, JsonValue>): JsonObject => {
    const copy = structuredClone(SEND);
    const response = isJsonObject(copy.responseElements) ? copy.responseElements : {};
    const inner = isJsonObject(response.command) ? response.command : {};
    return { ...copy, responseElements: { ...response, command: { ...inner, ...patch } } };
  };
  it.each<[string, readonly string[], JsonObject, readonly number[]]>([
    ['a real number field', ['@responseElements.command.targetCount'], SEND, [3]],
    ['a numeric string is not a number (the real maxConcurrency "50")', ['@responseElements.command.maxConcurrency'], SEND, []],
    ['a boolean is not a number', ['@responseElements.command.interactive'], SEND, []],
    ['an array of numbers gives each', ['@responseElements.command.targetCount'], command({ targetCount: [1, 2.5, 'x', null] }), [1, 2.5]],
    ['a number beyond 2^53 − 1 is ignored', ['@responseElements.command.targetCount'], command({ targetCount: 2 ** 60 }), []],
    ['negative numbers count', ['@responseElements.command.targetCount'], command({ targetCount: -4 }), [-4]],
    ['several fields give all their numbers', ['@responseElements.command.targetCount', '@responseElements.command.timeoutSeconds'], SEND, [3, 3600]],
    ['a missing field gives nothing', ['@responseElements.bytes'], SEND, []],
  ])('%s', (_name, fields, record, expected) => {
    expect(compileMetricValues(fields)(record)).toEqual(expected);
  });

  it.each<[unknown, boolean]>([
    [0, true],
    [-(2 ** 53 - 1), true],
    [2 ** 53, false],
    [Number.NaN, false],
    [Infinity, false],
    ['1', false],
    [null, false],
  ])('isUsableMetric(%s) is %s', (value, expected) => {
    expect(isUsableMetric(value)).toBe(expected);
  });
});

describe('ExactSum: sums that do not depend on the order of additions and removals', () => {
  it.each<[string, readonly number[], number]>([
    ['nothing is 0', [], 0],
    ['0.1 + 0.2 is the double nearest to 0.3', [0.1, 0.2], 0.30000000000000004],
    ['large and small values keep the small ones', [1e15, 0.5, -1e15], 0.5],
    ['a value and its opposite cancel exactly', [2 ** 52, 1, -(2 ** 52)], 1],
    ['-0 alone is 0', [-0], 0],
  ])('%s', (_name, values, expected) => {
    const sum = new ExactSum();
    for (const v of values) sum.add(v);
    expect(Object.is(sum.value(), expected)).toBe(true);
  });

  it('removing what was added gives back the exact earlier sum', () => {
    const sum = new ExactSum();
    sum.add(0.1);
    sum.add(0.7);
    sum.add(1e16);
    sum.remove(1e16);
    sum.remove(0.7);
    expect(sum.value()).toBe(0.1);
  });

  const value = fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }));
  it('any order of the same values gives the same sum (property)', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 40 }), fc.infiniteStream(fc.nat()), (values, seeds) => {
        const shuffled = [...values];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = (seeds.next().value ?? 0) % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j] ?? 0, shuffled[i] ?? 0];
        }
        const a = new ExactSum();
        const b = new ExactSum();
        for (const v of values) a.add(v);
        for (const v of shuffled) b.add(v);
        expect(b.value()).toBe(a.value());
      }),
    );
  });

  it('adding extra values then removing them changes nothing (property)', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 30 }), fc.array(value, { maxLength: 30 }), (kept, transient) => {
        const direct = new ExactSum();
        for (const v of kept) direct.add(v);
        const noisy = new ExactSum();
        for (const v of transient) noisy.add(v);
        for (const v of kept) noisy.add(v);
        for (const v of transient) noisy.remove(v);
        expect(noisy.value()).toBe(direct.value());
      }),
    );
  });

  it('integer sums are exact (property, against BigInt)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), { maxLength: 50 }), (values) => {
        const sum = new ExactSum();
        for (const v of values) sum.add(v);
        expect(BigInt(sum.value())).toBe(values.reduce((acc, v) => acc + BigInt(v), 0n));
      }),
    );
  });
});

describe('WindowAggregates: running cardinality, sum and max under additions and removals', () => {
  const aggregators = [
    compileQueryAggregator({ ...ruleQuery('c', eventNameQuery(['X'])), aggregation: 'cardinality', distinctFields: ['v'] }),
    compileQueryAggregator({ ...ruleQuery('s', eventNameQuery(['X'])), aggregation: 'sum', metrics: ['n'] }),
    compileQueryAggregator({ ...ruleQuery('m', eventNameQuery(['X'])), aggregation: 'max', metrics: ['n'] }),
    compileQueryAggregator(ruleQuery('n', eventNameQuery(['X']))),
  ];

  it('a count query has no aggregator and passes its count through', () => {
    expect(aggregators[3]).toBeNull();
    const window = new WindowAggregates(aggregators);
    expect(window.valuesOver([0, 0, 0, 7])).toEqual([0, 0, 0, 7]);
  });

  it.each<[string, readonly (readonly [string, number])[], readonly number[], readonly number[]]>([
    ['nothing added: every aggregate is 0', [], [], [0, 0, 0]],
    ['distinct values, sum and max of three entries', [['a', 3], ['b', 5], ['a', -2]], [], [2, 6, 5]],
    ['removing the max gives the next largest (and the value only it had)', [['a', 3], ['b', 5], ['a', -2]], [1], [1, 1, 3]],
    ['removing one of two equal values keeps the value', [['a', 3], ['a', 3]], [0], [1, 3, 3]],
    ['removing everything gives 0 again', [['a', 3], ['b', -5]], [0, 1], [0, 0, 0]],
    ['a max of negative numbers is negative', [['a', -3], ['b', -5]], [], [2, -8, -3]],
  ])('%s', (_name, added, removedIndexes, expected) => {
    const window = new WindowAggregates(aggregators);
    const inputs = added.map(([v, n]) => [[v], n, n, null] as const);
    for (const i of inputs) window.add(i);
    for (const r of removedIndexes) window.remove(inputs[r] ?? null);
    expect(window.valuesOver([0, 0, 0, 0]).slice(0, 3)).toEqual(expected);
  });

  it('the max survives many removals in any order (property: equals the max of what is left)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 200 }), fc.array(fc.nat(), { maxLength: 200 }), (values, removals) => {
        const window = new WindowAggregates(aggregators);
        const live = [...values];
        for (const v of values) window.add([null, v, v, null]);
        for (const r of removals) {
          if (live.length === 0) break;
          const [v] = live.splice(r % live.length, 1);
          window.remove([null, v ?? 0, v ?? 0, null]);
        }
        const [, sum, max] = window.valuesOver([0, 0, 0, 0]);
        expect(max).toBe(live.length === 0 ? 0 : Math.max(...live));
        expect(sum).toBe(live.reduce((a, b) => a + b, 0));
      }),
    );
  });
});

describe('cardinality rules in the engine (distinct secrets read by one caller)', () => {
  it.each<[string, () => TrailEvent[], number]>([
    ['six distinct secrets within the window raise a signal', () => [0, 1, 2, 3, 4, 5].map((i) => secretEvent(i, i * 10)), 1],
    ['five distinct secrets do not', () => [0, 1, 2, 3, 4].map((i) => secretEvent(i, i * 10)), 0],
    ['ten reads of five distinct secrets do not (repeats count once)', () => [0, 1, 2, 3, 4, 0, 1, 2, 3, 4].map((i, n) => secretEvent(i, n * 10)), 0],
    ['six distinct secrets spread over more than the window do not', () => [0, 1, 2, 3, 4, 5].map((i) => secretEvent(i, i * 130)), 0],
    ['the sixth secret exactly 600 s after the first still counts it (inclusive bound)', () => [...[0, 1, 2, 3, 4].map((i) => secretEvent(i, i)), secretEvent(5, 600)], 1],
    ['600 s and 1 ms after the first, the first is out of the window', () => [...[0, 1, 2, 3, 4].map((i) => secretEvent(i, i)), eventFrom(SECRETS[5] ?? {}, { time: at(600, 1), id: 'late-sixth' })], 0],
    ['reads without a secretId contribute nothing', () => [0, 1, 2, 3, 4, 5].map((i) => secretEvent(i, i * 10, i === 5 ? { requestParameters: { name: 'x' } } : {})), 0],
    ['an empty secretId is missing', () => [0, 1, 2, 3, 4, 5].map((i) => secretEvent(i, i * 10, i === 5 ? { requestParameters: { secretId: '' } } : {})), 0],
    ['six distinct secrets by two callers (three each) do not', () => [0, 1, 2, 3, 4, 5].map((i) => secretEvent(i, i * 10, i % 2 === 0 ? otherUser(SECRETS[0] ?? {}, 'alice') : {})), 0],
  ])('%s', (_name, events, expected) => {
    expect(run([SECRETS_RULE], events())).toHaveLength(expected);
  });

  it('counts the distinct elements of an array field: one StopInstances of three instances has cardinality 3', () => {
    const rule = thresholdRule({
      id: 'many-instances',
      queries: [aggregated('instances', ['StopInstances'], { aggregation: 'cardinality', distinctFields: ['@requestParameters.instancesSet.items.instanceId'] })],
      cases: [ruleCase('three', 'high', above('instances', 2)), ruleCase('two', 'low', above('instances', 1))],
    });
    const stop = (ids: readonly string[], seconds: number, id: string): TrailEvent =>
      eventFrom(ATTACK.stop, { time: at(seconds), id, patch: { requestParameters: { force: true, instancesSet: { items: ids.map((instanceId) => ({ instanceId })) } } } });
    const [three] = run([rule], [stop(['i-1', 'i-2', 'i-3'], 0, 'a')]);
    expect(three?.caseName).toBe('three');
    const [two] = run([rule], [stop(['i-1', 'i-1'], 0, 'a'), stop(['i-2'], 5, 'b')]);
    expect(two?.caseName).toBe('two');
    expect(two?.eventCount).toBe(2);
  });

  it('a signal from a cardinality case is created with the window’s events, then updated by the next read', () => {
    const engine = createEngine([SECRETS_RULE]);
    for (const i of [0, 1, 2, 3, 4, 5]) engine.ingest(secretEvent(i, i * 10));
    const [created] = engine.advanceTo(at(55));
    expect([created?.kind, created?.signal.eventCount]).toEqual(['created', 6]);
    engine.ingest(secretEvent(6, 60));
    engine.finish();
    const [signal] = engine.signals();
    expect(signal?.eventCount).toBe(7);
    expect(signal?.queryCounts).toEqual({ secrets: 7 });
    expect(signal?.updates).toBe(1);
  });
});

describe('sum and max rules in the engine (instances targeted by SSM SendCommand)', () => {
  const command = (seconds: number, id: string, targetCount: JsonValue): TrailEvent => {
    const copy = structuredClone(SEND);
    const response = isJsonObject(copy.responseElements) ? copy.responseElements : {};
    const inner = isJsonObject(response.command) ? response.command : {};
    return eventFrom(copy, { time: at(seconds), id, patch: { responseElements: { ...response, command: { ...inner, targetCount } } } });
  };
  const rule = (aggregation: 'sum' | 'max', metrics: readonly string[], threshold: number): CompiledRule =>
    thresholdRule({
      id: `targets-${aggregation}`,
      queries: [aggregated('targets', ['SendCommand'], { aggregation, metrics })],
      cases: [ruleCase('wide', 'high', above('targets', threshold))],
      options: { evaluationWindow: 300, keepAlive: 300, maxSignalDuration: 3600 },
    });
  const TARGETS = ['@responseElements.command.targetCount'];

  it.each<[string, CompiledRule, () => TrailEvent[], number]>([
    ['the real command (3 targets) and another within the window sum above 5', rule('sum', TARGETS, 5), () => [command(0, 'a', 3), command(60, 'b', 3)], 1],
    ['one real command alone does not', rule('sum', TARGETS, 5), () => [command(0, 'a', 3)], 0],
    ['the first command out of the window (300 s + 1 s) is not summed', rule('sum', TARGETS, 5), () => [command(0, 'a', 3), command(301, 'b', 3)], 0],
    ['exactly 300 s apart they are summed', rule('sum', TARGETS, 5), () => [command(0, 'a', 3), command(300, 'b', 3)], 1],
    ['a numeric string is ignored, not summed', rule('sum', TARGETS, 5), () => [command(0, 'a', '30'), command(60, 'b', 3)], 0],
    ['a missing metric contributes nothing', rule('sum', TARGETS, 5), () => [command(0, 'a', null), command(60, 'b', 3)], 0],
    ["the real maxConcurrency is a string (\"50\"): its sum stays 0", rule('sum', ['@responseElements.command.maxConcurrency'], 0), () => [command(0, 'a', 3)], 0],
    ['negative numbers lower the sum', rule('sum', TARGETS, 5), () => [command(0, 'a', 10), command(60, 'b', -6)], 1],
    ['max of 3 and 40 is above 30', rule('max', TARGETS, 30), () => [command(0, 'a', 3), command(60, 'b', 40)], 1],
    ['max is not a sum: 20 and 20 stay below 30', rule('max', TARGETS, 30), () => [command(0, 'a', 20), command(60, 'b', 20)], 0],
    ['max of an array takes its largest element', rule('max', TARGETS, 30), () => [command(0, 'a', [1, 31, 2])], 1],
  ])('%s', (_name, r, events, expected) => {
    expect(run([r], events())).toHaveLength(expected);
  });

  it('a rule mixing a count and a sum reads both in one condition', () => {
    const mixed = thresholdRule({
      id: 'mixed',
      queries: [aggregated('targets', ['SendCommand'], { aggregation: 'sum', metrics: TARGETS }), ruleQuery('commands', eventNameQuery(['SendCommand']))],
      cases: [
        ruleCase('both', 'high', {
          text: 'targets > 5 && commands >= 3',
          queryNames: ['targets', 'commands'],
          holds: (v) => (v.targets ?? 0) > 5 && (v.commands ?? 0) >= 3,
        }),
      ],
    });
    expect(run([mixed], [command(0, 'a', 3), command(10, 'b', 3)])).toHaveLength(0);
    expect(run([mixed], [command(0, 'a', 3), command(10, 'b', 3), command(20, 'c', 0)])).toHaveLength(1);
  });
});

describe('aggregations keep the engine’s promises', () => {
  const numbers = thresholdRule({
    id: 'numbers',
    groupByFields: [],
    queries: [
      aggregated('total', ['SendCommand'], { aggregation: 'sum', metrics: ['@responseElements.command.targetCount'] }),
      aggregated('largest', ['SendCommand'], { aggregation: 'max', metrics: ['@responseElements.command.targetCount'] }),
      aggregated('secrets', ['GetSecretValue'], { aggregation: 'cardinality', distinctFields: ['@requestParameters.secretId'] }),
    ],
    cases: [
      ruleCase('large', 'high', above('largest', 7)),
      ruleCase('many', 'medium', { text: 'total > 9.5 || secrets > 3', queryNames: ['total', 'secrets'], holds: (v) => (v.total ?? 0) > 9.5 || (v.secrets ?? 0) > 3 }),
    ],
    options: { evaluationWindow: 300, keepAlive: 300, maxSignalDuration: 900 },
  });

  interface Spec {
    readonly isSecret: boolean;
    readonly value: number;
    readonly second: number;
  }
  const specArb = fc.record({ isSecret: fc.boolean(), value: fc.oneof(fc.integer({ min: -3, max: 9 }), fc.constantFrom(0.1, 0.2, 2.5)), second: fc.integer({ min: 0, max: 30 }).map((n) => n * 40) });
  const toEvents = (specs: readonly Spec[]): TrailEvent[] =>
    specs.map((s, i) => {
      if (s.isSecret) return secretEvent(Math.abs(Math.trunc(s.value)), s.second, {}, `e${i}`);
      const copy = structuredClone(SEND);
      const response = isJsonObject(copy.responseElements) ? copy.responseElements : {};
      const inner = isJsonObject(response.command) ? response.command : {};
      return eventFrom(copy, { time: at(s.second), id: `e${i}`, patch: { responseElements: { ...response, command: { ...inner, targetCount: s.value } } } });
    });

  it('any permutation of the input gives the same signals (property)', () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 40 }).chain((specs) => fc.tuple(fc.constant(specs), fc.shuffledSubarray(specs.map((_, i) => i), { minLength: specs.length, maxLength: specs.length }))), ([specs, order]) => {
        const events = toEvents(specs);
        const shuffled = order.map((i) => events[i]).filter((e): e is TrailEvent => e !== undefined);
        expect(run([numbers], shuffled)).toEqual(run([numbers], events));
      }),
      { numRuns: 60 },
    );
  });

  it('stepping with watermarks and a JSON snapshot/restore in the middle give the one-pass signals (property)', () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 1200 }), (specs, cutSecond) => {
        const events = toEvents(specs);
        const expected = run([numbers], events);
        const first = createEngine([numbers]);
        for (const e of events) first.ingest(e);
        first.advanceTo(at(cutSecond));
        const state: unknown = JSON.parse(JSON.stringify(first.snapshot()));
        const parsed = parseEngineState(state);
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        const second = restoreEngine([numbers], parsed.value);
        second.finish();
        expect(second.signals()).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });

  it('a snapshot carries each window entry’s contribution, by query name', () => {
    const engine = createEngine([numbers]);
    engine.ingest(secretEvent(3, 0));
    engine.ingest(eventFrom(SEND, { time: at(10), id: 'cmd' }));
    engine.advanceTo(at(20));
    const state: EngineState = engine.snapshot();
    const window = state.groups.flatMap((g) => g.window.map((e) => e.aggregates));
    const secretId = isJsonObject(SECRETS[3]?.requestParameters) ? SECRETS[3].requestParameters.secretId : undefined;
    expect(typeof secretId).toBe('string');
    expect(window).toEqual([{ secrets: [secretId] }, { total: 3, largest: 3 }]);
  });
});
