/**
 * Sequence rules in the engine: step order in event time, transition and step windows (edges
 * included), equal timestamps, interleaved groups, the signal lifecycle, what a signal carries,
 * snapshot/restore and order independence. Events are real Stratus records (re-timed, re-identified)
 * normalised as `scan` does.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, Severity, Signal, TrailEvent } from '../core/types.js';
import { normaliseRecord } from '../normalise/normalise.js';
import { compileQueryOrThrow } from '../query/compile.js';
import { compileCondition } from '../rules/condition.js';
import type { CompiledCondition, CompiledRule, RuleCase, RuleQuery } from '../rules/model.js';
import { createEngine, restoreEngine } from './engine.js';
import { compileSequencePlan } from './sequence.js';
import { parseEngineState } from './state.js';
import { STRATUS_USER_DATA_FIXTURE, T0, attackRecords, thresholdRule } from './test-support.js';

const real = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8')));
const RECORDS = { stop: real.stop, modify: real.modify, start: real.start, describe: real.describe } as const;
type Kind = keyof typeof RECORDS;

const QUERY_TEXTS = {
  stop: '@evt.name:StopInstances',
  modify: '@evt.name:ModifyInstanceAttribute -@errorCode:*',
  failed_modify: '@evt.name:ModifyInstanceAttribute @errorCode:*',
  start: '@evt.name:StartInstances',
} as const;
const QUERY_NAMES = Object.keys(QUERY_TEXTS);

function condition(text: string, names: readonly string[]): CompiledCondition {
  const compiled = compileCondition(text, names);
  if (!compiled.ok) throw new Error(`test condition does not compile: ${text}`);
  return compiled.value;
}

interface SequenceSpec {
  readonly id?: string;
  readonly groupByFields?: readonly string[];
  /** Conditions of the three steps (stopped, changed, started). */
  readonly stepConditions?: readonly [string, string, string];
  readonly stepWindows?: readonly [number, number, number];
  readonly transitions?: readonly [number, number];
  readonly cases?: readonly (readonly [string, Severity, string])[];
  readonly keepAlive?: number;
  readonly maxSignalDuration?: number;
  readonly stepCondition?: (index: number, compiled: CompiledCondition) => CompiledCondition;
}

const STEP_NAMES = ['stopped', 'changed', 'started'] as const;

/** Stop → change → Start, grouped by the target instance (`host`) unless told otherwise. */
function sequenceRule(spec: SequenceSpec = {}): CompiledRule {
  const groupByFields = spec.groupByFields ?? ['host'];
  const queries: RuleQuery[] = Object.entries(QUERY_TEXTS).map(([name, text]) => ({
    name,
    query: compileQueryOrThrow(text),
    aggregation: 'count',
    groupByFields,
    distinctFields: [],
    hasOptionalGroupByFields: false,
  }));
  const conditions = spec.stepConditions ?? ['stop > 0', 'modify > 0 || failed_modify > 0', 'start > 0'];
  const windows = spec.stepWindows ?? [900, 900, 900];
  const transitions = spec.transitions ?? [900, 900];
  const caseNames = [...STEP_NAMES, ...QUERY_NAMES];
  const cases: RuleCase[] = (spec.cases ?? [['', 'high', 'started > 0']]).map(([name, status, text]) => ({ name, status, condition: condition(text, caseNames) }));
  return thresholdRule({
    id: spec.id ?? 'test-sequence',
    queries,
    groupByFields,
    cases,
    options: {
      detectionMethod: 'sequence_detection',
      evaluationWindow: 0,
      keepAlive: spec.keepAlive ?? 3600,
      maxSignalDuration: spec.maxSignalDuration ?? 3600,
      sequenceDetectionOptions: {
        steps: STEP_NAMES.map((name, i) => {
          const compiled = condition(conditions[i] ?? '', QUERY_NAMES);
          return { name, condition: spec.stepCondition ? spec.stepCondition(i, compiled) : compiled, evaluationWindow: windows[i] ?? 0 };
        }),
        stepTransitions: [
          { parent: 'stopped', child: 'changed', evaluationWindow: transitions[0] },
          { parent: 'changed', child: 'started', evaluationWindow: transitions[1] },
        ],
      },
    },
  });
}

