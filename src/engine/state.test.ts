import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TrailhoundError } from '../core/errors.js';
import type { TrailEvent } from '../core/types.js';
import { createEngine, restoreEngine } from './engine.js';
import { ENGINE_STATE_ERROR, parseEngineState } from './state.js';
import { STRATUS_USER_DATA_FIXTURE, at, atLeast, attackRecords, eventFrom, eventNameQuery, ruleCase, ruleQuery, thresholdRule } from './test-support.js';
import type { EngineState } from './types.js';

const real = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8')));
const attack = (t0: number, prefix: string): TrailEvent[] => [
  eventFrom(real.stop, { time: at(t0), id: `${prefix}-stop` }),
  eventFrom(real.modify, { time: at(t0 + 48), id: `${prefix}-modify` }),
  eventFrom(real.start, { time: at(t0 + 49), id: `${prefix}-start` }),
];
const startsRule = thresholdRule({ id: 'starts', queries: [ruleQuery('start_instance', eventNameQuery(['StartInstances']))], cases: [ruleCase('start', 'low', atLeast('start_instance', 1))] });
const RULES = [thresholdRule(), startsRule];
const STREAM = [...attack(0, 'a'), ...attack(1800, 'b'), ...attack(9000, 'c'), ...attack(20000, 'd')];
const CUT = at(9049);

/** A state with something in every part: pending events, windows, an open signal, a closed one. */
function busyState(): EngineState {
  const engine = createEngine(RULES);
  for (const e of STREAM) engine.ingest(e);
  engine.advanceTo(CUT);
  return JSON.parse(JSON.stringify(engine.snapshot())) as EngineState;
}

describe('parseEngineState', () => {
  it('accepts a snapshot that went through JSON, unchanged', () => {
    const state = busyState();
    expect(state.pending.length).toBeGreaterThan(0);
    expect(state.groups.some((g) => g.open !== null)).toBe(true);
    expect(state.signals.length).toBeGreaterThan(1);
    const parsed = parseEngineState(state);
    expect(parsed.ok && parsed.value).toEqual(state);
  });

  it.each<[string, (s: EngineState) => unknown, string]>([
    ['another version', (s) => ({ ...s, version: 2 }), 'version'],
    ['a missing part', ({ pending: _p, ...rest }) => rest, 'pending'],
    ['a negative counter', (s) => ({ ...s, stats: { ...s.stats, duplicates: -1 } }), 'stats.duplicates'],
    ['a severity that does not exist', (s) => ({ ...s, signals: s.signals.map((x) => ({ ...x, severity: 'severe' })) }), 'signals.0.severity'],
    ['a signal time that is not ISO 8601', (s) => ({ ...s, signals: s.signals.map((x) => ({ ...x, firstSeen: 'yesterday' })) }), 'signals.0.firstSeen'],
    ['event fields that are not an object', (s) => ({ ...s, pending: s.pending.map((p) => ({ ...p, fields: 'x' })) }), 'pending.0.fields'],
    ['a window entry with a string time', (s) => ({ ...s, groups: s.groups.map((g) => ({ ...g, window: g.window.map((w) => ({ ...w, time: '0' })) })) }), 'groups.0.window.0.time'],
  ])('refuses a state with %s, pointing at it', (_name, damage, path) => {
    const parsed = parseEngineState(damage(busyState()));
    expect(parsed.ok).toBe(false);
    expect(parsed.diagnostics[0]?.code).toBe(ENGINE_STATE_ERROR);
    expect(parsed.diagnostics.map((d) => d.path)).toContain(path);
  });

  it.each([null, 'state', [], 42])('refuses %j', (value) => {
    expect(parseEngineState(value).ok).toBe(false);
  });
});

describe('restoreEngine', () => {
  it('refuses a state of another version with a TrailhoundError', () => {
    const state = { ...busyState(), version: 9 } as unknown as EngineState;
    expect(() => restoreEngine(RULES, state)).toThrow(TrailhoundError);
    expect(() => restoreEngine(RULES, state)).toThrow(/version 9/);
  });

  it('continues a restored engine exactly where the original would go', () => {
    const state = busyState();
    const original = createEngine(RULES);
    for (const e of STREAM) original.ingest(e);
    original.advanceTo(CUT);
    const restored = restoreEngine(RULES, state);
    expect(restored.finish()).toEqual(original.finish());
    expect(restored.signals()).toEqual(original.signals());
    expect(restored.stats).toEqual(original.stats);
  });

  it('drops the state of a rule that is gone and keeps its signals as closed ones', () => {
    const state = busyState();
    const restored = restoreEngine([thresholdRule()], state);
    expect(restored.snapshot().groups.map((g) => g.ruleId)).not.toContain('starts');
    expect(restored.snapshot().pending.every((p) => p.matches.every((m) => m.ruleId !== 'starts'))).toBe(true);
    restored.finish();
    const startsSignals = restored.signals().filter((s) => s.ruleId === 'starts');
    expect(startsSignals.length).toBe(state.signals.filter((s) => s.ruleId === 'starts').length);
    expect(startsSignals.length).toBeGreaterThan(0);
  });

  it('keeps what it knows about late events across a restore', () => {
    const engine = createEngine([startsRule]);
    engine.ingest(eventFrom(real.start, { time: at(0), id: 's0' }));
    engine.ingest(eventFrom(real.start, { time: at(20), id: 's20' }));
    engine.advanceTo(at(30));
    engine.ingest(eventFrom(real.start, { time: at(10), id: 's10' }));
    engine.advanceTo(at(30));
    const saved = engine.snapshot();
    expect(saved.groups[0]?.hasLateEntries).toBe(true);
    const restored = restoreEngine([startsRule], JSON.parse(JSON.stringify(saved)) as EngineState);
    expect(restored.snapshot()).toEqual(saved);
    for (const target of [engine, restored]) {
      target.ingest(eventFrom(real.start, { time: at(40), id: 's40' }));
      target.finish();
    }
    expect(restored.signals()).toEqual(engine.signals());
    expect(engine.signals()[0]?.eventIds).toEqual(['s0', 's20', 's10', 's40']);
  });

  it('restores a finished engine as finished: what arrives next is late', () => {
    const engine = createEngine(RULES);
    for (const e of attack(0, 'a')) engine.ingest(e);
    engine.finish();
    const saved = JSON.parse(JSON.stringify(engine.snapshot())) as EngineState;
    expect(saved.hasReachedEnd).toBe(true);
    const restored = restoreEngine(RULES, saved);
    restored.ingest(eventFrom(real.start, { time: at(100), id: 'after' }));
    expect(restored.stats.lateEvents).toBe(1);
    expect(restored.signals()).toEqual(engine.signals());
  });
});
