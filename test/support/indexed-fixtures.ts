/**
 * Test support: real fixture records in the event index. A fixture file of any shape is expanded
 * with the reader's own envelope logic (src/normalise/expand.ts), kept only when the normaliser
 * accepts it (as the live pipeline does), and turned into IndexedEvents.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { indexedEventsOf } from '../../src/investigate/indexed-event.js';
import { expandDocument } from '../../src/normalise/expand.js';
import { normaliseRecord } from '../../src/normalise/normalise.js';
import type { EventIndexStore, IndexedEvent } from '../../src/store/event-index.js';
import { FIXTURES } from './detect.js';

/** The indexed events of a fixture file (path relative to test/fixtures/cloudtrail), in file order. */
export async function indexedFixtureEvents(relativePath: string): Promise<IndexedEvent[]> {
  const text = readFileSync(join(FIXTURES, relativePath), 'utf8');
  const expansion = await expandDocument(JSON.parse(text) as unknown, text);
  const accepted = expansion.records.filter((record, index) => normaliseRecord(record.value, { source: relativePath, index }).ok);
  return indexedEventsOf(accepted);
}

/** Index the records of fixture files into a store; returns how many were new. */
export async function indexFixtures(store: EventIndexStore, relativePaths: readonly string[]): Promise<number> {
  let added = 0;
  for (const path of relativePaths) added += await store.indexEvents(await indexedFixtureEvents(path));
  return added;
}