/** A normalised event from a real record: re-timed (seconds after T0, ms allowed), re-identified, top-level keys patched. */
function ev(kind: Kind, seconds: number, id: string, patch: JsonObject = {}): TrailEvent {
  const record: JsonObject = { ...structuredClone(RECORDS[kind]), eventTime: new Date(T0 + Math.round(seconds * 1000)).toISOString(), eventID: id, ...structuredClone(patch) };
  const normalised = normaliseRecord(record, { source: 'test', index: 0 });
  if (!normalised.ok) throw new Error(normalised.message);
  return normalised.event;
}

/** The same call made on another instance. */
function onInstance(kind: Kind, instanceId: string): JsonObject {
  return kind === 'modify' ? { requestParameters: { instanceId, userData: '<sensitiveDataRemoved>' } } : { requestParameters: { instancesSet: { items: [{ instanceId }] } } };
}

/** Another caller: an assumed-role session, so that its session name differs. */
function asRole(session: string): JsonObject {
  return {
    userIdentity: {
      type: 'AssumedRole',
      principalId: `AROAEXAMPLE:${session}`,
      arn: `arn:aws:sts::309303190113:assumed-role/ops/${session}`,
      accountId: '309303190113',
      accessKeyId: 'ASIAEXAMPLE',
    },
  };
}

function run(events: readonly TrailEvent[], rules: readonly CompiledRule[] = [sequenceRule()]): Signal[] {
  const engine = createEngine(rules);
  for (const event of events) engine.ingest(event);
  engine.finish();
  return engine.signals();
}

type Step = readonly [Kind, number];

function chain(steps: readonly Step[], prefix = 'e'): TrailEvent[] {
  return steps.map(([kind, seconds], i) => ev(kind, seconds, `${prefix}-${i}-${kind}`));
}

describe('a sequence rule follows its steps in event time', () => {
  it.each<[string, readonly Step[], number]>([
    ['Stop, change and Start in order', [['stop', 0], ['modify', 48], ['start', 49]], 1],
    ['each step exactly 900 s after the previous one (transition windows are inclusive)', [['stop', 0], ['modify', 900], ['start', 1800]], 1],
    ['the change 900 s + 1 s after the Stop', [['stop', 0], ['modify', 901], ['start', 902]], 0],
    ['the Start 900 s + 1 s after the change', [['stop', 0], ['modify', 10], ['start', 911]], 0],
    ['the change 900 s + 1 ms after the Stop', [['stop', 0], ['modify', 900.001], ['start', 901]], 0],
    ['all three in the same second (equal times count as in order)', [['stop', 30], ['modify', 30], ['start', 30]], 1],
    ['the change and the Start in the same second', [['stop', 0], ['modify', 48], ['start', 48]], 1],
    ['the change before the Stop (Modify → Stop → Start)', [['modify', 0], ['stop', 10], ['start', 20]], 0],
    ['the Start before the change (Stop → Start → Modify)', [['stop', 0], ['start', 10], ['modify', 20]], 0],
    ['the Start first (Start → Stop → Modify)', [['start', 0], ['stop', 10], ['modify', 20]], 0],
    ['a second Stop within 900 s of the change, the first one too old', [['stop', 0], ['stop', 600], ['modify', 1000], ['start', 1001]], 1],
    ['only a Stop too old for the change', [['stop', 0], ['modify', 1000], ['start', 1001]], 0],
    ['a change but no Stop', [['modify', 0], ['start', 10]], 0],
    ['a Stop and a change but no Start', [['stop', 0], ['modify', 10], ['describe', 20]], 0],
  ])('%s → %i signal(s)', (_name, steps, expected) => {
    expect(run(chain(steps))).toHaveLength(expected);
  });

  it.each([
    ['keys in step order', ['a-stop', 'b-modify', 'c-start']],
    ['keys in reverse step order', ['c-stop', 'b-modify', 'a-start']],
    ['the Start key first', ['b-stop', 'c-modify', 'a-start']],
  ])('same-second steps complete whatever the order of their keys (%s)', (_name, ids) => {
    const [stopId, modifyId, startId] = ids as [string, string, string];
    const signals = run([ev('start', 5, startId), ev('stop', 5, stopId), ev('modify', 5, modifyId)]);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.steps).toEqual({ stopped: [stopId], changed: [modifyId], started: [startId] });
  });

  it('counts a step only over its own window: `stop >= 2` needs two Stops at most 60 s apart', () => {
    const rule = sequenceRule({ stepConditions: ['stop >= 2', 'modify > 0', 'start > 0'], stepWindows: [60, 900, 900] });
    const within = chain([['stop', 0], ['stop', 60], ['modify', 70], ['start', 80]], 'within');
    const apart = chain([['stop', 0], ['stop', 61], ['modify', 70], ['start', 80]], 'apart');
    expect(run(within, [rule])).toHaveLength(1);
    expect(run(within, [rule])[0]?.steps?.['stopped']).toHaveLength(2);
    expect(run(apart, [rule])).toEqual([]);
  });

  it('counts a child step only over events at or after its parent', () => {
    // Two changes, one before the Stop: the step needs two changes after the Stop.
    const rule = sequenceRule({ stepConditions: ['stop > 0', 'modify >= 2', 'start > 0'] });
    expect(run(chain([['modify', 0], ['stop', 10], ['modify', 20], ['start', 30]]), [rule])).toEqual([]);
    expect(run(chain([['stop', 10], ['modify', 15], ['modify', 20], ['start', 30]]), [rule])).toHaveLength(1);
  });
});

