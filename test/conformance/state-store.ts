/**
 * The conformance suite every StateStore implementation runs (SQLite now, PostgreSQL later, and the
 * in-memory one): `describeStateStore(name, createLocation)` inside a test file.
 *
 * A *location* is where one store lives (a temporary folder, a memory backing, a database schema):
 * the suite opens, closes and reopens stores on it as restarts would. Optional capabilities turn
 * on more tests: `openAtSchemaVersion` (migrations from an older schema) and `child` (a real child
 * process `kill -9`ed mid-commit and while holding the lock).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TrailhoundError } from '../../src/core/errors.js';
import type { Signal } from '../../src/core/types.js';
import type { NewValueHistory } from '../../src/engine/new-value.js';
import { CHECKPOINT_PARTS, STATE_SCHEMA_VERSION } from '../../src/store/state-store.js';
import type { CheckpointPart, CheckpointStep, DoneObject, StateStore, StateStoreCommonOptions } from '../../src/store/state-store.js';
import { REPO_ROOT, detect, stratusAttack } from '../support/detect.js';
import { stepData, stepOfEngineState, stepSignalId } from './state-store-child.js';
import type { ChildPlan, ChildStoreSpec, StepSizes } from './state-store-child.js';

export type { ChildStoreSpec } from './state-store-child.js';

/** What an implementation can do beyond the basics: each turns on more tests. */
export interface StateStoreFeatures {
  /** The store outlives a process: a child process opens `location.child` and is killed with kill -9. */
  readonly isDurable: boolean;
  /** Older schema versions exist to migrate from: `location.openAtSchemaVersion` is provided. */
  readonly hasOlderSchemas: boolean;
}

export interface StateStoreLocation {
  /** Open a store on this location (the first open creates it). */
  open(options?: StateStoreCommonOptions): Promise<StateStore>;
  /** Mark the stored data as written by a newer trailhound at schema `version` (no store open). */
  stampSchemaVersion(version: number): Promise<void>;
  /** Open the store as an older binary leaves it: migrated only up to `version`. */
  readonly openAtSchemaVersion?: (version: number, options?: StateStoreCommonOptions) => Promise<StateStore>;
  /** How a child process opens this same location: present when the store outlives a process. */
  readonly child?: ChildStoreSpec;
}

const T0 = Date.parse('2024-08-01T12:00:00Z');
const HOUR = 3_600_000;
const SINK = 'jsonl:/var/log/trailhound/signals.jsonl';
const OTHER_SINK = 'stdout';
const CHILD_SCRIPT = join(REPO_ROOT, 'test', 'conformance', 'state-store-child.ts');

const HISTORY: NewValueHistory = {
  version: 1,
  rules: [
    {
      ruleId: 'new-source-ip',
      fingerprint: '0123456789abcdef',
      learningStartMs: T0,
      latestMs: T0 + HOUR,
      groups: [{ groupValues: ['arn:aws:iam::309303190113:user/christophe'], occurrences: 0, values: [['ip', '253.201.144.253', T0 + HOUR]] }],
    },
  ],
};

/** A clock the test moves by hand. */
function manualClock(start: number): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

async function rejectionOf(promise: Promise<unknown>): Promise<TrailhoundError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof TrailhoundError)) throw new Error(`expected a TrailhoundError, got ${String(error)}`);
  return error;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ------------------------------------------------------------------------------------------------
// Child processes

