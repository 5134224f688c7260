import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JsonObject, Signal, TrailEvent } from '../core/types.js';
import type { CompiledRule, TemplateContext } from '../rules/model.js';
import { createEngine, restoreEngine } from './engine.js';
import { SignalSlots, compileSignalGrouping, signalGroupValues } from './signal-group.js';
import { STRATUS_USER_DATA_FIXTURE, at, atLeast, attackRecords, eventFrom, eventNameQuery, otherUser, ruleCase, ruleQuery, thresholdRule } from './test-support.js';
import type { EngineOptions } from './types.js';

const real = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8')));
const arnOf = (user: string): string => `arn:aws:iam::309303190113:user/${user}`;
const GROUP_BY = ['@userIdentity.arn', '@awsRegion'];

/** A real StopInstances re-timed, by `user`, in `region`. */
function stop(seconds: number, id: string, user: string, region: string, extra: JsonObject = {}): TrailEvent {
  return eventFrom(real.stop, { time: at(seconds), id, patch: { ...otherUser(real.stop, user), awsRegion: region, ...extra } });
}

/** One query on StopInstances grouped by caller and region; `stops >= min` raises. */
function stopRule(options: { groupSignalsBy?: readonly string[]; min?: number; keepAlive?: number } = {}): CompiledRule {
  const rule = thresholdRule({
    id: 'stops',
    queries: [ruleQuery('stops', eventNameQuery(['StopInstances']), GROUP_BY)],
    groupByFields: GROUP_BY,
    cases: [ruleCase('many stops', 'medium', atLeast('stops', options.min ?? 1))],
    options: { evaluationWindow: 900, keepAlive: options.keepAlive ?? 3600, maxSignalDuration: 86400 },
  });
  return options.groupSignalsBy === undefined ? rule : { ...rule, groupSignalsBy: options.groupSignalsBy };
}

function run(rules: readonly CompiledRule[], events: readonly TrailEvent[], options?: EngineOptions): Signal[] {
  const engine = createEngine(rules, options);
  for (const e of events) engine.ingest(e);
  engine.finish();
  return engine.signals();
}

/** Per signal: its group and its event ids, sorted for comparison. */
function summary(signals: readonly Signal[]): { group: Record<string, string>; events: string[] }[] {
  return signals.map((s) => ({ group: { ...s.group }, events: [...s.eventIds].sort() }));
}

describe('compileSignalGrouping', () => {
  it.each([
    { name: 'no groupSignalsBy', by: undefined, expected: null },
    { name: 'an empty groupSignalsBy', by: [], expected: null },
    { name: 'every group-by field (in any order)', by: ['@awsRegion', '@userIdentity.arn'], expected: null },
    { name: 'the first field', by: ['@userIdentity.arn'], expected: { fields: ['@userIdentity.arn'], positions: [0] } },
    { name: 'the second field', by: ['@awsRegion'], expected: { fields: ['@awsRegion'], positions: [1] } },
    { name: 'a field that is not a group-by field (ignored)', by: ['@awsRegion', '@nope'], expected: { fields: ['@awsRegion'], positions: [1] } },
  ])('gives $name', ({ by, expected }) => {
    expect(compileSignalGrouping(GROUP_BY, by)).toEqual(expected);
  });

  it('projects group values onto the signal group', () => {
    const grouping = compileSignalGrouping(['a', 'b', 'c'], ['c', 'a']);
    expect(grouping && signalGroupValues(grouping, ['1', '2', '3'])).toEqual(['1', '3']);
  });
});

