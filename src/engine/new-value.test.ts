/**
 * The new_value detection method: learning, forgetting, groups, value shapes, history carried from
 * one engine to the next (what `scan --state` does), snapshots and order independence. Events are
 * real GetSecretValue and StopInstances records (Stratus Red Team detonations) with new times and,
 * where a test needs it, another source IP or caller.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue, Signal, TrailEvent } from '../core/types.js';
import type { CompiledCondition, CompiledRule, NewValueOptions, RuleQuery } from '../rules/model.js';
import { createEngine, restoreEngine } from './engine.js';
import { NEW_VALUE_HISTORY_VERSION, NewValueTracker, compileNewValueRule, emptyNewValueHistory, parseNewValueHistory } from './new-value.js';
import type { NewValueHistory } from './new-value.js';
import { parseEngineState } from './state.js';
import { STRATUS_USER_DATA_FIXTURE, T0, attackRecords, eventFrom, eventNameQuery, isJsonObject, otherUser, ruleCase, ruleQuery, thresholdRule } from './test-support.js';
import type { DetectionEngine, EngineOptions } from './types.js';

const DAY = 86_400_000;

const SECRETS: JsonObject[] = (() => {
  const parsed: unknown = JSON.parse(readFileSync(new URL('../../test/fixtures/cloudtrail/stratus-detonation-logs/aws.credential-access.secretsmanager-retrieve-secrets.json', import.meta.url), 'utf8'));
  return Array.isArray(parsed) ? parsed.filter(isJsonObject).filter((r) => r.eventName === 'GetSecretValue') : [];
})();
const READ = SECRETS[0];
if (!READ) throw new Error('the Stratus secrets fixture changed');
const STOP = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8'))).stop;

const ANY: CompiledCondition = { text: '', queryNames: [], holds: () => true };

function newValueQuery(metrics: readonly string[], events: readonly string[] = ['GetSecretValue'], name = 'ip'): RuleQuery {
  return { ...ruleQuery(name, eventNameQuery(events)), aggregation: 'new_value', metrics };
}

/** A new_value rule on the caller's source IP; keepAlive 0 so that every alerting event is its own signal. */
function newValueRule(options: Partial<NewValueOptions> = {}, spec: { id?: string; queries?: readonly RuleQuery[]; groupByFields?: readonly string[] } = {}): CompiledRule {
  return thresholdRule({
    id: spec.id ?? 'new-source-ip',
    queries: spec.queries ?? [newValueQuery(['@sourceIPAddress'])],
    groupByFields: spec.groupByFields ?? ['@userIdentity.arn'],
    cases: [ruleCase('new value', 'info', ANY)],
    options: {
      detectionMethod: 'new_value',
      evaluationWindow: 0,
      keepAlive: 0,
      maxSignalDuration: 0,
      newValueOptions: { learningDuration: 1, forgetAfter: 7, learningMethod: 'duration', learningThreshold: 0, ...options },
    },
  });
}

interface Read {
  /** Milliseconds after T0. */
  readonly ms: number;
  readonly ip?: JsonValue;
  readonly user?: string;
  readonly patch?: JsonObject;
}

let counter = 0;
function read(r: Read): TrailEvent {
  const patch: JsonObject = { ...(r.user ? otherUser(READ ?? {}, r.user) : {}), ...r.patch };
  if (r.ip !== undefined) patch.sourceIPAddress = r.ip;
  return eventFrom(READ ?? {}, { time: T0 + r.ms, id: `read-${counter++}`, patch });
}

function engineOver(rules: readonly CompiledRule[], events: readonly TrailEvent[], options?: EngineOptions): DetectionEngine {
  const engine = createEngine(rules, options);
  for (const e of events) engine.ingest(e);
  engine.finish();
  return engine;
}

function alertedIps(signals: readonly Signal[], events: readonly TrailEvent[]): string[] {
  const byId = new Map(events.map((e) => [e.eventId ?? e.key, e]));
  return signals.flatMap((s) => s.eventIds.map((id) => JSON.stringify(byId.get(id)?.fields.sourceIPAddress ?? null).replaceAll('"', '')));
}

