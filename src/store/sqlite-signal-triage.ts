/**
 * The SQLite side of signal triage (signal-triage.ts): the `signals`, `signal_identities` and
 * `triage_events` tables of migration 3. Plain synchronous functions over prepared statements, run
 * by the SQLite state store inside its own transactions (a checkpoint files its signals in the same
 * transaction as the rest of the step; a triage change is one transaction).
 */
import type Database from 'better-sqlite3';
import { TrailhoundError } from '../core/errors.js';
import type { Signal } from '../core/types.js';
import { ENGINE_ACTOR, initialTriage, isResolution, isTriageAction, isTriageStatus, lastSeenMs, noteEvent, planTriageChange, signalIdentities, signalNotFound } from './signal-triage.js';
import type { DeliveryStatus, SignalFilter, StoredSignal, TriageChange, TriageEvent, TriagePlan, TriageState } from './signal-triage.js';
import { parseStoredSignal } from './stored-signal.js';

/** A prepared statement, cached by the store. */
export type Prepare = (sql: string) => Database.Statement<unknown[]>;

interface SignalRow {
  signal_id: string;
  signal_json: string;
  status: string;
  resolution: string | null;
  assignee: string | null;
  first_recorded_ms: number;
  last_recorded_ms: number;
  change_count: number;
}

interface TriageRow {
  at_ms: number;
  actor: string;
  action: string;
  status: string | null;
  resolution: string | null;
  has_assignee: number;
  assignee: string | null;
  note: string | null;
}

interface DeliveryRow {
  sink: string;
  seq: number;
  state: string;
  attempts: number;
  last_error: string | null;
}

const SIGNAL_COLUMNS = 'signal_id, signal_json, status, resolution, assignee, first_recorded_ms, last_recorded_ms, change_count';

function damaged(location: string, what: string): TrailhoundError {
  return new TrailhoundError('E_STATE_READ', `${location}: ${what}; the state store is damaged`);
}

function triageOf(row: Pick<SignalRow, 'signal_id' | 'status' | 'resolution' | 'assignee'>, location: string): TriageState {
  if (!isTriageStatus(row.status)) throw damaged(location, `signal ${row.signal_id} has an unknown status ${JSON.stringify(row.status)}`);
  if (row.resolution !== null && !isResolution(row.resolution)) throw damaged(location, `signal ${row.signal_id} has an unknown resolution ${JSON.stringify(row.resolution)}`);
  return { status: row.status, resolution: row.resolution, assignee: row.assignee };
}

function storedOf(row: SignalRow, location: string): StoredSignal {
  return {
    signal: parseStoredSignal(row.signal_json, `${location} signal ${row.signal_id}`),
    ...triageOf(row, location),
    firstRecordedMs: row.first_recorded_ms,
    lastRecordedMs: row.last_recorded_ms,
    changeCount: row.change_count,
  };
}

function readRow(prepare: Prepare, id: string): SignalRow | undefined {
  return prepare(`SELECT ${SIGNAL_COLUMNS} FROM signals WHERE signal_id = ?`).get(id) as SignalRow | undefined;
}

function insertEvent(prepare: Prepare, signalId: string, event: TriageEvent): void {
  prepare('INSERT INTO triage_events (signal_id, at_ms, actor, action, status, resolution, has_assignee, assignee, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
    signalId,
    event.atMs,
    event.actor,
    event.action,
    event.status ?? null,
    event.resolution ?? null,
    event.assignee === undefined ? 0 : 1,
    event.assignee ?? null,
    event.note ?? null,
  );
}

function fileIdentities(prepare: Prepare, signal: Signal): void {
  prepare('DELETE FROM signal_identities WHERE signal_id = ?').run(signal.id);
  const insert = prepare('INSERT OR IGNORE INTO signal_identities (identity, signal_id) VALUES (?, ?)');
  for (const identity of signalIdentities(signal)) insert.run(identity, signal.id);
}

/**
 * File one version the engine emitted: a new signal is stored with its initial triage (open, or
 * suppressed when a suppression matched it) and a `detected` log entry; a later version replaces
 * the stored one, keeps the triage, and logs `updated`. Returns the triage state after it.
 */
export function fileEmittedSignal(prepare: Prepare, signal: Signal, atMs: number, location: string): TriageState {
  const json = JSON.stringify(signal);
  const existing = readRow(prepare, signal.id);
  if (existing === undefined) {
    const triage = initialTriage(signal);
    prepare(
      `INSERT INTO signals (${SIGNAL_COLUMNS}, rule_id, severity, host, last_seen_ms) VALUES (?, ?, ?, NULL, NULL, ?, ?, 1, ?, ?, ?, ?)`,
    ).run(signal.id, json, triage.status, atMs, atMs, signal.ruleId, signal.severity, signal.host, lastSeenMs(signal));
    fileIdentities(prepare, signal);
    insertEvent(prepare, signal.id, { atMs, actor: ENGINE_ACTOR, action: 'detected', status: triage.status });
    return triage;
  }
  prepare(
    'UPDATE signals SET signal_json = ?, rule_id = ?, severity = ?, host = ?, last_seen_ms = ?, last_recorded_ms = ?, change_count = change_count + 1 WHERE signal_id = ?',
  ).run(json, signal.ruleId, signal.severity, signal.host, lastSeenMs(signal), atMs, signal.id);
  fileIdentities(prepare, signal);
  insertEvent(prepare, signal.id, { atMs, actor: ENGINE_ACTOR, action: 'updated' });
  return triageOf(existing, location);
}

