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
