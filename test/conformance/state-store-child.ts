/**
 * A child process for the state-store conformance suite (state-store.ts): it opens a store the way
 * its plan says, then commits numbered checkpoint steps and reports each on stdout as a JSON line,
 * so the parent can `kill -9` it at a chosen or random point and check what survived.
 *
 * Run: node --import tsx test/conformance/state-store-child.ts '<plan JSON>'
 * Scenarios:
 * - `loop`: commit steps 0, 1, 2… until killed, printing {"event":"committed","step":k} after each;
 * - `stall`: the same, but inside step `stallAtStep`'s transaction, before its `stallAtPart` part,
 *   print {"event":"stalled"} and block (the parent kills it mid-commit);
 * - `hold`: open, print {"event":"opened","pid":…} and wait (the parent checks the lock, then kills it).
 * Steps before `deliveredBefore` are marked delivered to the plan's sink right after their commit.
 */
import { writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { JsonObject, Signal } from '../../src/core/types.js';
import type { SignalChange } from '../../src/engine/types.js';
import type { CheckpointPart, CheckpointStep, StateStore, StateStoreCommonOptions } from '../../src/store/state-store.js';

/** How a child opens the same store as the parent: `import(module)[exportName]({...args, ...options})`. */
export interface ChildStoreSpec {
  readonly module: string;
  readonly exportName: string;
  readonly args: JsonObject;
}

export interface StepSizes {
  readonly objects: number;
  readonly eventIds: number;
  /** Characters of padding in the engine state (makes commits take longer). */
  readonly padding: number;
}

export interface ChildPlan {
  readonly store: ChildStoreSpec;
  readonly scenario: 'loop' | 'stall' | 'hold';
  readonly template: Signal;
  readonly sizes: StepSizes;
  readonly sink: string;
  readonly deliveredBefore: number;
  readonly stallAtStep?: number;
  readonly stallAtPart?: CheckpointPart;
}

export const STEP_SOURCE = 's3://trailhound-conformance';
export const STEP_BASE_TIME_MS = Date.parse('2024-08-01T12:00:00Z');

export function stepSignalId(template: Signal, k: number): string {
  return `${template.id}-step-${String(k)}`;
}

/** The step's engine state: the step number, so a reopened store says which step it holds. */
export function stepOfEngineState(json: string | undefined): number {
  if (json === undefined) return -1;
  const value: unknown = JSON.parse(json);
  if (typeof value === 'object' && value !== null && 'step' in value && typeof value.step === 'number') return value.step;
  throw new Error(`not a conformance engine state: ${json.slice(0, 80)}`);
}

/**
 * Checkpoint step k: its own objects, request, eventIDs and engine state; a new signal k, and an
 * update of signal k−1 (so the log holds updates too).
 */
export function stepData(k: number, template: Signal, sizes: StepSizes, sink: string): CheckpointStep {
  const signalOf = (j: number, updates: number): Signal => ({ ...template, id: stepSignalId(template, j), updates, eventIds: [...template.eventIds, `step-${String(j)}`] });
  const emittedSignals: SignalChange[] = [{ kind: 'created', signal: signalOf(k, 0) }];
  if (k > 0) emittedSignals.push({ kind: 'updated', signal: signalOf(k - 1, 1) });
  return {
    objectsDone: Array.from({ length: sizes.objects }, (_, i) => ({ source: STEP_SOURCE, key: `AWSLogs/step-${String(k)}/object-${String(i)}.json.gz`, etag: `etag-${String(k)}` })),
    requestsDone: [`request-${String(k)}`],
    eventIds: Array.from({ length: sizes.eventIds }, (_, i) => ({ id: `event-${String(k)}-${String(i)}`, eventTimeMs: STEP_BASE_TIME_MS + k * 60_000 + i })),
    engineState: JSON.stringify({ step: k, padding: 'x'.repeat(sizes.padding) }),
    emittedSignals,
    deliverTo: [sink],
  };
}

function report(value: JsonObject): void {
  writeSync(1, `${JSON.stringify(value)}\n`);
}

function blockForever(): never {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0);
}

async function openFromSpec(spec: ChildStoreSpec, options: StateStoreCommonOptions): Promise<StateStore> {
  const mod: unknown = await import(pathToFileURL(spec.module).href);
  const open: unknown = typeof mod === 'object' && mod !== null ? (mod as Record<string, unknown>)[spec.exportName] : undefined;
  if (typeof open !== 'function') throw new Error(`${spec.module} does not export a function ${spec.exportName}`);
  return await (open as (options: unknown) => Promise<StateStore>)({ ...spec.args, ...options });
}

async function run(plan: ChildPlan): Promise<void> {
  let current = -1;
  const store = await openFromSpec(plan.store, {
    faults: {
      beforeCheckpointPart: (part) => {
        if (plan.scenario === 'stall' && current === plan.stallAtStep && part === plan.stallAtPart) {
          report({ event: 'stalled', step: current, part });
          blockForever();
        }
      },
    },
  });
  if (plan.scenario === 'hold') {
    report({ event: 'opened', pid: process.pid });
    setInterval(() => undefined, 60_000);
    return;
  }
  for (let k = 0; k < 100_000; k++) {
    current = k;
    const receipt = await store.commitCheckpoint(stepData(k, plan.template, plan.sizes, plan.sink));
    if (k < plan.deliveredBefore) await store.markDelivered(plan.sink, receipt.changeSeqs);
    report({ event: 'committed', step: k });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const plan = JSON.parse(process.argv[2] ?? '{}') as ChildPlan;
  run(plan).catch((error: unknown) => {
    report({ event: 'error', message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  });
}