interface ChildRun {
  readonly child: ChildProcess;
  readonly events: Record<string, unknown>[];
  waitFor(predicate: (event: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill9(): Promise<void>;
}

function startChild(plan: ChildPlan): ChildRun {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD_SCRIPT, JSON.stringify(plan)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      events.push(JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>);
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf('\n');
    }
    for (const wake of waiters) wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  // 'close', not 'exit': every line the child wrote has been read by then.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  void exited.then(() => {
    for (const wake of waiters) wake();
  });
  return {
    child,
    events,
    waitFor: (predicate, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const found = events.find(predicate);
          if (found) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`the child exited (${String(child.exitCode ?? child.signalCode)}) first; events ${JSON.stringify(events)}; stderr ${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for the child; events ${JSON.stringify(events.slice(-3))}; stderr ${stderr}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    kill9: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

// ------------------------------------------------------------------------------------------------

export function describeStateStore(name: string, createLocation: () => StateStoreLocation | Promise<StateStoreLocation>, features: StateStoreFeatures): void {
  describe(`the ${name} state store (conformance)`, () => {
    const opened: StateStore[] = [];
    let template: Signal;

    beforeAll(() => {
      const signal = detect(stratusAttack().all)[0];
      if (!signal) throw new Error('the Stratus user-data attack raised no signal');
      template = signal;
    });

    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
    });

    async function openOn(location: StateStoreLocation, options?: StateStoreCommonOptions): Promise<StateStore> {
      const store = await location.open(options);
      opened.push(store);
      return store;
    }

    async function fresh(options?: StateStoreCommonOptions): Promise<{ location: StateStoreLocation; store: StateStore }> {
      const location = await createLocation();
      return { location, store: await openOn(location, options) };
    }

    function signalChange(id: string, kind: 'created' | 'updated' = 'created'): { kind: 'created' | 'updated'; signal: Signal } {
      return { kind, signal: { ...template, id, updates: kind === 'created' ? 0 : 1 } };
    }

    /** Everything a step wrote is there (or none of it, with `isIn` false). */
    async function expectStep(store: StateStore, step: CheckpointStep, isIn: boolean): Promise<void> {
      for (const o of step.objectsDone ?? []) expect(await store.isObjectDone(o.source, o.key, o.etag)).toBe(isIn);
      for (const id of step.requestsDone ?? []) expect(await store.isRequestDone(id)).toBe(isIn);
      const ids = (step.eventIds ?? []).map((e) => e.id);
      expect((await store.seenEventIds(ids)).size).toBe(isIn ? ids.length : 0);
    }

    describe('a new store', () => {
      it('is at the current schema version and holds nothing', async () => {
        const { store } = await fresh();
        expect(store.schemaVersion).toBe(STATE_SCHEMA_VERSION);
        expect(await store.isObjectDone('s3://b', 'k', 'e')).toBe(false);
        expect(await store.isRequestDone('r')).toBe(false);
        expect(await store.seenEventIds(['a', 'b'])).toEqual(new Set());
        expect(await store.loadEngineState()).toBeUndefined();
        expect(await store.loadNewValueHistory()).toBeUndefined();
        expect(await store.pendingDeliveries(SINK)).toEqual([]);
        expect(await store.signalHistory('anything')).toEqual([]);
      });
    });

    describe('done objects', () => {
      const object: DoneObject = { source: 's3://trail-bucket', key: 'AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/a.json.gz', etag: '"9b2cf535f27731c974343645a3985328"' };

      it.each<[string, DoneObject, boolean]>([
        ['the same object', object, true],
        ['the same key with new content (another etag)', { ...object, etag: '"other"' }, false],
        ['the same key in another source', { ...object, source: 's3://other-bucket' }, false],
        ['another key', { ...object, key: `${object.key}.2` }, false],
      ])('after marking an object, %s is done: %s', async (_name, probe, isDone) => {
        const { store } = await fresh();
        await store.markObjectsDone([object]);
        expect(await store.isObjectDone(probe.source, probe.key, probe.etag)).toBe(isDone);
      });

      it('is done exactly for the marked objects, whatever the batches, order and repeats (property)', async () => {
        const part = fc.constantFrom('a', 'b', 'c');
        const objectArb = fc.record({ source: part, key: part, etag: part });
        await fc.assert(
          fc.asyncProperty(fc.array(fc.array(objectArb, { maxLength: 4 }), { maxLength: 5 }), async (batches) => {
            const { store } = await fresh();
            for (const batch of batches) await store.markObjectsDone(batch);
            const marked = new Set(batches.flat().map((o) => `${o.source}|${o.key}|${o.etag}`));
            for (const s of ['a', 'b', 'c']) {
              for (const k of ['a', 'b', 'c']) {
                for (const e of ['a', 'b', 'c']) expect(await store.isObjectDone(s, k, e)).toBe(marked.has(`${s}|${k}|${e}`));
              }
            }
            await store.close();
          }),
          { numRuns: 15 },
        );
      });
    });

    describe('Firehose requests', () => {
      it.each<[string, number, boolean]>([
        ['just after', 0, true],
        ['a minute before the retention ends', HOUR - 60_000, true],
        ['when the retention ends', HOUR, false],
        ['a day later', 24 * HOUR, false],
      ])('a request marked done is done %s (retention one hour): %s', async (_name, later, isDone) => {
        const clock = manualClock(T0);
        const { store } = await fresh({ now: clock.now, requestRetentionMs: HOUR });
        await store.markRequestDone('7b1f0d1e-5fd4-4f5c-8a2a-1f0e2d3c4b5a');
        clock.advance(later);
        expect(await store.isRequestDone('7b1f0d1e-5fd4-4f5c-8a2a-1f0e2d3c4b5a')).toBe(isDone);
        expect(await store.isRequestDone('another-request')).toBe(false);
      });

      it('marking a request again is harmless and extends its retention', async () => {
        const clock = manualClock(T0);
        const { store } = await fresh({ now: clock.now, requestRetentionMs: HOUR });
        await store.markRequestDone('r1');
        clock.advance(HOUR - 1);
        await store.markRequestDone('r1');
        clock.advance(HOUR - 1);
        expect(await store.isRequestDone('r1')).toBe(true);
      });
    });

    describe('recent eventIDs', () => {
      it('seenEventIds gives exactly the remembered ids among those asked, in any batches (property)', async () => {
        const id = fc.constantFrom(...Array.from({ length: 12 }, (_, i) => `a1b2c3d4-0000-4000-8000-${String(i).padStart(12, '0')}`));
        await fc.assert(
          fc.asyncProperty(fc.array(fc.tuple(fc.array(id, { maxLength: 6 }), fc.integer({ min: 0, max: 10 })), { maxLength: 5 }), fc.array(id, { maxLength: 12 }), async (batches, asked) => {
            const { store } = await fresh();
            for (const [ids, minute] of batches) await store.rememberEventIds(ids, T0 + minute * 60_000);
            const remembered = new Set(batches.flatMap(([ids]) => ids));
            expect(await store.seenEventIds(asked)).toEqual(new Set(asked.filter((x) => remembered.has(x))));
            await store.close();
          }),
          { numRuns: 15 },
        );
      });

      it('answers for many ids at once (more than any bound-parameter limit)', async () => {
        const { store } = await fresh();
        const ids = Array.from({ length: 40_000 }, (_, i) => `event-${String(i)}`);
        await store.rememberEventIds(
          ids.filter((_, i) => i % 3 === 0),
          T0,
        );
        const seen = await store.seenEventIds(ids);
        expect(seen.size).toBe(Math.ceil(40_000 / 3));
        expect(seen.has('event-3')).toBe(true);
        expect(seen.has('event-4')).toBe(false);
      });

      it('an id remembered again keeps the later event time (it is pruned by that one)', async () => {
        const { store } = await fresh();
        await store.rememberEventIds(['e1', 'e2'], T0);
        await store.rememberEventIds(['e1'], T0 + 2 * HOUR);
        await store.rememberEventIds(['e1'], T0 + HOUR);
        const counts = await store.prune({ eventTimeBeforeMs: T0 + HOUR + 1 });
        expect(counts.eventIds).toBe(1);
        expect(await store.seenEventIds(['e1', 'e2'])).toEqual(new Set(['e1']));
      });
    });

    describe('engine state and new-value history', () => {
      it('the engine state loads as saved, and a later save replaces it', async () => {
        const { store } = await fresh();
        await store.saveEngineState('{"version":1,"watermarkMs":null}');
        expect(await store.loadEngineState()).toBe('{"version":1,"watermarkMs":null}');
        await store.saveEngineState('{"version":1,"watermarkMs":1722513600000}');
        expect(await store.loadEngineState()).toBe('{"version":1,"watermarkMs":1722513600000}');
      });

      it('the new-value history loads equal to what was saved, as a copy', async () => {
        const { store } = await fresh();
        await store.saveNewValueHistory(HISTORY);
        const loaded = await store.loadNewValueHistory();
        expect(loaded).toEqual(HISTORY);
        expect(loaded).not.toBe(HISTORY);
        await store.saveNewValueHistory({ version: 1, rules: [] });
        expect(await store.loadNewValueHistory()).toEqual({ version: 1, rules: [] });
      });
    });

    describe('a restart (close, then open again)', () => {
      it('keeps everything', async () => {
        const clock = manualClock(T0);
        const location = await createLocation();
        const first = await openOn(location, { now: clock.now });
        const step = stepData(0, template, { objects: 3, eventIds: 3, padding: 10 }, SINK);
        const receipt = await first.commitCheckpoint(step);
        await first.saveNewValueHistory(HISTORY);
        await first.close();
        const second = await openOn(location, { now: clock.now });
        await expectStep(second, step, true);
        expect(await second.loadEngineState()).toBe(step.engineState);
        expect(await second.loadNewValueHistory()).toEqual(HISTORY);
        const pending = await second.pendingDeliveries(SINK);
        expect(pending.map((p) => p.seq)).toEqual(receipt.changeSeqs);
        expect(pending.map((p) => p.signal)).toEqual(step.emittedSignals?.map((c) => c.signal));
      });
    });

    describe('checkpoints', () => {
      it('write every part of the step and give the logged changes increasing sequence numbers', async () => {
        const { store } = await fresh();
        const sizes: StepSizes = { objects: 4, eventIds: 5, padding: 100 };
        const zero = await store.commitCheckpoint(stepData(0, template, sizes, SINK));
        const one = await store.commitCheckpoint(stepData(1, template, sizes, SINK));
        await expectStep(store, stepData(0, template, sizes, SINK), true);
        await expectStep(store, stepData(1, template, sizes, SINK), true);
        expect(stepOfEngineState(await store.loadEngineState())).toBe(1);
        const seqs = [...zero.changeSeqs, ...one.changeSeqs];
        expect(seqs).toHaveLength(3);
        expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(3);
        const history = await store.signalHistory(stepSignalId(template, 0));
        expect(history.map((h) => [h.kind, h.signal.updates])).toEqual([
          ['created', 0],
          ['updated', 1],
        ]);
      });

      it('a step without an engine state keeps the previous one', async () => {
        const { store } = await fresh();
        await store.commitCheckpoint({ engineState: '{"step":0}' });
        await store.commitCheckpoint({ objectsDone: [{ source: 's', key: 'k', etag: 'e' }] });
        expect(await store.loadEngineState()).toBe('{"step":0}');
      });

      it.each(CHECKPOINT_PARTS.map((part) => [part]))('a checkpoint that fails before its "%s" part leaves nothing of itself, and the next one works', async (part) => {
        const failAt: { part: CheckpointPart | undefined } = { part: undefined };
        const { store } = await fresh({
          faults: {
            beforeCheckpointPart: (p) => {
              if (p === failAt.part) throw new Error(`simulated crash before ${p}`);
            },
          },
        });
        const sizes: StepSizes = { objects: 2, eventIds: 2, padding: 10 };
        await store.commitCheckpoint(stepData(0, template, sizes, SINK));
        failAt.part = part;
        await expect(store.commitCheckpoint(stepData(1, template, sizes, SINK))).rejects.toThrow(`simulated crash before ${part}`);
        await expectStep(store, stepData(1, template, sizes, SINK), false);
        expect(stepOfEngineState(await store.loadEngineState())).toBe(0);
        expect(await store.signalHistory(stepSignalId(template, 1))).toEqual([]);
        expect((await store.pendingDeliveries(SINK)).map((p) => p.signal.id)).toEqual([stepSignalId(template, 0)]);
        failAt.part = undefined;
        await store.commitCheckpoint(stepData(1, template, sizes, SINK));
        await expectStep(store, stepData(1, template, sizes, SINK), true);
      });

      it.each<[string, CheckpointStep]>([
        ['an eventID with a time that is not finite', { eventIds: [{ id: 'e', eventTimeMs: Number.NaN }] }],
        ['a sink named twice', { deliverTo: [SINK, SINK] }],
        ['an empty sink name', { deliverTo: [''] }],
        ['a signal change of an unknown kind', { emittedSignals: [{ kind: 'deleted' as 'created', signal: { ...({} as Signal), id: 'x', ruleId: 'r' } }] }],
      ])('refuses a step with %s (E_STATE_CHECKPOINT) and writes nothing of it', async (_name, bad) => {
        const { store } = await fresh();
        const error = await rejectionOf(store.commitCheckpoint({ ...bad, objectsDone: [{ source: 's', key: 'k', etag: 'e' }], engineState: '{"step":9}' }));
        expect(error.code).toBe('E_STATE_CHECKPOINT');
        expect(await store.isObjectDone('s', 'k', 'e')).toBe(false);
        expect(await store.loadEngineState()).toBeUndefined();
      });
    });

    describe('the delivery outbox', () => {
      it('holds each change for each sink named until that sink confirms it', async () => {
        const { store } = await fresh();
        const receipt = await store.commitCheckpoint({ emittedSignals: [signalChange('s1'), signalChange('s2'), signalChange('s1', 'updated')], deliverTo: [SINK, OTHER_SINK] });
        const [first, second, third] = receipt.changeSeqs;
        if (first === undefined || second === undefined || third === undefined) throw new Error('three changes expected');
        expect((await store.pendingDeliveries(SINK)).map((p) => [p.seq, p.kind, p.signal.id, p.sink])).toEqual([
          [first, 'created', 's1', SINK],
          [second, 'created', 's2', SINK],
          [third, 'updated', 's1', SINK],
        ]);
        await store.markDelivered(SINK, [first, third]);
        await store.markDelivered(SINK, [first]);
        expect((await store.pendingDeliveries(SINK)).map((p) => p.seq)).toEqual([second]);
        expect((await store.pendingDeliveries(OTHER_SINK)).map((p) => p.seq)).toEqual([first, second, third]);
        expect((await store.pendingDeliveries(OTHER_SINK, { limit: 2 })).map((p) => p.seq)).toEqual([first, second]);
        expect(await store.pendingDeliveries('a sink never named')).toEqual([]);
      });

      it('logs changes without outbox entries when no sink is named', async () => {
        const { store } = await fresh();
        await store.commitCheckpoint({ emittedSignals: [signalChange('s1')] });
        expect(await store.pendingDeliveries(SINK)).toEqual([]);
        expect((await store.signalHistory('s1')).map((h) => h.signal)).toEqual([signalChange('s1').signal]);
      });

      it('after a crash before delivery, the reopened store gives the same changes again, once delivered never again', async () => {
        const location = await createLocation();
        const first = await openOn(location);
        const receipt = await first.commitCheckpoint({ engineState: '{"step":0}', emittedSignals: [signalChange('s1')], deliverTo: [SINK] });
        await first.close(); // the process "dies" before the sink confirmed
        const second = await openOn(location);
        const redo = await second.pendingDeliveries(SINK);
        expect(redo.map((p) => [p.seq, p.signal.id])).toEqual([[receipt.changeSeqs[0], 's1']]);
        await second.markDelivered(
          SINK,
          redo.map((p) => p.seq),
        );
        await second.close();
        const third = await openOn(location);
        expect(await third.pendingDeliveries(SINK)).toEqual([]);
      });
    });

    describe('pruning', () => {
      it('forgets exactly what is older than each horizon and counts it', async () => {
        const clock = manualClock(T0);
        const { store } = await fresh({ now: clock.now, requestRetentionMs: HOUR });
        await store.markObjectsDone([{ source: 's', key: 'old', etag: 'e' }]);
        await store.markRequestDone('old-request');
        await store.commitCheckpoint({ emittedSignals: [signalChange('old-logged'), signalChange('old-pending')], deliverTo: [SINK] });
        const oldSeqs = (await store.pendingDeliveries(SINK)).map((p) => p.seq);
        await store.markDelivered(SINK, oldSeqs.slice(0, 1));
        await store.rememberEventIds(['old-event'], T0 - 2 * HOUR);
        clock.advance(2 * HOUR);
        await store.markObjectsDone([{ source: 's', key: 'new', etag: 'e' }]);
        await store.markRequestDone('new-request');
        await store.rememberEventIds(['new-event'], T0);
        await store.commitCheckpoint({ emittedSignals: [signalChange('new-logged')] });

        const counts = await store.prune({ eventTimeBeforeMs: T0 - HOUR, requestsExpiredAtMs: clock.now(), objectsDoneBeforeMs: T0 + HOUR, signalChangesBeforeMs: T0 + HOUR });
        expect(counts).toEqual({ eventIds: 1, requests: 1, objects: 1, signalChanges: 1, indexedEvents: 0 });
        expect(await store.seenEventIds(['old-event', 'new-event'])).toEqual(new Set(['new-event']));
        expect(await store.isObjectDone('s', 'old', 'e')).toBe(false);
        expect(await store.isObjectDone('s', 'new', 'e')).toBe(true);
        expect(await store.isRequestDone('new-request')).toBe(true);
        expect(await store.signalHistory('old-logged')).toEqual([]);
        expect((await store.signalHistory('old-pending')).length).toBe(1);
        expect((await store.pendingDeliveries(SINK)).map((p) => p.signal.id)).toEqual(['old-pending']);
        expect((await store.signalHistory('new-logged')).length).toBe(1);
      });

      it('prunes nothing without horizons', async () => {
        const { store } = await fresh();
        await store.rememberEventIds(['e'], 0);
        expect(await store.prune({})).toEqual({ eventIds: 0, requests: 0, objects: 0, signalChanges: 0, indexedEvents: 0 });
        expect(await store.seenEventIds(['e'])).toEqual(new Set(['e']));
      });
    });

    describe('schema versions', () => {
      it('refuses a store written by a newer trailhound, saying what to do', async () => {
        const location = await createLocation();
        const store = await openOn(location);
        await store.markObjectsDone([{ source: 's', key: 'k', etag: 'e' }]);
        await store.close();
        await location.stampSchemaVersion(STATE_SCHEMA_VERSION + 1);
        const error = await rejectionOf(location.open());
        expect(error.code).toBe('E_STATE_SCHEMA_NEWER');
        expect(error.message).toContain(`was written by a newer trailhound (schema ${String(STATE_SCHEMA_VERSION + 1)} > ${String(STATE_SCHEMA_VERSION)}); upgrade or use another --state folder`);
      });

      const older = Array.from({ length: STATE_SCHEMA_VERSION - 1 }, (_, i) => [i + 1] as const);
      if (features.hasOlderSchemas) {
        it.each(older)('a store left at schema %i by an older trailhound is migrated on open, keeping its data', async (version) => {
          const location = await createLocation();
          if (!location.openAtSchemaVersion) throw new Error('hasOlderSchemas needs location.openAtSchemaVersion');
          const old = await location.openAtSchemaVersion(version);
          expect(old.schemaVersion).toBe(version);
          await old.markObjectsDone([{ source: 's', key: 'k', etag: 'e' }]);
          await old.markRequestDone('r');
          await old.rememberEventIds(['e1'], T0);
          await old.saveEngineState('{"step":41}');
          await old.saveNewValueHistory(HISTORY);
          await old.close();
          const store = await openOn(location);
          expect(store.schemaVersion).toBe(STATE_SCHEMA_VERSION);
          expect(await store.isObjectDone('s', 'k', 'e')).toBe(true);
          expect(await store.isRequestDone('r')).toBe(true);
          expect(await store.seenEventIds(['e1'])).toEqual(new Set(['e1']));
          expect(await store.loadEngineState()).toBe('{"step":41}');
          expect(await store.loadNewValueHistory()).toEqual(HISTORY);
          const receipt = await store.commitCheckpoint({ emittedSignals: [signalChange('after-upgrade')], deliverTo: [SINK] });
          expect((await store.pendingDeliveries(SINK)).map((p) => p.seq)).toEqual(receipt.changeSeqs);
        });
      }
    });

    describe('the lock', () => {
      it('a second open of the same store is refused while the first is open, and allowed once it is closed', async () => {
        const location = await createLocation();
        const first = await openOn(location);
        const error = await rejectionOf(location.open());
        expect(error.code).toBe('E_STATE_LOCKED');
        expect(error.message).toContain(`process ${String(process.pid)}`);
        expect(error.message).toMatch(/use another --state folder/);
        await first.close();
        const second = await openOn(location);
        await second.markObjectsDone([{ source: 's', key: 'k', etag: 'e' }]);
        expect(await second.isObjectDone('s', 'k', 'e')).toBe(true);
      });

      it.each<[string, number, boolean]>([
        ['10 s old', 10_000, false],
        ['31 s old (stale)', 31_000, true],
      ])('a holder on another machine whose heartbeat is %s can be taken over: %s', async (_name, age, isTaken) => {
        const location = await createLocation();
        const lost: Error[] = [];
        const holder = await openOn(location, { hostId: 'another-machine', now: () => T0, lockStaleAfterMs: 30_000, onLockLost: (e) => lost.push(e) });
        const attempt = location.open({ now: () => T0 + age, lockStaleAfterMs: 30_000 });
        if (!isTaken) {
          expect((await rejectionOf(attempt)).code).toBe('E_STATE_LOCKED');
          await holder.markObjectsDone([{ source: 's', key: 'k', etag: 'e' }]);
          return;
        }
        opened.push(await attempt);
        const error = await rejectionOf(holder.markObjectsDone([{ source: 's', key: 'lost', etag: 'e' }]));
        expect(error.code).toBe('E_STATE_LOCK_LOST');
        await expect(holder.commitCheckpoint({ engineState: '{}' })).rejects.toThrow(/taken over/);
        expect(lost).toHaveLength(1);
        expect(await holder.isObjectDone('s', 'lost', 'e')).toBe(false);
      });

      it.each<[string, number, boolean]>([
        ['refreshes its heartbeat, so an open holder is never stale', 20, false],
        ['without heartbeats (control), the same wait makes it stale', 60_000, true],
      ])('a holder %s', async (_name, heartbeatMs, isTaken) => {
        const location = await createLocation();
        await openOn(location, { hostId: 'another-machine', lockHeartbeatMs: heartbeatMs });
        await sleep(400);
        const attempt = location.open({ lockStaleAfterMs: 200 });
        if (isTaken) opened.push(await attempt);
        else expect((await rejectionOf(attempt)).code).toBe('E_STATE_LOCKED');
      });
    });

    describe('a closed store', () => {
      it.each<[string, (s: StateStore) => Promise<unknown>]>([
        ['isObjectDone', (s) => s.isObjectDone('s', 'k', 'e')],
        ['markObjectsDone', (s) => s.markObjectsDone([])],
        ['seenEventIds', (s) => s.seenEventIds(['e'])],
        ['commitCheckpoint', (s) => s.commitCheckpoint({})],
        ['pendingDeliveries', (s) => s.pendingDeliveries(SINK)],
      ])('rejects %s with E_STATE_CLOSED, and closing again is harmless', async (_name, call) => {
        const { store } = await fresh();
        await store.close();
        await store.close();
        expect((await rejectionOf(call(store))).code).toBe('E_STATE_CLOSED');
      });
    });

    if (features.isDurable) {
      describe('a real process killed with kill -9', () => {
        const sizes: StepSizes = { objects: 20, eventIds: 20, padding: 200_000 };

        async function expectConsistentAt(store: StateStore, lastStep: number, deliveredBefore: number): Promise<void> {
          for (let k = 0; k <= lastStep + 2; k++) await expectStep(store, stepData(k, template, sizes, SINK), k <= lastStep);
          for (let k = 0; k <= lastStep + 2; k++) {
            const expected = (k <= lastStep ? 1 : 0) + (k + 1 <= lastStep ? 1 : 0);
            expect(await store.signalHistory(stepSignalId(template, k)), `signal ${String(k)}`).toHaveLength(expected);
          }
          const expectedPending: string[] = [];
          for (let k = deliveredBefore; k <= lastStep; k++) {
            expectedPending.push(stepSignalId(template, k));
            if (k > 0) expectedPending.push(stepSignalId(template, k - 1));
          }
          expect((await store.pendingDeliveries(SINK)).map((p) => p.signal.id)).toEqual(expectedPending);
        }

        async function childLocation(): Promise<{ readonly location: StateStoreLocation; readonly child: ChildStoreSpec }> {
          const location = await createLocation();
          if (!location.child) throw new Error('isDurable needs location.child');
          return { location, child: location.child };
        }

        it.each(CHECKPOINT_PARTS.map((part) => [part]))(
          'mid-commit (stalled before the "%s" part of step 4): the reopened store holds steps 0–3 whole, nothing of step 4, and steps 2–3 still to deliver',
          async (part) => {
            const { location, child } = await childLocation();
            const run = startChild({ store: child, scenario: 'stall', template, sizes, sink: SINK, deliveredBefore: 2, stallAtStep: 4, stallAtPart: part });
            try {
              await run.waitFor((e) => e.event === 'stalled');
              expect(run.events.filter((e) => e.event === 'committed').map((e) => e.step)).toEqual([0, 1, 2, 3]);
            } finally {
              await run.kill9();
            }
            const store = await openOn(location);
            expect(stepOfEngineState(await store.loadEngineState())).toBe(3);
            await expectConsistentAt(store, 3, 2);
          },
        );

        it.each([[0], [5], [17], [41]])('at a random point of a commit loop (%i ms after the third commit): every step is whole or absent, and no reported commit is lost', async (delayMs) => {
          const { location, child } = await childLocation();
          const run = startChild({ store: child, scenario: 'loop', template, sizes, sink: SINK, deliveredBefore: 0 });
          try {
            await run.waitFor((e) => e.event === 'committed' && e.step === 2);
            await sleep(delayMs);
          } finally {
            await run.kill9();
          }
          const reported = Math.max(...run.events.filter((e) => e.event === 'committed').map((e) => Number(e.step)));
          const store = await openOn(location);
          const last = stepOfEngineState(await store.loadEngineState());
          expect(last).toBeGreaterThanOrEqual(reported);
          expect(last).toBeLessThanOrEqual(reported + 1);
          await expectConsistentAt(store, last, 0);
        });

        it('holding the lock: refused while the process lives, taken over at once after kill -9 (no waiting for a stale heartbeat)', async () => {
          const { location, child } = await childLocation();
          const run = startChild({ store: child, scenario: 'hold', template, sizes, sink: SINK, deliveredBefore: 0 });
          try {
            const opened = await run.waitFor((e) => e.event === 'opened');
            const error = await rejectionOf(location.open({ lockStaleAfterMs: 600_000 }));
            expect(error.code).toBe('E_STATE_LOCKED');
            expect(error.message).toContain(`process ${String(opened.pid)}`);
          } finally {
            await run.kill9();
          }
          const store = await openOn(location, { lockStaleAfterMs: 600_000 });
          await store.markObjectsDone([{ source: 's', key: 'after-takeover', etag: 'e' }]);
          expect(await store.isObjectDone('s', 'after-takeover', 'e')).toBe(true);
        });
      });
    }
  });
}
