import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stableHash } from '../core/hash.js';
import type { JsonObject, Signal, TrailEvent } from '../core/types.js';
import type { CompiledRule } from '../rules/model.js';
import { createEngine } from './engine.js';
import {
  ATTACK_QUERIES,
  STRATUS_USER_DATA_FIXTURE,
  allPositive,
  at,
  atLeast,
  attackRecords,
  callerTypeQuery,
  eventFrom,
  eventNameQuery,
  isJsonObject,
  otherUser,
  ruleCase,
  ruleQuery,
  thresholdRule,
} from './test-support.js';
import type { DetectionEngine, SignalChange } from './types.js';

const real = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8')));
const text = (value: unknown): string => (typeof value === 'string' ? value : '');
const CHRISTOPHE = 'arn:aws:iam::309303190113:user/christophe';
const arnOf = (user: string): string => `arn:aws:iam::309303190113:user/${user}`;

interface AttackOptions {
  readonly modifyAfter?: number;
  readonly startAfter?: number;
  readonly user?: string;
}

/** The real Stop, Modify and Start re-timed: Stop at `t0` s after T0, Modify and Start after it. */
function attack(t0: number, prefix: string, options: AttackOptions = {}): TrailEvent[] {
  const patch = options.user === undefined ? {} : otherUser(real.stop, options.user);
  const modifyAfter = options.modifyAfter ?? 48;
  const startAfter = options.startAfter ?? modifyAfter + 1;
  return [
    eventFrom(real.stop, { time: at(t0), id: `${prefix}-stop`, patch }),
    eventFrom(real.modify, { time: at(t0 + modifyAfter), id: `${prefix}-modify`, patch }),
    eventFrom(real.start, { time: at(t0 + startAfter), id: `${prefix}-start`, patch }),
  ];
}

/** A Start event at `seconds` (+ `extraMs`) after T0. */
function startAt(seconds: number, id: string, extraMs = 0, patch: JsonObject = {}): TrailEvent {
  return eventFrom(real.start, { time: at(seconds, extraMs), id, patch });
}

function run(rules: readonly CompiledRule[], events: readonly TrailEvent[]): { signals: Signal[]; changes: SignalChange[]; engine: DetectionEngine } {
  const engine = createEngine(rules);
  for (const e of events) engine.ingest(e);
  const changes = engine.finish();
  return { signals: engine.signals(), changes, engine };
}

/** One query on StartInstances and the case `start_instance >= 1`: every Start raises or updates. */
function startsRule(options: { keepAlive?: number; maxSignalDuration?: number; evaluationWindow?: number } = {}): CompiledRule {
  const queries = [ruleQuery('start_instance', eventNameQuery(['StartInstances']))];
  return thresholdRule({ id: 'starts', queries, cases: [ruleCase('start', 'medium', atLeast('start_instance', 1))], options });
}

