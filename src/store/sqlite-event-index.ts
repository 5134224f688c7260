/**
 * The event index in SQLite: schema (migration 4) and the statements behind `EventIndexStore`,
 * used by the SQLite state store inside its own transactions (it owns the connection, the lock and
 * the error handling; everything here is synchronous).
 *
 * Laid out for tens of millions of rows:
 * - `events` holds only integers: every string (ARNs, IPs, user agents, names…) is interned once
 *   in `event_strings`, so a row is ~60 bytes and the identity indexes stay small;
 * - the raw record, compressed (event-compression.ts), sits apart in `event_raw`, read only for
 *   the events a report shows;
 * - deduplication on eventID goes through `uid`, a 53-bit hash of the eventID (of the record text
 *   when it has none) under a unique index; a hash hit is confirmed against the stored record, and
 *   a true collision takes the next free value (uid + 1…);
 * - one index per pivot an investigation starts from — (arn, time), (role, time), (access key,
 *   time), (principal, time), and `event_instances` (instance, time, event) — plus (time) for
 *   pruning. The history an actor built (`event_history`: first and last time per API, IP and user
 *   agent) answers "never called before" without reading its old events;
 * - `event_strings.last_ms` is the newest event time a string was used at, so pruning can drop the
 *   strings no remaining event or history row uses without scanning the events.
 */
import { cachedStatements } from './sqlite-statements.js';
import type { PrepareStatement } from './sqlite-statements.js';
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { compressRecord, decompressRecord } from './event-compression.js';
import type { ActorHistory, EventPivots, EventQuery, EventSummary, EventWindow, HistoryActor, HistoryItem, IndexedEvent, IndexedTimeRange, StoredEvent } from './event-index.js';
import { DEFAULT_EVENT_QUERY_LIMIT } from './event-index.js';
import { checkIndexedEvents, checkWindow, dedupKeyOf, historyPairsOf, queryLimit, summarizeGroups, summarizeStoredEvents } from './event-index-support.js';
import type { HistoryItemKind } from './event-index-support.js';

/** Migration 4: the event index tables. */
export const EVENT_INDEX_MIGRATION_SQL = `
  CREATE TABLE event_strings (
    id INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE,
    last_ms INTEGER NOT NULL
  );
  CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    uid INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    account INTEGER,
    region INTEGER,
    source INTEGER,
    name INTEGER,
    arn INTEGER,
    identity_type INTEGER,
    principal INTEGER,
    access_key INTEGER,
    session INTEGER,
    role INTEGER,
    ip INTEGER,
    agent INTEGER,
    error INTEGER,
    read_only INTEGER,
    instances TEXT
  );
  CREATE UNIQUE INDEX events_by_uid ON events (uid);
  CREATE INDEX events_by_time ON events (time_ms);
  CREATE INDEX events_by_arn ON events (arn, time_ms) WHERE arn IS NOT NULL;
  CREATE INDEX events_by_role ON events (role, time_ms) WHERE role IS NOT NULL;
  CREATE INDEX events_by_access_key ON events (access_key, time_ms) WHERE access_key IS NOT NULL;
  CREATE INDEX events_by_principal ON events (principal, time_ms) WHERE principal IS NOT NULL;
  CREATE TABLE event_raw (
    id INTEGER PRIMARY KEY,
    event_id TEXT,
    raw BLOB NOT NULL
  );
  CREATE TABLE event_instances (
    instance INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    event INTEGER NOT NULL,
    PRIMARY KEY (instance, time_ms, event)
  ) WITHOUT ROWID;
  CREATE TABLE event_history (
    actor INTEGER NOT NULL,
    actor_kind INTEGER NOT NULL,
    item_kind INTEGER NOT NULL,
    item INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    PRIMARY KEY (actor, actor_kind, item_kind, item)
  ) WITHOUT ROWID;
`;

