/**
 * Keeping signal ids stable across replays (live mode, live.ts).
 *
 * When a late event makes the live engine replay a signal group, the replay gives the signals the
 * batch engine would give, with the batch engine's ids: `stableHash(rule, group, key of the event
 * that created the signal)`. A late event can change which event created a signal (a StartInstances
 * from 12:03 arriving after the one from 12:05 that already raised it), so a recomputed signal may
 * carry an id other than the one already emitted for it. Sinks deduplicate on ids, so an emitted id
 * must never change, and one signal must never be emitted under two ids.
 *
 * `assignEmittedIds` maps each recomputed signal to the id it is emitted under:
 *
 * 1. the id already emitted for its batch id, if any (a mapping found earlier is kept);
 * 2. else the emitted signal (among those the replay could change, not yet claimed) sharing the
 *    most events with it (ties: the earlier first seen, then the smaller id): it takes that id;
 * 3. else its own batch id (or `newIdOf` it), unless that id is already emitted for another
 *    signal: then a fresh id derived from it (`freshId`).
 *
 * Recomputed signals are taken in the order (firstSeen, ruleId, id), so the result is
 * deterministic. Emitted signals the replay could change that no recomputed signal claims are
 * orphans: the replay no longer raises them (possible with new_value rules, or conditions that a
 * new event can make false). Pure; nothing here looks at the clock.
 */
import { stableHash } from '../core/hash.js';
import type { Signal } from '../core/types.js';

/** An emitted signal the live engine follows: its latest emitted version and its current batch id. */
export interface TrackedSignal {
  readonly batchId: string;
  /** Latest emitted version; `signal.id` is the emitted id (`signal.replacedBy` is set on an orphan). */
  readonly signal: Signal;
}

export interface IdAssignment {
  readonly emittedId: string;
  readonly batchId: string;
  /** The recomputed signal with its emitted id. */
  readonly signal: Signal;
}

export interface IdAssignments {
  /** One per recomputed signal, in the order (firstSeen, ruleId, batch id). */
  readonly assignments: readonly IdAssignment[];
  /** Emitted ids of the eligible tracked signals no recomputed signal claimed. */
  readonly orphans: readonly string[];
}

/**
 * The emitted ids of the assigned signals that hold some event of `orphan` (sorted): what its
 * `replacedBy` lists.
 */
export function replacementsOf(orphan: Signal, assignments: readonly IdAssignment[]): string[] {
  const members = new Set(orphan.eventIds);
  const ids = new Set<string>();
  for (const { emittedId, signal } of assignments) if (signal.eventIds.some((ref) => members.has(ref))) ids.add(emittedId);
  return [...ids].sort(compareText);
}

export interface AssignInput {
  /** The recomputed signals (batch ids), each batch id once. */
  readonly candidates: readonly Signal[];
  /** Tracked signals by emitted id. */
  readonly tracked: ReadonlyMap<string, TrackedSignal>;
  /** Emitted id by batch id (the inverse of `TrackedSignal.batchId`). */
  readonly byBatch: ReadonlyMap<string, string>;
  /** Emitted ids the replay could change (the others are final and never claimed by overlap). */
  readonly eligible: ReadonlySet<string>;
  /** The id a new signal is emitted under, from its batch id (default: the batch id itself). */
  readonly newIdOf?: (batchId: string) => string;
}

/** The order signals are listed in everywhere: first seen, then rule, then id. */
export function compareSignals(a: Signal, b: Signal): number {
  return compareText(a.firstSeen, b.firstSeen) || compareText(a.ruleId, b.ruleId) || compareText(a.id, b.id);
}

/** A deterministic id derived from `batchId` that `isTaken` does not hold. */
export function freshId(batchId: string, isTaken: (id: string) => boolean): string {
  for (let n = 1; ; n++) {
    const id = stableHash(JSON.stringify(['trailhound-live', batchId, n]));
    if (!isTaken(id)) return id;
  }
}

/** Map recomputed signals to emitted ids (see the module comment). */
export function assignEmittedIds(input: AssignInput): IdAssignments {
  const { tracked, byBatch, eligible } = input;
  const candidates = [...input.candidates].sort(compareSignals);
  const chosen = new Map<string, string>();
  const claimed = new Set<string>();

  for (const candidate of candidates) {
    const emitted = byBatch.get(candidate.id);
    if (emitted !== undefined && tracked.has(emitted) && !claimed.has(emitted)) {
      chosen.set(candidate.id, emitted);
      claimed.add(emitted);
    }
  }

  const open = [...eligible].filter((id) => tracked.has(id) && !claimed.has(id));
  for (const candidate of candidates) {
    if (chosen.has(candidate.id) || open.length === 0) continue;
    const members = new Set(candidate.eventIds);
    let best: { id: string; overlap: number; signal: Signal } | undefined;
    for (const id of open) {
      if (claimed.has(id)) continue;
      const signal = tracked.get(id)?.signal;
      if (!signal) continue;
      let overlap = 0;
      for (const ref of new Set(signal.eventIds)) if (members.has(ref)) overlap++;
      if (overlap === 0) continue;
      if (!best || overlap > best.overlap || (overlap === best.overlap && compareSignals(signal, best.signal) < 0)) best = { id, overlap, signal };
    }
    if (best) {
      chosen.set(candidate.id, best.id);
      claimed.add(best.id);
    }
  }

  const taken = (id: string): boolean => tracked.has(id) || claimed.has(id);
  const assignments: IdAssignment[] = [];
  for (const candidate of candidates) {
    let emittedId = chosen.get(candidate.id);
    if (emittedId === undefined) {
      const wanted = input.newIdOf ? input.newIdOf(candidate.id) : candidate.id;
      emittedId = taken(wanted) ? freshId(wanted, taken) : wanted;
      claimed.add(emittedId);
    }
    assignments.push({ emittedId, batchId: candidate.id, signal: emittedId === candidate.id ? candidate : { ...candidate, id: emittedId } });
  }
  const orphans = [...eligible].filter((id) => tracked.has(id) && !claimed.has(id));
  return { assignments, orphans };
}

/** Structural equality of two JSON-like values (plain objects, arrays, scalars). */
export function isSameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!isSameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  for (const key of keys) if (!Object.hasOwn(right, key) || !isSameJson(left[key], right[key])) return false;
  return true;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