describe('learning and forgetting (new source IP of a caller)', () => {
  it.each<[string, Partial<NewValueOptions>, readonly Read[], readonly string[]]>([
    ['a value seen during learning never alerts later', {}, [{ ms: 0, ip: '1.1.1.1' }, { ms: 2 * DAY, ip: '1.1.1.1' }], []],
    ['a new value during learning (1 day − 1 ms after the first) is learned', {}, [{ ms: 0, ip: '1.1.1.1' }, { ms: DAY - 1, ip: '2.2.2.2' }, { ms: 2 * DAY, ip: '2.2.2.2' }], []],
    ['a new value exactly 1 day after the first is after learning: it alerts', {}, [{ ms: 0, ip: '1.1.1.1' }, { ms: DAY, ip: '2.2.2.2' }], ['2.2.2.2']],
    ['an alerting value is learned: it alerts once', {}, [{ ms: 0, ip: '1.1.1.1' }, { ms: DAY, ip: '2.2.2.2' }, { ms: DAY + 5, ip: '2.2.2.2' }], ['2.2.2.2']],
    ['a value seen again exactly forgetAfter (7 days) later is still known', {}, [{ ms: 0, ip: '1.1.1.1' }, { ms: 7 * DAY, ip: '1.1.1.1' }], []],
    ['7 days and 1 ms later it is forgotten, so new again', {}, [{ ms: 0, ip: '1.1.1.1' }, { ms: 7 * DAY + 1, ip: '1.1.1.1' }], ['1.1.1.1']],
    ['each sighting restarts the forgetting clock', {}, [{ ms: 0, ip: '1.1.1.1' }, { ms: 5 * DAY, ip: '1.1.1.1' }, { ms: 11 * DAY, ip: '1.1.1.1' }], []],
    ['learningDuration 0: only the first value is learned; the next new one alerts in the same millisecond', { learningDuration: 0 }, [{ ms: 0, ip: '1.1.1.1' }, { ms: 0, ip: '1.1.1.1' }, { ms: 0, ip: '9.9.9.9' }], ['9.9.9.9']],
    ['learningDuration 7: a new value on day 6 is learned, on day 7 it alerts', { learningDuration: 7 }, [{ ms: 0, ip: '1.1.1.1' }, { ms: 6 * DAY, ip: '2.2.2.2' }, { ms: 7 * DAY, ip: '3.3.3.3' }], ['3.3.3.3']],
    ['learning starts at the first event WITH a value', { learningDuration: 0 }, [{ ms: 0, patch: { sourceIPAddress: null } }, { ms: 10, ip: '1.1.1.1' }, { ms: 20, ip: '2.2.2.2' }], ['2.2.2.2']],
    ['an empty value is no value', { learningDuration: 0 }, [{ ms: 0, ip: '1.1.1.1' }, { ms: 10, ip: '' }], []],
    ['the learning period is the rule’s: a caller first seen after it alerts on its first value', {}, [{ ms: 0, ip: '1.1.1.1' }, { ms: 2 * DAY, ip: '1.1.1.1', user: 'alice' }], ['1.1.1.1']],
    ['values are per group: a value known for one caller is new for another', { learningDuration: 0 }, [{ ms: 0, ip: '1.1.1.1' }, { ms: 10, ip: '2.2.2.2', user: 'alice' }, { ms: 20, ip: '2.2.2.2' }], ['2.2.2.2', '2.2.2.2']],
    ['learningMethod threshold 1: the first event of EACH group is learned', { learningMethod: 'threshold', learningThreshold: 1 }, [{ ms: 0, ip: '1.1.1.1' }, { ms: 10, ip: '2.2.2.2', user: 'alice' }, { ms: 20, ip: '3.3.3.3', user: 'alice' }], ['3.3.3.3']],
    ['learningMethod threshold 0: nothing is learned, every first value alerts', { learningMethod: 'threshold', learningThreshold: 0 }, [{ ms: 0, ip: '1.1.1.1' }, { ms: 10, ip: '1.1.1.1' }], ['1.1.1.1']],
    ['learningMethod threshold ignores learningDuration', { learningMethod: 'threshold', learningThreshold: 0, learningDuration: 7 }, [{ ms: 0, ip: '1.1.1.1' }], ['1.1.1.1']],
  ])('%s', (_name, options, reads, expected) => {
    const events = reads.map(read);
    expect(alertedIps(engineOver([newValueRule(options)], events).signals(), events)).toEqual(expected);
  });
});

