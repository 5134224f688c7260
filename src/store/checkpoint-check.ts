/**
 * Checks on what callers give a state store that the types cannot express (finite times, non-empty
 * names), shared by every implementation so they refuse the same inputs the same way.
 */
import { TrailhoundError } from '../core/errors.js';
import type { CheckpointStep, DoneObject } from './state-store.js';
import { isSignalChangeKind } from './stored-signal.js';

function refuse(message: string): never {
  throw new TrailhoundError('E_STATE_CHECKPOINT', message);
}

export function checkDoneObjects(objects: readonly DoneObject[]): void {
  for (const o of objects) {
    if (typeof o.source !== 'string' || typeof o.key !== 'string' || typeof o.etag !== 'string') refuse('a done object needs string source, key and etag');
  }
}

export function checkEventTime(eventTimeMs: number): void {
  if (!Number.isFinite(eventTimeMs)) refuse(`an eventID needs a finite event time (got ${String(eventTimeMs)})`);
}

export function checkStrings(values: readonly string[], what: string): void {
  for (const v of values) if (typeof v !== 'string') refuse(`${what} must be strings`);
}

export function checkSeqs(seqs: readonly number[]): void {
  for (const s of seqs) if (!Number.isSafeInteger(s)) refuse(`a delivery sequence number must be an integer (got ${String(s)})`);
}

/** Refuse a malformed step (E_STATE_CHECKPOINT) before anything of it is written. */
export function checkCheckpointStep(step: CheckpointStep): void {
  checkDoneObjects(step.objectsDone ?? []);
  checkStrings(step.requestsDone ?? [], 'request ids');
  for (const e of step.eventIds ?? []) {
    if (typeof e.id !== 'string') refuse('eventIDs must be strings');
    checkEventTime(e.eventTimeMs);
  }
  if (step.engineState !== undefined && typeof step.engineState !== 'string') refuse('the engine state must be JSON text (JSON.stringify(engine.snapshot()))');
  for (const change of step.emittedSignals ?? []) {
    if (!isSignalChangeKind(change.kind)) refuse(`unknown signal change kind ${JSON.stringify(change.kind)}`);
    if (typeof change.signal.id !== 'string' || typeof change.signal.ruleId !== 'string') refuse('an emitted signal needs a string id and ruleId');
  }
  const sinks = step.deliverTo ?? [];
  checkStrings(sinks, 'sink names');
  if (sinks.some((s) => s === '')) refuse('a sink name cannot be empty');
  if (new Set(sinks).size !== sinks.length) refuse('deliverTo names a sink twice');
}
