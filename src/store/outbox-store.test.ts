/**
 * The outbox conformance suite (test/conformance/outbox.ts) for both state stores: SQLite in a
 * temporary folder, and the in-memory one.
 */
import { afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeOutboxStore } from '../../test/conformance/outbox.js';
import { createMemoryStateBacking, openMemoryStateStore } from './memory-state-store.js';
import { openSqliteStateStore } from './sqlite-state-store.js';

const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describeOutboxStore('SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trailhound-outbox-'));
  dirs.push(dir);
  return { open: (options) => openSqliteStateStore({ ...options, dir }) };
});

describeOutboxStore('in-memory', () => {
  const backing = createMemoryStateBacking();
  return { open: (options) => openMemoryStateStore(backing, options) };
});