describe('the real Stratus detonation', () => {
  const events = real.all.map((r) => eventFrom(r, { time: Date.parse(text(r.eventTime)), id: text(r.eventID) }));

  it('gives one signal for christophe holding the three attack events in time order', () => {
    const { signals } = run([thresholdRule()], events);
    expect(signals).toHaveLength(1);
    const [s] = signals;
    expect(s?.group).toEqual({ '@userIdentity.arn': CHRISTOPHE });
    expect(s?.eventIds).toEqual([real.stop.eventID, real.modify.eventID, real.start.eventID]);
    expect(s?.eventCount).toBe(3);
    expect(s?.queryCounts).toEqual({ stop_instance: 1, modify_instance_attribute: 1, start_instance: 1 });
    expect(s?.firstSeen).toBe('2024-08-01T12:03:30.000Z');
    expect(s?.lastSeen).toBe('2024-08-01T12:04:19.000Z');
    expect(s?.severity).toBe('low');
    expect(s?.caseName).toBe('attack');
    expect(s?.updates).toBe(0);
    expect(s?.tags).toEqual(['source:cloudtrail', 'security:attack']);
    expect(s?.ruleId).toBe('test-ec2-user-data');
    expect(s?.ruleName).toBe('EC2 instance user data modified');
  });

  it('renders the title and the message against the latest event with the signal values', () => {
    const { signals } = run([thresholdRule()], events);
    expect(signals[0]?.title).toBe('EC2 instance user data modified [attack]');
    expect(signals[0]?.message).toBe(
      `rule=EC2 instance user data modified case=attack user=${CHRISTOPHE} event=StartInstances eventID=${text(real.start.eventID)} matched=3 ` +
        'first=2024-08-01T12:03:30.000Z last=2024-08-01T12:04:19.000Z host=-',
    );
  });

  it('tests DescribeInstances polls against no rule of the index: their matcher is never called', () => {
    let calls = 0;
    const counting = {
      ...eventNameQuery(['StopInstances']),
      matches: (): boolean => {
        calls++;
        return false;
      },
    };
    const rule = thresholdRule({ queries: [ruleQuery('stop_instance', counting)], cases: [ruleCase('x', 'low', atLeast('stop_instance', 1))] });
    run([rule], events);
    expect(calls).toBe(events.filter((e) => e.fields.eventName === 'StopInstances').length);
  });
});

describe('the evaluation window', () => {
  it.each([
    ['Start exactly 900 s after Stop is in the window', 900, 0, 1],
    ['Start 900 s + 1 ms after Stop is out of the window', 900, 1, 0],
    ['Start 900 s + 1 s after Stop is out of the window', 901, 0, 0],
    ['Start 899 s after Stop is in the window', 899, 0, 1],
  ])('%s', (_name, seconds, extraMs, expected) => {
    const events = [
      eventFrom(real.stop, { time: at(0), id: 'stop' }),
      eventFrom(real.modify, { time: at(10), id: 'modify' }),
      eventFrom(real.start, { time: at(seconds, extraMs), id: 'start' }),
    ];
    expect(run([thresholdRule()], events).signals).toHaveLength(expected);
  });

  it.each([
    ['a 300 s window', 300, 300, 1],
    ['a 300 s window, one second late', 300, 301, 0],
    ['a 0 s window with all three in one millisecond', 0, 0, 1],
  ])('the window length comes from the rule: %s', (_name, windowSeconds, startAfter, expected) => {
    const events = attack(0, 'a', { modifyAfter: 0, startAfter });
    expect(run([thresholdRule({ options: { evaluationWindow: windowSeconds } })], events).signals).toHaveLength(expected);
  });

  it('counts an event matching two queries of the rule once in each', () => {
    const queries = [ruleQuery('any_change', eventNameQuery(['StopInstances', 'StartInstances'])), ruleQuery('start_instance', eventNameQuery(['StartInstances']))];
    const rule = thresholdRule({ queries, cases: [ruleCase('both', 'low', allPositive(['any_change', 'start_instance']))] });
    const { signals } = run([rule], [startAt(0, 'start')]);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.queryCounts).toEqual({ any_change: 1, start_instance: 1 });
    expect(signals[0]?.eventCount).toBe(1);
  });

  it('lists every query in queryCounts, with 0 for a query no signal event matched', () => {
    const queries = [...ATTACK_QUERIES, ruleQuery('describe', eventNameQuery(['DescribeInstances']))];
    const rule = thresholdRule({ queries, cases: [ruleCase('attack', 'low', allPositive(['stop_instance', 'modify_instance_attribute', 'start_instance']))] });
    const { signals } = run([rule], attack(0, 'a'));
    expect(signals[0]?.queryCounts).toEqual({ stop_instance: 1, modify_instance_attribute: 1, start_instance: 1, describe: 0 });
  });
});

