/**
 * Properties that must hold for any input: arrival order never matters, cutting the evaluation
 * with watermarks or a snapshot/restore never matters, and memory stays bounded.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, Signal, TrailEvent } from '../core/types.js';
import type { CompiledRule } from '../rules/model.js';
import { createEngine, restoreEngine } from './engine.js';
import {
  ATTACK_QUERIES,
  STRATUS_USER_DATA_FIXTURE,
  allPositive,
  at,
  atLeast,
  attackRecords,
  eventFrom,
  eventNameQuery,
  otherUser,
  ruleCase,
  ruleQuery,
  thresholdRule,
} from './test-support.js';
import type { EngineOptions, EngineState } from './types.js';

const real = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8')));
const KINDS = [real.stop, real.modify, real.start, real.describe] as const;
const USERS = ['christophe', 'alice'] as const;

/** Rules that exercise every part of the lifecycle on short time scales. */
const RULES: readonly CompiledRule[] = [
  thresholdRule({
    cases: [
      ruleCase('two starts', 'high', {
        text: 'stop_instance > 0 && modify_instance_attribute > 0 && start_instance >= 2',
        queryNames: ['stop_instance', 'modify_instance_attribute', 'start_instance'],
        holds: (c) => (c.stop_instance ?? 0) > 0 && (c.modify_instance_attribute ?? 0) > 0 && (c.start_instance ?? 0) >= 2,
      }),
      ruleCase('attack', 'low', allPositive(['stop_instance', 'modify_instance_attribute', 'start_instance'])),
    ],
    options: { keepAlive: 600, maxSignalDuration: 1800 },
  }),
  thresholdRule({
    id: 'busy-account',
    groupByFields: [],
    queries: [ruleQuery('any', eventNameQuery(['StopInstances', 'StartInstances', 'ModifyInstanceAttribute'])), ...ATTACK_QUERIES.slice(2)],
    cases: [ruleCase('many', 'medium', atLeast('any', 4)), ruleCase('some', 'info', atLeast('any', 2))],
    options: { evaluationWindow: 300, keepAlive: 300, maxSignalDuration: 900 },
  }),
  thresholdRule({
    id: 'optional-host',
    groupByFields: ['host'],
    hasOptionalGroupByFields: true,
    queries: [ruleQuery('poll', eventNameQuery(['DescribeInstances']))],
    cases: [ruleCase('polling', 'low', atLeast('poll', 2))],
    options: { evaluationWindow: 300, keepAlive: 0, maxSignalDuration: 300 },
  }),
];

interface Spec {
  readonly kind: number;
  readonly user: number;
  /** Seconds after T0, on a coarse grid so equal timestamps are common. */
  readonly second: number;
  readonly hasId: boolean;
  readonly hasHost: boolean;
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  kind: fc.integer({ min: 0, max: KINDS.length - 1 }),
  user: fc.integer({ min: 0, max: USERS.length - 1 }),
  second: fc.integer({ min: 0, max: 40 }).map((n) => n * 50),
  hasId: fc.boolean(),
  hasHost: fc.boolean(),
});

function toEvents(specs: readonly Spec[]): TrailEvent[] {
  return specs.map((s, i) => {
    const record = KINDS[s.kind] ?? real.start;
    const patch: JsonObject = { ...otherUser(record, USERS[s.user] ?? 'christophe'), ...(s.hasHost ? { host: `i-${s.user}` } : {}) };
    return eventFrom(record, { time: at(s.second), id: s.hasId ? `e${i}` : null, key: `k${i}`, patch });
  });
}

function runAll(events: readonly TrailEvent[], options?: EngineOptions): Signal[] {
  const engine = createEngine(RULES, options);
  for (const e of events) engine.ingest(e);
  engine.finish();
  return engine.signals();
}

const permuted = (events: readonly TrailEvent[]): fc.Arbitrary<TrailEvent[]> =>
  fc.shuffledSubarray([...events], { minLength: events.length, maxLength: events.length });

const eventsArb = fc.array(specArb, { minLength: 3, maxLength: 40 }).map(toEvents);

describe('order independence', () => {
  it('any permutation of the input events gives deep-equal signals', () => {
    fc.assert(
      fc.property(eventsArb.chain((events) => fc.tuple(fc.constant(events), permuted(events))), ([events, shuffled]) => {
        expect(runAll(shuffled)).toEqual(runAll(events));
      }),
      { numRuns: 200 },
    );
  });

  it('the generated inputs exercise creation, updates, escalation and every rule (the property is not vacuous)', () => {
    const signals = fc.sample(eventsArb, { numRuns: 200, seed: 42 }).flatMap((events) => runAll(events));
    expect(new Set(signals.map((s) => s.ruleId))).toEqual(new Set(RULES.map((r) => r.id)));
    expect(signals.filter((s) => s.updates > 0).length).toBeGreaterThan(20);
    expect(signals.filter((s) => s.severity === 'high').length).toBeGreaterThan(5);
    expect(signals.filter((s) => s.group.host === 'N/A').length).toBeGreaterThan(5);
  });
});

