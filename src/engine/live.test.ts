/**
 * The live mode on examples: signals come out at once, late events within the lateness update or
 * create exactly as `scan` would (never both), ids never change, too-late and broken events are
 * counted and never crash, the state survives JSON, memory stays bounded on a long stream.
 * Events are the real Stratus records of the EC2 user-data attack, re-timed and re-identified.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TrailhoundError } from '../core/errors.js';
import type { JsonObject, Signal, TrailEvent } from '../core/types.js';
import type { CompiledCondition, CompiledRule } from '../rules/model.js';
import { createLiveEngine, restoreLiveEngine } from './live.js';
import { ChangeSink, batchSignals, withoutId } from './live-test-support.js';
import { DEFAULT_ALLOWED_LATENESS_MS } from './live-types.js';
import type { LiveDetectionEngine, LiveEngineOptions, LiveEngineState } from './live-types.js';
import { NEW_VALUE_HISTORY_VERSION } from './new-value.js';
import { STRATUS_USER_DATA_FIXTURE, at, atLeast, attackRecords, eventFrom, eventNameQuery, otherUser, ruleCase, ruleQuery, thresholdRule } from './test-support.js';
import type { SignalChange } from './types.js';

const real = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8')));
const MINUTE = 60_000;

type Kind = 'stop' | 'modify' | 'start' | 'describe';

/** A real record of this kind at `seconds` after T0 with this eventID (and caller). */
function ev(kind: Kind, seconds: number, id: string, user?: string): TrailEvent {
  return eventFrom(real[kind], { time: at(seconds), id, ...(user === undefined ? {} : { patch: otherUser(real[kind], user) }) });
}

/** The flagship's shape: Stop, Modify and Start of one caller within 900 s. */
const ATTACK_RULE = thresholdRule();
/** Every StartInstances raises (or joins) a signal of its caller. */
function startsRule(keepAlive = 3600): CompiledRule {
  return thresholdRule({ id: 'starts', queries: [ruleQuery('start', eventNameQuery(['StartInstances']))], cases: [ruleCase('start', 'low', atLeast('start', 1))], options: { keepAlive } });
}

/** Ingest each batch and process it; the changes of each batch. */
function feed(engine: LiveDetectionEngine, sink: ChangeSink, ...batches: readonly TrailEvent[][]): SignalChange[][] {
  return batches.map((batch) => {
    for (const e of batch) engine.ingest(e);
    const changes = engine.process();
    sink.take(changes);
    return changes;
  });
}

const kinds = (changes: readonly SignalChange[]): string[] => changes.map((c) => `${c.kind} ${c.signal.eventIds.join(',')}`);

describe('signals are emitted as soon as a case holds', () => {
  it('the process() that completes the attack emits it, long before the watermark reaches it', () => {
    const engine = createLiveEngine([ATTACK_RULE]);
    const sink = new ChangeSink();
    const [first, second] = feed(engine, sink, [ev('stop', 0, 'stop')], [ev('modify', 48, 'modify'), ev('start', 49, 'start')]);
    expect(first).toEqual([]);
    expect(kinds(second ?? [])).toEqual(['created stop,modify,start']);
    expect(engine.watermark()).toBe(at(49) - DEFAULT_ALLOWED_LATENESS_MS);
    expect(engine.watermark()).toBeLessThan(at(0));
  });

  it.each<[string, TrailEvent[], string[]]>([
    ['another Start of the caller joins the open signal: one update, same id', [ev('start', 120, 'start-2')], ['updated stop,modify,start,start-2']],
    ['an event no rule matches changes nothing and reports nothing', [ev('describe', 130, 'poll')], []],
    ['another caller does not touch the signal', [ev('start', 140, 'alice-start', 'alice')], []],
  ])('after the attack, %s', (_name, batch, expected) => {
    const engine = createLiveEngine([ATTACK_RULE]);
    const sink = new ChangeSink();
    const [created] = feed(engine, sink, [ev('stop', 0, 'stop'), ev('modify', 48, 'modify'), ev('start', 49, 'start')]);
    const [after] = feed(engine, sink, batch);
    expect(kinds(after ?? [])).toEqual(expected);
    for (const change of after ?? []) expect(change.signal.id).toBe(created?.[0]?.signal.id);
  });
});

