/**
 * The SQLite state store's schema, as an ordered list of migrations. The schema version is SQLite's
 * `PRAGMA user_version`, set in the same transaction as the migration's DDL, so a migration is
 * applied entirely or not at all. Migrations are append-only: a released one is never edited; a
 * change is a new migration (docs/state.md).
 *
 * The lock table (`runner_lock`) is not a migration: it is created before any migration runs,
 * because the lock must be held while migrating, and its shape never changes.
 */
import type { Database } from 'better-sqlite3';
import { STATE_SCHEMA_VERSION } from './state-store.js';
import { EVENT_INDEX_MIGRATION_SQL } from './sqlite-event-index.js';

export interface SqliteMigration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/** `trailhound` in ASCII, in SQLite's application_id header field: marks a file as ours. */
export const SQLITE_APPLICATION_ID = 0x74726168;

export const LOCK_TABLE_SQL = `CREATE TABLE IF NOT EXISTS runner_lock (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  token TEXT NOT NULL,
  host_id TEXT NOT NULL,
  pid INTEGER NOT NULL,
  acquired_ms INTEGER NOT NULL,
  heartbeat_ms INTEGER NOT NULL
)`;

export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    description: 'checkpoints: done objects and Firehose requests, recent eventIDs, engine state, new-value history',
    sql: `
      CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE objects_done (
        source TEXT NOT NULL,
        object_key TEXT NOT NULL,
        etag TEXT NOT NULL,
        done_ms INTEGER NOT NULL,
        PRIMARY KEY (source, object_key, etag)
      ) WITHOUT ROWID;
      CREATE INDEX objects_done_by_time ON objects_done (done_ms);
      CREATE TABLE requests_done (
        request_id TEXT PRIMARY KEY,
        done_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX requests_done_by_expiry ON requests_done (expires_ms);
      CREATE TABLE event_ids (
        event_id TEXT PRIMARY KEY,
        event_time_ms INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX event_ids_by_time ON event_ids (event_time_ms);
      CREATE TABLE engine_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        state_json TEXT NOT NULL,
        saved_ms INTEGER NOT NULL
      );
      CREATE TABLE new_value_history (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        history_json TEXT NOT NULL,
        saved_ms INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: 'the signal log and the delivery outbox',
    sql: `
      CREATE TABLE signal_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        signal_id TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        signal_json TEXT NOT NULL,
        recorded_ms INTEGER NOT NULL
      );
      CREATE INDEX signal_changes_by_signal ON signal_changes (signal_id, seq);
      CREATE INDEX signal_changes_by_time ON signal_changes (recorded_ms);
      CREATE TABLE outbox (
        sink TEXT NOT NULL,
        seq INTEGER NOT NULL REFERENCES signal_changes (seq),
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        PRIMARY KEY (sink, seq)
      ) WITHOUT ROWID;
      CREATE INDEX outbox_by_seq ON outbox (seq);
    `,
  },
  {
    version: 3,
    description: 'signal triage: the latest version of each signal with its triage state, the identities it is filed under, the triage log',
    // Signals already in the log (a store of schema 2) are filed from their latest logged version.
    sql: `
      CREATE TABLE signals (
        signal_id TEXT PRIMARY KEY,
        rule_id TEXT NOT NULL,
        severity TEXT NOT NULL,
        host TEXT,
        last_seen_ms INTEGER NOT NULL,
        signal_json TEXT NOT NULL,
        status TEXT NOT NULL,
        resolution TEXT,
        assignee TEXT,
        first_recorded_ms INTEGER NOT NULL,
        last_recorded_ms INTEGER NOT NULL,
        change_count INTEGER NOT NULL
      );
      CREATE INDEX signals_by_last_seen ON signals (last_seen_ms DESC, signal_id);
      CREATE INDEX signals_by_status ON signals (status, last_seen_ms DESC, signal_id);
      CREATE INDEX signals_by_severity ON signals (severity, last_seen_ms DESC, signal_id);
      CREATE INDEX signals_by_rule ON signals (rule_id, last_seen_ms DESC, signal_id);
      CREATE INDEX signals_by_host ON signals (host, last_seen_ms DESC, signal_id);
      CREATE TABLE signal_identities (
        identity TEXT NOT NULL,
        signal_id TEXT NOT NULL,
        PRIMARY KEY (identity, signal_id)
      ) WITHOUT ROWID;
      CREATE INDEX signal_identities_by_signal ON signal_identities (signal_id);
      CREATE TABLE triage_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        signal_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        status TEXT,
        resolution TEXT,
        has_assignee INTEGER NOT NULL DEFAULT 0,
        assignee TEXT,
        note TEXT
      );
      CREATE INDEX triage_events_by_signal ON triage_events (signal_id, id);
      ALTER TABLE signal_changes ADD COLUMN triage_json TEXT;

      INSERT INTO signals (signal_id, rule_id, severity, host, last_seen_ms, signal_json, status, resolution, assignee, first_recorded_ms, last_recorded_ms, change_count)
      SELECT c.signal_id, c.rule_id, json_extract(c.signal_json, '$.severity'), json_extract(c.signal_json, '$.host'),
        coalesce(CAST(round((julianday(json_extract(c.signal_json, '$.lastSeen')) - 2440587.5) * 86400000) AS INTEGER), 0),
        c.signal_json,
        CASE WHEN json_extract(c.signal_json, '$.status') = 'suppressed' THEN 'suppressed' ELSE 'open' END, NULL, NULL,
        (SELECT min(recorded_ms) FROM signal_changes WHERE signal_id = c.signal_id), c.recorded_ms,
        (SELECT count(*) FROM signal_changes WHERE signal_id = c.signal_id)
      FROM signal_changes c
      WHERE c.seq = (SELECT max(seq) FROM signal_changes WHERE signal_id = c.signal_id) AND json_valid(c.signal_json)
        AND json_type(c.signal_json, '$.severity') = 'text';
      INSERT OR IGNORE INTO signal_identities (identity, signal_id)
      SELECT g.value, s.signal_id FROM signals s, json_each(s.signal_json, '$.group') g
      WHERE (g.key GLOB '@userIdentity.*' OR g.key GLOB 'userIdentity.*') AND g.type = 'text' AND g.value <> '';
      INSERT OR IGNORE INTO signal_identities (identity, signal_id)
      SELECT json_extract(a.value, '$.arn'), s.signal_id FROM signals s, json_each(s.signal_json, '$.actors') a
      WHERE json_type(a.value, '$.arn') = 'text' AND json_extract(a.value, '$.arn') <> '';
      INSERT INTO triage_events (signal_id, at_ms, actor, action, status)
      SELECT signal_id, first_recorded_ms, 'trailhound', 'detected', status FROM signals ORDER BY first_recorded_ms, signal_id;
    `,
  },
  {
    version: 4,
    description: 'the event index for investigation: pivot fields, compressed records, per-actor history',
    sql: EVENT_INDEX_MIGRATION_SQL,
  },
];

/** The user_version of the database (0 for a new file). */
export function schemaVersionOf(db: Database): number {
  const value: unknown = db.pragma('user_version', { simple: true });
  return typeof value === 'number' ? value : 0;
}

/**
 * Apply, in order, every migration above the database's version up to `target` (default: this
 * binary's), each in its own IMMEDIATE transaction that re-reads the version first (so two
 * processes opening one new file never apply a migration twice). Returns the version reached.
 */
export function runMigrations(db: Database, target: number = STATE_SCHEMA_VERSION, migrations: readonly SqliteMigration[] = SQLITE_MIGRATIONS): number {
  for (const migration of migrations) {
    if (migration.version > target) break;
    db.transaction(() => {
      if (schemaVersionOf(db) >= migration.version) return;
      db.exec(migration.sql);
      db.pragma(`user_version = ${String(migration.version)}`);
    }).immediate();
  }
  return schemaVersionOf(db);
}