describe('what a sequence signal carries', () => {
  const events = [ev('stop', 0, 'stop-1'), ev('describe', 5, 'poll-1'), ev('modify', 48, 'modify-1', asRole('mallory')), ev('start', 49, 'start-1')];
  const [signal] = run(events);

  it('lists the events of each step, and only those', () => {
    expect(signal?.steps).toEqual({ stopped: ['stop-1'], changed: ['modify-1'], started: ['start-1'] });
    expect(signal?.eventIds).toEqual(['stop-1', 'modify-1', 'start-1']);
    expect(signal?.eventCount).toBe(3);
    expect(signal?.queryCounts).toEqual({ stop: 1, modify: 1, failed_modify: 0, start: 1 });
  });

  it('lists every distinct caller and session, in order of first appearance', () => {
    expect(signal?.actors).toEqual([
      { arn: 'arn:aws:iam::309303190113:user/christophe', sessionName: 'christophe' },
      { arn: 'arn:aws:sts::309303190113:assumed-role/ops/mallory', sessionName: 'mallory' },
    ]);
  });

  it('spans the chain and keeps the group, host and severity of the case', () => {
    expect(signal?.firstSeen).toBe(new Date(T0).toISOString());
    expect(signal?.lastSeen).toBe(new Date(T0 + 49_000).toISOString());
    expect(signal?.group).toEqual({ host: 'i-DDd6c7B0e18F0E35f' });
    expect(signal?.host).toBe('i-DDd6c7B0e18F0E35f');
    expect(signal?.severity).toBe('high');
  });

  it('threshold signals carry no steps and no actors', () => {
    const [threshold] = run(events, [thresholdRule({ groupByFields: ['host'], queries: sequenceRule().queries, cases: [{ name: '', status: 'low', condition: condition('start > 0', QUERY_NAMES) }] })]);
    expect(threshold).toBeDefined();
    expect(threshold && 'steps' in threshold).toBe(false);
    expect(threshold && 'actors' in threshold).toBe(false);
  });
});