describe('SignalSlots', () => {
  it('gives the same slot to the same values and another to other values', () => {
    const slots = new SignalSlots<string, number>();
    const a = slots.slotFor('rule', ['x']);
    a.open = 1;
    expect(slots.slotFor('rule', ['x']).open).toBe(1);
    expect(slots.slotFor('rule', ['y']).open).toBeNull();
    expect(slots.slotFor('other', ['x']).open).toBeNull();
    expect(slots.size).toBe(3);
  });

  it('forgets the slots no live group uses', () => {
    const slots = new SignalSlots<string, number>();
    slots.slotFor('rule', ['x']);
    slots.slotFor('rule', ['y']);
    slots.retain('rule', [['y']]);
    expect(slots.size).toBe(1);
    slots.retain('rule', []);
    expect(slots.size).toBe(0);
  });
});

describe('groupSignalsBy in the engine', () => {
  const events = [stop(0, 'a-east', 'alice', 'us-east-1'), stop(10, 'a-west', 'alice', 'eu-west-1'), stop(20, 'b-east', 'bob', 'us-east-1'), stop(30, 'a-east-2', 'alice', 'us-east-1')];

  it.each([
    {
      name: 'without it: one signal per caller and region',
      rule: stopRule(),
      expected: [
        { group: { '@userIdentity.arn': arnOf('alice'), '@awsRegion': 'us-east-1' }, events: ['a-east', 'a-east-2'] },
        { group: { '@userIdentity.arn': arnOf('alice'), '@awsRegion': 'eu-west-1' }, events: ['a-west'] },
        { group: { '@userIdentity.arn': arnOf('bob'), '@awsRegion': 'us-east-1' }, events: ['b-east'] },
      ],
    },
    {
      name: 'by caller: one signal per caller collects every region',
      rule: stopRule({ groupSignalsBy: ['@userIdentity.arn'] }),
      expected: [
        { group: { '@userIdentity.arn': arnOf('alice') }, events: ['a-east', 'a-east-2', 'a-west'] },
        { group: { '@userIdentity.arn': arnOf('bob') }, events: ['b-east'] },
      ],
    },
    {
      name: 'by region: one signal per region collects every caller',
      rule: stopRule({ groupSignalsBy: ['@awsRegion'] }),
      expected: [
        { group: { '@awsRegion': 'us-east-1' }, events: ['a-east', 'a-east-2', 'b-east'] },
        { group: { '@awsRegion': 'eu-west-1' }, events: ['a-west'] },
      ],
    },
    {
      name: 'cases still hold per group: two stops of alice in two regions are not "2 stops"',
      rule: stopRule({ groupSignalsBy: ['@userIdentity.arn'], min: 2 }),
      expected: [{ group: { '@userIdentity.arn': arnOf('alice') }, events: ['a-east', 'a-east-2'] }],
    },
  ])('$name', ({ rule, expected }) => {
    const signals = run([rule], events);
    expect(summary(signals)).toEqual(expected);
  });

  it('counts one update per group that fires into a shared signal', () => {
    const [signal] = run([stopRule({ groupSignalsBy: ['@userIdentity.arn'] })], events.filter((e) => e.eventId !== 'b-east'));
    expect(signal?.updates).toBe(2);
    expect(signal?.eventCount).toBe(3);
  });

  it('opens a new shared signal after keepAlive', () => {
    const rule = stopRule({ groupSignalsBy: ['@userIdentity.arn'], keepAlive: 900 });
    const signals = run([rule], [stop(0, 'e1', 'alice', 'us-east-1'), stop(600, 'w1', 'alice', 'eu-west-1'), stop(600 + 901, 'w2', 'alice', 'eu-west-1')]);
    expect(summary(signals)).toEqual([
      { group: { '@userIdentity.arn': arnOf('alice') }, events: ['e1', 'w1'] },
      { group: { '@userIdentity.arn': arnOf('alice') }, events: ['w2'] },
    ]);
  });

  it('gives the same signals whatever the arrival order', () => {
    const rule = stopRule({ groupSignalsBy: ['@userIdentity.arn'] });
    const expected = run([rule], events);
    fc.assert(
      fc.property(fc.shuffledSubarray(events, { minLength: events.length }), (shuffled) => {
        expect(run([rule], shuffled)).toEqual(expected);
      }),
      { numRuns: 30 },
    );
  });

  it('continues from a snapshot exactly as without one', () => {
    const rule = stopRule({ groupSignalsBy: ['@userIdentity.arn'] });
    const expected = run([rule], events);
    const first = createEngine([rule]);
    for (const e of events.slice(0, 2)) first.ingest(e);
    first.advanceTo(at(15));
    const restored = restoreEngine([rule], JSON.parse(JSON.stringify(first.snapshot())) as ReturnType<typeof first.snapshot>);
    for (const e of events.slice(2)) restored.ingest(e);
    restored.finish();
    expect(restored.signals()).toEqual(expected);
  });
});