describe('late events within the lateness: the answer of scan, ids kept', () => {
  it('a StopInstances arriving 40 minutes after the Modify and Start of the same attack creates the signal once, as scan does', () => {
    const engine = createLiveEngine([ATTACK_RULE]);
    const sink = new ChangeSink();
    const events = [ev('modify', 48, 'modify'), ev('start', 49, 'start'), ev('stop', 0, 'stop')];
    const [before, , late] = feed(engine, sink, events.slice(0, 2), [ev('describe', 40 * 60, 'poll-later')], events.slice(2));
    expect(before).toEqual([]);
    expect(late?.map((c) => c.kind)).toEqual(['created']);
    expect(sink.current).toEqual(batchSignals([ATTACK_RULE], events));
    expect(engine.stats).toMatchObject({ outOfOrderEvents: 1, replays: 1, lateEvents: 0, tooLateEvents: 0, signalsCreated: 1, signalsUpdated: 0, signalsRenamed: 0 });
  });

  it('a Start older than the one that raised the signal updates it under the emitted id, though scan would name it after the older one', () => {
    const rule = startsRule();
    const engine = createLiveEngine([rule]);
    const sink = new ChangeSink();
    const newer = ev('start', 100, 'start-newer');
    const older = ev('start', 50, 'start-older');
    const [first, second] = feed(engine, sink, [newer], [older]);
    const emittedId = first?.[0]?.signal.id;
    expect(second?.map((c) => [c.kind, c.signal.id, c.signal.eventIds])).toEqual([['updated', emittedId, ['start-older', 'start-newer']]]);
    const [batch] = batchSignals([rule], [newer, older]);
    expect(batch?.id).not.toBe(emittedId);
    expect(withoutId(second?.[0]?.signal ?? batch ?? ({} as Signal))).toEqual(withoutId(batch ?? ({} as Signal)));
    expect(engine.stats.signalsRenamed).toBe(1);
    expect(sink.created).toHaveLength(1);
  });

  it('a late event that joins two emitted signals into one withdraws one of them, naming the one that holds its events', () => {
    const rule = startsRule(300);
    const engine = createLiveEngine([rule]);
    const sink = new ChangeSink();
    const events = [ev('start', 0, 'a'), ev('start', 400, 'b'), ev('start', 200, 'c')];
    const [first, second, third] = feed(engine, sink, [events[0] as TrailEvent], [events[1] as TrailEvent], [events[2] as TrailEvent]);
    expect([first, second].map((changes) => changes?.map((c) => c.kind))).toEqual([['created'], ['created']]);
    const keptId = first?.[0]?.signal.id;
    const goneId = second?.[0]?.signal.id;
    expect(third?.map((c) => [c.kind, c.signal.id, c.signal.replacedBy])).toEqual([
      ['updated', keptId, undefined],
      ['updated', goneId, [keptId]],
    ]);
    expect(sink.current).toEqual(batchSignals([rule], events));
    expect(engine.stats.signalsOrphaned).toBe(1);
  });

  it('a new_value alert that a late, earlier sighting of the value makes not new is withdrawn, and the earlier one raised instead', () => {
    const ANY: CompiledCondition = { text: '', queryNames: [], holds: () => true };
    const rule = thresholdRule({
      id: 'new-caller-ip',
      queries: [{ ...ruleQuery('ip', eventNameQuery(['StartInstances'])), aggregation: 'new_value', metrics: ['@sourceIPAddress'] }],
      cases: [ruleCase('new', 'info', ANY)],
      options: { detectionMethod: 'new_value', evaluationWindow: 0, keepAlive: 0, maxSignalDuration: 0, newValueOptions: { learningDuration: 0, forgetAfter: 7, learningMethod: 'duration', learningThreshold: 0 } },
    });
    const fromIp = (seconds: number, id: string, ip: string): TrailEvent => eventFrom(real.start, { time: at(seconds), id, patch: { sourceIPAddress: ip } });
    const events = [fromIp(0, 'learned', '192.0.2.1'), fromIp(100, 'new-later', '198.51.100.7'), fromIp(50, 'new-earlier', '198.51.100.7')];
    const engine = createLiveEngine([rule]);
    const sink = new ChangeSink();
    const [, alert, late] = feed(engine, sink, [events[0] as TrailEvent], [events[1] as TrailEvent], [events[2] as TrailEvent]);
    expect(alert?.map((c) => [c.kind, c.signal.eventIds])).toEqual([['created', ['new-later']]]);
    expect(late?.map((c) => [c.kind, c.signal.eventIds, c.signal.replacedBy])).toEqual([
      ['created', ['new-earlier'], undefined],
      ['updated', ['new-later'], []],
    ]);
    expect(sink.current).toEqual(batchSignals([rule], events));
  });
});

