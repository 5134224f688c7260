/**
 * The state store in one SQLite file, `DIR/trailhound.db` (better-sqlite3 12.x), for `--state DIR`.
 *
 * - WAL journal, `synchronous = FULL`: a transaction is on disk (the WAL fsynced) when its commit
 *   returns. A checkpoint is what lets the caller delete an SQS message or answer a Firehose request,
 *   after which the input is gone for good; with NORMAL a power cut could roll back commits that were
 *   already acknowledged upstream, losing their records. FULL costs one fsync per checkpoint (per
 *   processed object or request, not per event).
 * - Schema migrations (sqlite-migrations.ts) run on open, under the lock; a newer schema is refused.
 * - A single-writer lock row with a heartbeat (lock.ts), checked inside every write transaction.
 * - `DIR/new-value-history.json` from earlier `scan --state` runs is imported once, then renamed
 *   `new-value-history.json.imported`.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { TrailhoundError } from '../core/errors.js';
import type { SignalChange } from '../engine/types.js';
import { parseNewValueHistory } from '../engine/new-value.js';
import type { NewValueHistory } from '../engine/new-value.js';
import { formatDiagnostic } from '../core/types.js';
import type { Signal } from '../core/types.js';
import { checkCheckpointStep, checkDoneObjects, checkEventTime, checkSeqs, checkStrings } from './checkpoint-check.js';
import { judgeLock, lockedError, lockLostError, newLockHolder, registerHeldLock, startHeartbeat, unregisterHeldLock } from './lock.js';
import type { LockHolder } from './lock.js';
import { NEW_VALUE_HISTORY_FILE, fileNewValueHistoryStore } from './new-value-history.js';
import { LOCK_TABLE_SQL, SQLITE_APPLICATION_ID, runMigrations, schemaVersionOf } from './sqlite-migrations.js';
import { DEFAULT_LOCK_HEARTBEAT_MS, DEFAULT_LOCK_STALE_AFTER_MS, DEFAULT_REQUEST_RETENTION_MS, STATE_ERRORS, STATE_SCHEMA_VERSION } from './state-store.js';
import type { CheckpointPart, CheckpointReceipt, CheckpointStep, DeliveryFailure, DoneObject, OutboxEntry, PendingDelivery, PruneCounts, PruneHorizons, SeenEventId, StateStore, StateStoreCommonOptions, StoredChangeKind, StoredSignalChange } from './state-store.js';
import { cachedStatements } from './sqlite-statements.js';
import type { PrepareStatement } from './sqlite-statements.js';
import { isStoredChangeKind, parseStoredSignal } from './stored-signal.js';
import { addSignalNote, applyTriageChange, deliveriesOf, fileEmittedSignal, findSignalIds, getStoredSignal, listSignals, parseChangeTriage, triageLog } from './sqlite-signal-triage.js';
import { checkSignalFilter } from './signal-triage.js';
import type { ActorHistory, EventPivots, EventQuery, EventSummary, EventWindow, HistoryActor, IndexedEvent, IndexedTimeRange, StoredEvent } from './event-index.js';
import { checkIndexedEvents } from './event-index-support.js';
import { SqliteEventIndex } from './sqlite-event-index.js';
import type { SignalDetail, SignalFilter, StoredSignal, TriageChange, TriageState } from './signal-triage.js';

/** The database file inside the state folder. */
export const STATE_DB_FILE = 'trailhound.db';

/** The meta key recording that the legacy new-value-history.json was imported. */
const LEGACY_IMPORT_KEY = 'imported:new-value-history.json';

export interface SqliteStateStoreOptions extends StateStoreCommonOptions {
  /** The state folder (created if missing); the database is `dir/trailhound.db`. */
  readonly dir: string;
  /** How long to wait for another connection's write transaction (default 5000 ms). */
  readonly busyTimeoutMs?: number;
  /** Tests only: migrate no further than this version (the store an older binary leaves). */
  readonly schemaVersion?: number;
}

type Db = Database.Database;

interface LockRow {
  token: string;
  host_id: string;
  pid: number;
  acquired_ms: number;
  heartbeat_ms: number;
}

