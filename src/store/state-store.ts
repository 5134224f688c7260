/**
 * The state store: everything a live run (`trailhound watch`, `trailhound serve`) or `scan --state DIR`
 * must keep across a restart or a `kill -9` — which objects and Firehose requests are done, the recent
 * eventIDs, the engine's serialised state, what new_value rules learned, and the signal log with its
 * delivery outbox. docs/state.md describes the checkpoint protocol built on it.
 *
 * Every method is async so that a PostgreSQL implementation fits the same interface; the SQLite one
 * (sqlite-state-store.ts) and the in-memory one (memory-state-store.ts) pass the same conformance
 * suite (test/conformance/state-store.ts).
 */
import type { Signal } from '../core/types.js';
import type { SignalChange } from '../engine/types.js';
import type { NewValueHistory } from '../engine/new-value.js';
import type { NewValueHistoryStore } from './new-value-history.js';
import type { SignalTriageStore, TriageState } from './signal-triage.js';
import type { EventIndexStore, IndexedEvent } from './event-index.js';

/** The schema version this binary writes; a store with a higher one is refused (E_STATE_SCHEMA_NEWER). */
export const STATE_SCHEMA_VERSION = 4;

/** Thrown error codes (TrailhoundError.code). */
export const STATE_ERRORS = {
  /** The store was written by a newer trailhound. */
  schemaNewer: 'E_STATE_SCHEMA_NEWER',
  /** Another live process holds the store's lock. */
  locked: 'E_STATE_LOCKED',
  /** Another process took the lock over (ours went stale): this process must stop writing. */
  lockLost: 'E_STATE_LOCK_LOST',
  /** The store cannot be read, is damaged, or is not a trailhound state store. */
  read: 'E_STATE_READ',
  /** A write failed (disk full, permissions…); nothing of it was kept. */
  write: 'E_STATE_WRITE',
  /** A method was called after `close()`. */
  closed: 'E_STATE_CLOSED',
  /** A checkpoint argument is malformed (a programming error of the caller). */
  badCheckpoint: 'E_STATE_CHECKPOINT',
  /** A runner's write (checkpoint, engine state…) on a store opened with `access: 'shared'`. */
  shared: 'E_STATE_SHARED',
} as const;

/** An input object that was processed completely (an S3 object, a local file). */
export interface DoneObject {
  /** Where it came from: `s3://bucket`, a watched folder, … — the namespace of `key`. */
  readonly source: string;
  readonly key: string;
  /** Its content version (S3 ETag, or size+mtime for a file): the same key with new content is a new object. */
  readonly etag: string;
}

/** An eventID with the event time it was seen at, which decides when it is forgotten. */
export interface SeenEventId {
  readonly id: string;
  readonly eventTimeMs: number;
}

/**
 * Everything one processing step changed, written atomically by `commitCheckpoint`: either all of
 * it is in the store afterwards, or none of it (crash, error, lost lock).
 */
export interface CheckpointStep {
  readonly objectsDone?: readonly DoneObject[];
  /** Firehose request ids processed in this step; each is remembered for `requestRetentionMs`. */
  readonly requestsDone?: readonly string[];
  readonly eventIds?: readonly SeenEventId[];
  /** The engine's serialised state after the step (`JSON.stringify(engine.snapshot())`), replacing the previous one. */
  readonly engineState?: string;
  /** The signal changes the step produced, in emission order: appended to the signal log. */
  readonly emittedSignals?: readonly SignalChange[];
  /**
   * The sinks that must deliver `emittedSignals`: one outbox entry per (sink, change), pending until
   * `markDelivered`. Empty or absent: the changes are only logged.
   */
  readonly deliverTo?: readonly string[];
  /** The step's records for the event index (`trailhound investigate`), written in the same transaction; idempotent on eventId. */
  readonly indexedEvents?: readonly IndexedEvent[];
}

export interface CheckpointReceipt {
  /** The signal-log sequence numbers given to `emittedSignals`, in the same order (increasing). */
  readonly changeSeqs: readonly number[];
}

/**
 * The kinds of change in the signal log: the engine's `created` and `updated`, and `closed` when an
 * analyst resolves or suppresses a signal (signal-triage.ts; reopening logs an `updated`).
 */