export function listSignals(prepare: Prepare, filter: SignalFilter, location: string): StoredSignal[] {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.status !== undefined && filter.status.length > 0) {
    where.push('status IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(filter.status));
  }
  if (filter.severity !== undefined && filter.severity.length > 0) {
    where.push('severity IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(filter.severity));
  }
  if (filter.ruleId !== undefined) {
    where.push('rule_id = ?');
    params.push(filter.ruleId);
  }
  if (filter.host !== undefined) {
    where.push('host = ?');
    params.push(filter.host);
  }
  if (filter.identity !== undefined) {
    where.push('signal_id IN (SELECT signal_id FROM signal_identities WHERE identity = ?)');
    params.push(filter.identity);
  }
  params.push(filter.limit ?? -1);
  const sql = `SELECT ${SIGNAL_COLUMNS} FROM signals${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY last_seen_ms DESC, signal_id LIMIT ?`;
  const rows = prepare(sql).all(...params) as SignalRow[];
  return rows.map((row) => storedOf(row, location));
}

export function getStoredSignal(prepare: Prepare, id: string, location: string): StoredSignal | undefined {
  const row = readRow(prepare, id);
  return row === undefined ? undefined : storedOf(row, location);
}

export function triageLog(prepare: Prepare, id: string, location: string): TriageEvent[] {
  const rows = prepare('SELECT at_ms, actor, action, status, resolution, has_assignee, assignee, note FROM triage_events WHERE signal_id = ? ORDER BY id').all(id) as TriageRow[];
  return rows.map((row) => {
    if (!isTriageAction(row.action)) throw damaged(location, `a triage entry of signal ${id} has an unknown action ${JSON.stringify(row.action)}`);
    if (row.status !== null && !isTriageStatus(row.status)) throw damaged(location, `a triage entry of signal ${id} has an unknown status`);
    if (row.resolution !== null && !isResolution(row.resolution)) throw damaged(location, `a triage entry of signal ${id} has an unknown resolution`);
    return {
      atMs: row.at_ms,
      actor: row.actor,
      action: row.action,
      ...(row.status !== null ? { status: row.status } : {}),
      ...(row.resolution !== null ? { resolution: row.resolution } : {}),
      ...(row.has_assignee === 1 ? { assignee: row.assignee } : {}),
      ...(row.note !== null ? { note: row.note } : {}),
    };
  });
}

export function deliveriesOf(prepare: Prepare, id: string): DeliveryStatus[] {
  const rows = prepare(
    'SELECT o.sink, o.seq, o.state, o.attempts, o.last_error FROM outbox o JOIN signal_changes c ON c.seq = o.seq WHERE c.signal_id = ? ORDER BY o.seq, o.sink',
  ).all(id) as DeliveryRow[];
  return rows.map((row) => ({ sink: row.sink, seq: row.seq, state: row.state === 'dead' ? 'dead' : 'pending', attempts: row.attempts, lastError: row.last_error }));
}

export function findSignalIds(prepare: Prepare, prefix: string, limit: number): string[] {
  // A range on the primary key, not LIKE: ids are case-sensitive and may hold % or _.
  const rows = prepare("SELECT signal_id FROM signals WHERE signal_id >= ? AND signal_id < ? || char(1114111) ORDER BY signal_id LIMIT ?").pluck().all(prefix, prefix, limit);
  return rows.filter((r): r is string => typeof r === 'string' && r.startsWith(prefix));
}

/** Apply one triage change (E_SIGNAL_NOT_FOUND, E_TRIAGE_INVALID): the signal after it, and the plan (what to log for sinks). */
export function applyTriageChange(prepare: Prepare, id: string, change: TriageChange, atMs: number, location: string): { readonly stored: StoredSignal; readonly plan: TriagePlan } {
  const row = readRow(prepare, id);
  if (row === undefined) throw signalNotFound(id, location);
  const before = storedOf(row, location);
  const plan = planTriageChange(before, change, atMs);
  prepare('UPDATE signals SET status = ?, resolution = ?, assignee = ? WHERE signal_id = ?').run(plan.state.status, plan.state.resolution, plan.state.assignee, id);
  for (const event of plan.events) insertEvent(prepare, id, event);
  return { stored: { ...before, ...plan.state }, plan };
}

export function addSignalNote(prepare: Prepare, id: string, actor: string, note: string, atMs: number, location: string): void {
  const event = noteEvent(actor, note, atMs);
  if (readRow(prepare, id) === undefined) throw signalNotFound(id, location);
  insertEvent(prepare, id, event);
}

/** The triage state a signal-log row recorded (JSON), checked; undefined for rows written before schema 3. */
export function parseChangeTriage(text: string | null | undefined, where: string): TriageState | undefined {
  if (text === null || text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TrailhoundError('E_STATE_READ', `${where}: the recorded triage state is not valid JSON; the state store is damaged`, { cause: error });
  }
  if (typeof value === 'object' && value !== null && 'status' in value && 'resolution' in value && 'assignee' in value) {
    const { status, resolution, assignee } = value;
    if (isTriageStatus(status) && (resolution === null || isResolution(resolution)) && (assignee === null || typeof assignee === 'string')) return { status, resolution, assignee };
  }
  throw new TrailhoundError('E_STATE_READ', `${where}: the recorded triage state is damaged`);
}
