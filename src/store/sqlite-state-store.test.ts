/**
 * The SQLite state store: the shared conformance suite (with real child processes killed with
 * kill -9, and migrations from schema 1), then what is particular to SQLite: the file, its journal
 * mode, files that are not ours, and the one-time import of `new-value-history.json`.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TrailhoundError } from '../core/errors.js';
import type { NewValueHistory } from '../engine/new-value.js';
import { describeStateStore } from '../../test/conformance/state-store.js';
import { detect, stratusAttack } from '../../test/support/detect.js';
import { NEW_VALUE_HISTORY_FILE } from './new-value-history.js';
import { SQLITE_APPLICATION_ID, SQLITE_MIGRATIONS, runMigrations, schemaVersionOf } from './sqlite-migrations.js';
import { STATE_DB_FILE, openSqliteStateStore } from './sqlite-state-store.js';
import { STATE_SCHEMA_VERSION } from './state-store.js';
import type { StateStore } from './state-store.js';

const tempDirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'trailhound-sqlite-state-'));
  tempDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function withRawDb<T>(dir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(join(dir, STATE_DB_FILE));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

describeStateStore(
  'SQLite',
  () => {
    const dir = tempDir();
    return {
      open: (options) => openSqliteStateStore({ ...options, dir }),
      openAtSchemaVersion: (version, options) => openSqliteStateStore({ ...options, dir, schemaVersion: version }),
      stampSchemaVersion: (version) => {
        withRawDb(dir, (db) => db.pragma(`user_version = ${String(version)}`));
        return Promise.resolve();
      },
      child: { module: join(import.meta.dirname, 'sqlite-state-store.ts'), exportName: 'openSqliteStateStore', args: { dir } },
    };
  },
  { isDurable: true, hasOlderSchemas: true },
);

const HISTORY: NewValueHistory = {
  version: 1,
  rules: [{ ruleId: 'new-secret-reader-ip', fingerprint: 'feedface00000000', learningStartMs: 1_722_513_600_000, latestMs: 1_722_513_600_000, groups: [{ groupValues: ['arn:aws:iam::123456789012:user/a'], occurrences: 0, values: [['ip', '203.0.113.10', 1_722_513_600_000]] }] }],
};

describe('the SQLite state store', () => {
  const opened: StateStore[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });
  async function open(dir: string): Promise<StateStore> {
    const store = await openSqliteStateStore({ dir });
    opened.push(store);
    return store;
  }

  it('keeps everything in DIR/trailhound.db, in WAL mode, marked as a trailhound file, creating DIR', async () => {
    const dir = join(tempDir(), 'nested', 'state');
    const store = await open(dir);
    await store.markObjectsDone([{ source: 's', key: 'k', etag: 'e' }]);
    expect(store.location).toBe(join(dir, STATE_DB_FILE));
    await store.close();
    expect(readdirSync(dir)).toEqual([STATE_DB_FILE]);
    withRawDb(dir, (db) => {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('application_id', { simple: true })).toBe(SQLITE_APPLICATION_ID);
      expect(schemaVersionOf(db)).toBe(STATE_SCHEMA_VERSION);
    });
  });

  it.each<[string, (path: string) => void, RegExp]>([
    ['a file that is not SQLite', (path) => writeFileSync(path, 'this is not a database, just text that is long enough to have a header\n'.repeat(20)), /is not an SQLite database/],
    [
      'an SQLite database of another program',
      (path) => {
        const db = new Database(path);
        db.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY)');
        db.close();
      },
      /not a trailhound state store/,
    ],
  ])('refuses %s with E_STATE_READ and leaves it as it was', async (_name, make, message) => {
    const dir = tempDir();
    const path = join(dir, STATE_DB_FILE);
    make(path);
    const before = readFileSync(path);
    const error: unknown = await openSqliteStateStore({ dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrailhoundError);
    expect((error as TrailhoundError).code).toBe('E_STATE_READ');
    expect((error as TrailhoundError).message).toMatch(message);
    expect((error as TrailhoundError).message).toMatch(/use another --state folder/);
    expect(readdirSync(dir)).toEqual([STATE_DB_FILE]);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('reports a state folder it cannot create with E_STATE_WRITE', async () => {
    const blocker = join(tempDir(), 'file');
    writeFileSync(blocker, 'not a folder');
    const error: unknown = await openSqliteStateStore({ dir: join(blocker, 'state') }).catch((e: unknown) => e);
    expect((error as TrailhoundError).code).toBe('E_STATE_WRITE');
  });

  it('reports a damaged signal row with E_STATE_READ instead of handing it to a sink', async () => {
    const dir = tempDir();
    const signal = detect(stratusAttack().all)[0];
    if (!signal) throw new Error('no signal');
    const store = await open(dir);
    const receipt = await store.commitCheckpoint({ emittedSignals: [{ kind: 'created', signal }], deliverTo: ['stdout'] });
    withRawDb(dir, (db) => db.prepare('UPDATE signal_changes SET signal_json = ? WHERE seq = ?').run(JSON.stringify({ ...signal, severity: 'catastrophic' }), receipt.changeSeqs[0]));
    const error: unknown = await store.pendingDeliveries('stdout').catch((e: unknown) => e);
    expect((error as TrailhoundError).code).toBe('E_STATE_READ');
    expect((error as TrailhoundError).message).toMatch(/severity/);
  });

  describe('migrations', () => {
    it('are numbered 1, 2, … up to the schema version this binary writes', () => {
      expect(SQLITE_MIGRATIONS.map((m) => m.version)).toEqual(Array.from({ length: STATE_SCHEMA_VERSION }, (_, i) => i + 1));
    });

    it('a migration that fails leaves the schema version and tables as they were', () => {
      const db = new Database(':memory:');
      const broken = [...SQLITE_MIGRATIONS.slice(0, 1), { version: 2, description: 'broken', sql: 'CREATE TABLE half_done (x); THIS IS NOT SQL;' }];
      expect(() => runMigrations(db, 2, broken)).toThrow();
      expect(schemaVersionOf(db)).toBe(1);
      expect(db.prepare("SELECT name FROM sqlite_schema WHERE name = 'half_done'").get()).toBeUndefined();
      db.close();
    });

    it('running them again does nothing', () => {
      const db = new Database(':memory:');
      expect(runMigrations(db)).toBe(STATE_SCHEMA_VERSION);
      expect(runMigrations(db)).toBe(STATE_SCHEMA_VERSION);
      db.close();
    });
  });

  describe('the new-value-history.json of earlier scan --state runs', () => {
    it('is imported once, then kept beside as new-value-history.json.imported', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, NEW_VALUE_HISTORY_FILE), JSON.stringify(HISTORY));
      const store = await open(dir);
      expect(await store.loadNewValueHistory()).toEqual(HISTORY);
      expect(existsSync(join(dir, NEW_VALUE_HISTORY_FILE))).toBe(false);
      expect(existsSync(join(dir, `${NEW_VALUE_HISTORY_FILE}.imported`))).toBe(true);
      await store.saveNewValueHistory({ version: 1, rules: [] });
      await store.close();
      // A JSON file appearing again later is not imported over what the store learned since.
      writeFileSync(join(dir, NEW_VALUE_HISTORY_FILE), JSON.stringify(HISTORY));
      const again = await open(dir);
      expect(await again.loadNewValueHistory()).toEqual({ version: 1, rules: [] });
    });

    it('a damaged one stops the open with E_STATE_READ, says what to do, and leaves the store unlocked', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, NEW_VALUE_HISTORY_FILE), '{"version": 99, "rules": []}');
      const error: unknown = await openSqliteStateStore({ dir }).catch((e: unknown) => e);
      expect((error as TrailhoundError).code).toBe('E_STATE_READ');
      expect((error as TrailhoundError).message).toMatch(/delete it/);
      writeFileSync(join(dir, NEW_VALUE_HISTORY_FILE), JSON.stringify(HISTORY));
      const store = await open(dir);
      expect(await store.loadNewValueHistory()).toEqual(HISTORY);
    });
  });
});
