/**
 * The StateStore contract's small helpers: the documented error codes and the adapter `scan --state`
 * uses for the new-value history.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NewValueHistory } from '../engine/new-value.js';
import { REPO_ROOT } from '../../test/support/detect.js';
import { openMemoryStateStore } from './memory-state-store.js';
import { STATE_ERRORS, newValueHistoryStoreOf } from './state-store.js';

const STATE_DOC = readFileSync(join(REPO_ROOT, 'docs', 'state.md'), 'utf8');

describe('state store errors', () => {
  it.each(Object.entries(STATE_ERRORS))('%s (%s) is explained in docs/state.md', (_name, code) => {
    expect(STATE_DOC).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
  });
});

describe('newValueHistoryStoreOf', () => {
  it('loads nothing first, then what was saved through it', async () => {
    const store = await openMemoryStateStore();
    const history: NewValueHistory = { version: 1, rules: [{ ruleId: 'r', fingerprint: 'f', learningStartMs: 1, latestMs: 2, groups: [] }] };
    const adapter = newValueHistoryStoreOf(store);
    expect(await adapter.load()).toBeUndefined();
    await adapter.save(history);
    expect(await adapter.load()).toEqual(history);
    expect(await store.loadNewValueHistory()).toEqual(history);
    await store.close();
  });
});