describe('cases', () => {
  const twoStarts = ruleCase('two starts', 'high', {
    text: 'stop_instance > 0 && modify_instance_attribute > 0 && start_instance >= 2',
    queryNames: ['stop_instance', 'modify_instance_attribute', 'start_instance'],
    holds: (c) => (c.stop_instance ?? 0) > 0 && (c.modify_instance_attribute ?? 0) > 0 && (c.start_instance ?? 0) >= 2,
  });
  const oneOfEach = ruleCase('attack', 'low', allPositive(['stop_instance', 'modify_instance_attribute', 'start_instance']));
  const secondStart = (seconds: number): TrailEvent => startAt(seconds, `start-${seconds}`);

  it.each([
    ['a second Start escalates a low signal to high and names the high case', [twoStarts, oneOfEach], [...attack(0, 'a'), secondStart(100)], 'high', 'two starts', 1],
    ['the first holding case wins even when a later one is more severe', [oneOfEach, twoStarts], [...attack(0, 'a'), secondStart(100)], 'low', 'attack', 1],
    ['a first evaluation that already holds the severe case raises it directly', [twoStarts, oneOfEach], [...attack(0, 'a', { modifyAfter: 60, startAfter: 20 }), secondStart(10)], 'high', 'two starts', 0],
    ['a later low case never lowers the severity', [twoStarts, oneOfEach], [...attack(0, 'a'), secondStart(100), ...attack(1000, 'b')], 'high', 'two starts', 2],
  ])('%s', (_name, cases, events, severity, caseName, updates) => {
    const { signals } = run([thresholdRule({ cases })], events);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.severity).toBe(severity);
    expect(signals[0]?.caseName).toBe(caseName);
    expect(signals[0]?.updates).toBe(updates);
    expect(signals[0]?.title).toBe(`EC2 instance user data modified [${caseName}]`);
  });

  it('raises nothing when no case holds', () => {
    const { signals, engine } = run([thresholdRule()], attack(0, 'a').slice(0, 2));
    expect(signals).toEqual([]);
    expect(engine.stats.evaluations).toBe(2);
  });
});

describe('the signal lifecycle', () => {
  it.each([
    ['a Start exactly keepAlive after lastSeen updates the signal', { keepAlive: 3600 }, [0, 3600], [0, 0], [2]],
    ['a Start keepAlive + 1 ms after lastSeen opens a new signal', { keepAlive: 3600 }, [0, 3600], [0, 1], [1, 1]],
    ['a Start keepAlive + 1 s after lastSeen opens a new signal', { keepAlive: 3600 }, [0, 3601], [0, 0], [1, 1]],
    ['keepAlive counts from lastSeen, not from firstSeen', { keepAlive: 1800 }, [0, 1800, 3600, 5400], [0, 0, 0, 0], [4]],
    ['exactly maxSignalDuration after firstSeen still updates', { keepAlive: 1800, maxSignalDuration: 3600 }, [0, 1200, 2400, 3600], [0, 0, 0, 0], [4]],
    ['maxSignalDuration + 1 ms after firstSeen closes and opens a new signal', { keepAlive: 1800, maxSignalDuration: 3600 }, [0, 1200, 2400, 3600], [0, 0, 0, 1], [3, 1]],
  ])('%s', (_name, options, seconds, extraMs, expectedCounts) => {
    const events = seconds.map((s, i) => startAt(s, `start-${i}`, extraMs[i] ?? 0));
    const { signals } = run([startsRule(options)], events);
    expect(signals.map((s) => s.eventCount)).toEqual(expectedCounts);
    expect(signals.map((s) => s.updates)).toEqual(expectedCounts.map((n) => n - 1));
  });

  it('a second attack inside keepAlive updates the signal with all six events', () => {
    const events = [...attack(0, 'a'), ...attack(1800, 'b')];
    const { signals } = run([thresholdRule()], events);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.eventIds).toEqual(events.map((e) => e.eventId));
    expect(signals[0]?.queryCounts).toEqual({ stop_instance: 2, modify_instance_attribute: 2, start_instance: 2 });
    expect(signals[0]?.updates).toBe(1);
    expect(signals[0]?.firstSeen).toBe(new Date(at(0)).toISOString());
    expect(signals[0]?.lastSeen).toBe(new Date(at(1800 + 49)).toISOString());
  });

  it('a second attack after keepAlive opens a new signal with only its own events', () => {
    const events = [...attack(0, 'a'), ...attack(49 + 3601, 'b')];
    const { signals } = run([thresholdRule()], events);
    expect(signals.map((s) => s.eventIds)).toEqual([['a-stop', 'a-modify', 'a-start'], ['b-stop', 'b-modify', 'b-start']]);
    expect(signals.map((s) => s.updates)).toEqual([0, 0]);
    expect(new Set(signals.map((s) => s.id)).size).toBe(2);
  });

  it('a signal created after a close takes every event still in the window, old ones included', () => {
    // keepAlive 0: the Start 10 s later closes the first signal; the new one holds both Starts.
    const { signals } = run([startsRule({ keepAlive: 0 })], [startAt(0, 's1'), startAt(10, 's2')]);
    expect(signals.map((s) => s.eventIds).sort((a, b) => a.length - b.length)).toEqual([['s1'], ['s1', 's2']]);
  });

  it('counts each event once however many updates it stays in the window for', () => {
    const events = [0, 10, 20, 30].map((s) => startAt(s, `s${s}`));
    const { signals } = run([startsRule()], events);
    expect(signals[0]?.eventCount).toBe(4);
    expect(signals[0]?.eventIds).toEqual(['s0', 's10', 's20', 's30']);
    expect(signals[0]?.updates).toBe(3);
  });
});

