/**
 * The in-memory side of signal triage (signal-triage.ts): the same semantics as the SQLite tables,
 * in maps that the memory store copies on every write (copy-on-write entries: a write replaces an
 * entry or a log array, never changes one in place).
 */
import type { Signal } from '../core/types.js';
import { ENGINE_ACTOR, compareStoredSignals, initialTriage, matchesSignalFilter, noteEvent, planTriageChange, signalNotFound } from './signal-triage.js';
import type { SignalFilter, StoredSignal, TriageChange, TriageEvent, TriagePlan, TriageState } from './signal-triage.js';
import { parseStoredSignal } from './stored-signal.js';

interface MemorySignalEntry {
  /** Kept as JSON text, parsed on read, like the SQLite store: a stored signal never aliases the caller's. */
  readonly signalJson: string;
  readonly state: TriageState;
  readonly firstRecordedMs: number;
  readonly lastRecordedMs: number;
  readonly changeCount: number;
}

export interface MemoryTriageData {
  readonly signals: Map<string, MemorySignalEntry>;
  /** signal id → its triage log, oldest first. */
  readonly log: Map<string, readonly TriageEvent[]>;
}

export function createMemoryTriageData(): MemoryTriageData {
  return { signals: new Map(), log: new Map() };
}

export function copyMemoryTriageData(data: MemoryTriageData): MemoryTriageData {
  return { signals: new Map(data.signals), log: new Map(data.log) };
}

function append(data: MemoryTriageData, id: string, events: readonly TriageEvent[]): void {
  if (events.length > 0) data.log.set(id, [...(data.log.get(id) ?? []), ...events]);
}

function storedOf(id: string, entry: MemorySignalEntry, location: string): StoredSignal {
  return {
    signal: parseStoredSignal(entry.signalJson, `${location} signal ${id}`),
    ...entry.state,
    firstRecordedMs: entry.firstRecordedMs,
    lastRecordedMs: entry.lastRecordedMs,
    changeCount: entry.changeCount,
  };
}

/** File one version the engine emitted (see the SQLite twin, fileEmittedSignal); returns the triage state after it. */
export function fileEmittedSignalInMemory(data: MemoryTriageData, signal: Signal, atMs: number): TriageState {
  const signalJson = JSON.stringify(signal);
  const existing = data.signals.get(signal.id);
  if (existing === undefined) {
    const state = initialTriage(signal);
    data.signals.set(signal.id, { signalJson, state, firstRecordedMs: atMs, lastRecordedMs: atMs, changeCount: 1 });
    append(data, signal.id, [{ atMs, actor: ENGINE_ACTOR, action: 'detected', status: state.status }]);
    return state;
  }
  data.signals.set(signal.id, { ...existing, signalJson, lastRecordedMs: atMs, changeCount: existing.changeCount + 1 });
  append(data, signal.id, [{ atMs, actor: ENGINE_ACTOR, action: 'updated' }]);
  return existing.state;
}

export function listSignalsInMemory(data: MemoryTriageData, filter: SignalFilter, location: string): StoredSignal[] {
  const all = [...data.signals].map(([id, entry]) => storedOf(id, entry, location));
  const matching = all.filter((s) => matchesSignalFilter(s, filter)).sort(compareStoredSignals);
  return filter.limit === undefined ? matching : matching.slice(0, filter.limit);
}

export function storedSignalInMemory(data: MemoryTriageData, id: string, location: string): StoredSignal | undefined {
  const entry = data.signals.get(id);
  return entry === undefined ? undefined : storedOf(id, entry, location);
}

export function triageLogInMemory(data: MemoryTriageData, id: string): TriageEvent[] {
  return [...(data.log.get(id) ?? [])];
}

export function findSignalIdsInMemory(data: MemoryTriageData, prefix: string, limit: number): string[] {
  return [...data.signals.keys()]
    .filter((id) => id.startsWith(prefix))
    .sort()
    .slice(0, Math.max(0, limit));
}

export function applyTriageChangeInMemory(data: MemoryTriageData, id: string, change: TriageChange, atMs: number, location: string): { readonly stored: StoredSignal; readonly plan: TriagePlan } {
  const entry = data.signals.get(id);
  if (entry === undefined) throw signalNotFound(id, location);
  const plan = planTriageChange(entry.state, change, atMs);
  const next = { ...entry, state: plan.state };
  data.signals.set(id, next);
  append(data, id, plan.events);
  return { stored: storedOf(id, next, location), plan };
}

export function addNoteInMemory(data: MemoryTriageData, id: string, actor: string, note: string, atMs: number, location: string): void {
  const event = noteEvent(actor, note, atMs);
  if (!data.signals.has(id)) throw signalNotFound(id, location);
  append(data, id, [event]);
}
