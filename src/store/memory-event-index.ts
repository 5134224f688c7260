/**
 * The event index of the in-memory state store: plain maps with the same semantics as the SQLite
 * index (test/conformance/event-index.ts). The store copies this data on every write, like the rest
 * of its data, so it is meant for tests and small embeddings, not for millions of events.
 */
import type { ActorHistory, EventPivots, EventQuery, EventSummary, EventWindow, HistoryActor, HistoryItem, IndexedEvent, IndexedTimeRange, StoredEvent } from './event-index.js';
import { DEFAULT_EVENT_QUERY_LIMIT } from './event-index.js';
import { checkIndexedEvents, checkWindow, dedupKeyOf, historyPairsOf, queryLimit, summarizeStoredEvents } from './event-index-support.js';
import type { HistoryItemKind } from './event-index-support.js';

interface MemoryEventRow {
  readonly seq: number;
  readonly event: IndexedEvent;
}

interface MemoryHistoryEntry {
  readonly actorKind: HistoryActor['kind'];
  readonly actor: string;
  readonly itemKind: HistoryItemKind;
  readonly item: string;
  readonly firstMs: number;
  readonly lastMs: number;
}

export interface MemoryEventIndexData {
  /** dedup key (eventID, else the record text) → row */
  readonly events: Map<string, MemoryEventRow>;
  nextSeq: number;
  readonly history: Map<string, MemoryHistoryEntry>;
}

export function createMemoryEventIndex(): MemoryEventIndexData {
  return { events: new Map(), nextSeq: 1, history: new Map() };
}

export function copyMemoryEventIndex(data: MemoryEventIndexData): MemoryEventIndexData {
  return { events: new Map(data.events), nextSeq: data.nextSeq, history: new Map(data.history) };
}

export function insertMemoryEvents(data: MemoryEventIndexData, events: readonly IndexedEvent[]): number {
  checkIndexedEvents(events);
  let added = 0;
  for (const event of events) {
    const key = dedupKeyOf(event);
    if (data.events.has(key)) continue;
    data.events.set(key, { seq: data.nextSeq++, event: { ...event, instanceIds: [...new Set(event.instanceIds)] } });
    added++;
    const t = event.eventTimeMs;
    for (const p of historyPairsOf(event)) {
      const hKey = JSON.stringify([p.actorKind, p.actor, p.itemKind, p.item]);
      const entry = data.history.get(hKey);
      data.history.set(hKey, entry === undefined ? { ...p, firstMs: t, lastMs: t } : { ...entry, firstMs: Math.min(entry.firstMs, t), lastMs: Math.max(entry.lastMs, t) });
    }
  }
  return added;
}

function isNamed(list: readonly string[] | undefined): list is readonly string[] {
  return list !== undefined && list.length > 0;
}

function matcher(pivots: EventPivots): (event: IndexedEvent) => boolean {
  const tests: ((event: IndexedEvent) => boolean)[] = [];
  const byField = (list: readonly string[] | undefined, field: 'identityArn' | 'roleArn' | 'accessKeyId' | 'principalId' | 'eventId'): void => {
    if (!isNamed(list)) return;
    const values = new Set(list);
    tests.push((e) => e[field] !== null && values.has(e[field]));
  };
  byField(pivots.identityArns, 'identityArn');
  byField(pivots.roleArns, 'roleArn');
  byField(pivots.accessKeyIds, 'accessKeyId');
  byField(pivots.principalIds, 'principalId');
  byField(pivots.eventIds, 'eventId');
  if (isNamed(pivots.instanceIds)) {
    const values = new Set(pivots.instanceIds);
    tests.push((e) => e.instanceIds.some((id) => values.has(id)));
  }
  return tests.length === 0 ? () => true : (e) => tests.some((test) => test(e));
}

function matching(data: MemoryEventIndexData, pivots: EventPivots, window: EventWindow): MemoryEventRow[] {
  checkWindow(window);
  const isMatch = matcher(pivots);
  return [...data.events.values()].filter((r) => r.event.eventTimeMs >= window.fromMs && r.event.eventTimeMs < window.toMs && isMatch(r.event)).sort((a, b) => a.event.eventTimeMs - b.event.eventTimeMs || a.seq - b.seq);
}

function stored(event: IndexedEvent, includeRaw: boolean): StoredEvent {
  return { ...event, instanceIds: [...event.instanceIds], raw: includeRaw ? event.raw : null };
}

export function queryMemoryEvents(data: MemoryEventIndexData, query: EventQuery): StoredEvent[] {
  const limit = queryLimit(query.limit, DEFAULT_EVENT_QUERY_LIMIT);
  return matching(data, query, query)
    .filter((r) => query.isErrorOnly !== true || r.event.errorCode !== null)
    .slice(0, limit)
    .map((r) => stored(r.event, query.includeRaw === true));
}

export function summarizeMemoryEvents(data: MemoryEventIndexData, query: EventPivots & EventWindow): EventSummary {
  return summarizeStoredEvents(matching(data, query, query).map((r) => stored(r.event, false)));
}

export function memoryActorHistory(data: MemoryEventIndexData, actor: HistoryActor, beforeMs: number): ActorHistory {
  const list = (kind: HistoryItemKind): HistoryItem[] =>
    [...data.history.values()]
      .filter((h) => h.actorKind === actor.kind && h.actor === actor.arn && h.itemKind === kind && h.firstMs < beforeMs)
      .map((h) => ({ value: h.item, firstMs: h.firstMs, lastMs: h.lastMs }))
      .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  return { apis: list('api'), sourceIps: list('ip'), userAgents: list('agent') };
}

export function memoryTimeRange(data: MemoryEventIndexData): IndexedTimeRange {
  let oldestMs: number | null = null;
  let newestMs: number | null = null;
  for (const { event } of data.events.values()) {
    if (oldestMs === null || event.eventTimeMs < oldestMs) oldestMs = event.eventTimeMs;
    if (newestMs === null || event.eventTimeMs > newestMs) newestMs = event.eventTimeMs;
  }
  return { oldestMs, newestMs };
}

export function pruneMemoryEvents(data: MemoryEventIndexData, beforeMs: number): number {
  if (!Number.isFinite(beforeMs)) return 0;
  let count = 0;
  for (const [key, row] of data.events) if (row.event.eventTimeMs < beforeMs && data.events.delete(key)) count++;
  for (const [key, h] of data.history) if (h.lastMs < beforeMs) data.history.delete(key);
  return count;
}