describe('equal timestamps', () => {
  it.each([
    ['Stop, Modify and Start in one second', attack(0, 'a', { modifyAfter: 0, startAfter: 0 })],
    ['Stop, Modify and Start in one second, given newest first', attack(0, 'a', { modifyAfter: 0, startAfter: 0 }).reverse()],
    ['Modify and Start sharing a second as in the real run', attack(0, 'a', { modifyAfter: 48, startAfter: 48 })],
  ])('%s give one signal', (_name, events) => {
    const { signals } = run([thresholdRule()], events);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.eventCount).toBe(3);
  });

  it('orders events of one time by key, whatever the arrival order', () => {
    const events = ['c', 'a', 'b'].map((k) => startAt(0, k));
    const forward = run([startsRule()], events).signals;
    const backward = run([startsRule()], [...events].reverse()).signals;
    expect(forward[0]?.eventIds).toEqual(['a', 'b', 'c']);
    expect(backward).toEqual(forward);
  });
});

describe('group-by', () => {
  const withoutArn = (): JsonObject => {
    const identity = isJsonObject(real.stop.userIdentity) ? { ...real.stop.userIdentity } : {};
    delete identity.arn;
    return { userIdentity: identity };
  };
  const withArn = (arn: string | null): JsonObject => ({ userIdentity: { ...(isJsonObject(real.stop.userIdentity) ? real.stop.userIdentity : {}), arn } });
  const attackWith = (patch: JsonObject): TrailEvent[] => attack(0, 'a').map((e) => ({ ...e, fields: { ...e.fields, ...patch } }));

  it.each([
    ['no userIdentity.arn', withoutArn()],
    ['a null userIdentity.arn', withArn(null)],
    ['an empty userIdentity.arn', withArn('')],
  ])('events with %s are ignored without hasOptionalGroupByFields and grouped as N/A with it', (_name, patch) => {
    const events = attackWith(patch);
    const strict = run([thresholdRule()], events);
    expect(strict.signals).toEqual([]);
    expect(strict.engine.stats.missingGroupByRule).toEqual({ 'test-ec2-user-data': 3 });
    expect(strict.engine.stats.matchedByRule).toEqual({ 'test-ec2-user-data': 3 });

    const optional = run([thresholdRule({ hasOptionalGroupByFields: true })], events);
    expect(optional.signals).toHaveLength(1);
    expect(optional.signals[0]?.group).toEqual({ '@userIdentity.arn': 'N/A' });
    expect(optional.engine.stats.missingGroupByRule).toEqual({});
  });

  it.each([
    ['a string as is', 'christophe', 'christophe'],
    ['a number as JSON text', 42, '42'],
    ['a boolean as JSON text', true, 'true'],
    ['an object as compact JSON', { b: 1, a: 'x' }, '{"b":1,"a":"x"}'],
  ])('the group value is %s', (_name, value, expected) => {
    const rule = thresholdRule({ groupByFields: ['@requestParameters.marker'] });
    const events = attackWith({ requestParameters: { marker: value } });
    expect(run([rule], events).signals[0]?.group).toEqual({ '@requestParameters.marker': expected });
  });

  it('keys Signal.group by each field as written, and a rule without group-by has one group {}', () => {
    const two = thresholdRule({ groupByFields: ['@userIdentity.arn', 'awsRegion'] });
    expect(run([two], attack(0, 'a')).signals[0]?.group).toEqual({ '@userIdentity.arn': CHRISTOPHE, awsRegion: 'ca-northsouth-2r' });
    const none = thresholdRule({ groupByFields: [] });
    const split = [...attack(0, 'a').slice(0, 2), ...attack(0, 'b', { user: 'bob' }).slice(2)];
    const { signals } = run([none], split);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.group).toEqual({});
  });

  it('keeps interleaved groups apart: two callers attacking at once give two signals', () => {
    const alice = attack(0, 'alice', { user: 'alice', modifyAfter: 10, startAfter: 20 });
    const bob = attack(5, 'bob', { user: 'bob', modifyAfter: 10, startAfter: 20 });
    const interleaved = [alice[0], bob[0], alice[1], bob[1], alice[2], bob[2]].filter((e) => e !== undefined);
    const { signals } = run([thresholdRule()], interleaved);
    expect(signals.map((s) => s.group['@userIdentity.arn'])).toEqual([arnOf('alice'), arnOf('bob')]);
    expect(signals.map((s) => s.eventIds)).toEqual([
      ['alice-stop', 'alice-modify', 'alice-start'],
      ['bob-stop', 'bob-modify', 'bob-start'],
    ]);
  });

  it('an attack split between two callers raises nothing', () => {
    const events = [...attack(0, 'a', { user: 'alice' }).slice(0, 2), ...attack(0, 'b', { user: 'bob' }).slice(2)];
    expect(run([thresholdRule()], events).signals).toEqual([]);
  });
});