interface ChangeRow {
  seq: number;
  kind: string;
  signal_json: string;
  recorded_ms: number;
  /** Schema 3; absent from the rows of queries that do not select it. */
  triage_json?: string | null;
}

/** A change logged by a triage change (closed, or updated on reopen), with the triage state after it. */
interface LoggedTriageChange {
  readonly kind: StoredChangeKind;
  readonly signal: Signal;
  readonly triage: TriageState;
}

interface OutboxRow extends ChangeRow {
  sink: string;
  attempts: number;
  next_attempt_ms: number;
  last_error: string | null;
  state: string;
}

/** The meta key holding the live runner's sinks (registerSinks). */
const REGISTERED_SINKS_KEY = 'registered-sinks';

const OUTBOX_COLUMNS = 'o.sink, c.seq, c.kind, c.signal_json, c.recorded_ms, c.triage_json, o.attempts, o.next_attempt_ms, o.last_error, o.state';

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sqliteCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

function readLockRow(db: Db): LockHolder | undefined {
  const row = db.prepare<[], LockRow>('SELECT token, host_id, pid, acquired_ms, heartbeat_ms FROM runner_lock WHERE id = 1').get();
  return row ? { token: row.token, hostId: row.host_id, pid: row.pid, acquiredMs: row.acquired_ms, heartbeatMs: row.heartbeat_ms } : undefined;
}

/**
 * Open (creating if needed) the state store in `options.dir`. Throws TrailhoundError:
 * E_STATE_SCHEMA_NEWER, E_STATE_LOCKED, E_STATE_READ (not a trailhound database, damaged, or a
 * damaged legacy new-value-history.json), E_STATE_WRITE (the folder cannot be created).
 */
