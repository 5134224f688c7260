/**
 * A state store in memory, for tests and embedding: the same semantics as the SQLite store
 * (conformance suite), nothing on disk. The data lives in a `MemoryStateBacking` that outlives the
 * stores opened on it, so "close and reopen" behaves like a restart without a crash. Every write is
 * applied to a copy that replaces the data only when the whole write succeeded (atomic, like a
 * transaction); the lock is the same heartbeat row as SQLite's (lock.ts).
 */
import { TrailhoundError } from '../core/errors.js';
import { formatDiagnostic } from '../core/types.js';
import { parseNewValueHistory } from '../engine/new-value.js';
import type { NewValueHistory } from '../engine/new-value.js';
import { checkCheckpointStep, checkDoneObjects, checkEventTime, checkSeqs, checkStrings } from './checkpoint-check.js';
import { judgeLock, lockedError, lockLostError, newLockHolder, registerHeldLock, startHeartbeat, unregisterHeldLock } from './lock.js';
import type { LockHolder } from './lock.js';
import { DEFAULT_LOCK_HEARTBEAT_MS, DEFAULT_LOCK_STALE_AFTER_MS, DEFAULT_REQUEST_RETENTION_MS, STATE_ERRORS, STATE_SCHEMA_VERSION } from './state-store.js';
import type { CheckpointReceipt, CheckpointStep, DeliveryFailure, DoneObject, OutboxEntry, PendingDelivery, PruneCounts, PruneHorizons, SeenEventId, StateStore, StateStoreCommonOptions, StoredSignalChange } from './state-store.js';
import { isStoredChangeKind, parseStoredSignal } from './stored-signal.js';
import { addNoteInMemory, applyTriageChangeInMemory, copyMemoryTriageData, createMemoryTriageData, fileEmittedSignalInMemory, findSignalIdsInMemory, listSignalsInMemory, storedSignalInMemory, triageLogInMemory } from './memory-signal-triage.js';
import type { MemoryTriageData } from './memory-signal-triage.js';
import { checkSignalFilter } from './signal-triage.js';
import type { SignalDetail, SignalFilter, StoredSignal, TriageChange, TriageState } from './signal-triage.js';
import type { Signal } from '../core/types.js';
import type { ActorHistory, EventPivots, EventQuery, EventSummary, EventWindow, HistoryActor, IndexedEvent, IndexedTimeRange, StoredEvent } from './event-index.js';
import { checkIndexedEvents } from './event-index-support.js';
import { copyMemoryEventIndex, createMemoryEventIndex, insertMemoryEvents, memoryActorHistory, memoryTimeRange, pruneMemoryEvents, queryMemoryEvents, summarizeMemoryEvents } from './memory-event-index.js';
import type { MemoryEventIndexData } from './memory-event-index.js';

interface LoggedChange {
  readonly signalId: string;
  readonly kind: string;
  readonly signalJson: string;
  readonly recordedMs: number;
  /** The signal's triage state when the change was logged. */
  readonly triage?: TriageState;
}

/** What a memory store holds; plain maps, copied on every write. */
export interface MemoryStateData {
  readonly objects: Map<string, number>;
  readonly requests: Map<string, { readonly doneMs: number; readonly expiresMs: number }>;
  readonly eventIds: Map<string, number>;
  engineState: string | undefined;
  newValueHistory: string | undefined;
  readonly changes: Map<number, LoggedChange>;
  nextSeq: number;
  /** sink → seq → delivery state (pending or dead); delivered entries are removed. */
  readonly outbox: Map<string, Map<number, OutboxState>>;
  /** The live runner's sinks (registerSinks). */
  registeredSinks: readonly string[];
  /** Stored signals with their triage state and log (memory-signal-triage.ts). */
  readonly triage: MemoryTriageData;
  /** The event index (memory-event-index.ts). */
  readonly eventIndex: MemoryEventIndexData;
}

/** One outbox entry's delivery state (immutable: replaced on change). */
export interface OutboxState {
  readonly state: 'pending' | 'dead';
  readonly attempts: number;
  readonly nextAttemptMs: number;
  readonly lastError: string | null;
}

const NEW_OUTBOX_STATE: OutboxState = { state: 'pending', attempts: 0, nextAttemptMs: 0, lastError: null };