describe('signal fields', () => {
  it('gives the same ids in two runs, and ids that depend on rule, group and creating event', () => {
    const first = run([thresholdRule()], attack(0, 'a')).signals;
    const second = run([thresholdRule()], attack(0, 'a')).signals;
    expect(second.map((s) => s.id)).toEqual(first.map((s) => s.id));
    expect(first[0]?.id).toBe(stableHash(JSON.stringify(['test-ec2-user-data', JSON.stringify([CHRISTOPHE]), 'a-start'])));
    const otherRule = run([thresholdRule({ id: 'other' })], attack(0, 'a')).signals;
    const otherGroup = run([thresholdRule()], attack(0, 'a', { user: 'alice' })).signals;
    const otherKey = run([thresholdRule()], attack(0, 'b')).signals;
    const ids = new Set([first, otherRule, otherGroup, otherKey].map((s) => s[0]?.id));
    expect(ids.size).toBe(4);
  });

  it('takes host from the latest signal event that has one', () => {
    const events = [
      startAt(0, 's0', 0, { host: 'i-first' }),
      startAt(10, 's1', 0, { host: 'i-second' }),
      startAt(20, 's2'), // no host: the signal keeps i-second
    ];
    const { signals } = run([startsRule()], events);
    expect(signals[0]?.host).toBe('i-second');
    expect(signals[0]?.message).toContain('host=i-second');
    expect(signals[0]?.message).toContain('eventID=s2');
    expect(run([startsRule()], [startAt(0, 's0')]).signals[0]?.host).toBeNull();
  });

  it('uses the key as the event id of an event without eventId', () => {
    const noId = eventFrom(real.start, { time: at(0), id: null, key: 'content-hash-1' });
    expect(run([startsRule()], [noId]).signals[0]?.eventIds).toEqual(['content-hash-1']);
  });

  it('lists signals by firstSeen, then rule id, then id', () => {
    const rules = [startsRule(), thresholdRule({ id: 'b-rule', queries: ATTACK_QUERIES.slice(2), cases: [ruleCase('x', 'info', atLeast('start_instance', 1))] })];
    const events = [startAt(100, 'late'), startAt(0, 'early', 0, otherUser(real.start, 'zed'))];
    const { signals } = run(rules, events);
    expect(signals.map((s) => [s.firstSeen, s.ruleId])).toEqual([
      [new Date(at(0)).toISOString(), 'b-rule'],
      [new Date(at(0)).toISOString(), 'starts'],
      [new Date(at(100)).toISOString(), 'b-rule'],
      [new Date(at(100)).toISOString(), 'starts'],
    ]);
  });
});