const ACTOR_KIND = { identity: 1, role: 2 } as const;
const ITEM_KIND: Readonly<Record<HistoryItemKind, number>> = { api: 1, ip: 2, agent: 3 };
/** How many uids past the hash a true collision may move to. */
const MAX_PROBES = 16;
/** Instance ids are joined with this in `events.instances` (an instance id never contains it). */
const INSTANCE_SEPARATOR = '\u001f';

/** The columns of `events` that hold an interned string, in IndexedEvent's terms. */
const STRING_COLUMNS = [
  ['account', 'accountId'],
  ['region', 'region'],
  ['source', 'eventSource'],
  ['name', 'eventName'],
  ['arn', 'identityArn'],
  ['identity_type', 'identityType'],
  ['principal', 'principalId'],
  ['access_key', 'accessKeyId'],
  ['session', 'sessionName'],
  ['role', 'roleArn'],
  ['ip', 'sourceIp'],
  ['agent', 'userAgent'],
  ['error', 'errorCode'],
] as const;

const SELECT_COLUMNS = `e.id, e.time_ms, ${STRING_COLUMNS.map(([column]) => `e.${column}`).join(', ')}, e.read_only, e.instances`;

type EventRow = { id: number; time_ms: number; read_only: number | null; instances: string | null; event_id?: string | null; raw?: Uint8Array } & Record<(typeof STRING_COLUMNS)[number][0], number | null>;

/** A 53-bit hash (a safe integer) of the text an event is deduplicated on. */
export function eventUid(key: string): number {
  const digest = createHash('sha256').update(key).digest();
  return digest.readUIntBE(0, 6) * 32 + ((digest[6] ?? 0) >> 3);
}

/** The pivots a query names, resolved: the interned ids of each list (values never indexed are dropped). */
interface ResolvedPivots {
  readonly parts: readonly { readonly sql: string; readonly params: readonly (number | string)[] }[];
  /** True when the query named pivots but none of them is in the index: nothing can match. */
  readonly isEmpty: boolean;
}

export class SqliteEventIndex {
  readonly #db: Database.Database;
  readonly #stmt: PrepareStatement;

  /** `prepare`: the connection's statement cache when the store has one (sqlite-statements.ts). */
  constructor(db: Database.Database, prepare: PrepareStatement = cachedStatements(db)) {
    this.#db = db;
    this.#stmt = prepare;
  }