describe('cutting the evaluation', () => {
  it('advancing through any sequence of watermarks then finishing equals one finish', () => {
    fc.assert(
      fc.property(eventsArb, fc.array(fc.integer({ min: -100, max: 3200 }), { maxLength: 5 }), (events, cuts) => {
        const engine = createEngine(RULES);
        for (const e of events) engine.ingest(e);
        for (const cut of [...cuts].sort((a, b) => a - b)) engine.advanceTo(at(cut));
        engine.finish();
        expect(engine.signals()).toEqual(runAll(events));
      }),
      { numRuns: 150 },
    );
  });

  it('snapshot → JSON → restore mid-stream gives the same final signals as an uninterrupted run', () => {
    fc.assert(
      fc.property(eventsArb.chain((events) => fc.tuple(fc.constant(events), permuted(events), fc.integer({ min: -100, max: 3100 }))), ([events, arrival, cutSecond]) => {
        // A stream: what happened up to the cut arrives (in any order), the engine advances to it,
        // its state goes through JSON into a new engine, which receives the rest.
        const cut = at(cutSecond);
        const before = createEngine(RULES);
        for (const e of arrival) if (e.time <= cut) before.ingest(e);
        before.advanceTo(cut);
        const saved = before.snapshot();
        const thawed = JSON.parse(JSON.stringify(saved)) as EngineState;
        const after = restoreEngine(RULES, thawed);
        expect(after.snapshot()).toEqual(saved);
        for (const e of arrival) if (e.time > cut) after.ingest(e);
        after.finish();
        expect(after.signals()).toEqual(runAll(events));
        expect(after.stats.lateEvents).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it('a snapshot taken before anything was evaluated restores to an equal engine', () => {
    fc.assert(
      fc.property(eventsArb, (events) => {
        const engine = createEngine(RULES);
        for (const e of events) engine.ingest(e);
        const saved = engine.snapshot();
        const restored = restoreEngine(RULES, JSON.parse(JSON.stringify(saved)) as EngineState);
        expect(restored.snapshot()).toEqual(saved);
        expect(restored.stats).toEqual(engine.stats);
        restored.finish();
        expect(restored.signals()).toEqual(runAll(events));
      }),
      { numRuns: 60 },
    );
  });
});

describe('bounded memory', () => {
  /** Whole events held by a state: buffered ones and the open signals' latest events. */
  const heldEvents = (state: EngineState): number => state.pending.length + state.groups.filter((g) => g.open !== null).length;
  const windowEntries = (state: EngineState): number => state.groups.reduce((n, g) => n + g.window.length, 0);

  const startsRule = thresholdRule({ id: 'starts', queries: [ruleQuery('start_instance', eventNameQuery(['StartInstances']))], cases: [ruleCase('start', 'low', atLeast('start_instance', 1))] });

  it.each([
    ['one caller, every event raising a signal', [startsRule], (i: number) => 'christophe' + String(i % 1)],
    ['a new caller every time, every event raising a signal', [startsRule], (i: number) => `user-${i}`],
    ['a new caller every time, no signal ever', [thresholdRule()], (i: number) => `user-${i}`],
  ])('after a long stream of matching events far apart in time, the state holds few events: %s', (_name, rules, user) => {
    const engine = createEngine(rules, { retainClosedSignals: false });
    const sizes: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const e = eventFrom(real.start, { time: at(i * 7200), id: `s${i}`, patch: otherUser(real.start, user(i)) });
      engine.ingest(e);
      engine.advanceTo(e.time);
      if (i % 500 === 499) {
        const state = engine.snapshot();
        expect(heldEvents(state)).toBeLessThanOrEqual(1);
        expect(windowEntries(state)).toBeLessThanOrEqual(1);
        expect(state.groups.length).toBeLessThanOrEqual(1);
        expect(state.signals.length).toBeLessThanOrEqual(1);
        const { seenEventIds: _ids, ...rest } = state;
        sizes.push(JSON.stringify(rest).length);
      }
    }
    // The state without the dedup memory does not grow with the input.
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThan(200);
    expect(engine.stats.eventsMatched).toBe(3000);
  });

  it('keeps closed signals for signals() by default, as a batch scan wants', () => {
    const engine = createEngine([startsRule]);
    for (let i = 0; i < 50; i++) engine.ingest(eventFrom(real.start, { time: at(i * 7200), id: `s${i}` }));
    engine.finish();
    expect(engine.signals()).toHaveLength(50);
    expect(engine.snapshot().groups).toEqual([]);
  });

  it('a dense stream holds only the last window of events', () => {
    const engine = createEngine([thresholdRule()]);
    for (let i = 0; i < 2000; i++) {
      const e = eventFrom(real.stop, { time: at(i * 10), id: `s${i}` });
      engine.ingest(e);
      engine.advanceTo(e.time);
    }
    // 900 s window, one event every 10 s: the last event's window holds 91 events (the oldest exactly
    // 900 s back), but every later event is after the watermark, so that oldest one is dropped.
    expect(windowEntries(engine.snapshot())).toBe(90);
  });
});