describe('rules', () => {
  it('skips disabled rules and counts them', () => {
    const disabled = thresholdRule({ id: 'off', isEnabled: false });
    const unindexedDisabled = thresholdRule({ id: 'off-too', isEnabled: false, queries: [ruleQuery('iam', callerTypeQuery('IAMUser'))], cases: [ruleCase('x', 'low', atLeast('iam', 1))] });
    const { signals, engine } = run([disabled, unindexedDisabled, thresholdRule()], attack(0, 'a'));
    expect(signals.map((s) => s.ruleId)).toEqual(['test-ec2-user-data']);
    expect(engine.stats.rulesSkippedAsDisabled).toBe(2);
    expect(engine.unindexedRules).toEqual([]);
    expect(Object.keys(engine.stats.matchedByRule)).toEqual(['test-ec2-user-data']);
  });

  it('runs a rule that cannot be indexed on every event and reports it', () => {
    const rule = thresholdRule({ id: 'iam-users', queries: [ruleQuery('iam', callerTypeQuery('IAMUser'))], cases: [ruleCase('x', 'low', atLeast('iam', 1))] });
    const { signals, engine } = run([rule, thresholdRule()], [eventFrom(real.describe, { time: at(0), id: 'poll' })]);
    expect(engine.unindexedRules).toEqual(['iam-users']);
    expect(signals.map((s) => s.eventIds)).toEqual([['poll']]);
  });

  it('keeps the first of two enabled rules with one id', () => {
    const { signals, engine } = run([startsRule(), { ...startsRule(), name: 'impostor' }], [startAt(0, 's')]);
    expect(signals.map((s) => s.ruleName)).toEqual(['EC2 instance user data modified']);
    expect(engine.stats.rulesSkippedAsDuplicateId).toBe(1);
  });
});

describe('duplicates', () => {
  it('drops a matching event whose eventId was already ingested and counts it', () => {
    const events = attack(0, 'a');
    const { signals, engine } = run([thresholdRule()], [...events, ...events, eventFrom(real.describe, { time: at(1), id: 'poll' }), eventFrom(real.describe, { time: at(1), id: 'poll' })]);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.eventCount).toBe(3);
    // DescribeInstances matches no rule: it is never remembered, so never a duplicate.
    expect(engine.stats.duplicates).toBe(3);
  });

  it('dedups across rules: the same event for two rules is one duplicate', () => {
    const { engine } = run([startsRule(), thresholdRule()], [startAt(0, 's'), startAt(0, 's')]);
    expect(engine.stats.duplicates).toBe(1);
    expect(engine.stats.matchedByRule).toEqual({ starts: 1, 'test-ec2-user-data': 1 });
  });

  it('never dedups events without eventId', () => {
    const noId = eventFrom(real.start, { time: at(0), id: null, key: 'same-content' });
    const { signals, engine } = run([startsRule()], [noId, noId]);
    expect(signals[0]?.eventCount).toBe(2);
    expect(engine.stats.duplicates).toBe(0);
  });
});

