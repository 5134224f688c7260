/**
 * The SQLite state store runs the signal triage conformance suite (test/conformance/signal-triage.ts);
 * then what is particular to SQLite: migration 3 files the signals a schema-2 store had logged, a
 * damaged row is reported, and a shared opener writes while a runner in another process holds the lock.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TrailhoundError } from '../core/errors.js';
import type { Signal } from '../core/types.js';
import { describeSignalTriage } from '../../test/conformance/signal-triage.js';
import { REPO_ROOT, detect, stratusAttack } from '../../test/support/detect.js';
import { useScratch } from '../../test/support/scratch.js';
import { STATE_DB_FILE, openSqliteStateStore } from './sqlite-state-store.js';
import type { StateStore } from './state-store.js';

const scratch = useScratch('sqlite-triage');

describeSignalTriage('SQLite', () => {
  const dir = scratch.freshDir();
  return { open: (options) => openSqliteStateStore({ ...options, dir }) };
});

function signals(): { flagship: Signal; companion: Signal } {
  const all = detect(stratusAttack().all);
  const flagship = all.find((s) => s.ruleId === 'bd9-8o0-553');
  const companion = all.find((s) => s.ruleId === 'aws-ec2-user-data-modified-then-started');
  if (!flagship || !companion) throw new Error('the Stratus user-data run raised neither signal');
  return { flagship, companion };
}

describe('signal triage in SQLite', () => {
  const opened: StateStore[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });
  async function open(dir: string, options: { schemaVersion?: number; access?: 'shared' } = {}): Promise<StateStore> {
    const store = await openSqliteStateStore({ dir, ...options });
    opened.push(store);
    return store;
  }

  it('migration 3 files the signals a schema-2 store logged: latest version, open (or suppressed), identities, a detected entry', async () => {
    const dir = scratch.freshDir();
    const { flagship, companion } = signals();
    const old = await open(dir, { schemaVersion: 2 });
    const later: Signal = { ...flagship, updates: 1, eventCount: 4, lastSeen: '2024-08-01T12:09:00.000Z' };
    const suppressed: Signal = { ...companion, status: 'suppressed', suppression: { reason: 'red team', source: 's.yaml:1:3' } };
    await old.commitCheckpoint({ emittedSignals: [{ kind: 'created', signal: flagship }, { kind: 'created', signal: suppressed }, { kind: 'updated', signal: later }] });
    await old.close();

    const store = await open(dir);
    expect(store.schemaVersion).toBeGreaterThanOrEqual(3);
    const listed = await store.listSignals();
    expect(listed.map((s) => [s.signal.id, s.status, s.changeCount])).toEqual([
      [flagship.id, 'open', 2],
      [companion.id, 'suppressed', 1],
    ]);
    expect(listed[0]?.signal).toEqual(later);
    expect((await store.listSignals({ identity: 'arn:aws:iam::309303190113:user/christophe' })).map((s) => s.signal.id).sort()).toEqual([flagship.id, companion.id].sort());
    expect((await store.listSignals({ host: 'i-DDd6c7B0e18F0E35f', severity: ['high'] })).map((s) => s.signal.id)).toEqual([companion.id]);
    const detail = await store.getSignal(flagship.id);
    expect(detail?.triage.map((e) => [e.action, e.actor, e.status])).toEqual([['detected', 'trailhound', 'open']]);
    expect(detail?.history.map((h) => [h.kind, h.triage])).toEqual([
      ['created', undefined],
      ['updated', undefined],
    ]);
    await store.updateTriage(flagship.id, { actor: 'alice', status: 'acknowledged' });
    expect((await store.getSignal(flagship.id))?.status).toBe('acknowledged');
  });

  it('reports a damaged triage row with E_STATE_READ', async () => {
    const dir = scratch.freshDir();
    const { flagship } = signals();
    const store = await open(dir);
    await store.commitCheckpoint({ emittedSignals: [{ kind: 'created', signal: flagship }] });
    const db = new Database(join(dir, STATE_DB_FILE));
    db.prepare("UPDATE signals SET status = 'escalated' WHERE signal_id = ?").run(flagship.id);
    db.close();
    const error: unknown = await store.listSignals().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrailhoundError);
    expect((error as TrailhoundError).code).toBe('E_STATE_READ');
    expect((error as TrailhoundError).message).toMatch(/unknown status "escalated"/);
  });

  it('a shared opener changes triage while a runner in another process holds the lock and keeps committing', async () => {
    const dir = scratch.freshDir();
    const { flagship } = signals();
    const seed = await open(dir);
    await seed.commitCheckpoint({ emittedSignals: [{ kind: 'created', signal: flagship }] });
    await seed.close();

    // The runner: opens the store (the lock), then commits a new version of the signal every few ms.
    const script = `
      const { openSqliteStateStore } = await import(${JSON.stringify(join(REPO_ROOT, 'src/store/sqlite-state-store.ts'))});
      const signal = JSON.parse(process.argv[1]);
      const store = await openSqliteStateStore({ dir: process.argv[2] });
      process.stdout.write('opened\\n');
      for (let k = 1; k <= 40; k++) {
        await store.commitCheckpoint({ engineState: JSON.stringify({ k }), emittedSignals: [{ kind: 'updated', signal: { ...signal, updates: k } }] });
        await new Promise((r) => setTimeout(r, 5));
      }
      process.stdout.write('done\\n');
      await new Promise((r) => process.stdin.once('data', r));
      await store.close();
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify(flagship), dir], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const waitFor = (word: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (out.includes(word)) resolve();
        };
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          check();
        });
        child.once('exit', (code) => reject(new Error(`the runner exited (${String(code)}) before "${word}": ${out}`)));
        check();
      });
    try {
      await waitFor('opened');
      const refused: unknown = await openSqliteStateStore({ dir }).then(
        async (store) => {
          await store.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect((refused as TrailhoundError).code).toBe('E_STATE_LOCKED');
      const shared = await open(dir, { access: 'shared' });
      await shared.updateTriage(flagship.id, { actor: 'alice', status: 'acknowledged', assignee: 'alice' });
      await shared.addNote(flagship.id, 'alice', 'looking while the runner runs');
      await waitFor('done');
      const detail = await shared.getSignal(flagship.id);
      expect(detail).toMatchObject({ status: 'acknowledged', assignee: 'alice', changeCount: 41 });
      expect(detail?.signal.updates).toBe(40);
      expect(detail?.triage.filter((e) => e.actor === 'alice').map((e) => e.action)).toEqual(['status', 'assign', 'note']);
    } finally {
      child.stdin.end('bye\n');
      await new Promise((resolve) => child.once('close', resolve));
    }
  });
});