describe('what a value is', () => {
  it('every element of an array is a value: one new instance among known ones alerts', () => {
    const rule = newValueRule({ learningDuration: 0 }, { queries: [newValueQuery(['@requestParameters.instancesSet.items.instanceId'], ['StopInstances'], 'instance')] });
    const stop = (ms: number, ids: readonly string[]): TrailEvent =>
      eventFrom(STOP, { time: T0 + ms, id: `stop-${ms}`, patch: { requestParameters: { force: true, instancesSet: { items: ids.map((instanceId) => ({ instanceId })) } } } });
    const events = [stop(0, ['i-1', 'i-2']), stop(10, ['i-2', 'i-1']), stop(20, ['i-1', 'i-3'])];
    const signals = engineOver([rule], events).signals();
    expect(signals.map((s) => s.eventIds)).toEqual([['stop-20']]);
    expect(signals[0]?.queryCounts).toEqual({ instance: 1 });
  });

  it('several metrics make one value of their combination', () => {
    const rule = newValueRule({ learningDuration: 0 }, { queries: [newValueQuery(['@sourceIPAddress', '@userAgent'])] });
    const events = [read({ ms: 0, ip: '1.1.1.1' }), read({ ms: 10, ip: '2.2.2.2', patch: { userAgent: READ?.userAgent ?? null } }), read({ ms: 20, ip: '2.2.2.2', patch: { userAgent: 'curl/8' } }), read({ ms: 30, ip: '2.2.2.2' })];
    expect(alertedIps(engineOver([rule], events).signals(), events)).toEqual(['2.2.2.2', '2.2.2.2']);
  });

  it('a numeric value and its text are one value', () => {
    const rule = newValueRule({ learningDuration: 0 });
    const events = [read({ ms: 0, ip: 7 }), read({ ms: 10, ip: '7' })];
    expect(engineOver([rule], events).signals()).toEqual([]);
  });

  it('a signal names the rule’s group, counts the new-value events and renders against the newest', () => {
    const events = [read({ ms: 0, ip: '1.1.1.1' }), read({ ms: DAY, ip: '6.6.6.6' })];
    const [signal] = engineOver([newValueRule()], events).signals();
    expect(signal?.group).toEqual({ '@userIdentity.arn': READ?.userIdentity && isJsonObject(READ.userIdentity) ? READ.userIdentity.arn : undefined });
    expect(signal?.queryCounts).toEqual({ ip: 1 });
    expect(signal?.severity).toBe('info');
    expect(signal?.message).toContain(`eventID=${events[1]?.eventId}`);
  });
});