export type StoredChangeKind = SignalChange['kind'] | 'closed';

/** One signal change as kept in the signal log. */
export interface StoredSignalChange {
  /** Position in the log: increasing across the store's life, never reused. */
  readonly seq: number;
  readonly kind: StoredChangeKind;
  readonly signal: Signal;
  /** Wall-clock time of the checkpoint (or triage change) that recorded it. */
  readonly recordedMs: number;
  /** The signal's triage state when the change was recorded (absent on changes logged before schema 3). */
  readonly triage?: TriageState;
}

/** An outbox entry: a logged change a sink has not confirmed yet. */
export interface PendingDelivery extends StoredSignalChange {
  readonly sink: string;
}

/** An outbox entry with its delivery state (the delivery runner's view, src/pipeline/outbox-delivery.ts). */
export interface OutboxEntry extends PendingDelivery {
  /** Failed delivery attempts so far. */
  readonly attempts: number;
  /** Not to be tried before this (wall clock, epoch ms); 0 when never tried. */
  readonly nextAttemptMs: number;
  /** What the last failed attempt said. */
  readonly lastError: string | null;
  /** `dead`: given up after the attempt limit (or a permanent refusal); kept until requeued. */
  readonly state: 'pending' | 'dead';
}

/** The outcome of a failed delivery attempt: try again later, or give up (dead letter). */
export type DeliveryFailure = { readonly error: string; readonly nextAttemptMs: number } | { readonly error: string; readonly isDead: true };

/**
 * Delivery with retries: the outbox seen by the delivery runner of network sinks (webhook, Slack,
 * PagerDuty, Security Hub). `pendingDeliveries` and `markDelivered` stay the basic protocol.
 */
export interface DeliveryOutboxStore {
  /** The sink's pending entries due at `nowMs` (next attempt at or before it), oldest first (at most `limit`). */
  dueDeliveries(sink: string, nowMs: number, options?: { readonly limit?: number }): Promise<OutboxEntry[]>;
  /** One more failed attempt on each of `seqs` (pending entries of `sink`): retry at `nextAttemptMs`, or dead. */
  recordDeliveryFailure(sink: string, seqs: readonly number[], failure: DeliveryFailure): Promise<void>;
  /** Dead entries (of one sink, or all), oldest first. */
  deadLetters(sink?: string): Promise<OutboxEntry[]>;
  /** Dead entries (of one sink or all; only `seqs` when given) back to pending, due now, attempts reset. Returns how many. */
  requeueDeadLetters(sink?: string, seqs?: readonly number[]): Promise<number>;
  /** Remembers the live runner's sinks (replacing the previous list): later closed signals are queued for them. */
  registerSinks(keys: readonly string[]): Promise<void>;
  registeredSinks(): Promise<string[]>;
}

/** What `prune` forgets; every horizon is optional and a missing one prunes nothing of its kind. */
export interface PruneHorizons {
  /** Forget eventIDs whose event time is before this (epoch ms; typically newest event time − dedup horizon). */
  readonly eventTimeBeforeMs?: number;
  /** Forget Firehose requests whose retention ended at or before this (wall clock, epoch ms). */
  readonly requestsExpiredAtMs?: number;
  /** Forget objects marked done before this (wall clock, epoch ms): keep longer than any listing looks back. */
  readonly objectsDoneBeforeMs?: number;
  /** Forget logged signal changes recorded before this (wall clock), except those still pending delivery. */
  readonly signalChangesBeforeMs?: number;
  /** Forget indexed events whose event time is before this (epoch ms; typically newest event time − the `--retain` period). */
  readonly indexedEventsBeforeMs?: number;
}

export interface PruneCounts {
  readonly eventIds: number;
  readonly requests: number;
  readonly objects: number;
  readonly signalChanges: number;
  readonly indexedEvents: number;
}

/** Where a checkpoint is when a fault hook runs (tests): each part is written in this order. */
export const CHECKPOINT_PARTS = ['objects', 'requests', 'eventIds', 'engineState', 'signals', 'commit'] as const;
export type CheckpointPart = (typeof CHECKPOINT_PARTS)[number];

