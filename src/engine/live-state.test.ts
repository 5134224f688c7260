/**
 * Live engine state read back from disk: a real snapshot passes through JSON and the check
 * unchanged, a damaged one is refused with the place of the damage and a hint.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../core/types.js';
import { createLiveEngine, restoreLiveEngine } from './live.js';
import { LIVE_ENGINE_STATE_ERROR, parseLiveEngineState } from './live-state.js';
import { ChangeSink } from './live-test-support.js';
import type { LiveEngineState } from './live-types.js';
import { STRATUS_USER_DATA_FIXTURE, at, atLeast, attackRecords, eventFrom, eventNameQuery, ruleCase, ruleQuery, thresholdRule } from './test-support.js';

const real = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8')));
const RULES = [thresholdRule(), thresholdRule({ id: 'starts', queries: [ruleQuery('start', eventNameQuery(['StartInstances']))], cases: [ruleCase('start', 'low', atLeast('start', 1))], options: { keepAlive: 300 } })];

/** A state with every part filled: a checkpoint, tentative and incoming events, a renamed and a withdrawn signal. */
function busyState(): LiveEngineState {
  const engine = createLiveEngine(RULES, { allowedLatenessMs: 30 * 60_000 });
  const sink = new ChangeSink();
  const batches = [[eventFrom(real.start, { time: at(0), id: 'a' })], [eventFrom(real.start, { time: at(400), id: 'b' })], [eventFrom(real.start, { time: at(200), id: 'c' }), eventFrom(real.stop, { time: at(100), id: 's' })]];
  for (const batch of batches) {
    for (const e of batch) engine.ingest(e);
    sink.take(engine.process());
  }
  engine.ingest(eventFrom(real.modify, { time: at(300), id: 'm' }));
  return JSON.parse(JSON.stringify(engine.snapshot())) as LiveEngineState;
}

describe('parseLiveEngineState', () => {
  it('a real snapshot through JSON is accepted unchanged and restores to an equal engine', () => {
    const state = busyState();
    expect(state.groups.some((g) => g.checkpoints.length > 0 && g.tentative.length > 0)).toBe(true);
    expect(state.groups.some((g) => g.incoming.length > 0)).toBe(true);
    expect(state.groups.some((g) => g.signals.some((t) => t.signal.replacedBy !== undefined))).toBe(true);
    const parsed = parseLiveEngineState(state);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value).toEqual(state);
    expect(restoreLiveEngine(RULES, parsed.value, { allowedLatenessMs: 30 * 60_000 }).snapshot()).toEqual(state);
  });

  type Damage = (state: JsonObject & { groups: (JsonObject & { engine: JsonObject; tentative: JsonObject[]; signals: { signal: JsonObject }[] })[]; counters: JsonObject }) => void;
  it.each<[string, Damage, string]>([
    ['another version', (s) => void (s.version = 2), 'version'],
    ['a negative counter', (s) => void (s.counters.replays = -1), 'counters.replays'],
    ['an event whose fields are not an object', (s) => void ((s.groups.find((g) => g.tentative.length > 0)?.tentative[0] ?? {}).fields = 'x'), 'tentative.0.fields'],
    ['a group engine of another version', (s) => void ((s.groups[0]?.engine ?? {}).version = 9), 'groups.0.engine.version'],
    ['a withdrawn signal whose replacements are not a list', (s) => void ((s.groups.flatMap((g) => g.signals).find((t) => t.signal.replacedBy !== undefined)?.signal ?? {}).replacedBy = 'A'), 'replacedBy'],
    ['a watermark that is not a number', (s) => void (s.watermarkMs = 'soon'), 'watermarkMs'],
  ])('%s is refused with the path of the damage', (_name, damage, path) => {
    const state = busyState() as unknown as Parameters<Damage>[0];
    damage(state);
    const parsed = parseLiveEngineState(state);
    expect(parsed.ok).toBe(false);
    expect(parsed.diagnostics.length).toBeGreaterThan(0);
    expect(parsed.diagnostics.every((d) => d.code === LIVE_ENGINE_STATE_ERROR && d.hint !== undefined)).toBe(true);
    expect(parsed.diagnostics.some((d) => (d.path ?? '').includes(path))).toBe(true);
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['an array', []],
    ['a string', 'state'],
  ])('%s is refused', (_name, value) => {
    expect(parseLiveEngineState(value).ok).toBe(false);
  });
});