export interface MemoryStateBacking {
  readonly name: string;
  /** The schema version the data claims (tests set a higher one to see it refused). */
  schemaVersion: number;
  lock: LockHolder | undefined;
  data: MemoryStateData;
}

let backings = 0;

export function createMemoryStateBacking(): MemoryStateBacking {
  return {
    name: `memory:${String(++backings)}`,
    schemaVersion: STATE_SCHEMA_VERSION,
    lock: undefined,
    data: { objects: new Map(), requests: new Map(), eventIds: new Map(), engineState: undefined, newValueHistory: undefined, changes: new Map(), nextSeq: 1, outbox: new Map(), registeredSinks: [], triage: createMemoryTriageData(), eventIndex: createMemoryEventIndex() },
  };
}

function copyData(data: MemoryStateData): MemoryStateData {
  return {
    objects: new Map(data.objects),
    requests: new Map(data.requests),
    eventIds: new Map(data.eventIds),
    engineState: data.engineState,
    newValueHistory: data.newValueHistory,
    changes: new Map(data.changes),
    nextSeq: data.nextSeq,
    outbox: new Map([...data.outbox].map(([sink, entries]) => [sink, new Map(entries)])),
    registeredSinks: data.registeredSinks,
    triage: copyMemoryTriageData(data.triage),
    eventIndex: copyMemoryEventIndex(data.eventIndex),
  };
}

function objectKey(source: string, key: string, etag: string): string {
  return JSON.stringify([source, key, etag]);
}

/** Open a store on `backing` (a fresh one by default). Throws E_STATE_SCHEMA_NEWER or E_STATE_LOCKED like the SQLite store. */
export function openMemoryStateStore(backing: MemoryStateBacking = createMemoryStateBacking(), options: StateStoreCommonOptions = {}): Promise<StateStore> {
  const now = options.now ?? Date.now;
  if (backing.schemaVersion > STATE_SCHEMA_VERSION) {
    return Promise.reject(
      new TrailhoundError(
        'E_STATE_SCHEMA_NEWER',
        `the state store ${backing.name} was written by a newer trailhound (schema ${String(backing.schemaVersion)} > ${String(STATE_SCHEMA_VERSION)}); upgrade or use another --state folder`,
      ),
    );
  }
  const holder = newLockHolder(now(), options.hostId);
  if (options.access === 'shared') return Promise.resolve(new MemoryStateStore(backing, holder, options));
  const current = backing.lock;
  if (judgeLock(current, { nowMs: now(), staleAfterMs: options.lockStaleAfterMs ?? DEFAULT_LOCK_STALE_AFTER_MS, me: holder }) === 'held' && current) {
    return Promise.reject(lockedError(backing.name, current, now()));
  }
  backing.lock = holder;
  registerHeldLock(holder.token);
  return Promise.resolve(new MemoryStateStore(backing, holder, options));
}

class MemoryStateStore implements StateStore {
  readonly location: string;
  readonly schemaVersion = STATE_SCHEMA_VERSION;
  readonly #backing: MemoryStateBacking;
  readonly #token: string;
  readonly #now: () => number;
  readonly #requestRetentionMs: number;
  readonly #options: StateStoreCommonOptions;
  readonly #stopHeartbeat: () => void;
  /** Opened with `access: 'shared'`: no lock; only the writes open to every process are allowed. */
  readonly #isShared: boolean;
  #isClosed = false;
  #isLockLost = false;

  constructor(backing: MemoryStateBacking, holder: LockHolder, options: StateStoreCommonOptions) {
    this.#backing = backing;
    this.location = backing.name;
    this.#token = holder.token;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#requestRetentionMs = options.requestRetentionMs ?? DEFAULT_REQUEST_RETENTION_MS;
    this.#isShared = options.access === 'shared';
    this.#stopHeartbeat = this.#isShared
      ? () => undefined
      : startHeartbeat(
          options.lockHeartbeatMs ?? DEFAULT_LOCK_HEARTBEAT_MS,
          () => {
            const lock = this.#backing.lock;
            if (lock?.token !== this.#token) return false;
            this.#backing.lock = { ...lock, heartbeatMs: this.#now() };
            return true;
          },
          () => this.#loseLock(),
        );
  }

  #loseLock(): TrailhoundError {
    const error = lockLostError(this.location);
    if (!this.#isLockLost) {
      this.#isLockLost = true;
      unregisterHeldLock(this.#token);
      this.#stopHeartbeat();
      this.#options.onLockLost?.(error);
    }
    return error;
  }

  #closedError(what: string): TrailhoundError {
    return new TrailhoundError('E_STATE_CLOSED', `cannot ${what}: the state store ${this.location} is closed`);
  }