describe('replays start from the latest checkpoint before the late event', () => {
  it('a Start two minutes late replays the last few minutes, not the whole lateness, and ends as scan does', () => {
    const rule = startsRule(7200);
    const engine = createLiveEngine([rule], { allowedLatenessMs: 60 * MINUTE });
    const sink = new ChangeSink();
    const events = Array.from({ length: 50 }, (_, i) => ev('start', i * 60, `s${i}`));
    for (const e of events) feed(engine, sink, [e]);
    const [group] = engine.snapshot().groups;
    // The base at the watermark of the first event (an hour before it), then a checkpoint every
    // 60 / 8 = 7.5 minutes of event time, at the newest event evaluated then.
    expect(group?.checkpoints.map((c) => (c.ms - at(0)) / MINUTE)).toEqual([-60, 0, 8, 16, 24, 32, 40, 48]);
    const late = ev('start', 47 * 60 + 30, 'late');
    feed(engine, sink, [late]);
    expect(engine.stats.replays).toBe(1);
    // From the checkpoint at minute 40: the starts of minutes 41 to 49 and the late one.
    expect(engine.stats.replayedEvents).toBe(10);
    sink.take(engine.finish());
    expect(sink.current).toEqual(batchSignals([rule], [...events, late]));
    expect(sink.created).toHaveLength(1);
  });
});

describe('events later than the lateness', () => {
  it.each<[string, number, number]>([
    ['inside what the group still keeps, the Start still completes the attack', 11 * 60, 1],
    ['after the window was dropped, the Start alone raises nothing', 60 * 60, 0],
  ])('%s (counted as late either way)', (_name, newestSecond, created) => {
    const engine = createLiveEngine([ATTACK_RULE], { allowedLatenessMs: 10 * MINUTE });
    const sink = new ChangeSink();
    feed(engine, sink, [ev('stop', 0, 'stop'), ev('modify', 48, 'modify')], [ev('describe', newestSecond, 'poll')], [ev('start', 49, 'start')]);
    expect(engine.watermark()).toBe(at(newestSecond) - 10 * MINUTE);
    expect(sink.created).toHaveLength(created);
    expect(engine.stats).toMatchObject({ lateEvents: 1, tooLateEvents: 1 });
  });

  it.each<[string, TrailEvent[]]>([
    ['after its group was dropped', []],
    ['to a settled group that is still alive', [ev('start', 60 * 60, 'keeps-the-group')]],
    ['to a group with events after the watermark (a replay)', [ev('start', 60 * 60, 'keeps-the-group'), ev('start', 100 * 60, 'in-time')]],
  ])('a record delivered again after the dedup memory forgot it, %s, raises no id already emitted', (_name, between) => {
    const engine = createLiveEngine([startsRule(60)], { allowedLatenessMs: 10 * MINUTE, dedupRetentionMs: MINUTE });
    const sink = new ChangeSink();
    const original = ev('start', 0, 'x');
    feed(engine, sink, [original], ...between.map((e) => [e]), [ev('describe', 105 * 60, 'later')]);
    expect(engine.stats.rememberedEventIds).toBeLessThan(1 + between.length);
    const [again] = feed(engine, sink, [original]);
    expect(engine.stats).toMatchObject({ duplicates: 0, lateEvents: 1, tooLateEvents: 1 });
    // Evaluated again against what is kept (it raises or joins a signal)…
    expect(again?.some((c) => c.signal.eventIds.includes('x'))).toBe(true);
    // …but never under an id already created.
    expect(sink.created).toHaveLength(new Set(sink.created).size);
    expect(sink.orphanUpdates).toEqual([]);
  });

  it('a late record no rule matches is counted as late, not as too late for a rule', () => {
    const engine = createLiveEngine([ATTACK_RULE], { allowedLatenessMs: 0 });
    feed(engine, new ChangeSink(), [ev('describe', 100, 'newest')], [ev('describe', 50, 'older')]);
    expect(engine.stats).toMatchObject({ lateEvents: 1, tooLateEvents: 0 });
  });

  it('the watermark only moves at process(), never backwards', () => {
    const engine = createLiveEngine([ATTACK_RULE], { allowedLatenessMs: 5 * MINUTE });
    expect(engine.watermark()).toBeNull();
    engine.ingest(ev('describe', 600, 'a'));
    expect(engine.watermark()).toBeNull();
    engine.process();
    expect(engine.watermark()).toBe(at(600) - 5 * MINUTE);
    engine.ingest(ev('describe', 100, 'b'));
    engine.process();
    expect(engine.watermark()).toBe(at(600) - 5 * MINUTE);
    expect(engine.stats.newestEventMs).toBe(at(600));
  });
});