  /**
   * Insert `events` (call inside a write transaction). Returns how many were new. `compressed`, when
   * given, holds `compressRecord(event.raw)` of each event in the same order, made elsewhere (another
   * thread): a bulk load compresses in parallel and the records are not compressed again here.
   */
  insert(events: readonly IndexedEvent[], compressed?: readonly Uint8Array[]): number {
    checkIndexedEvents(events);
    if (compressed !== undefined && compressed.length !== events.length) throw new Error('insert: one compressed record per event');
    if (events.length === 0) return 0;
    // Intern every string of the batch once, with the newest event time it is used at.
    const newest = new Map<string, number>();
    const use = (value: string | null, timeMs: number): void => {
      if (value === null) return;
      const previous = newest.get(value);
      if (previous === undefined || timeMs > previous) newest.set(value, timeMs);
    };
    const pairs = events.map((e) => historyPairsOf(e));
    events.forEach((e, i) => {
      for (const [, field] of STRING_COLUMNS) use(e[field], e.eventTimeMs);
      for (const id of e.instanceIds) use(id, e.eventTimeMs);
      for (const p of pairs[i] ?? []) use(p.item, e.eventTimeMs);
    });
    const intern = this.#stmt('INSERT INTO event_strings (value, last_ms) VALUES (?, ?) ON CONFLICT (value) DO UPDATE SET last_ms = max(last_ms, excluded.last_ms) RETURNING id');
    const ids = new Map<string, number>();
    for (const [value, timeMs] of newest) ids.set(value, intern.pluck().get(value, timeMs) as number);
    const idOf = (value: string | null): number | null => (value === null ? null : (ids.get(value) ?? null));

    const findUid = this.#stmt('SELECT id FROM events WHERE uid = ?');
    const insertEvent = this.#stmt(
      `INSERT INTO events (uid, time_ms, ${STRING_COLUMNS.map(([c]) => c).join(', ')}, read_only, instances) VALUES (${Array(STRING_COLUMNS.length + 4).fill('?').join(', ')}) ON CONFLICT (uid) DO NOTHING`,
    );
    const insertRaw = this.#stmt('INSERT INTO event_raw (id, event_id, raw) VALUES (?, ?, ?)');
    const insertInstance = this.#stmt('INSERT INTO event_instances (instance, time_ms, event) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
    const history = new Map<string, { actor: number; actorKind: number; itemKind: number; item: number; firstMs: number; lastMs: number }>();
    const row: (number | string | null)[] = new Array<number | string | null>(STRING_COLUMNS.length + 4);
    let added = 0;
    events.forEach((e, i) => {
      const key = dedupKeyOf(e);
      const hash = eventUid(key);
      const instances = e.instanceIds.length === 0 ? e.instanceIds : [...new Set(e.instanceIds)];
      row[1] = e.eventTimeMs;
      for (let c = 0; c < STRING_COLUMNS.length; c++) row[c + 2] = idOf(e[(STRING_COLUMNS[c] as (typeof STRING_COLUMNS)[number])[1]]);
      row[STRING_COLUMNS.length + 2] = e.isReadOnly === null ? null : e.isReadOnly ? 1 : 0;
      row[STRING_COLUMNS.length + 3] = instances.length > 0 ? instances.join(INSTANCE_SEPARATOR) : null;
      // The insert itself probes the uid index; only a taken uid is looked at (a repeat, or a true collision).
      let id: number | undefined;
      for (let probe = 0; probe < MAX_PROBES && id === undefined; probe++) {
        row[0] = hash + probe;
        const result = insertEvent.run(...row);
        if (result.changes === 1) id = Number(result.lastInsertRowid);
        else if (this.#storedKey(findUid.pluck().get(hash + probe) as number) === key) return; // already indexed
      }
      if (id === undefined) return; // MAX_PROBES true collisions in a row: not indexable (never seen in practice)
      insertRaw.run(id, e.eventId, compressed?.[i] ?? compressRecord(e.raw));
      for (const instance of instances) insertInstance.run(idOf(instance), e.eventTimeMs, id);
      for (const p of pairs[i] ?? []) {
        const actor = idOf(p.actor);
        const item = idOf(p.item);
        if (actor === null || item === null) continue;
        const hKey = `${actor} ${p.actorKind} ${p.itemKind} ${item}`;
        const entry = history.get(hKey);
        if (entry === undefined) history.set(hKey, { actor, actorKind: ACTOR_KIND[p.actorKind], itemKind: ITEM_KIND[p.itemKind], item, firstMs: e.eventTimeMs, lastMs: e.eventTimeMs });
        else {
          entry.firstMs = Math.min(entry.firstMs, e.eventTimeMs);
          entry.lastMs = Math.max(entry.lastMs, e.eventTimeMs);
        }
      }
      added++;
    });
    const upsertHistory = this.#stmt(
      'INSERT INTO event_history (actor, actor_kind, item_kind, item, first_ms, last_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET first_ms = min(first_ms, excluded.first_ms), last_ms = max(last_ms, excluded.last_ms)',
    );
    for (const h of history.values()) upsertHistory.run(h.actor, h.actorKind, h.itemKind, h.item, h.firstMs, h.lastMs);
    return added;
  }

  /** The dedup key of a stored event (its eventID, else its record text, decompressed only then). */
  #storedKey(id: number): string | undefined {
    const row = this.#stmt('SELECT event_id FROM event_raw WHERE id = ?').get(id) as { event_id: string | null } | undefined;
    if (row === undefined) return undefined;
    if (row.event_id !== null) return dedupKeyOf({ eventId: row.event_id, raw: '' });
    const raw = this.#rawOf(id);
    return raw === undefined ? undefined : dedupKeyOf({ eventId: null, raw });
  }

  #rawOf(id: number): string | undefined {
    const blob = this.#stmt('SELECT raw FROM event_raw WHERE id = ?').pluck().get(id);
    return blob instanceof Uint8Array ? decompressRecord(blob) : undefined;
  }

  #stringId(value: string): number | undefined {
    return this.#stmt('SELECT id FROM event_strings WHERE value = ?').pluck().get(value) as number | undefined;
  }

  /** Row ids of indexed events with these eventIDs (through the uid index). */
  #rowsOfEventIds(eventIds: readonly string[]): number[] {
    const rows: number[] = [];
    const findUid = this.#stmt('SELECT id FROM events WHERE uid = ?');
    for (const eventId of new Set(eventIds)) {
      const key = dedupKeyOf({ eventId, raw: '' });
      const hash = eventUid(key);
      for (let probe = 0; probe < MAX_PROBES; probe++) {
        const id = findUid.pluck().get(hash + probe) as number | undefined;
        if (id === undefined) break;
        if (this.#storedKey(id) === key) {
          rows.push(id);
          break;
        }
      }
    }
    return rows;
  }

  #resolve(pivots: EventPivots, window: EventWindow): ResolvedPivots {
    const parts: { sql: string; params: (number | string)[] }[] = [];
    let isNamed = false;
    const byColumn = (values: readonly string[] | undefined, column: string): void => {
      for (const value of new Set(values ?? [])) {
        isNamed = true;
        const id = this.#stringId(value);
        if (id !== undefined) parts.push({ sql: `SELECT id FROM events WHERE ${column} = ? AND time_ms >= ? AND time_ms < ?`, params: [id, window.fromMs, window.toMs] });
      }
    };
    byColumn(pivots.identityArns, 'arn');
    byColumn(pivots.roleArns, 'role');
    byColumn(pivots.accessKeyIds, 'access_key');
    byColumn(pivots.principalIds, 'principal');
    for (const value of new Set(pivots.instanceIds ?? [])) {
      isNamed = true;
      const id = this.#stringId(value);
      if (id !== undefined) parts.push({ sql: 'SELECT event FROM event_instances WHERE instance = ? AND time_ms >= ? AND time_ms < ?', params: [id, window.fromMs, window.toMs] });
    }
    if (pivots.eventIds !== undefined && pivots.eventIds.length > 0) {
      isNamed = true;
      const rows = this.#rowsOfEventIds(pivots.eventIds);
      if (rows.length > 0) parts.push({ sql: 'SELECT value FROM json_each(?)', params: [JSON.stringify(rows)] });
    }
    return { parts, isEmpty: isNamed && parts.length === 0 };
  }

  /** The SQL and parameters selecting the matching rows (without ORDER BY / LIMIT). */
  #matchSql(pivots: EventPivots, window: EventWindow, extraWhere: string, withRecord: 'none' | 'id' | 'raw' | { readonly columns: string } = 'none'): { sql: string; params: unknown[] } | undefined {
    const columns = typeof withRecord === 'object' ? withRecord.columns : withRecord === 'none' ? SELECT_COLUMNS : `${SELECT_COLUMNS}, r.event_id${withRecord === 'raw' ? ', r.raw' : ''}`;
    const join = withRecord === 'id' || withRecord === 'raw' ? ' LEFT JOIN event_raw r ON r.id = e.id' : '';
    checkWindow(window);
    const resolved = this.#resolve(pivots, window);
    if (resolved.isEmpty) return undefined;
    const where = `e.time_ms >= ? AND e.time_ms < ?${extraWhere}`;
    const from = `${columns} FROM events e${join}`;
    if (resolved.parts.length === 0) return { sql: `SELECT ${from} WHERE ${where}`, params: [window.fromMs, window.toMs] };
    const union = resolved.parts.map((p) => p.sql).join(' UNION ');
    return { sql: `SELECT ${from} WHERE e.id IN (${union}) AND ${where}`, params: [...resolved.parts.flatMap((p) => p.params), window.fromMs, window.toMs] };
  }

  /** The query plan of each statement a query runs (tests check that every one uses an index). */
  explain(query: EventQuery): string[] {
    const match = this.#matchSql(query, query, query.isErrorOnly === true ? ' AND e.error IS NOT NULL' : '', 'id');
    if (match === undefined) return [];
    const rows = this.#db.prepare(`EXPLAIN QUERY PLAN ${match.sql} ORDER BY e.time_ms, e.id LIMIT ?`).all(...match.params, 10) as { detail: string }[];
    return rows.map((r) => r.detail);
  }

  /** A read in one transaction: its statements see one snapshot, even beside a writing runner. */
  #snapshot<T>(fn: () => T): T {
    return this.#db.inTransaction ? fn() : this.#db.transaction(fn).deferred();
  }

  query(query: EventQuery): StoredEvent[] {
    return this.#snapshot(() => this.#query(query));
  }

  #query(query: EventQuery): StoredEvent[] {
    const limit = queryLimit(query.limit, DEFAULT_EVENT_QUERY_LIMIT);
    const match = this.#matchSql(query, query, query.isErrorOnly === true ? ' AND e.error IS NOT NULL' : '', query.includeRaw === true ? 'raw' : 'id');
    if (match === undefined || limit === 0) return [];
    const rows = this.#stmt(`${match.sql} ORDER BY e.time_ms, e.id LIMIT ?`).all(...match.params, limit) as EventRow[];
    return this.#toStored(rows, query.includeRaw === true);
  }

  summarize(query: EventPivots & EventWindow): EventSummary {
    return this.#snapshot(() => this.#summarize(query));
  }

  /** The summary, aggregated by SQLite on the interned ids (one pass over the matches), then named. */
  #summarize(query: EventPivots & EventWindow): EventSummary {
    const match = this.#matchSql(query, query, '', { columns: 'e.time_ms AS t, e.source, e.name, e.error, e.ip, e.agent, e.arn, e.access_key, e.instances' });
    if (match === undefined) return summarizeStoredEvents([]);
    const group = (kind: number, a: string, b: string, by: string, where = ''): string => `SELECT ${kind} AS k, ${a} AS a, ${b} AS b, count(*) AS n, count(error) AS f, min(t) AS lo, max(t) AS hi FROM m${where} GROUP BY ${by}`;
    const sql = `WITH m AS MATERIALIZED (${match.sql}) ${[
      group(1, 'source', 'name', 'source, name'),
      group(2, 'ip', 'NULL', 'ip', ' WHERE ip IS NOT NULL'),
      group(3, 'agent', 'NULL', 'agent', ' WHERE agent IS NOT NULL'),
      group(4, 'error', 'NULL', 'error', ' WHERE error IS NOT NULL'),
      group(5, 'arn', 'NULL', 'arn', ' WHERE arn IS NOT NULL'),
      group(6, 'access_key', 'NULL', 'access_key', ' WHERE access_key IS NOT NULL'),
      group(7, 'instances', 'name', 'instances, name', ' WHERE instances IS NOT NULL'),
    ].join(' UNION ALL ')}`;
    const rows = this.#stmt(sql).raw().all(...match.params) as [number, number | string | null, number | null, number, number, number, number][];
    const ids = new Set<number>();
    for (const [kind, a, b] of rows) {
      if (kind !== 7 && typeof a === 'number') ids.add(a);
      if (b !== null) ids.add(b);
    }
    const strings = this.#strings(ids);
    const text = (id: number | string | null): string | null => (typeof id === 'number' ? (strings.get(id) ?? null) : null);
    return summarizeGroups(rows.map(([kind, a, b, count, errorCount, firstMs, lastMs]) => ({ kind, value: kind === 7 ? (typeof a === 'string' ? a.split(INSTANCE_SEPARATOR) : []) : text(a), name: text(b), count, errorCount, firstMs, lastMs })));
  }

  #toStored(rows: readonly EventRow[], includeRaw: boolean): StoredEvent[] {
    const ids = new Set<number>();
    for (const row of rows) for (const [column] of STRING_COLUMNS) if (row[column] !== null) ids.add(row[column]);
    const strings = this.#strings(ids);
    const text = (id: number | null): string | null => (id === null ? null : (strings.get(id) ?? null));
    return rows.map((row) => {
      const raw = includeRaw && row.raw instanceof Uint8Array ? decompressRecord(row.raw) : null;
      return {
        accountId: text(row.account),
        region: text(row.region),
        eventSource: text(row.source),
        eventName: text(row.name),
        identityArn: text(row.arn),
        identityType: text(row.identity_type),
        principalId: text(row.principal),
        accessKeyId: text(row.access_key),
        sessionName: text(row.session),
        roleArn: text(row.role),
        sourceIp: text(row.ip),
        userAgent: text(row.agent),
        errorCode: text(row.error),
        eventId: row.event_id ?? null,
        eventTimeMs: row.time_ms,
        instanceIds: row.instances === null ? [] : row.instances.split(INSTANCE_SEPARATOR),
        isReadOnly: row.read_only === null ? null : row.read_only === 1,
        raw,
      };
    });
  }

  #strings(ids: ReadonlySet<number>): Map<number, string> {
    const out = new Map<number, string>();
    if (ids.size === 0) return out;
    const rows = this.#stmt('SELECT id, value FROM event_strings WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify([...ids])) as { id: number; value: string }[];
    for (const row of rows) out.set(row.id, row.value);
    return out;
  }

  history(actor: HistoryActor, beforeMs: number): ActorHistory {
    return this.#snapshot(() => this.#history(actor, beforeMs));
  }

  #history(actor: HistoryActor, beforeMs: number): ActorHistory {
    const empty: ActorHistory = { apis: [], sourceIps: [], userAgents: [] };
    if (!Number.isFinite(beforeMs)) return empty;
    const actorId = this.#stringId(actor.arn);
    if (actorId === undefined) return empty;
    const rows = this.#stmt('SELECT item_kind, item, first_ms, last_ms FROM event_history WHERE actor = ? AND actor_kind = ? AND first_ms < ?').all(actorId, ACTOR_KIND[actor.kind], beforeMs) as {
      item_kind: number;
      item: number;
      first_ms: number;
      last_ms: number;
    }[];
    const strings = this.#strings(new Set(rows.map((r) => r.item)));
    const list = (kind: number): HistoryItem[] =>
      rows
        .filter((r) => r.item_kind === kind)
        .flatMap((r) => {
          const value = strings.get(r.item);
          return value === undefined ? [] : [{ value, firstMs: r.first_ms, lastMs: r.last_ms }];
        })
        .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    return { apis: list(ITEM_KIND.api), sourceIps: list(ITEM_KIND.ip), userAgents: list(ITEM_KIND.agent) };
  }

  timeRange(): IndexedTimeRange {
    const oldest = this.#stmt('SELECT min(time_ms) FROM events').pluck().get() as number | null;
    const newest = this.#stmt('SELECT max(time_ms) FROM events').pluck().get() as number | null;
    return { oldestMs: oldest ?? null, newestMs: newest ?? null };
  }

  /** Forget events before the horizon, their records and instances, and the history and strings nothing uses any more. */
  prune(beforeMs: number): number {
    if (!Number.isFinite(beforeMs)) return 0;
    this.#stmt('DELETE FROM event_raw WHERE id IN (SELECT id FROM events WHERE time_ms < ?)').run(beforeMs);
    this.#stmt('DELETE FROM event_instances WHERE time_ms < ?').run(beforeMs);
    const count = this.#stmt('DELETE FROM events WHERE time_ms < ?').run(beforeMs).changes;
    this.#stmt('DELETE FROM event_history WHERE last_ms < ?').run(beforeMs);
    this.#stmt('DELETE FROM event_strings WHERE last_ms < ?').run(beforeMs);
    return count;
  }
}
