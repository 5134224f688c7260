/**
 * `trailhound scan --state DIR`: what new_value rules learn in one scan carries over to the next,
 * through the SQLite state store DIR/trailhound.db (docs/state.md); a JSON history left by an
 * earlier version is imported once. The CLI runs in-process on real GetSecretValue records (Stratus Red
 * Team detonation) given another time and, for some, another source IP.
 */
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileNewValueHistoryStore } from '../../src/store/new-value-history.js';
import { STATE_DB_FILE, openSqliteStateStore } from '../../src/store/sqlite-state-store.js';
import { fixtureRecords } from '../support/detect.js';
import type { Rec } from '../support/detect.js';
import { runCli } from '../support/cli.js';

const run = runCli;

const RULE = `id: new-secret-reader-ip
name: Secrets read from a new source IP
queries:
  - name: ip
    query: source:cloudtrail @eventSource:secretsmanager.amazonaws.com @evt.name:GetSecretValue
    aggregation: new_value
    metrics: ['@sourceIPAddress']
    groupByFields: ['@userIdentity.arn']
cases:
  - name: new ip
    status: medium
options:
  detectionMethod: new_value
  evaluationWindow: 0
  keepAlive: 0
  maxSignalDuration: 0
  newValueOptions:
    learningDuration: 1
    forgetAfter: 28
message: '{{@userIdentity.arn}} read a secret from {{@sourceIPAddress}}, an address not seen for it before'
`;

const READS = fixtureRecords('stratus-detonation-logs/aws.credential-access.secretsmanager-retrieve-secrets.json').filter((r) => r.eventName === 'GetSecretValue');

function reads(day: number, ips: readonly string[]): Rec[] {
  return ips.map((ip, i) => ({ ...structuredClone(READS[i % READS.length] ?? {}), eventTime: `2024-08-0${day}T10:00:${String(i).padStart(2, '0')}Z`, eventID: `day${day}-${i}`, sourceIPAddress: ip }));
}

function setUp(): { dir: string; rule: string; first: string; second: string; state: string } {
  const dir = mkdtempSync(join(tmpdir(), 'trailhound-state-e2e-'));
  const rule = join(dir, 'new-secret-reader-ip.yaml');
  writeFileSync(rule, RULE);
  const first = join(dir, 'day1.json');
  writeFileSync(first, JSON.stringify({ Records: reads(1, ['203.0.113.10', '203.0.113.11']) }));
  const second = join(dir, 'day4.json');
  writeFileSync(second, JSON.stringify({ Records: reads(4, ['203.0.113.10', '198.51.100.7', '203.0.113.11']) }));
  return { dir, rule, first, second, state: join(dir, 'state') };
}

function signalsOf(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('scan --state DIR', () => {
  it('a second scan does not alert on values the first learned, only on the new one', async () => {
    const { rule, first, second, state } = setUp();
    const base = ['scan', '--no-default-rules', '-r', rule, '--format', 'jsonl', '--state', state];
    const one = await run([...base, first]);
    expect(one.code).toBe(0);
    expect(signalsOf(one.out)).toEqual([]);
    const two = await run([...base, second]);
    expect(two.code).toBe(0);
    const signals = signalsOf(two.out);
    expect(signals.map((s) => [s.ruleId, s.severity, s.eventIds])).toEqual([['new-secret-reader-ip', 'medium', ['day4-1']]]);
    expect(String(signals[0]?.message)).toContain('198.51.100.7');
  });

  it('without --state the same second scan learns afresh and raises nothing (results depend on input only)', async () => {
    const { rule, second } = setUp();
    const alone = await run(['scan', '--no-default-rules', '-r', rule, '--format', 'jsonl', second]);
    expect(alone.code).toBe(0);
    expect(signalsOf(alone.out)).toEqual([]);
  });

  it('the state keeps what each scan learned: the same second scan run again raises nothing', async () => {
    const { rule, first, second, state } = setUp();
    const base = ['scan', '--no-default-rules', '-r', rule, '--format', 'jsonl', '--state', state];
    await run([...base, first]);
    await run([...base, second]);
    const again = await run([...base, second]);
    expect(signalsOf(again.out)).toEqual([]);
    expect(readdirSync(state)).toEqual([STATE_DB_FILE]);
    const store = await openSqliteStateStore({ dir: state });
    const saved = await store.loadNewValueHistory().finally(() => store.close());
    if (!saved) throw new Error('no history saved');
    expect(saved.version).toBe(1);
    expect(saved.rules.map((r) => r.ruleId)).toEqual(['new-secret-reader-ip']);
    expect(saved.rules[0]?.groups.flatMap((g) => g.values.map((v) => v[1])).sort()).toEqual(['198.51.100.7', '203.0.113.10', '203.0.113.11']);
  });

  it('a damaged history file left by an earlier version stops the scan with exit 1 and a message saying what to do', async () => {
    const { rule, first, state } = setUp();
    mkdirSync(state);
    writeFileSync(join(state, 'new-value-history.json'), '{"version": 99, "rules": []}');
    const broken = await run(['scan', '--no-default-rules', '-r', rule, '--format', 'jsonl', '--state', state, first]);
    expect(broken.code).toBe(1);
    expect(broken.err).toMatch(/E_STATE_READ/);
    expect(broken.err).toMatch(/delete it/);
  });

  it('the history file of an earlier version is imported once: learning continues from it', async () => {
    const { dir, rule, first, second, state } = setUp();
    // What the earlier version left: the history of a first scan, written by the JSON file store.
    const firstScan = await run(['scan', '--no-default-rules', '-r', rule, '--format', 'jsonl', '--state', join(dir, 'elsewhere'), first]);
    expect(firstScan.code).toBe(0);
    const learned = await openSqliteStateStore({ dir: join(dir, 'elsewhere') });
    const history = await learned.loadNewValueHistory().finally(() => learned.close());
    if (!history) throw new Error('the first scan learned nothing');
    await fileNewValueHistoryStore(state).save(history);
    const two = await run(['scan', '--no-default-rules', '-r', rule, '--format', 'jsonl', '--state', state, second]);
    expect(two.code).toBe(0);
    expect(signalsOf(two.out).map((s) => s.eventIds)).toEqual([['day4-1']]);
    expect(readdirSync(state).sort()).toEqual(['new-value-history.json.imported', STATE_DB_FILE]);
  });

  it.each<[string, (state: string) => Promise<() => Promise<void>>, RegExp]>([
    [
      'a state store written by a newer trailhound',
      async (state) => {
        await (await openSqliteStateStore({ dir: state })).close();
        const db = new Database(join(state, STATE_DB_FILE));
        db.pragma('user_version = 99');
        db.close();
        return () => Promise.resolve();
      },
      /E_STATE_SCHEMA_NEWER: .*was written by a newer trailhound \(schema 99 > \d+\); upgrade or use another --state folder/,
    ],
    [
      'a state folder in use by another run',
      async (state) => {
        const holder = await openSqliteStateStore({ dir: state });
        return () => holder.close();
      },
      new RegExp(`E_STATE_LOCKED: .*in use by process ${String(process.pid)}`),
    ],
  ])('%s stops the scan with exit 1 and says what to do', async (_name, arrange, message) => {
    const { rule, first, state } = setUp();
    const release = await arrange(state);
    try {
      const refused = await run(['scan', '--no-default-rules', '-r', rule, '--format', 'jsonl', '--state', state, first]);
      expect(refused.code).toBe(1);
      expect(refused.err).toMatch(message);
      expect(refused.out).toBe('');
    } finally {
      await release();
    }
  });
});