describe('duplicates, broken events and the clock', () => {
  it('a record delivered twice counts once, in any batch', () => {
    const engine = createLiveEngine([ATTACK_RULE]);
    const sink = new ChangeSink();
    const stop = ev('stop', 0, 'stop');
    feed(engine, sink, [stop, ev('modify', 48, 'modify')], [stop, ev('start', 49, 'start')], [stop]);
    expect(engine.stats.duplicates).toBe(2);
    expect([...sink.latest.values()].map((s) => s.eventIds)).toEqual([['stop', 'modify', 'start']]);
  });

  it('recent eventIDs are forgotten once the watermark passes them by the dedup retention', () => {
    const engine = createLiveEngine([startsRule()], { allowedLatenessMs: 10 * MINUTE, dedupRetentionMs: 5 * MINUTE });
    feed(engine, new ChangeSink(), [ev('start', 0, 's0')]);
    expect(engine.stats.rememberedEventIds).toBe(1);
    feed(engine, new ChangeSink(), [ev('describe', 15 * 60 - 1, 'not-yet')]);
    expect(engine.stats.rememberedEventIds).toBe(1);
    feed(engine, new ChangeSink(), [ev('describe', 17 * 60, 'later')]);
    expect(engine.stats.rememberedEventIds).toBe(0);
  });

  const good = ev('start', 0, 'good');
  it.each<[string, unknown]>([
    ['a time that is not a number', { ...good, time: '2024-08-01T12:00:00Z' }],
    ['a NaN time', { ...good, time: Number.NaN }],
    ['an infinite time', { ...good, time: Infinity }],
    ['a time no date can hold', { ...good, time: 1e300 }],
    ['fields that are not an object', { ...good, fields: null }],
    ['fields that are an array', { ...good, fields: [] }],
    ['a key that is not a string', { ...good, key: 7 }],
  ])('an event with %s is counted as invalid and changes nothing', (_name, event) => {
    const engine = createLiveEngine([startsRule()]);
    expect(() => engine.ingest(event as TrailEvent)).not.toThrow();
    expect(engine.process()).toEqual([]);
    expect(engine.stats).toMatchObject({ eventsIngested: 1, invalidEvents: 1, eventsMatched: 0 });
    expect(engine.watermark()).toBeNull();
  });

  it('a query or a template that throws is counted and the stream goes on', () => {
    const throwing = { ...eventNameQuery(['StartInstances']), matches: (fields: JsonObject) => (fields.eventID === 'boom' ? ((): boolean => { throw new Error('boom'); })() : fields.eventName === 'StartInstances') };
    const rule = thresholdRule({
      id: 'fragile',
      queries: [ruleQuery('start', throwing)],
      cases: [ruleCase('start', 'low', atLeast('start', 1))],
      message: { source: 'throws', render: () => { throw new Error('no'); } },
    });
    const engine = createLiveEngine([rule]);
    const sink = new ChangeSink();
    feed(engine, sink, [ev('start', 0, 'boom')], [ev('start', 10, 'fine')]);
    expect(sink.created).toHaveLength(1);
    expect(engine.stats.evaluationErrors).toBeGreaterThan(0);
    expect(engine.stats.renderErrors).toBeGreaterThan(0);
    expect([...sink.latest.values()][0]?.message).toContain('could not be rendered');
  });

  it.each<[string, number, number]>([
    ['14 minutes ahead of the clock is accepted', 14, 0],
    ['16 minutes ahead of the clock is refused and does not move the watermark', 16, 1],
  ])('with a clock, an event %s', (_name, minutesAhead, refused) => {
    const now = at(0);
    const engine = createLiveEngine([startsRule()], { now: () => now, allowedLatenessMs: 0 });
    engine.ingest(ev('start', minutesAhead * 60, 'ahead'));
    engine.process();
    expect(engine.stats.futureEvents).toBe(refused);
    expect(engine.watermark()).toBe(refused === 1 ? null : at(minutesAhead * 60));
  });
});