export async function openSqliteStateStore(options: SqliteStateStoreOptions): Promise<StateStore> {
  const now = options.now ?? Date.now;
  const path = join(options.dir, STATE_DB_FILE);
  try {
    await mkdir(options.dir, { recursive: true });
  } catch (error) {
    throw new TrailhoundError('E_STATE_WRITE', `cannot create the state folder ${options.dir}: ${messageOf(error)}`, { cause: error });
  }

  let db: Db;
  try {
    db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
  } catch (error) {
    throw new TrailhoundError('E_STATE_READ', `cannot open the state store ${path}: ${messageOf(error)}`, { cause: error });
  }

  const holder = newLockHolder(now(), options.hostId);
  const isShared = options.access === 'shared';
  let isLockTaken = false;
  // Once the store object exists, it owns the connection, the lock and the heartbeat: its close() releases them.
  let isHandedOver = false;
  try {
    // Refuse a file that is not ours before changing anything in it (even its journal mode).
    const isOurs = (): boolean => {
      const applicationId: unknown = db.pragma('application_id', { simple: true });
      if (applicationId === SQLITE_APPLICATION_ID) return true;
      const objects = db.prepare<[], number>('SELECT count(*) FROM sqlite_schema').pluck().get() ?? 0;
      if (applicationId !== 0 || objects > 0) {
        throw new TrailhoundError('E_STATE_READ', `${path} is an SQLite database but not a trailhound state store; move it away or use another --state folder`);
      }
      return false; // a new, empty file
    };
    try {
      isOurs();
    } catch (error) {
      if (sqliteCode(error) === 'SQLITE_NOTADB') {
        throw new TrailhoundError('E_STATE_READ', `${path} is not an SQLite database (or is damaged); move it away or use another --state folder`, { cause: error });
      }
      throw error;
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.transaction(() => {
      if (!isOurs()) db.pragma(`application_id = ${String(SQLITE_APPLICATION_ID)}`);
      const version = schemaVersionOf(db);
      if (version > STATE_SCHEMA_VERSION) {
        throw new TrailhoundError(
          'E_STATE_SCHEMA_NEWER',
          `the state store ${path} was written by a newer trailhound (schema ${String(version)} > ${String(STATE_SCHEMA_VERSION)}); upgrade or use another --state folder`,
        );
      }
      db.exec(LOCK_TABLE_SQL);
      if (isShared) return; // no lock: triage and reads beside a runner (WAL; writes wait on busy_timeout)
      const current = readLockRow(db);
      const verdict = judgeLock(current, { nowMs: now(), staleAfterMs: options.lockStaleAfterMs ?? DEFAULT_LOCK_STALE_AFTER_MS, me: holder });
      if (verdict === 'held' && current) throw lockedError(path, current, now());
      db.prepare('INSERT OR REPLACE INTO runner_lock (id, token, host_id, pid, acquired_ms, heartbeat_ms) VALUES (1, ?, ?, ?, ?, ?)').run(holder.token, holder.hostId, holder.pid, now(), now());
    }).immediate();
    if (!isShared) {
      isLockTaken = true;
      registerHeldLock(holder.token);
    }
    const reached = runMigrations(db, Math.min(options.schemaVersion ?? STATE_SCHEMA_VERSION, STATE_SCHEMA_VERSION));
    const store = new SqliteStateStore(db, path, reached, holder, options);
    isHandedOver = true;
    try {
      if (!isShared) await store.importLegacyHistory(options.dir);
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  } catch (error) {
    if (isHandedOver) throw error;
    if (isLockTaken) {
      unregisterHeldLock(holder.token);
      try {
        db.prepare('DELETE FROM runner_lock WHERE token = ?').run(holder.token);
      } catch {
        // The next opener on this machine sees our pid gone and takes the lock over.
      }
    }
    db.close();
    if (error instanceof TrailhoundError) throw error;
    throw new TrailhoundError('E_STATE_READ', `cannot open the state store ${path}: ${messageOf(error)}`, { cause: error });
  }
}

class SqliteStateStore implements StateStore {
  readonly location: string;
  readonly schemaVersion: number;
  readonly #db: Db;
  readonly #holder: LockHolder;
  readonly #now: () => number;
  readonly #requestRetentionMs: number;
  readonly #options: SqliteStateStoreOptions;
  readonly #stopHeartbeat: () => void;
  /** Opened with `access: 'shared'`: no lock; only the writes open to every process are allowed. */
  readonly #isShared: boolean;
  /** Every statement of this connection, prepared once (shared with the event index). */
  readonly #prepare: PrepareStatement;
  readonly #events: SqliteEventIndex;
  #isClosed = false;
  #isLockLost = false;

  constructor(db: Db, location: string, schemaVersion: number, holder: LockHolder, options: SqliteStateStoreOptions) {
    this.#db = db;
    this.#prepare = cachedStatements(db);
    this.#events = new SqliteEventIndex(db, this.#prepare);
    this.location = location;
    this.schemaVersion = schemaVersion;
    this.#holder = holder;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#requestRetentionMs = options.requestRetentionMs ?? DEFAULT_REQUEST_RETENTION_MS;
    this.#isShared = options.access === 'shared';
    this.#stopHeartbeat = this.#isShared
      ? () => undefined
      : startHeartbeat(
          options.lockHeartbeatMs ?? DEFAULT_LOCK_HEARTBEAT_MS,
          () => this.#db.transaction(() => this.#isLockOurs() && this.#prepare('UPDATE runner_lock SET heartbeat_ms = ? WHERE id = 1').run(this.#now()).changes === 1).immediate(),
          () => this.#loseLock(),
        );
  }


  #isLockOurs(): boolean {
    const token: unknown = this.#prepare('SELECT token FROM runner_lock WHERE id = 1').pluck().get();
    return token === this.#holder.token;
  }

  #loseLock(): TrailhoundError {
    const error = lockLostError(this.location);
    if (!this.#isLockLost) {
      this.#isLockLost = true;
      unregisterHeldLock(this.#holder.token);
      this.#stopHeartbeat();
      this.#options.onLockLost?.(error);
    }
    return error;
  }

  #read<T>(what: string, fn: () => T): Promise<T> {
    if (this.#isClosed) return Promise.reject(new TrailhoundError('E_STATE_CLOSED', `cannot ${what}: the state store ${this.location} is closed`));
    try {
      return Promise.resolve(fn());
    } catch (error) {
      if (error instanceof TrailhoundError) return Promise.reject(error);
      return Promise.reject(new TrailhoundError('E_STATE_READ', `cannot ${what} in the state store ${this.location}: ${messageOf(error)}`, { cause: error }));
    }
  }

  /**
   * One fenced write transaction: the lock is checked (and its heartbeat refreshed) first. On a
   * store opened with `access: 'shared'`, only writes marked `shared` run (unfenced: they hold no
   * runner state); the others are refused with E_STATE_SHARED.
   */
  #write<T>(what: string, fn: () => T, access: 'runner' | 'shared' = 'runner'): Promise<T> {
    if (this.#isClosed) return Promise.reject(new TrailhoundError('E_STATE_CLOSED', `cannot ${what}: the state store ${this.location} is closed`));
    if (this.#isShared && access === 'runner') {
      return Promise.reject(new TrailhoundError(STATE_ERRORS.shared, `cannot ${what}: the state store ${this.location} was opened for shared access (beside a runner); only a runner (watch, serve, scan) can`));
    }
    if (this.#isLockLost) return Promise.reject(lockLostError(this.location));
    try {
      const result = this.#db
        .transaction(() => {
          if (!this.#isShared) {
            if (!this.#isLockOurs()) throw this.#loseLock();
            this.#prepare('UPDATE runner_lock SET heartbeat_ms = ? WHERE id = 1').run(this.#now());
          }
          return fn();
        })
        .immediate();
      return Promise.resolve(result);
    } catch (error) {
      if (error instanceof TrailhoundError) return Promise.reject(error);
      return Promise.reject(new TrailhoundError('E_STATE_WRITE', `cannot ${what} in the state store ${this.location}: ${messageOf(error)}; nothing of it was kept`, { cause: error }));
    }
  }

  #hook(part: CheckpointPart): void {
    this.#options.faults?.beforeCheckpointPart?.(part);
  }

  #insertObjects(objects: readonly DoneObject[]): void {
    const insert = this.#prepare('INSERT INTO objects_done (source, object_key, etag, done_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING');
    const at = this.#now();
    for (const o of objects) insert.run(o.source, o.key, o.etag, at);
  }

  #insertRequests(ids: readonly string[]): void {
    const insert = this.#prepare(
      'INSERT INTO requests_done (request_id, done_ms, expires_ms) VALUES (?, ?, ?) ON CONFLICT (request_id) DO UPDATE SET done_ms = excluded.done_ms, expires_ms = max(expires_ms, excluded.expires_ms)',
    );
    const at = this.#now();
    for (const id of ids) insert.run(id, at, at + this.#requestRetentionMs);
  }

  #insertEventIds(ids: readonly SeenEventId[]): void {
    const insert = this.#prepare('INSERT INTO event_ids (event_id, event_time_ms) VALUES (?, ?) ON CONFLICT (event_id) DO UPDATE SET event_time_ms = max(event_time_ms, excluded.event_time_ms)');
    for (const e of ids) insert.run(e.id, e.eventTimeMs);
  }

  #saveEngineState(json: string): void {
    this.#prepare('INSERT INTO engine_state (id, state_json, saved_ms) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET state_json = excluded.state_json, saved_ms = excluded.saved_ms').run(
      json,
      this.#now(),
    );
  }

  /**
   * Appends changes to the signal log with one outbox entry per sink. The engine's changes are also
   * filed in the `signals` table (schema 3: triage), and each logged row records the triage state.
   */
  #logChanges(changes: readonly (SignalChange | LoggedTriageChange)[], sinks: readonly string[]): number[] {
    const hasTriage = this.schemaVersion >= 3;
    const insert = hasTriage
      ? this.#prepare('INSERT INTO signal_changes (signal_id, rule_id, kind, signal_json, recorded_ms, triage_json) VALUES (?, ?, ?, ?, ?, ?)')
      : this.#prepare('INSERT INTO signal_changes (signal_id, rule_id, kind, signal_json, recorded_ms) VALUES (?, ?, ?, ?, ?)');
    const enqueue = this.#prepare('INSERT INTO outbox (sink, seq) VALUES (?, ?) ON CONFLICT DO NOTHING');
    const at = this.#now();
    const seqs: number[] = [];
    for (const change of changes) {
      const values = [change.signal.id, change.signal.ruleId, change.kind, JSON.stringify(change.signal), at];
      if (hasTriage) {
        const triage = 'triage' in change ? change.triage : fileEmittedSignal(this.#prepare, change.signal, at, this.location);
        values.push(JSON.stringify(triage));
      }
      const seq = Number(insert.run(...values).lastInsertRowid);
      seqs.push(seq);
      for (const sink of sinks) enqueue.run(sink, seq);
    }
    return seqs;
  }

  /** The live runner's sinks (registerSinks), read inside the current transaction; a damaged list is none. */
  #registeredSinksNow(): string[] {
    const text: unknown = this.#prepare('SELECT value FROM meta WHERE key = ?').pluck().get(REGISTERED_SINKS_KEY);
    if (typeof text !== 'string') return [];
    try {
      const value: unknown = JSON.parse(text);
      return Array.isArray(value) ? value.filter((k): k is string => typeof k === 'string' && k !== '') : [];
    } catch {
      return [];
    }
  }

  #toStored(row: ChangeRow): StoredSignalChange {
    const where = `${this.location} signal change ${String(row.seq)}`;
    if (!isStoredChangeKind(row.kind)) throw new TrailhoundError('E_STATE_READ', `${where}: unknown change kind ${JSON.stringify(row.kind)}; the state store is damaged`);
    const triage = parseChangeTriage(row.triage_json, where);
    return { seq: row.seq, kind: row.kind, signal: parseStoredSignal(row.signal_json, where), recordedMs: row.recorded_ms, ...(triage !== undefined ? { triage } : {}) };
  }

  async importLegacyHistory(dir: string): Promise<void> {
    const legacy = join(dir, NEW_VALUE_HISTORY_FILE);
    if (!existsSync(legacy)) return;
    const imported: unknown = this.#prepare('SELECT value FROM meta WHERE key = ?').pluck().get(LEGACY_IMPORT_KEY);
    if (imported === undefined) {
      const hasHistory = this.#prepare('SELECT 1 FROM new_value_history WHERE id = 1').pluck().get() !== undefined;
      if (hasHistory) return; // A file dropped into a store that already learned: left alone.
      const history = await fileNewValueHistoryStore(dir).load();
      await this.#write('import new-value-history.json', () => {
        if (history) this.#prepare('INSERT INTO new_value_history (id, history_json, saved_ms) VALUES (1, ?, ?)').run(JSON.stringify(history), this.#now());
        this.#prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(LEGACY_IMPORT_KEY, new Date(this.#now()).toISOString());
      });
    }
    // Imported (now or by a run that stopped before renaming): keep the file as a backup, out of the way.
    await rename(legacy, `${legacy}.imported`).catch(() => undefined);
  }

  isObjectDone(source: string, key: string, etag: string): Promise<boolean> {
    return this.#read('check a done object', () => this.#prepare('SELECT 1 FROM objects_done WHERE source = ? AND object_key = ? AND etag = ?').pluck().get(source, key, etag) !== undefined);
  }

  markObjectsDone(objects: readonly DoneObject[]): Promise<void> {
    return this.#write('mark objects done', () => {
      checkDoneObjects(objects);
      this.#insertObjects(objects);
    });
  }

  isRequestDone(requestId: string): Promise<boolean> {
    return this.#read('check a done request', () => this.#prepare('SELECT 1 FROM requests_done WHERE request_id = ? AND expires_ms > ?').pluck().get(requestId, this.#now()) !== undefined);
  }

  markRequestDone(requestId: string): Promise<void> {
    return this.#write('mark a request done', () => {
      checkStrings([requestId], 'request ids');
      this.#insertRequests([requestId]);
    });
  }

  seenEventIds(ids: readonly string[]): Promise<Set<string>> {
    return this.#read('look up eventIDs', () => {
      checkStrings(ids, 'eventIDs');
      if (ids.length === 0) return new Set<string>();
      const rows = this.#prepare('SELECT event_id FROM event_ids WHERE event_id IN (SELECT value FROM json_each(?))').pluck().all(JSON.stringify(ids));
      return new Set(rows.filter((r): r is string => typeof r === 'string'));
    });
  }

  rememberEventIds(ids: readonly string[], eventTimeMs: number): Promise<void> {
    return this.#write('remember eventIDs', () => {
      checkStrings(ids, 'eventIDs');
      checkEventTime(eventTimeMs);
      this.#insertEventIds(ids.map((id) => ({ id, eventTimeMs })));
    });
  }

  saveEngineState(json: string): Promise<void> {
    return this.#write('save the engine state', () => {
      checkStrings([json], 'the engine state');
      this.#saveEngineState(json);
    });
  }

  loadEngineState(): Promise<string | undefined> {
    return this.#read('load the engine state', () => {
      const value: unknown = this.#prepare('SELECT state_json FROM engine_state WHERE id = 1').pluck().get();
      return typeof value === 'string' ? value : undefined;
    });
  }

  loadNewValueHistory(): Promise<NewValueHistory | undefined> {
    return this.#read('load the new-value history', () => {
      const text: unknown = this.#prepare('SELECT history_json FROM new_value_history WHERE id = 1').pluck().get();
      if (typeof text !== 'string') return undefined;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw new TrailhoundError('E_STATE_READ', `the new-value history in ${this.location} is not valid JSON; the state store is damaged (delete it to start learning afresh)`, { cause: error });
      }
      const parsed = parseNewValueHistory(value);
      if (!parsed.ok) {
        const first = parsed.diagnostics[0];
        throw new TrailhoundError('E_STATE_READ', `the new-value history in ${this.location} is damaged${first ? ` (${formatDiagnostic(first)})` : ''}; delete the state store to start learning afresh`);
      }
      return parsed.value;
    });
  }

  saveNewValueHistory(history: NewValueHistory): Promise<void> {
    const json = JSON.stringify(history);
    return this.#write('save the new-value history', () => {
      this.#prepare('INSERT INTO new_value_history (id, history_json, saved_ms) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET history_json = excluded.history_json, saved_ms = excluded.saved_ms').run(
        json,
        this.#now(),
      );
    });
  }

  commitCheckpoint(step: CheckpointStep): Promise<CheckpointReceipt> {
    return this.#write('commit a checkpoint', () => {
      checkCheckpointStep(step);
      checkIndexedEvents(step.indexedEvents ?? []);
      this.#hook('objects');
      this.#insertObjects(step.objectsDone ?? []);
      this.#hook('requests');
      this.#insertRequests(step.requestsDone ?? []);
      this.#hook('eventIds');
      this.#insertEventIds(step.eventIds ?? []);
      if (step.indexedEvents !== undefined) this.#events.insert(step.indexedEvents);
      this.#hook('engineState');
      if (step.engineState !== undefined) this.#saveEngineState(step.engineState);
      this.#hook('signals');
      const changeSeqs = this.#logChanges(step.emittedSignals ?? [], step.deliverTo ?? []);
      this.#hook('commit');
      return { changeSeqs };
    });
  }

  pendingDeliveries(sink: string, options?: { readonly limit?: number }): Promise<PendingDelivery[]> {
    const limit = options?.limit ?? -1;
    return this.#read('list pending deliveries', () => {
      const rows = this.#prepare(
        "SELECT c.seq, c.kind, c.signal_json, c.recorded_ms, c.triage_json FROM outbox o JOIN signal_changes c ON c.seq = o.seq WHERE o.sink = ? AND o.state = 'pending' ORDER BY o.seq LIMIT ?",
      ).all(sink, limit) as ChangeRow[];
      return rows.map((row) => ({ ...this.#toStored(row), sink }));
    });
  }

  markDelivered(sink: string, seqs: readonly number[]): Promise<void> {
    return this.#write('mark deliveries done', () => {
      checkSeqs(seqs);
      this.#prepare('DELETE FROM outbox WHERE sink = ? AND seq IN (SELECT value FROM json_each(?))').run(sink, JSON.stringify(seqs));
    });
  }

  #toOutboxEntry(row: OutboxRow): OutboxEntry {
    return { ...this.#toStored(row), sink: row.sink, attempts: row.attempts, nextAttemptMs: row.next_attempt_ms, lastError: row.last_error, state: row.state === 'dead' ? 'dead' : 'pending' };
  }

  dueDeliveries(sink: string, nowMs: number, options?: { readonly limit?: number }): Promise<OutboxEntry[]> {
    const limit = options?.limit ?? -1;
    return this.#read('list due deliveries', () => {
      const rows = this.#prepare(
        `SELECT ${OUTBOX_COLUMNS} FROM outbox o JOIN signal_changes c ON c.seq = o.seq WHERE o.sink = ? AND o.state = 'pending' AND o.next_attempt_ms <= ? ORDER BY o.seq LIMIT ?`,
      ).all(sink, nowMs, limit) as OutboxRow[];
      return rows.map((row) => this.#toOutboxEntry(row));
    });
  }

  recordDeliveryFailure(sink: string, seqs: readonly number[], failure: DeliveryFailure): Promise<void> {
    return this.#write('record a failed delivery', () => {
      checkSeqs(seqs);
      const isDead = 'isDead' in failure;
      const next = 'nextAttemptMs' in failure ? failure.nextAttemptMs : 0;
      if (!Number.isFinite(next)) throw new TrailhoundError(STATE_ERRORS.badCheckpoint, 'the next attempt time of a failed delivery must be a finite number');
      this.#prepare(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_ms = ?, state = ? WHERE sink = ? AND state = 'pending' AND seq IN (SELECT value FROM json_each(?))",
      ).run(failure.error, next, isDead ? 'dead' : 'pending', sink, JSON.stringify(seqs));
    });
  }

  deadLetters(sink?: string): Promise<OutboxEntry[]> {
    return this.#read('list dead letters', () => {
      const rows = this.#prepare(
        `SELECT ${OUTBOX_COLUMNS} FROM outbox o JOIN signal_changes c ON c.seq = o.seq WHERE o.state = 'dead' AND (? IS NULL OR o.sink = ?) ORDER BY o.seq, o.sink`,
      ).all(sink ?? null, sink ?? null) as OutboxRow[];
      return rows.map((row) => this.#toOutboxEntry(row));
    });
  }

  requeueDeadLetters(sink?: string, seqs?: readonly number[]): Promise<number> {
    return this.#write('requeue dead letters', () => {
      if (seqs !== undefined) checkSeqs(seqs);
      return this.#prepare(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_ms = 0 WHERE state = 'dead' AND (? IS NULL OR sink = ?) AND (? IS NULL OR seq IN (SELECT value FROM json_each(?)))",
      ).run(sink ?? null, sink ?? null, seqs === undefined ? null : 1, JSON.stringify(seqs ?? [])).changes;
    }, 'shared'); // `trailhound deliveries requeue` runs beside the runner; the runner only touches pending entries.
  }

  registerSinks(keys: readonly string[]): Promise<void> {
    return this.#write('register the sinks', () => {
      checkStrings(keys, 'sink keys');
      this.#prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(REGISTERED_SINKS_KEY, JSON.stringify([...new Set(keys)]));
    });
  }

  registeredSinks(): Promise<string[]> {
    return this.#read('read the registered sinks', () => {
      const text: unknown = this.#prepare('SELECT value FROM meta WHERE key = ?').pluck().get(REGISTERED_SINKS_KEY);
      if (typeof text !== 'string') return [];
      const value: unknown = JSON.parse(text);
      if (!Array.isArray(value) || !value.every((k): k is string => typeof k === 'string')) {
        throw new TrailhoundError(STATE_ERRORS.read, `the registered sinks in ${this.location} are damaged; the state store is damaged`);
      }
      return value;
    });
  }

  signalHistory(signalId: string): Promise<StoredSignalChange[]> {
    return this.#read('read a signal history', () => {
      const rows = this.#prepare('SELECT seq, kind, signal_json, recorded_ms, triage_json FROM signal_changes WHERE signal_id = ? ORDER BY seq').all(signalId) as ChangeRow[];
      return rows.map((row) => this.#toStored(row));
    });
  }

  // Signal triage (signal-triage.ts, sqlite-signal-triage.ts): writes open to shared access.

  listSignals(filter: SignalFilter = {}): Promise<StoredSignal[]> {
    return this.#read('list signals', () => {
      checkSignalFilter(filter);
      return listSignals(this.#prepare, filter, this.location);
    });
  }

  getSignal(id: string): Promise<SignalDetail | undefined> {
    return this.#read('read a signal', () => {
      const stored = getStoredSignal(this.#prepare, id, this.location);
      if (stored === undefined) return undefined;
      const rows = this.#prepare('SELECT seq, kind, signal_json, recorded_ms, triage_json FROM signal_changes WHERE signal_id = ? ORDER BY seq').all(id) as ChangeRow[];
      return { ...stored, history: rows.map((row) => this.#toStored(row)), triage: triageLog(this.#prepare, id, this.location), deliveries: deliveriesOf(this.#prepare, id) };
    });
  }

  findSignalIds(prefix: string, options?: { readonly limit?: number }): Promise<string[]> {
    return this.#read('find signal ids', () => findSignalIds(this.#prepare, prefix, options?.limit ?? 10));
  }

  updateTriage(id: string, change: TriageChange): Promise<StoredSignal> {
    return this.#write(
      "change a signal's triage",
      () => {
        const { stored, plan } = applyTriageChange(this.#prepare, id, change, this.#now(), this.location);
        if (plan.emit !== undefined) this.#logChanges([{ kind: plan.emit, signal: stored.signal, triage: plan.state }], this.#registeredSinksNow());
        return stored;
      },
      'shared',
    );
  }

  addNote(id: string, actor: string, note: string): Promise<void> {
    return this.#write('add a note to a signal', () => addSignalNote(this.#prepare, id, actor, note, this.#now(), this.location), 'shared');
  }

  prune(horizons: PruneHorizons): Promise<PruneCounts> {
    return this.#write('prune', () => {
      const run = (sql: string, horizon: number | undefined): number => (horizon === undefined ? 0 : this.#prepare(sql).run(horizon).changes);
      return {
        eventIds: run('DELETE FROM event_ids WHERE event_time_ms < ?', horizons.eventTimeBeforeMs),
        requests: run('DELETE FROM requests_done WHERE expires_ms <= ?', horizons.requestsExpiredAtMs),
        objects: run('DELETE FROM objects_done WHERE done_ms < ?', horizons.objectsDoneBeforeMs),
        signalChanges: run('DELETE FROM signal_changes WHERE recorded_ms < ? AND seq NOT IN (SELECT seq FROM outbox)', horizons.signalChangesBeforeMs),
        indexedEvents: horizons.indexedEventsBeforeMs === undefined ? 0 : this.#events.prune(horizons.indexedEventsBeforeMs),
      };
    });
  }

  // The event index (event-index.ts, sqlite-event-index.ts): writes are the runner's.

  indexEvents(events: readonly IndexedEvent[]): Promise<number> {
    return this.#write('index events', () => this.#events.insert(events));
  }

  queryEvents(query: EventQuery): Promise<StoredEvent[]> {
    return this.#read('query indexed events', () => this.#events.query(query));
  }

  summarizeEvents(query: EventPivots & EventWindow): Promise<EventSummary> {
    return this.#read('summarise indexed events', () => this.#events.summarize(query));
  }

  actorHistory(actor: HistoryActor, beforeMs: number): Promise<ActorHistory> {
    return this.#read('read an actor history', () => this.#events.history(actor, beforeMs));
  }

  indexedTimeRange(): Promise<IndexedTimeRange> {
    return this.#read('read the indexed time range', () => this.#events.timeRange());
  }

  pruneEvents(beforeEventTimeMs: number): Promise<number> {
    return this.#write('prune indexed events', () => this.#events.prune(beforeEventTimeMs));
  }

  close(): Promise<void> {
    if (this.#isClosed) return Promise.resolve();
    this.#isClosed = true;
    this.#stopHeartbeat();
    unregisterHeldLock(this.#holder.token);
    try {
      if (!this.#isLockLost && !this.#isShared) this.#db.prepare('DELETE FROM runner_lock WHERE token = ?').run(this.#holder.token);
    } catch {
      // Left behind, the row names our pid, which is gone once we exit: the next opener takes over.
    }
    try {
      this.#db.close();
    } catch (error) {
      return Promise.reject(new TrailhoundError('E_STATE_WRITE', `cannot close the state store ${this.location}: ${messageOf(error)}`, { cause: error }));
    }
    return Promise.resolve();
  }
}
