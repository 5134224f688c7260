/**
 * The SQLite event index: the shared conformance suite on a real state folder, then what is
 * particular to SQLite: every investigate query is answered through an index (EXPLAIN QUERY PLAN),
 * the records are stored compressed, and a true uid collision still indexes both events.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeEventIndex } from '../../test/conformance/event-index.js';
import { indexedFixtureEvents } from '../../test/support/indexed-fixtures.js';
import { useScratch } from '../../test/support/scratch.js';
import type { EventQuery } from './event-index.js';
import { EVENT_INDEX_MIGRATION_SQL, SqliteEventIndex, eventUid } from './sqlite-event-index.js';
import { STATE_DB_FILE, openSqliteStateStore } from './sqlite-state-store.js';

const scratch = useScratch('sqlite-event-index');

describeEventIndex(
  'SQLite',
  () => {
    const dir = scratch.freshDir();
    return { open: (options) => openSqliteStateStore({ ...options, dir }) };
  },
  { isDurable: true },
);

function bareIndex(): { db: Database.Database; index: SqliteEventIndex } {
  const db = new Database(':memory:');
  db.exec(EVENT_INDEX_MIGRATION_SQL);
  return { db, index: new SqliteEventIndex(db) };
}

const WINDOW = { fromMs: 0, toMs: Date.parse('2100-01-01T00:00:00Z') };

describe('SQLite event index', () => {
  it.each<[string, EventQuery]>([
    ['identity ARN', { identityArns: ['arn:aws:iam::309303190113:user/christophe'], ...WINDOW }],
    ['role ARN', { roleArns: ['arn:aws:iam::457448411975:role/stratus-red-team-ec2-get-password-data-role'], ...WINDOW }],
    ['access key', { accessKeyIds: ['AKIAZI86ACIZ2J9CV86Z'], ...WINDOW }],
    ['principal id', { principalIds: ['AIDAV0KQ3LIBUIGZ52WB'], ...WINDOW }],
    ['instance id', { instanceIds: ['i-DDd6c7B0e18F0E35f'], ...WINDOW }],
    ['failed calls of an identity', { identityArns: ['arn:aws:iam::309303190113:user/christophe'], isErrorOnly: true, ...WINDOW }],
    ['every pivot at once', { identityArns: ['arn:aws:iam::309303190113:user/christophe'], roleArns: ['arn:aws:iam::457448411975:role/stratus-red-team-ec2-get-password-data-role'], accessKeyIds: ['AKIAZI86ACIZ2J9CV86Z'], instanceIds: ['i-DDd6c7B0e18F0E35f'], ...WINDOW }],
    ['a time window alone', { ...WINDOW }],
  ])('a query by %s reads through an index, never a full scan', async (_what, query) => {
    const { db, index } = bareIndex();
    db.transaction(() => index.insert([])).immediate();
    const events = [...(await indexedFixtureEvents('stratus-detonation-logs/aws.execution.ec2-user-data.json')), ...(await indexedFixtureEvents('stratus-detonation-logs/aws.credential-access.ec2-get-password-data.json'))];
    db.transaction(() => index.insert(events)).immediate();
    const plan = index.explain(query);
    expect(plan.length).toBeGreaterThan(0);
    // SQLite says "SCAN events" (without an index) for a full table scan; "SEARCH … USING INDEX" otherwise.
    for (const step of plan) expect(step).not.toMatch(/^SCAN (events|e|event_instances|event_raw|r)\b(?! USING)/);
    expect(plan.join('\n')).toMatch(/USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY|USING PRIMARY KEY/);
    db.close();
  });

  it('the history and string lookups use their keys', () => {
    const { db } = bareIndex();
    const plans = [
      'SELECT item_kind, item, first_ms, last_ms FROM event_history WHERE actor = 1 AND actor_kind = 1 AND first_ms < 5',
      "SELECT id FROM event_strings WHERE value = 'x'",
      'SELECT id FROM events WHERE uid = 7',
      'DELETE FROM events WHERE time_ms < 5',
      'SELECT min(time_ms) FROM events',
    ].map((sql) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(' | '));
    for (const plan of plans) expect(plan).toMatch(/USING|PRIMARY KEY/);
    db.close();
  });

  it('stores records compressed, well under their JSON size', async () => {
    const dir = scratch.freshDir();
    const store = await openSqliteStateStore({ dir });
    const events = await indexedFixtureEvents('stratus-detonation-logs/aws.execution.ec2-user-data.json');
    await store.indexEvents(events);
    await store.close();
    const db = new Database(join(dir, STATE_DB_FILE), { readonly: true });
    const stored = db.prepare('SELECT sum(length(raw)) FROM event_raw').pluck().get() as number;
    db.close();
    const json = events.reduce((n, e) => n + Buffer.byteLength(e.raw), 0);
    expect(stored).toBeGreaterThan(0);
    expect(stored / json).toBeLessThan(0.5);
  });

  it('a true uid collision (two eventIDs, one hash) still indexes both and tells them apart', async () => {
    const { db, index } = bareIndex();
    const [a, b] = await indexedFixtureEvents('stratus-detonation-logs/aws.execution.ec2-user-data.json');
    if (a === undefined || b === undefined || a.eventId === null) throw new Error('fixture');
    // Occupy b's uid with a row that holds a's eventID, as a collision would.
    db.prepare('INSERT INTO events (id, uid, time_ms) VALUES (999, ?, 1)').run(eventUid(`id:${b.eventId ?? ''}`));
    db.prepare("INSERT INTO event_raw (id, event_id, raw) VALUES (999, 'someone-else', x'00')").run();
    expect(db.transaction(() => index.insert([a, b])).immediate()).toBe(2);
    expect(db.transaction(() => index.insert([b])).immediate()).toBe(0);
    expect(index.query({ eventIds: [b.eventId ?? ''], ...WINDOW }).map((e) => e.eventId)).toEqual([b.eventId]);
    db.close();
  });
});