describe('groups', () => {
  const a = 'i-0a1b2c3d4e5f60718';
  const b = 'i-0f1e2d3c4b5a69788';
  const on = (kind: Kind, seconds: number, instance: string): TrailEvent => ev(kind, seconds, `${instance}-${kind}-${seconds}`, onInstance(kind, instance));

  it('interleaved chains of two instances give one signal each, with their own events', () => {
    const signals = run([on('stop', 0, a), on('stop', 5, b), on('modify', 10, b), on('modify', 20, a), on('start', 30, a), on('start', 40, b)]);
    expect(signals.map((s) => [s.group['host'], s.eventIds])).toEqual([
      [a, [`${a}-stop-0`, `${a}-modify-20`, `${a}-start-30`]],
      [b, [`${b}-stop-5`, `${b}-modify-10`, `${b}-start-40`]],
    ]);
  });

  it('a step of one group never completes the chain of another', () => {
    // b is started before its change; a's Start comes after b's change but a was never changed.
    expect(run([on('stop', 0, a), on('stop', 5, b), on('start', 8, b), on('modify', 10, b), on('start', 30, a)])).toEqual([]);
  });
});

describe('signal lifecycle', () => {
  it('a second completion within keepAlive updates the signal', () => {
    const signals = run(chain([['stop', 0], ['modify', 10], ['start', 20], ['start', 100]]));
    expect(signals).toHaveLength(1);
    expect(signals[0]?.updates).toBe(1);
    expect(signals[0]?.steps?.['started']).toEqual(['e-2-start', 'e-3-start']);
    expect(signals[0]?.eventCount).toBe(4);
  });

  const twoChains = [...chain([['stop', 0], ['modify', 10], ['start', 20]], 'one'), ...chain([['stop', 200], ['modify', 210], ['start', 220]], 'two')];

  it('a chain after keepAlive opens a new signal', () => {
    const signals = run(twoChains, [sequenceRule({ keepAlive: 60, stepWindows: [0, 0, 0] })]);
    expect(signals.map((s) => s.eventIds)).toEqual([
      ['one-0-stop', 'one-1-modify', 'one-2-start'],
      ['two-0-stop', 'two-1-modify', 'two-2-start'],
    ]);
    expect(new Set(signals.map((s) => s.id)).size).toBe(2);
  });

  it('a new signal takes every event still in its step windows, those of a closed signal included', () => {
    const signals = run(twoChains, [sequenceRule({ keepAlive: 60, stepWindows: [900, 900, 900] })]);
    expect(signals.map((s) => s.steps?.['stopped'])).toEqual([['one-0-stop'], ['one-0-stop', 'two-0-stop']]);
  });

  it('the severity rises from a failed attempt to a successful change, never the other way', () => {
    const rule = sequenceRule({
      cases: [
        ['', 'high', 'started > 0 && modify > 0'],
        ['attempt', 'low', 'started > 0 && failed_modify > 0'],
      ],
    });
    const failed = { errorCode: 'Client.UnauthorizedOperation', errorMessage: 'You are not authorized to perform this operation.' };
    const attempt = [ev('stop', 0, 's1'), ev('modify', 10, 'm1', failed), ev('start', 20, 'st1')];
    const [low] = run(attempt, [rule]);
    expect([low?.severity, low?.caseName]).toEqual(['low', 'attempt']);
    const [raised] = run([...attempt, ev('stop', 100, 's2'), ev('modify', 110, 'm2'), ev('start', 120, 'st2')], [rule]);
    expect([raised?.severity, raised?.caseName, raised?.updates]).toEqual(['high', '', 1]);
    const [kept] = run([ev('stop', 0, 's2'), ev('modify', 10, 'm2'), ev('start', 20, 'st2'), ev('stop', 100, 's1'), ev('modify', 110, 'm1', failed), ev('start', 120, 'st1')], [rule]);
    expect([kept?.severity, kept?.caseName]).toEqual(['high', '']);
  });

  it('no case holding means no signal, even when the chain completes', () => {
    expect(run(chain([['stop', 0], ['modify', 10], ['start', 20]]), [sequenceRule({ cases: [['', 'high', 'started >= 2']] })])).toEqual([]);
  });

  it('a step condition that throws does not hold and is counted', () => {
    const rule = sequenceRule({
      stepCondition: (i, compiled) =>
        i === 1
          ? {
              ...compiled,
              holds: () => {
                throw new Error('boom');
              },
            }
          : compiled,
    });
    const engine = createEngine([rule]);
    for (const event of chain([['stop', 0], ['modify', 10], ['start', 20]])) engine.ingest(event);
    engine.finish();
    expect(engine.signals()).toEqual([]);
    expect(engine.stats.evaluationErrors).toBeGreaterThan(0);
  });
});