describe('options are a contract', () => {
  it.each<[string, unknown]>([
    ['a negative lateness', { allowedLatenessMs: -1 }],
    ['a lateness that is not a number', { allowedLatenessMs: '60m' }],
    ['a NaN lateness', { allowedLatenessMs: Number.NaN }],
    ['a lateness over 7 days', { allowedLatenessMs: 8 * 86_400_000 }],
    ['a negative dedup retention', { dedupRetentionMs: -5 }],
    ['an unknown option', { allowedLateness: 60 }],
    ['a clock that is not a function', { now: 5 }],
  ])('%s is refused with E_LIVE_OPTIONS', (_name, options) => {
    let thrown: unknown;
    try {
      createLiveEngine([ATTACK_RULE], options as LiveEngineOptions);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TrailhoundError);
    expect((thrown as TrailhoundError).code).toBe('E_LIVE_OPTIONS');
  });

  it('the lateness defaults to 60 minutes, and disabled or duplicate rules are skipped and counted', () => {
    const engine = createLiveEngine([ATTACK_RULE, { ...startsRule(), isEnabled: false }, ATTACK_RULE]);
    expect(engine.allowedLatenessMs).toBe(60 * MINUTE);
    expect(engine.stats).toMatchObject({ rulesSkippedAsDisabled: 1, rulesSkippedAsDuplicateId: 1 });
  });
});

describe('the end of the stream, and the state', () => {
  it('finish() closes everything; later events are counted as late and evaluated no more', () => {
    const engine = createLiveEngine([ATTACK_RULE]);
    const sink = new ChangeSink();
    feed(engine, sink, [ev('stop', 0, 'stop'), ev('modify', 48, 'modify')]);
    sink.take(engine.finish());
    engine.ingest(ev('start', 49, 'start'));
    expect(engine.process()).toEqual([]);
    expect(engine.finish()).toEqual([]);
    expect(sink.created).toEqual([]);
    expect(engine.stats.lateEvents).toBe(1);
  });

  it('a state of another version is refused with E_LIVE_ENGINE_STATE_VERSION', () => {
    const state = { ...createLiveEngine([ATTACK_RULE]).snapshot(), version: 2 } as unknown as LiveEngineState;
    expect(() => restoreLiveEngine([ATTACK_RULE], state)).toThrow(expect.objectContaining({ code: 'E_LIVE_ENGINE_STATE_VERSION' }) as Error);
  });

  it('restored without one of its rules, the engine drops that rule’s groups and goes on with the others', () => {
    const rules = [ATTACK_RULE, startsRule()];
    const engine = createLiveEngine(rules);
    feed(engine, new ChangeSink(), [ev('stop', 0, 'stop'), ev('modify', 48, 'modify'), ev('start', 49, 'start')]);
    const state = JSON.parse(JSON.stringify(engine.snapshot())) as LiveEngineState;
    expect(new Set(state.groups.map((g) => g.ruleId))).toEqual(new Set(['test-ec2-user-data', 'starts']));
    const restored = restoreLiveEngine([ATTACK_RULE], state);
    expect(new Set(restored.snapshot().groups.map((g) => g.ruleId))).toEqual(new Set(['test-ec2-user-data']));
    const sink = new ChangeSink();
    feed(restored, sink, [ev('start', 60, 'start-2')]);
    expect(kinds(sink.stream)).toEqual(['updated stop,modify,start,start-2']);
  });

  it('new_value learning continues from the history given, and newValueHistory() returns what was learned', () => {
    const ANY: CompiledCondition = { text: '', queryNames: [], holds: () => true };
    const rule = thresholdRule({
      id: 'new-caller-ip',
      queries: [{ ...ruleQuery('ip', eventNameQuery(['StartInstances'])), aggregation: 'new_value', metrics: ['@sourceIPAddress'] }],
      cases: [ruleCase('new', 'info', ANY)],
      options: { detectionMethod: 'new_value', evaluationWindow: 0, keepAlive: 0, maxSignalDuration: 0, newValueOptions: { learningDuration: 0, forgetAfter: 7, learningMethod: 'duration', learningThreshold: 0 } },
    });
    const start = (seconds: number, id: string, ip: string): TrailEvent => eventFrom(real.start, { time: at(seconds), id, patch: { sourceIPAddress: ip } });
    const first = createLiveEngine([rule]);
    feed(first, new ChangeSink(), [start(0, 'a', '192.0.2.1'), start(10, 'b', '192.0.2.2')]);
    const history = first.newValueHistory();
    expect(history.version).toBe(NEW_VALUE_HISTORY_VERSION);
    expect(history.rules.map((r) => r.ruleId)).toEqual(['new-caller-ip']);
    const other = { ...history.rules[0], ruleId: 'not-loaded' } as (typeof history.rules)[number];
    const second = createLiveEngine([rule], { newValueHistory: { version: NEW_VALUE_HISTORY_VERSION, rules: [...history.rules, other] } });
    const sink = new ChangeSink();
    feed(second, sink, [start(20, 'c', '192.0.2.2'), start(30, 'd', '203.0.113.9')]);
    expect([...sink.latest.values()].map((s) => s.eventIds)).toEqual([['d']]);
    expect(second.newValueHistory().rules.map((r) => r.ruleId)).toEqual(['new-caller-ip', 'not-loaded']);
    const restored = restoreLiveEngine([rule], JSON.parse(JSON.stringify(second.snapshot())) as LiveEngineState);
    expect(restored.newValueHistory()).toEqual(second.newValueHistory());
  });
});

