/**
 * The new-value history stores: the JSON file behind `scan --state DIR` (atomic writes, a version,
 * clear errors for a damaged file) and the in-memory one. Both pass the same round-trip suite.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TrailhoundError } from '../core/errors.js';
import type { NewValueHistory } from '../engine/new-value.js';
import { NEW_VALUE_HISTORY_FILE, fileNewValueHistoryStore, memoryNewValueHistoryStore } from './new-value-history.js';
import type { NewValueHistoryStore } from './new-value-history.js';

const HISTORY: NewValueHistory = {
  version: 1,
  rules: [
    {
      ruleId: 'new-source-ip',
      fingerprint: '0123456789abcdef',
      learningStartMs: 1_722_513_600_000,
      latestMs: 1_722_600_000_000,
      groups: [{ groupValues: ['arn:aws:iam::309303190113:user/christophe'], occurrences: 0, values: [['ip', '253.201.144.253', 1_722_600_000_000]] }],
    },
  ],
};

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'trailhound-state-'));
}

const STORES: readonly [string, () => NewValueHistoryStore][] = [
  ['the file store', () => fileNewValueHistoryStore(join(tempDir(), 'nested', 'state'))],
  ['the memory store', () => memoryNewValueHistoryStore()],
];

describe.each(STORES)('%s', (_name, makeStore) => {
  it('loads nothing before the first save', async () => {
    await expect(makeStore().load()).resolves.toBeUndefined();
  });

  it('loads what was saved, equal but not the same object', async () => {
    const store = makeStore();
    await store.save(HISTORY);
    const loaded = await store.load();
    expect(loaded).toEqual(HISTORY);
    expect(loaded).not.toBe(HISTORY);
  });

  it('a later save replaces the earlier one', async () => {
    const store = makeStore();
    await store.save(HISTORY);
    const emptier: NewValueHistory = { version: 1, rules: [] };
    await store.save(emptier);
    await expect(store.load()).resolves.toEqual(emptier);
  });
});

describe('the file store', () => {
  it('writes one versioned JSON file, creating its folder, and leaves no temporary file behind', async () => {
    const dir = join(tempDir(), 'a', 'b');
    await fileNewValueHistoryStore(dir).save(HISTORY);
    await fileNewValueHistoryStore(dir).save(HISTORY);
    expect(readdirSync(dir)).toEqual([NEW_VALUE_HISTORY_FILE]);
    const written: unknown = JSON.parse(readFileSync(join(dir, NEW_VALUE_HISTORY_FILE), 'utf8'));
    expect(written).toEqual(HISTORY);
    expect((written as { version: unknown }).version).toBe(1);
  });

  it.each<[string, string, RegExp]>([
    ['a file that is not JSON', '{"version": 1, "rules": [', /not valid JSON/],
    ['a file from another version', JSON.stringify({ ...HISTORY, version: 2 }), /another version/],
    ['a file with a damaged sighting', JSON.stringify({ version: 1, rules: [{ ...HISTORY.rules[0], groups: [{ groupValues: [], occurrences: 0, values: [['ip']] }] }] }), /damaged/],
  ])('refuses %s with E_STATE_READ and says how to start afresh', async (_name, text, message) => {
    const dir = tempDir();
    writeFileSync(join(dir, NEW_VALUE_HISTORY_FILE), text);
    const error: unknown = await fileNewValueHistoryStore(dir).load().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrailhoundError);
    expect((error as TrailhoundError).code).toBe('E_STATE_READ');
    expect((error as TrailhoundError).message).toMatch(message);
    expect((error as TrailhoundError).message).toMatch(/delete it/);
  });

  it('reports a folder it cannot write with E_STATE_WRITE', async () => {
    const dir = tempDir();
    const blocker = join(dir, 'file');
    writeFileSync(blocker, 'not a folder');
    const error: unknown = await fileNewValueHistoryStore(join(blocker, 'state')).save(HISTORY).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrailhoundError);
    expect((error as TrailhoundError).code).toBe('E_STATE_WRITE');
  });
});
