/**
 * Properties of the live mode: for any arrival order with bounded lateness and any batching, the
 * signals a sink ends up with are the batch engine's; no id is ever created twice; a snapshot
 * through JSON at any point changes nothing in the stream; memory stays bounded.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Signal, TrailEvent } from '../core/types.js';
import { createLiveEngine, restoreLiveEngine } from './live.js';
import { ChangeSink, arrivalOrder, batchSignals, liveEvent, liveRules, pairWithBatch, runLive } from './live-test-support.js';
import type { EventSpec } from './live-test-support.js';
import type { LiveEngineState } from './live-types.js';
import { STRATUS_USER_DATA_FIXTURE, attackRecords } from './test-support.js';

const real = attackRecords(JSON.parse(readFileSync(new URL(STRATUS_USER_DATA_FIXTURE, import.meta.url), 'utf8')));
const RULES = liveRules();

const specArb: fc.Arbitrary<EventSpec> = fc.record({
  kind: fc.integer({ min: 0, max: 3 }),
  user: fc.integer({ min: 0, max: 1 }),
  // Seconds on a coarse grid over ~70 minutes, so equal timestamps are common.
  second: fc.integer({ min: 0, max: 140 }).map((n) => n * 30),
  hasId: fc.boolean(),
  instances: fc.integer({ min: 1, max: 7 }),
});

const LATENESS_SECONDS = [60, 300, 900, 2400] as const;

interface Scenario {
  readonly events: TrailEvent[];
  readonly latenessMs: number;
  readonly arrival: TrailEvent[];
  readonly batches: number[];
}

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .tuple(fc.array(specArb, { minLength: 3, maxLength: 45 }), fc.constantFrom(...LATENESS_SECONDS))
  .chain(([specs, lateness]) =>
    fc.record({
      events: fc.constant(specs.map((s, i) => liveEvent(real, s, i))),
      latenessMs: fc.constant(lateness * 1000),
      // Each event arrives up to just under the lateness after its own time.
      delays: fc.array(fc.integer({ min: 0, max: lateness * 1000 - 1 }), { minLength: specs.length, maxLength: specs.length }),
      batches: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 6 }),
    }),
  )
  .map(({ events, latenessMs, delays, batches }) => ({ events, latenessMs, arrival: arrivalOrder(events, delays), batches }));

describe('live mode gives the batch answer', () => {
  it('for any arrival within the lateness and any batching, the final signals are the batch signals, each created once', () => {
    fc.assert(
      fc.property(scenarioArb, ({ events, latenessMs, arrival, batches }) => {
        const engine = createLiveEngine(RULES, { allowedLatenessMs: latenessMs });
        const sink = runLive(engine, arrival, batches);
        const batch = batchSignals(RULES, events);
        expect(new Set(sink.created).size).toBe(sink.created.length);
        expect(sink.orphanUpdates).toEqual([]);
        const paired = pairWithBatch(sink.current, batch);
        expect(paired.unpairedEmitted).toEqual([]);
        expect(paired.unpairedBatch).toEqual([]);
        expect(paired.renamed).toBeLessThanOrEqual(engine.stats.signalsRenamed);
        expect(engine.stats.lateEvents).toBe(0);
        // A withdrawn signal names current signals of its rule that hold some of its events; for
        // threshold and sequence rules (they only ever join more events) they hold all of them.
        const current = new Map(sink.current.map((s) => [s.id, s]));
        for (const gone of sink.withdrawn) {
          const holders = (gone.replacedBy ?? []).map((id) => current.get(id));
          expect(holders.every((s) => s !== undefined && s.ruleId === gone.ruleId && s.eventIds.some((ref) => gone.eventIds.includes(ref)))).toBe(true);
          const held = new Set(holders.flatMap((s) => s?.eventIds ?? []));
          if (gone.ruleId !== 'new-caller-per-api') expect(gone.eventIds.filter((ref) => !held.has(ref))).toEqual([]);
        }
        expect(sink.withdrawn.length).toBe(engine.stats.signalsOrphaned);
      }),
      { numRuns: 250 },
    );
  });

  it('events arriving in time order keep the batch ids exactly, and never replay when records of one second arrive together', () => {
    fc.assert(
      fc.property(scenarioArb, ({ events, latenessMs }) => {
        const engine = createLiveEngine(RULES, { allowedLatenessMs: latenessMs });
        const sink = new ChangeSink();
        const times = [...new Set(events.map((e) => e.time))].sort((a, b) => a - b);
        for (const time of times) {
          for (const e of events) if (e.time === time) engine.ingest(e);
          sink.take(engine.process());
        }
        sink.take(engine.finish());
        const byId = (a: Signal, b: Signal): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
        expect([...sink.latest.values()].sort(byId)).toEqual(batchSignals(RULES, events).sort(byId));
        expect(engine.stats.replays).toBe(0);
        expect(engine.stats.signalsRenamed).toBe(0);
        expect(new Set(sink.created).size).toBe(sink.created.length);
      }),
      { numRuns: 100 },
    );
  });

  it('the generated scenarios exercise replays, renames, withdrawals, updates, every rule and settling (the properties are not vacuous)', () => {
    let replays = 0;
    let renamed = 0;
    let withdrawn = 0;
    let updated = 0;
    let settledWithSignals = 0;
    const rules = new Set<string>();
    for (const { events, latenessMs, arrival, batches } of fc.sample(scenarioArb, { numRuns: 200, seed: 7 })) {
      const engine = createLiveEngine(RULES, { allowedLatenessMs: latenessMs });
      const sink = runLive(engine, arrival, batches);
      replays += engine.stats.replays;
      renamed += engine.stats.signalsRenamed;
      withdrawn += sink.withdrawn.length;
      updated += sink.stream.filter((c) => c.kind === 'updated').length;
      for (const s of batchSignals(RULES, events)) rules.add(s.ruleId);
      if (latenessMs <= 300_000 && sink.created.length > 0) settledWithSignals++;
    }
    expect(replays).toBeGreaterThan(100);
    expect(renamed).toBeGreaterThan(0);
    expect(withdrawn).toBeGreaterThan(0);
    expect(updated).toBeGreaterThan(50);
    expect(settledWithSignals).toBeGreaterThan(10);
    expect(rules).toEqual(new Set(RULES.map((r) => r.id)));
  });
});

describe('records later than the lateness', () => {
  it('with arbitrary delays, late records are counted exactly, nothing throws and no id is created twice', () => {
    const arb = fc.tuple(
      fc.array(specArb, { minLength: 3, maxLength: 40 }),
      fc.constantFrom(...LATENESS_SECONDS),
      fc.array(fc.integer({ min: 0, max: 3 * 3600 }), { minLength: 40, maxLength: 40 }),
      fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 6 }),
    );
    fc.assert(
      fc.property(arb, ([specs, lateness, delaysSeconds, batches]) => {
        const events = specs.map((s, i) => liveEvent(real, s, i));
        const arrival = arrivalOrder(
          events,
          delaysSeconds.map((d) => d * 1000),
        );
        const engine = createLiveEngine(RULES, { allowedLatenessMs: lateness * 1000 });
        const sink = runLive(engine, arrival, batches);
        // The watermark a batch is judged against: the newest time of the batches before it, minus the lateness.
        let newest = -Infinity;
        let late = 0;
        for (let i = 0, b = 0; i < arrival.length; b++) {
          const batch = arrival.slice(i, i + (batches[b % batches.length] ?? 1));
          for (const e of batch) if (e.time <= newest - lateness * 1000) late++;
          for (const e of batch) newest = Math.max(newest, e.time);
          i += batch.length;
        }
        expect(engine.stats.lateEvents).toBe(late);
        expect(engine.stats.tooLateEvents).toBeLessThanOrEqual(late);
        expect(new Set(sink.created).size).toBe(sink.created.length);
        expect(sink.orphanUpdates).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});

describe('snapshot and restore', () => {
  it('a snapshot through JSON after any batch, restored into a new engine, gives the same stream of changes as an uninterrupted run', () => {
    fc.assert(
      fc.property(scenarioArb, fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), fc.boolean(), ({ latenessMs, arrival, batches }, cuts, isBeforeProcess) => {
        const uninterrupted = runLive(createLiveEngine(RULES, { allowedLatenessMs: latenessMs }), arrival, batches);

        // The same run, killed and restored from a JSON snapshot after some batches (or mid-batch, between ingest and process).
        const sink = new ChangeSink();
        let engine = createLiveEngine(RULES, { allowedLatenessMs: latenessMs });
        const cutBatches = new Set(cuts.map((c) => c % Math.max(1, arrival.length)));
        let i = 0;
        let b = 0;
        while (i < arrival.length) {
          const size = batches[b % batches.length] ?? 1;
          for (const e of arrival.slice(i, i + size)) engine.ingest(e);
          const isCut = cutBatches.has(b);
          if (isCut && isBeforeProcess) engine = restoreLiveEngine(RULES, JSON.parse(JSON.stringify(engine.snapshot())) as LiveEngineState, { allowedLatenessMs: latenessMs });
          sink.take(engine.process());
          if (isCut && !isBeforeProcess) {
            const saved = engine.snapshot();
            engine = restoreLiveEngine(RULES, JSON.parse(JSON.stringify(saved)) as LiveEngineState, { allowedLatenessMs: latenessMs });
            expect(engine.snapshot()).toEqual(JSON.parse(JSON.stringify(saved)));
          }
          i += size;
          b++;
        }
        sink.take(engine.finish());
        expect(sink.stream).toEqual(uninterrupted.stream);
      }),
      { numRuns: 120 },
    );
  });
});
