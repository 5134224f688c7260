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
import { DEFAULT_LOCK_HEARTBEAT_MS, DEFAULT_LOCK_STALE_AFTER_MS, DEFAULT_REQUEST_RETENTION_MS, STATE_SCHEMA_VERSION } from './state-store.js';
import type { CheckpointReceipt, CheckpointStep, DoneObject, PendingDelivery, PruneCounts, PruneHorizons, SeenEventId, StateStore, StateStoreCommonOptions, StoredSignalChange } from './state-store.js';
import { isSignalChangeKind, parseStoredSignal } from './stored-signal.js';

interface LoggedChange {
  readonly signalId: string;
  readonly kind: string;
  readonly signalJson: string;
  readonly recordedMs: number;
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
  /** sink → pending seqs */
  readonly outbox: Map<string, Set<number>>;
}

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
    data: { objects: new Map(), requests: new Map(), eventIds: new Map(), engineState: undefined, newValueHistory: undefined, changes: new Map(), nextSeq: 1, outbox: new Map() },
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
    outbox: new Map([...data.outbox].map(([sink, seqs]) => [sink, new Set(seqs)])),
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
  #isClosed = false;
  #isLockLost = false;

  constructor(backing: MemoryStateBacking, holder: LockHolder, options: StateStoreCommonOptions) {
    this.#backing = backing;
    this.location = backing.name;
    this.#token = holder.token;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#requestRetentionMs = options.requestRetentionMs ?? DEFAULT_REQUEST_RETENTION_MS;
    this.#stopHeartbeat = startHeartbeat(
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

  /** Apply `fn` to a copy; the copy replaces the data only if `fn` returns (all or nothing). */
  #write<T>(what: string, fn: (draft: MemoryStateData) => T): Promise<T> {
    if (this.#isClosed) return Promise.reject(this.#closedError(what));
    if (this.#isLockLost) return Promise.reject(lockLostError(this.location));
    try {
      const lock = this.#backing.lock;
      if (lock?.token !== this.#token) throw this.#loseLock();
      const draft = copyData(this.#backing.data);
      const result = fn(draft);
      this.#backing.data = draft;
      this.#backing.lock = { ...lock, heartbeatMs: this.#now() };
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
    if (!isSignalChangeKind(change.kind)) throw new TrailhoundError('E_STATE_READ', `${where}: unknown change kind ${JSON.stringify(change.kind)}`);
    return { seq, kind: change.kind, signal: parseStoredSignal(change.signalJson, where), recordedMs: change.recordedMs };
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
      hook?.('objects');
      this.#insertObjects(draft, step.objectsDone ?? []);
      hook?.('requests');
      this.#insertRequests(draft, step.requestsDone ?? []);
      hook?.('eventIds');
      this.#insertEventIds(draft, step.eventIds ?? []);
      hook?.('engineState');
      if (step.engineState !== undefined) draft.engineState = step.engineState;
      hook?.('signals');
      const at = this.#now();
      const changeSeqs: number[] = [];
      for (const change of step.emittedSignals ?? []) {
        const seq = draft.nextSeq++;
        draft.changes.set(seq, { signalId: change.signal.id, kind: change.kind, signalJson: JSON.stringify(change.signal), recordedMs: at });
        changeSeqs.push(seq);
        for (const sink of step.deliverTo ?? []) {
          const pending = draft.outbox.get(sink) ?? new Set<number>();
          pending.add(seq);
          draft.outbox.set(sink, pending);
        }
      }
      hook?.('commit');
      return { changeSeqs };
    });
  }

  pendingDeliveries(sink: string, options?: { readonly limit?: number }): Promise<PendingDelivery[]> {
    return this.#read('list pending deliveries', (data) => {
      const seqs = [...(data.outbox.get(sink) ?? [])].sort((a, b) => a - b);
      const limited = options?.limit === undefined || options.limit < 0 ? seqs : seqs.slice(0, options.limit);
      return limited.flatMap((seq) => {
        const change = data.changes.get(seq);
        return change ? [{ ...this.#toStored(seq, change), sink }] : [];
      });
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
      const counts = { eventIds: 0, requests: 0, objects: 0, signalChanges: 0 };
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
        const pending = new Set([...draft.outbox.values()].flatMap((seqs) => [...seqs]));
        for (const [seq, c] of draft.changes) if (c.recordedMs < changes && !pending.has(seq) && draft.changes.delete(seq)) counts.signalChanges++;
      }
      return counts;
    });
  }

  close(): Promise<void> {
    if (this.#isClosed) return Promise.resolve();
    this.#isClosed = true;
    this.#stopHeartbeat();
    unregisterHeldLock(this.#token);
    if (this.#backing.lock?.token === this.#token) this.#backing.lock = undefined;
    return Promise.resolve();
  }
}