describe('history carried to a later engine (what scan --state does)', () => {
  const rule = newValueRule();
  const first = [read({ ms: 0, ip: '1.1.1.1' }), read({ ms: 3600_000, ip: '2.2.2.2' }), read({ ms: 7200_000, ip: '3.3.3.3', user: 'alice' })];
  const second = [read({ ms: 3 * DAY, ip: '1.1.1.1' }), read({ ms: 3 * DAY + 10, ip: '2.2.2.2' }), read({ ms: 3 * DAY + 20, ip: '4.4.4.4' }), read({ ms: 3 * DAY + 30, ip: '3.3.3.3', user: 'alice' })];

  it('a second engine given the first one’s history alerts only on values the first did not learn', () => {
    const history: unknown = JSON.parse(JSON.stringify(engineOver([rule], first).newValueHistory()));
    const parsed = parseNewValueHistory(history);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const signals = engineOver([rule], second, { newValueHistory: parsed.value }).signals();
    expect(alertedIps(signals, second)).toEqual(['4.4.4.4']);
  });

  it('without the history the second engine learns afresh (its first day is learning)', () => {
    expect(engineOver([rule], second).signals()).toEqual([]);
  });

  it('one engine over both gives the same signals as two engines chained by the history', () => {
    const both = engineOver([rule], [...first, ...second]).signals();
    const chained = engineOver([rule], second, { newValueHistory: engineOver([rule], first).newValueHistory() }).signals();
    expect(chained.map((s) => s.eventIds)).toEqual(both.map((s) => s.eventIds));
  });

  it('a rule whose metrics changed starts afresh; other rules’ histories are kept unchanged', () => {
    const history = engineOver([rule], first).newValueHistory();
    const changed = newValueRule({}, { queries: [newValueQuery(['@userAgent'])] });
    const other = newValueRule({}, { id: 'another-rule' });
    const engine = engineOver([changed], second, { newValueHistory: history });
    expect(engine.signals()).toEqual([]);
    const [kept] = engineOver([other], [], { newValueHistory: history }).newValueHistory().rules.filter((r) => r.ruleId === rule.id);
    expect(kept).toEqual(history.rules.find((r) => r.ruleId === rule.id));
  });

  it('the history is plain, sorted JSON with the learning start and every group’s values', () => {
    const history = engineOver([rule], first).newValueHistory();
    expect(history.version).toBe(NEW_VALUE_HISTORY_VERSION);
    const [r] = history.rules;
    expect(r?.learningStartMs).toBe(T0);
    expect(r?.latestMs).toBe(T0 + 7200_000);
    expect(r?.groups.map((g) => [g.groupValues[0]?.split('/').pop(), g.occurrences, g.values.map((v) => [v[0], v[1], v[2] - T0])])).toEqual([
      ['alice', 0, [['ip', '3.3.3.3', 7200_000]]],
      ['christophe', 0, [['ip', '1.1.1.1', 0], ['ip', '2.2.2.2', 3600_000]]],
    ]);
  });

  it('forgets what is older than forgetAfter before the rule’s latest event, and keeps the value exactly at the limit', () => {
    const events = [read({ ms: 0, ip: '1.1.1.1' }), read({ ms: 1, ip: '2.2.2.2' }), read({ ms: 7 * DAY + 1, ip: '2.2.2.2', user: 'alice' })];
    const [r] = engineOver([newValueRule()], events).newValueHistory().rules;
    expect(r?.groups.flatMap((g) => g.values.map((v) => v[1]))).toEqual(['2.2.2.2', '2.2.2.2']);
  });
});

describe('parseNewValueHistory: a saved history is checked before use', () => {
  const valid: NewValueHistory = { version: 1, rules: [{ ruleId: 'r', fingerprint: 'f', learningStartMs: 1, latestMs: 2, groups: [{ groupValues: ['a'], occurrences: 1, values: [['ip', '1.1.1.1', 2]] }] }] };
  it.each<[string, unknown, boolean]>([
    ['a valid history', valid, true],
    ['the empty history', emptyNewValueHistory(), true],
    ['another version', { ...valid, version: 2 }, false],
    ['a sighting without its time', { ...valid, rules: [{ ...valid.rules[0], groups: [{ groupValues: ['a'], occurrences: 1, values: [['ip', '1.1.1.1']] }] }] }, false],
    ['a negative occurrence count', { ...valid, rules: [{ ...valid.rules[0], groups: [{ groupValues: ['a'], occurrences: -1, values: [] }] }] }, false],
    ['not an object', 'history', false],
  ])('%s', (_name, value, isValid) => {
    const parsed = parseNewValueHistory(value);
    expect(parsed.ok).toBe(isValid);
    if (!parsed.ok) expect(parsed.diagnostics[0]?.code).toBe('E_NEW_VALUE_HISTORY');
  });
});