describe('the plan', () => {
  it('keeps events for the sum of the transitions plus the longest step window', () => {
    const plan = compileSequencePlan(sequenceRule({ stepWindows: [60, 300, 0], transitions: [900, 600] }));
    expect(plan?.horizonMs).toBe((900 + 600 + 300) * 1000);
    expect(plan?.steps.map((s) => s.name)).toEqual(['stopped', 'changed', 'started']);
  });

  it('is null for a threshold rule', () => {
    expect(compileSequencePlan(thresholdRule())).toBeNull();
  });
});

describe('state', () => {
  const events = [
    ...chain([['stop', 0], ['describe', 5], ['modify', 48], ['start', 49], ['start', 400]], 'x'),
    ...chain([['stop', 100], ['modify', 200], ['start', 1150]], 'y'),
    ...chain([['stop', 2000], ['modify', 2000], ['start', 2001]], 'z'),
  ].sort((p, q) => p.time - q.time);
  const rules = [sequenceRule({ keepAlive: 300, maxSignalDuration: 600 })];
  const expected = run(events, rules);

  it('the corpus raises signals (so the comparisons below compare something)', () => {
    expect(expected.length).toBeGreaterThan(1);
  });

  it('holds the pending steps of a chain in its snapshot', () => {
    const engine = createEngine(rules);
    for (const event of events.slice(0, 3)) engine.ingest(event);
    engine.advanceTo(T0 + 48_000);
    const group = engine.snapshot().groups.find((g) => g.sequence !== undefined);
    expect(group?.sequence?.fires.map((f) => f.step)).toEqual(['stopped', 'changed']);
    expect(group?.sequence?.entries.map((e) => e.ref)).toEqual(['x-0-stop', 'x-2-modify']);
  });

  it('forgets a group once no later event can use it', () => {
    const engine = createEngine(rules);
    engine.ingest(ev('stop', 0, 'lonely-stop'));
    engine.advanceTo(T0 + 10_000);
    expect(engine.snapshot().groups).toHaveLength(1);
    engine.advanceTo(T0 + 10_000_000);
    expect(engine.snapshot().groups).toEqual([]);
  });

  it('a snapshot taken anywhere, through JSON, restores to an engine that raises the same signals', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: events.length }), (cut) => {
        const first = createEngine(rules);
        for (const event of events.slice(0, cut)) first.ingest(event);
        const last = events[cut - 1];
        if (last) first.advanceTo(last.time);
        const parsed = parseEngineState(JSON.parse(JSON.stringify(first.snapshot())));
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        const second = restoreEngine(rules, parsed.value);
        for (const event of events.slice(cut)) second.ingest(event);
        second.finish();
        expect(second.signals()).toEqual(expected);
      }),
      { numRuns: 30 },
    );
  });

  it('advancing in steps gives the signals of one pass', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: events.length }), { maxLength: 6 }), (cuts) => {
        const engine = createEngine(rules);
        let from = 0;
        for (const cut of [...cuts].sort((p, q) => p - q)) {
          for (const event of events.slice(from, cut)) engine.ingest(event);
          from = Math.max(from, cut);
          const last = events[from - 1];
          if (last) engine.advanceTo(last.time);
        }
        for (const event of events.slice(from)) engine.ingest(event);
        engine.finish();
        expect(engine.signals()).toEqual(expected);
      }),
      { numRuns: 30 },
    );
  });

  it('any arrival order of the same events gives the same signals', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }), (shuffled) => {
        expect(run(shuffled, rules)).toEqual(expected);
      }),
      { numRuns: 50 },
    );
  });
});