/** Options every implementation takes (beyond where the store lives). Times in epoch milliseconds. */
export interface StateStoreCommonOptions {
  /** Wall clock (default Date.now): request retention, lock heartbeats, `recordedMs`. Never event time. */
  readonly now?: () => number;
  /** How long a done Firehose request id is remembered (default 24 h; Firehose retries for at most 2 h). */
  readonly requestRetentionMs?: number;
  /** How often the lock holder refreshes its heartbeat (default 5 s). */
  readonly lockHeartbeatMs?: number;
  /** A holder whose heartbeat is older than this may be taken over (default 30 s). */
  readonly lockStaleAfterMs?: number;
  /** Called once if the lock is found taken over by another process; every later write then fails. */
  readonly onLockLost?: (error: Error) => void;
  /** Identity of this machine in the lock (default: host name and boot id). Tests set another one. */
  readonly hostId?: string;
  /**
   * `runner` (default): the single-writer lock is taken (E_STATE_LOCKED while another runner holds
   * it). `shared`: for commands that read the store or change triage while a runner may hold it
   * (`trailhound signals`, `investigate`, `respond`): no lock; schema checks and migrations still
   * run; the runner's own writes (checkpoints, engine state…) are refused with E_STATE_SHARED.
   */
  readonly access?: 'runner' | 'shared';
  /** Tests only: called before each part of a checkpoint is written; throwing aborts the checkpoint. */
  readonly faults?: { readonly beforeCheckpointPart?: (part: CheckpointPart) => void };
}

export const DEFAULT_REQUEST_RETENTION_MS = 24 * 3_600_000;
export const DEFAULT_LOCK_HEARTBEAT_MS = 5_000;
export const DEFAULT_LOCK_STALE_AFTER_MS = 30_000;

export interface StateStore extends DeliveryOutboxStore, SignalTriageStore, EventIndexStore {
  /** Where the store lives (a file path, `memory:`…), for messages. */
  readonly location: string;
  /** The schema version the store is at (STATE_SCHEMA_VERSION once opened by this binary). */
  readonly schemaVersion: number;

  isObjectDone(source: string, key: string, etag: string): Promise<boolean>;
  /** Idempotent. */
  markObjectsDone(objects: readonly DoneObject[]): Promise<void>;

  /** True while the request id is remembered (marked done less than `requestRetentionMs` ago). */
  isRequestDone(requestId: string): Promise<boolean>;
  /** Idempotent; a repeat extends the retention. */
  markRequestDone(requestId: string): Promise<void>;

  /** The subset of `ids` remembered (and not pruned). */
  seenEventIds(ids: readonly string[]): Promise<Set<string>>;
  /** Idempotent; an id remembered again keeps the later event time. */
  rememberEventIds(ids: readonly string[], eventTimeMs: number): Promise<void>;

  /** Replace the saved engine state (opaque JSON text; the engine's `parseEngineState` checks it on load). */
  saveEngineState(json: string): Promise<void>;
  loadEngineState(): Promise<string | undefined>;

  /** What new_value rules learned (checked on load: E_STATE_READ when damaged). */
  loadNewValueHistory(): Promise<NewValueHistory | undefined>;
  saveNewValueHistory(history: NewValueHistory): Promise<void>;

  /** Write one processing step atomically (see CheckpointStep). */
  commitCheckpoint(step: CheckpointStep): Promise<CheckpointReceipt>;
  /** The sink's undelivered changes, oldest first (at most `limit`, default all). */
  pendingDeliveries(sink: string, options?: { readonly limit?: number }): Promise<PendingDelivery[]>;
  /** The sink confirmed these changes (durably): drop their outbox entries. Idempotent. */
  markDelivered(sink: string, seqs: readonly number[]): Promise<void>;
  /** Every logged change of one signal, oldest first (investigation, tests). */
  signalHistory(signalId: string): Promise<StoredSignalChange[]>;

  prune(horizons: PruneHorizons): Promise<PruneCounts>;
  /** Release the lock and close. Idempotent; every other method rejects afterwards (E_STATE_CLOSED). */
  close(): Promise<void>;
}

/** The store's new-value history behind the interface `runScan` takes (`scan --state DIR`). */
export function newValueHistoryStoreOf(store: StateStore): NewValueHistoryStore {
  return {
    load: () => store.loadNewValueHistory(),
    save: (history) => store.saveNewValueHistory(history),
  };
}