describe('NewValueTracker directly', () => {
  it('returns the positions of the queries whose value is new, and records values of learning events', () => {
    const rule = compileNewValueRule(newValueRule({ learningDuration: 0 }, { queries: [newValueQuery(['@sourceIPAddress'], ['GetSecretValue'], 'ip'), newValueQuery(['@userAgent'], ['GetSecretValue'], 'agent')] }));
    if (!rule) throw new Error('not a new_value rule');
    const tracker = new NewValueTracker([rule]);
    const fields = (ip: string, agent: string): JsonObject => ({ ...READ, sourceIPAddress: ip, userAgent: agent });
    expect(tracker.observe(rule, ['g'], fields('1.1.1.1', 'a'), [0, 1], T0)).toEqual([]);
    expect(tracker.observe(rule, ['g'], fields('1.1.1.1', 'b'), [0, 1], T0 + 1)).toEqual([1]);
    expect(tracker.observe(rule, ['g'], fields('2.2.2.2', 'c'), [0], T0 + 2)).toEqual([0]);
    expect(tracker.observe(rule, ['g'], fields('2.2.2.2', 'c'), [1], T0 + 3)).toEqual([1]);
  });

  it('compileNewValueRule is null for a threshold rule', () => {
    expect(compileNewValueRule(thresholdRule())).toBeNull();
  });
});

describe('new_value rules keep the engine’s promises', () => {
  const rules = [newValueRule({ learningDuration: 1, forgetAfter: 1 }), newValueRule({ learningMethod: 'threshold', learningThreshold: 1, forgetAfter: 2 }, { id: 'per-group' })];
  const specArb = fc.record({ ip: fc.integer({ min: 0, max: 4 }), user: fc.integer({ min: 0, max: 2 }), hour: fc.integer({ min: 0, max: 24 * 5 }).map((h) => h * 3600_000) });
  const toEvents = (specs: readonly { ip: number; user: number; hour: number }[]): TrailEvent[] =>
    specs.map((s, i) => eventFrom(READ ?? {}, { time: T0 + s.hour, id: `e${i}`, patch: { sourceIPAddress: `10.0.0.${s.ip}`, ...(s.user > 0 ? otherUser(READ ?? {}, `user${s.user}`) : {}) } }));

  it('any permutation of the input gives the same signals and the same history (property)', () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 40 }).chain((specs) => fc.tuple(fc.constant(specs), fc.shuffledSubarray(specs.map((_, i) => i), { minLength: specs.length, maxLength: specs.length }))), ([specs, order]) => {
        const events = toEvents(specs);
        const shuffled = order.map((i) => events[i]).filter((e): e is TrailEvent => e !== undefined);
        const a = engineOver(rules, events);
        const b = engineOver(rules, shuffled);
        expect(b.signals()).toEqual(a.signals());
        expect(b.newValueHistory()).toEqual(a.newValueHistory());
      }),
      { numRuns: 80 },
    );
  });

  it('stepping with watermarks and a JSON snapshot/restore in the middle give the one-pass signals and history (property)', () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 24 * 5 }), (specs, cutHour) => {
        const events = toEvents(specs);
        const one = engineOver(rules, events);
        const engine = createEngine(rules);
        for (const e of events) engine.ingest(e);
        engine.advanceTo(T0 + (cutHour * 3600_000) / 2);
        engine.advanceTo(T0 + cutHour * 3600_000);
        const parsed = parseEngineState(JSON.parse(JSON.stringify(engine.snapshot())));
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        const restored = restoreEngine(rules, parsed.value);
        restored.finish();
        expect(restored.signals()).toEqual(one.signals());
        expect(restored.newValueHistory()).toEqual(one.newValueHistory());
      }),
      { numRuns: 80 },
    );
  });

  it('a snapshot holds the history, and a restored engine prefers it to the history in its options', () => {
    const engine = createEngine(rules);
    engine.ingest(read({ ms: 0, ip: '1.1.1.1' }));
    engine.advanceTo(T0 + 1);
    const state = engine.snapshot();
    expect(state.newValues?.rules.find((r) => r.ruleId === 'new-source-ip')?.groups[0]?.values).toEqual([['ip', '1.1.1.1', T0]]);
    const restored = restoreEngine(rules, state, { newValueHistory: emptyNewValueHistory() });
    expect(restored.newValueHistory()).toEqual(engine.newValueHistory());
  });
});