describe('advanceTo and finish', () => {
  const events = [...attack(0, 'a'), ...attack(1800, 'b'), ...attack(9000, 'c', { user: 'alice' }), startAt(9100, 'late-start')];

  it.each([[-1], [0], [48], [49], [1000], [1849], [5000], [9049], [20000]])('advancing to %s s, then finishing, equals one finish', (seconds) => {
    const whole = run([thresholdRule(), startsRule()], events);
    const engine = createEngine([thresholdRule(), startsRule()]);
    for (const e of events) engine.ingest(e);
    const first = engine.advanceTo(at(seconds));
    const rest = engine.finish();
    expect(engine.signals()).toEqual(whole.signals);
    // Every signal was reported by one of the two calls, in its final version by the last call that touched it.
    const reported = new Map([...first, ...rest].map((c) => [c.signal.id, c.signal]));
    expect([...reported.values()].sort((a, b) => a.id.localeCompare(b.id))).toEqual([...whole.signals].sort((a, b) => a.id.localeCompare(b.id)));
  });

  it('reports each touched signal once per call: created, or updated when it existed before', () => {
    const engine = createEngine([thresholdRule()]);
    for (const e of events) engine.ingest(e);
    const first = engine.advanceTo(at(100));
    expect(first.map((c) => [c.kind, c.signal.eventCount])).toEqual([['created', 3]]);
    const second = engine.advanceTo(at(2000));
    expect(second.map((c) => [c.kind, c.signal.eventCount, c.signal.id])).toEqual([['updated', 6, first[0]?.signal.id]]);
    expect(engine.advanceTo(at(2000))).toEqual([]);
  });

  it('evaluates nothing past the watermark', () => {
    const engine = createEngine([thresholdRule()]);
    for (const e of attack(0, 'a')) engine.ingest(e);
    expect(engine.advanceTo(at(48))).toEqual([]);
    expect(engine.stats.evaluations).toBe(2);
    expect(engine.advanceTo(at(49))).toHaveLength(1);
    expect(engine.advanceTo(Number.NaN)).toEqual([]);
  });

  it.each([
    ['completes the attack when the group still holds the other events', 100, [['a-stop', 'a-modify', 'a-start']]],
    ['finds nothing once the watermark swept the other events out of the window', 2000, []],
  ])('a Modify that arrives after the watermark passed it %s', (_name, watermarkSeconds, expected) => {
    const engine = createEngine([thresholdRule()]);
    const [stop, modify, start] = attack(0, 'a');
    if (!stop || !modify || !start) throw new Error('attack() gives three events');
    engine.ingest(stop);
    engine.ingest(start);
    expect(engine.advanceTo(at(watermarkSeconds))).toEqual([]);
    engine.ingest(modify);
    expect(engine.stats.lateEvents).toBe(1);
    engine.finish();
    const signals = engine.signals();
    expect(signals.map((s) => s.eventIds)).toEqual(expected);
    // A late event never moves lastSeen back.
    for (const s of signals) expect([s.firstSeen, s.lastSeen]).toEqual([new Date(at(0)).toISOString(), new Date(at(49)).toISOString()]);
  });
  it('a late event that updates a signal joins it but does not become its latest event', () => {
    const engine = createEngine([startsRule()]);
    engine.ingest(startAt(0, 's0'));
    engine.ingest(startAt(20, 's20'));
    engine.advanceTo(at(30));
    engine.ingest(startAt(10, 's10'));
    const changes = engine.advanceTo(at(30));
    expect(changes.map((c) => [c.kind, c.signal.eventIds])).toEqual([['updated', ['s0', 's20', 's10']]]);
    expect(changes[0]?.signal.message).toContain('eventID=s20');
    expect(changes[0]?.signal.lastSeen).toBe(new Date(at(20)).toISOString());
  });
});