  #read<T>(what: string, fn: (data: MemoryStateData) => T): Promise<T> {
    if (this.#isClosed) return Promise.reject(this.#closedError(what));
    try {
      return Promise.resolve(fn(this.#backing.data));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Apply `fn` to a copy; the copy replaces the data only if `fn` returns (all or nothing). On a
   * store opened with `access: 'shared'`, only writes marked `shared` run (E_STATE_SHARED otherwise).
   */
  #write<T>(what: string, fn: (draft: MemoryStateData) => T, access: 'runner' | 'shared' = 'runner'): Promise<T> {
    if (this.#isClosed) return Promise.reject(this.#closedError(what));
    if (this.#isShared && access === 'runner') {
      return Promise.reject(new TrailhoundError(STATE_ERRORS.shared, `cannot ${what}: the state store ${this.location} was opened for shared access (beside a runner); only a runner (watch, serve, scan) can`));
    }
    if (this.#isLockLost) return Promise.reject(lockLostError(this.location));
    try {
      const lock = this.#backing.lock;
      if (!this.#isShared && lock?.token !== this.#token) throw this.#loseLock();
      const draft = copyData(this.#backing.data);
      const result = fn(draft);
      this.#backing.data = draft;
      if (!this.#isShared && lock !== undefined) this.#backing.lock = { ...lock, heartbeatMs: this.#now() };
      return Promise.resolve(result);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #insertObjects(draft: MemoryStateData, objects: readonly DoneObject[]): void {
    const at = this.#now();
    for (const o of objects) {
      const key = objectKey(o.source, o.key, o.etag);
      if (!draft.objects.has(key)) draft.objects.set(key, at);
    }
  }

  #insertRequests(draft: MemoryStateData, ids: readonly string[]): void {
    const at = this.#now();
    for (const id of ids) {
      const previous = draft.requests.get(id)?.expiresMs ?? -Infinity;
      draft.requests.set(id, { doneMs: at, expiresMs: Math.max(previous, at + this.#requestRetentionMs) });
    }
  }

  #insertEventIds(draft: MemoryStateData, ids: readonly SeenEventId[]): void {
    for (const e of ids) draft.eventIds.set(e.id, Math.max(draft.eventIds.get(e.id) ?? -Infinity, e.eventTimeMs));
  }

  #toStored(seq: number, change: LoggedChange): StoredSignalChange {
    const where = `${this.location} signal change ${String(seq)}`;
    if (!isStoredChangeKind(change.kind)) throw new TrailhoundError('E_STATE_READ', `${where}: unknown change kind ${JSON.stringify(change.kind)}`);
    return { seq, kind: change.kind, signal: parseStoredSignal(change.signalJson, where), recordedMs: change.recordedMs, ...(change.triage !== undefined ? { triage: change.triage } : {}) };
  }

  /**
   * Appends changes to the signal log with one pending outbox entry per sink; returns their seqs.
   * The engine's changes (no `triage`) are also filed as stored signals (memory-signal-triage.ts).
   */
  #logChanges(draft: MemoryStateData, changes: readonly { readonly kind: string; readonly signal: Signal; readonly triage?: TriageState }[], sinks: readonly string[]): number[] {
    const at = this.#now();
    const seqs: number[] = [];
    for (const change of changes) {
      const seq = draft.nextSeq++;
      const triage = change.triage ?? fileEmittedSignalInMemory(draft.triage, change.signal, at);
      draft.changes.set(seq, { signalId: change.signal.id, kind: change.kind, signalJson: JSON.stringify(change.signal), recordedMs: at, triage });
      seqs.push(seq);
      for (const sink of sinks) {
        const entries = draft.outbox.get(sink) ?? new Map<number, OutboxState>();
        if (!entries.has(seq)) entries.set(seq, NEW_OUTBOX_STATE);
        draft.outbox.set(sink, entries);
      }
    }
    return seqs;
  }

  /** The outbox entries of `sinks` passing `keep`, oldest first (seq, then sink). */
  #outboxEntries(data: MemoryStateData, sinks: readonly string[], keep: (entry: OutboxState, seq: number) => boolean): OutboxEntry[] {
    const found: { sink: string; seq: number; entry: OutboxState }[] = [];
    for (const sink of sinks) for (const [seq, entry] of data.outbox.get(sink) ?? []) if (keep(entry, seq)) found.push({ sink, seq, entry });
    found.sort((a, b) => a.seq - b.seq || (a.sink < b.sink ? -1 : a.sink > b.sink ? 1 : 0));
    return found.flatMap(({ sink, seq, entry }) => {
      const change = data.changes.get(seq);
      return change ? [{ ...this.#toStored(seq, change), sink, ...entry }] : [];
    });
  }

  dueDeliveries(sink: string, nowMs: number, options?: { readonly limit?: number }): Promise<OutboxEntry[]> {
    return this.#read('list due deliveries', (data) => {
      const due = this.#outboxEntries(data, [sink], (e) => e.state === 'pending' && e.nextAttemptMs <= nowMs);
      return options?.limit === undefined || options.limit < 0 ? due : due.slice(0, options.limit);
    });
  }

  recordDeliveryFailure(sink: string, seqs: readonly number[], failure: DeliveryFailure): Promise<void> {
    return this.#write('record a failed delivery', (draft) => {
      checkSeqs(seqs);
      const next = 'nextAttemptMs' in failure ? failure.nextAttemptMs : 0;
      if (!Number.isFinite(next)) throw new TrailhoundError(STATE_ERRORS.badCheckpoint, 'the next attempt time of a failed delivery must be a finite number');
      const entries = draft.outbox.get(sink);
      for (const seq of new Set(seqs)) {
        const entry = entries?.get(seq);
        if (entries === undefined || entry?.state !== 'pending') continue;
        entries.set(seq, { state: 'isDead' in failure ? 'dead' : 'pending', attempts: entry.attempts + 1, nextAttemptMs: next, lastError: failure.error });
      }
    });
  }

  deadLetters(sink?: string): Promise<OutboxEntry[]> {
    return this.#read('list dead letters', (data) => this.#outboxEntries(data, sink === undefined ? [...data.outbox.keys()] : [sink], (e) => e.state === 'dead'));
  }

  requeueDeadLetters(sink?: string, seqs?: readonly number[]): Promise<number> {
    return this.#write('requeue dead letters', (draft) => {
      if (seqs !== undefined) checkSeqs(seqs);
      const only = seqs === undefined ? undefined : new Set(seqs);
      let count = 0;
      for (const key of sink === undefined ? [...draft.outbox.keys()] : [sink]) {
        const entries = draft.outbox.get(key);
        for (const [seq, entry] of entries ?? []) {
          if (entry.state !== 'dead' || (only !== undefined && !only.has(seq))) continue;
          entries?.set(seq, { ...entry, state: 'pending', attempts: 0, nextAttemptMs: 0 });
          count++;
        }
      }
      return count;
    });
  }

  registerSinks(keys: readonly string[]): Promise<void> {
    return this.#write('register the sinks', (draft) => {
      checkStrings(keys, 'sink keys');
      draft.registeredSinks = [...new Set(keys)];
    });
  }

  registeredSinks(): Promise<string[]> {
    return this.#read('read the registered sinks', (data) => [...data.registeredSinks]);
  }

  isObjectDone(source: string, key: string, etag: string): Promise<boolean> {
    return this.#read('check a done object', (data) => data.objects.has(objectKey(source, key, etag)));
  }

  markObjectsDone(objects: readonly DoneObject[]): Promise<void> {
    return this.#write('mark objects done', (draft) => {
      checkDoneObjects(objects);
      this.#insertObjects(draft, objects);
    });
  }

  isRequestDone(requestId: string): Promise<boolean> {
    return this.#read('check a done request', (data) => (data.requests.get(requestId)?.expiresMs ?? -Infinity) > this.#now());
  }

  markRequestDone(requestId: string): Promise<void> {
    return this.#write('mark a request done', (draft) => {
      checkStrings([requestId], 'request ids');
      this.#insertRequests(draft, [requestId]);
    });
  }

  seenEventIds(ids: readonly string[]): Promise<Set<string>> {
    return this.#read('look up eventIDs', (data) => {
      checkStrings(ids, 'eventIDs');
      return new Set(ids.filter((id) => data.eventIds.has(id)));
    });
  }

  rememberEventIds(ids: readonly string[], eventTimeMs: number): Promise<void> {
    return this.#write('remember eventIDs', (draft) => {
      checkStrings(ids, 'eventIDs');
      checkEventTime(eventTimeMs);
      this.#insertEventIds(
        draft,
        ids.map((id) => ({ id, eventTimeMs })),
      );
    });
  }

  saveEngineState(json: string): Promise<void> {
    return this.#write('save the engine state', (draft) => {
      checkStrings([json], 'the engine state');
      draft.engineState = json;
    });
  }

  loadEngineState(): Promise<string | undefined> {
    return this.#read('load the engine state', (data) => data.engineState);
  }

  loadNewValueHistory(): Promise<NewValueHistory | undefined> {
    return this.#read('load the new-value history', (data) => {
      if (data.newValueHistory === undefined) return undefined;
      const parsed = parseNewValueHistory(JSON.parse(data.newValueHistory));
      if (!parsed.ok) {
        const first = parsed.diagnostics[0];
        throw new TrailhoundError('E_STATE_READ', `the new-value history in ${this.location} is damaged${first ? ` (${formatDiagnostic(first)})` : ''}`);
      }
      return parsed.value;
    });
  }

  saveNewValueHistory(history: NewValueHistory): Promise<void> {
    const json = JSON.stringify(history);
    return this.#write('save the new-value history', (draft) => {
      draft.newValueHistory = json;
    });
  }

  commitCheckpoint(step: CheckpointStep): Promise<CheckpointReceipt> {
    const hook = this.#options.faults?.beforeCheckpointPart;
    return this.#write('commit a checkpoint', (draft) => {
      checkCheckpointStep(step);
      checkIndexedEvents(step.indexedEvents ?? []);
      hook?.('objects');
      this.#insertObjects(draft, step.objectsDone ?? []);
      hook?.('requests');
      this.#insertRequests(draft, step.requestsDone ?? []);
      hook?.('eventIds');
      this.#insertEventIds(draft, step.eventIds ?? []);
      if (step.indexedEvents !== undefined) insertMemoryEvents(draft.eventIndex, step.indexedEvents);
      hook?.('engineState');
      if (step.engineState !== undefined) draft.engineState = step.engineState;
      hook?.('signals');
      const changeSeqs = this.#logChanges(draft, step.emittedSignals ?? [], step.deliverTo ?? []);
      hook?.('commit');
      return { changeSeqs };
    });
  }

  pendingDeliveries(sink: string, options?: { readonly limit?: number }): Promise<PendingDelivery[]> {
    return this.#read('list pending deliveries', (data) => {
      const pending = this.#outboxEntries(data, [sink], (e) => e.state === 'pending');
      const limited = options?.limit === undefined || options.limit < 0 ? pending : pending.slice(0, options.limit);
      return limited.map(({ seq, kind, signal, recordedMs, triage }) => ({ seq, kind, signal, recordedMs, sink, ...(triage !== undefined ? { triage } : {}) }));
    });
  }

  markDelivered(sink: string, seqs: readonly number[]): Promise<void> {
    return this.#write('mark deliveries done', (draft) => {
      checkSeqs(seqs);
      const pending = draft.outbox.get(sink);
      if (!pending) return;
      for (const seq of seqs) pending.delete(seq);
      if (pending.size === 0) draft.outbox.delete(sink);
    });
  }

  signalHistory(signalId: string): Promise<StoredSignalChange[]> {
    return this.#read('read a signal history', (data) =>
      [...data.changes]
        .filter(([, change]) => change.signalId === signalId)
        .sort(([a], [b]) => a - b)
        .map(([seq, change]) => this.#toStored(seq, change)),
    );
  }

  prune(horizons: PruneHorizons): Promise<PruneCounts> {
    return this.#write('prune', (draft) => {
      const { eventTimeBeforeMs: events, requestsExpiredAtMs: requests, objectsDoneBeforeMs: objects, signalChangesBeforeMs: changes } = horizons;
      const counts = { eventIds: 0, requests: 0, objects: 0, signalChanges: 0, indexedEvents: 0 };
      if (horizons.indexedEventsBeforeMs !== undefined) counts.indexedEvents = pruneMemoryEvents(draft.eventIndex, horizons.indexedEventsBeforeMs);
      if (events !== undefined) {
        for (const [id, time] of draft.eventIds) if (time < events && draft.eventIds.delete(id)) counts.eventIds++;
      }
      if (requests !== undefined) {
        for (const [id, r] of draft.requests) if (r.expiresMs <= requests && draft.requests.delete(id)) counts.requests++;
      }
      if (objects !== undefined) {
        for (const [key, doneMs] of draft.objects) if (doneMs < objects && draft.objects.delete(key)) counts.objects++;
      }
      if (changes !== undefined) {
        const pending = new Set([...draft.outbox.values()].flatMap((entries) => [...entries.keys()]));
        for (const [seq, c] of draft.changes) if (c.recordedMs < changes && !pending.has(seq) && draft.changes.delete(seq)) counts.signalChanges++;
      }
      return counts;
    });
  }

  // The event index (event-index.ts, memory-event-index.ts): writes are the runner's.

  indexEvents(events: readonly IndexedEvent[]): Promise<number> {
    return this.#write('index events', (draft) => insertMemoryEvents(draft.eventIndex, events));
  }

  queryEvents(query: EventQuery): Promise<StoredEvent[]> {
    return this.#read('query indexed events', (data) => queryMemoryEvents(data.eventIndex, query));
  }

  summarizeEvents(query: EventPivots & EventWindow): Promise<EventSummary> {
    return this.#read('summarise indexed events', (data) => summarizeMemoryEvents(data.eventIndex, query));
  }

  actorHistory(actor: HistoryActor, beforeMs: number): Promise<ActorHistory> {
    return this.#read('read an actor history', (data) => memoryActorHistory(data.eventIndex, actor, beforeMs));
  }

  indexedTimeRange(): Promise<IndexedTimeRange> {
    return this.#read('read the indexed time range', (data) => memoryTimeRange(data.eventIndex));
  }

  pruneEvents(beforeEventTimeMs: number): Promise<number> {
    return this.#write('prune indexed events', (draft) => pruneMemoryEvents(draft.eventIndex, beforeEventTimeMs));
  }

  // Signal triage (signal-triage.ts, memory-signal-triage.ts): writes open to shared access.

  listSignals(filter: SignalFilter = {}): Promise<StoredSignal[]> {
    return this.#read('list signals', (data) => {
      checkSignalFilter(filter);
      return listSignalsInMemory(data.triage, filter, this.location);
    });
  }

  getSignal(id: string): Promise<SignalDetail | undefined> {
    return this.#read('read a signal', (data) => {
      const stored = storedSignalInMemory(data.triage, id, this.location);
      if (stored === undefined) return undefined;
      const history = [...data.changes].filter(([, c]) => c.signalId === id).sort(([a], [b]) => a - b);
      const seqs = new Set(history.map(([seq]) => seq));
      const deliveries = this.#outboxEntries(data, [...data.outbox.keys()], (_entry, seq) => seqs.has(seq)).map((e) => ({ sink: e.sink, seq: e.seq, state: e.state, attempts: e.attempts, lastError: e.lastError }));
      return { ...stored, history: history.map(([seq, c]) => this.#toStored(seq, c)), triage: triageLogInMemory(data.triage, id), deliveries };
    });
  }

  findSignalIds(prefix: string, options?: { readonly limit?: number }): Promise<string[]> {
    return this.#read('find signal ids', (data) => findSignalIdsInMemory(data.triage, prefix, options?.limit ?? 10));
  }

  updateTriage(id: string, change: TriageChange): Promise<StoredSignal> {
    return this.#write(
      "change a signal's triage",
      (draft) => {
        const { stored, plan } = applyTriageChangeInMemory(draft.triage, id, change, this.#now(), this.location);
        if (plan.emit !== undefined) this.#logChanges(draft, [{ kind: plan.emit, signal: stored.signal, triage: plan.state }], draft.registeredSinks);
        return stored;
      },
      'shared',
    );
  }

  addNote(id: string, actor: string, note: string): Promise<void> {
    return this.#write('add a note to a signal', (draft) => addNoteInMemory(draft.triage, id, actor, note, this.#now(), this.location), 'shared');
  }

  close(): Promise<void> {
    if (this.#isClosed) return Promise.resolve();
    this.#isClosed = true;
    this.#stopHeartbeat();
    unregisterHeldLock(this.#token);
    if (!this.#isShared && this.#backing.lock?.token === this.#token) this.#backing.lock = undefined;
    return Promise.resolve();
  }
}