describe('bounded memory', () => {
  it('a long stream (6 hours, an event every 10 s, three callers) holds the last lateness of events, not the stream', () => {
    const lateness = 30 * MINUTE;
    const engine = createLiveEngine([ATTACK_RULE, startsRule(600)], { allowedLatenessMs: lateness });
    const kindsCycle: Kind[] = ['stop', 'modify', 'start', 'describe'];
    const sizes: number[] = [];
    const held: number[] = [];
    for (let i = 0; i < 6 * 360; i++) {
      engine.ingest(ev(kindsCycle[i % 4] ?? 'start', i * 10, `e${i}`, ['christophe', 'alice', 'bob'][i % 3]));
      if (i % 30 === 29) engine.process();
      if (i % 360 === 359) {
        const { recentEventIds: _ids, ...rest } = engine.snapshot();
        sizes.push(JSON.stringify(rest).length);
        held.push(engine.stats.heldEvents);
      }
    }
    // Lateness + a quarter + one batch of 5 minutes, at one event per 10 s (matched ones only: 3 in 4).
    const bound = ((lateness * 1.25 + 5 * MINUTE) / 10_000) * 0.75 * 2;
    expect(Math.max(...held)).toBeLessThanOrEqual(bound);
    expect(Math.max(...held)).toBeGreaterThan(0);
    expect(Math.max(...sizes.slice(1))).toBeLessThan(Math.min(...sizes.slice(1)) * 1.5);
    expect(engine.stats.signalGroups).toBeLessThanOrEqual(6);
    expect(engine.stats.rememberedEventIds).toBeLessThanOrEqual((2 * lateness + 2 * MINUTE) / 10_000);
    expect(engine.stats.eventsMatched).toBe(6 * 360 * 0.75);
  });

  it('a stream where every caller appears once leaves no group behind once the watermark has passed them', () => {
    const engine = createLiveEngine([startsRule(300)], { allowedLatenessMs: 10 * MINUTE });
    const groups: number[] = [];
    for (let i = 0; i < 1500; i++) {
      engine.ingest(ev('start', i * 30, `s${i}`, `user-${i}`));
      engine.process();
      if (i % 100 === 99) groups.push(engine.stats.signalGroups);
    }
    // A group lives 10 minutes of lateness + its 15-minute window + the sweep step; its signal
    // is followed until it closes (5 minutes of keepAlive); one caller every 30 s.
    expect(Math.max(...groups)).toBeLessThanOrEqual(((10 + 15 + 2) * 60) / 30 + 2);
    expect(engine.stats.trackedSignals).toBeLessThanOrEqual(((10 + 5 + 2) * 60) / 30 + 2);
    expect(engine.stats.signalsCreated).toBe(1500);
  });
});