describe('odd input', () => {
  const base = startAt(0, 'odd');

  it.each<[string, unknown]>([
    ['a NaN time', { ...base, time: Number.NaN }],
    ['an infinite time', { ...base, time: Infinity }],
    ['a time beyond what a Date can hold', { ...base, time: 9e15 }],
    ['a string time', { ...base, time: '2024-08-01T12:00:00Z' }],
    ['null fields', { ...base, fields: null }],
    ['array fields', { ...base, fields: [] }],
    ['a numeric key', { ...base, key: 7 }],
  ])('an event with %s is counted as invalid and nothing throws', (_name, odd) => {
    const engine = createEngine([startsRule()]);
    expect(() => engine.ingest(odd as TrailEvent)).not.toThrow();
    expect(engine.finish()).toEqual([]);
    expect(engine.stats.invalidEvents).toBe(1);
  });

  it.each<[string, JsonObject]>([
    ['a numeric eventName', { eventName: 5, evt: { name: 5 } }],
    ['an eventName object', { eventName: { toString: 'x' }, evt: null }],
    ['a __proto__ eventName', { eventName: '__proto__', evt: { name: 'constructor' } }],
  ])('an event with %s is not matched and does not throw', (_name, patch) => {
    const engine = createEngine([thresholdRule(), startsRule()]);
    engine.ingest(eventFrom(real.start, { time: at(0), id: 'odd', patch }));
    expect(engine.finish()).toEqual([]);
    expect(engine.stats.eventsMatched).toBe(0);
  });

  it('a template that throws gives a fallback text, is counted, and does not stop other rules', () => {
    const broken = thresholdRule({
      id: 'broken',
      message: {
        source: 'boom',
        render: () => {
          throw new Error('no such variable');
        },
      },
      title: { source: 'boom', render: () => 42 as unknown as string },
    });
    const { signals, engine } = run([broken, thresholdRule()], attack(0, 'a'));
    const byRule = new Map(signals.map((s) => [s.ruleId, s]));
    expect(byRule.get('broken')?.message).toContain('no such variable');
    expect(byRule.get('broken')?.title).toBe('EC2 instance user data modified');
    expect(byRule.get('test-ec2-user-data')?.message).toContain('event=StartInstances');
    expect(engine.stats.renderErrors).toBe(2);
  });

  it('a matcher or a condition that throws counts as no match and is counted', () => {
    const throwing = {
      ...eventNameQuery(['StartInstances']),
      matches: (): boolean => {
        throw new Error('bad matcher');
      },
    };
    const badMatcher = thresholdRule({ id: 'bad-matcher', queries: [ruleQuery('start_instance', throwing)], cases: [ruleCase('x', 'low', atLeast('start_instance', 1))] });
    const badCondition = thresholdRule({
      id: 'bad-condition',
      cases: [
        ruleCase('boom', 'critical', {
          text: 'boom',
          queryNames: [],
          holds: () => {
            throw new Error('bad condition');
          },
        }),
        ruleCase('attack', 'low', allPositive(['stop_instance', 'modify_instance_attribute', 'start_instance'])),
      ],
    });
    const { signals, engine } = run([badMatcher, badCondition], attack(0, 'a'));
    expect(signals.map((s) => [s.ruleId, s.caseName])).toEqual([['bad-condition', 'attack']]);
    expect(engine.stats.evaluationErrors).toBe(1 + 3);
  });
});