describe('decreaseCriticalityBasedOnEnv in the engine', () => {
  const lowered = (rule: CompiledRule): CompiledRule => ({ ...rule, options: { ...rule.options, decreaseCriticalityBasedOnEnv: true } });
  const byAccount = (map: Record<string, string>): EngineOptions => ({ environmentOf: (fields) => (typeof fields.recipientAccountId === 'string' ? map[fields.recipientAccountId] : undefined) });
  const ACCOUNT = typeof real.stop.recipientAccountId === 'string' ? real.stop.recipientAccountId : '';

  it.each([
    { name: 'a staging account lowers medium to low', rule: lowered(stopRule()), options: byAccount({ [ACCOUNT]: 'staging' }), extra: {}, expected: 'low' },
    { name: 'a production account keeps medium', rule: lowered(stopRule()), options: byAccount({ [ACCOUNT]: 'production' }), extra: {}, expected: 'medium' },
    { name: 'an unknown environment keeps medium', rule: lowered(stopRule()), options: byAccount({}), extra: {}, expected: 'medium' },
    { name: "by default, the event's env attribute", rule: lowered(stopRule()), options: undefined, extra: { env: 'dev' }, expected: 'low' },
    { name: 'a rule without the option is never lowered', rule: stopRule(), options: byAccount({ [ACCOUNT]: 'test' }), extra: {}, expected: 'medium' },
  ])('$name', ({ rule, options, extra, expected }) => {
    const signals = run([rule], [stop(0, 's1', 'alice', 'us-east-1', extra)], options);
    expect(signals.map((s) => s.severity)).toEqual([expected]);
  });

  it('rises back when a production event of the same signal makes the case hold', () => {
    const signals = run([lowered(stopRule())], [stop(0, 's1', 'alice', 'us-east-1', { env: 'staging' }), stop(60, 's2', 'alice', 'us-east-1')]);
    expect(signals.map((s) => [s.severity, s.eventCount])).toEqual([['medium', 2]]);
  });

  it('keeps the severity, and counts an evaluation error, when finding the environment throws', () => {
    const engine = createEngine([lowered(stopRule())], {
      environmentOf: () => {
        throw new Error('boom');
      },
    });
    engine.ingest(stop(0, 's1', 'alice', 'us-east-1'));
    engine.finish();
    expect(engine.signals().map((s) => s.severity)).toEqual(['medium']);
    expect(engine.stats.evaluationErrors).toBe(1);
  });
});

describe('the template context', () => {
  it('carries the per-query counts and the signal group', () => {
    const seen: TemplateContext[] = [];
    const rule: CompiledRule = {
      ...stopRule({ groupSignalsBy: ['@userIdentity.arn'] }),
      message: {
        source: 'spy',
        render: (c) => {
          seen.push(c);
          return '';
        },
      },
    };
    run([rule], [stop(0, 's1', 'alice', 'us-east-1'), stop(5, 's2', 'alice', 'eu-west-1')]);
    const last = seen[seen.length - 1];
    expect(last?.eventsMatchedPerQuery).toEqual({ stops: 2 });
    expect(last?.group).toEqual({ '@userIdentity.arn': arnOf('alice') });
  });
});
